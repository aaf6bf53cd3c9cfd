//go:build !unix

// lock_other.go: where flock(2) is missing, study folders are not locked
// (lock_unix.go).

package tune

// LockFile is the lock's file name inside a study folder.
const LockFile = ".cnngpu-lock"

// Lock does nothing here.
func Lock(dir string) (release func(), err error) { return func() {}, nil }

// InUse finds no folder in use here.
func InUse(dir string) error { return nil }
