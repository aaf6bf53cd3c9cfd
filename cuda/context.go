//go:build cgo && !windows

// context.go: a GPU context for one engine: the device's primary context,
// one stream, our kernels loaded from a fatbin (SASS where it has the GPU's
// architecture, else its PTX through the driver's JIT, whose error log
// goes in the error), device memory, copies, kernel launches, events, CUDA-graph
// capture and cuBLAS SGEMM, every call checked.

package cuda

/*
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUstream;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUevent;
typedef void *CUgraph;
typedef void *CUgraphExec;
typedef unsigned long long CUdeviceptr;

typedef CUresult (*f_deviceGet)(CUdevice *, int);
typedef CUresult (*f_ctxRetain)(CUcontext *, CUdevice);
typedef CUresult (*f_ctxRelease)(CUdevice);
typedef CUresult (*f_ctxSet)(CUcontext);
typedef CUresult (*f_ctxSync)(void);
typedef CUresult (*f_streamCreate)(CUstream *, unsigned int);
typedef CUresult (*f_streamCreatePrio)(CUstream *, unsigned int, int);
typedef CUresult (*f_prioRange)(int *, int *);
typedef CUresult (*f_streamDestroy)(CUstream);
typedef CUresult (*f_streamSync)(CUstream);
typedef CUresult (*f_memAlloc)(CUdeviceptr *, size_t);
typedef CUresult (*f_memFree)(CUdeviceptr);
typedef CUresult (*f_memGetInfo)(size_t *, size_t *);
typedef CUresult (*f_htod)(CUdeviceptr, const void *, size_t, CUstream);
typedef CUresult (*f_dtoh)(void *, CUdeviceptr, size_t, CUstream);
typedef CUresult (*f_dtod)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
typedef CUresult (*f_memsetD8)(CUdeviceptr, unsigned char, size_t, CUstream);
typedef CUresult (*f_moduleLoad)(CUmodule *, const void *, unsigned int, int *, void **);
typedef CUresult (*f_moduleUnload)(CUmodule);
typedef CUresult (*f_getFunction)(CUfunction *, CUmodule, const char *);
typedef CUresult (*f_launch)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
                             unsigned int, CUstream, void **, void **);
typedef CUresult (*f_eventCreate)(CUevent *, unsigned int);
typedef CUresult (*f_streamWaitEvent)(CUstream, CUevent, unsigned int);
typedef CUresult (*f_eventDestroy)(CUevent);
typedef CUresult (*f_eventRecord)(CUevent, CUstream);
typedef CUresult (*f_eventRecordFlags)(CUevent, CUstream, unsigned int);
typedef CUresult (*f_eventSync)(CUevent);
typedef CUresult (*f_eventElapsed)(float *, CUevent, CUevent);
typedef CUresult (*f_beginCapture)(CUstream, int);
typedef CUresult (*f_endCapture)(CUstream, CUgraph *);
typedef CUresult (*f_instantiate)(CUgraphExec *, CUgraph, unsigned long long);
typedef CUresult (*f_graphLaunch)(CUgraphExec, CUstream);
typedef CUresult (*f_graphExecDestroy)(CUgraphExec);
typedef CUresult (*f_graphDestroy)(CUgraph);

static CUresult c_deviceGet(void *f, CUdevice *d, int i) { return ((f_deviceGet)f)(d, i); }
static CUresult c_ctxRetain(void *f, CUcontext *c, CUdevice d) { return ((f_ctxRetain)f)(c, d); }
static CUresult c_ctxRelease(void *f, CUdevice d) { return ((f_ctxRelease)f)(d); }
static CUresult c_ctxSet(void *f, CUcontext c) { return ((f_ctxSet)f)(c); }
static CUresult c_ctxSync(void *f) { return ((f_ctxSync)f)(); }
static CUresult c_streamCreate(void *f, CUstream *s, unsigned int fl) { return ((f_streamCreate)f)(s, fl); }
static CUresult c_streamCreatePrio(void *f, CUstream *s, unsigned int fl, int prio) { return ((f_streamCreatePrio)f)(s, fl, prio); }
static CUresult c_prioRange(void *f, int *least, int *greatest) { return ((f_prioRange)f)(least, greatest); }
static CUresult c_streamDestroy(void *f, CUstream s) { return ((f_streamDestroy)f)(s); }
static CUresult c_streamSync(void *f, CUstream s) { return ((f_streamSync)f)(s); }
static CUresult c_memAlloc(void *f, CUdeviceptr *p, size_t n) { return ((f_memAlloc)f)(p, n); }
static CUresult c_memFree(void *f, CUdeviceptr p) { return ((f_memFree)f)(p); }
static CUresult c_memGetInfo(void *f, size_t *fr, size_t *tot) { return ((f_memGetInfo)f)(fr, tot); }
static CUresult c_htod(void *f, CUdeviceptr d, const void *s, size_t n, CUstream st) { return ((f_htod)f)(d, s, n, st); }
static CUresult c_dtoh(void *f, void *d, CUdeviceptr s, size_t n, CUstream st) { return ((f_dtoh)f)(d, s, n, st); }
static CUresult c_dtod(void *f, CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) { return ((f_dtod)f)(d, s, n, st); }
static CUresult c_memsetD8(void *f, CUdeviceptr d, unsigned char v, size_t n, CUstream st) { return ((f_memsetD8)f)(d, v, n, st); }
static CUresult c_moduleUnload(void *f, CUmodule m) { return ((f_moduleUnload)f)(m); }
static CUresult c_getFunction(void *f, CUfunction *fn, CUmodule m, const char *name) { return ((f_getFunction)f)(fn, m, name); }
static CUresult c_launch(void *f, CUfunction fn, unsigned int gx, unsigned int bx, CUstream st, void **params) {
	return ((f_launch)f)(fn, gx, 1, 1, bx, 1, 1, 0, st, params, NULL);
}
static CUresult c_eventCreate(void *f, CUevent *e) { return ((f_eventCreate)f)(e, 0); }
// CU_EVENT_DISABLE_TIMING (2): events that only order streams.
static CUresult c_eventCreateOrder(void *f, CUevent *e) { return ((f_eventCreate)f)(e, 2); }
static CUresult c_streamWaitEvent(void *f, CUstream s, CUevent e) { return ((f_streamWaitEvent)f)(s, e, 0); }
static CUresult c_eventDestroy(void *f, CUevent e) { return ((f_eventDestroy)f)(e); }
static CUresult c_eventRecord(void *f, CUevent e, CUstream s) { return ((f_eventRecord)f)(e, s); }
// CU_EVENT_RECORD_EXTERNAL (1): in a stream capture, an event record node
// the host can wait on and time with, instead of an ordering edge.
static CUresult c_eventRecordExternal(void *f, CUevent e, CUstream s) { return ((f_eventRecordFlags)f)(e, s, 1); }
static CUresult c_eventSync(void *f, CUevent e) { return ((f_eventSync)f)(e); }
static CUresult c_eventElapsed(void *f, float *ms, CUevent a, CUevent b) { return ((f_eventElapsed)f)(ms, a, b); }
static CUresult c_beginCapture(void *f, CUstream s, int mode) { return ((f_beginCapture)f)(s, mode); }
static CUresult c_endCapture(void *f, CUstream s, CUgraph *g) { return ((f_endCapture)f)(s, g); }
static CUresult c_instantiate(void *f, CUgraphExec *e, CUgraph g, unsigned long long fl) { return ((f_instantiate)f)(e, g, fl); }
static CUresult c_graphLaunch(void *f, CUgraphExec e, CUstream s) { return ((f_graphLaunch)f)(e, s); }
static CUresult c_graphExecDestroy(void *f, CUgraphExec e) { return ((f_graphExecDestroy)f)(e); }
static CUresult c_graphDestroy(void *f, CUgraph g) { return ((f_graphDestroy)f)(g); }

// JIT options (CUjit_option): INFO_LOG_BUFFER 3, INFO_LOG_BUFFER_SIZE_BYTES 4,
// ERROR_LOG_BUFFER 5, ERROR_LOG_BUFFER_SIZE_BYTES 6.
static CUresult c_moduleLoad(void *f, CUmodule *m, const void *image, char *errlog, size_t errsize) {
	int opts[2] = {5, 6};
	void *vals[2] = {errlog, (void *)(uintptr_t)errsize};
	return ((f_moduleLoad)f)(m, image, 2, opts, vals);
}
*/
import "C"

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/envflag"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// Ptr is a device address.
type Ptr uint64

// Context is one device's primary context with one stream and a module of
// kernels. Its methods may be called from any goroutine, one at a time:
// each makes the context current on the calling thread first.
type Context struct {
	Device  Device
	dev     C.CUdevice
	ctx     C.CUcontext
	stream  C.CUstream
	module  C.CUmodule
	funcs   map[string]C.CUfunction
	fn      map[string]unsafe.Pointer
	params  unsafe.Pointer // C memory for kernel arguments: 32 values, then 32 pointers
	blas    *blas
	lt      unsafe.Pointer // cuBLASLt's handle (cublaslt.go), made by the first LtPlan
	elapsed string
	// debug (CNNGPU_DEBUG=1) waits after every launch and library call
	// outside a recording, so errors name their cause.
	debug     bool
	capturing bool
	mathMode  int // cuBLAS math mode, for lanes' handles
	// launched: the kernels launched so far, while tracing (a kernel's
	// first launch is where the driver loads it: trace.FirstLaunch).
	launched map[string]bool
	// prio: streams have priorities (Options.Priorities); lanePrio is
	// the compute lanes', least the bare lanes'.
	prio            bool
	lanePrio, least C.int
}

// Options are OpenWith's choices.
type Options struct {
	// Priorities makes one side's work go first where the main stream's
	// and a compute lane's (NewLane) wait for the same multiprocessors:
	// that side's streams get the device's greatest stream priority, the
	// other's the least, and graphs keep their kernels' priorities
	// (CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY: a recording copies
	// each kernel's from its stream). Bare lanes (NewBareLane: copies,
	// other libraries' work beside the training) get the least either
	// way.
	Priorities Priority
}

// Priority is which streams' work goes first (Options).
type Priority int

const (
	SamePriority Priority = iota // every stream alike (CUDA's default)
	MainFirst                    // the main stream's
	LanesFirst                   // the lanes'
)

var contextFuncs = []string{
	"cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent", "cuCtxSynchronize",
	"cuStreamCreate", "cuStreamCreateWithPriority", "cuCtxGetStreamPriorityRange", "cuStreamDestroy_v2", "cuStreamSynchronize", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemGetInfo_v2",
	"cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2", "cuMemsetD8Async", "cuModuleLoadDataEx", "cuModuleUnload",
	"cuModuleGetFunction", "cuLaunchKernel", "cuEventCreate", "cuEventDestroy_v2", "cuEventRecord", "cuEventSynchronize",
	"cuStreamBeginCapture_v2", "cuStreamEndCapture", "cuGraphInstantiateWithFlags", "cuGraphLaunch", "cuGraphExecDestroy",
	"cuGraphDestroy", "cuStreamWaitEvent",
}

var (
	ctxSymOnce sync.Once
	ctxSyms    map[string]unsafe.Pointer
	ctxSymErr  error
)

// DriverUsable returns an error where the driver does not start or lacks
// a function the engine calls (a driver older than CUDA 11.4 lacks
// cuGraphInstantiateWithFlags): what cnngpu devices checks of it.
func DriverUsable() error {
	if err := Load(); err != nil {
		return err
	}
	_, err := contextSyms()
	return err
}

// contextSyms looks up, once, the driver functions of a context
// (contextFuncs, and the event timer's newest name: CUDA 12.8+ drivers
// export a _v2 beside the original). The map is only read afterwards;
// each Context holds it. Call after Load succeeded.
func contextSyms() (map[string]unsafe.Pointer, error) {
	ctxSymOnce.Do(func() {
		if drv == nil {
			ctxSymErr = errors.New("contextSyms before the driver was loaded") // Open and Preload call Load first
			return
		}
		if ctxSyms, ctxSymErr = dlsym(drv.handle, driverPath(drv.fn["cuInit"]), contextFuncs...); ctxSymErr != nil {
			return
		}
		var err error
		for _, n := range []string{"cuEventElapsedTime_v2", "cuEventElapsedTime"} {
			var m map[string]unsafe.Pointer
			if m, err = dlsym(drv.handle, "libcuda.so.1", n); err == nil {
				ctxSyms[n] = m[n]
				break
			}
		}
		if err != nil {
			ctxSyms, ctxSymErr = nil, err // neither: not a libcuda this engine can time with
			return
		}
		// Optional (CUDA 11.1 and later): only Mark needs it.
		if m, err := dlsym(drv.handle, "libcuda.so.1", "cuEventRecordWithFlags"); err == nil {
			ctxSyms["cuEventRecordWithFlags"] = m["cuEventRecordWithFlags"]
		}
	})
	if ctxSymErr != nil {
		// A driver without what the engine calls: the message says so,
		// with no hint to debug it.
		return nil, &SetupError{Err: ctxSymErr, Hint: UseCPU}
	}
	return ctxSyms, nil
}

// Open makes a context on GPU index, with the module image loaded and the
// kernels names resolved. image is what cuModuleLoadDataEx takes: a fatbin
// (kernels.Fatbin: the driver loads the SASS for the GPU's architecture if
// it has one, else compiles its PTX) or PTX text; ptx is the PTX it
// carries, whose .target line is the oldest GPU it serves. It fails with a
// message that lists the GPUs when index does not exist, and in plain
// words, before making a context, when the GPU is older than that target.
// On any failure it releases what it made.
func Open(index int, image []byte, ptx string, kernels []string) (*Context, error) {
	return OpenWith(index, image, ptx, kernels, Options{})
}

// OpenWith is Open with opt's choices.
func OpenWith(index int, image []byte, ptx string, kernels []string, opt Options) (_ *Context, err error) {
	devs, err := Devices()
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(devs) {
		list := ""
		for _, d := range devs {
			if d.Err != nil {
				list += fmt.Sprintf("\n  GPU %d: not described by the driver (%v)", d.Index, d.Err)
				continue
			}
			list += fmt.Sprintf("\n  GPU %d: %s", d.Index, d.Name)
		}
		return nil, setup(&NoSuchDeviceError{index, list})
	}
	if err := devs[index].Err; err != nil {
		return nil, setup(fmt.Errorf("GPU %d: the driver could not describe it (%w): it may be in a bad state (nvidia-smi tells); use another GPU (--device N, %s lists them) or --cpu", index, err, shell.Command("devices")))
	}
	if err := checkTarget(devs[index], ptx); err != nil {
		return nil, err
	}
	fn, err := contextSyms()
	if err != nil {
		return nil, err
	}
	c := &Context{Device: devs[index], fn: fn, funcs: map[string]C.CUfunction{}, debug: envflag.On("CNNGPU_DEBUG")}
	if _, ok := fn["cuEventElapsedTime_v2"]; ok {
		c.elapsed = "cuEventElapsedTime_v2"
	} else {
		c.elapsed = "cuEventElapsedTime"
	}
	if err := drv.check("cuDeviceGet", C.c_deviceGet(drv.fn["cuDeviceGet"], &c.dev, C.int(index))); err != nil {
		return nil, err
	}
	cx := trace.Begin(trace.Context) // ended once the stream is made
	if err := drv.check("cuDevicePrimaryCtxRetain", C.c_ctxRetain(fn["cuDevicePrimaryCtxRetain"], &c.ctx, c.dev)); err != nil {
		return nil, err
	}
	// From here on a failure releases what was made (Close releases what
	// is there), so that a caller falling back to the CPU holds no GPU
	// memory.
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	if err := c.mainStream(opt.Priorities); err != nil {
		return nil, err
	}
	cx.End()
	mod := trace.Begin(trace.LoadKernels) // ended once every kernel is found
	// The image goes over in C memory, all of it: the driver finds a
	// fatbin's length (NUL bytes and all) in its header, and reads a PTX
	// image up to a NUL, which follows the image here.
	cimage := C.malloc(C.size_t(len(image) + 1))
	defer C.free(cimage)
	dst := unsafe.Slice((*byte)(cimage), len(image)+1)
	dst[copy(dst, image)] = 0
	const logSize = 16 << 10
	errlog := (*C.char)(C.calloc(logSize, 1))
	defer C.free(unsafe.Pointer(errlog))
	if err := drv.check("cuModuleLoadDataEx", C.c_moduleLoad(fn["cuModuleLoadDataEx"], &c.module, cimage, errlog, logSize)); err != nil {
		return nil, loadError(err, c.Device, ptx, C.GoString(errlog))
	}
	for _, k := range kernels {
		ck := C.CString(k)
		var f C.CUfunction
		err := drv.check("cuModuleGetFunction("+k+")", C.c_getFunction(fn["cuModuleGetFunction"], &f, c.module, ck))
		C.free(unsafe.Pointer(ck))
		if err != nil {
			return nil, err
		}
		c.funcs[k] = f
	}
	mod.End()
	if c.params = C.calloc(64, 8); c.params == nil {
		return nil, errors.New("allocating 512 bytes of host memory for kernel arguments failed")
	}
	if c.blas, err = newBLAS(c); err != nil {
		return nil, err
	}
	return c, nil
}

// mainStream makes the context's stream, with its priority where p
// gives the streams priorities.
func (c *Context) mainStream(p Priority) error {
	if p == SamePriority {
		return drv.check("cuStreamCreate", C.c_streamCreate(c.fn["cuStreamCreate"], &c.stream, 1 /* CU_STREAM_NON_BLOCKING */))
	}
	var least, greatest C.int
	if err := drv.check("cuCtxGetStreamPriorityRange", C.c_prioRange(c.fn["cuCtxGetStreamPriorityRange"], &least, &greatest)); err != nil {
		return err
	}
	main := greatest
	c.prio, c.lanePrio, c.least = true, least, least
	if p == LanesFirst {
		main, c.lanePrio = least, greatest
	}
	return drv.check("cuStreamCreateWithPriority", C.c_streamCreatePrio(c.fn["cuStreamCreateWithPriority"], &c.stream, 1, main))
}

// newStream makes a lane's stream where the context's streams have
// priorities: a compute lane's (NewLane) with the lanes' priority, a bare
// lane's with the least.
func (c *Context) newStream(s *C.CUstream, compute bool) error {
	var made C.CUstream
	var err error
	if c.prio {
		p := c.least
		if compute {
			p = c.lanePrio
		}
		err = drv.check("cuStreamCreateWithPriority", C.c_streamCreatePrio(c.fn["cuStreamCreateWithPriority"], &made, 1, p))
	} else {
		err = drv.check("cuStreamCreate", C.c_streamCreate(c.fn["cuStreamCreate"], &made, 1 /* CU_STREAM_NON_BLOCKING */))
	}
	*s = made
	return err
}

// loadError is the error of cuModuleLoadDataEx for our kernels on GPU d,
// with the JIT's log when it wrote one, in plain words for the two
// failures a user can act on: a driver too old for the PTX (on a GPU the
// fatbin has no SASS for, which the driver compiles the PTX for) and an
// image with nothing for the GPU.
func loadError(err error, d Device, ptx, log string) error {
	gpu := fmt.Sprintf("GPU %d (%s, compute capability %d.%d)", d.Index, d.Name, d.ComputeMajor, d.ComputeMinor)
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case 222: // CUDA_ERROR_UNSUPPORTED_PTX_VERSION
			isa := "?"
			if m := ptxVersion.FindStringSubmatch(ptx); m != nil {
				isa = m[1]
			}
			err = &SetupError{Err: fmt.Errorf("%w\nthe NVIDIA driver is too old to compile our kernels' PTX (ISA %s), and they have no SASS for compute capability %d.%d: "+
				"update the driver (520 or newer compiles it; docs/gpu.md says what each CUDA version needs)", err, isa, d.ComputeMajor, d.ComputeMinor), Hint: ", or use --cpu"}
		case 209: // CUDA_ERROR_NO_BINARY_FOR_GPU
			err = &SetupError{Err: fmt.Errorf("%w\nour kernels have neither SASS for compute capability %d.%d nor PTX this driver can compile for it: "+
				"use another GPU with --device (cnngpu devices lists them)", err, d.ComputeMajor, d.ComputeMinor), Hint: otherOrCPU}
		}
	}
	if log = strings.TrimSpace(log); log != "" {
		return fmt.Errorf("loading our kernels on %s: %w\nJIT log: %s", gpu, err, log)
	}
	return fmt.Errorf("loading our kernels on %s: %w", gpu, err)
}

var ptxVersion = regexp.MustCompile(`(?m)^\.version (\d+\.\d+)`)

// checkTarget returns an error in plain words when GPU d is older than
// the architecture ptx targets (its .target line): the driver's JIT would
// refuse the module with a ptxas message.
func checkTarget(d Device, ptx string) error {
	major, minor, ok := Target(ptx)
	if !ok || !d.Older(major, minor) {
		return nil
	}
	return &SetupError{Err: fmt.Errorf("GPU %d (%s) is too old for cnngpu's kernels: it has compute capability %d.%d and they need %d.%d or newer; "+
		"use another GPU with --device (cnngpu devices lists them)", d.Index, d.Name, d.ComputeMajor, d.ComputeMinor, major, minor), Hint: otherOrCPU}
}

// Do runs fn on one OS thread with the context current there, for calls
// into other libraries that use the current context (cuDNN): a goroutine
// may move to another thread between two cgo calls, so making the context
// current and calling the library must happen under one thread lock.
// Every method of Context does the same.
func (c *Context) Do(fn func() error) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	return fn()
}

// enter locks the calling goroutine to its thread and makes the context
// current there; leave unlocks it.
func (c *Context) enter() error {
	runtime.LockOSThread()
	if err := c.current(); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	return nil
}

func (c *Context) leave() { runtime.UnlockOSThread() }

// Checked takes the result of a call that queued work on the stream (what
// names it) and returns it; in debug mode (CNNGPU_DEBUG=1) outside a graph
// recording it also waits for the stream, so that a failure of the queued
// work is reported by the call that caused it.
func (c *Context) Checked(what string, err error) error {
	return c.checkedOn(c.stream, what, err)
}

// checkedOn is Checked for work queued on stream.
func (c *Context) checkedOn(stream C.CUstream, what string, err error) error {
	if err != nil || !c.debug || c.capturing {
		return err
	}
	if err := drv.check("cuStreamSynchronize", C.c_streamSync(c.fn["cuStreamSynchronize"], stream)); err != nil {
		return fmt.Errorf("after %s (debug mode): %w", what, err)
	}
	return nil
}

// current makes the context current on this thread (goroutines move
// between threads).
func (c *Context) current() error {
	return drv.check("cuCtxSetCurrent", C.c_ctxSet(c.fn["cuCtxSetCurrent"], c.ctx))
}

// Close releases the stream, module, cuBLAS and the context, whatever
// state a failure left them in.
func (c *Context) Close() error {
	if c.ctx == nil {
		return nil
	}
	err := c.enter()
	if err == nil {
		defer c.leave()
	}
	if c.stream != nil {
		if serr := c.Sync(); err == nil {
			err = serr
		}
	}
	err = cmp.Or(err, c.closeLt())
	if c.blas != nil {
		err = cmp.Or(err, c.blas.close())
		c.blas = nil
	}
	if c.module != nil {
		C.c_moduleUnload(c.fn["cuModuleUnload"], c.module)
	}
	if c.stream != nil {
		C.c_streamDestroy(c.fn["cuStreamDestroy_v2"], c.stream)
	}
	if c.params != nil {
		C.free(c.params)
	}
	C.c_ctxRelease(c.fn["cuDevicePrimaryCtxRelease_v2"], c.dev)
	c.ctx = nil
	return err
}

// Stream is the context's stream as an opaque pointer (for cuDNN).
func (c *Context) Stream() unsafe.Pointer { return unsafe.Pointer(c.stream) }

// Sync waits for the stream; the error is the first failure of any queued
// work.
func (c *Context) Sync() error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	return drv.check("cuStreamSynchronize", C.c_streamSync(c.fn["cuStreamSynchronize"], c.stream))
}

// Alloc returns bytes of device memory; out of memory says how much was
// asked and how much is free.
func (c *Context) Alloc(bytes int) (Ptr, error) {
	if err := c.enter(); err != nil {
		return 0, err
	}
	defer c.leave()
	var p C.CUdeviceptr
	sp := trace.Begin(trace.DeviceAlloc)
	st := C.c_memAlloc(c.fn["cuMemAlloc_v2"], &p, C.size_t(max(bytes, 4)))
	sp.End()
	if err := drv.check("cuMemAlloc_v2", st); err != nil {
		var free, total C.size_t
		C.c_memGetInfo(c.fn["cuMemGetInfo_v2"], &free, &total)
		size := fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
		if bytes < 1<<20 {
			size = fmt.Sprintf("%d bytes", bytes)
		}
		return 0, fmt.Errorf("allocating %s on GPU %d (%.1f MiB free of %.1f MiB): %w",
			size, c.Device.Index, float64(free)/(1<<20), float64(total)/(1<<20), err)
	}
	return Ptr(p), nil
}

// Free releases device memory from Alloc (also when the context cannot
// be made current: a device address names its context).
func (c *Context) Free(p Ptr) error {
	err := c.enter()
	if err == nil {
		defer c.leave()
	}
	sp := trace.Begin(trace.DeviceFree)
	ferr := drv.check("cuMemFree_v2", C.c_memFree(c.fn["cuMemFree_v2"], C.CUdeviceptr(p)))
	sp.End()
	return cmp.Or(err, ferr)
}

// CopyIn queues a copy of bytes from host memory src to dst. The host
// memory may be reused when it returns (pageable copies are staged).
func (c *Context) CopyIn(dst Ptr, src unsafe.Pointer, bytes int) error {
	if bytes == 0 {
		return nil
	}
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	return drv.check("cuMemcpyHtoDAsync_v2", C.c_htod(c.fn["cuMemcpyHtoDAsync_v2"], C.CUdeviceptr(dst), src, C.size_t(bytes), c.stream))
}

// CopyOut copies bytes from src to host memory dst and waits for it.
func (c *Context) CopyOut(dst unsafe.Pointer, src Ptr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	return c.copyOut(c.stream, dst, src, bytes)
}

// CopyDevice queues a copy of bytes from device memory src to dst.
func (c *Context) CopyDevice(dst, src Ptr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	return drv.check("cuMemcpyDtoDAsync_v2", C.c_dtod(c.fn["cuMemcpyDtoDAsync_v2"], C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(bytes), c.stream))
}

// CopyOutOn copies bytes from src to host memory dst on lane l, after
// the work queued on it so far, and waits for the lane. It may be called
// from another goroutine than the one queuing on the main stream (a
// graph recording there is made in relaxed mode, which allows it); it
// does not wait for the main stream's work queued after the lane's.
func (c *Context) CopyOutOn(l *Lane, dst unsafe.Pointer, src Ptr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	return c.copyOut(l.stream, dst, src, bytes)
}

// copyOut copies bytes from src to host memory dst on stream st and
// waits for st (CopyOut, CopyOutOn).
func (c *Context) copyOut(st C.CUstream, dst unsafe.Pointer, src Ptr, bytes int) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	if err := drv.check("cuMemcpyDtoHAsync_v2", C.c_dtoh(c.fn["cuMemcpyDtoHAsync_v2"], dst, C.CUdeviceptr(src), C.size_t(bytes), st)); err != nil {
		return err
	}
	return drv.check("cuStreamSynchronize", C.c_streamSync(c.fn["cuStreamSynchronize"], st))
}

// Zero queues setting bytes at p to zero.
func (c *Context) Zero(p Ptr, bytes int) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	return drv.check("cuMemsetD8Async", C.c_memsetD8(c.fn["cuMemsetD8Async"], C.CUdeviceptr(p), 0, C.size_t(bytes), c.stream))
}

// Arg is one kernel argument: a device pointer, an int32, an int64 or a
// float32, stored as 8 bytes. A pointer made by Buf also carries the
// number of bytes the kernel may touch from it, for checkers (the launch
// itself passes only the pointer).
type Arg struct {
	bits   uint64
	size   int
	extent int
}

// P, Buf, I, L and F make kernel arguments.
func P(p Ptr) Arg              { return Arg{bits: uint64(p), size: 8} }
func Buf(p Ptr, bytes int) Arg { return Arg{bits: uint64(p), size: 8, extent: bytes} }
func I(v int) Arg              { return Arg{bits: uint64(uint32(int32(v))), size: 4} }
func L(v int64) Arg            { return Arg{bits: uint64(v), size: 8} }
func F(v float32) Arg          { return Arg{bits: uint64(*(*uint32)(unsafe.Pointer(&v))), size: 4} }
func Null() Arg                { return Arg{size: 8} }

// Bits returns the argument's value as the kernel sees it (a 4-byte value
// in the low half); Size its size in bytes; Extent, for a pointer made by
// Buf, the bytes the kernel may touch from it (0: not given).
func (a Arg) Bits() uint64 { return a.bits }
func (a Arg) Size() int    { return a.size }
func (a Arg) Extent() int  { return a.extent }

// Launch queues kernel name over n threads in blocks of block.
func (c *Context) Launch(name string, n int64, block int, args ...Arg) error {
	return c.launch(c.stream, name, n, block, args)
}

// LaunchOn is Launch on lane l.
func (c *Context) LaunchOn(l *Lane, name string, n int64, block int, args ...Arg) error {
	return c.launch(l.stream, name, n, block, args)
}

func (c *Context) launch(stream C.CUstream, name string, n int64, block int, args []Arg) error {
	f, ok := c.funcs[name]
	if !ok {
		panic("cuda: Launch of a kernel that was not loaded: " + name)
	}
	if len(args) > 32 {
		panic("cuda: Launch with more than 32 arguments")
	}
	if n <= 0 {
		return nil
	}
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	if trace.Enabled() && !c.launched[name] {
		if c.launched == nil {
			c.launched = map[string]bool{}
		}
		c.launched[name] = true
		defer trace.Begin(trace.FirstLaunch).End()
	}
	vals := unsafe.Slice((*uint64)(c.params), 32)
	ptrs := unsafe.Slice((*unsafe.Pointer)(unsafe.Add(c.params, 32*8)), 32)
	for i, a := range args {
		vals[i] = a.bits
		ptrs[i] = unsafe.Pointer(&vals[i])
	}
	grid := (n + int64(block) - 1) / int64(block)
	return c.checkedOn(stream, name, drv.check("cuLaunchKernel("+name+")", C.c_launch(c.fn["cuLaunchKernel"], f, C.uint(grid), C.uint(block), stream,
		(*unsafe.Pointer)(unsafe.Add(c.params, 32*8)))))
}

// LaunchBlocks queues kernel name on exactly grid blocks of block threads.
func (c *Context) LaunchBlocks(name string, grid, block int, args ...Arg) error {
	return c.Launch(name, int64(grid)*int64(block), block, args...)
}

// Event is a point in the stream, for timing; DestroyEvent releases it.
type Event struct{ e C.CUevent }

// Record queues an event (none is left on failure).
func (c *Context) Record() (*Event, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	ev := &Event{}
	if err := drv.check("cuEventCreate", C.c_eventCreate(c.fn["cuEventCreate"], &ev.e)); err != nil {
		return nil, err
	}
	if err := drv.check("cuEventRecord", C.c_eventRecord(c.fn["cuEventRecord"], ev.e, c.stream)); err != nil {
		C.c_eventDestroy(c.fn["cuEventDestroy_v2"], ev.e)
		return nil, err
	}
	return ev, nil
}

// Mark records, inside a graph recording (Capture), a timing event on
// lane l (nil: the main stream) as a node of the graph, after the work
// queued there so far: each replay records it again, and Elapsed between
// two marks (or a mark and Record's event) times the replay's work
// between them, stream by stream. Outside a recording the driver refuses
// it, and so does Mark. DestroyEvent releases it, once the graph is
// destroyed.
func (c *Context) Mark(l *Lane) (*Event, error) {
	if !c.capturing {
		return nil, errors.New("cuda: Mark outside a graph recording (Capture)")
	}
	f, ok := c.fn["cuEventRecordWithFlags"]
	if !ok {
		return nil, setup(errors.New("cuEventRecordWithFlags: this NVIDIA driver has none (CUDA 11.1 and later have it): update the driver to time a step's streams"))
	}
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	s := c.stream
	if l != nil {
		s = l.stream
	}
	ev := &Event{}
	if err := drv.check("cuEventCreate", C.c_eventCreate(c.fn["cuEventCreate"], &ev.e)); err != nil {
		return nil, err
	}
	if err := drv.check("cuEventRecordWithFlags", C.c_eventRecordExternal(f, ev.e, s)); err != nil {
		C.c_eventDestroy(c.fn["cuEventDestroy_v2"], ev.e)
		return nil, err
	}
	return ev, nil
}

// Elapsed waits for b and returns the milliseconds from a to b. The events
// stay the caller's, to release with DestroyEvent whether it fails or not.
func (c *Context) Elapsed(a, b *Event) (float32, error) {
	if err := c.enter(); err != nil {
		return 0, err
	}
	defer c.leave()
	if err := drv.check("cuEventSynchronize", C.c_eventSync(c.fn["cuEventSynchronize"], b.e)); err != nil {
		return 0, err
	}
	var ms C.float
	err := drv.check(c.elapsed, C.c_eventElapsed(c.fn[c.elapsed], &ms, a.e, b.e))
	return float32(ms), err
}

// DestroyEvent releases an event from Record; it must not be used after.
func (c *Context) DestroyEvent(ev *Event) error {
	if ev == nil || ev.e == nil {
		return nil
	}
	err := c.enter()
	if err == nil {
		defer c.leave()
	}
	err = cmp.Or(err, drv.check("cuEventDestroy_v2", C.c_eventDestroy(c.fn["cuEventDestroy_v2"], ev.e)))
	ev.e = nil
	return err
}

// Graph is an instantiated CUDA graph.
type Graph struct{ exec C.CUgraphExec }

// Capture records the work fn queues on the stream (without running it)
// and instantiates it.
func (c *Context) Capture(fn func() error) (*Graph, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	// CU_STREAM_CAPTURE_MODE_RELAXED (2): goroutines move between threads.
	if err := drv.check("cuStreamBeginCapture_v2", C.c_beginCapture(c.fn["cuStreamBeginCapture_v2"], c.stream, 2)); err != nil {
		return nil, err
	}
	c.capturing = true
	ferr := fn()
	c.capturing = false
	// fn's calls made the context current again, maybe on another thread.
	if err := c.current(); ferr == nil {
		ferr = err
	}
	var g C.CUgraph
	if err := drv.check("cuStreamEndCapture", C.c_endCapture(c.fn["cuStreamEndCapture"], c.stream, &g)); err != nil {
		return nil, cmp.Or(ferr, err)
	}
	defer C.c_graphDestroy(c.fn["cuGraphDestroy"], g)
	if ferr != nil {
		return nil, ferr
	}
	gr := &Graph{}
	var flags C.ulonglong
	if c.prio {
		flags = 8 // CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY
	}
	if err := drv.check("cuGraphInstantiateWithFlags", C.c_instantiate(c.fn["cuGraphInstantiateWithFlags"], &gr.exec, g, flags)); err != nil {
		return nil, err
	}
	return gr, nil
}

// Replay queues the graph.
func (c *Context) Replay(g *Graph) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	return drv.check("cuGraphLaunch", C.c_graphLaunch(c.fn["cuGraphLaunch"], g.exec, c.stream))
}

// Destroy releases the graph.
func (c *Context) Destroy(g *Graph) error {
	err := c.enter()
	if err == nil {
		defer c.leave()
	}
	return cmp.Or(err, drv.check("cuGraphExecDestroy", C.c_graphExecDestroy(c.fn["cuGraphExecDestroy"], g.exec)))
}

// Lane is a second stream of the context, with its own cuBLAS handle, for
// work that may run beside the main stream's. Fork orders what is queued
// on the lane after what the main stream has queued so far; Join orders
// what the main stream queues next after the lane's work so far. Inside a
// graph recording the same pair brings the lane into the recording and
// back, as CUDA requires of a second stream (a lane not joined back before
// the recording ends makes it fail).
type Lane struct {
	c          *Context
	stream     C.CUstream
	blas       *blas
	fork, join C.CUevent
}

// NewLane makes a lane, its cuBLAS handle in the context's math mode.
func (c *Context) NewLane() (*Lane, error) { return c.newLane(true, true) }

// NewBareLane makes a lane without a cuBLAS handle (its products cannot
// run on it), for other libraries' work, at the least priority (copies
// behind the compute streams' work).
func (c *Context) NewBareLane() (*Lane, error) { return c.newLane(false, false) }

// NewKernelLane makes a lane without a cuBLAS handle for our kernels, at
// the compute lanes' priority (Options.Priorities).
func (c *Context) NewKernelLane() (*Lane, error) { return c.newLane(false, true) }

func (c *Context) newLane(withBLAS, compute bool) (*Lane, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	l := &Lane{c: c}
	var st C.CUstream
	if err := c.newStream(&st, compute); err != nil {
		return nil, err
	}
	l.stream = st
	for _, e := range []*C.CUevent{&l.fork, &l.join} {
		// Through a local: cgo refuses a pointer into l (which holds Go
		// pointers) unless it is written as &l.field in the call itself.
		var ev C.CUevent
		if err := drv.check("cuEventCreate", C.c_eventCreateOrder(c.fn["cuEventCreate"], &ev)); err != nil {
			l.close()
			return nil, err
		}
		*e = ev
	}
	if !withBLAS {
		return l, nil
	}
	b, err := c.blas.another(unsafe.Pointer(l.stream), c.mathMode)
	if err != nil {
		l.close()
		return nil, err
	}
	l.blas = b
	return l, nil
}

// mustBLAS panics where a product is queued on a lane made without a
// cuBLAS handle (NewBareLane): the caller's bug.
func (l *Lane) mustBLAS() {
	if l.blas == nil {
		panic("cuda: a cuBLAS product queued on a lane made without a cuBLAS handle (NewBareLane)")
	}
}

// Stream is the lane's stream as an opaque pointer (for cuDNN).
func (l *Lane) Stream() unsafe.Pointer { return unsafe.Pointer(l.stream) }

// Sync waits for the work queued on the lane.
func (l *Lane) Sync() error {
	if err := l.c.enter(); err != nil {
		return err
	}
	defer l.c.leave()
	return drv.check("cuStreamSynchronize", C.c_streamSync(l.c.fn["cuStreamSynchronize"], l.stream))
}

// Close waits for the lane and releases it (also when the wait fails).
func (l *Lane) Close() error {
	err := l.c.enter()
	if err == nil {
		defer l.c.leave()
		err = drv.check("cuStreamSynchronize", C.c_streamSync(l.c.fn["cuStreamSynchronize"], l.stream))
	}
	return cmp.Or(err, l.close())
}

// close releases what NewLane made; the context is current.
func (l *Lane) close() (err error) {
	if l.blas != nil {
		err = l.blas.close()
		l.blas = nil
	}
	for _, e := range []*C.CUevent{&l.fork, &l.join} {
		if *e != nil {
			C.c_eventDestroy(l.c.fn["cuEventDestroy_v2"], *e)
			*e = nil
		}
	}
	if l.stream != nil {
		C.c_streamDestroy(l.c.fn["cuStreamDestroy_v2"], l.stream)
		l.stream = nil
	}
	return err
}

// Fork orders the lane's next work after the main stream's work so far.
func (c *Context) Fork(l *Lane) error { return c.order(l.fork, c.stream, l.stream) }

// Join orders the main stream's next work after the lane's work so far.
func (c *Context) Join(l *Lane) error { return c.order(l.join, l.stream, c.stream) }

// After orders lane l's next work after lane src's work so far (neither
// the main stream: Fork and Join are that). Inside a recording both must
// have been forked into it.
func (c *Context) After(l, src *Lane) error { return c.order(src.join, src.stream, l.stream) }

// order records ev on stream from and has stream to wait for it: to's
// next work after from's so far.
func (c *Context) order(ev C.CUevent, from, to C.CUstream) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.leave()
	if err := drv.check("cuEventRecord", C.c_eventRecord(c.fn["cuEventRecord"], ev, from)); err != nil {
		return err
	}
	return drv.check("cuStreamWaitEvent", C.c_streamWaitEvent(c.fn["cuStreamWaitEvent"], to, ev))
}

// CheckedOn is Checked for work queued on lane l: in debug mode outside a
// recording it waits for the lane.
func (c *Context) CheckedOn(l *Lane, what string, err error) error {
	return c.checkedOn(l.stream, what, err)
}
