//go:build !linux && !windows

// memory_other.go: no resource limits read where there is no /proc to
// say what counts against them (Linux), nor a call that says what memory
// is free (Windows).

package cpu

func rlimitLeft() (int64, string, bool) { return 0, "", false }

func addressSpaceLeft(int64) (int64, bool) { return 0, false }

const asMargin = 0

func physAvailable() (int64, bool) { return 0, false }

// procReadable: no /proc here: a file of that name is not this system's.
const procReadable = false
