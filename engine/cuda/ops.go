//go:build cgo

// ops.go: the network's ops on the GPU. Shapes are checked as in the CPU
// engine; work is queued on the stream.

package cuda

import (
	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
)

// Gather assembles a batch on the device and advances the cursor.
func (e *Engine) Gather(images, labels, perm, cursor, x, y engine.Tensor, n, pixels int) {
	engine.CheckGather(images, labels, cursor, x, y, n, pixels)
	e.fail(e.c.Launch("gather", int64(n)*int64(pixels), block, cu.P(ptr(images)), cu.P(ptr(labels)), cu.P(ptr(perm)),
		cu.P(ptr(cursor)), cu.P(ptr(x)), cu.P(ptr(y)), cu.I(n), cu.I(pixels)))
	e.fail(e.c.LaunchBlocks("advance", 1, 1, cu.P(ptr(cursor)), cu.I(n)))
}

func (e *Engine) biasAct(y, b engine.Tensor, total, inner, k int, act engine.Activation) {
	e.fail(e.c.Launch("bias_act", int64(total), block, cu.P(ptr(y)), cu.P(ptr(b)), cu.L(int64(total)), cu.I(inner), cu.I(k), cu.I(int(act))))
}

// actGrad returns dz = dy·act'(y), in scratch, or dy itself for identity.
func (e *Engine) actGrad(dy, y engine.Tensor, total int, act engine.Activation) cu.Ptr {
	if act == engine.Identity {
		return ptr(dy)
	}
	dz := e.scratchFor(total)
	e.fail(e.c.Launch("act_grad", int64(total), block, cu.P(dz), cu.P(ptr(dy)), cu.P(ptr(y)), cu.L(int64(total)), cu.I(int(act))))
	return dz
}

// Conv: cuDNN convolution, then bias and activation in one kernel; with
// own kernels, a first layer (firstLayer) in one kernel, first_conv.
// x: (N,C,H,W), w: (K,C,R,S), b: (K), y: (N,K,P,Q).
func (e *Engine) Conv(x, w, b, y engine.Tensor, s engine.ConvShape, act engine.Activation) {
	engine.CheckConv("Conv", s, x, w, b, y)
	if e.own && firstLayer(s) {
		name := "first_conv3"
		if s.R == 5 {
			name = "first_conv5"
		}
		e.fail(e.c.Launch(name, int64(s.N)*int64(s.P()*s.Q()), block, cu.P(ptr(y)), cu.P(ptr(x)), cu.P(ptr(w)), cu.P(ptr(b)),
			cu.I(s.N), cu.I(s.K), cu.I(s.H), cu.I(s.W), cu.I(s.Pad), cu.I(int(act))))
		return
	}
	cv := e.conv(s)
	if cv == nil {
		return
	}
	e.fail(cv.Forward(ptr(x), ptr(w), ptr(y), e.ws.p, e.ws.bytes))
	pq := s.P() * s.Q()
	e.biasAct(y, b, s.N*s.K*pq, pq, s.K, act)
}

// ConvBackward: the bias gradient and dz = dy·act'(y) in one pass over
// many blocks (act_bias_grad, then sum_partials), then cuDNN's filter and
// data gradients (side by side with two streams); with own kernels, a
// first layer (C = 1, 3×3 or 5×5, no dx) in firstGrad instead.
func (e *Engine) ConvBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.ConvShape, act engine.Activation) {
	engine.CheckConvBackward(s, x, w, y, dy, dx, dw, db)
	pq := s.P() * s.Q()
	splits := e.splits(s.K, s.N)
	if e.own && dx == nil && firstLayer(s) {
		e.firstGrad(x, y, dy, dw, db, s, act, splits)
		return
	}
	cv := e.conv(s)
	if cv == nil {
		return
	}
	part := e.partialFor(s.K * splits)
	dz, dzArg := ptr(dy), cu.Null()
	if act != engine.Identity {
		dz = e.scratchFor(s.N * s.K * pq)
		dzArg = cu.P(dz)
	}
	e.fail(e.c.LaunchBlocks("act_bias_grad", s.K*splits, block, dzArg, cu.P(part), cu.P(ptr(dy)), cu.P(ptr(y)),
		cu.I(s.N), cu.I(s.K), cu.I(pq), cu.I(splits), cu.I(int(act))))
	e.fail(e.c.Launch("sum_partials", int64(s.K), block, cu.P(ptr(db)), cu.P(part), cu.I(s.K), cu.I(splits)))
	// With two streams and an input gradient to compute, the filter
	// gradient goes to the second stream, with its own workspace, beside
	// it (both read dz).
	l, ws := e.sideLane(dx), &e.ws
	if l != nil {
		e.grow(&e.wsLane, cv.Workspace())
		ws = &e.wsLane
	}
	e.fail(cv.BackwardFilter(l, ptr(x), dz, ptr(dw), ws.p, ws.bytes))
	if dx != nil {
		e.fail(cv.BackwardData(ptr(w), dz, ptr(dx), e.ws.p, e.ws.bytes))
	}
	e.join(l)
}

// sideLane returns, with two streams and an input gradient dx to compute
// beside a weight gradient, the second stream forked from the main one
// (join it after queueing both), else nil.
func (e *Engine) sideLane(dx engine.Tensor) lane {
	if dx == nil {
		return nil
	}
	l := e.laneFor()
	if l != nil {
		e.fail(e.c.Fork(l))
	}
	return l
}

// join joins lane l (from sideLane) back to the main stream.
func (e *Engine) join(l lane) {
	if l != nil {
		e.fail(e.c.Join(l))
	}
}

// firstLayer reports whether own kernels have a path for convolution s: a
// single input channel and 3×3 or 5×5 filters (first_conv, first_grad).
func firstLayer(s engine.ConvShape) bool {
	return s.C == 1 && s.R == s.S && (s.R == 3 || s.R == 5)
}

// firstGrad: a single-channel convolution's filter and bias gradients,
// when no input gradient is wanted, in one pass (first_grad3/5) and one
// ordered sum of the per-block partials (own kernels only).
// x: (N,1,H,W), y, dy: (N,K,P,Q), dw: (K,1,R,R), db: (K).
func (e *Engine) firstGrad(x, y, dy, dw, db engine.Tensor, s engine.ConvShape, act engine.Activation, splits int) {
	taps := s.R * s.S
	outs := s.K*taps + s.K
	part := e.partialFor(outs * splits)
	name := "first_grad3"
	if s.R == 5 {
		name = "first_grad5"
	}
	e.fail(e.c.LaunchBlocks(name, s.K*splits, block, cu.P(part), cu.P(ptr(dy)), cu.P(ptr(y)), cu.P(ptr(x)),
		cu.I(s.N), cu.I(s.K), cu.I(s.H), cu.I(s.W), cu.I(s.Pad), cu.I(splits), cu.I(int(act))))
	e.fail(e.c.Launch("sum_partials2", int64(outs), block, cu.P(ptr(dw)), cu.I(s.K*taps), cu.P(ptr(db)), cu.P(part), cu.I(outs), cu.I(splits)))
}

// MaxPool records the argmax of each window.
func (e *Engine) MaxPool(x, y, arg engine.Tensor, s engine.PoolShape) {
	engine.CheckPool("MaxPool", s, x, y, arg)
	out := s.N * s.C * s.OH() * s.OW()
	e.fail(e.c.Launch("maxpool", int64(out), block, cu.P(ptr(x)), cu.P(ptr(y)), cu.P(ptr(arg)), cu.I(s.N*s.C), cu.I(s.H), cu.I(s.W), cu.I(s.Size)))
}

// MaxPoolBackward zeroes dx and scatters dy through arg (in both kernel
// sets: a kernel writing every element of dx once, tried in the own set,
// took 22 µs where the memset and scatter take 9.5 at batch 128 on an
// H200, kernels/NOTES.md).
func (e *Engine) MaxPoolBackward(dy, arg, dx engine.Tensor, s engine.PoolShape) {
	engine.CheckPool("MaxPoolBackward", s, dx, dy, arg)
	out := s.N * s.C * s.OH() * s.OW()
	e.fail(e.c.Zero(ptr(dx), s.N*s.C*s.H*s.W*4))
	e.fail(e.c.Launch("maxpool_back", int64(out), block, cu.P(ptr(dy)), cu.P(ptr(arg)), cu.P(ptr(dx)), cu.L(int64(out))))
}

// smallOut is the most outputs a dense layer may have for the own kernels'
// dense_small path, which runs one block of smallBlock threads per output
// element.
const (
	smallOut   = 32
	smallBlock = 128
)

// Dense: y = act(x·wᵀ + b) with cuBLAS and one bias/activation kernel, or
// for a layer of at most smallOut outputs with own kernels, dense_small.
func (e *Engine) Dense(x, w, b, y engine.Tensor, s engine.DenseShape, act engine.Activation) {
	engine.CheckDense("Dense", s, x, w, b, y)
	if e.own && s.Out <= smallOut {
		e.fail(e.c.LaunchBlocks("dense_small", s.N*s.Out, smallBlock, cu.P(ptr(y)), cu.P(ptr(x)), cu.P(ptr(w)), cu.P(ptr(b)),
			cu.I(s.N), cu.I(s.In), cu.I(s.Out), cu.I(int(act))))
		return
	}
	e.fail(e.c.SgemmRowMajor(false, true, s.N, s.Out, s.In, 1, ptr(x), s.In, ptr(w), s.In, 0, ptr(y), s.Out))
	e.biasAct(y, b, s.N*s.Out, 1, s.Out, act)
}

// DenseBackward: dz = dy·act'(y); db = column sums of dz; dw = dzᵀ·x;
// dx = dz·w (cuBLAS, side by side with two streams, or for a small layer
// with own kernels dense_small_dw and dense_small_dx).
func (e *Engine) DenseBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.DenseShape, act engine.Activation) {
	engine.CheckDenseBackward(s, x, w, y, dy, dx, dw, db)
	dz := e.actGrad(dy, y, s.N*s.Out, act)
	e.fail(e.c.LaunchBlocks("bias_grad", s.Out, block, cu.P(ptr(db)), cu.P(dz), cu.I(s.N), cu.I(s.Out), cu.I(1)))
	if e.own && s.Out <= smallOut {
		e.fail(e.c.LaunchBlocks("dense_small_dw", s.Out*((s.In+31)/32), block, cu.P(ptr(dw)), cu.P(dz), cu.P(ptr(x)),
			cu.I(s.N), cu.I(s.In), cu.I(s.Out)))
		if dx != nil {
			e.fail(e.c.Launch("dense_small_dx", int64(s.N)*int64(s.In), block, cu.P(ptr(dx)), cu.P(dz), cu.P(ptr(w)),
				cu.I(s.N), cu.I(s.In), cu.I(s.Out)))
		}
		return
	}
	// With two streams, dw on the second one beside dx (both read dz).
	l := e.sideLane(dx)
	e.fail(e.c.SgemmRowMajorOn(l, true, false, s.Out, s.In, s.N, 1, dz, s.Out, ptr(x), s.In, 0, ptr(dw), s.In))
	if dx != nil {
		e.fail(e.c.SgemmRowMajor(false, false, s.N, s.In, s.Out, 1, dz, s.Out, ptr(w), s.In, 0, ptr(dx), s.In))
	}
	e.join(l)
}

// SoftmaxXent: loss, accuracy and gradient in one kernel; statistics stay
// on the device.
func (e *Engine) SoftmaxXent(logits, labels, probs, dlogits, stats engine.Tensor, n, classes int) {
	engine.CheckSoftmaxXent(logits, labels, probs, dlogits, stats, n, classes)
	e.fail(e.c.Launch("softmax_xent", int64(n), block, cu.P(ptr(logits)), cu.P(ptr(labels)), cu.P(ptr(probs)), cu.P(ptr(dlogits)),
		cu.P(ptr(stats)), cu.I(n), cu.I(classes)))
}

// Update: one fused kernel over the flat parameters, then the step count.
func (e *Engine) Update(c engine.OptConfig, p, g, s1, s2, step engine.Tensor) {
	engine.CheckUpdate(c, p, g, s1, s2, step)
	n := p.Len()
	if c.Kind == engine.SGD {
		e.fail(e.c.Launch("sgd", int64(n), block, cu.P(ptr(p)), cu.P(ptr(g)), cu.P(ptr(s1)), cu.L(int64(n)), cu.F(c.LR), cu.F(c.Momentum)))
	} else if aligned16(p, g, s1, s2) {
		e.fail(e.c.Launch("adam4", (int64(n)+3)/4, block, cu.P(ptr(p)), cu.P(ptr(g)), cu.P(ptr(s1)), cu.P(ptr(s2)), cu.P(ptr(step)),
			cu.L(int64(n)), cu.F(c.LR), cu.F(c.Beta1), cu.F(c.Beta2), cu.F(c.Eps)))
	} else {
		e.fail(e.c.Launch("adam", int64(n), block, cu.P(ptr(p)), cu.P(ptr(g)), cu.P(ptr(s1)), cu.P(ptr(s2)), cu.P(ptr(step)),
			cu.L(int64(n)), cu.F(c.LR), cu.F(c.Beta1), cu.F(c.Beta2), cu.F(c.Eps)))
	}
	e.fail(e.c.LaunchBlocks("step_inc", 1, 1, cu.P(ptr(step))))
}

// aligned16 reports whether every tensor starts on a 16-byte boundary
// (whole allocations do; views may not).
func aligned16(ts ...engine.Tensor) bool {
	for _, t := range ts {
		if ptr(t)%16 != 0 {
			return false
		}
	}
	return true
}
