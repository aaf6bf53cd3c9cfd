//go:build !unix && !windows

// lock_other.go: where neither flock(2) nor LockFileEx is at hand, study
// folders are not locked (lock.go).

package tune

// LockFile is the lock's file name inside a study folder.
const LockFile = ".cnngpu-lock"

// Lock does nothing here.
func Lock(dir string) (release func(), err error) { return func() {}, nil }

// InUse finds no folder in use here.
func InUse(dir string) error { return nil }

// removeWhileHeld: no lock here to hold.
const removeWhileHeld = true
