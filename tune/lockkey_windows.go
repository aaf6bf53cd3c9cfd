//go:build windows

// lockkey_windows.go: a study folder's identity for lock.go, by its
// volume's serial number and its file index.

package tune

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

func folderKeyOf(dir string) (folderKey, error) {
	f, err := os.Open(dir) // a folder opens for its handle on Windows too
	if err != nil {
		return folderKey{}, err
	}
	defer f.Close()
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &info); err != nil {
		return folderKey{}, fmt.Errorf("locking the study folder %s: %w", dir, err)
	}
	return folderKey{uint64(info.VolumeSerialNumber), uint64(info.FileIndexHigh)<<32 | uint64(info.FileIndexLow)}, nil
}

// removeWhileHeld: Windows cannot remove an open file: the lock is dropped first.
const removeWhileHeld = false
