//go:build !windows

// physmem_other.go: no call for the physical memory available but
// Windows' (memory_windows.go); Linux reads /proc/meminfo instead.

package cpu

func physAvailable() (int64, bool) { return 0, false }
