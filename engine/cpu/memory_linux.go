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
		{syscall.RLIMIT_AS, "VmSize", "three quarters of what the address-space limit (ulimit -v) leaves the process"},
		{syscall.RLIMIT_DATA, "VmData", "three quarters of what the data limit (ulimit -d) leaves the process"},
	} {
		var rl syscall.Rlimit
		if syscall.Getrlimit(l.res, &rl) != nil || rl.Cur == ^uint64(0) || rl.Cur >= 1<<62 {
			continue
		}
		used, okUsed := procStatus(l.status)
		if !okUsed {
			continue
		}
		if n := limitLeft(rl.Cur, used); !ok || n < left {
			left, from, ok = max(n, 1), l.name, true
		}
	}
	return left, from, ok
}

// limitLeft is the bound a resource limit of limit bytes gives a process
// that uses usedKB kB of what it counts: three quarters of what it leaves,
// the rest for the heap that is not tensors (the data, buffers, garbage
// not yet collected); past the limit the runtime cannot map more, and ends
// the process with a crash dump (docs/usage.md, "Memory"). limit is below
// 2^62 (larger ones are not read as limits), so nothing overflows.
func limitLeft(limit uint64, usedKB int64) int64 {
	d := int64(limit) - usedKB<<10
	return d - d/4
}
