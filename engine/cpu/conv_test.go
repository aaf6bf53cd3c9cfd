// conv_test.go: the "same"-padding im2col and col2im (one shifted copy or
// sum per filter tap) against the row-by-row ones, bit for bit.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

// sameShapes are same-padding shapes (P = H, Q = W): the network's two,
// 5×5 and 7×7 filters, images smaller than the filter, 1×1.
var sameShapes = []engine.ConvShape{
	{C: 1, H: 28, W: 28, R: 3, S: 3, Pad: 1},
	{C: 32, H: 14, W: 14, R: 3, S: 3, Pad: 1},
	{C: 2, H: 5, W: 7, R: 5, S: 5, Pad: 2},
	{C: 3, H: 1, W: 1, R: 3, S: 3, Pad: 1},
	{C: 2, H: 2, W: 3, R: 5, S: 5, Pad: 2},
	{C: 1, H: 4, W: 1, R: 7, S: 7, Pad: 3},
	{C: 2, H: 6, W: 6, R: 1, S: 1, Pad: 0},
}

func TestIm2colSameMatchesRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range sameShapes {
		if s.P() != s.H || s.Q() != s.W {
			t.Fatalf("%+v is not same padding", s)
		}
		x := randSlice(r, s.C*s.H*s.W)
		n := s.C * s.R * s.S * s.H * s.W
		got, want := make([]float32, n), make([]float32, n)
		for i := range got {
			got[i], want[i] = float32(math.NaN()), float32(math.NaN()) // every element must be written
		}
		im2colSame(got, x, s)
		im2colRows(want, x, s)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				hw := s.H * s.W
				t.Fatalf("%s: col[%d] (tap %d, output %d,%d) = %v, want %v", fmt.Sprintf("%+v", s), i, i/hw, i%hw/s.W, i%s.W, got[i], want[i])
			}
		}
	}
}

func TestCol2imSameMatchesRows(t *testing.T) {
	saved := useAsm
	defer func() { useAsm = saved }()
	r := rand.New(rand.NewPCG(7, 8))
	for _, asm := range []bool{false, true} {
		if asm && !haveAVX2 {
			continue
		}
		useAsm = asm
		for _, s := range sameShapes {
			dcol := randSlice(r, s.C*s.R*s.S*s.H*s.W)
			dcol[0] = float32(math.Copysign(0, -1)) // a -0 in a wrapped column must not make a -0 sum
			got, want := make([]float32, s.C*s.H*s.W), make([]float32, s.C*s.H*s.W)
			col2imRows(want, slices.Clone(dcol), s)
			col2imSame(got, slices.Clone(dcol), s)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("asm %v %+v: dx[%d] = %v, want %v", asm, s, i, got[i], want[i])
				}
			}
		}
	}
}

// TestConv3x3AsmMatchesGemm: the direct first-layer convolution gives the
// same bits as im2col + the AVX2 SGEMM, for rows of exactly 8, of a
// multiple of 8 and with an overlapping last vector, with and without
// padding.
func TestConv3x3AsmMatchesGemm(t *testing.T) {
	if !haveAVX2 {
		t.Skip("this processor lacks AVX2/FMA: the direct convolution is not used")
	}
	saved, savedCore := useAsm, useAsmCore
	defer func() { useAsm, useAsmCore = saved, savedCore }()
	useAsm, useAsmCore = true, true
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range []engine.ConvShape{
		{N: 1, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1},
		{N: 1, C: 1, H: 14, W: 14, K: 5, R: 3, S: 3, Pad: 1},
		{N: 1, C: 1, H: 9, W: 10, K: 7, R: 3, S: 3, Pad: 0},
		{N: 1, C: 1, H: 12, W: 13, K: 3, R: 3, S: 3, Pad: 1},
		{N: 1, C: 1, H: 3, W: 30, K: 2, R: 3, S: 3, Pad: 0},
	} {
		if !directConv(s) {
			t.Fatalf("%+v: not a direct convolution", s)
		}
		x, w := randSlice(r, s.H*s.W), randSlice(r, s.K*9)
		P, Q := s.P(), s.Q()
		col := make([]float32, 9*P*Q)
		im2col(col, x, s)
		wpk := make([]float32, packedALen(s.K, 9))
		packAll(wpk, rowMajor(w, 9), s.K, 9)
		want := make([]float32, s.K*P*Q)
		var ws gemmWS
		sgemmPacked(&ws, s.K, P*Q, 9, 1, mat{}, wpk, rowMajor(col, P*Q), 0, rowMajor(want, P*Q))
		hp, wp := s.H+2*s.Pad, s.W+2*s.Pad
		xp := make([]float32, hp*wp)
		for i := 0; i < s.H; i++ {
			copy(xp[(i+s.Pad)*wp+s.Pad:], x[i*s.W:(i+1)*s.W])
		}
		got := make([]float32, s.K*P*Q)
		for k := 0; k < s.K; k++ {
			conv3x3Asm(xp, wp, w[k*9:k*9+9], got[k*P*Q:(k+1)*P*Q], P, Q)
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: y[%d] (filter %d, output %d,%d) = %v direct, %v by SGEMM", s, i, i/(P*Q), i%(P*Q)/Q, i%Q, got[i], want[i])
			}
		}
	}
}

// TestConvPoolBitForBit: ConvPool and ConvPoolBackward give the results
// of Conv then MaxPool and of MaxPoolBackward then ConvBackward bit for
// bit (so a training run repeats whether the model fuses or not), for
// each activation, with each kernel set this processor runs (kernelSets:
// the portable code, the assembly, and arm64's NEON kernel with the other
// ops portable), one worker and three;
// some pooled gradients are zeros of either sign, and ConvPoolBackward
// must leave its scratch dy alone.
func TestConvPoolBitForBit(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	shapes := []engine.ConvShape{
		{N: 5, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1},
		{N: 5, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1},
		{N: 3, C: 2, H: 7, W: 9, K: 3, R: 3, S: 3, Pad: 1}, // last row and column not pooled
		{N: 2, C: 1, H: 28, W: 28, K: 8, R: 5, S: 5, Pad: 0},
	}
	for _, set := range kernelSets {
		if !useKernels(t, set) {
			continue
		}
		for _, workers := range []int{1, 3} {
			e := New(workers)
			for _, s := range shapes {
				for _, act := range []engine.Activation{engine.ReLU, engine.Sigmoid, engine.Tanh, engine.Identity} {
					name := fmt.Sprintf("%s workers=%d %+v %v", set, workers, s, act)
					ps := engine.PoolShape{N: s.N, C: s.K, H: s.P(), W: s.Q(), Size: 2}
					nx, nw, ny, np := s.N*s.C*s.H*s.W, s.K*s.C*s.R*s.S, s.N*s.K*s.P()*s.Q(), s.N*s.K*ps.OH()*ps.OW()
					f := func(v []float32) engine.Tensor {
						tt, err := e.Alloc(engine.Float32, len(v))
						if err != nil {
							t.Fatal(err)
						}
						copy(t32(tt), v)
						return tt
					}
					nan := func(n int) engine.Tensor {
						v := make([]float32, n)
						for i := range v {
							v[i] = float32(math.NaN())
						}
						return f(v)
					}
					i32 := func(n int) engine.Tensor {
						tt, err := e.Alloc(engine.Int32, n)
						if err != nil {
							t.Fatal(err)
						}
						return tt
					}
					x, w, b := f(randSlice(r, nx)), f(randSlice(r, nw)), f(randSlice(r, s.K))
					y1, p1, a1 := nan(ny), nan(np), i32(np)
					y2, p2, a2 := nan(ny), nan(np), i32(np)
					e.Conv(x, w, b, y1, s, act)
					e.MaxPool(y1, p1, a1, ps)
					e.ConvPool(x, w, b, y2, p2, a2, s, ps, act)
					same(t, name+" y", t32(y2), t32(y1))
					same(t, name+" p", t32(p2), t32(p1))
					if !slices.Equal(ti32(a2), ti32(a1)) {
						t.Errorf("%s: arg differs", name)
					}
					dpv := randSlice(r, np)
					for i := 0; i < np; i += 5 {
						dpv[i] = float32(math.Copysign(0, float64(i%2)-0.5))
					}
					dp := f(dpv)
					dy1, dx1, dw1, db1 := nan(ny), nan(nx), nan(nw), nan(s.K)
					dy2, dx2, dw2, db2 := nan(ny), nan(nx), nan(nw), nan(s.K)
					e.MaxPoolBackward(dp, a1, dy1, ps)
					e.ConvBackward(x, w, y1, dy1, dx1, dw1, db1, s, act)
					e.ConvPoolBackward(x, w, y1, dp, a1, dy2, dx2, dw2, db2, s, ps, act)
					same(t, name+" dx", t32(dx2), t32(dx1))
					same(t, name+" dw", t32(dw2), t32(dw1))
					same(t, name+" db", t32(db2), t32(db1))
					for i, v := range t32(dy2) {
						if v == v {
							t.Fatalf("%s: ConvPoolBackward wrote its scratch dy[%d] = %v", name, i, v)
						}
					}
				}
			}
			e.Close()
		}
	}
}

// same fails t unless got and want hold the same bits.
func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s[%d] = %v (%#x), unfused %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			return
		}
	}
}

// TestMaxPoolSameBitsEverySet: MaxPool gives the portable code's maxima
// and indices, bit for bit, with every kernel set this processor runs
// (AVX2's or NEON's pooling: eight windows at a time, a row's last few as
// its last eight, rows under eight through a padded copy), on rows of 1 to
// 31 windows, with NaN in any position and ties of zeros of either sign.
func TestMaxPoolSameBitsEverySet(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	negZero := float32(math.Copysign(0, -1))
	specials := []float32{float32(math.NaN()), 0, negZero, float32(math.Inf(-1)), 1}
	for w := 2; w <= 62; w += 3 {
		s := engine.PoolShape{N: 2, C: 3, H: 5, W: w, Size: 2}
		xv := randSlice(r, s.N*s.C*s.H*s.W)
		for i := range xv {
			if r.IntN(5) == 0 {
				xv[i] = specials[r.IntN(len(specials))]
			}
		}
		var want []float32
		var wantArg []int32
		for _, set := range kernelSets {
			if !useKernels(t, set) {
				continue
			}
			e := New(2)
			x, _ := e.Alloc(engine.Float32, len(xv))
			copy(t32(x), xv)
			out := s.N * s.C * s.OH() * s.OW()
			y, _ := e.Alloc(engine.Float32, out)
			arg, _ := e.Alloc(engine.Int32, out)
			e.MaxPool(x, y, arg, s)
			if want == nil {
				want, wantArg = slices.Clone(t32(y)), slices.Clone(ti32(arg))
			} else {
				for i, v := range t32(y) {
					if math.Float32bits(v) != math.Float32bits(want[i]) || ti32(arg)[i] != wantArg[i] {
						t.Errorf("%s maxpool %+v: output %d = %v at %d, portable %v at %d", set, s, i, v, ti32(arg)[i], want[i], wantArg[i])
						break
					}
				}
			}
			e.Close()
		}
	}
}
