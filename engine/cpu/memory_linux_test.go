package cpu

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAvailableMemoryUnderUlimit: under an address-space limit (ulimit -v)
// smaller than the system's free memory, the bound is that limit less the
// process's size, and says so: past it the Go runtime cannot map more and
// ends the process with a crash dump.
func TestAvailableMemoryUnderUlimit(t *testing.T) {
	if os.Getenv("CNNGPU_TEST_RLIMIT_CHILD") == "1" {
		a, from := availableMemory()
		fmt.Printf("bound %d: %s\n", a, from)
		return
	}
	const limitKB = 3 << 20 // 3 GiB
	if kb, ok := meminfo("MemAvailable"); !ok || kb <= limitKB {
		t.Skipf("this machine has %d kB available: a 3 GiB ulimit would not be the least bound", kb)
	}
	cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -v %d && exec "$0" -test.run='^TestAvailableMemoryUnderUlimit$' -test.v`, limitKB), os.Args[0])
	cmd.Env = append(os.Environ(), "CNNGPU_TEST_RLIMIT_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the test under ulimit -v: %v\n%s", err, out)
	}
	var a int64
	var from string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "bound "); ok {
			n, _ := fmt.Sscanf(rest, "%d:", &a)
			_, from, _ = strings.Cut(rest, ": ")
			if n != 1 {
				a = -1
			}
		}
	}
	if a <= 0 || a >= limitKB<<10 || !strings.Contains(from, "ulimit -v") {
		t.Errorf("under ulimit -v %d: bound %d (%q); want one under %d bytes naming the limit\n%s", limitKB, a, from, int64(limitKB)<<10, out)
	}
}

// TestLimitLeft: three quarters of what a limit leaves, for limits up to
// 2^62 bytes (a product of the whole first overflowed: every training
// refused under ulimit -v 3906250000000000).
func TestLimitLeft(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		used  int64
		want  int64
	}{
		{3 << 30, 1 << 20, 3 << 29},
		{4_000_000_000_000_000_000, 0, 3_000_000_000_000_000_000},
		{1<<62 - 1, 4, (1<<62 - 1 - 4<<10) - (1<<62-1-4<<10)/4},
	} {
		if got := limitLeft(c.limit, c.used); got != c.want {
			t.Errorf("limitLeft(%d, %d kB) = %d, want %d", c.limit, c.used, got, c.want)
		}
	}
}
