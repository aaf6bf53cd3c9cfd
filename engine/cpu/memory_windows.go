//go:build windows

// memory_windows.go: on Windows the bound on tensors is the physical
// memory available when the first engine starts (as Linux's MemAvailable
// is), from GlobalMemoryStatusEx; there are no resource limits to read
// (memory_other.go).

package cpu

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// memoryStatusEx is Windows' MEMORYSTATUSEX.
type memoryStatusEx struct {
	length               uint32
	memoryLoad           uint32
	totalPhys            uint64
	availPhys            uint64
	totalPageFile        uint64
	availPageFile        uint64
	totalVirtual         uint64
	availVirtual         uint64
	availExtendedVirtual uint64
}

var globalMemoryStatusEx = windows.NewLazySystemDLL("kernel32.dll").NewProc("GlobalMemoryStatusEx")

// physAvailable is the physical memory available now, in bytes.
func physAvailable() (int64, bool) {
	st := memoryStatusEx{length: uint32(unsafe.Sizeof(memoryStatusEx{}))}
	if r, _, _ := globalMemoryStatusEx.Call(uintptr(unsafe.Pointer(&st))); r == 0 || st.availPhys == 0 {
		return 0, false
	}
	return int64(min(st.availPhys, 1<<62)), true
}
