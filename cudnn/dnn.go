//go:build cgo && !windows

// dnn.go: a cuDNN handle on a stream and 2-D convolutions (forward,
// backward data, backward filter), each direction's algorithm chosen by
// cudnnFind…Algorithm when the direction is first prepared (inference
// searches the forward direction only) and run in the math type cuDNN
// timed it in. Every status becomes an error carrying cudnnGetErrorString.

package cudnn

/*
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>
typedef int cudnnStatus_t;
typedef void *cudnnHandle_t;
typedef void *cudnnTensorDescriptor_t;
typedef void *cudnnFilterDescriptor_t;
typedef void *cudnnConvolutionDescriptor_t;

// cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t: the three share this
// layout (cudnn_cnn.h): algo, status, time, memory, determinism, mathType,
// reserved[3]; 48 bytes.
typedef struct {
	int algo;
	cudnnStatus_t status;
	float time;
	size_t memory;
	int determinism;
	int mathType;
	int reserved[3];
} perf_t;

typedef cudnnStatus_t (*f_create)(cudnnHandle_t *);
typedef cudnnStatus_t (*f_destroy)(cudnnHandle_t);
typedef cudnnStatus_t (*f_setStream)(cudnnHandle_t, void *);
typedef const char *(*f_errstr)(cudnnStatus_t);
typedef cudnnStatus_t (*f_createDesc)(void **);
typedef cudnnStatus_t (*f_destroyDesc)(void *);
// cudnnSetTensor4dDescriptor(desc, format, dataType, n, c, h, w)
typedef cudnnStatus_t (*f_setTensor4d)(void *, int, int, int, int, int, int);
// cudnnSetFilter4dDescriptor(desc, dataType, format, k, c, h, w)
typedef cudnnStatus_t (*f_setFilter4d)(void *, int, int, int, int, int, int);
// cudnnSetConvolution2dDescriptor(desc, pad_h, pad_w, u, v, dil_h, dil_w, mode, computeType)
typedef cudnnStatus_t (*f_setConv2d)(void *, int, int, int, int, int, int, int, int);
typedef cudnnStatus_t (*f_setMath)(void *, int);
// Find*Algorithm(handle, in1, in2, conv, out, requested, *returned, perf)
typedef cudnnStatus_t (*f_find)(cudnnHandle_t, void *, void *, void *, void *, int, int *, perf_t *);
// cudnnConvolutionForward(h, alpha, xD, x, wD, w, convD, algo, ws, wsSize, beta, yD, y)
// cudnnConvolutionBackwardData(h, alpha, wD, w, dyD, dy, convD, algo, ws, wsSize, beta, dxD, dx)
// cudnnConvolutionBackwardFilter(h, alpha, xD, x, dyD, dy, convD, algo, ws, wsSize, beta, dwD, dw)
typedef cudnnStatus_t (*f_conv)(cudnnHandle_t, const void *, void *, const void *, void *, const void *, void *, int,
                                void *, size_t, const void *, void *, void *);

static cudnnStatus_t c_create(void *f, cudnnHandle_t *h) { return ((f_create)f)(h); }
static cudnnStatus_t c_destroy(void *f, cudnnHandle_t h) { return ((f_destroy)f)(h); }
static cudnnStatus_t c_setStream(void *f, cudnnHandle_t h, void *s) { return ((f_setStream)f)(h, s); }
static const char *c_errstr(void *f, cudnnStatus_t s) { return ((f_errstr)f)(s); }
static cudnnStatus_t c_createDesc(void *f, void **d) { return ((f_createDesc)f)(d); }
static cudnnStatus_t c_destroyDesc(void *f, void *d) { return ((f_destroyDesc)f)(d); }
static cudnnStatus_t c_setTensor4d(void *f, void *d, int n, int c, int h, int w) { return ((f_setTensor4d)f)(d, 0, 0, n, c, h, w); }
static cudnnStatus_t c_setFilter4d(void *f, void *d, int k, int c, int h, int w) { return ((f_setFilter4d)f)(d, 0, 0, k, c, h, w); }
static cudnnStatus_t c_setConv2d(void *f, void *d, int pad) { return ((f_setConv2d)f)(d, pad, pad, 1, 1, 1, 1, 1, 0); }
static cudnnStatus_t c_setMath(void *f, void *d, int m) { return ((f_setMath)f)(d, m); }
static cudnnStatus_t c_find(void *f, cudnnHandle_t h, void *a, void *b, void *c, void *d, int req, int *ret, perf_t *perf) {
	return ((f_find)f)(h, a, b, c, d, req, ret, perf);
}
// cudnnGetConvolution{Forward,BackwardData,BackwardFilter}WorkspaceSize(h,
// in1, in2, conv, out, algo, *bytes): the descriptors in Find's order.
typedef cudnnStatus_t (*f_wsSize)(cudnnHandle_t, void *, void *, void *, void *, int, size_t *);
static cudnnStatus_t c_wsSize(void *f, cudnnHandle_t h, void *a, void *b, void *c, void *d, int algo, size_t *bytes) {
	return ((f_wsSize)f)(h, a, b, c, d, algo, bytes);
}
static cudnnStatus_t c_conv(void *f, cudnnHandle_t h, void *d1, unsigned long long p1, void *d2, unsigned long long p2,
                            void *conv, int algo, unsigned long long ws, size_t wsSize, float beta, void *d3, unsigned long long p3) {
	float alpha = 1.0f;
	return ((f_conv)f)(h, &alpha, d1, (const void *)p1, d2, (const void *)p2, conv, algo, (void *)ws, wsSize, &beta, d3, (void *)p3);
}
*/
import "C"

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// Data layout and type codes: CUDNN_TENSOR_NCHW 0, CUDNN_DATA_FLOAT 0 (fixed
// in the wrappers above); CUDNN_CROSS_CORRELATION 1.
//
// Math types (cudnnMathType_t).
const (
	MathDefault            = 0 // TF32 allowed on Ampere and newer
	MathTensorOp           = 1 // CUDNN_TENSOR_OP_MATH
	MathTensorOpConversion = 2 // CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
	MathFMA                = 3 // CUDNN_FMA_MATH: strict FP32, no tensor cores
)

var dnnFuncs = []string{
	"cudnnCreate", "cudnnDestroy", "cudnnSetStream", "cudnnGetErrorString",
	"cudnnCreateTensorDescriptor", "cudnnDestroyTensorDescriptor", "cudnnSetTensor4dDescriptor",
	"cudnnCreateFilterDescriptor", "cudnnDestroyFilterDescriptor", "cudnnSetFilter4dDescriptor",
	"cudnnCreateConvolutionDescriptor", "cudnnDestroyConvolutionDescriptor", "cudnnSetConvolution2dDescriptor",
	"cudnnSetConvolutionMathType",
	"cudnnFindConvolutionForwardAlgorithm", "cudnnFindConvolutionBackwardDataAlgorithm", "cudnnFindConvolutionBackwardFilterAlgorithm",
	"cudnnConvolutionForward", "cudnnConvolutionBackwardData", "cudnnConvolutionBackwardFilter",
	"cudnnGetConvolutionForwardWorkspaceSize", "cudnnGetConvolutionBackwardDataWorkspaceSize", "cudnnGetConvolutionBackwardFilterWorkspaceSize",
}

// Handle is a cuDNN handle bound to a stream.
type Handle struct {
	h   C.cudnnHandle_t
	fn  map[string]unsafe.Pointer
	lib string
}

// Error is a failed cuDNN call with cuDNN's own message.
type Error struct {
	Func   string
	Status int
	Desc   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: cuDNN status %d: %s", e.Func, e.Status, e.Desc)
}

func (h *Handle) check(fn string, st C.cudnnStatus_t) error {
	if st == 0 {
		return nil
	}
	return &Error{Func: fn, Status: int(st), Desc: C.GoString(C.c_errstr(h.fn["cudnnGetErrorString"], st))}
}

// New loads cuDNN and creates a handle on stream (the CUDA context must be
// current on this thread).
func New(stream unsafe.Pointer) (*Handle, error) {
	defer trace.Begin(trace.DNNHandle).End()
	var l *cuda.Library
	var err error
	cuda.WaitPreloaded(&begun, func() {
		if l, err = library(); err == nil && cuda.Preloading() && !cuda.Abandoned() {
			loadParts(l) // before cudnnCreate loads any itself
		}
	})
	if err != nil {
		return nil, err
	}
	if fnErr != nil {
		return nil, fnErr
	}
	h := &Handle{fn: maps.Clone(fns), lib: l.Found.File()}
	if err := h.check("cudnnCreate", C.c_create(h.fn["cudnnCreate"], &h.h)); err != nil {
		return nil, err
	}
	if err := h.check("cudnnSetStream", C.c_setStream(h.fn["cudnnSetStream"], h.h, stream)); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Close destroys the handle. cudnnDestroy waits for the device that is
// current, so the handle's CUDA context must be current on this thread.
func (h *Handle) Close() {
	if h.h != nil {
		C.c_destroy(h.fn["cudnnDestroy"], h.h)
		h.h = nil
	}
}

// Conv is a 2-D convolution (stride 1, square padding) of one shape with
// its descriptors and, per direction once prepared, the algorithm chosen.
// Each direction has a convolution descriptor of its own, set to the math
// type its algorithm was timed in.
type Conv struct {
	h       *Handle
	x, y    unsafe.Pointer    // tensor descriptors
	w       unsafe.Pointer    // filter descriptor
	conv    [3]unsafe.Pointer // a convolution descriptor per direction
	math    int               // the math type asked for
	algo    [3]int
	ws      [3]int // workspace of algo
	mathIn  [3]int // the math type algo runs in
	prepped [3]bool
	// Timed holds, per prepared direction, each algorithm that worked
	// and its best time in the timed rounds (ms), fastest first.
	Timed [3][]AlgoTime
}

// AlgoTime is one algorithm's best time in Prepare's timed rounds, the
// workspace it needs and the math type cuDNN timed it in.
type AlgoTime struct {
	Algo   int
	MS     float32
	Memory int
	Math   int
}

// The directions, indices of Conv.Timed.
const (
	DirForward = iota
	DirData
	DirFilter
)

// closeTo is how much slower than the fastest, in Prepare's timing, an
// algorithm may be and still be an alternative worth timing where the
// convolution is used (Alternatives): run alone, close algorithms time
// alike, but in a training step beside other work one can be the faster
// by 10% of the step; and cudnnFind's own times of an algorithm with a
// large workspace (FFT) can be twice its usual in one process, all five
// rounds (kernels/NOTES.md, "Measurements the code cites").
const closeTo = 2

// maxAlternatives bounds Alternatives: each costs a recording and
// tuneRounds timed steps in the first process that uses the shape.
const maxAlternatives = 3

// Alternatives returns direction dir's algorithms other than the one in
// use whose best time was within closeTo of the fastest, fastest first,
// at most maxAlternatives (none before Prepare). Workspace covers them.
func (cv *Conv) Alternatives(dir int) []int {
	var out []int
	t := cv.Timed[dir]
	for _, a := range t {
		if a.MS <= t[0].MS*closeTo && a.Algo != cv.Algo(dir) && len(out) < maxAlternatives {
			out = append(out, a.Algo)
		}
	}
	return out
}

// Required is the workspace direction dir's algorithm in use needs (its
// alternatives left out: Workspace covers them).
func (cv *Conv) Required(dir int) int { return cv.ws[dir] }

// KeepWithin leaves out of direction dir's alternatives those that need
// more workspace than bytes (the algorithm in use stays, whatever it
// needs): where memory is short, they are not worth it.
func (cv *Conv) KeepWithin(dir, bytes int) {
	cv.Timed[dir] = slices.DeleteFunc(cv.Timed[dir], func(a AlgoTime) bool {
		return a.Memory > bytes && a.Algo != cv.Algo(dir)
	})
}

// Algo is direction dir's algorithm in use.
func (cv *Conv) Algo(dir int) int { return cv.algo[dir] }

// Prepared reports whether direction dir has its algorithm.
func (cv *Conv) Prepared(dir int) bool { return cv.prepped[dir] }

// Use makes algo, one of Timed[dir], direction dir's algorithm, in the
// math type it was timed in.
func (cv *Conv) Use(dir, algo int) error {
	for _, a := range cv.Timed[dir] {
		if a.Algo == algo {
			if err := cv.setMath(dir, a.Math); err != nil {
				return err
			}
			cv.algo[dir], cv.ws[dir] = algo, a.Memory
			return nil
		}
	}
	panic("cudnn: Use of an algorithm that was not timed")
}

// setMath sets direction dir's descriptor to math type m.
func (cv *Conv) setMath(dir, m int) error {
	if err := cv.h.check("cudnnSetConvolutionMathType", C.c_setMath(cv.h.fn["cudnnSetConvolutionMathType"], cv.conv[dir], C.int(m))); err != nil {
		return err
	}
	cv.mathIn[dir] = m
	return nil
}

// allowed reports whether an algorithm cuDNN timed in math type m may run
// under the math type asked for: with strict FP32 (MathFMA), none that
// uses tensor cores.
func (cv *Conv) allowed(m int) bool {
	return cv.math != MathFMA || (m != MathTensorOp && m != MathTensorOpConversion)
}

// findRounds is how many times Prepare times each direction's algorithms
// after warmRounds untimed ones.
const (
	findRounds = 5
	warmRounds = 1
)

// NewConv describes x: (n,c,h,w) * w: (k,c,r,s) -> y: (n,k,p,q) with the
// given padding and math type. No algorithm is chosen yet: Prepare does,
// per direction.
func (h *Handle) NewConv(n, c, hh, ww, k, r, s, pad, math int) (_ *Conv, err error) {
	cv := &Conv{h: h, math: math}
	defer func() {
		if err != nil {
			cv.Close()
		}
	}()
	p, q := hh+2*pad-r+1, ww+2*pad-s+1
	// The descriptor goes through a local: cgo refuses a pointer into cv,
	// which holds Go pointers.
	mk := func(create string, d *unsafe.Pointer) error {
		var v unsafe.Pointer
		err := h.check(create, C.c_createDesc(h.fn[create], &v))
		*d = v
		return err
	}
	if err := mk("cudnnCreateTensorDescriptor", &cv.x); err != nil {
		return nil, err
	}
	if err := mk("cudnnCreateTensorDescriptor", &cv.y); err != nil {
		return nil, err
	}
	if err := mk("cudnnCreateFilterDescriptor", &cv.w); err != nil {
		return nil, err
	}
	if err := h.check("cudnnSetTensor4dDescriptor(x)", C.c_setTensor4d(h.fn["cudnnSetTensor4dDescriptor"], cv.x, C.int(n), C.int(c), C.int(hh), C.int(ww))); err != nil {
		return nil, err
	}
	if err := h.check("cudnnSetTensor4dDescriptor(y)", C.c_setTensor4d(h.fn["cudnnSetTensor4dDescriptor"], cv.y, C.int(n), C.int(k), C.int(p), C.int(q))); err != nil {
		return nil, err
	}
	if err := h.check("cudnnSetFilter4dDescriptor", C.c_setFilter4d(h.fn["cudnnSetFilter4dDescriptor"], cv.w, C.int(k), C.int(c), C.int(r), C.int(s))); err != nil {
		return nil, err
	}
	for dir := range cv.conv {
		if err := mk("cudnnCreateConvolutionDescriptor", &cv.conv[dir]); err != nil {
			return nil, err
		}
		if err := h.check("cudnnSetConvolution2dDescriptor", C.c_setConv2d(h.fn["cudnnSetConvolution2dDescriptor"], cv.conv[dir], C.int(pad))); err != nil {
			return nil, err
		}
		if err := cv.setMath(dir, math); err != nil {
			return nil, err
		}
	}
	return cv, nil
}

// finders are the cudnnFind…Algorithm of each direction.
var finders = [3]string{"cudnnFindConvolutionForwardAlgorithm", "cudnnFindConvolutionBackwardDataAlgorithm", "cudnnFindConvolutionBackwardFilterAlgorithm"}

// Prepare picks direction dir's algorithm, once: it runs cudnnFind… (each
// algorithm once) warmRounds times untimed, while the GPU's clocks rise
// from idle (they are left as found), then findRounds times, and takes
// the algorithm with the least best time among those that worked in every
// timed round, in a math type the one asked for allows, and sets the
// direction's descriptor to the math type cuDNN timed it in. (One run's
// order is noisy, and so were three timed rounds: kernels/NOTES.md,
// "Measurements the code cites".) cudnnFind allocates memory and waits
// for the device: not while a graph is being recorded.
func (cv *Conv) Prepare(dir int) error {
	if cv.prepped[dir] {
		return nil
	}
	args := [3][3]unsafe.Pointer{{cv.x, cv.w, cv.y}, {cv.w, cv.y, cv.x}, {cv.x, cv.y, cv.w}}[dir]
	h, name := cv.h, finders[dir]
	// cuDNN may return one algorithm more than once, in different math
	// types: each pair is a candidate.
	type pair struct{ algo, math int }
	type tally struct {
		best           float32
		rounds, memory int
	}
	seen := map[pair]*tally{}
	for round := -warmRounds; round < findRounds; round++ {
		var perf [8]C.perf_t
		var got C.int
		if err := h.check(name, C.c_find(h.fn[name], h.h, args[0], args[1], cv.conv[dir], args[2], 8, &got, &perf[0])); err != nil {
			return err
		}
		if round < 0 {
			continue
		}
		for i := 0; i < int(got); i++ {
			if perf[i].status != 0 || !cv.allowed(int(perf[i].mathType)) {
				continue
			}
			k := pair{int(perf[i].algo), int(perf[i].mathType)}
			t := seen[k]
			if t == nil {
				t = &tally{best: float32(perf[i].time)}
				seen[k] = t
			}
			t.best = min(t.best, float32(perf[i].time))
			t.rounds++
			t.memory = max(t.memory, int(perf[i].memory))
		}
	}
	var timed []AlgoTime
	for k, t := range seen {
		if t.rounds == findRounds {
			m := k.math
			if cv.math == MathFMA && m == MathDefault {
				m = MathFMA // no less strict than asked
			}
			timed = append(timed, AlgoTime{k.algo, t.best, t.memory, m})
		}
	}
	if len(timed) == 0 {
		return fmt.Errorf("%s: no algorithm works for this shape", name)
	}
	slices.SortFunc(timed, func(p, q AlgoTime) int {
		return cmp.Or(cmp.Compare(p.MS, q.MS), cmp.Compare(p.Algo, q.Algo), cmp.Compare(p.Math, q.Math))
	})
	// Each algorithm in its fastest math type.
	var best []AlgoTime
	for _, a := range timed {
		if !slices.ContainsFunc(best, func(b AlgoTime) bool { return b.Algo == a.Algo }) {
			best = append(best, a)
		}
	}
	cv.Timed[dir] = best
	if err := cv.Use(dir, best[0].Algo); err != nil {
		cv.Timed[dir] = nil
		return err
	}
	cv.prepped[dir] = true
	return nil
}

// wsSizers are the cudnnGetConvolution…WorkspaceSize of each direction.
var wsSizers = [3]string{"cudnnGetConvolutionForwardWorkspaceSize", "cudnnGetConvolutionBackwardDataWorkspaceSize", "cudnnGetConvolutionBackwardFilterWorkspaceSize"}

// algoCounts bounds each direction's algorithm numbers (cudnn_cnn.h:
// CUDNN_CONVOLUTION_{FWD,BWD_DATA,BWD_FILTER}_ALGO_COUNT).
var algoCounts = [3]int{8, 6, 7}

// Restore makes timed, a search's result remembered from an earlier
// process (Timed[dir] then), direction dir's choice without searching,
// with algo (one of them) in use. Nothing is trusted blindly: each
// algorithm must be one this direction can have, in a math type the one
// asked for allows, and cuDNN must still accept it for this shape in that
// math type and want the workspace remembered (a different cuDNN, driver
// or GPU answers otherwise). On any mismatch it returns an error and
// leaves the direction unprepared, for Prepare to search.
func (cv *Conv) Restore(dir int, timed []AlgoTime, algo int) (err error) {
	if cv.prepped[dir] {
		return fmt.Errorf("cudnn: Restore(%d) of a prepared direction", dir)
	}
	defer func() {
		if err != nil {
			// Back to the math type asked for, which Prepare searches in.
			cv.setMath(dir, cv.math)
		}
	}()
	if len(timed) == 0 || !slices.ContainsFunc(timed, func(a AlgoTime) bool { return a.Algo == algo }) {
		return fmt.Errorf("remembered choice: algorithm %d is not among the %d remembered", algo, len(timed))
	}
	args := [3][3]unsafe.Pointer{{cv.x, cv.w, cv.y}, {cv.w, cv.y, cv.x}, {cv.x, cv.y, cv.w}}[dir]
	name := wsSizers[dir]
	for i, a := range timed {
		switch {
		case a.Algo < 0 || a.Algo >= algoCounts[dir]:
			return fmt.Errorf("remembered choice: algorithm %d out of range for %s", a.Algo, finders[dir])
		case a.Math < MathDefault || a.Math > MathFMA || !cv.allowed(a.Math) || (cv.math == MathFMA && a.Math == MathDefault):
			// (Prepare writes MathDefault as MathFMA under strict FP32.)
			return fmt.Errorf("remembered choice: algorithm %d in math type %d, not allowed here", a.Algo, a.Math)
		case a.Memory < 0 || !(a.MS >= 0) || (i > 0 && a.MS < timed[i-1].MS):
			return fmt.Errorf("remembered choice: algorithm %d has a malformed time or workspace", a.Algo)
		case slices.ContainsFunc(timed[:i], func(b AlgoTime) bool { return b.Algo == a.Algo }):
			return fmt.Errorf("remembered choice: algorithm %d listed twice", a.Algo)
		}
		if err := cv.setMath(dir, a.Math); err != nil {
			return err
		}
		var bytes C.size_t
		if err := cv.h.check(name, C.c_wsSize(cv.h.fn[name], cv.h.h, args[0], args[1], cv.conv[dir], args[2], C.int(a.Algo), &bytes)); err != nil {
			return fmt.Errorf("remembered choice: algorithm %d: %w", a.Algo, err)
		}
		if int(bytes) != a.Memory {
			return fmt.Errorf("remembered choice: algorithm %d wants %d bytes of workspace, not the %d remembered", a.Algo, int(bytes), a.Memory)
		}
	}
	cv.Timed[dir] = slices.Clone(timed)
	if err := cv.Use(dir, algo); err != nil {
		cv.Timed[dir] = nil
		return err
	}
	cv.prepped[dir] = true
	return nil
}

// Timings is direction dir's search result in use, fastest first (nil
// before Prepare or Restore), for remembering it.
func (cv *Conv) Timings(dir int) []AlgoTime { return slices.Clone(cv.Timed[dir]) }

// Workspace is the most workspace direction dir's algorithm or its
// alternatives need (0 before Prepare).
func (cv *Conv) Workspace(dir int) int {
	n := cv.ws[dir]
	alts := cv.Alternatives(dir)
	for _, a := range cv.Timed[dir] {
		if slices.Contains(alts, a.Algo) {
			n = max(n, a.Memory)
		}
	}
	return n
}

// unprepared is the error of a convolution run before its direction was
// prepared: a programmer's error, but one that must not reach cuDNN.
func (cv *Conv) unprepared(dir int) error {
	if cv.prepped[dir] {
		return nil
	}
	return fmt.Errorf("cudnn: %s run before Prepare(%d)", [3]string{"cudnnConvolutionForward", "cudnnConvolutionBackwardData", "cudnnConvolutionBackwardFilter"}[dir], dir)
}

// firstConv: the process has queued a convolution of that direction
// (trace.First: where cuDNN loads the kernels it runs).
var firstConv [3]atomic.Bool

// Forward queues y = conv(x, w).
func (cv *Conv) Forward(x, w, y, ws uint64, wsBytes int) error {
	if err := cv.unprepared(DirForward); err != nil {
		return err
	}
	defer trace.First(&firstConv[DirForward], trace.FirstDNN).End()
	return cv.h.check("cudnnConvolutionForward", C.c_conv(cv.h.fn["cudnnConvolutionForward"], cv.h.h, cv.x, C.ulonglong(x), cv.w, C.ulonglong(w),
		cv.conv[DirForward], C.int(cv.algo[DirForward]), C.ulonglong(ws), C.size_t(wsBytes), 0, cv.y, C.ulonglong(y)))
}

// BackwardData queues dx = conv_transpose(dy, w).
func (cv *Conv) BackwardData(w, dy, dx, ws uint64, wsBytes int) error {
	if err := cv.unprepared(DirData); err != nil {
		return err
	}
	defer trace.First(&firstConv[DirData], trace.FirstDNN).End()
	return cv.h.check("cudnnConvolutionBackwardData", C.c_conv(cv.h.fn["cudnnConvolutionBackwardData"], cv.h.h, cv.w, C.ulonglong(w), cv.y, C.ulonglong(dy),
		cv.conv[DirData], C.int(cv.algo[DirData]), C.ulonglong(ws), C.size_t(wsBytes), 0, cv.x, C.ulonglong(dx)))
}

// BackwardFilter queues dw = correlation of x with dy.
func (cv *Conv) BackwardFilter(x, dy, dw, ws uint64, wsBytes int) error {
	return cv.BackwardFilterOn(cv.h, x, dy, dw, ws, wsBytes)
}

// BackwardFilterOn is BackwardFilter through handle h (another handle of
// the same device, on another stream).
func (cv *Conv) BackwardFilterOn(h *Handle, x, dy, dw, ws uint64, wsBytes int) error {
	if err := cv.unprepared(DirFilter); err != nil {
		return err
	}
	defer trace.First(&firstConv[DirFilter], trace.FirstDNN).End()
	return h.check("cudnnConvolutionBackwardFilter", C.c_conv(h.fn["cudnnConvolutionBackwardFilter"], h.h, cv.x, C.ulonglong(x), cv.y, C.ulonglong(dy),
		cv.conv[DirFilter], C.int(cv.algo[DirFilter]), C.ulonglong(ws), C.size_t(wsBytes), 0, cv.w, C.ulonglong(dw)))
}

// Close destroys the descriptors.
func (cv *Conv) Close() {
	h := cv.h
	for _, d := range []struct {
		fn string
		p  *unsafe.Pointer
	}{{"cudnnDestroyTensorDescriptor", &cv.x}, {"cudnnDestroyTensorDescriptor", &cv.y}, {"cudnnDestroyFilterDescriptor", &cv.w},
		{"cudnnDestroyConvolutionDescriptor", &cv.conv[0]}, {"cudnnDestroyConvolutionDescriptor", &cv.conv[1]},
		{"cudnnDestroyConvolutionDescriptor", &cv.conv[2]}} {
		if *d.p != nil {
			C.c_destroyDesc(h.fn[d.fn], *d.p)
			*d.p = nil
		}
	}
}
