//go:build unix

// lock_test.go: TryLock waits a moment for a holder that is ending.

package fileutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTryLockWaitsForAnEndingHolder: a lock dropped within LockGrace (a
// holder killed a moment ago) is taken; one held longer is ErrLocked,
// with its holder named. (flock locks belong to open files, so a second
// open in this process stands for another process.)
func TestTryLockWaitsForAnEndingHolder(t *testing.T) {
	defer func(g time.Duration) { LockGrace = g }(LockGrace)
	LockGrace = 400 * time.Millisecond
	path := filepath.Join(t.TempDir(), ".lock")
	first, _, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		first.Close()
	}()
	second, _, err := TryLock(path)
	if err != nil {
		t.Fatalf("a lock dropped 0.1 s later: %v; want it taken", err)
	}
	start := time.Now()
	_, holder, err := TryLock(path)
	if !errors.Is(err, ErrLocked) || holder == "" {
		t.Errorf("a lock held on: %v (holder %q); want ErrLocked naming the holder", err, holder)
	}
	if d := time.Since(start); d < LockGrace {
		t.Errorf("reported held after %v, before the %v grace", d, LockGrace)
	}
	second.Close()
}

// TestTryLockNamesWhyItCannotMakeTheFile: a lock file that cannot be made
// is refused with the reason (permission), not with the "no such file" of
// the fall-back that opens an existing one for reading.
func TestTryLockNamesWhyItCannotMakeTheFile(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o555)
	defer os.Chmod(dir, 0o755)
	if !refusesPermission(dir) {
		dir = "/sys/fs" // refuses new files even to root, where mounted writable
	}
	if !refusesPermission(dir) {
		t.Skip("no folder here refuses new files to this user for want of permission")
	}
	_, _, err := TryLock(filepath.Join(dir, "cnngpu-test.lock"))
	if err == nil || errors.Is(err, fs.ErrNotExist) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("locking in %s: %v; want the permission refused named", dir, err)
	}
}

// refusesPermission reports whether making a file in dir fails for want of
// permission (EACCES, EPERM; not a read-only file system).
func refusesPermission(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		f.Close()
		os.Remove(f.Name())
	}
	return errors.Is(err, fs.ErrPermission)
}
