// memory_linux.go: the process's own resource limits on memory (ulimit -v,
// ulimit -d), which neither MemAvailable nor a cgroup shows: past them the
// Go runtime cannot map more, and ends the process with a crash dump.

package cpu

import (
	"syscall"
)

// rlimitLeft is the least that the address-space (RLIMIT_AS) and data
// (RLIMIT_DATA, which counts private anonymous mappings, the Go heap's)
// limits leave this process, with the limit's name; ok is false where
// neither is set.
func rlimitLeft() (left int64, from string, ok bool) {
	for _, l := range []struct {
		res    int
		status string // the /proc/self/status field of what counts against it
		name   string
	}{
		{syscall.RLIMIT_AS, "VmSize", "the address-space limit (ulimit -v) less the process's size"},
		{syscall.RLIMIT_DATA, "VmData", "the data limit (ulimit -d) less the process's data"},
	} {
		var rl syscall.Rlimit
		if syscall.Getrlimit(l.res, &rl) != nil || rl.Cur == ^uint64(0) || rl.Cur >= 1<<62 {
			continue
		}
		used, okUsed := procStatus(l.status)
		if !okUsed {
			continue
		}
		if n := int64(rl.Cur) - used<<10; !ok || n < left {
			left, from, ok = max(n, 1), l.name, true
		}
	}
	return left, from, ok
}
