// kernel_arm64_test.go: the NEON micro-kernel against the portable one, bit
// for bit, and what it may touch. Runs on arm64 (or under qemu-aarch64:
// make test-arm64).

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestNEONKernelSameBits: kernel6x16NEON gives kernelGo's bits for every
// kc (the four-step loop, its tail, both), alpha and beta (0 and -0 leave
// C unread, so NaN there does not leak in), with C rows ldc apart whose
// padding, NaN, stays as it was. Go fuses kernelGo's a*b+acc and its
// beta*c+v into single-rounding multiply-adds on arm64, as the NEON kernel
// computes them, so CNNGPU_NOASM=1 repeats a run's bits there.
func TestNEONKernelSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	nan := float32(math.NaN())
	for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 63, 384} {
		for _, ab := range [][2]float32{{1, 0}, {1.5, 0}, {1, float32(math.Copysign(0, -1))}, {1, 1}, {-0.75, 0.5}, {2, -1.25}} {
			alpha, beta := ab[0], ab[1]
			const ldc = 21
			a, b := randSlice(r, kc*mr), randSlice(r, kc*nr)
			c0 := make([]float32, 6*ldc)
			for i := range c0 {
				c0[i] = nan
				if i%ldc < nr && beta != 0 {
					c0[i] = r.Float32()*2 - 1
				}
			}
			want := append([]float32(nil), c0...)
			kernelGo(kc, a, b, want, ldc, alpha, beta)
			got := append([]float32(nil), c0...)
			kernel6x16NEON(kc, &a[0], &b[0], &got[0], ldc, alpha, beta)
			for i := range got {
				g, w := got[i], want[i]
				same := math.Float32bits(g) == math.Float32bits(w) || (g != g && w != w)
				if !same {
					where := fmt.Sprintf("row %d column %d", i/ldc, i%ldc)
					if i%ldc >= nr {
						where += " (padding)"
					}
					t.Fatalf("kc=%d alpha=%g beta=%g: %s: NEON %v (%#x), Go %v (%#x)", kc, alpha, beta, where, g, math.Float32bits(g), w, math.Float32bits(w))
				}
				if i%ldc < nr && g != g {
					t.Fatalf("kc=%d alpha=%g beta=%g: row %d column %d is NaN", kc, alpha, beta, i/ldc, i%ldc)
				}
			}
		}
	}
}

// TestNEONSelected: on arm64 the engine runs the NEON kernel unless
// CNNGPU_NOASM turns it off, and names it.
func TestNEONSelected(t *testing.T) {
	off, _ := noAsm()
	e := New(1)
	defer e.Close()
	want := "NEON kernel"
	if off {
		want = "portable Go kernel"
	}
	if useAsmKernel == off || e.accelMsg != want {
		t.Errorf("useAsmKernel %v with CNNGPU_NOASM off=%v; engine %q, want %q", useAsmKernel, off, e.Name(), want)
	}
}
