//go:build cgo && !windows

// cublas.go: cuBLAS (libcublas.so.13, .12 or .11, found and chosen by
// libs.go and internal/nvlib): its version, handles and SGEMM.

package cuda

/*
#include <stdlib.h>
typedef int cublasStatus_t;
// libraryPropertyType (library_types.h): MAJOR_VERSION 0, MINOR_VERSION 1,
// PATCH_LEVEL 2.
typedef cublasStatus_t (*cublasGetProperty_t)(int, int *);
static cublasStatus_t call_cublasGetProperty(void *f, int type, int *v) { return ((cublasGetProperty_t)f)(type, v); }

typedef void *cublasHandle_t;
typedef cublasStatus_t (*f_blasCreate)(cublasHandle_t *);
typedef cublasStatus_t (*f_blasDestroy)(cublasHandle_t);
typedef cublasStatus_t (*f_blasSetStream)(cublasHandle_t, void *);
typedef cublasStatus_t (*f_blasSetMath)(cublasHandle_t, int);
typedef cublasStatus_t (*f_blasSetWorkspace)(cublasHandle_t, void *, size_t);
typedef const char *(*f_blasStatusString)(cublasStatus_t);
// cublasOperation_t: CUBLAS_OP_N 0, CUBLAS_OP_T 1. Column-major.
typedef cublasStatus_t (*f_sgemm)(cublasHandle_t, int, int, int, int, int, const float *, const float *, int,
                                  const float *, int, const float *, float *, int);
static cublasStatus_t c_blasCreate(void *f, cublasHandle_t *h) { return ((f_blasCreate)f)(h); }
static cublasStatus_t c_blasDestroy(void *f, cublasHandle_t h) { return ((f_blasDestroy)f)(h); }
static cublasStatus_t c_blasSetStream(void *f, cublasHandle_t h, void *s) { return ((f_blasSetStream)f)(h, s); }
static cublasStatus_t c_blasSetMath(void *f, cublasHandle_t h, int m) { return ((f_blasSetMath)f)(h, m); }
static cublasStatus_t c_blasSetWorkspace(void *f, cublasHandle_t h, unsigned long long ws, size_t n) {
	return ((f_blasSetWorkspace)f)(h, (void *)ws, n);
}
static const char *c_blasStatusString(void *f, cublasStatus_t s) { return ((f_blasStatusString)f)(s); }
static cublasStatus_t c_sgemm(void *f, cublasHandle_t h, int ta, int tb, int m, int n, int k, float alpha,
                              unsigned long long a, int lda, unsigned long long b, int ldb, float beta, unsigned long long c, int ldc) {
	return ((f_sgemm)f)(h, ta, tb, m, n, k, &alpha, (const float *)a, lda, (const float *)b, ldb, &beta, (float *)c, ldc);
}
*/
import "C"

import (
	"cmp"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/nvlib"
	"github.com/cnngpu/cnngpu/internal/trace"
)

var (
	blasOnce  sync.Once
	blasLib   *Library
	blasErr   error
	blasFn    map[string]unsafe.Pointer // the functions newBLAS uses
	blasFnErr error
)

// blasLibrary opens cuBLAS once: the newest the driver can run, where
// nvlib finds it (internal/nvlib: the system's search path,
// CNNGPU_LIBRARY_PATH, Python environments with NVIDIA's wheels,
// /usr/local/cuda/lib64); and looks up the functions the handles use
// (blasFn), so that no dlsym is left for newBLAS: on a preload
// (preload.go) one would wait for the loader's lock while cuDNN opens.
func blasLibrary() (*Library, error) {
	blasOnce.Do(func() {
		defer trace.Begin(trace.LoadBLAS).End()
		if blasLib, blasErr = OpenLibrary(nvlib.CUBLAS, describeBLAS); blasErr != nil {
			return
		}
		blasFn, blasFnErr = blasLib.Sym("cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2", "cublasSetMathMode",
			"cublasGetStatusString", "cublasSgemm_v2")
		if blasFnErr != nil {
			blasFnErr = &SetupError{Err: blasFnErr, Hint: UseCPU} // no hint to debug it
		}
		// cublasSetWorkspace is newer than some cuBLAS 11 releases:
		// without it, handles use cuBLAS's own workspace pool.
		if ws := blasLib.Lookup("cublasSetWorkspace_v2"); ws != nil && blasFnErr == nil {
			blasFn["cublasSetWorkspace_v2"] = ws
		}
	})
	return blasLib, blasErr
}

// describeBLAS reads a cuBLAS file's version; its major version is the
// CUDA major version it was built for.
func describeBLAS(sym func(string) unsafe.Pointer) (nvlib.Info, error) {
	f := sym("cublasGetProperty")
	if f == nil {
		return nvlib.Info{}, fmt.Errorf("lacks cublasGetProperty: not cuBLAS, or older than cuBLAS 11")
	}
	var v [3]C.int
	for i := range v {
		if st := C.call_cublasGetProperty(f, C.int(i), &v[i]); st != 0 {
			return nvlib.Info{}, fmt.Errorf("cublasGetProperty: status %d", int(st))
		}
	}
	return nvlib.Info{Version: fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), CUDAMajor: int(v[0])}, nil
}

// BLASLibrary loads cuBLAS and says which file was loaded, its version,
// from where, and the candidates tried before it.
func BLASLibrary() (*nvlib.Found, error) {
	l, err := blasLibrary()
	if err != nil {
		return nil, err
	}
	return l.Found, nil
}

// BLASUsable is why the cuBLAS found (BLASLibrary) cannot be used: it
// lacks a function the engine calls; nil where it has them all.
func BLASUsable() error {
	if _, err := blasLibrary(); err != nil {
		return err
	}
	return blasFnErr
}

// cuBLAS math modes (cublasMath_t).
const (
	MathDefault  = 0 // strict FP32 (no tensor cores for SGEMM)
	MathPedantic = 2
	MathTF32     = 3 // CUBLAS_TF32_TENSOR_OP_MATH
)

// blas is one cuBLAS handle on one stream, with a workspace of its own.
type blas struct {
	c      *Context
	handle C.cublasHandle_t
	fn     map[string]unsafe.Pointer
	lib    string
	ws     Ptr // the handle's workspace (0 where cuBLAS lacks cublasSetWorkspace)
}

func newBLAS(c *Context) (*blas, error) {
	defer trace.Begin(trace.BLASHandle).End()
	var l *Library
	var err error
	WaitPreloaded(&blasBegun, func() { l, err = blasLibrary() })
	if err != nil {
		return nil, err
	}
	if blasFnErr != nil {
		return nil, blasFnErr
	}
	lib, fn := l.Found.File(), blasFn
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	return (&blas{c: c, fn: fn, lib: lib}).another(c.Stream(), MathDefault)
}

// blasWorkspace is the bytes of each handle's workspace: what cuBLAS's
// documentation of cublasSetWorkspace recommends, 32 MiB on Hopper and
// newer, 4 MiB before.
func blasWorkspace(d Device) int {
	if d.ComputeMajor >= 9 {
		return 32 << 20
	}
	return 4 << 20
}

// BLASError is a failed cuBLAS call with cuBLAS's own status string.
type BLASError struct {
	Func   string
	Status int
	Desc   string
}

func (e *BLASError) Error() string {
	return fmt.Sprintf("%s: cuBLAS status %d: %s", e.Func, e.Status, e.Desc)
}

func (b *blas) check(fn string, st C.cublasStatus_t) error {
	if st == 0 {
		return nil
	}
	return &BLASError{Func: fn, Status: int(st), Desc: C.GoString(C.c_blasStatusString(b.fn["cublasGetStatusString"], st))}
}

// close destroys the handle and frees its workspace; the context is
// current and the handle's stream has finished.
func (b *blas) close() (err error) {
	if b.handle != nil {
		err = b.check("cublasDestroy_v2", C.c_blasDestroy(b.fn["cublasDestroy_v2"], b.handle))
		b.handle = nil
	}
	if b.ws != 0 {
		err = cmp.Or(err, b.c.Free(b.ws))
		b.ws = 0
	}
	return err
}

// SetMathMode selects strict FP32 (MathDefault) or TF32 tensor cores, for
// the context's cuBLAS handle and those of lanes made after.
func (c *Context) SetMathMode(mode int) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	if err := c.blas.check("cublasSetMathMode", C.c_blasSetMath(c.blas.fn["cublasSetMathMode"], c.blas.handle, C.int(mode))); err != nil {
		return err
	}
	c.mathMode = mode
	return nil
}

// another makes a handle of b's library on stream, in math mode, with a
// workspace of its own (so that cuBLAS allocates none while a graph is
// recorded, and two handles never share one); the context is current.
func (b *blas) another(stream unsafe.Pointer, math int) (_ *blas, err error) {
	o := &blas{c: b.c, fn: b.fn, lib: b.lib}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	if err := o.check("cublasCreate_v2", C.c_blasCreate(b.fn["cublasCreate_v2"], &o.handle)); err != nil {
		return nil, err
	}
	if err := o.check("cublasSetStream_v2", C.c_blasSetStream(b.fn["cublasSetStream_v2"], o.handle, stream)); err != nil {
		return nil, err
	}
	// After cublasSetStream, which resets the workspace to cuBLAS's own.
	if f := b.fn["cublasSetWorkspace_v2"]; f != nil {
		n := blasWorkspace(b.c.Device)
		p, err := b.c.Alloc(n)
		if err != nil {
			return nil, fmt.Errorf("cuBLAS's workspace: %w", err)
		}
		o.ws = p
		if err := o.check("cublasSetWorkspace_v2", C.c_blasSetWorkspace(f, o.handle, C.ulonglong(p), C.size_t(n))); err != nil {
			return nil, err
		}
	}
	if err := o.check("cublasSetMathMode", C.c_blasSetMath(b.fn["cublasSetMathMode"], o.handle, C.int(math))); err != nil {
		return nil, err
	}
	return o, nil
}

// firstSgemm: the process has queued a cuBLAS product (trace.First).
var firstSgemm atomic.Bool

// SgemmRowMajor queues C = alpha·op(A)·op(B) + beta·C for row-major
// matrices: C is m×n with row stride ldc, op(A) m×k, op(B) k×n; transA
// means A is stored k×m (row stride lda), likewise transB. It runs as the
// column-major product Cᵀ = op(B)ᵀ·op(A)ᵀ.
func (c *Context) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a Ptr, lda int, b Ptr, ldb int, beta float32, out Ptr, ldc int) error {
	return c.sgemm(c.blas, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc, func(what string, err error) error { return c.Checked(what, err) })
}

// SgemmRowMajorOn is SgemmRowMajor queued on lane l.
func (c *Context) SgemmRowMajorOn(l *Lane, transA, transB bool, m, n, k int, alpha float32, a Ptr, lda int, b Ptr, ldb int, beta float32, out Ptr, ldc int) error {
	l.mustBLAS()
	return c.sgemm(l.blas, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc, func(what string, err error) error { return c.CheckedOn(l, what, err) })
}

func (c *Context) sgemm(h *blas, transA, transB bool, m, n, k int, alpha float32, a Ptr, lda int, b Ptr, ldb int, beta float32, out Ptr, ldc int, checked func(string, error) error) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	defer trace.First(&firstSgemm, trace.FirstBLAS).End()
	op := func(t bool) C.int {
		if t {
			return 1
		}
		return 0
	}
	return checked("cublasSgemm_v2", h.check("cublasSgemm_v2", C.c_sgemm(h.fn["cublasSgemm_v2"], h.handle, op(transB), op(transA),
		C.int(n), C.int(m), C.int(k), C.float(alpha), C.ulonglong(b), C.int(ldb), C.ulonglong(a), C.int(lda), C.float(beta), C.ulonglong(out), C.int(ldc))))
}
