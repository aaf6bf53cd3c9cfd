// kernel512_amd64.go: the AVX-512 micro-kernel, used on amd64 processors
// (and operating systems) that support AVX-512F, for pairs of 16-column
// panels.

package cpu

import "golang.org/x/sys/cpu"

// kernel6x32AVX512 is implemented in kernel512_amd64.s.
//
//go:noescape
func kernel6x32AVX512(kc int, a, b *float32, bstep int, c *float32, ldc int, alpha, beta float32, rows int, mask uint32)

// haveAVX512 reports whether the processor can run kernel6x32AVX512.
var haveAVX512 = haveAVX2 && cpu.X86.HasAVX512F
