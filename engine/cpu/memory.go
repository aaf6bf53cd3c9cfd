// memory.go: the CPU engines' tensors against the memory there is. Go
// cannot recover from running out of memory (the runtime ends the process
// with a crash dump, or the kernel's OOM killer does), so the engines count
// the bytes of their live tensors, all of a process's engines together
// (`tune --jobs-per-device N` runs several), and refuse an allocation that
// would take them past what was available when the first engine was made:
// `--batch-size 20000` gets an error naming the sizes instead of a crash.
// The bound is the system's MemAvailable or, inside a memory cgroup (v2, or
// v1's memory controller) that leaves less, its limit less what the group
// uses beyond reclaimable page cache, or, where the process's own limits
// (ulimit -v, ulimit -d) leave less, that; where none can be read, nothing
// is refused. Memory the kernel would give back that MemAvailable does not
// count (a ZFS ARC) makes the bound cautious.

package cpu

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/cnngpu/cnngpu/engine"
)

// ErrOutOfMemory is the error of an allocation refused for want of memory
// (errors.Is matches it): engine.ErrOutOfMemory.
var ErrOutOfMemory = engine.ErrOutOfMemory

// budget is the process's: every CPU engine's tensors count against it.
var budget struct {
	sync.Mutex
	once  sync.Once
	live  int64  // bytes of the tensors Alloc made and Free has not dropped
	avail int64  // the bound (0: unknown, nothing refused)
	from  string // where the bound came from
}

// memoryError is an allocation refused: what it needed and what there was.
type memoryError struct {
	need, live, avail int64
	from              string
	now               bool // avail is of now, not of the first engine's start
}

func (e *memoryError) Error() string {
	if e.now {
		return fmt.Sprintf("cpu: out of memory: a tensor of %s on top of the %s of tensors already made does not fit in %s (%s): raise the limit (ulimit -v: this process's address space holds more than its tensors)",
			bytesText(e.need), bytesText(e.live), bytesText(e.avail-e.live), e.from)
	}
	when, hint := ", when the first engine started", "other programs may hold the rest, and training at a smaller --batch-size needs less"
	return fmt.Sprintf("cpu: out of memory: a tensor of %s on top of the %s of tensors already made would pass the %s available (%s%s): %s",
		bytesText(e.need), bytesText(e.live), bytesText(e.avail), e.from, when, hint)
}

func (e *memoryError) Is(target error) bool { return target == ErrOutOfMemory }

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// startBudget reads the bound, once per process.
func startBudget() {
	budget.once.Do(func() {
		a, from := availableMemory()
		budget.Lock()
		budget.avail, budget.from = a, from
		budget.Unlock()
		if a > 0 && os.Getenv("GOMEMLIMIT") == "" {
			// The bound counts live tensors; freed ones wait for the
			// garbage collector, which by default lets the heap grow to
			// twice what is live. Near the bound it collects sooner, so
			// that live tensors plus garbage stay within what there is
			// (8 engines of `tune --jobs-per-device` under ulimit -v had
			// the runtime end the process, out of memory, at 1.1 GiB of
			// 3 GiB).
			debug.SetMemoryLimit(a)
		}
	})
}

// reserve counts bytes for a new tensor, or refuses them.
func reserve(bytes int64) error {
	budget.Lock()
	defer budget.Unlock()
	if budget.avail > 0 && budget.live+bytes > budget.avail {
		return &memoryError{need: bytes, live: budget.live, avail: budget.avail, from: budget.from}
	}
	// Under ulimit -v the process's address space also grows by what
	// no tensor counts (the runtime's heap arenas and their metadata, a
	// thread's stack and C heap), and past the limit the runtime ends the
	// process with a crash dump: the tensor must fit in what the limit
	// leaves now, with room for that.
	if left, ok := addressSpaceLeft(bytes); ok && bytes > left {
		return &memoryError{need: bytes, live: budget.live, avail: budget.live + max(left, 0), now: true,
			from: fmt.Sprintf("what the address-space limit leaves the process now, less %s for the Go runtime", bytesText(asMargin))}
	}
	budget.live += bytes
	return nil
}

// LiveBytes is the bytes of the tensors the process's CPU engines hold
// (made by Alloc, not yet freed): what their memory bound counts. A test
// checks with it that a command frees what it allocates.
func LiveBytes() int64 {
	budget.Lock()
	defer budget.Unlock()
	return budget.live
}

// release uncounts a freed tensor's bytes.
func release(bytes int64) {
	budget.Lock()
	budget.live -= bytes
	budget.Unlock()
}

// availableMemory is the memory this process may still take, in bytes,
// and where the figure comes from; 0 where it is not known.
func availableMemory() (int64, string) {
	avail, from := int64(0), ""
	if !procReadable {
		// No /proc nor cgroups (memory_*.go).
		if b, ok := physAvailable(); ok {
			avail, from = b, "the system's available physical memory"
		}
		return avail, from
	}
	if kb, ok := meminfo("MemAvailable"); ok {
		avail, from = kb<<10, "the system's MemAvailable"
	}
	if left, ok := cgroupLeft(); ok && left > 0 && (avail == 0 || left < avail) {
		avail, from = left, "the memory cgroup's limit less its use"
	}
	if left, why, ok := rlimitLeft(); ok && (avail == 0 || left < avail) {
		avail, from = left, why
	}
	return avail, from
}

// procStatus reads a /proc/self/status field in kB.
func procStatus(field string) (int64, bool) {
	return kbField("/proc/self/status", field)
}

// meminfo reads a /proc/meminfo field in kB.
func meminfo(field string) (int64, bool) {
	return kbField("/proc/meminfo", field)
}

// kbField reads a "Field:   N kB" line of a /proc file.
func kbField(path, field string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// cgroupLeft is what this process's memory cgroup leaves: its limit less
// what it uses beyond inactive page cache (which the kernel reclaims before
// it kills). ok is false with no limit or nothing readable.
func cgroupLeft() (left int64, ok bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	// v2: "0::/path"; v1: "N:memory:/path" (or "N:...,memory,...:/path").
	var dir, max, cur, inactive string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "" && dir == "":
			dir = filepath.Join("/sys/fs/cgroup", parts[2])
			max, cur, inactive = "memory.max", "memory.current", "inactive_file"
		case strings.Contains(","+parts[1]+",", ",memory,"):
			dir = filepath.Join("/sys/fs/cgroup/memory", parts[2])
			max, cur, inactive = "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
		}
	}
	if dir == "" {
		return 0, false
	}
	read := func(name string) (int64, bool) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return 0, false
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64) // "max": no limit
		return v, err == nil
	}
	limit, ok1 := read(max)
	used, ok2 := read(cur)
	if !ok1 || !ok2 || limit >= 1<<60 { // v1 writes "no limit" as a huge number
		return 0, false
	}
	if st, err := os.ReadFile(filepath.Join(dir, "memory.stat")); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, inactive+" "); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n <= used {
					used -= n
				}
			}
		}
	}
	return limit - used, true
}
