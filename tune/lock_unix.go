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
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the lock's file name inside a study folder.
const LockFile = ".cnngpu-lock"

// Lock takes the study folder dir (made if missing) for this process
// until release is called; a folder another process holds is an error
// naming it and that process.
func Lock(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the study folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				who = fmt.Sprintf("another process (pid %d)", pid)
			}
			return nil, fmt.Errorf("%s is in use by %s running cnngpu tune on it: wait for it to finish (or stop it; the study resumes), or give this one another --out folder", dir, who)
		}
		return nil, fmt.Errorf("locking the study folder %s: %w", dir, err)
	}
	// The holder's pid, for the message above (the lock is the flock, not
	// this content).
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
