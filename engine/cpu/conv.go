// conv.go: convolution (stride 1, zero padding) as im2col + SGEMM per image
// (a single-channel 3×3 layer's forward pass straight from the image),
// images spread over the workers; the backward pass accumulates weight
// gradients per fixed chunk of images and reduces the chunks in order, so
// the result does not depend on the number of workers. ConvPool and
// ConvPoolBackward add the max-pool after it, image by image.

package cpu

import "github.com/cnngpu/cnngpu/engine"

// smallCRS is the most filter taps (C·R·S) for which ConvBackward forms
// the weight gradient by dot products rather than a matrix product.
const smallCRS = 32

// convChunks is the fixed number of image groups whose weight gradients are
// summed separately in ConvBackward.
const convChunks = 8

// im2col writes col: (C*R*S, P*Q) from one image x: (C,H,W).
func im2col(col, x []float32, s engine.ConvShape) {
	P, Q := s.P(), s.Q()
	if P == s.H && Q == s.W {
		im2colSame(col, x, s)
		return
	}
	im2colRows(col, x, s)
}

// im2colRows is im2col one output row at a time (any padding).
func im2colRows(col, x []float32, s engine.ConvShape) {
	P, Q := s.P(), s.Q()
	for c := 0; c < s.C; c++ {
		plane := x[c*s.H*s.W : (c+1)*s.H*s.W]
		for r := 0; r < s.R; r++ {
			for sc := 0; sc < s.S; sc++ {
				row := col[((c*s.R+r)*s.S+sc)*P*Q:][:P*Q]
				// Output columns q whose input column q-Pad+sc is inside.
				qlo := max(0, s.Pad-sc)
				qhi := min(Q, s.W+s.Pad-sc)
				for p := 0; p < P; p++ {
					dst := row[p*Q : p*Q+Q]
					ih := p - s.Pad + r
					if ih < 0 || ih >= s.H || qlo >= qhi {
						clear(dst)
						continue
					}
					clear(dst[:qlo])
					src := plane[ih*s.W+qlo-s.Pad+sc:]
					copy(dst[qlo:qhi], src[:qhi-qlo])
					clear(dst[qhi:])
				}
			}
		}
	}
}

// im2colSame is im2col for "same" padding (P = H, Q = W): each row of col
// (one filter tap r, sc) is the input plane shifted by the constant
// (r-Pad)*W + (sc-Pad), so it is one copy, then zeros in the rows above
// or below the image and in the columns that wrapped around from the
// neighbouring row. The same values as im2colRows, in far fewer copies.
func im2colSame(col, x []float32, s engine.ConvShape) {
	sameTaps(col, x, s, func(t sameTap) {
		if t.plo >= t.phi {
			clear(t.row)
			return
		}
		clear(t.row[:t.plo*s.W])
		clear(t.row[t.phi*s.W:])
		if t.a < t.b {
			copy(t.row[t.a:t.b], t.plane[t.a+t.off:t.b+t.off])
		}
		t.zeroWrapped(s.W)
	})
}

// sameTap is one filter tap (c, r, sc) of a same-padding convolution:
// row, its row of col (H*W), and plane, its channel of the image; output
// rows [plo, phi) have their input row inside the image and output
// columns [qlo, qhi) their input column; output index i reads input index
// i+off, and [a, b) is the part of [plo*W, phi*W) where that index lies in
// the plane.
type sameTap struct {
	row, plane         []float32
	plo, phi, qlo, qhi int
	off, a, b          int
}

// zeroWrapped zeroes the values of the rows inside the image whose input
// column lies outside it (they hold a neighbouring row's values, or none).
func (t *sameTap) zeroWrapped(w int) {
	if t.qlo == 0 && t.qhi == w {
		return // a tap of the middle column: nothing wraps
	}
	// Column by column, a strided store a row: a 3×3 filter's taps wrap
	// one column, so this is one store a row rather than two short loops.
	rows := t.row[t.plo*w : t.phi*w]
	for q := 0; q < t.qlo; q++ {
		for i := q; i < len(rows); i += w {
			rows[i] = 0
		}
	}
	for q := t.qhi; q < w; q++ {
		for i := q; i < len(rows); i += w {
			rows[i] = 0
		}
	}
}

// sameTaps calls fn for every filter tap of s, in the order of col's rows.
func sameTaps(col, img []float32, s engine.ConvShape, fn func(sameTap)) {
	H, W := s.H, s.W
	hw := H * W
	for c := 0; c < s.C; c++ {
		plane := img[c*hw : (c+1)*hw]
		for r := 0; r < s.R; r++ {
			dr := r - s.Pad
			plo, phi := max(0, -dr), min(H, H-dr)
			for sc := 0; sc < s.S; sc++ {
				ds := sc - s.Pad
				t := sameTap{row: col[((c*s.R+r)*s.S+sc)*hw:][:hw], plane: plane, plo: plo, phi: phi, off: dr*W + ds}
				t.qlo = min(W, max(0, -ds))
				t.qhi = max(t.qlo, min(W, W-ds))
				t.a, t.b = max(plo*W, -t.off), min(phi*W, hw-t.off)
				fn(t)
			}
		}
	}
}

// col2im adds dcol: (C*R*S, P*Q) back into one image gradient dx: (C,H,W),
// which must be zeroed first. dcol is scratch: the same-padding path
// zeroes some of its values.
func col2im(dx, dcol []float32, s engine.ConvShape) {
	if s.P() == s.H && s.Q() == s.W {
		col2imSame(dx, dcol, s)
		return
	}
	col2imRows(dx, dcol, s)
}

// col2imSame is col2im for "same" padding, the converse of im2colSame:
// each row of dcol is added to the plane shifted by a constant, in one
// pass over the rows inside the image, after its values in the columns
// that wrap around are set to zero (which adds nothing: dx starts at +0,
// so no sum there is -0, and x + 0 is x). The same sums, in the same
// order, as col2imRows.
func col2imSame(dx, dcol []float32, s engine.ConvShape) {
	sameTaps(dcol, dx, s, func(t sameTap) {
		if t.plo >= t.phi || t.a >= t.b {
			return
		}
		t.zeroWrapped(s.W)
		src, dst := t.row[t.a:t.b], t.plane[t.a+t.off:t.b+t.off]
		n8 := 0
		if useAsm {
			if n8 = len(src) &^ 7; n8 > 0 {
				addAsm(dst, src, n8)
			}
		}
		for i := n8; i < len(src); i++ {
			dst[i] += src[i]
		}
	})
}

// col2imRows is col2im one output row at a time (any padding).
func col2imRows(dx, dcol []float32, s engine.ConvShape) {
	P, Q := s.P(), s.Q()
	for c := 0; c < s.C; c++ {
		plane := dx[c*s.H*s.W : (c+1)*s.H*s.W]
		for r := 0; r < s.R; r++ {
			for sc := 0; sc < s.S; sc++ {
				row := dcol[((c*s.R+r)*s.S+sc)*P*Q:][:P*Q]
				qlo := max(0, s.Pad-sc)
				qhi := min(Q, s.W+s.Pad-sc)
				if qlo >= qhi {
					continue
				}
				for p := 0; p < P; p++ {
					ih := p - s.Pad + r
					if ih < 0 || ih >= s.H {
						continue
					}
					src := row[p*Q+qlo : p*Q+qhi]
					dst := plane[ih*s.W+qlo-s.Pad+sc:][:len(src)]
					for i, v := range src {
						dst[i] += v
					}
				}
			}
		}
	}
}

type convFwdTask struct {
	e       *Engine
	x, w, b []float32
	wpk     []float32 // w packed once for every image
	y       []float32
	s       engine.ConvShape
	act     engine.Activation
	pool    *poolFwdTask // ConvPool: pools each image's y while it is in cache
}

func (t *convFwdTask) run(w, lo, hi int) {
	s := t.s
	ws := &t.e.ws[w]
	crs, pq := s.C*s.R*s.S, s.P()*s.Q()
	direct := useAsm && directConv(s)
	hp, wp := s.H+2*s.Pad, s.W+2*s.Pad
	if direct {
		ws.xpad = grow(ws.xpad, hp*wp)
		clear(ws.xpad) // the border stays zero; each image fills the inside
	} else {
		ws.col = grow(ws.col, crs*pq)
	}
	for n := lo; n < hi; n++ {
		xn := t.x[n*s.C*s.H*s.W:]
		yn := t.y[n*s.K*pq : (n+1)*s.K*pq]
		if direct {
			for i := 0; i < s.H; i++ {
				copy(ws.xpad[(i+s.Pad)*wp+s.Pad:][:s.W], xn[i*s.W:(i+1)*s.W])
			}
			for k := 0; k < s.K; k++ {
				conv3x3Asm(ws.xpad, wp, t.w[k*9:k*9+9], yn[k*pq:(k+1)*pq], s.P(), s.Q())
			}
		} else {
			im2col(ws.col, xn, s)
			sgemmPacked(&ws.gemm, s.K, pq, crs, 1, mat{}, t.wpk, rowMajor(ws.col, pq), 0, rowMajor(yn, pq))
		}
		for k := 0; k < s.K; k++ {
			biasAct(yn[k*pq:(k+1)*pq], t.b[k], t.act)
		}
		if t.pool != nil {
			t.pool.run(w, n*s.K, (n+1)*s.K)
		}
	}
}

// directConv reports whether Conv computes s straight from the image with
// conv3x3Asm (one input channel, 3×3 filters, rows of at least 8
// outputs) rather than by im2col and SGEMM: a product 9 deep is mostly
// packing and call overhead. Both give the same bits (conv_amd64.s).
func directConv(s engine.ConvShape) bool {
	return s.C == 1 && s.R == 3 && s.S == 3 && s.Q() >= 8
}

// Conv computes y = act(conv(x, w) + b).
// x: (N,C,H,W), w: (K,C,R,S), b: (K), y: (N,K,P,Q).
func (e *Engine) Conv(x, w, b, y engine.Tensor, s engine.ConvShape, act engine.Activation) {
	engine.CheckConv("Conv", s, x, w, b, y)
	e.conv(x, w, b, y, s, act, nil)
}

// ConvPool computes Conv then MaxPool (engine.ConvPooler) with the same
// results, pooling each image's output right after its convolution, while
// it is still in cache, rather than in a second pass over memory.
// x: (N,C,H,W), y: (N,K,P,Q), p and arg: (N,K,P/Size,Q/Size).
func (e *Engine) ConvPool(x, w, b, y, p, arg engine.Tensor, s engine.ConvShape, ps engine.PoolShape, act engine.Activation) {
	engine.CheckConvPool(s, ps, x, w, b, y, p, arg)
	e.poolF = poolFwdTask{x: t32(y), y: t32(p), arg: ti32(arg), s: ps}
	e.conv(x, w, b, y, s, act, &e.poolF)
}

// conv runs Conv, and pool on each image's planes after it when not nil.
func (e *Engine) conv(x, w, b, y engine.Tensor, s engine.ConvShape, act engine.Activation, pool *poolFwdTask) {
	crs := s.C * s.R * s.S
	if !(useAsm && directConv(s)) {
		e.wpk = grow(e.wpk, packedALen(s.K, crs))
		packAll(e.wpk, rowMajor(t32(w), crs), s.K, crs)
	}
	e.convF = convFwdTask{e: e, x: t32(x), w: t32(w), b: t32(b), y: t32(y), s: s, act: act, wpk: e.wpk, pool: pool}
	e.pool.parallelFor(s.N, 1, &e.convF)
}

type convBwdTask struct {
	e               *Engine
	x, w, y, dy, dx []float32
	wtpk            []float32 // wᵀ packed once, for dx
	s               engine.ConvShape
	act             engine.Activation
	perChunk        int
	pooled          poolGrad
}

// poolGrad is ConvPoolBackward's source of dy: the pooled gradient dp
// through arg, outs values an image, formed image by image instead of
// read. Empty for ConvBackward.
type poolGrad struct {
	dp   []float32
	arg  []int32
	outs int
}

func (t *convBwdTask) run(w, lo, hi int) {
	s := t.s
	ws := &t.e.ws[w]
	crs, pq := s.C*s.R*s.S, s.P()*s.Q()
	ws.col = grow(ws.col, crs*pq)
	ws.dz = grow(ws.dz, s.K*pq)
	if t.dx != nil {
		ws.dcol = grow(ws.dcol, crs*pq)
	}
	for c := lo; c < hi; c++ {
		dw := t.e.chunkDW[c]
		db := t.e.chunkDB[c]
		clear(db)
		first := c * t.perChunk
		last := min(first+t.perChunk, s.N)
		for n := first; n < last; n++ {
			dz := ws.dz
			if pg := t.pooled; pg.dp != nil {
				// MaxPoolBackward for this image, into dz: the same
				// sums (+0 + g), then the activation's gradient in place.
				clear(dz)
				base := int32(n * s.K * pq)
				arg := pg.arg[n*pg.outs : (n+1)*pg.outs]
				for o, g := range pg.dp[n*pg.outs : (n+1)*pg.outs] {
					dz[arg[o]-base] += g
				}
				actGrad(dz, dz, t.y[n*s.K*pq:], t.act)
			} else {
				actGrad(dz, t.dy[n*s.K*pq:], t.y[n*s.K*pq:], t.act)
			}
			for k := 0; k < s.K; k++ {
				db[k] += sum32(dz[k*pq : (k+1)*pq])
			}
			im2col(ws.col, t.x[n*s.C*s.H*s.W:], s)
			// dw (K, CRS) (+)= dz (K, PQ) · colᵀ (PQ, CRS)
			if crs <= smallCRS {
				// Few columns (a first layer): K·CRS dot products beat a
				// product padded to 16-column panels.
				for k := 0; k < s.K; k++ {
					dzk := dz[k*pq : (k+1)*pq]
					for c := 0; c < crs; c++ {
						d := dot32(dzk, ws.col[c*pq:(c+1)*pq])
						if n == first {
							dw[k*crs+c] = d
						} else {
							dw[k*crs+c] += d
						}
					}
				}
			} else {
				beta := float32(1)
				if n == first {
					beta = 0
				}
				sgemm(&ws.gemm, s.K, crs, pq, 1, rowMajor(dz, pq), rowMajor(ws.col, pq).t(), beta, rowMajor(dw, crs))
			}
			if t.dx != nil {
				// dcol (CRS, PQ) = wᵀ (CRS, K) · dz (K, PQ)
				sgemmPacked(&ws.gemm, crs, pq, s.K, 1, mat{}, t.wtpk, rowMajor(dz, pq), 0, rowMajor(ws.dcol, pq))
				dxn := t.dx[n*s.C*s.H*s.W : (n+1)*s.C*s.H*s.W]
				clear(dxn)
				col2im(dxn, ws.dcol, s)
			}
		}
	}
}

// ConvBackward writes dw, db and (when dx is not nil) dx from dy, the
// gradient at the activated output y.
func (e *Engine) ConvBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.ConvShape, act engine.Activation) {
	engine.CheckConvBackward(s, x, w, y, dy, dx, dw, db)
	e.convBackward(x, w, y, dy, dx, dw, db, s, act, poolGrad{})
}

// ConvPoolBackward computes MaxPoolBackward then ConvBackward
// (engine.ConvPoolBackwarder) with the same results bit for bit, forming
// each image's pool gradient in cache as its convolution's backward pass
// needs it: dy, the scratch, is left untouched.
func (e *Engine) ConvPoolBackward(x, w, y, dp, arg, dy, dx, dw, db engine.Tensor, s engine.ConvShape, ps engine.PoolShape, act engine.Activation) {
	engine.CheckConvPoolBackward(s, ps, x, w, y, dp, arg, dy, dx, dw, db)
	e.convBackward(x, w, y, dy, dx, dw, db, s, act, poolGrad{dp: t32(dp), arg: ti32(arg), outs: ps.C * ps.OH() * ps.OW()})
}

// convBackward is ConvBackward, with dy formed from pooled when that is
// not empty.
func (e *Engine) convBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.ConvShape, act engine.Activation, pooled poolGrad) {
	var dxs []float32
	if dx != nil {
		dxs = t32(dx)
	}
	nChunks := min(convChunks, s.N)
	perChunk := (s.N + nChunks - 1) / nChunks
	nChunks = (s.N + perChunk - 1) / perChunk
	wlen := s.K * s.C * s.R * s.S
	for len(e.chunkDW) < nChunks {
		e.chunkDW = append(e.chunkDW, nil)
		e.chunkDB = append(e.chunkDB, nil)
	}
	for c := 0; c < nChunks; c++ {
		e.chunkDW[c] = grow(e.chunkDW[c], wlen)
		e.chunkDB[c] = grow(e.chunkDB[c], s.K)
	}
	e.convB = convBwdTask{e: e, x: t32(x), w: t32(w), y: t32(y), dy: t32(dy), dx: dxs, s: s, act: act, perChunk: perChunk, pooled: pooled}
	if dx != nil {
		crs := s.C * s.R * s.S
		e.wpk = grow(e.wpk, packedALen(crs, s.K))
		packAll(e.wpk, rowMajor(t32(w), crs).t(), crs, s.K)
		e.convB.wtpk = e.wpk
	}
	e.pool.parallelFor(nChunks, 1, &e.convB)
	dws, dbs := t32(dw)[:wlen], t32(db)[:s.K]
	copy(dws, e.chunkDW[0])
	copy(dbs, e.chunkDB[0])
	for c := 1; c < nChunks; c++ {
		for i, v := range e.chunkDW[c][:wlen] {
			dws[i] += v
		}
		for i, v := range e.chunkDB[c][:s.K] {
			dbs[i] += v
		}
	}
}
