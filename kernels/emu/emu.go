//go:build cgo && !windows

// Package emu runs cnngpu's CUDA kernels (kernels/kernels.cu, compiled as C
// by emu.c) on the CPU, in emulated device memory, so that tests on
// machines without a GPU run the kernels: the kernel tests
// (kernels/emu_test.go) and the GPU engine's ops on an emulated device
// (engine/cuda). It also checks what a GPU would not report: every
// pointer argument must point into live memory, new memory reads as NaN
// (every byte 0xFF) until written, and a write past either end of an
// allocation is an error that names the kernel. LaunchOrderChecked also
// runs a launch with each block's threads in both orders and requires the
// same result.
package emu

/*
#cgo CFLAGS: -O2 -std=gnu11 -Wall -Werror -pthread
#cgo LDFLAGS: -pthread -lm
#include <stdlib.h>
#include <string.h>
#include "emu.h"
*/
import "C"

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"unsafe"
)

// Available reports whether this build has the emulator (it needs cgo).
const Available = true

// guard is the number of bytes before and after each allocation that must
// keep their fill, guardByte; align is the alignment of every address (as
// cuMemAlloc's).
const (
	guard     = 256
	align     = 256
	guardByte = 0xA5
	freshByte = 0xFF
)

// Arg is one kernel argument: its bits (a 4-byte value in the low half)
// and its size in bytes, 4 or 8.
type Arg struct {
	Bits uint64
	Size int
}

// block is one allocation: size bytes at addr, with guards either side,
// inside C memory at base.
type block struct {
	base unsafe.Pointer
	addr uint64
	size int
}

// Memory is emulated device memory. Its methods may be called from any
// goroutine; launches run one at a time, process-wide.
type Memory struct {
	mu     sync.Mutex
	blocks []*block // by address
}

// launchMu serialises launches: emu.c keeps a launch's state in globals.
var launchMu sync.Mutex

// NewMemory returns an empty device memory.
func NewMemory() *Memory { return &Memory{} }

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// Alloc returns the address of bytes new bytes, each 0xFF.
func (m *Memory) Alloc(bytes int) (uint64, error) {
	if bytes < 0 {
		return 0, fmt.Errorf("emu: allocation of %d bytes", bytes)
	}
	total := guard + roundUp(bytes, align) + guard
	base := C.aligned_alloc(align, C.size_t(total))
	if base == nil {
		return 0, fmt.Errorf("emu: out of memory allocating %d bytes", bytes)
	}
	// memset, not a loop over the bytes: a loop storing a byte at a time
	// was 4% of engine/cuda's test time.
	C.memset(base, guardByte, C.size_t(total))
	C.memset(unsafe.Add(base, guard), freshByte, C.size_t(bytes))
	b := &block{base: base, addr: uint64(uintptr(base)) + guard, size: bytes}
	m.mu.Lock()
	defer m.mu.Unlock()
	i, _ := slices.BinarySearchFunc(m.blocks, b.addr, func(x *block, a uint64) int {
		switch {
		case x.addr < a:
			return -1
		case x.addr > a:
			return 1
		}
		return 0
	})
	m.blocks = slices.Insert(m.blocks, i, b)
	return b.addr, nil
}

// find returns the block that holds address p, or nil. m.mu is held.
func (m *Memory) find(p uint64) *block {
	i := sort.Search(len(m.blocks), func(i int) bool { return m.blocks[i].addr+uint64(m.blocks[i].size) > p })
	if i < len(m.blocks) && m.blocks[i].addr <= p {
		return m.blocks[i]
	}
	// A zero-byte allocation holds its own address.
	for _, b := range m.blocks {
		if b.size == 0 && b.addr == p {
			return b
		}
	}
	return nil
}

// Free releases the allocation at p, which must be an address Alloc
// returned, after checking its guards.
func (m *Memory) Free(p uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, b := range m.blocks {
		if b.addr == p {
			err := b.check("")
			m.blocks = slices.Delete(m.blocks, i, i+1)
			C.free(b.base)
			return err
		}
	}
	return fmt.Errorf("emu: free of %#x, which is not an allocation", p)
}

// Close releases everything.
func (m *Memory) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.blocks {
		C.free(b.base)
	}
	m.blocks = nil
}

// Live returns the number of allocations not freed.
func (m *Memory) Live() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.blocks)
}

// Bytes returns the n bytes at p, which must lie inside one allocation.
func (m *Memory) Bytes(p uint64, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.find(p)
	if b == nil {
		return nil, fmt.Errorf("emu: address %#x is not in any allocation", p)
	}
	off := p - b.addr
	if n < 0 || off+uint64(n) > uint64(b.size) {
		return nil, fmt.Errorf("emu: %d bytes at offset %d of a %d-byte allocation run past its end", n, off, b.size)
	}
	return unsafe.Slice((*byte)(unsafe.Add(b.base, guard+int(off))), n), nil
}

// End returns the address just past the allocation that holds p, or
// false when p is in none.
func (m *Memory) End(p uint64) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.find(p)
	if b == nil {
		return 0, false
	}
	return b.addr + uint64(b.size), true
}

// Float32s returns the n floats at p, as Bytes.
func (m *Memory) Float32s(p uint64, n int) ([]float32, error) {
	if p%4 != 0 {
		return nil, fmt.Errorf("emu: float data at %#x is not 4-byte aligned", p)
	}
	b, err := m.Bytes(p, 4*n)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n), nil
}

// check returns an error naming what when a guard byte of b has changed.
func (b *block) check(what string) error {
	total := guard + roundUp(b.size, align) + guard
	all := unsafe.Slice((*byte)(b.base), total)
	for i := guard - 1; i >= 0; i-- {
		if all[i] != guardByte {
			return fmt.Errorf("emu: %swrote %d bytes before the start of a %d-byte allocation", what, guard-i, b.size)
		}
	}
	for i := guard + b.size; i < total; i++ {
		if all[i] != guardByte {
			return fmt.Errorf("emu: %swrote past the end of a %d-byte allocation (byte %d after it)", what, b.size, i-guard-b.size+1)
		}
	}
	return nil
}

// Signature returns kernel name's argument kinds, one letter each (P
// pointer the kernel may write through, C pointer to const, I 32-bit
// integer, L 64-bit integer, F float), and whether the emulator has it.
func Signature(name string) (string, bool) {
	_, sig, ok := find(name)
	return sig, ok
}

// find returns kernel name's index in emu.c's table and its signature.
func find(name string) (C.int, string, bool) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var sig *C.char
	k := C.emu_find(cs, &sig)
	if k < 0 {
		return 0, "", false
	}
	return k, C.GoString(sig), true
}

// Kernels returns the names of the kernels the emulator runs.
func Kernels() []string {
	var out []string
	for i := 0; ; i++ {
		var sig *C.char
		n := C.emu_kernel(C.int(i), &sig)
		if n == nil {
			return out
		}
		out = append(out, C.GoString(n))
	}
}

// Launch runs kernel name on grid blocks of block threads, after checking
// the arguments against the kernel's signature (count, sizes, pointers
// null or inside an allocation), and then the guards of every allocation.
func (m *Memory) Launch(name string, grid, block int, args []Arg) error {
	return m.launch(name, grid, block, args, 0)
}

// LaunchOrderChecked is Launch run twice from the same memory, its blocks
// in order on one thread, each block's threads first to last and then
// last to first: a result that depends on the order of a block's threads
// between two barriers (a missing __syncthreads, a race on shared memory
// or on global memory within a block) makes the two runs differ, and is
// an error naming the kernel and the first byte that differs. What the
// first-to-last run left is what stays. For tests with small buffers:
// every allocation is copied twice.
func (m *Memory) LaunchOrderChecked(name string, grid, block int, args []Arg) error {
	before := m.snapshot()
	if err := m.launch(name, grid, block, args, C.EMU_SERIAL|C.EMU_REVERSE); err != nil {
		return err
	}
	reversed := m.snapshot()
	m.restore(before)
	if err := m.launch(name, grid, block, args, C.EMU_SERIAL); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, b := range m.blocks {
		data := unsafe.Slice((*byte)(unsafe.Add(b.base, guard)), b.size)
		for k := range data {
			if data[k] != reversed[i][k] {
				return fmt.Errorf("emu: %s's result depends on the order of a block's threads: byte %d of a %d-byte allocation differs when they run last to first (a missing __syncthreads, or threads racing on one value?)", name, k, b.size)
			}
		}
	}
	return nil
}

// snapshot copies every allocation's bytes, in address order.
func (m *Memory) snapshot() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(m.blocks))
	for i, b := range m.blocks {
		out[i] = slices.Clone(unsafe.Slice((*byte)(unsafe.Add(b.base, guard)), b.size))
	}
	return out
}

// restore puts back what snapshot copied (with no allocation made or
// freed in between).
func (m *Memory) restore(s [][]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, b := range m.blocks {
		copy(unsafe.Slice((*byte)(unsafe.Add(b.base, guard)), b.size), s[i])
	}
}

func (m *Memory) launch(name string, grid, block int, args []Arg, flags C.int) error {
	k, sig, ok := find(name)
	if !ok {
		return fmt.Errorf("emu: no kernel %s", name)
	}
	if len(args) != len(sig) {
		return fmt.Errorf("emu: %s takes %d arguments, launched with %d", name, len(sig), len(args))
	}
	if grid < 1 || grid > 1<<31-1 || block < 1 || block > 1024 {
		return fmt.Errorf("emu: %s launched on %d blocks of %d threads (1 to 2^31-1 blocks of 1 to 1024)", name, grid, block)
	}
	if len(args) > 32 {
		return fmt.Errorf("emu: %s launched with %d arguments, at most 32", name, len(args))
	}
	var slots [32]C.uint64_t
	m.mu.Lock()
	for i, a := range args {
		want := 4
		if sig[i] == 'P' || sig[i] == 'C' || sig[i] == 'L' {
			want = 8
		}
		if a.Size != want {
			m.mu.Unlock()
			return fmt.Errorf("emu: %s argument %d (%c) is %d bytes, want %d", name, i, sig[i], a.Size, want)
		}
		if (sig[i] == 'P' || sig[i] == 'C') && a.Bits != 0 && m.find(a.Bits) == nil {
			m.mu.Unlock()
			return fmt.Errorf("emu: %s argument %d is %#x, which is in no allocation", name, i, a.Bits)
		}
		slots[i] = C.uint64_t(a.Bits)
	}
	m.mu.Unlock()

	var msg [256]C.char
	launchMu.Lock()
	r := C.emu_launch(k, C.int(grid), C.int(block), &slots[0], C.int(len(args)), flags, &msg[0], C.size_t(len(msg)))
	launchMu.Unlock()
	if r != 0 {
		return fmt.Errorf("%s", C.GoString(&msg[0]))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.blocks {
		if err := b.check(name + " "); err != nil {
			return err
		}
	}
	return nil
}
