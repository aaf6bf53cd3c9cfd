//go:build cgo && !windows

// device.go: what the engine needs of a GPU (gpu), and its implementation
// on a real one: the CUDA driver and cuBLAS (package cuda) with cuDNN's
// convolutions (package cudnn). The tests also run the engine on an
// emulated device (emulated_test.go), which implements gpu on the CPU.

package cuda

import (
	"cmp"
	"fmt"
	"strings"
	"unsafe"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
)

// gpu is one device with one stream: memory, copies, our kernels, cuBLAS's
// SGEMM, cuDNN's convolutions, events and graphs. Work is queued in order;
// Sync waits for it.
type gpu interface {
	Info() cu.Device
	// Identity names the device and the library versions that decide
	// cuDNN's algorithm choices (the key of remembered ones, choices.go).
	Identity() string
	Alloc(bytes int) (cu.Ptr, error)
	Free(p cu.Ptr) error
	Zero(p cu.Ptr, bytes int) error
	CopyIn(dst cu.Ptr, src unsafe.Pointer, bytes int) error
	CopyOut(dst unsafe.Pointer, src cu.Ptr, bytes int) error
	// Launch runs a kernel over n threads in blocks of block;
	// LaunchBlocks on exactly grid blocks.
	Launch(name string, n int64, block int, args ...cu.Arg) error
	LaunchBlocks(name string, grid, block int, args ...cu.Arg) error
	// LaunchOn is Launch queued on lane l (nil: the main stream).
	LaunchOn(l lane, name string, n int64, block int, args ...cu.Arg) error
	// SgemmRowMajor: out = alpha·op(a)·op(b) + beta·out, row-major (as
	// cu.Context.SgemmRowMajor).
	SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error
	// NewConv prepares the convolutions of one shape.
	NewConv(s engine.ConvShape) (convPlan, error)
	// WarmDNN makes, for shape s, the calls that restoring picks (choices
	// remembered by an earlier process) makes, and runs each direction
	// picked once, on a cuDNN handle, a plan, buffers and a stream of its
	// own, so that cuDNN's first calls, which load its kernels into the
	// context, are made: the engine calls it on another goroutine while
	// the ops run on our kernels (beside.go). It touches no state of the
	// engine's (it shares the context, the driver's module loading and
	// the device's memory). release (never nil) frees what it made; the
	// engine calls it on its own goroutine, outside recordings (it may
	// wait for the device). The error is only reported in debug mode:
	// the ops' own restoring reports what matters.
	WarmDNN(s engine.ConvShape, picks []dnnPick) (release func(), err error)
	// NewGemm plans a product with a fused epilogue (cuBLASLt, as
	// cu.Context.NewLtPlan); cu.ErrNoFusedAlgorithm when the library
	// has no algorithm for it. Gemm queues it on lane l (nil: the main
	// stream): out = op(a)·op(b) and the epilogue with vector bias.
	NewGemm(s cu.GemmSpec) (gemmPlan, error)
	Gemm(l lane, p gemmPlan, a, b, out, bias cu.Ptr) error
	// NewLane makes a second stream, with its own library handles, for
	// work that may run beside the main stream's. Fork orders the lane's
	// next work after the main stream's so far; Join the main stream's
	// next work after the lane's so far. Inside a recording every Fork
	// needs its Join before the recording ends.
	NewLane() (lane, error)
	Fork(l lane) error
	Join(l lane) error
	CloseLane(l lane) error
	// NewKernelLane makes a stream without library handles for our
	// kernels (the optimizer's updates with three streams), at the
	// second stream's priority; After orders lane l's next work after
	// lane src's so far (neither is the main stream). Inside a recording
	// both must have been forked into it.
	NewKernelLane() (lane, error)
	After(l, src lane) error
	// SgemmRowMajorOn is SgemmRowMajor queued on lane l (nil: the main
	// stream).
	SgemmRowMajorOn(l lane, transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error
	Sync() error
	// CopyDevice queues, on the main stream, a copy of bytes from device
	// memory src to dst. NewCopyLane makes a lane without library
	// handles, for copies. ReadOn queues, on lane l, a read of bytes at
	// src to the host; fetch, called once, from any goroutine, copies
	// them into dst (host memory of bytes), waiting for the lane (and so
	// for what it was ordered after), but not for the main stream's work
	// queued since: it is engine.LaterReader's wait (memory.go).
	CopyDevice(dst, src cu.Ptr, bytes int) error
	NewCopyLane() (lane, error)
	ReadOn(l lane, src cu.Ptr, bytes int) (fetch func(dst unsafe.Pointer) error, err error)
	// Record queues an event; Elapsed waits for b and returns the
	// milliseconds from a to b; DestroyEvent releases an event (once,
	// whatever Elapsed returned).
	Record() (event, error)
	Elapsed(a, b event) (float32, error)
	DestroyEvent(ev event) error
	// Mark records, inside a recording only, a timing event on lane l
	// (nil: the main stream) as a node of the graph, after the work
	// queued there so far, which every replay records again (a step's
	// timeline, timeline.go).
	Mark(l lane) (event, error)
	// Capture records the work fn queues, without running it, as a graph
	// that Replay queues again.
	Capture(fn func() error) (graph, error)
	Replay(g graph) error
	Destroy(g graph) error
	Close() error
}

type (
	event any
	graph any
	lane  any
)

// convPlan is one shape's convolutions (stride 1, square padding,
// cross-correlation), each overwriting its output. Direction dir (0
// forward, 1 data gradient, 2 filter gradient) runs once Prepare has
// chosen its algorithm (a search that waits for the device: not during a
// recording), with a workspace of at least Workspace(dir) bytes.
// x: (N,C,H,W), w: (K,C,R,S), y, dy: (N,K,P,Q).
type convPlan interface {
	Prepare(dir int) error
	Prepared(dir int) bool
	Workspace(dir int) int
	Forward(x, w, y, ws cu.Ptr, wsBytes int) error
	BackwardData(w, dy, dx, ws cu.Ptr, wsBytes int) error
	// BackwardFilter is queued on lane l, or on the main stream for nil.
	BackwardFilter(l lane, x, dy, dw, ws cu.Ptr, wsBytes int) error
	// Algorithms describes the algorithms chosen, for benchmarks.
	Algorithms() string
	// Alternatives lists direction dir's algorithms worth timing in
	// place against the one in use, Algo; Use switches to one.
	// Workspace covers them all.
	Alternatives(dir int) []int
	// Required is the workspace of the algorithm in use alone;
	// KeepWithin drops the alternatives that need more than bytes.
	Required(dir int) int
	KeepWithin(dir, bytes int)
	Algo(dir int) int
	Use(dir, algo int) error
	// Timings is direction dir's search result (nil before Prepare or
	// Restore); Restore adopts one remembered from an earlier process,
	// with algo in use, instead of searching, once the library confirms
	// it still holds, and fails (the direction left unprepared) when it
	// does not.
	Timings(dir int) []cudnn.AlgoTime
	Restore(dir int, timed []cudnn.AlgoTime, algo int) error
	Close()
}

// library is gpu on a real device.
type library struct {
	*cu.Context
	dnn  *cudnn.Handle
	math int // cuDNN math type
}

// openLibrary opens GPU device with strict FP32 math, or TF32 tensor cores
// when tf32 is set, loading the kernels names from image (kernels.Fatbin),
// whose PTX is ptx (cu.Open).
func openLibrary(device int, image []byte, ptx string, names []string, tf32 bool, priority cu.Priority) (*library, error) {
	c, err := cu.OpenWith(device, image, ptx, names, cu.Options{Priorities: priority})
	if err != nil {
		return nil, err
	}
	l := &library{Context: c, math: cudnn.MathFMA}
	if tf32 {
		l.math = cudnn.MathDefault
		if err := c.SetMathMode(cu.MathTF32); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.Do(func() (err error) { l.dnn, err = cudnn.New(c.Stream()); return }); err != nil {
		c.Close()
		return nil, err
	}
	return l, nil
}

func (l *library) Info() cu.Device { return l.Device }

// Identity is the GPU's name and compute capability with the driver's,
// cuDNN's and cuBLAS's versions.
func (l *library) Identity() string {
	d := l.Device
	// The multiprocessors tell a MIG slice from the whole GPU.
	id := fmt.Sprintf("%s sm_%d%d, %d SMs", d.Name, d.ComputeMajor, d.ComputeMinor, d.Multiprocessors)
	if v, err := cu.DriverVersion(); err == nil {
		id += fmt.Sprintf(", driver CUDA %d.%d", v/1000, v%1000/10)
	}
	if f, err := cudnn.Library(); err == nil {
		id += ", cuDNN " + f.Version
	}
	if f, err := cu.BLASLibrary(); err == nil {
		id += ", cuBLAS " + f.Version
	}
	return id
}

func (l *library) Close() error {
	if l.dnn != nil {
		// cudnnDestroy waits for the current context's device: ours.
		l.Do(func() error { l.dnn.Close(); return nil })
		l.dnn = nil
	}
	return l.Context.Close()
}

func (l *library) Record() (event, error) {
	ev, err := l.Context.Record()
	if err != nil {
		return nil, err // not a typed nil
	}
	return ev, nil
}

func (l *library) Elapsed(a, b event) (float32, error) {
	return l.Context.Elapsed(a.(*cu.Event), b.(*cu.Event))
}

func (l *library) DestroyEvent(ev event) error { return l.Context.DestroyEvent(ev.(*cu.Event)) }

func (l *library) Mark(x lane) (event, error) {
	var cl *cu.Lane
	if x != nil {
		cl = x.(*libraryLane).lane
	}
	ev, err := l.Context.Mark(cl)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

func (l *library) Capture(fn func() error) (graph, error) {
	g, err := l.Context.Capture(fn)
	if err != nil {
		return nil, err
	}
	return g, nil
}
func (l *library) Replay(g graph) error  { return l.Context.Replay(g.(*cu.Graph)) }
func (l *library) Destroy(g graph) error { return l.Context.Destroy(g.(*cu.Graph)) }

func (l *library) NewGemm(s cu.GemmSpec) (gemmPlan, error) {
	p, err := l.Context.NewLtPlan(s)
	if err != nil {
		return nil, err // not a typed nil
	}
	return p, nil
}

func (l *library) Gemm(x lane, p gemmPlan, a, b, out, bias cu.Ptr) error {
	var on *cu.Lane
	if x != nil {
		on = x.(*libraryLane).lane
	}
	return l.Context.LtMatmul(on, p.(*cu.LtPlan), a, b, out, bias)
}

func (l *library) NewConv(s engine.ConvShape) (convPlan, error) {
	var cv *cudnn.Conv
	err := l.Do(func() (err error) {
		cv, err = l.dnn.NewConv(s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.Pad, l.math)
		return
	})
	if err != nil {
		return nil, err
	}
	return &libraryConv{l, cv}, nil
}

// WarmDNN restores picks on a plan of a cuDNN handle of its own, with
// the context current on this goroutine's thread: the workspace queries
// the engine's restore makes, the first of which loads cuDNN's kernels
// (kernels/NOTES.md, "cuDNN's first call is module loading"); then runs
// each direction restored once, on a stream of its own with buffers of
// its own (their contents never read), which loads the kernels those
// algorithms launch (the first of each was 10 ms on the training's path
// in run 16). Destroying a handle and freeing memory may wait for the
// device: that is release's, on the engine's goroutine.
func (l *library) WarmDNN(s engine.ConvShape, picks []dnnPick) (func(), error) {
	w := &dnnWarm{l: l}
	err := l.Do(func() error { return w.run(s, picks) })
	return func() { l.Do(func() error { w.close(); return nil }) }, err
}

// dnnWarm is what WarmDNN made.
type dnnWarm struct {
	l    *library
	lane *cu.Lane
	h    *cudnn.Handle
	cv   *cudnn.Conv
	bufs []cu.Ptr
}

func (w *dnnWarm) run(s engine.ConvShape, picks []dnnPick) error {
	var err error
	if w.lane, err = w.l.Context.NewBareLane(); err != nil {
		return err
	}
	if w.h, err = cudnn.New(w.lane.Stream()); err != nil {
		return err
	}
	if w.cv, err = w.h.NewConv(s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.Pad, w.l.math); err != nil {
		return err
	}
	var first error
	wsBytes := 0
	for _, p := range picks {
		if err := w.cv.Restore(p.dir, p.timed, p.algo); err != nil {
			first = cmp.Or(first, fmt.Errorf("the %s's remembered choice: %w", dirNames[p.dir], err))
			continue
		}
		wsBytes = max(wsBytes, w.cv.Required(p.dir))
	}
	// x and dx, w and dw, y and dy: one buffer each.
	x, wt, y, ws, err := w.alloc(4*s.N*s.C*s.H*s.W, 4*s.K*s.C*s.R*s.S, 4*s.N*s.K*s.P()*s.Q(), wsBytes)
	if err != nil {
		return cmp.Or(first, err)
	}
	for dir, run := range [3]func() error{
		func() error { return w.cv.Forward(uint64(x), uint64(wt), uint64(y), uint64(ws), wsBytes) },
		func() error { return w.cv.BackwardData(uint64(wt), uint64(y), uint64(x), uint64(ws), wsBytes) },
		func() error { return w.cv.BackwardFilter(uint64(x), uint64(y), uint64(wt), uint64(ws), wsBytes) },
	} {
		if w.cv.Prepared(dir) {
			if err := run(); err != nil {
				return cmp.Or(first, fmt.Errorf("running the %s: %w", dirNames[dir], err))
			}
		}
	}
	return cmp.Or(first, w.lane.Sync())
}

// alloc allocates buffers of each size in bytes (at least 4), kept in
// bufs for close.
func (w *dnnWarm) alloc(sizes ...int) (x, wt, y, ws cu.Ptr, err error) {
	for _, n := range sizes {
		p, err := w.l.Context.Alloc(max(n, 4))
		if err != nil {
			return 0, 0, 0, 0, err
		}
		w.bufs = append(w.bufs, p)
	}
	return w.bufs[0], w.bufs[1], w.bufs[2], w.bufs[3], nil
}

// close releases what run made, with the context current.
func (w *dnnWarm) close() {
	if w.cv != nil {
		w.cv.Close()
	}
	if w.h != nil {
		w.h.Close()
	}
	if w.lane != nil {
		w.lane.Close()
	}
	for _, p := range w.bufs {
		w.l.Context.Free(p)
	}
	*w = dnnWarm{l: w.l}
}

// libraryConv is cuDNN's plan, each call made with the context current
// and checked in debug mode.
type libraryConv struct {
	l  *library
	cv *cudnn.Conv
}

func (p *libraryConv) Workspace(dir int) int      { return p.cv.Workspace(dir) }
func (p *libraryConv) Prepared(dir int) bool      { return p.cv.Prepared(dir) }
func (p *libraryConv) Alternatives(dir int) []int { return p.cv.Alternatives(dir) }
func (p *libraryConv) Algo(dir int) int           { return p.cv.Algo(dir) }
func (p *libraryConv) Required(dir int) int       { return p.cv.Required(dir) }
func (p *libraryConv) KeepWithin(dir, bytes int)  { p.cv.KeepWithin(dir, bytes) }
func (p *libraryConv) Use(dir, algo int) error    { return p.cv.Use(dir, algo) }
func (p *libraryConv) Timings(dir int) []cudnn.AlgoTime {
	return p.cv.Timings(dir)
}

// Restore adopts a remembered choice, with the context current (cuDNN
// is asked whether each algorithm still runs this shape).
func (p *libraryConv) Restore(dir int, timed []cudnn.AlgoTime, algo int) error {
	return p.l.Do(func() error { return p.cv.Restore(dir, timed, algo) })
}

// Prepare runs cuDNN's search for direction dir, with the context current.
func (p *libraryConv) Prepare(dir int) error {
	return p.l.Do(func() error { return p.cv.Prepare(dir) })
}

// Algorithms is cuDNN's algorithm number in use for each direction, then
// the fastest three in the timed Find rounds with their best times (ms).
func (p *libraryConv) Algorithms() string {
	var b strings.Builder
	for d, name := range []string{"forward", "data", "filter"} {
		if d > 0 {
			b.WriteString("; ")
		}
		if !p.cv.Prepared(d) {
			fmt.Fprintf(&b, "%s not used", name)
			continue
		}
		fmt.Fprintf(&b, "%s %d (", name, p.cv.Algo(d))
		for i, t := range p.cv.Timed[d] {
			if i == 3 {
				break
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%d:%.3f", t.Algo, t.MS)
		}
		b.WriteByte(')')
	}
	return b.String()
}
func (p *libraryConv) Close() { p.cv.Close() }

func (p *libraryConv) Forward(x, w, y, ws cu.Ptr, wsBytes int) error {
	return p.l.Do(func() error {
		return p.l.Checked("cudnnConvolutionForward", p.cv.Forward(uint64(x), uint64(w), uint64(y), uint64(ws), wsBytes))
	})
}

func (p *libraryConv) BackwardData(w, dy, dx, ws cu.Ptr, wsBytes int) error {
	return p.l.Do(func() error {
		return p.l.Checked("cudnnConvolutionBackwardData", p.cv.BackwardData(uint64(w), uint64(dy), uint64(dx), uint64(ws), wsBytes))
	})
}

func (p *libraryConv) BackwardFilter(l lane, x, dy, dw, ws cu.Ptr, wsBytes int) error {
	if l == nil {
		return p.l.Do(func() error {
			return p.l.Checked("cudnnConvolutionBackwardFilter", p.cv.BackwardFilter(uint64(x), uint64(dy), uint64(dw), uint64(ws), wsBytes))
		})
	}
	ln := l.(*libraryLane)
	return p.l.Do(func() error {
		return p.l.CheckedOn(ln.lane, "cudnnConvolutionBackwardFilter (lane)", p.cv.BackwardFilterOn(ln.dnn, uint64(x), uint64(dy), uint64(dw), uint64(ws), wsBytes))
	})
}

// libraryLane is a second stream with its cuBLAS and cuDNN handles.
type libraryLane struct {
	lane *cu.Lane
	dnn  *cudnn.Handle
}

func (l *library) NewLane() (lane, error) {
	cl, err := l.Context.NewLane()
	if err != nil {
		return nil, err
	}
	ln := &libraryLane{lane: cl}
	if err := l.Do(func() (err error) { ln.dnn, err = cudnn.New(cl.Stream()); return }); err != nil {
		cl.Close()
		return nil, err
	}
	return ln, nil
}

// NewCopyLane is a lane without cuBLAS and cuDNN handles.
func (l *library) NewCopyLane() (lane, error) {
	cl, err := l.Context.NewBareLane()
	if err != nil {
		return nil, err
	}
	return &libraryLane{lane: cl}, nil
}

func (l *library) CopyDevice(dst, src cu.Ptr, bytes int) error {
	return l.Checked("cuMemcpyDtoDAsync_v2", l.Context.CopyDevice(dst, src, bytes))
}

// ReadOn's fetch is the copy itself, on the caller's goroutine: host
// memory the driver has not pinned is copied through its own staging,
// which blocks the calling thread until the copy is done, so it is made
// there (the checkpoint writer's), not where the steps are queued.
func (l *library) ReadOn(x lane, src cu.Ptr, bytes int) (func(unsafe.Pointer) error, error) {
	ln := x.(*libraryLane).lane
	return func(dst unsafe.Pointer) error { return l.Context.CopyOutOn(ln, dst, src, bytes) }, nil
}

// NewKernelLane is a lane without cuBLAS and cuDNN handles, at the
// compute lanes' priority.
func (l *library) NewKernelLane() (lane, error) {
	cl, err := l.Context.NewKernelLane()
	if err != nil {
		return nil, err
	}
	return &libraryLane{lane: cl}, nil
}

func (l *library) After(x, src lane) error {
	return l.Context.After(x.(*libraryLane).lane, src.(*libraryLane).lane)
}

func (l *library) Fork(x lane) error { return l.Context.Fork(x.(*libraryLane).lane) }
func (l *library) Join(x lane) error { return l.Context.Join(x.(*libraryLane).lane) }

func (l *library) CloseLane(x lane) error {
	ln := x.(*libraryLane)
	if ln.dnn != nil {
		l.Do(func() error { ln.dnn.Close(); return nil })
		ln.dnn = nil
	}
	return ln.lane.Close()
}

func (l *library) LaunchOn(x lane, name string, n int64, block int, args ...cu.Arg) error {
	if x == nil {
		return l.Context.Launch(name, n, block, args...)
	}
	return l.Context.LaunchOn(x.(*libraryLane).lane, name, n, block, args...)
}

func (l *library) SgemmRowMajorOn(x lane, transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	if x == nil {
		return l.Context.SgemmRowMajor(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc)
	}
	return l.Context.SgemmRowMajorOn(x.(*libraryLane).lane, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc)
}
