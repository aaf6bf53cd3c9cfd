// act_test.go: the AVX2 ReLU forward and backward give the portable code's
// results bit for bit, special values included.

package cpu

import (
	"math"
	"math/rand/v2"
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
