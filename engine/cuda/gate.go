//go:build cgo && !windows

// gate.go: the device as the ops see it (gate): nothing is queued while
// an error is pending, in the tests every kernel's buffers are checked
// against what its op declared it touches, and while a timeline's step is
// recorded each op's end is marked (timeline.go).

package cuda

import (
	"fmt"
	"slices"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
)

// gate is the device as the ops see it: while an error is pending (e.err,
// reported by the next Sync, Read or Replay) it queues no work and
// returns nil, so that no op consumes what a failed one left (a buffer
// never allocated, a result never computed). Ordering (Fork, Join), waits,
// copies, memory and recordings pass through. In the tests it also checks
// that each kernel touches only what its op declared (launching).
type gate struct {
	gpu
	e *Engine
}

func (g *gate) open() bool { return g.e.err == nil }

// launching checks, with checkDeclared, that every buffer of a launch of
// kernel name lies in what its op declared; false: it does not (the
// engine's bug, recorded as the op's error).
func (g *gate) launching(name string, args []cu.Arg) bool {
	if !g.e.checkDeclared {
		return true
	}
	for i, a := range args {
		if a.Extent() == 0 || a.Bits() == 0 {
			continue
		}
		r := region{cu.Ptr(a.Bits()), cu.Ptr(a.Bits()) + cu.Ptr(a.Extent())}
		if !slices.ContainsFunc(g.e.declared, func(d region) bool { return d.lo <= r.lo && r.hi <= d.hi }) {
			g.e.fail(bug("%s's argument %d, bytes %#x–%#x, is not in what its op declared it touches (use, toLane or toUpdates misses it)", name, i, r.lo, r.hi))
			return false
		}
	}
	return true
}

func (g *gate) Zero(p cu.Ptr, bytes int) error {
	if !g.open() {
		return nil
	}
	return g.marked(nil, "memset", g.gpu.Zero(p, bytes))
}

// sgemmOp names an SGEMM of m×n outputs and depth k in a timeline (only
// while one is recorded: otherwise the name is not used).
func (g *gate) sgemmOp(m, n, k int) string {
	if g.e.marks == nil {
		return ""
	}
	return fmt.Sprintf("cuBLAS SGEMM %d×%d×%d", m, n, k)
}

// marked, while a timeline's step is recorded, marks the end of op on
// lane l (nil: the main stream) where queuing it (err) succeeded, and
// returns err.
func (g *gate) marked(l lane, op string, err error) error {
	if err == nil {
		g.e.markAfter(l, op)
	}
	return err
}

func (g *gate) Launch(name string, n int64, block int, args ...cu.Arg) error {
	if !g.open() || !g.launching(name, args) {
		return nil
	}
	return g.marked(nil, name, g.gpu.Launch(name, n, block, args...))
}

func (g *gate) LaunchBlocks(name string, grid, block int, args ...cu.Arg) error {
	if !g.open() || !g.launching(name, args) {
		return nil
	}
	return g.marked(nil, name, g.gpu.LaunchBlocks(name, grid, block, args...))
}

func (g *gate) LaunchOn(l lane, name string, n int64, block int, args ...cu.Arg) error {
	if !g.open() || !g.launching(name, args) {
		return nil
	}
	return g.marked(l, name, g.gpu.LaunchOn(l, name, n, block, args...))
}

func (g *gate) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	if !g.open() {
		return nil
	}
	return g.marked(nil, g.sgemmOp(m, n, k), g.gpu.SgemmRowMajor(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc))
}

func (g *gate) SgemmRowMajorOn(l lane, transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	if !g.open() {
		return nil
	}
	return g.marked(l, g.sgemmOp(m, n, k), g.gpu.SgemmRowMajorOn(l, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc))
}

func (g *gate) Gemm(l lane, p gemmPlan, a, b, out, bias cu.Ptr) error {
	if !g.open() {
		return nil
	}
	return g.marked(l, "cuBLASLt fused product", g.gpu.Gemm(l, p, a, b, out, bias))
}

func (g *gate) NewConv(s engine.ConvShape) (convPlan, error) {
	p, err := g.gpu.NewConv(s)
	if err != nil {
		return nil, err
	}
	return &gatedPlan{p, g}, nil
}

// gatedPlan is a convolution plan behind the gate.
type gatedPlan struct {
	convPlan
	g *gate
}

func (p *gatedPlan) Forward(x, w, y, ws cu.Ptr, wsBytes int) error {
	if !p.g.open() {
		return nil
	}
	return p.g.marked(nil, "cuDNN forward", p.convPlan.Forward(x, w, y, ws, wsBytes))
}

func (p *gatedPlan) BackwardData(w, dy, dx, ws cu.Ptr, wsBytes int) error {
	if !p.g.open() {
		return nil
	}
	return p.g.marked(nil, "cuDNN data gradient", p.convPlan.BackwardData(w, dy, dx, ws, wsBytes))
}

func (p *gatedPlan) BackwardFilter(l lane, x, dy, dw, ws cu.Ptr, wsBytes int) error {
	if !p.g.open() {
		return nil
	}
	return p.g.marked(l, "cuDNN filter gradient", p.convPlan.BackwardFilter(l, x, dy, dw, ws, wsBytes))
}
