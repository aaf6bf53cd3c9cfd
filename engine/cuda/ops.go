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
	engine.Must("Gather", "cursor", cursor, engine.Int32, 1)
	engine.Must("Gather", "x", x, engine.Float32, n*pixels)
	engine.Must("Gather", "y", y, engine.Int32, n)
	engine.Must("Gather", "labels", labels, engine.Int32, 0)
	engine.Must("Gather", "images", images, engine.Uint8, labels.Len()*pixels)
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

func checkConv(op string, s engine.ConvShape, x, w, b, y engine.Tensor) {
	if s.N <= 0 || s.C <= 0 || s.K <= 0 || s.P() <= 0 || s.Q() <= 0 {
		panic("engine: " + op + ": empty convolution shape")
	}
	engine.Must(op, "x", x, engine.Float32, s.N*s.C*s.H*s.W)
	engine.Must(op, "w", w, engine.Float32, s.K*s.C*s.R*s.S)
	engine.Must(op, "b", b, engine.Float32, s.K)
	engine.Must(op, "y", y, engine.Float32, s.N*s.K*s.P()*s.Q())
}

// Conv: cuDNN convolution, then bias and activation in one kernel.
// x: (N,C,H,W), w: (K,C,R,S), b: (K), y: (N,K,P,Q).
func (e *Engine) Conv(x, w, b, y engine.Tensor, s engine.ConvShape, act engine.Activation) {
	checkConv("Conv", s, x, w, b, y)
	cv := e.conv(s)
	if cv == nil {
		return
	}
	e.fail(cv.Forward(uint64(ptr(x)), uint64(ptr(w)), uint64(ptr(y)), uint64(e.ws), e.wsBytes))
	pq := s.P() * s.Q()
	e.biasAct(y, b, s.N*s.K*pq, pq, s.K, act)
}

// ConvBackward: activation gradient, bias gradient, then cuDNN's filter
// and data gradients.
func (e *Engine) ConvBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.ConvShape, act engine.Activation) {
	checkConv("ConvBackward", s, x, w, db, y)
	engine.Must("ConvBackward", "dy", dy, engine.Float32, s.N*s.K*s.P()*s.Q())
	engine.Must("ConvBackward", "dw", dw, engine.Float32, s.K*s.C*s.R*s.S)
	cv := e.conv(s)
	if cv == nil {
		return
	}
	pq := s.P() * s.Q()
	dz := e.actGrad(dy, y, s.N*s.K*pq, act)
	e.fail(e.c.LaunchBlocks("bias_grad", s.K, block, cu.P(ptr(db)), cu.P(dz), cu.I(s.N), cu.I(s.K), cu.I(pq)))
	e.fail(cv.BackwardFilter(uint64(ptr(x)), uint64(dz), uint64(ptr(dw)), uint64(e.ws), e.wsBytes))
	if dx != nil {
		engine.Must("ConvBackward", "dx", dx, engine.Float32, s.N*s.C*s.H*s.W)
		e.fail(cv.BackwardData(uint64(ptr(w)), uint64(dz), uint64(ptr(dx)), uint64(e.ws), e.wsBytes))
	}
}

// MaxPool records the argmax of each window.
func (e *Engine) MaxPool(x, y, arg engine.Tensor, s engine.PoolShape) {
	out := s.N * s.C * s.OH() * s.OW()
	if s.Size <= 0 || out <= 0 {
		panic("engine: MaxPool: empty pooling shape")
	}
	engine.Must("MaxPool", "x", x, engine.Float32, s.N*s.C*s.H*s.W)
	engine.Must("MaxPool", "y", y, engine.Float32, out)
	engine.Must("MaxPool", "arg", arg, engine.Int32, out)
	e.fail(e.c.Launch("maxpool", int64(out), block, cu.P(ptr(x)), cu.P(ptr(y)), cu.P(ptr(arg)), cu.I(s.N*s.C), cu.I(s.H), cu.I(s.W), cu.I(s.Size)))
}

// MaxPoolBackward zeroes dx and scatters dy through arg.
func (e *Engine) MaxPoolBackward(dy, arg, dx engine.Tensor, s engine.PoolShape) {
	out := s.N * s.C * s.OH() * s.OW()
	if s.Size <= 0 || out <= 0 {
		panic("engine: MaxPoolBackward: empty pooling shape")
	}
	engine.Must("MaxPoolBackward", "dy", dy, engine.Float32, out)
	engine.Must("MaxPoolBackward", "arg", arg, engine.Int32, out)
	engine.Must("MaxPoolBackward", "dx", dx, engine.Float32, s.N*s.C*s.H*s.W)
	e.fail(e.c.Zero(ptr(dx), s.N*s.C*s.H*s.W*4))
	e.fail(e.c.Launch("maxpool_back", int64(out), block, cu.P(ptr(dy)), cu.P(ptr(arg)), cu.P(ptr(dx)), cu.L(int64(out))))
}

func checkDense(op string, s engine.DenseShape, x, w, b, y engine.Tensor) {
	if s.N <= 0 || s.In <= 0 || s.Out <= 0 {
		panic("engine: " + op + ": empty dense shape")
	}
	engine.Must(op, "x", x, engine.Float32, s.N*s.In)
	engine.Must(op, "w", w, engine.Float32, s.Out*s.In)
	engine.Must(op, "b", b, engine.Float32, s.Out)
	engine.Must(op, "y", y, engine.Float32, s.N*s.Out)
}

// Dense: y = act(x·wᵀ + b) with cuBLAS and one bias/activation kernel.
func (e *Engine) Dense(x, w, b, y engine.Tensor, s engine.DenseShape, act engine.Activation) {
	checkDense("Dense", s, x, w, b, y)
	e.fail(e.c.SgemmRowMajor(false, true, s.N, s.Out, s.In, 1, ptr(x), s.In, ptr(w), s.In, 0, ptr(y), s.Out))
	e.biasAct(y, b, s.N*s.Out, 1, s.Out, act)
}

// DenseBackward: dz = dy·act'(y); db = column sums of dz; dw = dzᵀ·x;
// dx = dz·w.
func (e *Engine) DenseBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.DenseShape, act engine.Activation) {
	checkDense("DenseBackward", s, x, w, db, y)
	engine.Must("DenseBackward", "dy", dy, engine.Float32, s.N*s.Out)
	engine.Must("DenseBackward", "dw", dw, engine.Float32, s.Out*s.In)
	dz := e.actGrad(dy, y, s.N*s.Out, act)
	e.fail(e.c.LaunchBlocks("bias_grad", s.Out, block, cu.P(ptr(db)), cu.P(dz), cu.I(s.N), cu.I(s.Out), cu.I(1)))
	e.fail(e.c.SgemmRowMajor(true, false, s.Out, s.In, s.N, 1, dz, s.Out, ptr(x), s.In, 0, ptr(dw), s.In))
	if dx != nil {
		engine.Must("DenseBackward", "dx", dx, engine.Float32, s.N*s.In)
		e.fail(e.c.SgemmRowMajor(false, false, s.N, s.In, s.Out, 1, dz, s.Out, ptr(w), s.In, 0, ptr(dx), s.In))
	}
}

// SoftmaxXent: loss, accuracy and gradient in one kernel; statistics stay
// on the device.
func (e *Engine) SoftmaxXent(logits, labels, probs, dlogits, stats engine.Tensor, n, classes int) {
	engine.Must("SoftmaxXent", "logits", logits, engine.Float32, n*classes)
	engine.Must("SoftmaxXent", "labels", labels, engine.Int32, n)
	engine.Must("SoftmaxXent", "stats", stats, engine.Float32, 3)
	if classes > 32 {
		panic("engine: SoftmaxXent: more than 32 classes")
	}
	if probs != nil {
		engine.Must("SoftmaxXent", "probs", probs, engine.Float32, n*classes)
	}
	if dlogits != nil {
		engine.Must("SoftmaxXent", "dlogits", dlogits, engine.Float32, n*classes)
	}
	e.fail(e.c.Launch("softmax_xent", int64(n), block, cu.P(ptr(logits)), cu.P(ptr(labels)), cu.P(ptr(probs)), cu.P(ptr(dlogits)),
		cu.P(ptr(stats)), cu.I(n), cu.I(classes)))
}

// Update: one fused kernel over the flat parameters, then the step count.
func (e *Engine) Update(c engine.OptConfig, p, g, s1, s2, step engine.Tensor) {
	n := p.Len()
	engine.Must("Update", "p", p, engine.Float32, n)
	engine.Must("Update", "g", g, engine.Float32, n)
	engine.Must("Update", "s1", s1, engine.Float32, n)
	engine.Must("Update", "step", step, engine.Float32, 1)
	if c.Kind == engine.SGD {
		e.fail(e.c.Launch("sgd", int64(n), block, cu.P(ptr(p)), cu.P(ptr(g)), cu.P(ptr(s1)), cu.L(int64(n)), cu.F(c.LR), cu.F(c.Momentum)))
	} else {
		engine.Must("Update", "s2", s2, engine.Float32, n)
		e.fail(e.c.Launch("adam", int64(n), block, cu.P(ptr(p)), cu.P(ptr(g)), cu.P(ptr(s1)), cu.P(ptr(s2)), cu.P(ptr(step)),
			cu.L(int64(n)), cu.F(c.LR), cu.F(c.Beta1), cu.F(c.Beta2), cu.F(c.Eps)))
	}
	e.fail(e.c.LaunchBlocks("step_inc", 1, 1, cu.P(ptr(step))))
}
