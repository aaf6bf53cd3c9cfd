// lock.go: what the lock of every system shares (lock_unix.go,
// lock_windows.go, lock_other.go): the error of a lock held elsewhere, the
// grace a holder just ended gets, and the holder's words read from its
// lock file.

package fileutil

import (
	"errors"
	"os"
	"strings"
	"time"
)

// ErrLocked is what TryLock returns when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// LockGrace is how long TryLock waits for a lock held by another
// process to be dropped before it reports ErrLocked.
var LockGrace = time.Second

// holderOf is what lock file f says of its holder ("pid N on HOST"), read
// from the file opened (not again by its name, which something may have
// replaced meanwhile).
func holderOf(f *os.File) string {
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	return strings.TrimSpace(string(b[:n]))
}
