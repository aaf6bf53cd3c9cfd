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
