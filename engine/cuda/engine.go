//go:build cgo

// Package cuda is the GPU engine: engine.Engine on one NVIDIA GPU through
// the cuda and cudnn bindings (cuDNN convolutions, cuBLAS SGEMM for the
// dense layers, and our kernels for everything else). Ops queue work on one
// stream and return; Sync, Read and Close report the first failure. A
// training step, after one warm-up run, is recorded as a CUDA graph per
// batch size and replayed (engine.Capturer).
package cuda

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
	"unsafe"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/cnngpu/cnngpu/kernels"
)

var (
	_ engine.Engine             = (*Engine)(nil)
	_ engine.Capturer           = (*Engine)(nil)
	_ engine.DeviceTimer        = (*Engine)(nil)
	_ engine.ConvPooler         = (*Engine)(nil)
	_ engine.ConvPoolBackwarder = (*Engine)(nil)
)

// block is the thread-block size of elementwise kernels.
const block = 256

type tensor struct {
	p     cu.Ptr
	n     int
	dt    engine.DType
	owner bool
}

func (t *tensor) Len() int            { return t.n }
func (t *tensor) DType() engine.DType { return t.dt }

// Engine is the GPU engine. Like the CPU engine it is used from one
// goroutine at a time.
type Engine struct {
	c       gpu
	convs   map[engine.ConvShape]convPlan
	ws      devBuf          // cuDNN's workspace, shared by every plan
	dzs     map[any]*devBuf // each layer's activation gradient dz (dzFor)
	partial devBuf          // per-block partial sums of the gradient reductions
	graphs  map[int]graph
	warm    map[int]bool
	err     error // first failure of a queued op
	tf32    bool
	own     bool   // the own kernel set (KernelsEnv)
	streams bool   // a second stream in the backward ops (StreamsEnv)
	lane    lane   // that stream, made on first use
	wsLane  devBuf // the lane's cuDNN workspace
	// laneUse is what the work queued on the lane since its last join
	// touches; the main stream joins the lane before it touches any of it
	// (use) and before a wait, copy or recording's end (settle).
	laneUse []laneAccess
	// In-place tuning of cuDNN's algorithm choices (tune.go): the
	// directions of each plan a recording used, those already tuned, and
	// the recordings being timed.
	usedDirs map[planDir]bool
	settled  map[planDir]bool
	tuners   map[int]*tuner
	timer    event // StartTimer's event
}

// KernelsEnv is the environment variable that picks the engine's kernel
// set: "own" (the default) or "library".
//
// With "own", these ops run on kernels of ours (checked on the CPU by
// kernels/emu_test.go and by this engine on an emulated device,
// emulated_test.go, and on an H200 by the conformance suite and the
// golden test): a first layer (one input channel, 3×3 or 5×5 filters)
// forward in one kernel with its bias and activation (instead of cuDNN's
// convolution and a bias kernel), and its filter and bias gradients in one
// pass over dy, y and x (instead of a bias kernel and cuDNN's filter
// gradient); a convolution's bias, activation and 2×2 max-pool in one
// pass over its output (ConvPool: first_conv_pool3 for a first layer with
// 3×3 filters, with its convolution too; bias_act_pool after cuDNN's
// convolution otherwise); dense layers of at most 32 outputs in one kernel each way
// (instead of cuBLAS's split-K product plus a bias kernel). "library" runs
// every convolution on cuDNN and every product on cuBLAS. Measured on an
// H200 at batch 128 (kernels/NOTES.md, run 13), one step on one stream:
// library 0.398 ms, own 0.315.
const KernelsEnv = "CNNGPU_KERNELS"

// parseKernels reads KernelsEnv: true for "own".
func parseKernels() (bool, error) {
	switch v := os.Getenv(KernelsEnv); v {
	case "", "own":
		return true, nil
	case "library":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%q: expected \"own\" (the default) or \"library\"; unset it to use the default", KernelsEnv, v)
	}
}

// StreamsEnv is the environment variable that sets how many streams the
// engine uses: 2 (the default) or 1. With 2, a second stream takes a
// convolution's filter gradient (with its own cuDNN handle and workspace)
// and a dense layer's weight gradient (with a second cuBLAS handle) beside
// the input gradient, and every optimizer update (engine.Model updates
// each layer as soon as its gradients are queued); the main stream goes on
// with the layers below and joins the second stream only where it would
// touch memory that work queued there touches, and at the end of a step
// (toLane, use, settle). Checked on an emulated device (emulated_test.go,
// which also checks that no two streams touch the same memory unordered,
// and that a training step joins once) and on an H200; there at batch 128
// the own set's step went from 0.382 ms to 0.351 with 2 streams when each
// op joined the second stream before returning, and from 0.357 to 0.325
// with the updates and weight gradients left there (kernels/NOTES.md,
// runs 7 and 10).
const StreamsEnv = "CNNGPU_STREAMS"

// parseStreams reads StreamsEnv: true for 2.
func parseStreams() (bool, error) {
	switch v := os.Getenv(StreamsEnv); v {
	case "", "2":
		return true, nil
	case "1":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%q: expected 2 (the default) or 1 streams; unset it to use the default", StreamsEnv, v)
	}
}

// CheckEnv reports a bad value of KernelsEnv or StreamsEnv, so that a
// command refuses it before choosing an engine.
func CheckEnv() error {
	if _, err := parseKernels(); err != nil {
		return err
	}
	_, err := parseStreams()
	return err
}

// New opens GPU device with strict FP32 math, or TF32 tensor cores when
// tf32 is set.
func New(device int, tf32 bool) (*Engine, error) {
	own, err := parseKernels()
	if err != nil {
		return nil, err
	}
	streams, err := parseStreams()
	if err != nil {
		return nil, err
	}
	l, err := openLibrary(device, kernels.PTX, kernels.Names, tf32)
	if err != nil {
		return nil, err
	}
	e := newEngine(l, tf32, own)
	e.streams = streams
	return e, nil
}

// newEngine is the engine on device c.
func newEngine(c gpu, tf32, own bool) *Engine {
	return &Engine{c: c, convs: map[engine.ConvShape]convPlan{}, dzs: map[any]*devBuf{}, graphs: map[int]graph{}, warm: map[int]bool{},
		usedDirs: map[planDir]bool{}, settled: map[planDir]bool{}, tuners: map[int]*tuner{}, tf32: tf32, own: own}
}

// Name describes the engine.
func (e *Engine) Name() string {
	p := "fp32"
	if e.tf32 {
		p = "tf32"
	}
	if e.own {
		p += ", own kernels"
	}
	if e.streams {
		p += ", 2 streams"
	}
	d := e.c.Info()
	return fmt.Sprintf("cuda GPU %d (%s, sm_%d%d, %s)", d.Index, d.Name, d.ComputeMajor, d.ComputeMinor, p)
}

// SetOwnKernels switches between the two kernel sets (KernelsEnv) and drops
// the recorded steps.
func (e *Engine) SetOwnKernels(on bool) {
	e.Reset()
	e.own = on
}

// SetStreams switches the second stream (StreamsEnv) on or off and drops
// the recorded steps.
func (e *Engine) SetStreams(on bool) {
	e.Reset()
	e.streams = on
}

// laneFor returns the second stream when the engine uses one, making it on
// first use (outside a recording: the warm-up run of a step comes first),
// or nil.
func (e *Engine) laneFor() lane {
	if !e.streams {
		return nil
	}
	if e.lane == nil {
		l, err := e.c.NewLane()
		if err != nil {
			e.fail(fmt.Errorf("making the second stream (%s=2; unset it to use one): %w", StreamsEnv, err))
			return nil
		}
		e.lane = l
	}
	return e.lane
}

// region is the device bytes [lo, hi).
type region struct{ lo, hi cu.Ptr }

// regionOf is the bytes of tensor t (none for nil).
func regionOf(t engine.Tensor) region {
	if t == nil {
		return region{}
	}
	d := t.(*tensor)
	return region{d.p, d.p + cu.Ptr(d.n*d.dt.Size())}
}

// regions is regionOf of each tensor.
func regions(ts ...engine.Tensor) []region {
	rs := make([]region, len(ts))
	for i, t := range ts {
		rs[i] = regionOf(t)
	}
	return rs
}

// access is what some queued work reads (r) and writes (w).
type access struct{ r, w []region }

// each calls fn on every region of a that is not empty, with whether it
// is written, until fn returns false.
func (a access) each(fn func(r region, write bool) bool) {
	for i, rs := range [2][]region{a.r, a.w} {
		for _, r := range rs {
			if r.hi > r.lo && !fn(r, i == 1) {
				return
			}
		}
	}
}

// laneAccess is one region that work queued on the lane reads or writes.
type laneAccess struct {
	region
	write bool
}

// toLane forks the second stream, when the engine uses one, for work
// with access a, and returns it (nil: queue the work on the main stream).
// The lane is joined back when the main stream next touches what that
// work writes, or writes what it reads (use), and at the latest when the
// host waits, copies or ends a recording (settle); until then the main
// stream goes on with other work.
func (e *Engine) toLane(a access) lane {
	l := e.laneFor()
	if l == nil {
		return nil
	}
	e.fail(e.c.Fork(l))
	if e.laneUse == nil {
		e.laneUse = []laneAccess{}
	}
	a.each(func(r region, write bool) bool {
		e.laneUse = append(e.laneUse, laneAccess{r, write})
		return true
	})
	return l
}

// use joins the lane into the main stream when work queued on the lane
// conflicts with a, which the main stream is about to do: one of the two
// writes bytes the other touches.
func (e *Engine) use(a access) {
	conflict := false
	a.each(func(r region, write bool) bool {
		for _, u := range e.laneUse {
			if (u.write || write) && r.lo < u.hi && u.lo < r.hi {
				conflict = true
			}
		}
		return !conflict
	})
	if conflict {
		e.settle()
	}
}

// settle joins the lane into the main stream if work was queued on it
// since the last join.
func (e *Engine) settle() {
	if e.laneUse != nil {
		e.laneUse = nil
		e.fail(e.c.Join(e.lane))
	}
}

// fail records the first error of a queued op.
func (e *Engine) fail(err error) {
	if err != nil && e.err == nil {
		e.err = err
	}
}

func (e *Engine) takeErr() error {
	err := e.err
	e.err = nil
	return err
}

func ptr(t engine.Tensor) cu.Ptr {
	if t == nil {
		return 0
	}
	return t.(*tensor).p
}

// Alloc returns a zeroed tensor.
func (e *Engine) Alloc(dt engine.DType, n int) (engine.Tensor, error) {
	p, err := e.c.Alloc(n * dt.Size())
	if err != nil {
		return nil, err
	}
	if err := e.c.Zero(p, n*dt.Size()); err != nil {
		return nil, err
	}
	return &tensor{p: p, n: n, dt: dt, owner: true}, nil
}

// Free releases a tensor from Alloc.
func (e *Engine) Free(t engine.Tensor) {
	if d, ok := t.(*tensor); ok && d.owner && d.p != 0 {
		e.settle()
		e.fail(e.c.Sync())
		e.fail(e.c.Free(d.p))
		d.p = 0
	}
}

// Slice returns a view.
func (e *Engine) Slice(t engine.Tensor, off, n int) engine.Tensor {
	s := t.(*tensor)
	if off < 0 || n < 0 || off+n > s.n {
		panic("cuda: Slice out of range")
	}
	return &tensor{p: s.p + cu.Ptr(off*s.dt.Size()), n: n, dt: s.dt}
}

func hostBytes(v any) (unsafe.Pointer, int, engine.DType, error) {
	switch s := v.(type) {
	case []float32:
		if len(s) == 0 {
			return nil, 0, engine.Float32, nil
		}
		return unsafe.Pointer(&s[0]), len(s), engine.Float32, nil
	case []int32:
		if len(s) == 0 {
			return nil, 0, engine.Int32, nil
		}
		return unsafe.Pointer(&s[0]), len(s), engine.Int32, nil
	case []uint8:
		if len(s) == 0 {
			return nil, 0, engine.Uint8, nil
		}
		return unsafe.Pointer(&s[0]), len(s), engine.Uint8, nil
	}
	return nil, 0, 0, fmt.Errorf("cuda: unsupported host type %T", v)
}

// Write copies host data into dst.
func (e *Engine) Write(dst engine.Tensor, off int, src any) error {
	d := dst.(*tensor)
	p, n, dt, err := hostBytes(src)
	if err != nil {
		return err
	}
	if dt != d.dt {
		return fmt.Errorf("cuda: write of %v data into a %v tensor", dt, d.dt)
	}
	if off < 0 || off+n > d.n {
		return fmt.Errorf("cuda: write of %d elements at %d into a tensor of %d", n, off, d.n)
	}
	e.settle()
	return e.c.CopyIn(d.p+cu.Ptr(off*dt.Size()), p, n*dt.Size())
}

// Read waits for queued work and copies tensor data to the host.
func (e *Engine) Read(src engine.Tensor, off int, dst any) error {
	s := src.(*tensor)
	p, n, dt, err := hostBytes(dst)
	if err != nil {
		return err
	}
	if dt != s.dt {
		return fmt.Errorf("cuda: read of a %v tensor into %v data", s.dt, dt)
	}
	if off < 0 || off+n > s.n {
		return fmt.Errorf("cuda: read of %d elements at %d from a tensor of %d", n, off, s.n)
	}
	e.settle()
	if err := e.takeErr(); err != nil {
		return err
	}
	return e.c.CopyOut(p, s.p+cu.Ptr(off*dt.Size()), n*dt.Size())
}

// Fill sets every element to v.
func (e *Engine) Fill(t engine.Tensor, v float32) {
	d := t.(*tensor)
	e.use(access{w: []region{regionOf(t)}})
	switch d.dt {
	case engine.Float32:
		e.fail(e.c.Launch("fill_f32", int64(d.n), block, cu.P(d.p), cu.F(v), cu.L(int64(d.n))))
	case engine.Int32:
		e.fail(e.c.Launch("fill_i32", int64(d.n), block, cu.P(d.p), cu.I(int(v)), cu.L(int64(d.n))))
	default:
		e.fail(e.c.Launch("fill_u8", int64(d.n), block, cu.P(d.p), cu.I(int(uint8(v))), cu.L(int64(d.n))))
	}
}

// Sync waits for the stream and returns the first error.
func (e *Engine) Sync() error {
	e.settle()
	if err := e.takeErr(); err != nil {
		return err
	}
	return e.c.Sync()
}

// Close releases everything.
func (e *Engine) Close() error {
	defer trace.Begin(trace.EngineClose).End()
	err := e.Sync()
	e.Reset()
	for _, cv := range e.convs {
		cv.Close()
	}
	if e.lane != nil {
		if lerr := e.c.CloseLane(e.lane); err == nil {
			err = lerr
		}
		e.lane = nil
	}
	bufs := []*devBuf{&e.ws, &e.wsLane, &e.partial}
	for _, b := range e.dzs {
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		if b.p != 0 {
			e.c.Free(b.p)
			b.p, b.bytes = 0, 0
		}
	}
	if cerr := e.c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Replay runs fn directly the first time for a key (warm-up: cuDNN picks
// algorithms, buffers are allocated), records it as a CUDA graph the second
// time, and replays the graph from then on. Where cuDNN's choice for a
// convolution the recording uses has close alternatives, the second call
// also records fn with each, and the first calls after it time the
// recordings in turn, keeping the fastest (tune.go); every call runs fn's
// work once.
func (e *Engine) Replay(key int, fn func()) error {
	if t := e.tuners[key]; t != nil {
		return e.tuneStep(key, t)
	}
	if g, ok := e.graphs[key]; ok {
		return e.c.Replay(g)
	}
	if !e.warm[key] {
		defer trace.Begin(trace.WarmUp).End()
		e.warm[key] = true
		fn()
		e.settle()
		return e.takeErr()
	}
	clear(e.usedDirs)
	g, err := e.capture(fn)
	if err != nil {
		return err
	}
	e.graphs[key] = g
	if t := e.newTuner(g, fn); t != nil {
		e.tuners[key] = t
		return e.tuneStep(key, t)
	}
	return e.c.Replay(g)
}

// capture records fn as a graph.
func (e *Engine) capture(fn func()) (graph, error) {
	defer trace.Begin(trace.GraphRecord).End()
	return e.c.Capture(func() error {
		fn()
		e.settle() // a recording must end with every stream joined
		return e.takeErr()
	})
}

// Reset drops every recorded graph.
func (e *Engine) Reset() {
	for k, t := range e.tuners {
		t.destroy(e)
		delete(e.tuners, k)
	}
	for k, g := range e.graphs {
		e.c.Destroy(g)
		delete(e.graphs, k)
	}
	clear(e.warm)
}

// devBuf is device scratch that grows on demand.
type devBuf struct {
	p     cu.Ptr
	bytes int
}

// grow returns b's memory with at least bytes, reallocating it when it is
// smaller. That happens only outside a recording (a warm-up run sizes
// everything first) and drops the recorded steps, which refer to the old
// memory.
func (e *Engine) grow(b *devBuf, bytes int) cu.Ptr {
	if bytes > b.bytes {
		e.settle()
		e.Reset()
		if b.p != 0 {
			e.fail(e.c.Sync())
			e.fail(e.c.Free(b.p))
		}
		p, err := e.c.Alloc(bytes)
		e.fail(err)
		b.p, b.bytes = p, bytes
		if err != nil {
			b.bytes = 0
		}
	}
	return b.p
}

// dzFor returns device scratch of at least n floats for the activation
// gradient of the layer of shape key (its batch size set to 0): a buffer
// a layer, so that one layer's dz, still read on the lane, is not
// overwritten by the next layer's.
func (e *Engine) dzFor(key any, n int) cu.Ptr {
	b := e.dzs[key]
	if b == nil {
		b = &devBuf{}
		e.dzs[key] = b
	}
	return e.grow(b, n*4)
}

// partialFor returns device scratch for n partial sums.
func (e *Engine) partialFor(n int) cu.Ptr { return e.grow(&e.partial, n*4) }

// splits is kernels.Splits on this GPU.
func (e *Engine) splits(k, n int) int { return kernels.Splits(k, n, e.c.Info().Multiprocessors) }

// conv returns the cuDNN plan for a shape, making it (and growing the
// shared workspace) on first use.
func (e *Engine) conv(s engine.ConvShape) convPlan {
	if cv, ok := e.convs[s]; ok {
		return cv
	}
	defer trace.Begin(trace.ConvAlgo).End()
	cv, err := e.c.NewConv(s)
	if err != nil {
		e.fail(fmt.Errorf("preparing convolution %+v: %w", s, err))
		return nil
	}
	e.grow(&e.ws, cv.Workspace())
	e.convs[s] = cv
	return cv
}

// ConvAlgorithms describes, for each convolution shape prepared so far,
// the cuDNN algorithms chosen for it (for benchmarks: the choice is timed
// at start, so it can differ between processes).
func (e *Engine) ConvAlgorithms() string {
	var out []string
	for s, cv := range e.convs {
		out = append(out, fmt.Sprintf("%dx%dx%d→%d %dx%d: %s", s.C, s.H, s.W, s.K, s.R, s.S, cv.Algorithms()))
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}

// StartTimer records a CUDA event on the stream (engine.DeviceTimer).
func (e *Engine) StartTimer() error {
	if e.timer != nil {
		panic("cuda: StartTimer twice without StopTimer")
	}
	e.settle()
	ev, err := e.c.Record()
	if err != nil {
		return err
	}
	e.timer = ev
	return nil
}

// StopTimer records a second event, waits for it and returns the device
// time between the two.
func (e *Engine) StopTimer() (time.Duration, error) {
	if e.timer == nil {
		panic("cuda: StopTimer without StartTimer")
	}
	a := e.timer
	e.timer = nil
	e.settle()
	b, err := e.c.Record()
	if err != nil {
		return 0, err
	}
	ms, err := e.c.Elapsed(a, b)
	if err != nil {
		return 0, err
	}
	if err := e.Sync(); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}
