//go:build unix || windows

// lock.go: one process at a time in a study folder. Two `cnngpu
// tune` on the same --out (a second terminal, two shards given one
// folder) would each restart the other's run in flight and rewrite its
// files; the second is refused instead. The lock is flock(2) on
// .cnngpu-lock in the folder (LockFileEx on Windows: fileutil.TryLock):
// the system drops it when the process ends, however it ends (SIGKILL
// included), so a study interrupted any way resumes without a stale lock
// to remove. Within one process the lock nests: the command takes it
// before loading the data and starting its engines (a second study on the
// folder is refused at once), and the runner or merge inside takes it
// again without waiting for itself.

package tune

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/cnngpu/cnngpu/internal/fileutil"
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
	if err := fileutil.MakeDirs(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making the study folder: %w", err)
	}
	// The folder by device and inode, so that two names of one folder
	// (a symbolic link, a relative path) are one lock.
	key, err := folderKeyOf(dir)
	if err != nil {
		return nil, err
	}
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

// folderKey names a folder by its device and inode (on Windows, its
// volume's serial number and its file index).
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

// InUse returns the InUseError of a study folder dir that another process
// holds (taking nothing: a dry run's check), else nil.
func InUse(dir string) error {
	if holder, held := fileutil.HeldBy(filepath.Join(dir, LockFile)); held {
		return inUse(dir, holder)
	}
	return nil
}

// inUse is the InUseError of dir, held by holder (the lock file's words).
func inUse(dir, holder string) error {
	return &InUseError{fmt.Errorf("%s is in use by %s (a cnngpu tune, tune merge or plot on it): wait for it to finish (a study stopped resumes, and redraws its plots when it ends), or give a new study another --out folder", dir, fileutil.AnotherProcess(holder))}
}

// flockFolder takes dir's lock file with flock(2) (fileutil.TryLock): the
// open file holds the lock (nil and no error where the file system has no
// flock, with a warning). A lock file removed or replaced while it waited
// (Claim takes back a folder it made) is not the folder's lock: it tries
// again on the file there now (the folder made again if it went with it).
func flockFolder(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	for try := 0; ; try++ {
		f, holder, err := fileutil.TryLock(path)
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, fileutil.ErrLocked):
			return nil, inUse(dir, holder)
		case errors.Is(err, fileutil.ErrNoLocks):
			fmt.Fprintf(os.Stderr, "warning: %s cannot be locked here (%v): it is used unlocked; run one cnngpu tune at a time on it\n", dir, err)
			return nil, nil
		case errors.Is(err, fs.ErrNotExist) && try < 3:
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("making the study folder: %w", err)
			}
			continue
		}
		return nil, fmt.Errorf("locking the study folder %s: %w", dir, err)
	}
}
