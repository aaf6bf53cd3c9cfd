//go:build cgo && !windows

// fused.go: dense layers' products with their epilogues fused on
// cuBLASLt (DenseEnv): the forward product with its bias and ReLU, the
// weight gradient's with the bias gradient. A plan per product shape,
// epilogue and alignment of its buffers, made on first use outside
// recordings (a warm-up run comes first, and plans them in every mode but
// "cublas"); where cuBLASLt has none, the product runs apart from its
// epilogue. Each layer's two products are directions of the in-place
// tuning (tune.go: denseDir): in the "timed" mode the split product
// against the fused one with each of the heuristic's algorithms (fused
// only once timed, or remembered, choices.go, faster), in "cublaslt" the
// algorithms against each other.

package cuda

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
)

// gemmPlan is one fused product's plan (gpu.NewGemm): the algorithms
// cuBLASLt's heuristic offers (Algos, best first), the one in use (Algo),
// which Use changes for the products queued after it.
type gemmPlan interface {
	Close()
	Algos() int
	Algo() int
	// AlgoID names algorithm i by what it is, for remembering it.
	AlgoID(i int) string
	Use(i int)
}

// algoIndex is the index in p's list of the algorithm named id
// (AlgoID), or -1 where p does not offer it.
func algoIndex(p gemmPlan, id string) int {
	for i := range p.Algos() {
		if p.AlgoID(i) == id {
			return i
		}
	}
	return -1
}

// fusedBiasAlign is the alignment in bytes a fused product's bias vector
// must have (cuBLASLt reads and writes it as vectors).
const fusedBiasAlign = 16

// gemm returns the plan of the product spec whose epilogue's vector is
// at bias (its alignment becomes the spec's), made on first use (fresh);
// nil when cuBLASLt has no algorithm for it or bias is not aligned enough
// (run it apart), or when planning failed (ok false, the error recorded).
func (e *Engine) gemm(spec cu.GemmSpec, bias cu.Ptr) (p gemmPlan, fresh, ok bool) {
	if spec.AlignBias = cu.Alignment(bias); spec.AlignBias < fusedBiasAlign {
		return nil, false, true
	}
	p, seen := e.gemms[spec]
	if seen {
		return p, false, true
	}
	if e.recording {
		e.fail(bug("cuBLASLt product %+v planned during a graph recording (the warm-up run plans it)", spec))
		return nil, false, false
	}
	p, err := e.c.NewGemm(spec)
	if errors.Is(err, cu.ErrNoFusedAlgorithm) {
		e.gemms[spec] = nil
		return nil, false, true
	}
	if err != nil {
		err = fmt.Errorf("planning a dense layer's product on cuBLASLt: %w", err)
		var blas *cu.BLASError
		if e.dense == denseTimed && errors.As(err, &blas) && e.faulted() == nil {
			// An alternative to time, not what the user asked for:
			// the split product runs instead (a CUDA error, or a
			// device fault behind cuBLASLt's, is the context's, and
			// fails the step as any other).
			e.gemms[spec] = nil
			e.warnFused(spec, err)
			return nil, false, true
		}
		e.fail(err)
		return nil, false, false
	}
	e.gemms[spec] = p
	return p, true, true
}

// warnFused says once a process that a dense layer's product runs apart
// because cuBLASLt failed at it (DenseEnv "timed": the fused product is
// an alternative the tuning would have timed, so the step goes on).
func (e *Engine) warnFused(s cu.GemmSpec, err error) {
	e.fusedDrops++
	if fusedWarned.Swap(true) {
		return
	}
	layer := fmt.Sprintf("%d→%d", s.K, s.N)
	if s.Epilogue == cu.EpilogueBiasGradA {
		layer = fmt.Sprintf("%d→%d", s.N, s.M)
	}
	warnf("dense layer %s: %v\nthe product runs on cuBLAS instead, as with %s=cublas, and the run goes on\nhint: set %s=cublas to skip cuBLASLt; if it should work here, `cnngpu devices` shows the libraries found",
		layer, err, DenseEnv, DenseEnv)
}

// fusedWarned: warnFused has spoken in this process.
var fusedWarned atomic.Bool

// planFused returns the plan of direction pd's product of a, b and out
// with its vector at bias (gemm), and whether it runs fused (fuses). A
// new plan of a direction still to be timed runs each of its algorithms
// once on the main stream (what it writes, the op writes again), so that
// cuBLASLt loads their kernels now and not inside the recording that
// first times them; the op has declared what the product touches (use).
// ok false: planning failed, the error recorded.
func (e *Engine) planFused(spec cu.GemmSpec, pd planDir, a, b, out, bias cu.Ptr) (p gemmPlan, fused, ok bool) {
	p, fresh, ok := e.gemm(spec, bias)
	if !ok {
		return nil, false, false
	}
	fused = e.fuses(p, pd)
	if fresh && p != nil && !e.settled[pd] {
		for i := range p.Algos() {
			p.Use(i)
			err := e.c.Gemm(nil, p, a, b, out, bias)
			var blas *cu.BLASError
			if err != nil && e.dense == denseTimed && errors.As(err, &blas) && e.faulted() == nil {
				// cuBLASLt refused one of its own algorithms:
				// the split product instead (the op writes
				// out again). A CUDA error, or a device fault
				// behind cuBLASLt's, is the context's, and
				// fails the step as any other.
				e.dropGemm(spec, pd, p, fmt.Errorf("a dense layer's product on cuBLASLt, algorithm %d of %d: %w", i, p.Algos(), err))
				return nil, false, true
			}
			e.fail(err)
		}
		p.Use(0)
	}
	return p, fused, true
}

// dropGemm forgets the plan p of spec (direction pd) after err, so that
// the product runs apart from now on (DenseEnv "timed").
func (e *Engine) dropGemm(spec cu.GemmSpec, pd planDir, p gemmPlan, err error) {
	p.Close()
	e.gemms[spec] = nil
	if e.gemmDir[pd] == p {
		delete(e.gemmDir, pd)
		delete(e.usedDirs, pd)
	}
	delete(e.fusedOn, pd)
	e.warnFused(spec, err)
}

// spec is the GemmSpec of the row-major product out = op(a)·op(b) with
// epilogue epi, for a's, b's and out's alignments.
func spec(transA, transB bool, m, n, k int, a cu.Ptr, lda int, b cu.Ptr, ldb int, out cu.Ptr, ldc int, epi cu.Epilogue) cu.GemmSpec {
	return cu.GemmSpec{TransA: transA, TransB: transB, M: m, N: n, K: k, LDA: lda, LDB: ldb, LDC: ldc, Epilogue: epi,
		AlignA: cu.Alignment(a), AlignB: cu.Alignment(b), AlignC: cu.Alignment(out)}
}

// denseDir is the tuning's direction dir (dirDenseFwd, dirDenseWeight)
// of dense layer s: a plan direction of the 1×1 convolution the layer is.
func denseDir(s engine.DenseShape, dir int) planDir {
	return planDir{engine.ConvShape{N: s.N, C: s.In, H: 1, W: 1, K: s.Out, R: 1, S: 1}, dir}
}

// fuses reports whether the product planned as p (nil: cuBLASLt has
// none) of direction pd runs fused: always with DenseEnv "cublaslt";
// with "timed" as the tuning settled it, an earlier process remembered
// it, or the same layer's product at another batch size settled it
// (adoptDense; until then apart). Either way pd is one of the directions the
// recording uses, whose alternatives (fused or not, and which of the
// heuristic's algorithms) the tuning times.
func (e *Engine) fuses(p gemmPlan, pd planDir) bool {
	if p == nil {
		return false
	}
	e.gemmDir[pd] = p
	if !e.settled[pd] && !e.restoreDense(pd, p) && !e.recording {
		e.adoptDense(pd, p)
	}
	e.usedDirs[pd] = true
	return e.dense == denseLt || e.fusedOn[pd]
}

// fusedForward queues y = act(x·wᵀ + b) as one cuBLASLt product where
// DenseEnv has it so, and reports whether it did (false: run it apart).
// x: (N,In), w: (Out,In), y: (N,Out).
func (e *Engine) fusedForward(x, w, b, y engine.Tensor, s engine.DenseShape, act engine.Activation) bool {
	var epi cu.Epilogue
	switch {
	case e.dense == denseCUBLAS:
		return false
	case act == engine.Identity:
		epi = cu.EpilogueBias
	case act == engine.ReLU:
		epi = cu.EpilogueReLUBias
	default:
		return false
	}
	p, fused, ok := e.planFused(spec(false, true, s.N, s.Out, s.In, ptr(x), s.In, ptr(w), s.In, ptr(y), s.Out, epi),
		denseDir(s, dirDenseFwd), ptr(x), ptr(w), ptr(y), ptr(b))
	if !ok {
		return true // the error recorded
	}
	if !fused {
		return false
	}
	e.fail(e.c.Gemm(nil, p, ptr(x), ptr(w), ptr(y), ptr(b)))
	return true
}

// fusedWeightGrad is the plan of dw = dzᵀ·x with db = dz's column sums
// fused where DenseEnv has them so, else nil (ok false: the error
// recorded). dz: (N,Out), x: (N,In), dw: (Out,In).
func (e *Engine) fusedWeightGrad(dz region, x, dw, db engine.Tensor, s engine.DenseShape) (gemmPlan, bool) {
	if e.dense == denseCUBLAS {
		return nil, true
	}
	p, fused, ok := e.planFused(spec(true, false, s.Out, s.In, s.N, dz.lo, s.Out, ptr(x), s.In, ptr(dw), s.In, cu.EpilogueBiasGradA),
		denseDir(s, dirDenseWeight), dz.lo, ptr(x), ptr(dw), ptr(db))
	if !ok || !fused {
		return nil, ok
	}
	return p, true
}

// dirOf is the dense direction a fused product's spec belongs to.
func dirOf(s cu.GemmSpec) planDir {
	if s.Epilogue == cu.EpilogueBiasGradA {
		return denseDir(engine.DenseShape{N: s.K, In: s.N, Out: s.M}, dirDenseWeight)
	}
	return denseDir(engine.DenseShape{N: s.M, In: s.K, Out: s.N}, dirDenseFwd)
}

// FusedDense describes the dense layers (inputs→outputs) whose products
// run fused on cuBLASLt now, and which, for benchmarks ("" when none; in
// DenseEnv's "timed" mode the choice is timed at start, so it can differ
// between processes): e.g. "3136→1000: forward + bias + ReLU, weight +
// bias gradient".
func (e *Engine) FusedDense() string {
	if e.dense == denseCUBLAS {
		return ""
	}
	layers := map[string][]string{}
	for _, ep := range []cu.Epilogue{cu.EpilogueBias, cu.EpilogueReLUBias, cu.EpilogueBiasGradA} {
		for s, p := range e.gemms {
			if p == nil || s.Epilogue != ep || e.dense != denseLt && !e.fusedOn[dirOf(s)] {
				continue
			}
			// The forward product is batch×outputs×inputs, the
			// weight gradient's outputs×inputs×batch.
			layer, what := fmt.Sprintf("%d→%d", s.K, s.N), "forward + bias"
			switch ep {
			case cu.EpilogueReLUBias:
				what += " + ReLU"
			case cu.EpilogueBiasGradA:
				layer, what = fmt.Sprintf("%d→%d", s.N, s.M), "weight + bias gradient"
			}
			if !slices.Contains(layers[layer], what) {
				layers[layer] = append(layers[layer], what)
			}
		}
	}
	var out []string
	for l, whats := range layers {
		out = append(out, l+": "+strings.Join(whats, ", "))
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}

// closeGemms releases the fused products' plans.
func (e *Engine) closeGemms() {
	for s, p := range e.gemms {
		if p != nil {
			p.Close()
		}
		delete(e.gemms, s)
	}
	clear(e.gemmDir)
}

// recordFused records fn with each of dense direction pd's alternatives
// in place: the fused product with each of its plan's algorithms, where
// pd runs apart now ("timed"); the plan's other algorithms, where it runs
// fused. The plan's algorithm in use is left as it was.
func (e *Engine) recordFused(pd planDir, fn func()) []*tuneCand {
	p := e.gemmDir[pd]
	if p == nil || e.dense == denseCUBLAS {
		return nil
	}
	fused := e.dense == denseLt || e.fusedOn[pd]
	was := p.Algo()
	defer p.Use(was)
	var out []*tuneCand
	for i := range p.Algos() {
		if fused && i == was {
			continue // the recording being timed against
		}
		p.Use(i)
		c := tuneCand{at: pd, fused: true, algo: i}
		if fused {
			g, _, err := e.capture(fn)
			if err != nil {
				e.loseIfOOM(pd, err)
				continue
			}
			c.g = g
			out = append(out, &c)
			continue
		}
		out = append(out, e.recordSwapped(e.fusedOn, fn, c)...)
	}
	return out
}
