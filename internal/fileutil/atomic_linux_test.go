// atomic_linux_test.go: a write over the file-size limit (ulimit -f) is
// said as such, with what to do.

package fileutil

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteOverFileSizeLimit: WriteAtomic of a file larger than
// RLIMIT_FSIZE fails naming the limit (ulimit -f) and how to raise it
// (it said "file too large" alone), and leaves the file there as it was.
func TestWriteOverFileSizeLimit(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	path := filepath.Join(t.TempDir(), "big")
	os.WriteFile(path, []byte("before"), 0o644)
	lim := syscall.Rlimit{Cur: 4096, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	err := WriteAtomic(path, make([]byte, 64<<10), 0o644)
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	if err == nil || !strings.Contains(err.Error(), "file too large (larger than this process may write a file: ulimit -f says how large") {
		t.Errorf("a write over ulimit -f: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "before" {
		t.Errorf("the file there became %d bytes", len(b))
	}
}

// TestWriteOverOpenFilesLimit: WriteAtomic with no file descriptor left
// (ulimit -n) fails naming the limit and how to raise it (it said "too
// many open files" alone), and leaves the file there as it was.
func TestWriteOverOpenFilesLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("before"), 0o644)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	// Every descriptor up to the new limit taken.
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	lim := syscall.Rlimit{Cur: 64, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		held = append(held, f)
	}
	err := WriteAtomic(path, []byte("after"), 0o644)
	for _, f := range held {
		f.Close()
	}
	held = nil
	if err == nil || !strings.Contains(err.Error(), "ulimit -n") {
		t.Errorf("a write with no descriptor left: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "before" {
		t.Errorf("the file there became %q", b)
	}
}
