// kernel_amd64.go: selects the AVX2/FMA micro-kernel (and the AVX-512 one,
// kernel512_amd64.go) at run time on amd64 processors that have them.

package cpu

import (
	"github.com/cnngpu/cnngpu/engine"
	"golang.org/x/sys/cpu"
)

// kernel6x16AVX2 is implemented in kernel_amd64.s.
//
//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// adamAVX2 is implemented in adam_amd64.s; n must be a multiple of 8.
//
//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, alpha, b1c, b2c, eps float32)

// maxpool2AVX2 is implemented in maxpool_amd64.s; n must be a multiple
// of 8.
//
//go:noescape
func maxpool2AVX2(top, bot, y *float32, arg *int32, base, w int32, n int)

// pool2Asm pools n outputs of one row (n a multiple of 8); only called
// when useAsmCore is set, which needs AVX2.
func pool2Asm(top, bot, y *float32, arg *int32, base, w int32, n int) {
	maxpool2AVX2(top, bot, y, arg, base, w, n)
}

// biasReluAVX2 and reluMaskAVX2 are implemented in act_amd64.s; n must
// be a multiple of 8.
//
//go:noescape
func biasReluAVX2(v *float32, n int, b float32)

//go:noescape
func reluMaskAVX2(dz, dy, y *float32, n int)

// dotAVX2 is implemented in act_amd64.s; n must be a multiple of 8.
//
//go:noescape
func dotAVX2(a, b *float32, n int) float32

// sum8AVX2 is implemented in act_amd64.s; n must be a multiple of 8.
//
//go:noescape
func sum8AVX2(v *float32, n int) float32

// sumAsm is sum32's sum of the first n values (a multiple of 8, at least
// 8), the same bits; only called when useAsm is set.
func sumAsm(v []float32, n int) float32 {
	_ = v[n-1]
	return sum8AVX2(&v[0], n)
}

// dotAsm is the dot product of the first n values (a multiple of 8).
func dotAsm(a, b []float32, n int) float32 {
	_, _ = a[n-1], b[n-1]
	return dotAVX2(&a[0], &b[0], n)
}

// biasReluAsm and reluMaskAsm do the first n values (a multiple of 8);
// only called when useAsm is set.
func biasReluAsm(v []float32, n int, b float32) { biasReluAVX2(&v[0], n, b) }

func reluMaskAsm(dz, dy, y []float32, n int) {
	_, _ = dy[n-1], y[n-1]
	reluMaskAVX2(&dz[0], &dy[0], &y[0], n)
}

// biasActAVX2 (sigmoid, or tanh with tanh set) and actGradAVX2 are
// implemented in sigmoid_amd64.s; n must be a multiple of 8.
//
//go:noescape
func biasActAVX2(v, b *float32, bstep, n int, tanh bool)

//go:noescape
func actGradAVX2(dz, dy, y *float32, n int, tanh bool)

// biasActAsm sets v[i] = act(v[i] + b[i]) for the first n values (a
// multiple of 8) with act sigmoid or tanh; b holds one bias per value, or
// a single bias for them all. Only called when useAsm is set.
func biasActAsm(v, b []float32, n int, act engine.Activation) {
	_ = v[n-1]
	var b8 [8]float32
	bp, step := &b8[0], 0
	if len(b) == 1 {
		for i := range b8 {
			b8[i] = b[0]
		}
	} else {
		_ = b[n-1]
		bp, step = &b[0], 32
	}
	biasActAVX2(&v[0], bp, step, n, act == engine.Tanh)
}

// actGradAsm is actGrad's sigmoid and tanh cases for the first n values
// (a multiple of 8); only called when useAsm is set.
func actGradAsm(dz, dy, y []float32, n int, act engine.Activation) {
	_, _, _ = dz[n-1], dy[n-1], y[n-1]
	actGradAVX2(&dz[0], &dy[0], &y[0], n, act == engine.Tanh)
}

// packT16AVX2 is implemented in pack_amd64.s: dst[p*16+c] = src[c*cs+p]
// for c < 16, p < n; n a multiple of 8.
//
//go:noescape
func packT16AVX2(src *float32, cs int, dst *float32, n int)

// packT16Asm packs the first n values (a multiple of 8) of 16 columns of
// d, column c starting at d[off+c*cs], into panel rows of 16; only called
// when useAsmCore is set.
func packT16Asm(panel, d []float32, off, cs, n int) {
	_, _ = d[off+15*cs+n-1], panel[n*16-1]
	packT16AVX2(&d[off], cs, &panel[0], n)
}

// packT6AVX2 is implemented in pack_amd64.s: dst[p*6+r] = src[r*rs+p]
// for r < 6, p < n; n a multiple of 8.
//
//go:noescape
func packT6AVX2(src *float32, rs int, dst *float32, n int)

// packT6Asm packs the first n values (a multiple of 8) of 6 rows of d,
// row r starting at d[off+r*rs], into panel rows of 6; only called when
// useAsmCore is set.
func packT6Asm(panel, d []float32, off, rs, n int) {
	_, _ = d[off+5*rs+n-1], panel[n*6-1]
	packT6AVX2(&d[off], rs, &panel[0], n)
}

// packN16AVX2 is implemented in pack_amd64.s: dst[p*16+c] = src[p*rs+c]
// for c < 16, p < n.
//
//go:noescape
func packN16AVX2(src *float32, rs int, dst *float32, n int)

// packN16Asm packs n rows of 16 values of d, row p starting at
// d[off+p*rs], into panel rows of 16; only called when useAsm is set.
func packN16Asm(panel, d []float32, off, rs, n int) {
	_, _ = d[off+(n-1)*rs+15], panel[n*16-1]
	packN16AVX2(&d[off], rs, &panel[0], n)
}

// addAVX2 is implemented in act_amd64.s: dst[i] += src[i], n a multiple
// of 8.
//
//go:noescape
func addAVX2(dst, src *float32, n int)

// addAsm adds the first n values (a multiple of 8) of src into dst; only
// called when useAsm is set.
func addAsm(dst, src []float32, n int) {
	_, _ = dst[n-1], src[n-1]
	addAVX2(&dst[0], &src[0], n)
}

// conv3x3AVX2 is implemented in conv_amd64.s: y[i*q+j] = sum over r, s
// < 3 of w[r*3+s] * x[(i+r)*ldx+j+s] for i < p, j < q; q >= 8.
//
//go:noescape
func conv3x3AVX2(x *float32, ldx int, w *float32, y *float32, p, q int)

// conv3x3Asm is conv3x3AVX2 on slices; only called when useAsm is set.
func conv3x3Asm(x []float32, ldx int, w, y []float32, p, q int) {
	_, _, _ = x[(p+1)*ldx+q+1], w[8], y[p*q-1]
	conv3x3AVX2(&x[0], ldx, &w[0], &y[0], p, q)
}

// haveAVX2 reports whether the processor can run kernel6x16AVX2.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func init() {
	off, _ := noAsm() // a bad value: off here, refused by the command line (CheckEnv)
	useAsm = haveAVX2 && !off
	useAsmCore = useAsm
	if haveAVX2 {
		asmKernel = kernel6x16AVX2
		asmAdam = adamAVX2
	}
	if haveAVX512 {
		wideKernel = kernel6x32AVX512
	}
	offWide, _ := noAVX512()
	useWide = useAsm && haveAVX512 && !offWide
}
