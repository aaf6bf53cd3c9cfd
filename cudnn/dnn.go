//go:build cgo

// dnn.go: a cuDNN handle on a stream and 2-D convolutions (forward,
// backward data, backward filter) with the algorithms chosen once per shape
// by cudnnFind…Algorithm and a shared workspace. Every status becomes an
// error carrying cudnnGetErrorString.

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
	"slices"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/trace"
)

// Data layout and type codes: CUDNN_TENSOR_NCHW 0, CUDNN_DATA_FLOAT 0 (fixed
// in the wrappers above); CUDNN_CROSS_CORRELATION 1.
//
// Math types (cudnnMathType_t).
const (
	MathDefault = 0 // TF32 allowed on Ampere and newer
	MathFMA     = 3 // CUDNN_FMA_MATH: strict FP32, no tensor cores
)

var dnnFuncs = []string{
	"cudnnCreate", "cudnnDestroy", "cudnnSetStream", "cudnnGetErrorString",
	"cudnnCreateTensorDescriptor", "cudnnDestroyTensorDescriptor", "cudnnSetTensor4dDescriptor",
	"cudnnCreateFilterDescriptor", "cudnnDestroyFilterDescriptor", "cudnnSetFilter4dDescriptor",
	"cudnnCreateConvolutionDescriptor", "cudnnDestroyConvolutionDescriptor", "cudnnSetConvolution2dDescriptor",
	"cudnnSetConvolutionMathType",
	"cudnnFindConvolutionForwardAlgorithm", "cudnnFindConvolutionBackwardDataAlgorithm", "cudnnFindConvolutionBackwardFilterAlgorithm",
	"cudnnConvolutionForward", "cudnnConvolutionBackwardData", "cudnnConvolutionBackwardFilter",
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
	l, err := library()
	if err != nil {
		return nil, err
	}
	lib := l.Found.File()
	h := &Handle{fn: map[string]unsafe.Pointer{}, lib: lib}
	for _, n := range append(dnnFuncs, opsFuncs...) {
		p := l.Lookup(n)
		if p == nil {
			if slices.Contains(opsFuncs, n) {
				continue // needed only by the op that calls it (ops.go)
			}
			return nil, fmt.Errorf("%s lacks %s: cuDNN 8 or 9 is needed", lib, n)
		}
		h.fn[n] = p
	}
	if err := h.check("cudnnCreate", C.c_create(h.fn["cudnnCreate"], &h.h)); err != nil {
		return nil, err
	}
	return h, h.check("cudnnSetStream", C.c_setStream(h.fn["cudnnSetStream"], h.h, stream))
}

// Close destroys the handle.
func (h *Handle) Close() { C.c_destroy(h.fn["cudnnDestroy"], h.h) }

// Conv is a 2-D convolution (stride 1, square padding) of one shape with
// its descriptors and chosen algorithms.
type Conv struct {
	h                             *Handle
	x, y                          unsafe.Pointer // tensor descriptors
	w                             unsafe.Pointer // filter descriptor
	conv                          unsafe.Pointer
	FwdAlgo, BwdDataAlgo          int
	BwdFilterAlgo                 int
	FwdWS, BwdDataWS, BwdFilterWS int
	// Timed holds, per direction, each algorithm that worked and its
	// best time in the timed rounds (ms), fastest first.
	Timed [3][]AlgoTime
}

// AlgoTime is one algorithm's best time in NewConv's timed rounds and
// the workspace it needs.
type AlgoTime struct {
	Algo   int
	MS     float32
	Memory int
}

// The directions, indices of Conv.Timed.
const (
	DirForward = iota
	DirData
	DirFilter
)

// closeTo is how much slower than the fastest, in NewConv's timing, an
// algorithm may be and still be an alternative worth timing where the
// convolution is used (Alternatives): run alone, close algorithms time
// alike, but in a training step beside other work one can be the faster
// by 10% of the step (on an H200, conv2's filter gradient: FFT against
// the implicit GEMMs).
const closeTo = 1.25

// Alternatives returns direction dir's algorithms other than the one in
// use whose best time was within closeTo of the fastest, fastest first,
// at most two. Workspace covers them.
func (cv *Conv) Alternatives(dir int) []int {
	var out []int
	t := cv.Timed[dir]
	for _, a := range t {
		if a.MS <= t[0].MS*closeTo && a.Algo != cv.Algo(dir) && len(out) < 2 {
			out = append(out, a.Algo)
		}
	}
	return out
}

// Algo is direction dir's algorithm in use.
func (cv *Conv) Algo(dir int) int {
	return [3]int{cv.FwdAlgo, cv.BwdDataAlgo, cv.BwdFilterAlgo}[dir]
}

// Use makes algo, one of Timed[dir], direction dir's algorithm.
func (cv *Conv) Use(dir, algo int) {
	for _, a := range cv.Timed[dir] {
		if a.Algo == algo {
			switch dir {
			case DirForward:
				cv.FwdAlgo, cv.FwdWS = algo, a.Memory
			case DirData:
				cv.BwdDataAlgo, cv.BwdDataWS = algo, a.Memory
			default:
				cv.BwdFilterAlgo, cv.BwdFilterWS = algo, a.Memory
			}
			return
		}
	}
	panic("cudnn: Use of an algorithm that was not timed")
}

// findRounds is how many times NewConv times each direction's algorithms
// after warmRounds untimed ones.
const (
	findRounds = 5
	warmRounds = 1
)

// NewConv describes x: (n,c,h,w) * w: (k,c,r,s) -> y: (n,k,p,q) with the
// given padding and math type, and picks the fastest algorithm of each
// direction with cudnnFind…Algorithm (which runs each once), over
// findRounds rounds.
func (h *Handle) NewConv(n, c, hh, ww, k, r, s, pad, math int) (*Conv, error) {
	cv := &Conv{h: h}
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
	if err := mk("cudnnCreateConvolutionDescriptor", &cv.conv); err != nil {
		return nil, err
	}
	for _, e := range []error{
		h.check("cudnnSetTensor4dDescriptor(x)", C.c_setTensor4d(h.fn["cudnnSetTensor4dDescriptor"], cv.x, C.int(n), C.int(c), C.int(hh), C.int(ww))),
		h.check("cudnnSetTensor4dDescriptor(y)", C.c_setTensor4d(h.fn["cudnnSetTensor4dDescriptor"], cv.y, C.int(n), C.int(k), C.int(p), C.int(q))),
		h.check("cudnnSetFilter4dDescriptor", C.c_setFilter4d(h.fn["cudnnSetFilter4dDescriptor"], cv.w, C.int(k), C.int(c), C.int(r), C.int(s))),
		h.check("cudnnSetConvolution2dDescriptor", C.c_setConv2d(h.fn["cudnnSetConvolution2dDescriptor"], cv.conv, C.int(pad))),
		h.check("cudnnSetConvolutionMathType", C.c_setMath(h.fn["cudnnSetConvolutionMathType"], cv.conv, C.int(math))),
	} {
		if e != nil {
			cv.Close()
			return nil, e
		}
	}
	// pick runs cudnnFind… (each algorithm once) warmRounds times
	// untimed, while the GPU's clocks rise from idle (they are left as
	// found), then findRounds times, and takes the algorithm with the
	// least best time among those that worked in every timed round. (One
	// run's order is noisy: on an H200 one process chose a 68 µs
	// data-gradient algorithm where another chose a 45 µs one; with one
	// untimed and three timed rounds, one process in five chose a filter
	// gradient algorithm that made the step 26 µs slower.)
	pick := func(dir int, name string, a, b, c2, d unsafe.Pointer) (int, int, error) {
		type tally struct {
			best           float32
			rounds, memory int
		}
		seen := map[int]*tally{}
		for round := -warmRounds; round < findRounds; round++ {
			var perf [8]C.perf_t
			var got C.int
			if err := h.check(name, C.c_find(h.fn[name], h.h, a, b, c2, d, 8, &got, &perf[0])); err != nil {
				return 0, 0, err
			}
			if round < 0 {
				continue
			}
			for i := 0; i < int(got); i++ {
				if perf[i].status != 0 {
					continue
				}
				t := seen[int(perf[i].algo)]
				if t == nil {
					t = &tally{best: float32(perf[i].time)}
					seen[int(perf[i].algo)] = t
				}
				t.best = min(t.best, float32(perf[i].time))
				t.rounds++
				t.memory = max(t.memory, int(perf[i].memory))
			}
		}
		var timed []AlgoTime
		for algo, t := range seen {
			if t.rounds == findRounds {
				timed = append(timed, AlgoTime{algo, t.best, t.memory})
			}
		}
		if len(timed) == 0 {
			return 0, 0, fmt.Errorf("%s: no algorithm works for this shape", name)
		}
		slices.SortFunc(timed, func(p, q AlgoTime) int {
			if c := cmp.Compare(p.MS, q.MS); c != 0 {
				return c
			}
			return cmp.Compare(p.Algo, q.Algo)
		})
		cv.Timed[dir] = timed
		return timed[0].Algo, seen[timed[0].Algo].memory, nil
	}
	var err error
	if cv.FwdAlgo, cv.FwdWS, err = pick(0, "cudnnFindConvolutionForwardAlgorithm", cv.x, cv.w, cv.conv, cv.y); err != nil {
		cv.Close()
		return nil, err
	}
	if cv.BwdDataAlgo, cv.BwdDataWS, err = pick(1, "cudnnFindConvolutionBackwardDataAlgorithm", cv.w, cv.y, cv.conv, cv.x); err != nil {
		cv.Close()
		return nil, err
	}
	if cv.BwdFilterAlgo, cv.BwdFilterWS, err = pick(2, "cudnnFindConvolutionBackwardFilterAlgorithm", cv.x, cv.y, cv.conv, cv.w); err != nil {
		cv.Close()
		return nil, err
	}
	return cv, nil
}

// Workspace is the most workspace any direction's algorithm or its
// alternatives need.
func (cv *Conv) Workspace() int {
	n := max(cv.FwdWS, cv.BwdDataWS, cv.BwdFilterWS)
	for dir, t := range cv.Timed {
		for _, a := range t {
			if a.MS <= t[0].MS*closeTo || a.Algo == cv.Algo(dir) {
				n = max(n, a.Memory)
			}
		}
	}
	return n
}

// Forward queues y = conv(x, w).
func (cv *Conv) Forward(x, w, y, ws uint64, wsBytes int) error {
	return cv.h.check("cudnnConvolutionForward", C.c_conv(cv.h.fn["cudnnConvolutionForward"], cv.h.h, cv.x, C.ulonglong(x), cv.w, C.ulonglong(w),
		cv.conv, C.int(cv.FwdAlgo), C.ulonglong(ws), C.size_t(wsBytes), 0, cv.y, C.ulonglong(y)))
}

// BackwardData queues dx = conv_transpose(dy, w).
func (cv *Conv) BackwardData(w, dy, dx, ws uint64, wsBytes int) error {
	return cv.h.check("cudnnConvolutionBackwardData", C.c_conv(cv.h.fn["cudnnConvolutionBackwardData"], cv.h.h, cv.w, C.ulonglong(w), cv.y, C.ulonglong(dy),
		cv.conv, C.int(cv.BwdDataAlgo), C.ulonglong(ws), C.size_t(wsBytes), 0, cv.x, C.ulonglong(dx)))
}

// BackwardFilter queues dw = correlation of x with dy.
func (cv *Conv) BackwardFilter(x, dy, dw, ws uint64, wsBytes int) error {
	return cv.BackwardFilterOn(cv.h, x, dy, dw, ws, wsBytes)
}

// BackwardFilterOn is BackwardFilter through handle h (another handle of
// the same device, on another stream).
func (cv *Conv) BackwardFilterOn(h *Handle, x, dy, dw, ws uint64, wsBytes int) error {
	return h.check("cudnnConvolutionBackwardFilter", C.c_conv(h.fn["cudnnConvolutionBackwardFilter"], h.h, cv.x, C.ulonglong(x), cv.y, C.ulonglong(dy),
		cv.conv, C.int(cv.BwdFilterAlgo), C.ulonglong(ws), C.size_t(wsBytes), 0, cv.w, C.ulonglong(dw)))
}

// Close destroys the descriptors.
func (cv *Conv) Close() {
	h := cv.h
	if cv.x != nil {
		C.c_destroyDesc(h.fn["cudnnDestroyTensorDescriptor"], cv.x)
	}
	if cv.y != nil {
		C.c_destroyDesc(h.fn["cudnnDestroyTensorDescriptor"], cv.y)
	}
	if cv.w != nil {
		C.c_destroyDesc(h.fn["cudnnDestroyFilterDescriptor"], cv.w)
	}
	if cv.conv != nil {
		C.c_destroyDesc(h.fn["cudnnDestroyConvolutionDescriptor"], cv.conv)
	}
}
