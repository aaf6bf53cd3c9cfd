//go:build !linux

// memory_other.go: no resource limits read where there is no /proc to
// say what counts against them (Linux); what memory is free comes from
// physAvailable (Windows') or nowhere.

package cpu

func rlimitLeft() (int64, string, bool) { return 0, "", false }

func addressSpaceLeft(int64) (int64, bool) { return 0, false }

const asMargin = 0

// procReadable: no /proc here: a file of that name (or Wine's view of
// Linux's) is not this system's.
const procReadable = false
