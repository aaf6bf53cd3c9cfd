//go:build cgo && !windows

// cublaslt.go: cuBLASLt (libcublasLt, the one cuBLAS itself runs on): a
// product with a fused epilogue (bias and ReLU after a dense layer's
// product, or the bias gradient beside its weight gradient's), planned
// once per shape (descriptors and the heuristic's algorithm, LtPlan) and
// queued on the context's stream or a lane's, with that stream's cuBLAS
// workspace.

package cuda

/*
#include <stddef.h>
#include <stdint.h>
typedef int cublasStatus_t;
typedef void *ltHandle;
typedef void *ltDesc;   // cublasLtMatmulDesc_t
typedef void *ltLayout; // cublasLtMatrixLayout_t
typedef void *ltPref;   // cublasLtMatmulPreference_t
typedef struct { uint64_t data[8]; } ltAlgo; // cublasLtMatmulAlgo_t
// cublasLtMatmulHeuristicResult_t (scripts/abi-check.c checks the layout).
typedef struct {
	ltAlgo algo;
	size_t workspaceSize;
	cublasStatus_t state;
	float wavesCount;
	int reserved[4];
} ltResult;
typedef cublasStatus_t (*f_ltCreate)(ltHandle *);
typedef cublasStatus_t (*f_ltDestroy)(ltHandle);
// cublasComputeType_t, cudaDataType_t.
typedef cublasStatus_t (*f_ltDescCreate)(ltDesc *, int, int);
typedef cublasStatus_t (*f_ltDescDestroy)(ltDesc);
typedef cublasStatus_t (*f_ltDescSet)(ltDesc, int, const void *, size_t);
typedef cublasStatus_t (*f_ltLayoutCreate)(ltLayout *, int, uint64_t, uint64_t, int64_t);
typedef cublasStatus_t (*f_ltLayoutDestroy)(ltLayout);
typedef cublasStatus_t (*f_ltPrefCreate)(ltPref *);
typedef cublasStatus_t (*f_ltPrefDestroy)(ltPref);
typedef cublasStatus_t (*f_ltPrefSet)(ltPref, int, const void *, size_t);
typedef cublasStatus_t (*f_ltHeuristic)(ltHandle, ltDesc, ltLayout, ltLayout, ltLayout, ltLayout, ltPref, int, ltResult *, int *);
typedef cublasStatus_t (*f_ltMatmul)(ltHandle, ltDesc, const void *, const void *, ltLayout, const void *, ltLayout, const void *,
                                     const void *, ltLayout, void *, ltLayout, const ltAlgo *, void *, size_t, void *);
typedef const char *(*f_ltStatusString)(cublasStatus_t);

static cublasStatus_t c_ltCreate(void *f, ltHandle *h) { return ((f_ltCreate)f)(h); }
static cublasStatus_t c_ltDestroy(void *f, ltHandle h) { return ((f_ltDestroy)f)(h); }
static cublasStatus_t c_ltDescCreate(void *f, ltDesc *d, int compute, int scale) { return ((f_ltDescCreate)f)(d, compute, scale); }
static cublasStatus_t c_ltDescDestroy(void *f, ltDesc d) { return ((f_ltDescDestroy)f)(d); }
static cublasStatus_t c_ltDescSetInt(void *f, ltDesc d, int attr, int32_t v) { return ((f_ltDescSet)f)(d, attr, &v, sizeof v); }
static cublasStatus_t c_ltDescSetPtr(void *f, ltDesc d, int attr, unsigned long long p) {
	void *v = (void *)p;
	return ((f_ltDescSet)f)(d, attr, &v, sizeof v);
}
static cublasStatus_t c_ltLayoutCreate(void *f, ltLayout *l, uint64_t rows, uint64_t cols, int64_t ld) {
	return ((f_ltLayoutCreate)f)(l, 0, rows, cols, ld); // CUDA_R_32F
}
static cublasStatus_t c_ltLayoutDestroy(void *f, ltLayout l) { return ((f_ltLayoutDestroy)f)(l); }
static cublasStatus_t c_ltPrefCreate(void *f, ltPref *p) { return ((f_ltPrefCreate)f)(p); }
static cublasStatus_t c_ltPrefDestroy(void *f, ltPref p) { return ((f_ltPrefDestroy)f)(p); }
static cublasStatus_t c_ltPrefSet64(void *f, ltPref p, int attr, uint64_t v) { return ((f_ltPrefSet)f)(p, attr, &v, sizeof v); }
static cublasStatus_t c_ltPrefSet32(void *f, ltPref p, int attr, uint32_t v) { return ((f_ltPrefSet)f)(p, attr, &v, sizeof v); }
static cublasStatus_t c_ltHeuristic(void *f, ltHandle h, ltDesc d, ltLayout a, ltLayout b, ltLayout c, ltPref p, int want, ltResult *r,
                                    int *n) {
	return ((f_ltHeuristic)f)(h, d, a, b, c, c, p, want, r, n);
}
static cublasStatus_t c_ltMatmul(void *f, ltHandle h, ltDesc d, unsigned long long a, ltLayout la, unsigned long long b, ltLayout lb,
                                 unsigned long long out, ltLayout lc, const ltAlgo *algo, unsigned long long ws, size_t wsBytes, void *stream) {
	float one = 1, zero = 0;
	return ((f_ltMatmul)f)(h, d, &one, (const void *)a, la, (const void *)b, lb, &zero, (const void *)out, lc, (void *)out, lc, algo,
	                       (void *)ws, wsBytes, stream);
}
static const char *c_ltStatusString(void *f, cublasStatus_t s) { return ((f_ltStatusString)f)(s); }
*/
import "C"

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/trace"
)

// Epilogue is what a fused product does to its result, in the row-major
// terms of GemmSpec (out is m×n, op(A) m×k).
type Epilogue int

// The epilogues the network uses; each value is cuBLASLt's own
// (cublasLtEpilogue_t) for the column-major product cuBLASLt computes,
// outᵀ = op(B)ᵀ·op(A)ᵀ.
const (
	// EpilogueNone: out = op(A)·op(B).
	EpilogueNone Epilogue = 1 // CUBLASLT_EPILOGUE_DEFAULT
	// EpilogueBias: out[i][j] += bias[j] (bias has n elements).
	EpilogueBias Epilogue = 4 // CUBLASLT_EPILOGUE_BIAS
	// EpilogueReLUBias: out[i][j] = max(0, out[i][j] + bias[j]).
	EpilogueReLUBias Epilogue = 6 // CUBLASLT_EPILOGUE_RELU_BIAS
	// EpilogueBiasGradA: also bias[i] = Σ_k op(A)[i][k] (m elements):
	// the bias gradient beside a weight gradient dzᵀ·x. op(A) is
	// cuBLASLt's B, whence BGRADB.
	EpilogueBiasGradA Epilogue = 512 // CUBLASLT_EPILOGUE_BGRADB
)

// GemmSpec is one product with a fused epilogue, row-major as
// SgemmRowMajor's: out (m×n, row stride LDC) = op(A)·op(B), op(A) m×k,
// op(B) k×n; TransA means A is stored k×m. Align* are the alignments in
// bytes (powers of two up to 256, Alignment) the plan's algorithm may
// assume of A, B, out and the epilogue's vector; a pointer less aligned
// needs another plan.
type GemmSpec struct {
	TransA, TransB                    bool
	M, N, K                           int
	LDA, LDB, LDC                     int
	Epilogue                          Epilogue
	AlignA, AlignB, AlignC, AlignBias int
}

// Alignment is the largest power of two, up to 256, that divides p.
func Alignment(p Ptr) int {
	a := 1
	for a < 256 && p%Ptr(2*a) == 0 {
		a *= 2
	}
	return a
}

// ErrNoFusedAlgorithm: cuBLASLt has no algorithm for a GemmSpec (its
// heuristic found none, the library or this precision lacks the
// epilogue, or cuBLASLt's functions could not be found beside cuBLAS);
// the caller runs the product and its epilogue apart.
var ErrNoFusedAlgorithm = errors.New("cuBLASLt has no algorithm for this product and epilogue")

// cuBLASLt's enum values (scripts/abi-check.c checks them).
const (
	ltComputeF32     = 68 // CUBLAS_COMPUTE_32F
	ltComputeTF32    = 77 // CUBLAS_COMPUTE_32F_FAST_TF32
	ltDescTransA     = 3  // CUBLASLT_MATMUL_DESC_TRANSA
	ltDescTransB     = 4  // CUBLASLT_MATMUL_DESC_TRANSB
	ltDescEpilogue   = 7  // CUBLASLT_MATMUL_DESC_EPILOGUE
	ltDescBias       = 8  // CUBLASLT_MATMUL_DESC_BIAS_POINTER
	ltPrefWorkspace  = 1  // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
	ltPrefAlignA     = 5  // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES (B, C, D follow)
	statInvalidValue = 7  // CUBLAS_STATUS_INVALID_VALUE
	statNotSupported = 15 // CUBLAS_STATUS_NOT_SUPPORTED
)

// unsupported reports whether st is how cuBLASLt refuses what it lacks
// (an epilogue value older releases do not know, a combination no
// algorithm covers), as against a failure.
func unsupported(st C.cublasStatus_t) bool { return st == statInvalidValue || st == statNotSupported }

// ltResult's size is the header's (scripts/abi-check.c): a compile-time
// check of our declaration.
var _ = [1]struct{}{}[unsafe.Sizeof(C.ltResult{})-96]

var (
	ltOnce sync.Once
	ltFn   map[string]unsafe.Pointer
	ltErr  error
)

// ltLibrary resolves cuBLASLt's functions from the libcublasLt cuBLAS
// loaded: the soname of cuBLAS's major version (from cuBLAS's folder when
// the system said which file it loaded), which the dynamic loader matches
// to the copy already in the process.
func ltLibrary() (map[string]unsafe.Pointer, error) {
	ltOnce.Do(func() {
		b, err := blasLibrary()
		if err != nil {
			ltErr = err
			return
		}
		name := fmt.Sprintf("libcublasLt.so.%d", b.Found.Major)
		if dir := b.Folder(); dir != "" {
			name = filepath.Join(dir, name)
		}
		h, err := dlopenOne(name, false)
		if err != nil {
			ltErr = fmt.Errorf("cuBLASLt (%s, beside %s): %w", name, b.Found.File(), err)
			return
		}
		ltFn, ltErr = dlsym(h, name, "cublasLtCreate", "cublasLtDestroy", "cublasLtMatmulDescCreate", "cublasLtMatmulDescDestroy",
			"cublasLtMatmulDescSetAttribute", "cublasLtMatrixLayoutCreate", "cublasLtMatrixLayoutDestroy",
			"cublasLtMatmulPreferenceCreate", "cublasLtMatmulPreferenceDestroy", "cublasLtMatmulPreferenceSetAttribute",
			"cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul", "cublasLtGetStatusString")
	})
	return ltFn, ltErr
}

// ltCheck turns a cuBLASLt status into a BLASError naming fn.
func ltCheck(fn string, st C.cublasStatus_t) error {
	if st == 0 {
		return nil
	}
	desc := "unknown status"
	if f := ltFn["cublasLtGetStatusString"]; f != nil {
		desc = C.GoString(C.c_ltStatusString(f, st))
	}
	return &BLASError{Func: fn, Status: int(st), Desc: desc}
}

// LtPlan is one GemmSpec's descriptors and the algorithms cuBLASLt's
// heuristic offers for it, one of them in use (Use), for LtMatmul on the
// context that made it; Close releases it.
type LtPlan struct {
	c          *Context
	Spec       GemmSpec
	desc       C.ltDesc
	la, lb, ld C.ltLayout
	algos      []C.ltAlgo
	workspace  []int // bytes each algorithm asks for
	cur        int
}

// LtAlgorithms is how many of the heuristic's algorithms a plan keeps,
// best first, for timing in place.
const LtAlgorithms = 4

// NewLtPlan plans s: its descriptors, and up to LtAlgorithms of the
// algorithms cuBLASLt's heuristic offers for s's alignments, a workspace
// no larger than a cuBLAS handle's, and the context's math mode (strict
// FP32, or TF32 tensor cores), the first in use. ErrNoFusedAlgorithm when
// there is none.
func (c *Context) NewLtPlan(s GemmSpec) (_ *LtPlan, err error) {
	defer trace.Begin(trace.LtPlan).End()
	fn, err := ltLibrary()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoFusedAlgorithm, err)
	}
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	if c.lt == nil {
		var h C.ltHandle
		sp := trace.Begin(trace.LtHandle)
		st := C.c_ltCreate(fn["cublasLtCreate"], &h)
		sp.End()
		if err := ltCheck("cublasLtCreate", st); err != nil {
			return nil, err
		}
		c.lt = unsafe.Pointer(h)
	}
	p := &LtPlan{c: c, Spec: s}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	compute := C.int(ltComputeF32)
	if c.mathMode == MathTF32 {
		compute = ltComputeTF32
	}
	if err := ltCheck("cublasLtMatmulDescCreate", C.c_ltDescCreate(fn["cublasLtMatmulDescCreate"], &p.desc, compute, 0 /* CUDA_R_32F */)); err != nil {
		return nil, err
	}
	op := func(t bool) C.int32_t {
		if t {
			return 1
		}
		return 0
	}
	// cuBLASLt's product is column-major: outᵀ (n×m) = op(B)ᵀ·op(A)ᵀ, so
	// its A is our B and its B our A; a row-major r×c matrix is a
	// column-major c×r one with the same stride.
	set := fn["cublasLtMatmulDescSetAttribute"]
	for _, a := range []struct {
		attr int
		v    C.int32_t
	}{{ltDescTransA, op(s.TransB)}, {ltDescTransB, op(s.TransA)}, {ltDescEpilogue, C.int32_t(s.Epilogue)}} {
		st := C.c_ltDescSetInt(set, p.desc, C.int(a.attr), a.v)
		if a.attr == ltDescEpilogue && unsupported(st) {
			return nil, fmt.Errorf("%w: epilogue %d refused (%v)", ErrNoFusedAlgorithm, s.Epilogue, ltCheck("cublasLtMatmulDescSetAttribute", st))
		}
		if err := ltCheck("cublasLtMatmulDescSetAttribute", st); err != nil {
			return nil, err
		}
	}
	stored := func(rows, cols int, trans bool) (uint64, uint64) {
		if trans {
			return uint64(cols), uint64(rows)
		}
		return uint64(rows), uint64(cols)
	}
	// Our B is k×n (n×k stored when TransB): column-major n×k (k×n).
	br, bc := stored(s.N, s.K, s.TransB)
	ar, ac := stored(s.K, s.M, s.TransA)
	mk := fn["cublasLtMatrixLayoutCreate"]
	if err := ltCheck("cublasLtMatrixLayoutCreate", C.c_ltLayoutCreate(mk, &p.la, C.uint64_t(br), C.uint64_t(bc), C.int64_t(s.LDB))); err != nil {
		return nil, err
	}
	if err := ltCheck("cublasLtMatrixLayoutCreate", C.c_ltLayoutCreate(mk, &p.lb, C.uint64_t(ar), C.uint64_t(ac), C.int64_t(s.LDA))); err != nil {
		return nil, err
	}
	if err := ltCheck("cublasLtMatrixLayoutCreate", C.c_ltLayoutCreate(mk, &p.ld, C.uint64_t(s.N), C.uint64_t(s.M), C.int64_t(s.LDC))); err != nil {
		return nil, err
	}
	var pref C.ltPref
	if err := ltCheck("cublasLtMatmulPreferenceCreate", C.c_ltPrefCreate(fn["cublasLtMatmulPreferenceCreate"], &pref)); err != nil {
		return nil, err
	}
	defer C.c_ltPrefDestroy(fn["cublasLtMatmulPreferenceDestroy"], pref)
	ws := 0
	if c.blas != nil && c.blas.ws != 0 {
		ws = blasWorkspace(c.Device)
	}
	pset := fn["cublasLtMatmulPreferenceSetAttribute"]
	if err := ltCheck("cublasLtMatmulPreferenceSetAttribute", C.c_ltPrefSet64(pset, pref, ltPrefWorkspace, C.uint64_t(ws))); err != nil {
		return nil, err
	}
	// The alignments of cuBLASLt's A (our B), B (our A), C and D (out).
	for i, al := range []int{s.AlignB, s.AlignA, s.AlignC, s.AlignC} {
		if err := ltCheck("cublasLtMatmulPreferenceSetAttribute", C.c_ltPrefSet32(pset, pref, C.int(ltPrefAlignA+i), C.uint32_t(cmp.Or(al, 256)))); err != nil {
			return nil, err
		}
	}
	// The heuristic reads no vector, but takes the alignment it may
	// assume from the pointer set: one of the vector's alignment.
	if s.Epilogue != EpilogueNone {
		if err := ltCheck("cublasLtMatmulDescSetAttribute", C.c_ltDescSetPtr(set, p.desc, ltDescBias, C.ulonglong(cmp.Or(s.AlignBias, 256)))); err != nil {
			return nil, err
		}
	}
	var res [LtAlgorithms]C.ltResult
	var n C.int
	st := C.c_ltHeuristic(fn["cublasLtMatmulAlgoGetHeuristic"], C.ltHandle(c.lt), p.desc, p.la, p.lb, p.ld, pref, LtAlgorithms, &res[0], &n)
	// NOT_SUPPORTED: no algorithm for this product. INVALID_VALUE here
	// would be a descriptor or layout of ours that cuBLASLt refuses: an
	// error, not a quiet fallback.
	if st == statNotSupported {
		return nil, fmt.Errorf("%w (%+v)", ErrNoFusedAlgorithm, s)
	}
	if err := ltCheck("cublasLtMatmulAlgoGetHeuristic", st); err != nil {
		return nil, err
	}
	for _, r := range res[:min(int(n), LtAlgorithms)] {
		if r.state == 0 && int(r.workspaceSize) <= ws {
			p.algos, p.workspace = append(p.algos, r.algo), append(p.workspace, int(r.workspaceSize))
		}
	}
	if len(p.algos) == 0 {
		return nil, fmt.Errorf("%w (%+v)", ErrNoFusedAlgorithm, s)
	}
	return p, nil
}

// Algos is how many algorithms p offers; Algo is the one in use, which
// Use changes (for the products queued after it).
func (p *LtPlan) Algos() int { return len(p.algos) }
func (p *LtPlan) Algo() int  { return p.cur }

// AlgoID names algorithm i of p by its configuration (the start of the
// SHA-256 of cuBLASLt's opaque cublasLtMatmulAlgo_t: algorithm, tile,
// stages, split-K and the like), the same in every process that gets it
// from the heuristic, unlike its place in the heuristic's list.
func (p *LtPlan) AlgoID(i int) string {
	b := C.GoBytes(unsafe.Pointer(&p.algos[i]), C.int(unsafe.Sizeof(p.algos[i])))
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
func (p *LtPlan) Use(i int) {
	if i < 0 || i >= len(p.algos) {
		panic("cuda: LtPlan.Use of an algorithm the plan does not have")
	}
	p.cur = i
}

// Close releases the plan's descriptors (the context current or not:
// they are host memory).
func (p *LtPlan) Close() {
	fn := ltFn
	if p.desc != nil {
		C.c_ltDescDestroy(fn["cublasLtMatmulDescDestroy"], p.desc)
		p.desc = nil
	}
	for _, l := range []*C.ltLayout{&p.la, &p.lb, &p.ld} {
		if *l != nil {
			C.c_ltLayoutDestroy(fn["cublasLtMatrixLayoutDestroy"], *l)
			*l = nil
		}
	}
}

// firstLt: the process has queued a cuBLASLt product (trace.First).
var firstLt atomic.Bool

// LtMatmul queues plan p on lane l (nil: the context's stream): out =
// op(a)·op(b) with p's epilogue, bias its vector (read for a bias, written
// for a bias gradient; 0 for EpilogueNone). Each pointer must be as
// aligned as p.Spec says.
func (c *Context) LtMatmul(l *Lane, p *LtPlan, a, b, out, bias Ptr) error {
	if p.c != c || p.desc == nil {
		panic("cuda: LtMatmul with a plan of another context, or closed")
	}
	s := p.Spec
	if Alignment(a) < s.AlignA || Alignment(b) < s.AlignB || Alignment(out) < s.AlignC || s.Epilogue != EpilogueNone && Alignment(bias) < s.AlignBias {
		panic("cuda: LtMatmul with a pointer less aligned than its plan")
	}
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	defer trace.First(&firstLt, trace.FirstBLASLt).End()
	stream, h := c.stream, c.blas
	if l != nil {
		l.mustBLAS()
		stream, h = l.stream, l.blas
	}
	if s.Epilogue != EpilogueNone {
		if err := ltCheck("cublasLtMatmulDescSetAttribute", C.c_ltDescSetPtr(ltFn["cublasLtMatmulDescSetAttribute"], p.desc, ltDescBias, C.ulonglong(bias))); err != nil {
			return err
		}
	}
	ws := 0
	if p.workspace[p.cur] > 0 {
		ws = blasWorkspace(c.Device)
	}
	err := ltCheck("cublasLtMatmul", C.c_ltMatmul(ltFn["cublasLtMatmul"], C.ltHandle(c.lt), p.desc, C.ulonglong(b), p.la, C.ulonglong(a), p.lb,
		C.ulonglong(out), p.ld, &p.algos[p.cur], C.ulonglong(h.ws), C.size_t(ws), unsafe.Pointer(stream)))
	return c.checkedOn(stream, "cublasLtMatmul", err)
}

// closeLt destroys the context's cuBLASLt handle; the context is current.
func (c *Context) closeLt() error {
	if c.lt == nil {
		return nil
	}
	err := ltCheck("cublasLtDestroy", C.c_ltDestroy(ltFn["cublasLtDestroy"], C.ltHandle(c.lt)))
	c.lt = nil
	return err
}
