//go:build unix

// lock_unix.go: one process at a time in a study folder. Two `cnngpu
// tune` on the same --out (a second terminal, two shards given one
// folder) would each restart the other's run in flight and rewrite its
// files; the second is refused instead. The lock is flock(2) on
// .cnngpu-lock in the folder: the kernel drops it when the process ends,
// however it ends (SIGKILL included), so a study interrupted any way
// resumes without a stale lock to remove. Within one process the lock
// nests: the command takes it before loading the data and starting its
// engines (a second study on the folder is refused at once), and the
// runner or merge inside takes it again without waiting for itself.

package tune

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// LockFile is the lock's file name inside a study folder.
const LockFile = ".cnngpu-lock"

// Lock takes the study folder dir (made if missing) for this process
// until release is called; a folder another process holds is an error
// naming it and that process. Where the file system has no flock (an NFS
// server without its lock daemon, Lustre mounted noflock) the folder is
// used unlocked, with a warning on stderr: one process per folder is then
// the user's to keep. A folder this process holds already is taken again
// at once (the lock nests): it stays held until every release is called.
func Lock(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making the study folder: %w", err)
	}
	// The folder by device and inode, so that two names of one folder
	// (a symbolic link, a relative path) are one lock.
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("locking the study folder %s: no inode", dir)
	}
	key := folderKey{uint64(st.Dev), uint64(st.Ino)}
	held.Lock()
	defer held.Unlock()
	if h := held.m[key]; h != nil {
		h.n++
		return h.releaser(key), nil
	}
	f, err := flockFolder(dir)
	if err != nil {
		return nil, err
	}
	if held.m == nil {
		held.m = map[folderKey]*holding{}
	}
	h := &holding{f: f, n: 1}
	held.m[key] = h
	return h.releaser(key), nil
}

// folderKey names a folder by its device and inode.
type folderKey struct{ dev, ino uint64 }

// holding is this process's lock on one folder: the locked file (nil where
// the file system has no flock) and how many holders have yet to release.
type holding struct {
	f *os.File
	n int
}

// held: the folders this process holds.
var held struct {
	sync.Mutex
	m map[folderKey]*holding
}

// releaser returns a release for one holder: the last one closes the file,
// which drops the flock. Calling it twice counts once.
func (h *holding) releaser(key folderKey) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			held.Lock()
			defer held.Unlock()
			if h.n--; h.n == 0 {
				delete(held.m, key)
				if h.f != nil {
					h.f.Close()
				}
			}
		})
	}
}

// flockFolder takes dir's lock file with flock(2): the open file holds the
// lock (nil and no error where the file system has no flock). A lock file
// removed or replaced while it waited (Claim takes back a folder it made)
// is not the folder's lock: it tries again on the file there now.
func flockFolder(dir string) (*os.File, error) {
	for try := 0; ; try++ {
		f, err := flockOnce(dir)
		if f == nil || err != nil {
			return f, err
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(filepath.Join(dir, LockFile))
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close()
		if try == 3 {
			return nil, fmt.Errorf("locking the study folder %s: its lock file %s keeps being removed or replaced; is another program cleaning the folder?", dir, LockFile)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("making the study folder: %w", err)
		}
	}
}

// flockOnce opens dir's lock file and takes its flock once.
func flockOnce(dir string) (*os.File, error) {
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
			return nil, nil
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
	return f, nil
}
