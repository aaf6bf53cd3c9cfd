//go:build windows

// rename_windows.go: the rename that puts a written file in place, and
// Windows' words for a full disk. Windows refuses to replace a file
// another program holds open (a viewer, a Python session reading the
// checkpoint, and for a moment an antivirus scan or the search indexer):
// the rename is tried again for a while, and a file still held is then
// named as such, not as a folder that cannot be written.

package fileutil

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/windows"
)

// renameWait is how long a rename refused for a file held open is tried
// again.
var renameWait = 2 * time.Second

func rename(from, to string) error {
	start := time.Now()
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := os.Rename(from, to)
		if err == nil || !heldOpen(err) {
			return err
		}
		if time.Since(start) >= renameWait {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: heldOpenError{err}}
		}
		time.Sleep(wait)
	}
}

// heldOpen tells whether a rename's error is Windows refusing to replace
// a file that is open elsewhere.
func heldOpen(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}

// heldOpenError is a rename Windows still refused after renameWait: its
// own words, and what is likely (no permission error's hint: the folder is
// writable, as the temporary file written there shows).
type heldOpenError struct{ err error }

func (e heldOpenError) Error() string {
	var le *os.LinkError
	cause := e.err
	if errors.As(cause, &le) {
		cause = le.Err
	}
	return fmt.Sprintf("refused for %s (%s): another program holds the file open (a viewer, a Python session that opened it), or it is read-only; close it there, or clear its read-only attribute (attrib -r), and run again", renameWait, strings.TrimSuffix(cause.Error(), "."))
}

// diskFull tells whether err is Windows' full disk (ERROR_DISK_FULL,
// ERROR_HANDLE_DISK_FULL), which is not syscall.ENOSPC there.
func diskFull(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL)
}
