//go:build !linux

// proc_other.go: where /proc is not Linux's, the process start is
// unknown: the table's wall time runs from main and has no row for the
// time before it.

package trace

import "time"

func processAge() (time.Duration, bool) { return 0, false }
