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

func TestIm2colSameMatchesRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []engine.ConvShape{
		{C: 1, H: 28, W: 28, R: 3, S: 3, Pad: 1},
		{C: 32, H: 14, W: 14, R: 3, S: 3, Pad: 1},
		{C: 2, H: 5, W: 7, R: 5, S: 5, Pad: 2},
		{C: 3, H: 1, W: 1, R: 3, S: 3, Pad: 1},
		{C: 2, H: 2, W: 3, R: 5, S: 5, Pad: 2},
		{C: 1, H: 4, W: 1, R: 7, S: 7, Pad: 3},
		{C: 2, H: 6, W: 6, R: 1, S: 1, Pad: 0},
	} {
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
		for _, s := range []engine.ConvShape{
			{C: 1, H: 28, W: 28, R: 3, S: 3, Pad: 1},
			{C: 32, H: 14, W: 14, R: 3, S: 3, Pad: 1},
			{C: 2, H: 5, W: 7, R: 5, S: 5, Pad: 2},
			{C: 3, H: 1, W: 1, R: 3, S: 3, Pad: 1},
			{C: 2, H: 2, W: 3, R: 5, S: 5, Pad: 2},
			{C: 1, H: 4, W: 1, R: 7, S: 7, Pad: 3},
			{C: 2, H: 6, W: 6, R: 1, S: 1, Pad: 0},
		} {
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
