//go:build windows

// windows_test.go: the Windows lock, process check and rename (run under
// Wine for want of a Windows machine: see docs/development.md), and the
// Unix calls of atomic_test.go, skipped here.

package fileutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mkfifo(t *testing.T, path string) { t.Skip("no named pipes in the file system on Windows") }

func setUmask(t *testing.T, m int) int {
	t.Skip("no umask on Windows")
	return 0
}

// tempDir is t.TempDir whose removal may fail: Wine 8 lacks the call
// Go's RemoveAll makes.
func tempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "cnngpu-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestWindowsLock: a second lock of a held file is refused, naming the
// holder; a closed one is taken again.
func TestWindowsLock(t *testing.T) {
	path := filepath.Join(tempDir(t), ".m.lock")
	f, _, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { LockGrace = d }(LockGrace)
	LockGrace = 50 * time.Millisecond
	_, holder, err := TryLock(path)
	if !errors.Is(err, ErrLocked) || !strings.HasPrefix(holder, "pid ") {
		t.Errorf("a held lock taken again: %v, holder %q; want ErrLocked and the holder", err, holder)
	}
	if h, held := HeldBy(path); !held || h != holder {
		t.Errorf("HeldBy: %q %v, want %q true", h, held, holder)
	}
	Unlock(path, f)
	if _, err := os.Stat(path); err == nil {
		t.Error("the lock file is still there after Unlock")
	}
	if _, held := HeldBy(path); held {
		t.Error("HeldBy after Unlock: still held")
	}
	g, _, err := TryLock(path)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	Unlock(path, g)
}

func TestWindowsProcessRuns(t *testing.T) {
	if !processRuns(os.Getpid()) {
		t.Error("this process is not seen running")
	}
	if processRuns(0x7ffffff0) {
		t.Error("a process that does not exist is seen running")
	}
}

// TestWindowsRenameHeldOpen: a file held open by another handle is
// replaced once it is closed within the wait; one held throughout is
// refused, saying so.
func TestWindowsRenameHeldOpen(t *testing.T) {
	path := filepath.Join(tempDir(t), "m.safetensors")
	if err := WriteAtomic(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { renameWait = d }(renameWait)
	renameWait = 300 * time.Millisecond
	err = WriteAtomic(path, []byte("new"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "another program holds the file open") {
		t.Errorf("replacing a file held open: %v, want it refused naming why", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after a refused write: %q, want the file as it was", b)
	}
	go func() { time.Sleep(100 * time.Millisecond); held.Close() }()
	if err := WriteAtomic(path, []byte("new"), 0o644); err != nil {
		t.Errorf("replacing a file closed during the wait: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("after the write: %q", b)
	}
}
