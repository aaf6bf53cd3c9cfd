//go:build linux

// proc_linux.go: the process's age, for the time from its start to main
// and the table's wall time. The kernel gives the start as clock ticks
// since boot (/proc/self/stat, field 22; ticks of AT_CLKTCK a second from
// the auxiliary vector, 100 on Linux); CLOCK_BOOTTIME is the same clock
// now. A tick is 10 ms, and the start is rounded down to one, so the age
// is up to 10 ms long. The start is when the process was forked, so the
// age includes exec, the dynamic loader and the Go runtime's start.

package trace

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// atClkTck is AT_CLKTCK in the auxiliary vector (elf.h).
const atClkTck = 17

// processAge is how long ago the process started, and whether that is
// known.
func processAge() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	ticks, ok := startTicks(b)
	if !ok {
		return 0, false
	}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0, false
	}
	hz := clockTicks()
	start := time.Duration(ticks/hz)*time.Second + time.Duration(ticks%hz)*time.Second/time.Duration(hz)
	age := time.Duration(ts.Nano()) - start
	return age, age >= 0
}

// startTicks reads field 22 (starttime) of a /proc/PID/stat line. The
// second field, the command name in parentheses, may hold spaces and
// parentheses itself, so the fields are counted from its last ')'.
func startTicks(stat []byte) (uint64, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:]) // fields 3, 4, ...
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(f[22-3]), 10, 64)
	return v, err == nil
}

// clockTicks is the kernel's clock ticks a second for /proc (USER_HZ),
// from the auxiliary vector; 100 where it cannot be read.
func clockTicks() uint64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	word := func(b []byte) uint64 { return uint64(binary.NativeEndian.Uint32(b)) }
	n := strconv.IntSize / 8 // an entry is two words: the type and the value
	if n == 8 {
		word = binary.NativeEndian.Uint64
	}
	for ; len(b) >= 2*n; b = b[2*n:] {
		if word(b) == atClkTck {
			if v := word(b[n:]); v > 0 {
				return v
			}
		}
	}
	return 100
}
