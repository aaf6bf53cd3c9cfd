//go:build !unix && !windows

// lock_other.go: where neither flock(2) nor LockFileEx is at hand, nothing
// is locked (lock_unix.go, lock_windows.go).

package fileutil

import (
	"errors"
	"os"
)

// ErrNoLocks is what TryLock returns here: no file locks.
var ErrNoLocks = errors.New("this system cannot lock files")

// TryLock reports ErrNoLocks.
func TryLock(path string) (*os.File, string, error) { return nil, "", ErrNoLocks }

// HeldBy finds no lock here.
func HeldBy(path string) (holder string, held bool) { return "", false }

// Unlock does nothing here.
func Unlock(path string, f *os.File) {}
