//go:build unix

// lockkey_unix.go: a study folder's identity for lock.go, by device and
// inode.

package tune

import (
	"fmt"
	"os"
	"syscall"
)

func folderKeyOf(dir string) (folderKey, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return folderKey{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return folderKey{}, fmt.Errorf("locking the study folder %s: no inode", dir)
	}
	return folderKey{uint64(st.Dev), uint64(st.Ino)}, nil
}

// removeWhileHeld: the lock file is removed while held (lock.go).
const removeWhileHeld = true
