//go:build windows

// lock_windows.go: one process at a time on a file or folder, as
// lock_unix.go does with flock(2), here with LockFileEx on the lock file:
// Windows drops the lock when the process ends, however it ends (End
// task included), and Unlock removes the file. The lock covers one byte
// far past the file's end, so that the holder's words at its start ("pid
// N on HOST") stay readable to the process refused (a locked range cannot
// be read).

package fileutil

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// ErrNoLocks is what TryLock returns where the file system cannot lock
// (a network share that refuses byte-range locks).
var ErrNoLocks = errors.New("this file system cannot lock files")

// lockOffset is the byte locked: past any lock file's content.
const lockOffset = 1 << 40

// lockByte is where lockRange and unlockRange act.
func lockByte() *windows.Overlapped {
	return &windows.Overlapped{Offset: uint32(lockOffset & 0xffffffff), OffsetHigh: uint32(lockOffset >> 32)}
}

// lockRange takes (exclusive) or tests (shared) the lock byte of f,
// without waiting.
func lockRange(f *os.File, exclusive bool) error {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	return windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, lockByte())
}

// TryLock takes the lock of the lock file at path (made if missing)
// without waiting, and returns the open file that holds it (closing it
// drops the lock). Held by another process: ErrLocked, with holder what
// its lock file says ("pid N on HOST").
func TryLock(path string) (*os.File, string, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, "", err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("locking %s: it is %s, where cnngpu keeps a plain lock file: move it away", path, Kind(st.Mode()))
		}
		return nil, "", err
	}
	err = lockRange(f, true)
	for deadline := time.Now().Add(LockGrace); isLockViolation(err) && time.Now().Before(deadline); {
		// A holder ended a moment ago keeps the lock until Windows has
		// closed its handles.
		time.Sleep(25 * time.Millisecond)
		err = lockRange(f, true)
	}
	if err != nil {
		defer f.Close()
		if isLockViolation(err) {
			return nil, holderOf(f), ErrLocked
		}
		return nil, "", fmt.Errorf("%w (%v)", ErrNoLocks, err)
	}
	host, _ := os.Hostname()
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(fmt.Sprintf("pid %d on %s\n", os.Getpid(), host)), 0)
	}
	return f, "", nil
}

func isLockViolation(err error) bool {
	return errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING)
}

// HeldBy reports whether another process holds the lock at path, and who
// by the file's own words, taking nothing and writing nothing.
func HeldBy(path string) (holder string, held bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	if err := lockRange(f, false); !isLockViolation(err) {
		if err == nil {
			unlockRange(f) // free: the shared lock taken for the test
		}
		return "", false
	}
	return holderOf(f), true
}

// Unlock drops the lock f holds, then removes the lock file at path. (On
// Unix the removal comes first, while held; Windows cannot remove a file
// while it is open, which also makes the order safe here: a file another
// process has opened since is not removed.)
func Unlock(path string, f *os.File) {
	unlockRange(f)
	f.Close()
	os.Remove(path)
}

// unlockRange drops the lock byte of f now, rather than when Windows gets
// to it after the close.
func unlockRange(f *os.File) {
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockByte())
}
