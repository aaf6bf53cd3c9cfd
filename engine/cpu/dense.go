// dense.go: fully connected layers on the parallel SGEMM, with bias and
// activation applied over row blocks after the multiply.

package cpu

import "github.com/cnngpu/cnngpu/engine"

type denseEpilogueTask struct {
	y, b []float32
	out  int
	act  engine.Activation
}

func (t *denseEpilogueTask) run(_, lo, hi int) {
	for n := lo; n < hi; n++ {
		row := t.y[n*t.out : (n+1)*t.out]
		switch t.act {
		case engine.Identity:
			for j := range row {
				row[j] += t.b[j]
			}
		case engine.ReLU:
			for j, v := range row {
				v += t.b[j]
				if v < 0 {
					v = 0
				}
				row[j] = v
			}
		default:
			biasSigmTanh(row, t.b, t.act)
		}
	}
}

// Dense computes y = act(x·wᵀ + b). x: (N,In), w: (Out,In), y: (N,Out).
func (e *Engine) Dense(x, w, b, y engine.Tensor, s engine.DenseShape, act engine.Activation) {
	engine.CheckDense("Dense", s, x, w, b, y)
	ys := t32(y)
	gemmParallel(e.pool, &e.gemm, s.N, s.Out, s.In, 1, rowMajor(t32(x), s.In), rowMajor(t32(w), s.In).t(), 0, rowMajor(ys, s.Out))
	e.denseE = denseEpilogueTask{y: ys, b: t32(b), out: s.Out, act: act}
	e.pool.parallelFor(s.N, 16, &e.denseE)
}

// DenseBackward writes dw: (Out,In), db: (Out) and, when dx is not nil,
// dx: (N,In) from dy: (N,Out) at the activated output y.
func (e *Engine) DenseBackward(x, w, y, dy, dx, dw, db engine.Tensor, s engine.DenseShape, act engine.Activation) {
	engine.CheckDenseBackward(s, x, w, y, dy, dx, dw, db)
	dz := t32(dy)[:s.N*s.Out]
	if act != engine.Identity {
		e.dz = grow(e.dz, s.N*s.Out)
		actGrad(e.dz, dz, t32(y), act)
		dz = e.dz
	}
	dbs := t32(db)[:s.Out]
	clear(dbs)
	for n := 0; n < s.N; n++ {
		for j, v := range dz[n*s.Out : (n+1)*s.Out] {
			dbs[j] += v
		}
	}
	// dw (Out, In) = dzᵀ (Out, N) · x (N, In)
	gemmParallel(e.pool, &e.gemm, s.Out, s.In, s.N, 1, rowMajor(dz, s.Out).t(), rowMajor(t32(x), s.In), 0, rowMajor(t32(dw), s.In))
	if dx != nil {
		// dx (N, In) = dz (N, Out) · w (Out, In)
		gemmParallel(e.pool, &e.gemm, s.N, s.In, s.Out, 1, rowMajor(dz, s.Out), rowMajor(t32(w), s.In), 0, rowMajor(t32(dx), s.In))
	}
}

// SgemmRowMajor computes c = alpha·op(a)·op(b) + beta·c on the engine's
// workers with the product its dense layers use, for a caller that holds
// its own row-major matrices (the GPU engine's emulated device, in its
// tests): c is m×n with row stride ldc, op(a) m×k, op(b) k×n; transA
// means a is stored k×m (row stride lda), likewise transB. When beta is 0,
// c is not read. Strides and lengths are the caller's to get right: a
// matrix shorter than its shape and stride say panics.
func (e *Engine) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	av := mat{d: a, rs: lda, cs: 1}
	if transA {
		av = av.t()
	}
	bv := mat{d: b, rs: ldb, cs: 1}
	if transB {
		bv = bv.t()
	}
	gemmParallel(e.pool, &e.gemm, m, n, k, alpha, av, bv, beta, mat{d: c, rs: ldc, cs: 1})
}
