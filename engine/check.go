// check.go: the argument checks every engine makes before an op, in one
// place so the engines agree on the contract. A failure is a programmer
// error and panics with a fixed message.

package engine

// CheckGather checks Gather's tensors.
func CheckGather(images, labels, cursor, x, y Tensor, n, pixels int, aug Augment) {
	if aug.On() {
		Must("Gather", "cursor", cursor, Int32, 2)
		if side := ImageSideOf(pixels); side == 0 || aug.Shift >= side {
			panic("engine: Gather: augmentation needs square images larger than the shift")
		}
		if !(aug.Rotate >= 0 && aug.Rotate <= MaxRotate && aug.Scale >= 0 && aug.Scale <= MaxScale) {
			panic("engine: Gather: rotation or scale out of range")
		}
	} else {
		Must("Gather", "cursor", cursor, Int32, 1)
	}
	Must("Gather", "x", x, Float32, n*pixels)
	Must("Gather", "y", y, Int32, n)
	Must("Gather", "labels", labels, Int32, 0)
	Must("Gather", "images", images, Uint8, labels.Len()*pixels)
}

// CheckConv checks a convolution's shape and its x, w, b (or db) and y.
func CheckConv(op string, s ConvShape, x, w, b, y Tensor) {
	if s.N <= 0 || s.C <= 0 || s.K <= 0 || s.P() <= 0 || s.Q() <= 0 {
		panic("engine: " + op + ": empty convolution shape")
	}
	Must(op, "x", x, Float32, s.N*s.C*s.H*s.W)
	Must(op, "w", w, Float32, s.K*s.C*s.R*s.S)
	Must(op, "b", b, Float32, s.K)
	Must(op, "y", y, Float32, s.N*s.K*s.P()*s.Q())
}

// CheckConvBackward checks ConvBackward's tensors.
func CheckConvBackward(s ConvShape, x, w, y, dy, dx, dw, db Tensor) {
	CheckConv("ConvBackward", s, x, w, db, y)
	Must("ConvBackward", "dy", dy, Float32, s.N*s.K*s.P()*s.Q())
	Must("ConvBackward", "dw", dw, Float32, s.K*s.C*s.R*s.S)
	if dx != nil {
		Must("ConvBackward", "dx", dx, Float32, s.N*s.C*s.H*s.W)
	}
}

// CheckPool checks a max-pool's shape and tensors (x or dx, y or dy, arg).
func CheckPool(op string, s PoolShape, x, y, arg Tensor) {
	if s.Size <= 0 || s.OH() <= 0 || s.OW() <= 0 || s.N <= 0 || s.C <= 0 {
		panic("engine: " + op + ": empty pooling shape")
	}
	checkPoolIndex(op, s)
	out := s.N * s.C * s.OH() * s.OW()
	Must(op, "x", x, Float32, s.N*s.C*s.H*s.W)
	Must(op, "y", y, Float32, out)
	Must(op, "arg", arg, Int32, out)
}

// CheckConvPool checks ConvPool's tensors, and that ps pools the
// convolution's output.
func CheckConvPool(s ConvShape, ps PoolShape, x, w, b, y, p, arg Tensor) {
	CheckConv("ConvPool", s, x, w, b, y)
	CheckPool("ConvPool", ps, y, p, arg)
	checkPoolsConv("ConvPool", s, ps)
}

// CheckConvPoolBackward checks ConvPoolBackward's tensors, and that ps
// pools the convolution's output.
func CheckConvPoolBackward(s ConvShape, ps PoolShape, x, w, y, dp, arg, dy, dx, dw, db Tensor) {
	CheckConvBackward(s, x, w, y, dy, dx, dw, db)
	CheckPool("ConvPoolBackward", ps, dy, dp, arg)
	checkPoolsConv("ConvPoolBackward", s, ps)
}

// checkPoolsConv panics unless ps pools the output of convolution s.
func checkPoolsConv(op string, s ConvShape, ps PoolShape) {
	if ps.N != s.N || ps.C != s.K || ps.H != s.P() || ps.W != s.Q() {
		panic("engine: " + op + ": the pooling shape is not the convolution's output")
	}
}

// CheckDense checks a dense layer's shape and its x, w, b (or db) and y.
func CheckDense(op string, s DenseShape, x, w, b, y Tensor) {
	if s.N <= 0 || s.In <= 0 || s.Out <= 0 {
		panic("engine: " + op + ": empty dense shape")
	}
	Must(op, "x", x, Float32, s.N*s.In)
	Must(op, "w", w, Float32, s.Out*s.In)
	Must(op, "b", b, Float32, s.Out)
	Must(op, "y", y, Float32, s.N*s.Out)
}

// CheckDenseBackward checks DenseBackward's tensors.
func CheckDenseBackward(s DenseShape, x, w, y, dy, dx, dw, db Tensor) {
	CheckDense("DenseBackward", s, x, w, db, y)
	Must("DenseBackward", "dy", dy, Float32, s.N*s.Out)
	Must("DenseBackward", "dw", dw, Float32, s.Out*s.In)
	if dx != nil {
		Must("DenseBackward", "dx", dx, Float32, s.N*s.In)
	}
}

// CheckDenseBackwardUpdate checks DenseBackwardUpdate's tensors:
// DenseBackward's, and Update's over p, the layer's weights then its
// bias.
func CheckDenseBackwardUpdate(c OptConfig, s DenseShape, x, w, y, dy, dx, p, g, s1, s2, step Tensor) {
	const op = "DenseBackwardUpdate"
	Must(op, "x", x, Float32, s.N*s.In)
	Must(op, "w", w, Float32, s.Out*s.In)
	Must(op, "y", y, Float32, s.N*s.Out)
	Must(op, "dy", dy, Float32, s.N*s.Out)
	if dx != nil {
		Must(op, "dx", dx, Float32, s.N*s.In)
	}
	Must(op, "p", p, Float32, s.Out*s.In+s.Out)
	CheckUpdate(c, p, g, s1, s2, step)
}

// CheckSoftmaxXent checks SoftmaxXent's tensors.
func CheckSoftmaxXent(logits, labels, probs, dlogits, stats Tensor, n, classes int) {
	Must("SoftmaxXent", "logits", logits, Float32, n*classes)
	Must("SoftmaxXent", "labels", labels, Int32, n)
	Must("SoftmaxXent", "stats", stats, Float32, 3)
	if probs != nil {
		Must("SoftmaxXent", "probs", probs, Float32, n*classes)
	}
	if dlogits != nil {
		Must("SoftmaxXent", "dlogits", dlogits, Float32, n*classes)
	}
}

// CheckHeadStep checks HeadStep's tensors.
func CheckHeadStep(s DenseShape, x, w, b, logits, labels, dlogits, stats, dx, dw, db Tensor) {
	CheckDense("HeadStep", s, x, w, b, logits)
	Must("HeadStep", "labels", labels, Int32, s.N)
	Must("HeadStep", "dlogits", dlogits, Float32, s.N*s.Out)
	Must("HeadStep", "stats", stats, Float32, 3)
	Must("HeadStep", "dw", dw, Float32, s.Out*s.In)
	Must("HeadStep", "db", db, Float32, s.Out)
	if dx != nil {
		Must("HeadStep", "dx", dx, Float32, s.N*s.In)
	}
}

// CheckUpdate checks Update's tensors.
func CheckUpdate(c OptConfig, p, g, s1, s2, step Tensor) {
	n := p.Len()
	Must("Update", "p", p, Float32, n)
	Must("Update", "g", g, Float32, n)
	Must("Update", "s1", s1, Float32, n)
	Must("Update", "step", step, Float32, 1)
	if c.Sched.Validate() != nil {
		panic("engine: Update: invalid learning-rate schedule")
	}
	if c.Kind == Adam {
		Must("Update", "s2", s2, Float32, n)
	}
}
