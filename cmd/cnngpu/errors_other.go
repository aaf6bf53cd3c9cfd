//go:build !unix

// errors_other.go: which errors mean a reader gone or a port taken, where
// they are not Unix's: Windows' error numbers beside Go's own.

package main

import (
	"errors"
	"slices"
	"syscall"
)

// hasErrno reports whether err holds one of the error numbers codes.
func hasErrno(err error, codes ...syscall.Errno) bool {
	var n syscall.Errno
	return errors.As(err, &n) && slices.Contains(codes, n)
}

// pipeGone reports whether a write failed for its reader having gone:
// on Windows ERROR_BROKEN_PIPE, ERROR_NO_DATA or ERROR_PIPE_NOT_CONNECTED.
func pipeGone(err error) bool { return errors.Is(err, syscall.EPIPE) || hasErrno(err, 109, 232, 233) }

// addrInUse reports whether a listen failed for another server on the
// port (WSAEADDRINUSE).
func addrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) || hasErrno(err, 10048) }

// portRefused reports whether a listen was refused the port
// (WSAEACCES: on Windows, a port in a range the system reserves), and why.
func portRefused(err error) (bool, string) {
	return errors.Is(err, syscall.EACCES) || hasErrno(err, 10013), "the system reserves that port (netsh interface ipv4 show excludedportrange protocol=tcp lists the reserved ranges): choose another"
}
