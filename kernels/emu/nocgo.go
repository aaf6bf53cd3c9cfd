//go:build !cgo || windows

// nocgo.go: without cgo (or on Windows, as the GPU code) there is no
// emulator; its tests skip.

package emu

import "errors"

// Available reports whether this build has the emulator (it needs cgo).
const Available = false

var errNoCgo = errors.New("emu: this build has no cgo, so no kernel emulator")

// Arg is one kernel argument.
type Arg struct {
	Bits uint64
	Size int
}

// Memory is emulated device memory (none without cgo).
type Memory struct{}

// NewMemory returns a memory every method of which fails.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) Alloc(bytes int) (uint64, error)                       { return 0, errNoCgo }
func (m *Memory) Free(p uint64) error                                   { return errNoCgo }
func (m *Memory) Close()                                                {}
func (m *Memory) Live() int                                             { return 0 }
func (m *Memory) Bytes(p uint64, n int) ([]byte, error)                 { return nil, errNoCgo }
func (m *Memory) Float32s(p uint64, n int) ([]float32, error)           { return nil, errNoCgo }
func (m *Memory) Launch(name string, grid, block int, args []Arg) error { return errNoCgo }

// LaunchOrderChecked fails: no emulator.
func (m *Memory) LaunchOrderChecked(name string, grid, block int, args []Arg) error { return errNoCgo }

// Signature reports no kernels.
func Signature(name string) (string, bool) { return "", false }

// Kernels returns none.
func Kernels() []string { return nil }

// End reports no allocation.
func (m *Memory) End(p uint64) (uint64, bool) { return 0, false }
