//go:build windows

// alive_windows.go: whether a process still runs, for the removal of the
// temporary files of killed writers (Task Manager's "End task" and
// taskkill /F leave them, as SIGKILL does on Unix).

package fileutil

import (
	"errors"

	"golang.org/x/sys/windows"
)

// stillActive is the exit code GetExitCodeProcess gives a process that
// has not ended (STILL_ACTIVE).
const stillActive = 259

// processRuns reports whether process pid exists: it can be opened and
// has no exit code yet. One that cannot be opened for another reason than
// not existing (another user's, access denied) is taken as running.
func processRuns(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return !errors.Is(err, windows.ERROR_INVALID_PARAMETER)
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == stillActive
}
