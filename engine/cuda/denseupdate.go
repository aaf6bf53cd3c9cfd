//go:build cgo && !windows

// denseupdate.go: a dense layer's weight and bias gradients and Adam's
// update of them in one kernel, dense_wgrad_adam (DenseUpdateEnv
// "fused"), which never writes the gradients: the split path writes dw
// (4 bytes a weight) and adam4 reads it back, 25 of the about 100 MB the
// first dense layer's backward pass and update move at batch 128. For
// measuring against the split path before it can be a default
// (scripts/device-check.sh, side "fusedupd"; kernels/NOTES.md, "dense1's
// weight gradient and update in one kernel").

package cuda

import (
	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/kernels"
)

var _ engine.DenseUpdater = (*Engine)(nil)

// DenseBackwardUpdate is DenseBackward then Update over the layer's
// parameters p (w, then the bias) as one op where DenseUpdateEnv is
// "fused" (engine.DenseUpdater): dz = dy·act'(y) and dx = dz·w on the
// main stream as DenseBackward queues them; then, with two streams on
// the second (with three on the updates'), dense_wgrad_adam, which
// computes dw and db tile by tile from dz and x and applies Adam to p,
// s1 and s2 without writing g. It waits for dx's product, which reads w,
// as the split path's update does. It queues nothing and reports false
// otherwise, and for what the kernel does not take: SGD, a layer of at
// most smallOut outputs with the own kernel set (dense_small_dw's), no
// dx, or the library kernel set.
// x: (N,In), w: (Out,In), y, dy: (N,Out), dx: (N,In); p, g, s1, s2:
// (Out·In + Out), step: (1).
func (e *Engine) DenseBackwardUpdate(c engine.OptConfig, x, w, y, dy, dx engine.Tensor, s engine.DenseShape, act engine.Activation,
	p, g, s1, s2, step engine.Tensor) bool {
	if !e.fusedUpdate || !e.own || c.Kind != engine.Adam || s.Out <= smallOut || dx == nil {
		return false
	}
	defer e.warmOp("DenseBackwardUpdate").End()
	engine.CheckDenseBackwardUpdate(c, s, x, w, y, dy, dx, p, g, s1, s2, step)
	if ptr(w) != ptr(p) {
		panic("cuda: DenseBackwardUpdate's w is not the start of p")
	}
	dz, total, ok := e.denseDZ(s, dy, act)
	if !ok {
		return true // the error recorded
	}
	e.use(access{r: regions(x, w, y, dy), w: append(regions(dx), dz)})
	if act != engine.Identity {
		e.actGrad(dz, dy, y, total, act)
	}
	e.denseDx(dz, w, dx, s)
	l := e.updateLane(access{r: []region{regionOf(x), dz}, w: regions(p, s1, s2, step)})
	vec := 0
	if s.In%4 == 0 && aligned16(p, s1, s2) {
		vec = 1
	}
	sc := c.Sched
	e.fail(e.c.LaunchOn(l, "dense_wgrad_adam", int64(kernels.DenseUpdateBlocks(s.In, s.Out))*kernels.DenseUpdateThreads, kernels.DenseUpdateThreads,
		arg(p), arg(s1), arg(s2), bufArg(dz), arg(x), arg(step), cu.I(s.N), cu.I(s.In), cu.I(s.Out), cu.I(vec),
		cu.F(c.LR), cu.F(c.Beta1), cu.F(c.Beta2), cu.F(c.Eps), cu.I(int(sc.Kind)), cu.I(sc.Warmup), cu.I(sc.Total), cu.F(sc.Final)))
	if e.err == nil { // the update was queued: its count's increment, with the other layers' (steps.go)
		e.pendStep(step)
	}
	return true
}
