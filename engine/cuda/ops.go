//go:build cgo && !windows

// ops.go: the network's ops on the GPU. Shapes are checked as in the CPU
// engine; work is queued on the main stream, and with two streams some of
// it on the second (toLane): each op first declares what it touches on
// the main stream (use), so that the main stream waits for the lane only
// where the two would touch the same memory.

package cuda

import (
	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/kernels"
)

// Gather assembles a batch on the device and advances the cursor.
// With aug on, the kernel draws each image's translation (and warp) from
// the seed, the epoch in cursor[1] and the image's index
// (engine.ShiftOffsets, engine.DrawWarp).
func (e *Engine) Gather(images, labels, perm, cursor, x, y engine.Tensor, n, pixels int, aug engine.Augment) {
	defer e.warmOp("Gather").End()
	engine.CheckGather(images, labels, cursor, x, y, n, pixels, aug)
	e.use(access{r: regions(images, labels, perm), w: regions(cursor, x, y)})
	tmax, smax := aug.WarpBounds()
	e.fail(e.c.Launch("gather", int64(n)*int64(pixels), block, arg(images), arg(labels), arg(perm),
		arg(cursor), arg(x), arg(y), cu.I(n), cu.I(pixels), cu.I(aug.Shift), cu.I(engine.ImageSideOf(pixels)),
		cu.I(int(int32(uint32(aug.Seed)))), cu.I(int(int32(uint32(aug.Seed>>32)))), cu.F(tmax), cu.F(smax)))
	e.fail(e.c.LaunchBlocks("advance", 1, 1, arg(cursor), cu.I(n)))
}

// arg is tensor t as a kernel argument, with its extent (cu.Buf).
func arg(t engine.Tensor) cu.Arg {
	if t == nil {
		return cu.Null()
	}
	r := regionOf(t)
	return cu.Buf(r.lo, int(r.hi-r.lo))
}

// bufArg is the engine's scratch r as a kernel argument.
func bufArg(r region) cu.Arg { return cu.Buf(r.lo, int(r.hi-r.lo)) }

// floats is n floats of engine scratch at p.
func floats(p cu.Ptr, n int) region { return region{p, p + cu.Ptr(4*n)} }

func (e *Engine) biasAct(y, b engine.Tensor, total, inner, k int, act engine.Activation) {
	e.fail(e.c.Launch("bias_act", int64(total), block, arg(y), arg(b), cu.L(int64(total)), cu.I(inner), cu.I(k), cu.I(int(act))))
}

// actGrad queues dz = dy·act'(y) over total elements.
func (e *Engine) actGrad(dz region, dy, y engine.Tensor, total int, act engine.Activation) {
	e.fail(e.c.Launch("act_grad", int64(total), block, bufArg(dz), arg(dy), arg(y), cu.L(int64(total)), cu.I(int(act))))
}

// dzOf returns where dz = dy·act'(y) goes for a layer of shape key and
// total elements: the layer's own scratch, or dy itself for identity
// (false: the scratch could not be allocated).
func (e *Engine) dzOf(key any, dy engine.Tensor, total int, act engine.Activation) (region, bool) {
	if act == engine.Identity {
		return regionOf(dy), true
	}
	p, ok := e.dzFor(key, total)
	return floats(p, total), ok
}

// partials returns scratch for n partial sums (false: it could not be
// allocated).
func (e *Engine) partials(n int) (region, bool) {
	p, ok := e.partialFor(n)
	return floats(p, n), ok
}

// sideFor returns, with two streams and an input gradient dx to compute
// beside a weight gradient, the second stream forked for the weight
// gradient's work, with access a (toLane); else nil.
func (e *Engine) sideFor(dx engine.Tensor, a access) lane {
	if dx == nil {
		return nil
	}
	return e.toLane(a)
}

// Conv: cuDNN convolution, then bias and activation in one kernel; with
// own kernels, a first layer (firstLayer) in one kernel, first_conv, and
// where ConvEnv says so (conv3) conv3_pool without its pooling, as
// ConvPool runs it.
// x: (N,C,H,W), w: (K,C,R,S), b: (K), y: (N,K,P,Q).
func (e *Engine) Conv(x, w, b, y engine.Tensor, s engine.ConvShape, act engine.Activation) {
	defer e.warmOp("Conv").End()
	engine.CheckConv("Conv", s, x, w, b, y)
	if e.own && firstLayer(s) {
		name := "first_conv3"
		if s.R == 5 {
			name = "first_conv5"
		}
		e.use(access{r: regions(x, w, b), w: regions(y)})
		e.fail(e.c.Launch(name, int64(s.N)*int64(s.P()*s.Q()), block, arg(y), arg(x), arg(w), arg(b),
			cu.I(s.N), cu.I(s.K), cu.I(s.H), cu.I(s.W), cu.I(s.Pad), cu.I(int(act))))
		return
	}
	cv, ok := e.planIfUsed(s, dirForward, &e.ws)
	if !ok {
		return
	}
	e.use(access{r: regions(x, w, b), w: regions(y)})
	if kb := e.conv3(s, dirForward); kb > 0 {
		// ConvPool's kernel without the pooling: the same bits in y.
		e.conv3Pool(x, w, b, y, nil, nil, s, act, kb)
		return
	}
	e.uses(s, dirForward)
	e.fail(cv.Forward(ptr(x), ptr(w), ptr(y), e.ws.p, e.ws.bytes))
	pq := s.P() * s.Q()
	e.biasAct(y, b, s.N*s.K*pq, pq, s.K, act)
}

// conv3Pool queues conv3_pool for convolution s (3×3, padding 1) with kb
// output channels a block: y = act(conv(x, w) + b) and, when p is not
// nil, its 2×2 max-pool into p and idx.
func (e *Engine) conv3Pool(x, w, b, y, p, idx engine.Tensor, s engine.ConvShape, act engine.Activation, kb int) {
	e.conv3Used[s] = true
	e.fail(e.c.LaunchBlocks("conv3_pool", s.N*s.K/kb, (s.H/2)*(s.W/2)*kb/kernels.Conv3Thread, arg(y), arg(p), arg(idx),
		arg(x), arg(w), arg(b), cu.I(s.C), cu.I(s.K), cu.I(s.H), cu.I(s.W), cu.I(kb), cu.I(int(act))))
}

// ConvBackward: the bias gradient and dz = dy·act'(y) in one pass over
// many blocks (act_bias_grad, then sum_partials), then the filter and
// data gradients (convGrads: cuDNN's, or our conv3 kernels; with two
// streams the filter gradient on the second, beside the data gradient and
// what follows it); with own kernels, a first layer (C = 1, 3×3 or 5×5,
// no dx) in firstGrad instead.
func (e *Engine) ConvBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.ConvShape, act engine.Activation) {
	defer e.warmOp("ConvBackward").End()
	engine.CheckConvBackward(s, x, w, y, dy, dx, dw, db)
	pq := s.P() * s.Q()
	splits := e.splits(s.K, s.N)
	if e.own && dx == nil && firstLayer(s) {
		e.firstGrad(x, y, dy, dw, db, s, act, splits)
		return
	}
	// Plans and scratch first: growing them waits for the device, and
	// when one fails nothing is queued.
	cv, part, ok := e.gradScratch(s, dx, splits)
	if !ok {
		return
	}
	key := s
	key.N = 0
	dz, ok := e.dzOf(key, dy, s.N*s.K*pq, act)
	if !ok {
		return
	}
	e.use(access{r: regions(x, w, y, dy), w: append(regions(dx, dw, db), dz, part)})
	dzArg := cu.Null()
	if act != engine.Identity {
		dzArg = bufArg(dz)
	}
	e.fail(e.c.LaunchBlocks("act_bias_grad", s.K*splits, block, dzArg, bufArg(part), arg(dy), arg(y),
		cu.I(s.N), cu.I(s.K), cu.I(pq), cu.I(splits), cu.I(int(act))))
	e.convGrads(cv, s, x, w, dz, part, dx, dw, db, splits)
}

// gradScratch prepares, before an op queues work, what convGrads needs:
// the plan with its filter gradient (with two streams and a data gradient
// to compute, the second stream and its workspace) and data gradient
// directions, and the bias's partial sums. (Growing scratch waits for the
// device.) False: one of them failed (the error recorded).
func (e *Engine) gradScratch(s engine.ConvShape, dx engine.Tensor, splits int) (convPlan, region, bool) {
	if dx != nil && e.streams && e.laneFor() == nil {
		return nil, region{}, false
	}
	ws := e.filterWS(dx)
	cv, ok := e.planIfUsed(s, dirFilter, ws)
	if !ok {
		return nil, region{}, false
	}
	// conv3_filter's partial sums go to the workspace: sized now, for
	// the recordings that time it too.
	if n := e.conv3Block(s, dirFilter); n > 0 {
		if _, ok := e.grow(ws, 4*conv3FilterSums(s, n)); !ok {
			return nil, region{}, false
		}
	}
	if dx != nil {
		cd, ok := e.planIfUsed(s, dirData, &e.ws)
		if !ok {
			return nil, region{}, false
		}
		if cd != nil {
			cv = cd // the same plan (one a shape), where the filter gradient needed none
		}
	}
	part, ok := e.partials(s.K * splits)
	return cv, part, ok
}

// filterWS is the workspace of a convolution's filter gradient: the
// second stream's where it runs there (two streams and a data gradient
// to compute beside it), else the main one's.
func (e *Engine) filterWS(dx engine.Tensor) *devBuf {
	if dx != nil && e.streams {
		return &e.wsLane
	}
	return &e.ws
}

// planIfUsed returns, where cuDNN runs direction dir of s (needsPlan),
// its plan with the direction prepared and ws grown for it (plan), else
// nil; false where making it failed (the error recorded).
func (e *Engine) planIfUsed(s engine.ConvShape, dir int, ws *devBuf) (convPlan, bool) {
	if !e.needsPlan(s, dir) {
		return nil, true
	}
	cv := e.plan(s, dir, ws)
	return cv, cv != nil
}

// conv3FilterSums is the floats of conv3_filter's partial sums for
// convolution s in splits slices.
func conv3FilterSums(s engine.ConvShape, splits int) int { return splits * s.K * s.C * 9 }

// convGrads: from dz (the gradient at the convolution's output before its
// activation) and the bias's per-block partial sums, db (sum_partials),
// then the filter gradient (cuDNN's, or where ConvEnv says so, conv3,
// conv3_filter's partial sums in the workspace, added by sum_partials)
// and, when dx is not nil, the data gradient (cuDNN's, or conv3_data).
// With two streams and a data gradient to compute, the filter gradient
// goes to the second stream, with its own workspace (both read dz).
func (e *Engine) convGrads(cv convPlan, s engine.ConvShape, x, w engine.Tensor, dz, part region, dx, dw, db engine.Tensor, splits int) {
	e.fail(e.c.Launch("sum_partials", int64(s.K), block, arg(db), bufArg(part), cu.I(s.K), cu.I(splits), cu.I(splits), cu.I(1)))
	ws := e.filterWS(dx)
	nf := e.conv3(s, dirFilter)
	a := access{r: []region{regionOf(x), dz}, w: regions(dw)}
	var sums region // conv3_filter's partial sums
	if nf > 0 {
		sums = floats(ws.p, conv3FilterSums(s, nf))
		a.w = append(a.w, sums)
	}
	l := e.sideFor(dx, a)
	if nf > 0 {
		if l == nil {
			e.alsoUse(access{w: []region{sums}}) // on the main stream
		}
		e.conv3Used[s] = true
		n, threads := s.K*s.C*9, s.C*s.K/kernels.Conv3FilterThread
		e.fail(e.c.LaunchOn(l, "conv3_filter", int64(nf)*int64(threads), threads, bufArg(sums), bufArg(dz), arg(x),
			cu.I(s.N), cu.I(s.C), cu.I(s.K), cu.I(s.H), cu.I(s.W), cu.I(nf)))
		e.fail(e.c.LaunchOn(l, "sum_partials", int64(n), block, arg(dw), bufArg(sums), cu.I(n), cu.I(nf), cu.I(1), cu.I(n)))
	} else {
		e.uses(s, dirFilter)
		e.fail(cv.BackwardFilter(l, ptr(x), dz.lo, ptr(dw), ws.p, ws.bytes))
	}
	if dx == nil {
		return
	}
	if kb := e.conv3(s, dirData); kb > 0 {
		e.conv3Used[s] = true
		e.fail(e.c.LaunchBlocks("conv3_data", s.N*s.C/kb, (s.H/2)*(s.W/2)*kb/kernels.Conv3Thread, arg(dx), bufArg(dz), arg(w),
			cu.I(s.K), cu.I(s.C), cu.I(s.H), cu.I(s.W), cu.I(kb)))
		return
	}
	e.uses(s, dirData)
	e.fail(cv.BackwardData(ptr(w), dz.lo, ptr(dx), e.ws.p, e.ws.bytes))
}

// conv3Block is, for convolution s, the output channels a block of
// conv3_pool (dirForward) or conv3_data (dirData) takes
// (kernels.Conv3Block), or the blocks of conv3_filter (dirFilter,
// kernels.Conv3FilterSplits); 0 when our kernels do not take it: another
// kernel set, ConvEnv "cudnn", not 3×3 with padding 1, a single input
// channel (the first layer's own kernels take that), or a shape the
// kernels refuse.
func (e *Engine) conv3Block(s engine.ConvShape, dir int) int {
	if !e.own || e.conv == convCUDNN || s.R != 3 || s.S != 3 || s.Pad != 1 || s.C < 2 ||
		!fits32(s.N*s.C*s.H*s.W) || !fits32(s.N*s.K*s.H*s.W) {
		return 0
	}
	mp := e.c.Info().Multiprocessors
	switch dir {
	case dirData:
		return kernels.Conv3Block(s.C, s.N, s.H, s.W, mp)
	case dirFilter:
		return kernels.Conv3FilterSplits(s.C, s.K, s.N, s.H, s.W, mp)
	}
	return kernels.Conv3Block(s.K, s.N, s.H, s.W, mp)
}

// conv3 is conv3Block where direction dir of s runs on our kernel now:
// always with ConvEnv "own", else where timing in place chose it
// (convOwn) and while cuDNN loads beside (aside); 0 where it runs on
// cuDNN.
func (e *Engine) conv3(s engine.ConvShape, dir int) int {
	if e.conv == convOwn || e.convOwn[planDir{s, dir}] || e.aside(s) {
		return e.conv3Block(s, dir)
	}
	return 0
}

// needsPlan reports whether direction dir of s needs cuDNN's plan: not
// where ConvEnv "own" runs it on our kernel, nor while cuDNN loads beside
// (goAside, which readies that at s's first use; by default it starts at
// the first use of a gradient of s, so in a training step alone).
func (e *Engine) needsPlan(s engine.ConvShape, dir int) bool {
	if e.conv == convOwn && e.conv3Block(s, dir) > 0 {
		return false
	}
	if !e.goAside(s) {
		return true
	}
	if !e.besideLate && dir != dirForward {
		e.kickBeside()
	}
	return false
}

// ConvPoolBackward is MaxPoolBackward then ConvBackward
// (engine.ConvPoolBackwarder); with own kernels, for 2×2 pooling of an
// even output, the pool's and the activation's gradients and the bias's
// partial sums in one pass over the pooled gradient (pool_back_act,
// writing dz into dy), instead of a memset, maxpool_back and
// act_bias_grad. A first layer with 3×3 filters takes its filter and bias
// gradients straight from the pooled gradient (first_grad_pool3: dy is
// not used), one with 5×5 from pool_back_act's dz (firstGrad, identity).
func (e *Engine) ConvPoolBackward(x, w, y, dp, idx, dy, dx, dw, db engine.Tensor, s engine.ConvShape, ps engine.PoolShape, act engine.Activation) {
	defer e.warmOp("ConvPoolBackward").End()
	engine.CheckConvPoolBackward(s, ps, x, w, y, dp, idx, dy, dx, dw, db)
	P, Q := s.P(), s.Q()
	first := dx == nil && firstLayer(s)
	if !e.own || ps.Size != 2 || P%2 != 0 || Q%2 != 0 || !fits32(s.N*s.K*P*Q) {
		e.MaxPoolBackward(dp, idx, dy, ps)
		e.ConvBackward(x, w, y, dy, dx, dw, db, s, act)
		return
	}
	splits := e.splits(s.K, s.N)
	if first && s.R == 3 {
		outs := s.K*9 + s.K
		part, ok := e.partials(outs * splits)
		if !ok {
			return
		}
		e.use(access{r: regions(x, y, dp, idx), w: append(regions(dw, db), part)})
		e.fail(e.c.LaunchBlocks("first_grad_pool3", s.K*splits, block, bufArg(part), arg(dp), arg(idx), arg(y), arg(x),
			cu.I(s.N), cu.I(s.K), cu.I(s.H), cu.I(s.W), cu.I(s.Pad), cu.I(splits), cu.I(int(act))))
		e.fail(e.c.Launch("sum_partials2", int64(outs), block, arg(dw), cu.I(s.K*9), arg(db), bufArg(part), cu.I(outs), cu.I(splits)))
		return
	}
	if first {
		// firstGrad's scratch first, so that nothing is queued when it
		// cannot be allocated.
		if _, ok := e.partials((s.K*s.R*s.S + s.K) * splits); !ok {
			return
		}
		e.use(access{r: regions(dp, idx, y), w: regions(dy)})
		e.fail(e.c.LaunchBlocks("pool_back_act", s.K*splits, block, arg(dy), cu.Null(), arg(dp), arg(idx), arg(y),
			cu.I(s.N), cu.I(s.K), cu.I(P), cu.I(Q), cu.I(splits), cu.I(int(act))))
		e.firstGrad(x, dy, dy, dw, db, s, engine.Identity, splits)
		return
	}
	cv, part, ok := e.gradScratch(s, dx, splits)
	if !ok {
		return
	}
	e.use(access{r: regions(x, w, y, dp, idx), w: append(regions(dy, dx, dw, db), part)})
	e.fail(e.c.LaunchBlocks("pool_back_act", s.K*splits, block, arg(dy), bufArg(part), arg(dp), arg(idx), arg(y),
		cu.I(s.N), cu.I(s.K), cu.I(P), cu.I(Q), cu.I(splits), cu.I(int(act))))
	e.convGrads(cv, s, x, w, regionOf(dy), part, dx, dw, db, splits)
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
	part, ok := e.partials(outs * splits)
	if !ok {
		return
	}
	name := "first_grad3"
	if s.R == 5 {
		name = "first_grad5"
	}
	e.use(access{r: regions(x, y, dy), w: append(regions(dw, db), part)})
	e.fail(e.c.LaunchBlocks(name, s.K*splits, block, bufArg(part), arg(dy), arg(y), arg(x),
		cu.I(s.N), cu.I(s.K), cu.I(s.H), cu.I(s.W), cu.I(s.Pad), cu.I(splits), cu.I(int(act))))
	e.fail(e.c.Launch("sum_partials2", int64(outs), block, arg(dw), cu.I(s.K*taps), arg(db), bufArg(part), cu.I(outs), cu.I(splits)))
}

// ConvPool is Conv then MaxPool (engine.ConvPooler); with own kernels,
// for 2×2 pooling of an even output, in one pass over the convolution's
// output: first_conv_pool3 for a first layer with 3×3 filters; for a
// 3×3, padding-1 layer after it conv3_pool where ConvEnv says so (conv3);
// else cuDNN's convolution and bias_act_pool (instead of bias_act and
// maxpool, each a pass over it).
func (e *Engine) ConvPool(x, w, b, y, p, idx engine.Tensor, s engine.ConvShape, ps engine.PoolShape, act engine.Activation) {
	defer e.warmOp("ConvPool").End()
	engine.CheckConvPool(s, ps, x, w, b, y, p, idx)
	P, Q := s.P(), s.Q()
	if !e.own || ps.Size != 2 || P%2 != 0 || Q%2 != 0 || !fits32(s.N*s.K*P*Q) || (firstLayer(s) && s.R != 3) {
		e.Conv(x, w, b, y, s, act)
		e.MaxPool(y, p, idx, ps)
		return
	}
	outs := s.N * ps.OH() * ps.OW()
	if firstLayer(s) {
		groups := (s.K + poolGroup - 1) / poolGroup
		e.use(access{r: regions(x, w, b), w: regions(y, p, idx)})
		e.fail(e.c.Launch("first_conv_pool3", int64(groups)*int64(outs), block, arg(y), arg(p), arg(idx), arg(x), arg(w), arg(b),
			cu.I(s.N), cu.I(s.K), cu.I(s.H), cu.I(s.W), cu.I(s.Pad), cu.I(int(act))))
		return
	}
	// (Restoring a remembered choice may choose our kernel.)
	cv, ok := e.planIfUsed(s, dirForward, &e.ws)
	if !ok {
		return
	}
	e.use(access{r: regions(x, w, b), w: regions(y, p, idx)})
	if kb := e.conv3(s, dirForward); kb > 0 {
		e.conv3Pool(x, w, b, y, p, idx, s, act, kb)
		return
	}
	e.uses(s, dirForward)
	e.fail(cv.Forward(ptr(x), ptr(w), ptr(y), e.ws.p, e.ws.bytes))
	e.fail(e.c.Launch("bias_act_pool", int64(outs)*int64(s.K), block, arg(y), arg(p), arg(idx), arg(b),
		cu.I(s.N*s.K), cu.I(s.K), cu.I(P), cu.I(Q), cu.I(int(act))))
}

// poolGroup is POOL_GROUP in kernels.cu: the output channels one thread of
// first_conv_pool3 computes.
const poolGroup = 8

// fits32 reports whether n elements index in 32 bits.
func fits32(n int) bool { return n <= 1<<31-1 }

// MaxPool records the argmax of each window.
func (e *Engine) MaxPool(x, y, idx engine.Tensor, s engine.PoolShape) {
	defer e.warmOp("MaxPool").End()
	engine.CheckPool("MaxPool", s, x, y, idx)
	out := s.N * s.C * s.OH() * s.OW()
	e.use(access{r: regions(x), w: regions(y, idx)})
	e.fail(e.c.Launch("maxpool", int64(out), block, arg(x), arg(y), arg(idx), cu.I(s.N*s.C), cu.I(s.H), cu.I(s.W), cu.I(s.Size)))
}

// MaxPoolBackward zeroes dx and scatters dy through arg (in both kernel
// sets: a kernel writing every element of dx once, tried in the own set,
// was slower; kernels/NOTES.md, runs 5–7).
func (e *Engine) MaxPoolBackward(dy, idx, dx engine.Tensor, s engine.PoolShape) {
	defer e.warmOp("MaxPoolBackward").End()
	engine.CheckPool("MaxPoolBackward", s, dx, dy, idx)
	out := s.N * s.C * s.OH() * s.OW()
	e.use(access{r: regions(dy, idx), w: regions(dx)})
	e.fail(e.c.Zero(ptr(dx), s.N*s.C*s.H*s.W*4))
	e.fail(e.c.Launch("maxpool_back", int64(out), block, arg(dy), arg(idx), arg(dx), cu.L(int64(out))))
}

// smallOut is the most outputs a dense layer may have for the own kernels'
// dense_small path, which runs one block of smallBlock threads per output
// element.
const (
	smallOut   = 32
	smallBlock = 128
)

// Dense: y = act(x·wᵀ + b) with cuBLAS and one bias/activation kernel, or
// for a layer of at most smallOut outputs with own kernels, dense_small;
// where DenseEnv has it so, as one cuBLASLt product (fused.go).
func (e *Engine) Dense(x, w, b, y engine.Tensor, s engine.DenseShape, act engine.Activation) {
	defer e.warmOp("Dense").End()
	engine.CheckDense("Dense", s, x, w, b, y)
	e.use(access{r: regions(x, w, b), w: regions(y)})
	if e.own && s.Out <= smallOut {
		e.fail(e.c.LaunchBlocks("dense_small", s.N*s.Out, smallBlock, arg(y), arg(x), arg(w), arg(b),
			cu.I(s.N), cu.I(s.In), cu.I(s.Out), cu.I(int(act))))
		return
	}
	if e.fusedForward(x, w, b, y, s, act) {
		return
	}
	e.fail(e.c.SgemmRowMajor(false, true, s.N, s.Out, s.In, 1, ptr(x), s.In, ptr(w), s.In, 0, ptr(y), s.Out))
	e.biasAct(y, b, s.N*s.Out, 1, s.Out, act)
}

// DenseBackward: dz = dy·act'(y); db = column sums of dz; dw = dzᵀ·x;
// dx = dz·w (cuBLAS, with two streams dw on the second beside dx and what
// follows it, or for a small layer with own kernels dense_small_dw and
// dense_small_dx). Where DenseEnv has it so, dw and db are one cuBLASLt
// product (fused.go).
func (e *Engine) DenseBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.DenseShape, act engine.Activation) {
	defer e.warmOp("DenseBackward").End()
	engine.CheckDenseBackward(s, x, w, y, dy, dx, dw, db)
	dz, total, ok := e.denseDZ(s, dy, act)
	if !ok {
		return
	}
	e.use(access{r: regions(x, w, y, dy), w: append(regions(dx, dw, db), dz)})
	small := e.own && s.Out <= smallOut
	// db with dw from one cuBLASLt product where DenseEnv has it so
	// (nil: apart).
	var fused gemmPlan
	if !small {
		if fused, ok = e.fusedWeightGrad(dz, x, dw, db, s); !ok {
			return
		}
	}
	if act != engine.Identity {
		e.actGrad(dz, dy, y, total, act)
	}
	if fused != nil {
		// With two streams, dw and db on the second one (both read dz).
		l := e.sideFor(dx, access{r: []region{regionOf(x), dz}, w: regions(dw, db)})
		e.fail(e.c.Gemm(l, fused, dz.lo, ptr(x), ptr(dw), ptr(db)))
	} else {
		e.fail(e.c.LaunchBlocks("bias_grad", s.Out, block, arg(db), bufArg(dz), cu.I(s.N), cu.I(s.Out), cu.I(1)))
		if small {
			e.fail(e.c.LaunchBlocks("dense_small_dw", smallDWBlocks(s), block, arg(dw), bufArg(dz), arg(x),
				cu.I(s.N), cu.I(s.In), cu.I(s.Out)))
			if dx != nil {
				e.fail(e.c.Launch("dense_small_dx", int64(s.N)*int64(s.In), block, arg(dx), bufArg(dz), arg(w),
					cu.I(s.N), cu.I(s.In), cu.I(s.Out)))
			}
			return
		}
		// With two streams, dw on the second one (both read dz).
		l := e.sideFor(dx, access{r: []region{regionOf(x), dz}, w: regions(dw)})
		e.fail(e.c.SgemmRowMajorOn(l, true, false, s.Out, s.In, s.N, 1, dz.lo, s.Out, ptr(x), s.In, 0, ptr(dw), s.In))
	}
	if dx != nil {
		e.denseDx(dz, w, dx, s)
	}
}

// denseDZ is where dense layer s's dz = dy·act'(y) goes (dzOf: the layer's
// scratch, whatever the batch, or dy itself for identity), and its
// length; false: the scratch could not be allocated.
func (e *Engine) denseDZ(s engine.DenseShape, dy engine.Tensor, act engine.Activation) (dz region, total int, ok bool) {
	key := s
	key.N = 0
	total = s.N * s.Out
	dz, ok = e.dzOf(key, dy, total, act)
	return dz, total, ok
}

// denseDx queues dx = dz·w on the main stream. dz: (N,Out), w: (Out,In),
// dx: (N,In).
func (e *Engine) denseDx(dz region, w, dx engine.Tensor, s engine.DenseShape) {
	e.fail(e.c.SgemmRowMajor(false, false, s.N, s.In, s.Out, 1, dz.lo, s.Out, ptr(w), s.In, 0, ptr(dx), s.In))
}

// SoftmaxXent: loss, accuracy and gradient in one kernel; statistics stay
// on the device.
func (e *Engine) SoftmaxXent(logits, labels, probs, dlogits, stats engine.Tensor, n, classes int, ls float64) {
	defer e.warmOp("SoftmaxXent").End()
	engine.CheckSoftmaxXent(logits, labels, probs, dlogits, stats, n, classes)
	e.use(access{r: regions(logits, labels), w: regions(probs, dlogits, stats)})
	off, on := engine.SmoothTargets(ls, classes)
	e.fail(e.c.Launch("softmax_xent", int64(n), block, arg(logits), arg(labels), arg(probs), arg(dlogits),
		arg(stats), cu.I(n), cu.I(classes), cu.F(off), cu.F(on)))
}

// headRows is dzFor's key of HeadStep's rows scratch (each row's loss and
// correct), apart from the layer's dz.
type headRows struct{ in, out int }

// HeadStep is Dense (no activation), SoftmaxXent and DenseBackward of a
// training step's output layer (engine.HeadStepper). With own kernels and
// an output layer of at most kernels.DenseXentOut outputs, dense_xent
// queues the logits, dlogits and dx on the main stream in one kernel, with
// the bits of dense_small, softmax_xent and dense_small_dx; the weight
// and bias gradients and the loss statistics follow from dlogits in one
// more, head_grads (the bits of dense_small_dw, bias_grad and
// softmax_xent's statistics), with two streams on the second, beside dx
// and the layers below. Otherwise, and with HeadEnv 0 (noHead), the three
// ops as they are.
func (e *Engine) HeadStep(x, w, b, logits, labels, dlogits, stats, dx, dw, db engine.Tensor, s engine.DenseShape, ls float64) {
	defer e.warmOp("HeadStep").End()
	if !e.own || e.noHead || s.Out > kernels.DenseXentOut {
		e.Dense(x, w, b, logits, s, engine.Identity)
		e.SoftmaxXent(logits, labels, nil, dlogits, stats, s.N, s.Out, ls)
		e.DenseBackward(x, w, logits, dlogits, dx, dw, db, s, engine.Identity)
		return
	}
	engine.CheckHeadStep(s, x, w, b, logits, labels, dlogits, stats, dx, dw, db)
	p, ok := e.dzFor(headRows{s.In, s.Out}, 2*s.N)
	if !ok {
		return
	}
	rows := floats(p, 2*s.N)
	e.use(access{r: regions(x, w, b, labels), w: append(regions(logits, dlogits, dx), rows)})
	off, on := engine.SmoothTargets(ls, s.Out)
	e.fail(e.c.LaunchBlocks("dense_xent", s.N, smallBlock, arg(logits), arg(dlogits), arg(dx), bufArg(rows),
		arg(x), arg(w), arg(b), arg(labels), cu.I(s.N), cu.I(s.In), cu.I(s.Out), cu.F(off), cu.F(on)))
	a := access{r: []region{regionOf(x), regionOf(dlogits), rows}, w: regions(dw, db, stats)}
	e.declared = e.declared[:0] // head_grads' own, checked apart from dense_xent's
	l := e.toLane(a)
	if l == nil {
		e.use(a)
	}
	blocks := smallDWBlocks(s) + s.Out + (s.N+block-1)/block
	e.fail(e.c.LaunchOn(l, "head_grads", int64(blocks)*block, block, arg(dw), arg(db), arg(stats), arg(dlogits), arg(x),
		bufArg(rows), cu.I(s.N), cu.I(s.In), cu.I(s.Out)))
}

// smallDWBlocks is dense_small_dw's grid for layer s, as head_grads
// starts with it: a block an output and 32 inputs.
func smallDWBlocks(s engine.DenseShape) int { return s.Out * ((s.In + 31) / 32) }

// Update: one fused kernel over the parameters p, the step count's
// increment left pending (steps.go); with two streams on the second (with
// three on the updates' own: toUpdates), so that the main stream goes on
// with the backward ops of the layers below p's (engine.Model updates a
// layer as soon as its gradients are queued).
func (e *Engine) Update(c engine.OptConfig, p, g, s1, s2, step engine.Tensor) {
	defer e.warmOp("Update").End()
	engine.CheckUpdate(c, p, g, s1, s2, step)
	n := p.Len()
	l := e.updateLane(access{r: regions(g), w: regions(p, s1, s2, step)})
	// The schedule: the kernels scale c.LR by its factor at step[0]+1.
	sc := c.Sched
	kind, warm, total, final := cu.I(int(sc.Kind)), cu.I(sc.Warmup), cu.I(sc.Total), cu.F(sc.Final)
	if c.Kind == engine.SGD {
		e.fail(e.c.LaunchOn(l, "sgd", int64(n), block, arg(p), arg(g), arg(s1), arg(step), cu.L(int64(n)), cu.F(c.LR), cu.F(c.Momentum),
			kind, warm, total, final))
	} else if aligned16(p, g, s1, s2) {
		e.fail(e.c.LaunchOn(l, "adam4", (int64(n)+3)/4, block, arg(p), arg(g), arg(s1), arg(s2), arg(step),
			cu.L(int64(n)), cu.F(c.LR), cu.F(c.Beta1), cu.F(c.Beta2), cu.F(c.Eps), kind, warm, total, final))
	} else {
		e.fail(e.c.LaunchOn(l, "adam", int64(n), block, arg(p), arg(g), arg(s1), arg(s2), arg(step),
			cu.L(int64(n)), cu.F(c.LR), cu.F(c.Beta1), cu.F(c.Beta2), cu.F(c.Eps), kind, warm, total, final))
	}
	if e.err == nil { // the update was queued: its count's increment, with the other layers' (steps.go)
		e.pendStep(step)
	}
}

// updateLane is where an optimizer's update with access a goes
// (toUpdates: the second stream, the updates' own with three, nil for the
// main stream), a declared as the update's own, apart from the op before.
func (e *Engine) updateLane(a access) lane {
	e.declared = e.declared[:0] // toUpdates adds a to it
	l := e.toUpdates(a)
	if l == nil {
		e.use(a)
	}
	return l
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
