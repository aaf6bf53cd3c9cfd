//go:build unix

// platform_unix.go: what the command line asks of a Unix system: whether a
// file sits on a read-only file system, how wide a terminal is, and which
// errors mean a reader gone or a port taken.

package main

import (
	"errors"
	"os"
	"syscall"

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

// pipeGone reports whether a write failed for its reader having gone.
func pipeGone(err error) bool { return errors.Is(err, syscall.EPIPE) }

// addrInUse reports whether a listen failed for another server on the port.
func addrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// portRefused reports whether a listen was refused the port, and why.
func portRefused(err error) (bool, string) {
	return errors.Is(err, syscall.EACCES), "ports below 1024 need privileges: choose a port of 1024 or more"
}
