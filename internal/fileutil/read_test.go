//go:build unix

package fileutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadFileRefuses: a device, a folder, a named pipe and a file over
// the bound are refused without being read (a read of /dev/zero would
// never end); a file within it is read whole.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(ok, 5); err != nil || string(b) != "12345" {
		t.Errorf("ReadFile(5 bytes, max 5) = %q, %v", b, err)
	}
	var tl *TooLargeError
	if _, err := ReadFile(ok, 4); !errors.As(err, &tl) || tl.Size != 5 || !strings.Contains(err.Error(), ok) {
		t.Errorf("ReadFile(5 bytes, max 4): %v, want a TooLargeError naming the file", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/dev/zero": "a device", dir: "a directory"} {
		if _, err := ReadFile(path, 1<<20); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("ReadFile(%s): %v, want an error naming it %s", path, err, want)
		}
	}
	// Opening a FIFO for reading waits for a writer: open it with one.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := ReadFile(fifo, 1<<20); err == nil || !strings.Contains(err.Error(), "named pipe") {
		t.Errorf("ReadFile(fifo): %v, want it refused as a named pipe", err)
	}
}

// TestWriteErrorNamesTheTarget: a failed write names the file asked for,
// never the temporary file, and says what is wrong with the folder.
func TestWriteErrorNamesTheTarget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "m.onnx")
	err := WriteAtomic(path, []byte("x"), 0o644)
	var we *WriteError
	if !errors.As(err, &we) || we.Path != path || strings.Contains(err.Error(), ".tmp-") ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Errorf("WriteAtomic into a missing folder: %v; want a WriteError naming %s and the missing folder, not the temporary file", err, path)
	}
}
