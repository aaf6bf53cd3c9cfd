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
	// The start time is in clock ticks (10 ms at 100 a second): the age
	// is known to a tick, and a loaded machine adds some milliseconds
	// (31 ms over 36.5 failed a 5 ms bound in CI).
	tol := time.Second/time.Duration(max(clockTicks(), 1)) + 5*time.Millisecond
	if d := a1 - a0; d < elapsed-tol || d > elapsed+tol {
		t.Errorf("the age grew by %v over %v (to within %v)", d, elapsed, tol)
	}
	if a0 <= 0 || a0 > time.Hour {
		t.Errorf("process age %v", a0)
	}
	if hz := clockTicks(); hz != 100 {
		t.Logf("clock ticks a second: %d", hz)
	}
}
