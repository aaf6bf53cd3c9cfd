// kernel_arm64_test.go: the NEON micro-kernel against the portable one, bit
// for bit, and what it may touch. Runs on arm64 (or under qemu-aarch64:
// make test-arm64).

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/cnngpu/cnngpu/engine"
)

// TestNEONKernelSameBits: kernel6x16NEON gives kernelGo's bits for every
// kc (the four-step loop, its tail, both), alpha and beta (0 and -0 leave
// C unread, so NaN there does not leak in), values with infinities, NaN,
// subnormals and zeros of either sign among them, and C rows ldc apart,
// whose padding (NaN) stays as it was. A, B and C each end where an
// inaccessible page begins, so a read or write past them faults. Go fuses
// kernelGo's a*b+acc and its beta*c+v into single-rounding multiply-adds on
// arm64, as the NEON kernel computes them, so CNNGPU_NOASM=1 repeats a
// run's bits there.
func TestNEONKernelSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	specials := []float32{inf, -inf, nan, 1e-40, -1e-41, negZero, 0, 3e38}
	value := func(i int) float32 {
		if i%37 == 5 {
			return specials[r.IntN(len(specials))]
		}
		return r.Float32()*2 - 1
	}
	scales := [][2]float32{{1, 0}, {1.5, 0}, {1, negZero}, {1, 1}, {-0.75, 0.5}, {2, -1.25}, {0, 1}, {negZero, 0.5}, {3e38, 2}, {1e-40, 1}}
	for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 63, 384} {
		for _, ldc := range []int{16, 17, 21, 33} {
			for _, ab := range scales {
				alpha, beta := ab[0], ab[1]
				clean := kc > 4 // some cases with no special values at all
				a, b := atTheEdge(t, kc*mr), atTheEdge(t, kc*nr)
				for i := range a {
					if a[i] = value(i); clean {
						a[i] = r.Float32()*2 - 1
					}
				}
				for i := range b {
					if b[i] = value(i); clean {
						b[i] = r.Float32()*2 - 1
					}
				}
				c0 := make([]float32, 5*ldc+nr) // the last row ends with the slice
				for i := range c0 {
					c0[i] = nan
					if i%ldc < nr && beta != 0 {
						c0[i] = value(i)
					}
				}
				want := append([]float32(nil), c0...)
				kernelGo(kc, a, b, want, ldc, alpha, beta)
				got := atTheEdge(t, len(c0))
				copy(got, c0)
				kernel6x16NEON(kc, &a[0], &b[0], &got[0], ldc, alpha, beta)
				for i := range got {
					g, w := got[i], want[i]
					if math.Float32bits(g) == math.Float32bits(w) || (g != g && w != w) {
						continue
					}
					where := fmt.Sprintf("row %d column %d", i/ldc, i%ldc)
					if i%ldc >= nr {
						where += " (padding)"
					}
					t.Fatalf("kc=%d ldc=%d alpha=%g beta=%g: %s: NEON %v (%#x), Go %v (%#x)", kc, ldc, alpha, beta, where, g, math.Float32bits(g), w, math.Float32bits(w))
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
	if useAsmCore == off || e.accelMsg != want {
		t.Errorf("useAsmCore %v with CNNGPU_NOASM off=%v; engine %q, want %q", useAsmCore, off, e.Name(), want)
	}
}

// TestPool2NEONSameAsGo: pool2NEON picks run2's portable maxima and
// indices, bit for bit, where windows hold ties (right, below, diagonal,
// all four), zeros of either sign, infinities and NaN anywhere (NaN never
// wins over a number; a NaN top left stays), with top, bot, y and arg each
// ending where an inaccessible page begins.
func TestPool2NEONSameAsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	specials := []float32{nan, inf, -inf, 0, negZero, 1, 1, -1}
	for _, n := range []int{8, 16, 24, 64} {
		for round := 0; round < 50; round++ {
			top, bot := atTheEdge(t, 2*n), atTheEdge(t, 2*n)
			for i := range top {
				top[i], bot[i] = r.Float32()*2-1, r.Float32()*2-1
				if r.IntN(4) == 0 {
					top[i] = specials[r.IntN(len(specials))]
				}
				if r.IntN(4) == 0 {
					bot[i] = specials[r.IntN(len(specials))]
				}
			}
			for j := 0; j < n; j += 3 { // ties of every kind
				switch v := top[2*j]; r.IntN(4) {
				case 0:
					top[2*j+1] = v
				case 1:
					bot[2*j] = v
				case 2:
					bot[2*j+1] = v
				default:
					top[2*j+1], bot[2*j], bot[2*j+1] = v, v, v
				}
			}
			base, w := int32(r.IntN(1000)), int32(2*n+r.IntN(9))
			y, argf := atTheEdge(t, n), atTheEdge(t, n)
			arg := unsafe.Slice((*int32)(unsafe.Pointer(&argf[0])), n)
			pool2NEON(&top[0], &bot[0], &y[0], &arg[0], base, w, n)
			for j := 0; j < n; j++ {
				best, bv := base+int32(2*j), top[2*j]
				for k, v := range []float32{top[2*j+1], bot[2*j], bot[2*j+1]} {
					if v > bv {
						best, bv = base+[]int32{int32(2*j + 1), w + int32(2*j), w + int32(2*j+1)}[k], v
					}
				}
				if math.Float32bits(y[j]) != math.Float32bits(bv) || arg[j] != best {
					t.Fatalf("n=%d window %d (%v %v / %v %v): NEON %v at %d, Go %v at %d", n, j, top[2*j], top[2*j+1], bot[2*j], bot[2*j+1], y[j], arg[j], bv, best)
				}
			}
		}
	}
}

// TestAdamNEONSameAsGo: the update with adamNEON gives the portable loop's
// parameters and moments bit for bit, NaN's sign and payload included
// (which NaN comes out where two meet depends on each operation's operand
// order): lengths with a tail of fewer than four, which the loop finishes;
// gradients of every magnitude, with zeros of either sign, subnormals,
// infinities and NaN among the values; moments from zero, as at the first
// step, and from earlier steps; settings from the usual to 0, huge,
// infinite and NaN; every array ending where an inaccessible page begins.
func TestAdamNEONSameAsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	negZero := float32(math.Copysign(0, -1))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	quietNeg := math.Float32frombits(0xffc00123)
	specials := []float32{0, negZero, 1e-42, 3e38, inf, -inf, nan, quietNeg}
	settings := []struct{ alpha, b1, b2, eps float32 }{
		{0.0017, 0.1, 0.001, 1e-7}, {0.003, 0.1, 0.001, 0}, {0, 0.5, 0.5, 1e-7}, {3e38, 1, 1, 1e-30},
		{inf, 0.1, 0.001, 1e-7}, {nan, 0.1, 0.001, 1e-7}, {0.001, nan, 0.001, 1e-7}, {0.001, 0.1, quietNeg, nan},
	}
	for _, n := range []int{8, 13, 100, 1003} {
		for _, first := range []bool{true, false} {
			for _, st := range settings {
				p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
				for i := range p {
					p[i] = r.Float32()*2 - 1
					g[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(12)-8)))
					if i%7 == 3 {
						g[i] = specials[r.IntN(len(specials))]
					}
					if !first {
						m[i] = float32(r.NormFloat64() * 0.01)
						v[i] = float32(r.Float64() * 1e-4)
						if i%11 == 5 {
							m[i], v[i] = specials[r.IntN(len(specials))], specials[r.IntN(len(specials))]
						}
					}
				}
				run := func(asm bool) [3][]float32 {
					saved := useAsmCore
					defer func() { useAsmCore = saved }()
					useAsmCore = asm
					pp, mm, vv := atTheEdge(t, n), atTheEdge(t, n), atTheEdge(t, n)
					copy(pp, p)
					copy(mm, m)
					copy(vv, v)
					gg := atTheEdge(t, n)
					copy(gg, g)
					task := adamTask{c: engine.OptConfig{Kind: engine.Adam, LR: 0.003, Beta1: 1 - st.b1, Beta2: 1 - st.b2, Eps: st.eps},
						p: pp, g: gg, s1: mm, s2: vv, alpha: st.alpha}
					task.run(0, 0, (n+adamBlock-1)/adamBlock)
					return [3][]float32{pp, mm, vv}
				}
				got, want := run(true), run(false)
				for k, name := range []string{"p", "m", "v"} {
					for i := range got[k] {
						if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
							t.Fatalf("n=%d first=%v settings %+v: %s[%d] (g %v): NEON %v (%#x), Go %v (%#x)", n, first, st, name, i, g[i], got[k][i], math.Float32bits(got[k][i]), want[k][i], math.Float32bits(want[k][i]))
						}
					}
				}
			}
		}
	}
}
