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
	// c is the device behind a gate that queues nothing while an error
	// is pending (gate).
	c       *gate
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
	// recording is set while a graph is recorded; touching then collects
	// the memory the recorded ops declare (use, toLane), and touched
	// holds it by key, so that Free drops the recordings that use what
	// it frees.
	recording bool
	touching  *[]region
	touched   map[int][]region
	closed    bool
	// declared is what the op being queued declared it touches (use,
	// toLane); with checkDeclared (the tests) every buffer a kernel is
	// launched on must lie in it.
	declared      []region
	checkDeclared bool
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
// every convolution on cuDNN and every product on cuBLAS. The step times
// of both sets are in kernels/NOTES.md (run 13).
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
// and that a training step joins once) and on an H200; what the second
// stream gained, first joined at each op's end and then left to run on,
// is in kernels/NOTES.md (runs 7 and 10).
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
		return nil, explain(err)
	}
	e := newEngine(l, tf32, own)
	e.streams = streams
	return e, nil
}

// newEngine is the engine on device c.
func newEngine(c gpu, tf32, own bool) *Engine {
	e := &Engine{convs: map[engine.ConvShape]convPlan{}, dzs: map[any]*devBuf{}, graphs: map[int]graph{}, warm: map[int]bool{},
		usedDirs: map[planDir]bool{}, settled: map[planDir]bool{}, tuners: map[int]*tuner{}, touched: map[int][]region{}, tf32: tf32, own: own}
	e.c = &gate{gpu: c, e: e}
	return e
}

// device is the device itself, without the gate.
func (e *Engine) device() gpu { return e.c.gpu }

// gate is the device as the ops see it: while an error is pending (e.err,
// reported by the next Sync, Read or Replay) it queues no work and
// returns nil, so that no op consumes what a failed one left (a buffer
// never allocated, a result never computed). Ordering (Fork, Join), waits,
// copies, memory and recordings pass through. In the tests it also checks
// that each kernel touches only what its op declared (launching).
type gate struct {
	gpu
	e *Engine
}

func (g *gate) open() bool { return g.e.err == nil }

// launching checks, with checkDeclared, that every buffer of a launch of
// kernel name lies in what its op declared; false: it does not (the
// engine's bug, recorded as the op's error).
func (g *gate) launching(name string, args []cu.Arg) bool {
	if !g.e.checkDeclared {
		return true
	}
	for i, a := range args {
		if a.Extent() == 0 || a.Bits() == 0 {
			continue
		}
		r := region{cu.Ptr(a.Bits()), cu.Ptr(a.Bits()) + cu.Ptr(a.Extent())}
		if !slices.ContainsFunc(g.e.declared, func(d region) bool { return d.lo <= r.lo && r.hi <= d.hi }) {
			g.e.fail(bug("%s's argument %d, bytes %#x–%#x, is not in what its op declared it touches (use or toLane misses it)", name, i, r.lo, r.hi))
			return false
		}
	}
	return true
}

func (g *gate) Zero(p cu.Ptr, bytes int) error {
	if !g.open() {
		return nil
	}
	return g.gpu.Zero(p, bytes)
}

func (g *gate) Launch(name string, n int64, block int, args ...cu.Arg) error {
	if !g.open() || !g.launching(name, args) {
		return nil
	}
	return g.gpu.Launch(name, n, block, args...)
}

func (g *gate) LaunchBlocks(name string, grid, block int, args ...cu.Arg) error {
	if !g.open() || !g.launching(name, args) {
		return nil
	}
	return g.gpu.LaunchBlocks(name, grid, block, args...)
}

func (g *gate) LaunchOn(l lane, name string, n int64, block int, args ...cu.Arg) error {
	if !g.open() || !g.launching(name, args) {
		return nil
	}
	return g.gpu.LaunchOn(l, name, n, block, args...)
}

func (g *gate) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	if !g.open() {
		return nil
	}
	return g.gpu.SgemmRowMajor(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc)
}

func (g *gate) SgemmRowMajorOn(l lane, transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	if !g.open() {
		return nil
	}
	return g.gpu.SgemmRowMajorOn(l, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc)
}

func (g *gate) NewConv(s engine.ConvShape) (convPlan, error) {
	p, err := g.gpu.NewConv(s)
	if err != nil {
		return nil, err
	}
	return &gatedPlan{p, g}, nil
}

// gatedPlan is a convolution plan behind the gate.
type gatedPlan struct {
	convPlan
	g *gate
}

func (p *gatedPlan) Forward(x, w, y, ws cu.Ptr, wsBytes int) error {
	if !p.g.open() {
		return nil
	}
	return p.convPlan.Forward(x, w, y, ws, wsBytes)
}

func (p *gatedPlan) BackwardData(w, dy, dx, ws cu.Ptr, wsBytes int) error {
	if !p.g.open() {
		return nil
	}
	return p.convPlan.BackwardData(w, dy, dx, ws, wsBytes)
}

func (p *gatedPlan) BackwardFilter(l lane, x, dy, dw, ws cu.Ptr, wsBytes int) error {
	if !p.g.open() {
		return nil
	}
	return p.convPlan.BackwardFilter(l, x, dy, dw, ws, wsBytes)
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
		if e.recording {
			e.fail(bug("the second stream made during a graph recording (the warm-up run makes it)"))
			return nil
		}
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
	e.touch(a)
	a.each(func(r region, _ bool) bool {
		e.declared = append(e.declared, r)
		return true
	})
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
	e.touch(a)
	e.declared = e.declared[:0]
	a.each(func(r region, _ bool) bool {
		e.declared = append(e.declared, r)
		return true
	})
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

// touch notes, during a recording, the memory an op declares.
func (e *Engine) touch(a access) {
	if e.touching != nil {
		a.each(func(r region, _ bool) bool {
			*e.touching = append(*e.touching, r)
			return true
		})
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

// fail records the first error of a queued op, with its hint.
func (e *Engine) fail(err error) {
	if err != nil && e.err == nil {
		e.err = explain(err)
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
		return nil, explain(err)
	}
	// Zeroed whatever error is pending (past the gate).
	if err := e.device().Zero(p, n*dt.Size()); err != nil {
		e.c.Free(p)
		return nil, explain(err)
	}
	return &tensor{p: p, n: n, dt: dt, owner: true}, nil
}

// Free releases a tensor from Alloc, and first the recordings that use
// its memory.
func (e *Engine) Free(t engine.Tensor) {
	if d, ok := t.(*tensor); ok && d.owner && d.p != 0 {
		e.forget(regionOf(t))
		e.settle()
		e.fail(e.c.Sync())
		e.fail(e.c.Free(d.p))
		d.p = 0
	}
}

// forget drops every recording that touches memory r.
func (e *Engine) forget(r region) {
	for key, rs := range e.touched {
		if slices.ContainsFunc(rs, func(x region) bool { return x.lo < r.hi && r.lo < x.hi }) {
			e.drop(key)
		}
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
	return explain(e.c.CopyIn(d.p+cu.Ptr(off*dt.Size()), p, n*dt.Size()))
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
	return explain(e.c.CopyOut(p, s.p+cu.Ptr(off*dt.Size()), n*dt.Size()))
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
	return explain(e.c.Sync())
}

// Close releases everything, whatever a failure left (a second Close does
// nothing).
func (e *Engine) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	defer trace.Begin(trace.EngineClose).End()
	err := e.Sync()
	e.Reset()
	if e.timer != nil {
		e.c.DestroyEvent(e.timer)
		e.timer = nil
	}
	for s, cv := range e.convs {
		cv.Close()
		delete(e.convs, s)
	}
	if e.lane != nil {
		if lerr := e.c.CloseLane(e.lane); err == nil {
			err = explain(lerr)
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
		err = explain(cerr)
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
//
// A failed warm-up or recording is not kept: the next call for the key
// starts again with a warm-up (which sizes what a failure left unsized).
func (e *Engine) Replay(key int, fn func()) error {
	if err := e.takeErr(); err != nil {
		return err // of an op queued before
	}
	if t := e.tuners[key]; t != nil {
		return explain(e.tuneStep(key, t))
	}
	if g, ok := e.graphs[key]; ok {
		return explain(e.c.Replay(g))
	}
	if !e.warm[key] {
		defer trace.Begin(trace.WarmUp).End()
		// Set first: fn may drop it (growing buffers resets).
		e.warm[key] = true
		fn()
		e.settle()
		if err := e.takeErr(); err != nil {
			delete(e.warm, key)
			return err
		}
		return nil
	}
	clear(e.usedDirs)
	g, touched, err := e.capture(fn)
	if err != nil {
		delete(e.warm, key)
		return err
	}
	e.graphs[key], e.touched[key] = g, touched
	if t := e.newTuner(g, fn); t != nil {
		e.tuners[key] = t
		return explain(e.tuneStep(key, t))
	}
	return explain(e.c.Replay(g))
}

// capture records fn as a graph, with the memory its ops declare.
func (e *Engine) capture(fn func()) (graph, []region, error) {
	defer trace.Begin(trace.GraphRecord).End()
	var touched []region
	e.recording, e.touching = true, &touched
	defer func() { e.recording, e.touching = false, nil }()
	g, err := e.c.Capture(func() error {
		fn()
		e.settle() // a recording must end with every stream joined
		return e.takeErr()
	})
	return g, touched, explain(err)
}

// Reset drops every recorded graph.
func (e *Engine) Reset() {
	for k := range e.tuners {
		e.drop(k)
	}
	for k := range e.graphs {
		e.drop(k)
	}
	clear(e.warm)
}

// drop drops key's recordings and their timing, and its warm-up.
func (e *Engine) drop(key int) {
	if t := e.tuners[key]; t != nil {
		t.destroy(e)
		delete(e.tuners, key)
	}
	if g, ok := e.graphs[key]; ok {
		e.c.Destroy(g)
		delete(e.graphs, key)
	}
	delete(e.touched, key)
	delete(e.warm, key)
}

// devBuf is device scratch that grows on demand.
type devBuf struct {
	p     cu.Ptr
	bytes int
}

// grow returns b's memory with at least bytes, reallocating it when it is
// smaller, or false when that failed (the error recorded): the op must
// then queue nothing. Growing drops the recorded steps, which refer to the
// old memory, and so never happens during a recording (a warm-up run
// sizes everything first): that is refused as the engine's bug.
func (e *Engine) grow(b *devBuf, bytes int) (cu.Ptr, bool) {
	if bytes <= b.bytes {
		return b.p, true
	}
	if e.recording {
		e.fail(bug("scratch grown during a graph recording (the warm-up run sizes it)"))
		return 0, false
	}
	e.settle()
	e.Reset()
	if b.p != 0 {
		e.fail(e.c.Sync())
		e.fail(e.c.Free(b.p))
		b.p, b.bytes = 0, 0
	}
	p, err := e.c.Alloc(bytes)
	if err != nil {
		e.fail(err)
		return 0, false
	}
	b.p, b.bytes = p, bytes
	return p, true
}

// dzFor returns device scratch of at least n floats for the activation
// gradient of the layer of shape key (its batch size set to 0): a buffer
// a layer, so that one layer's dz, still read on the lane, is not
// overwritten by the next layer's. False: it could not be allocated.
func (e *Engine) dzFor(key any, n int) (cu.Ptr, bool) {
	b := e.dzs[key]
	if b == nil {
		b = &devBuf{}
		e.dzs[key] = b
	}
	return e.grow(b, n*4)
}

// partialFor returns device scratch for n partial sums (false: it could
// not be allocated).
func (e *Engine) partialFor(n int) (cu.Ptr, bool) { return e.grow(&e.partial, n*4) }

// splits is kernels.Splits on this GPU.
func (e *Engine) splits(k, n int) int { return kernels.Splits(k, n, e.c.Info().Multiprocessors) }

// The directions of a convolution plan.
const (
	dirForward = 0
	dirData    = 1
	dirFilter  = 2
)

var dirNames = [3]string{"forward", "data gradient", "filter gradient"}

// plan returns the cuDNN plan for shape s with direction dir's algorithm
// chosen and ws grown to its workspace, making the plan on first use and
// choosing the algorithm on the direction's first use (so inference never
// searches the backward directions), or nil when that failed (the error
// recorded). Both happen outside recordings (a warm-up run comes first):
// during one they are refused as the engine's bug.
func (e *Engine) plan(s engine.ConvShape, dir int, ws *devBuf) convPlan {
	cv, ok := e.convs[s]
	if !ok || !cv.Prepared(dir) {
		if e.recording {
			e.fail(bug("convolution %+v's %s prepared during a graph recording (the warm-up run prepares it)", s, dirNames[dir]))
			return nil
		}
		defer trace.Begin(trace.ConvAlgo).End()
	}
	if !ok {
		p, err := e.c.NewConv(s)
		if err != nil {
			e.fail(fmt.Errorf("preparing convolution %+v: %w", s, err))
			return nil
		}
		cv = p
		e.convs[s] = cv
	}
	if !cv.Prepared(dir) {
		if err := cv.Prepare(dir); err != nil {
			e.fail(fmt.Errorf("choosing the %s algorithm of convolution %+v: %w", dirNames[dir], s, err))
			return nil
		}
	}
	if _, ok := e.grow(ws, cv.Workspace(dir)); !ok {
		return nil
	}
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
		return explain(err)
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
	defer e.c.DestroyEvent(a)
	e.settle()
	b, err := e.c.Record()
	if err != nil {
		return 0, explain(err)
	}
	defer e.c.DestroyEvent(b)
	ms, err := e.c.Elapsed(a, b)
	if err != nil {
		return 0, explain(err)
	}
	if err := e.Sync(); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}
