// maxpool.go: max-pooling with square windows and equal stride, recording
// the index of each maximum so the backward pass is a scatter.

package cpu

import (
	"math"

	"github.com/cnngpu/cnngpu/engine"
)

type poolFwdTask struct {
	x, y []float32
	arg  []int32
	s    engine.PoolShape
}

func (t *poolFwdTask) run(_, lo, hi int) {
	s := t.s
	oh, ow := s.OH(), s.OW()
	if s.Size == 2 {
		t.run2(lo, hi)
		return
	}
	for pl := lo; pl < hi; pl++ {
		xoff := pl * s.H * s.W
		yoff := pl * oh * ow
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				best := xoff + i*s.Size*s.W + j*s.Size
				bv := t.x[best]
				for a := 0; a < s.Size; a++ {
					row := xoff + (i*s.Size+a)*s.W + j*s.Size
					for b := 0; b < s.Size; b++ {
						// Strict '>' keeps the first maximum, NaN never wins
						// over a number, matching the reference.
						if v := t.x[row+b]; v > bv {
							bv, best = v, row+b
						}
					}
				}
				t.y[yoff+i*ow+j] = bv
				t.arg[yoff+i*ow+j] = int32(best)
			}
		}
	}
}

// run2 is run for 2×2 windows, the network's only pooling.
func (t *poolFwdTask) run2(lo, hi int) {
	s := t.s
	H, W, oh, ow := s.H, s.W, s.OH(), s.OW()
	// The end of this range's input and output: nothing past them is read
	// or written (another worker's planes).
	xEnd, yEnd := min(hi*H*W, len(t.x)), min(hi*oh*ow, len(t.y), len(t.arg))
	for pl := lo; pl < hi; pl++ {
		xoff := pl * H * W
		yoff := pl * oh * ow
		for i := 0; i < oh; i++ {
			r0 := xoff + 2*i*W
			top := t.x[r0 : r0+2*ow]
			bot := t.x[r0+W : r0+W+2*ow]
			y := t.y[yoff+i*ow : yoff+i*ow+ow]
			arg := t.arg[yoff+i*ow : yoff+i*ow+ow]
			j0 := 0
			if useAsmCore && r0+W+2*ow <= math.MaxInt32 {
				// Eight outputs at a time; a row's last few as the last
				// eight (recomputing some: the same values), or, in rows
				// shorter than eight (the second pooling's 7), through a
				// padded copy.
				if n8 := ow &^ 7; n8 > 0 {
					pool2Asm(&top[0], &bot[0], &y[0], &arg[0], int32(r0), int32(W), n8)
					j0 = n8
					if j0 < ow {
						j := ow - 8
						pool2Asm(&top[2*j], &bot[2*j], &y[j], &arg[j], int32(r0+2*j), int32(W), 8)
						j0 = ow
					}
				}
				if rem := ow - j0; rem > 0 && r0+W+2*j0+16 <= xEnd && yoff+i*ow+j0+8 <= yEnd {
					// Eight outputs read and written in place: the 8-rem
					// past the row land on outputs of this range that come
					// later (the next row's, or the next plane's), written
					// again when their turn comes, from inputs inside it.
					o := yoff + i*ow + j0
					pool2Asm(&t.x[r0+2*j0], &t.x[r0+W+2*j0], &t.y[o], &t.arg[o], int32(r0+2*j0), int32(W), 8)
					j0 = ow
				}
				if rem := ow - j0; rem > 0 {
					var tt, bb [16]float32
					var yy [8]float32
					var aa [8]int32
					copy(tt[:], top[2*j0:])
					copy(bb[:], bot[2*j0:])
					pool2Asm(&tt[0], &bb[0], &yy[0], &aa[0], int32(r0+2*j0), int32(W), 8)
					copy(y[j0:], yy[:rem])
					copy(arg[j0:], aa[:rem])
					j0 = ow
				}
			}
			for j := j0; j < ow; j++ {
				best, bv := r0+2*j, top[2*j]
				if v := top[2*j+1]; v > bv {
					best, bv = r0+2*j+1, v
				}
				if v := bot[2*j]; v > bv {
					best, bv = r0+W+2*j, v
				}
				if v := bot[2*j+1]; v > bv {
					best, bv = r0+W+2*j+1, v
				}
				y[j] = bv
				arg[j] = int32(best)
			}
		}
	}
}

// MaxPool computes y: (N,C,H/Size,W/Size) from x: (N,C,H,W); arg holds the
// index in x of each maximum.
func (e *Engine) MaxPool(x, y, arg engine.Tensor, s engine.PoolShape) {
	engine.CheckPool("MaxPool", s, x, y, arg)
	e.poolF = poolFwdTask{x: t32(x), y: t32(y), arg: ti32(arg), s: s}
	e.pool.parallelFor(s.N*s.C, 64, &e.poolF)
}

// MaxPoolBackward writes dx: (N,C,H,W) from dy through arg.
func (e *Engine) MaxPoolBackward(dy, arg, dx engine.Tensor, s engine.PoolShape) {
	engine.CheckPool("MaxPoolBackward", s, dx, dy, arg)
	out := s.N * s.C * s.OH() * s.OW()
	d := t32(dx)[:s.N*s.C*s.H*s.W]
	clear(d)
	a := ti32(arg)[:out]
	for o, g := range t32(dy)[:out] {
		d[a[o]] += g
	}
}
