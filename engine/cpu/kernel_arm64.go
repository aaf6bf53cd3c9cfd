// kernel_arm64.go: selects the NEON micro-kernel (kernel_arm64.s) on arm64,
// where every processor has NEON (Advanced SIMD is part of ARMv8-A). The
// matrix products, most of a training step's arithmetic, run on it; the
// engine's other assembly is AVX2's, so the rest runs the portable Go code
// (useAsm stays false, useAsmKernel is set).

package cpu

// kernel6x16NEON is implemented in kernel_arm64.s, with the contract of
// kernelGo.
//
//go:noescape
func kernel6x16NEON(kc int, a, b, c *float32, ldc int, alpha, beta float32)

func init() {
	off, _ := noAsm() // a bad value: off here, refused by the command line (CheckEnv)
	asmKernel = kernel6x16NEON
	useAsmKernel = !off
}
