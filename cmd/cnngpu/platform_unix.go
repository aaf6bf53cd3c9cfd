//go:build unix

// platform_unix.go: what the command line asks of a Unix system: whether a
// file sits on a read-only file system, how wide a terminal is.

package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// onReadOnlyFS reports whether path is on a file system mounted read-only.
func onReadOnlyFS(path string) bool {
	return errors.Is(unix.Access(path, unix.W_OK), unix.EROFS)
}

// terminalWidth is the width in columns of the terminal f, where f is one.
func terminalWidth(f *os.File) (int, bool) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, false
	}
	return int(ws.Col), true
}
