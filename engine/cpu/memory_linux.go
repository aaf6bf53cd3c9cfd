// memory_linux.go: the process's own resource limits on memory (ulimit -v,
// ulimit -d), which neither MemAvailable nor a cgroup shows: past them the
// Go runtime cannot map more, and ends the process with a crash dump.

package cpu

import (
	"sync"
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
		limit, set := rlimit(l.res)
		if !set {
			continue
		}
		used, okUsed := procStatus(l.status)
		if !okUsed {
			continue
		}
		if n := limitLeft(limit, used); !ok || n < left {
			left, from, ok = max(n, 1), l.name, true
		}
	}
	return left, from, ok
}

// rlimit is the soft limit res sets, in bytes; set is false where none
// is (unlimited, or too large to be one: 2^62 and more).
func rlimit(res int) (limit uint64, set bool) {
	var rl syscall.Rlimit
	if syscall.Getrlimit(res, &rl) != nil || rl.Cur == ^uint64(0) || rl.Cur >= 1<<62 {
		return 0, false
	}
	return rl.Cur, true
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

// asMargin is the address space an allocation under ulimit -v leaves
// for what grows beside the tensors: a few of the runtime's 64 MiB heap
// arenas, a thread's stack and C heap arena (train's CPU engine ended in
// a crash dump under ulimit -v 2000000 with 242 MB of its heap in use,
// its address space at the limit).
const asMargin = 256 << 20

// asLimit is the address-space limit (ulimit -v) in bytes, read once; 0
// where none is set.
var asLimit = sync.OnceValue(func() int64 {
	limit, _ := rlimit(syscall.RLIMIT_AS)
	return int64(limit)
})

// addressSpaceLeft is what the address-space limit leaves the process
// now, less asMargin (negative where less than that is left); ok is false
// where no limit is set or the process's size cannot be read. need is
// the allocation's size: one of less than a MiB is not checked, for the
// cost of reading /proc (a tensor of a training step is larger).
func addressSpaceLeft(need int64) (left int64, ok bool) {
	limit := asLimit()
	if limit == 0 || need < 1<<20 {
		return 0, false
	}
	used, ok := procStatus("VmSize")
	if !ok {
		return 0, false
	}
	return limit - used<<10 - asMargin, true
}

// procReadable: /proc and cgroups say what memory there is (Linux and Android).
const procReadable = true
