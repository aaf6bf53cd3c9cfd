// proc_linux_test.go: the tests of reading a process's start and age from
// Linux's /proc, which exists only on Linux.

package trace

import (
	"testing"
	"time"
)

// TestStartTicks reads field 22 of a stat line whose command name holds
// spaces and parentheses.
func TestStartTicks(t *testing.T) {
	line := "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615\n"
	if v, ok := startTicks([]byte(line)); !ok || v != 987654 {
		t.Errorf("startTicks = %d, %v; want 987654", v, ok)
	}
	if _, ok := startTicks([]byte("4242 (short) S 1")); ok {
		t.Error("a short stat line was read")
	}
}

// TestProcessAge: on Linux the process's age is known, at least as long
// as this test has run, and less than the test binary's limit.
func TestProcessAge(t *testing.T) {
	t0 := time.Now()
	a0, ok := processAge()
	time.Sleep(30 * time.Millisecond)
	a1, ok1 := processAge()
	elapsed := time.Since(t0)
	if !ok || !ok1 {
		t.Fatal("process age unknown on Linux")
	}
	// The start time cancels out of the growth: it is the time between
	// the two clock reads, which span the sleep and lie within elapsed.
	// Bounded by those, not by elapsed alone: on a loaded machine reading
	// /proc/self/stat before a clock read took 16 ms (30.6 ms over 46.4
	// failed a bound of one tick and 5 ms).
	const slack = time.Millisecond // CLOCK_BOOTTIME against Go's clock
	if d := a1 - a0; d < 30*time.Millisecond-slack || d > elapsed+slack {
		t.Errorf("the age grew by %v over a sleep of 30ms and %v in all", d, elapsed)
	}
	if a0 <= 0 || a0 > time.Hour {
		t.Errorf("process age %v", a0)
	}
	if hz := clockTicks(); hz != 100 {
		t.Logf("clock ticks a second: %d", hz)
	}
}
