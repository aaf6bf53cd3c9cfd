// kernel_arm64.go: selects the NEON micro-kernel (kernel_arm64.s) on arm64,
// where every processor has NEON (Advanced SIMD is part of ARMv8-A). The
// matrix products, most of a training step's arithmetic, run on it, and
// the 2×2 max-pooling (pool_arm64.s); the engine's other assembly is
// AVX2's, so the rest runs the portable Go code (useAsm stays false,
// useAsmKernel and useAsmPool are set).

package cpu

// kernel6x16NEON is implemented in kernel_arm64.s, with the contract of
// kernelGo.
//
//go:noescape
func kernel6x16NEON(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// pool2NEON is implemented in pool_arm64.s, with pool2Asm's contract and
// the portable code's bits.
//
//go:noescape
func pool2NEON(top, bot, y *float32, arg *int32, base, w int32, n int)

// pool2Asm pools n outputs of one row (n a multiple of 8); only called
// when useAsmPool is set.
func pool2Asm(top, bot, y *float32, arg *int32, base, w int32, n int) {
	pool2NEON(top, bot, y, arg, base, w, n)
}

func init() {
	off, _ := noAsm() // a bad value: off here, refused by the command line (CheckEnv)
	asmKernel = kernel6x16NEON
	useAsmKernel = !off
	useAsmPool = !off
}
