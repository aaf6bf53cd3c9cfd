// holder.go: how the messages name the process that holds a lock.

package fileutil

// AnotherProcess names the holder of a lock as TryLock and HeldBy give it:
// "another process (pid N on HOST)", or "another process" where the lock
// file does not say.
func AnotherProcess(holder string) string {
	if holder == "" {
		return "another process"
	}
	return "another process (" + holder + ")"
}
