// act_test.go: the AVX2 ReLU forward and backward give the portable code's
// results bit for bit, special values included.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

func TestReluAsmMatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2/FMA on this processor: only the portable code runs")
	}
	defer func(u bool) { useAsm = u }(useAsm)
	r := rand.New(rand.NewPCG(1, 2))
	specials := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), -float32(math.NaN()), 3, -3, 0.5}
	const n = 8*9 + 5 // eight at a time, then a tail
	v := make([]float32, n)
	for i := range v {
		if i < len(specials)*2 && i%2 == 0 {
			v[i] = specials[i/2]
		} else {
			v[i] = float32(r.NormFloat64())
		}
	}
	dy := make([]float32, n)
	for i := range dy {
		dy[i] = float32(r.NormFloat64())
	}
	dy[3] = float32(math.NaN())
	for _, b := range []float32{0, 0.25, -0.25} {
		fwd := func(asm bool) []float32 {
			useAsm = asm
			out := append([]float32(nil), v...)
			biasAct(out, b, engine.ReLU)
			return out
		}
		want, got := fwd(false), fwd(true)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("bias %v: relu(%v) = %v (%#x) with AVX2, %v (%#x) portable", b, v[i], got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
		bwd := func(asm bool) []float32 {
			useAsm = asm
			out := make([]float32, n)
			actGrad(out, dy, want, engine.ReLU)
			return out
		}
		wantG, gotG := bwd(false), bwd(true)
		for i := range wantG {
			if math.Float32bits(gotG[i]) != math.Float32bits(wantG[i]) {
				t.Fatalf("bias %v: relu gradient at y=%v, dy=%v: %v with AVX2, %v portable", b, want[i], dy[i], gotG[i], wantG[i])
			}
		}
	}
}

// ulps is the distance between a and b in units in the last place (0 for
// +0 and -0, and for two NaNs; a large number when exactly one is NaN or
// the signs differ).
func ulps(a, b float32) int64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.MaxInt64
	}
	if a == b {
		return 0
	}
	if math.Signbit(float64(a)) != math.Signbit(float64(b)) {
		return math.MaxInt64
	}
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

// actInputs are values for the activation tests: the branch and clamp
// boundaries of sigmoid32 and tanh32 on both sides, special values, and
// random ones, 8·13 + 5 of them (eight at a time, then a tail).
func actInputs() []float32 {
	r := rand.New(rand.NewPCG(3, 4))
	next := func(x float32, d float64) float32 { return float32(math.Nextafter32(x, float32(d))) }
	v := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1e-30, -1e-30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		0.0625, -0.0625, next(0.0625, 0), next(-0.0625, 0), 0.03, -0.05,
		87, -87, 87.5, -87.5, next(87, 100), next(-87, -100), 43.5, -43.5, 44, -44, 100, -100, 1e30, -1e30,
		0.5, -0.5, 1, -1, 3, -3, 20, -20}
	for len(v) < 8*13+5 {
		x := float32(r.NormFloat64() * 4)
		if len(v)%3 == 0 {
			x = float32(r.Float64()*200 - 100)
		}
		v = append(v, x)
	}
	return v
}

// TestSigmoidTanhAsm: the AVX2 sigmoid and tanh, forward with a bias per
// run and per value and backward, give the portable code's results bit for
// bit (within four units in the last place where Go fuses multiplies
// and adds, GOAMD64=v3), and both are within 2e-7 + 1e-6 relative of the
// float64 functions.
func TestSigmoidTanhAsm(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2/FMA on this processor: only the portable code runs")
	}
	defer func(u bool) { useAsm = u }(useAsm)
	var tol int64
	if goFusesMulAdd {
		tol = 4 // tanh's (1-e)/(1+e) spreads a one-ulp difference in e
	}
	v := actInputs()
	n := len(v)
	r := rand.New(rand.NewPCG(5, 6))
	bvec := make([]float32, n)
	dy := make([]float32, n)
	for i := range bvec {
		bvec[i] = float32(r.NormFloat64() * 0.1)
		dy[i] = float32(r.NormFloat64())
	}
	ref := map[engine.Activation]func(float64) float64{
		engine.Sigmoid: func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
		engine.Tanh:    math.Tanh,
	}
	for _, act := range []engine.Activation{engine.Sigmoid, engine.Tanh} {
		for _, b := range []float32{0, 0.25, -1} { // -1: a bias per value
			perValue := b == -1
			name := fmt.Sprintf("%v, bias %v", act, b)
			if perValue {
				name = fmt.Sprintf("%v, bias per value", act)
			}
			bias := func(i int) float32 {
				if perValue {
					return bvec[i]
				}
				return b
			}
			fwd := func(asm bool) []float32 {
				useAsm = asm
				out := slices.Clone(v)
				if perValue {
					biasSigmTanh(out, bvec, act)
				} else {
					biasAct(out, b, act)
				}
				return out
			}
			want, got := fwd(false), fwd(true)
			for i := range want {
				if d := ulps(got[i], want[i]); d > tol {
					t.Errorf("%s: act(%v + %v) = %v with AVX2, %v portable (%d ulps apart)", name, v[i], bias(i), got[i], want[i], d)
				}
				x := float64(v[i] + bias(i))
				if x != x {
					if got[i] == got[i] {
						t.Errorf("%s: act(NaN) = %v, want NaN", name, got[i])
					}
					continue
				}
				e := ref[act](x)
				if math.Abs(float64(got[i])-e) > 2e-7+1e-6*math.Abs(e) {
					t.Errorf("%s: act(%v) = %v, float64 gives %v", name, x, got[i], e)
				}
			}
			bwd := func(asm bool) []float32 {
				useAsm = asm
				out := make([]float32, n)
				actGrad(out, dy, want, act)
				return out
			}
			wantG, gotG := bwd(false), bwd(true)
			for i := range wantG {
				if d := ulps(gotG[i], wantG[i]); d > tol {
					t.Errorf("%s: gradient at y=%v, dy=%v: %v with AVX2, %v portable (%d ulps apart)", name, want[i], dy[i], gotG[i], wantG[i], d)
				}
			}
		}
	}
}

// TestSumAsm: sum32 with AVX2 gives the portable sum's bits, for lengths
// with and without a tail, magnitudes that make the order matter, and a
// NaN.
func TestSumAsm(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2/FMA on this processor: only the portable code runs")
	}
	defer func(u bool) { useAsm = u }(useAsm)
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 7, 8, 9, 16, 196, 784, 1003} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(8))))
		}
		sum := func(asm bool) float32 { useAsm = asm; return sum32(v) }
		if got, want := sum(true), sum(false); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("n=%d: sum %v with AVX2, %v portable", n, got, want)
		}
	}
	v := []float32{1, 2, 3, float32(math.NaN()), 5, 6, 7, 8, 9}
	useAsm = true
	if s := sum32(v); s == s {
		t.Errorf("sum with a NaN = %v, want NaN", s)
	}
}

// TestDot32: dot32, portable and with AVX2 where the processor has it,
// against a float64 sum, for lengths with and without a tail of fewer than
// eight, within float32 rounding of the magnitudes summed; and a NaN
// anywhere gives NaN.
func TestDot32(t *testing.T) {
	defer func(u bool) { useAsm = u }(useAsm)
	r := rand.New(rand.NewPCG(11, 12))
	for _, asm := range []bool{false, true} {
		if asm && !haveAVX2 {
			continue
		}
		useAsm = asm
		for n := 0; n <= 200; n++ {
			a, b := make([]float32, n), make([]float32, n)
			var want, mag float64
			for i := range a {
				a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
				want += float64(a[i]) * float64(b[i])
				mag += math.Abs(float64(a[i]) * float64(b[i]))
			}
			got := dot32(a, b)
			if math.Abs(float64(got)-want) > 1e-6*mag+1e-30 {
				t.Errorf("asm=%v n=%d: dot32 = %v, float64 sum %v (|a·b| summed %g)", asm, n, got, want, mag)
			}
			if n > 0 {
				i := r.IntN(n)
				saved := a[i]
				a[i] = float32(math.NaN())
				if d := dot32(a, b); d == d {
					t.Errorf("asm=%v n=%d: NaN at %d gave %v", asm, n, i, d)
				}
				a[i] = saved
			}
		}
	}
}
