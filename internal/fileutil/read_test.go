//go:build unix

package fileutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFileRefuses: a device, a folder and a file over the bound are
// refused without being read (a read of /dev/zero would never end); a
// file within it is read whole, and so is a pipe.
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
	// A pipe (a shell's <(…), /dev/stdin fed by one) is read to its end
	// within the bound, and refused past it.
	for _, c := range []struct {
		data string
		max  int64
		ok   bool
	}{{"1234", 4, true}, {"12345", 4, false}} {
		go func() {
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err == nil {
				w.WriteString(c.data)
				w.Close()
			}
		}()
		b, err := ReadFile(fifo, c.max)
		if c.ok && (err != nil || string(b) != c.data) || !c.ok && !errors.As(err, &tl) {
			t.Errorf("ReadFile(a pipe of %d bytes, max %d) = %q, %v", len(c.data), c.max, b, err)
		}
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

// TestReadFileNamedPipe: a named pipe is read from a writer that opens it
// within FIFOWait, and is an error, not a wait without end, when none does.
func TestReadFileNamedPipe(t *testing.T) {
	defer func(w time.Duration) { FIFOWait = w }(FIFOWait)
	FIFOWait = 200 * time.Millisecond
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip(err)
	}
	start := time.Now()
	_, err := ReadFile(p, 1<<20)
	if err == nil || !strings.Contains(err.Error(), p+": is a named pipe, and nothing opened it for writing within 200ms") {
		t.Errorf("a named pipe with no writer: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a named pipe with no writer took %v", d)
	}
	// A writer that comes a moment later.
	go func() {
		time.Sleep(50 * time.Millisecond)
		if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			w.Write([]byte("hello"))
			w.Close()
		}
	}()
	FIFOWait = 10 * time.Second
	if b, err := ReadFile(p, 1<<20); err != nil || string(b) != "hello" {
		t.Errorf("a named pipe with a writer: %q, %v", b, err)
	}
}

// TestReadFileErrorNamesThePathOnce: a read that fails (/proc/self/mem
// answers EIO at offset 0) names the file once, not "read P: read P: …".
func TestReadFileErrorNamesThePathOnce(t *testing.T) {
	const p = "/proc/self/mem"
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no %s here", p)
	}
	_, err := ReadFile(p, 1<<20)
	if err == nil || strings.Count(err.Error(), p) != 1 {
		t.Errorf("ReadFile(%s): %v; want an error naming it once", p, err)
	}
}
