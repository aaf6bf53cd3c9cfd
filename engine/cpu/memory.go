// memory.go: the CPU engine's tensors against the memory there is. Go
// cannot recover from running out of memory (the runtime ends the process
// with a crash dump, or the kernel's OOM killer does), so the engine counts
// the bytes of its live tensors and refuses an allocation that would take
// them past what was available when it was made: `--batch-size 20000`
// gets an error naming the sizes instead of a crash. The bound is the
// system's MemAvailable and, inside a cgroup v2 container, what its
// memory.max leaves; where neither can be read, nothing is refused.

package cpu

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrOutOfMemory is the error of an allocation refused for want of memory
// (errors.Is matches it).
var ErrOutOfMemory = errors.New("out of memory")

// memoryError is an allocation refused: what it needed and what there was.
type memoryError struct{ need, live, avail int64 }

func (e *memoryError) Error() string {
	return fmt.Sprintf("cpu: out of memory: a tensor of %s on top of the %s of tensors it has made would pass the %s available (the system's, when the engine started); training at a smaller --batch-size needs less",
		bytesText(e.need), bytesText(e.live), bytesText(e.avail))
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

// reserve counts bytes for a new tensor, or refuses them.
func (e *Engine) reserve(bytes int64) error {
	if e.avail > 0 && e.live+bytes > e.avail {
		return &memoryError{need: bytes, live: e.live, avail: e.avail}
	}
	e.live += bytes
	return nil
}

// availableMemory is the memory this process may still take, in bytes:
// MemAvailable from /proc/meminfo, less where a cgroup v2 limit leaves
// less; 0 where neither is known.
func availableMemory() int64 {
	avail := int64(0)
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
					avail = kb << 10
				}
				break
			}
		}
		f.Close()
	}
	max, err1 := os.ReadFile("/sys/fs/cgroup/memory.max")
	cur, err2 := os.ReadFile("/sys/fs/cgroup/memory.current")
	if err1 == nil && err2 == nil {
		m, errm := strconv.ParseInt(strings.TrimSpace(string(max)), 10, 64) // "max": no limit
		c, errc := strconv.ParseInt(strings.TrimSpace(string(cur)), 10, 64)
		if errm == nil && errc == nil && (avail == 0 || m-c < avail) {
			avail = max64(m-c, 1)
		}
	}
	return avail
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
