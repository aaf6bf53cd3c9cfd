//go:build unix

// edge_unix_test.go: memory that ends where an inaccessible page begins,
// for the tests of assembly that must touch nothing past its operands.

package cpu

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// atTheEdge returns n floats that end right where an inaccessible page
// begins, so that a read or write past them faults.
func atTheEdge(t *testing.T, n int) []float32 {
	t.Helper()
	page := unix.Getpagesize()
	size := (n*4+page-1)/page*page + page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	if err := unix.Mprotect(mem[size-page:], unix.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	all := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), (size-page)/4)
	return all[len(all)-n:]
}
