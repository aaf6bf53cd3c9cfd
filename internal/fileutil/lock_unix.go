//go:build unix

// lock_unix.go: one process at a time on a file or folder, by flock(2) on
// a lock file: the kernel drops the lock when the process ends, however
// it ends (SIGKILL included), so nothing stale is left to remove by hand.
// The lock file says who holds it (pid and host), for the message another
// process gets.

package fileutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// ErrNoLocks is what TryLock returns where the file system has no flock
// (an NFS server without its lock daemon, Lustre mounted noflock).
var ErrNoLocks = errors.New("this file system cannot lock files")

// TryLock takes the flock of the lock file at path (made if missing)
// without waiting, and returns the open file that holds it (closing it
// drops the lock). Held by another process: ErrLocked, with holder what
// its lock file says ("pid N on HOST"). A lock file removed or replaced
// while this one was opened is not the lock: it tries again on the file
// there now.
func TryLock(path string) (f *os.File, holder string, err error) {
	for range 4 {
		f, holder, err := tryLockOnce(path)
		// A holder killed a moment ago (`timeout -s KILL …; cnngpu …`)
		// keeps the lock until the system has ended it, a fraction of a
		// second: waited for, not reported as a process in the way.
		for deadline := time.Now().Add(LockGrace); errors.Is(err, ErrLocked) && time.Now().Before(deadline); {
			time.Sleep(25 * time.Millisecond)
			f, holder, err = tryLockOnce(path)
		}
		if err != nil {
			return nil, holder, err
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, "", nil
		}
		f.Close()
	}
	return nil, "", fmt.Errorf("locking %s: the lock file keeps being removed or replaced; is another program cleaning its folder?", path)
}

func tryLockOnce(path string) (*os.File, string, error) {
	// Never through a symbolic link, and never a pipe's or device's
	// open waiting: the lock file is written, and a link planted in
	// its place (a shared folder) would have another file overwritten.
	const flags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|flags, 0o644)
	writable := err == nil
	if err != nil && !errors.Is(err, syscall.ELOOP) && !errors.Is(err, syscall.EMLINK) {
		// Another user's lock file in a shared folder: flock works on a
		// file opened for reading too. With none there, the error is
		// why it could not be made (a folder that cannot be written).
		var oerr error
		if f, oerr = os.OpenFile(path, os.O_RDONLY|flags, 0); oerr != nil {
			if errors.Is(oerr, fs.ErrNotExist) {
				return nil, "", err
			}
			err = oerr
		} else {
			err = nil
		}
	}
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) { // EMLINK: FreeBSD's O_NOFOLLOW
			return nil, "", fmt.Errorf("locking %s: it is a symbolic link, where cnngpu keeps a plain lock file: remove the link (nothing it leads to is touched)", path)
		}
		return nil, "", err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("locking %s: it is %s, where cnngpu keeps a plain lock file: move it away", path, Kind(st.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, "", err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink != 1 {
		// A hard link to another file: locked, but not written.
		writable = false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			return nil, holderOf(f), ErrLocked
		case errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EINVAL):
			return nil, "", fmt.Errorf("%w (%v)", ErrNoLocks, err)
		}
		return nil, "", fmt.Errorf("locking %s: %w", path, err)
	}
	// Who holds it, for another process's message (the lock is the
	// flock, not this content): the host too, as the holder may be
	// another machine's process on a shared folder.
	if writable {
		host, _ := os.Hostname()
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(fmt.Sprintf("pid %d on %s\n", os.Getpid(), host)), 0)
		}
	}
	return f, "", nil
}

// HeldBy reports whether another process holds the lock at path (one
// TryLock took), and who by the file's own words, taking nothing and
// writing nothing: a reader of a folder (tune merge of a shard) learns a
// study still runs there. No lock file, or one not held, is false.
func HeldBy(path string) (holder string, held bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		return "", false // free (the shared lock goes with the close), or no flock here
	}
	return holderOf(f), true
}

// Unlock removes the lock file at path and drops the lock f holds (the
// removal first, while held: a process that opened the old file then
// finds it replaced, and tries again).
func Unlock(path string, f *os.File) {
	os.Remove(path)
	f.Close()
}
