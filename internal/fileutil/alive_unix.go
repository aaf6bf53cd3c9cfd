//go:build unix

// alive_unix.go: whether a process still runs, for the removal of the
// temporary files of killed writers.

package fileutil

import (
	"errors"
	"syscall"
)

// processRuns reports whether process pid exists (signal 0 checks without
// sending anything; EPERM means it exists but belongs to another user).
func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
