//go:build unix

// lock_test.go: TryLock waits a moment for a holder that is ending.

package fileutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestTryLockWritesNoOtherFile: a symbolic link planted where the lock
// file goes (to a file, or dangling) is refused, and neither the file it
// leads to is written nor the one it names made (it was truncated to the
// holder's line, and a dangling link's target created); a hard link to
// another file is locked but not written; a folder or a named pipe there
// is refused without waiting.
func TestTryLockWritesNoOtherFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim.txt")
	if err := os.WriteFile(victim, []byte("important data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kept := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(victim); string(b) != "important data\n" {
			t.Errorf("%s: the other file now holds %q", what, b)
		}
	}
	link := filepath.Join(dir, ".m.lock")
	os.Symlink(victim, link)
	if f, _, err := TryLock(link); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("a link to a file: %v, want it refused as a link", err)
		if f != nil {
			f.Close()
		}
	}
	kept("a link to it")
	dangling, target := filepath.Join(dir, ".d.lock"), filepath.Join(dir, "made-by-lock")
	os.Symlink(target, dangling)
	if _, _, err := TryLock(dangling); err == nil {
		t.Error("a dangling link: locked")
	}
	if _, err := os.Lstat(target); err == nil {
		t.Error("a dangling link: its target was made")
	}
	hard := filepath.Join(dir, ".h.lock")
	if err := os.Link(victim, hard); err == nil {
		f, _, err := TryLock(hard)
		if err != nil {
			t.Errorf("a hard link: %v", err)
		} else {
			f.Close()
		}
		kept("a hard link to it")
	}
	sub := filepath.Join(dir, ".f.lock")
	os.Mkdir(sub, 0o755)
	if _, _, err := TryLock(sub); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("a folder: %v", err)
	}
	fifo := filepath.Join(dir, ".p.lock")
	if err := syscall.Mkfifo(fifo, 0o644); err == nil {
		done := make(chan error, 1)
		go func() { _, _, err := TryLock(fifo); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is a named pipe") {
				t.Errorf("a named pipe: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("a named pipe: still waiting after 5 s")
		}
	}
}

// TestHeldBy: a lock another holder took is seen, with its holder's
// words; a free one, a missing file and a released lock are not, and
// looking takes nothing (TryLock then succeeds at once).
func TestHeldBy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	if _, held := HeldBy(path); held {
		t.Error("a missing lock file is held")
	}
	f, _, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	who, held := HeldBy(path)
	if !held || !strings.HasPrefix(who, fmt.Sprintf("pid %d on ", os.Getpid())) {
		t.Errorf("a lock taken: held %v by %q", held, who)
	}
	f.Close()
	if _, held := HeldBy(path); held {
		t.Error("a released lock is held")
	}
	g, _, err := TryLock(path)
	if err != nil {
		t.Fatalf("after HeldBy looked: %v", err)
	}
	g.Close()
}
