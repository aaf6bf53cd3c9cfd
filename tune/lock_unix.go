//go:build unix

// lock_unix.go: one process at a time in a study folder. Two `cnngpu
// tune` on the same --out (a second terminal, two shards given one
// folder) would each restart the other's run in flight and rewrite its
// files; the second is refused instead. The lock is flock(2) on
// .cnngpu-lock in the folder: the kernel drops it when the process ends,
// however it ends (SIGKILL included), so a study interrupted any way
// resumes without a stale lock to remove.

package tune

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LockFile is the lock's file name inside a study folder.
const LockFile = ".cnngpu-lock"

// Lock takes the study folder dir (made if missing) for this process
// until release is called; a folder another process holds is an error
// naming it and that process. Where the file system has no flock (an NFS
// server without its lock daemon, Lustre mounted noflock) the folder is
// used unlocked, with a warning on stderr: one process per folder is then
// the user's to keep.
func Lock(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	writable := err == nil
	if err != nil {
		// Another user's lock file in a shared folder: flock works on a
		// file opened for reading too.
		if f, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("locking the study folder: %w", err)
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			who := "another process"
			if h := strings.TrimSpace(string(b)); h != "" {
				who += " (" + h + ")"
			}
			return nil, fmt.Errorf("%s is in use by %s running cnngpu tune on it: wait for it to finish (or stop it; the study resumes), or give this one another --out folder", dir, who)
		case errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EINVAL):
			fmt.Fprintf(os.Stderr, "warning: %s cannot be locked here (%v): it is used unlocked; run one cnngpu tune at a time on it\n", dir, err)
			return func() {}, nil
		}
		return nil, fmt.Errorf("locking the study folder %s: %w", dir, err)
	}
	// Who holds it, for the message above (the lock is the flock, not
	// this content): the host too, as the holder may be another machine's
	// process on a shared folder.
	if writable {
		host, _ := os.Hostname()
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(fmt.Sprintf("pid %d on %s\n", os.Getpid(), host)), 0)
		}
	}
	return func() { f.Close() }, nil
}
