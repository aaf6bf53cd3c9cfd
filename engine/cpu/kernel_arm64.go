// kernel_arm64.go: selects the NEON code on arm64, where every processor
// has NEON (Advanced SIMD is part of ARMv8-A): the micro-kernel
// (kernel_arm64.s), on which the matrix products, most of a training
// step's arithmetic, run; the packing of lines into its panels
// (pack_arm64.s); the 2×2 max-pooling (pool_arm64.s); and Adam's update
// (adam_arm64.s). The engine's other assembly is AVX2's, so the rest runs
// the portable Go code (useAsm stays false, useAsmCore is set).

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
// when useAsmCore is set.
func pool2Asm(top, bot, y *float32, arg *int32, base, w int32, n int) {
	pool2NEON(top, bot, y, arg, base, w, n)
}

// packT16NEON and packT6NEON are implemented in pack_arm64.s:
// dst[p*16+c] = src[c*cs+p] for c < 16, and dst[p*6+r] = src[r*rs+p] for
// r < 6, p < n; n a multiple of 4.
//
//go:noescape
func packT16NEON(src *float32, cs int, dst *float32, n int)

//go:noescape
func packT6NEON(src *float32, rs int, dst *float32, n int)

// packT16Asm and packT6Asm pack the first n values (a multiple of 8) of 16
// (or 6) lines of d, line l starting at d[off+l*stride], into panel rows;
// only called when useAsmCore is set.
func packT16Asm(panel, d []float32, off, cs, n int) {
	_, _ = d[off+15*cs+n-1], panel[n*16-1]
	packT16NEON(&d[off], cs, &panel[0], n)
}

func packT6Asm(panel, d []float32, off, rs, n int) {
	_, _ = d[off+5*rs+n-1], panel[n*6-1]
	packT6NEON(&d[off], rs, &panel[0], n)
}

// adamNEON is implemented in adam_arm64.s, with adamAVX2's contract (n a
// multiple of 4 here) and the portable code's bits.
//
//go:noescape
func adamNEON(p, grad, m, v *float32, n int, alpha, b1c, b2c, eps float32)

func init() {
	off, _ := noAsm() // a bad value: off here, refused by the command line (CheckEnv)
	asmKernel = kernel6x16NEON
	asmAdam = adamNEON
	useAsmCore = !off
}
