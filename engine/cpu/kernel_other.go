//go:build !amd64

// kernel_other.go: on processors other than amd64 the AVX2 routines do not
// exist (arm64 has NEON's micro-kernel, packing, max-pooling and Adam,
// kernel_arm64.go; the rest of its ops run the portable Go code).

package cpu

import "github.com/cnngpu/cnngpu/engine"

const (
	haveAVX2   = false
	haveAVX512 = false
)

// biasReluAsm and the rest are never called here: useAsm is false without
// AVX2.
func biasReluAsm(v []float32, n int, b float32) { panic("cpu: biasReluAsm without AVX2") }

func reluMaskAsm(dz, dy, y []float32, n int) { panic("cpu: reluMaskAsm without AVX2") }

func sumAsm(v []float32, n int) float32 { panic("cpu: sumAsm without AVX2") }

func dotAsm(a, b []float32, n int) float32 { panic("cpu: dotAsm without AVX2") }

func packN16Asm(panel, d []float32, off, rs, n int) { panic("cpu: packN16Asm without AVX2") }

func biasActAsm(v, b []float32, n int, act engine.Activation) {
	panic("cpu: biasActAsm without AVX2")
}

func actGradAsm(dz, dy, y []float32, n int, act engine.Activation) {
	panic("cpu: actGradAsm without AVX2")
}

func addAsm(dst, src []float32, n int) { panic("cpu: addAsm without AVX2") }

func conv3x3Asm(x []float32, ldx int, w, y []float32, p, q int) {
	panic("cpu: conv3x3Asm without AVX2")
}
