//go:build cgo && !windows

// Package cuda is the GPU engine: engine.Engine on one NVIDIA GPU through
// the cuda and cudnn bindings (cuDNN convolutions, cuBLAS SGEMM for the
// dense layers, and our kernels for everything else). Ops queue work on one
// stream and return; Sync, Read and Close report the first failure. A
// training step, after one warm-up run, is recorded as a CUDA graph per
// batch size and replayed (engine.Capturer).
//
// engine.go holds the engine and its life (New, errors, Sync, Close);
// config.go its settings; device.go the device it runs on (gpu) and the
// real one; gate.go what stands between the ops and the device; ops.go
// the ops; hazards.go the second stream's ordering; memory.go tensors;
// scratch.go scratch and cuDNN's plans; graphs.go recordings and timers;
// tune.go the in-place timing of cuDNN's alternatives and our convolution
// kernels; errors.go what the errors say to do.
package cuda

import (
	"fmt"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
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
	_ engine.HeadStepper        = (*Engine)(nil)
	_ engine.OccasionalSteps    = (*Engine)(nil)
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
	// eager is the keys whose recording failed for a reason of its own
	// (not memory, not the device): their steps run without a graph
	// (Replay, warnEager).
	eager map[int]bool
	err   error // first failure of a queued op
	tf32  bool
	own   bool // the own kernel set (KernelsEnv)
	conv  convMode
	// convOwn is the convolution directions that run on our conv3
	// kernels in ConvEnv's "timed" mode: timed faster in place
	// (tune.go) or remembered so (choices.go).
	convOwn map[planDir]bool
	// conv3Used is the shapes some conv3 kernel ran (ConvAlgorithms).
	conv3Used map[engine.ConvShape]bool
	// dense: how dense layers' products run their epilogues (DenseEnv);
	// gemms holds the fused products' plans, nil for a product cuBLASLt
	// has no algorithm for; fusedOn is the dense directions (denseDir)
	// that run fused in DenseEnv's "timed" mode: timed faster in place
	// (tune.go) or remembered so (fused.go).
	dense   denseMode
	gemms   map[cu.GemmSpec]gemmPlan
	fusedOn map[planDir]bool
	// gemmDir is the plan each dense direction's product used last.
	gemmDir map[planDir]gemmPlan
	// fusedDrops counts the products that run apart because cuBLASLt
	// failed at them in DenseEnv's "timed" mode (warnFused).
	fusedDrops int
	// eagerRuns counts the recordings that failed on their own, after
	// which their steps run without a graph (warnEager).
	eagerRuns int
	// snap is the device copy of the tensors a ReadLater reads back,
	// copyLane the lane that reads it to the host, later the wait of the
	// last ReadLater (nil: none; once it returned, snap is free again).
	snap     devBuf
	copyLane lane
	later    func() error
	streams  bool   // a second stream in the backward ops (StreamsEnv)
	lane     lane   // that stream, made on first use
	wsLane   devBuf // the lane's cuDNN workspace
	// laneUse is what the work queued on the lane since its last join
	// touches; the main stream joins the lane before it touches any of it
	// (use) and before a wait, copy or recording's end (settle).
	laneUse []laneAccess
	// updates: with the second stream, a third (upd, made on first use)
	// takes the optimizer's updates and the step counts' increments
	// (StreamsEnv 3, toUpdates); updUse is what its work since its last
	// join touches, which the main stream and the lane wait for before
	// touching (use, toLane).
	updates bool
	upd     lane
	updUse  []laneAccess
	// pendingSteps are the step counts whose increments Update left for
	// flushSteps (steps.go).
	pendingSteps []region
	// In-place tuning of cuDNN's algorithm choices (tune.go): the
	// directions of each plan a recording used, those already tuned, and
	// the recordings being timed.
	usedDirs map[planDir]bool
	settled  map[planDir]bool
	// restored is the directions settled by an earlier process's timing
	// (choices.go): never timed in this one, so their workspace is the
	// algorithm's own, not their alternatives' (plan).
	restored map[planDir]bool
	// lost is the directions an alternative of which could not be
	// recorded for timing: not remembered as timed.
	lost map[planDir]bool
	// trimmed is the directions whose alternatives needing more workspace
	// than could be had were left out (plan): the rest are timed, but
	// the choice is not remembered by this process.
	trimmed map[planDir]bool
	tuners  map[int]*tuner
	// besideOn: cuDNN's first calls may be made beside the first steps
	// (BesideEnv); beside is those calls in flight, whose convolutions
	// run on our kernels meanwhile (beside.go); dnnLoaded: cuDNN's
	// first calls have been made, by a plan or beside.
	besideOn bool
	// besideLate: start them once the step is recorded (BesideEnv
	// "recorded"), not at the first use of a convolution's gradient (the
	// default, inside the first training step: needsPlan).
	besideLate bool
	// noHead: HeadStep runs the three kernels each way, not dense_xent
	// and head_grads (HeadEnv 0).
	noHead bool
	// warming: a first step (Replay's warm-up) is being queued (warmOp).
	warming bool
	// fusedUpdate: DenseBackwardUpdate runs the first dense layer's
	// weight gradient and update as dense_wgrad_adam (DenseUpdateEnv
	// "fused").
	fusedUpdate bool
	// priority: which streams' work goes first (PriorityEnv).
	priority  cu.Priority
	beside    *besideJob
	dnnLoaded bool
	// besideEager is the keys whose recording failed while cuDNN loaded
	// beside: their steps run without a graph until the switch, which
	// records them again; rerecord: since the switch no step has been
	// recorded yet (Tuning).
	besideEager map[int]bool
	rerecord    bool
	// occasional is the keys whose steps come rarely, occasionalFrom
	// the batch size whose choices they take (SetOccasional), adopted
	// the directions that took them (sibling.go).
	occasional     map[int]bool
	occasionalFrom int
	adopted        map[planDir]bool
	// choices remembers searches and in-place timings between processes
	// (choices.go; nil: off), under keys that start with identity.
	choices  *choiceStore
	identity string
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
	// marks, while a timeline's step is recorded (timeline.go), collects
	// the events the gate records after each op.
	marks *[]markPoint
}

// New opens GPU device with strict FP32 math, or TF32 tensor cores when
// tf32 is set.
func New(device int, tf32 bool) (*Engine, error) {
	env, err := readEnv()
	if err != nil {
		return nil, err
	}
	// Once the driver has started, cuBLAS and cuDNN open on another
	// goroutine while this one makes the context and loads our kernels
	// (cuda.Preload); a driver that does not start is openLibrary's to
	// report.
	if env.preload && cu.Load() == nil {
		cu.Preload(cudnn.Preload)
	}
	l, err := openLibrary(device, kernels.Fatbin, kernels.PTX, kernels.Names, tf32, env.priority)
	if err != nil {
		if env.preload {
			cu.AbandonPreload() // a CPU fallback needs none of it
		}
		return nil, explain(err)
	}
	e := newEngine(l, tf32, env.own)
	e.setStreams(env.streams)
	e.conv, e.dense, e.priority, e.noHead, e.fusedUpdate = env.conv, env.dense, env.priority, !env.head, env.fusedUpdate
	e.besideOn, e.besideLate = env.beside != besideOff, env.beside == besideAfterRecording
	if e.choices = choicesFromEnv(); e.choices != nil {
		e.identity = l.Identity()
	}
	return e, nil
}

// newEngine is the engine on device c.
func newEngine(c gpu, tf32, own bool) *Engine {
	e := &Engine{convs: map[engine.ConvShape]convPlan{}, dzs: map[any]*devBuf{}, graphs: map[int]graph{}, warm: map[int]bool{}, eager: map[int]bool{},
		usedDirs: map[planDir]bool{}, settled: map[planDir]bool{}, restored: map[planDir]bool{}, lost: map[planDir]bool{}, trimmed: map[planDir]bool{}, convOwn: map[planDir]bool{}, conv3Used: map[engine.ConvShape]bool{}, gemms: map[cu.GemmSpec]gemmPlan{}, fusedOn: map[planDir]bool{}, gemmDir: map[planDir]gemmPlan{}, tuners: map[int]*tuner{}, touched: map[int][]region{}, occasional: map[int]bool{}, adopted: map[planDir]bool{}, besideEager: map[int]bool{}, tf32: tf32, own: own}
	e.c = &gate{gpu: c, e: e}
	return e
}

// device is the device itself, without the gate.
func (e *Engine) device() gpu { return e.c.gpu }

// Name describes the engine.
func (e *Engine) Name() string {
	d := e.c.Info()
	return fmt.Sprintf("cuda GPU %d (%s, sm_%d%d, %s)", d.Index, d.Name, d.ComputeMajor, d.ComputeMinor, e.variant())
}

// variant is the precision, kernel set, where the convolutions our
// kernels take run when not timed (ConvEnv), the dense layers' products
// when not timed (DenseEnv) and streams, e.g. "fp32, own kernels, 2
// streams".
func (e *Engine) variant() string {
	p := "fp32"
	if e.tf32 {
		p = "tf32"
	}
	if e.own {
		p += ", own kernels"
	}
	switch {
	case !e.own:
	case e.conv == convOwn:
		p += ", own convolutions"
	case e.conv == convCUDNN:
		p += ", cuDNN convolutions"
	}
	switch e.dense {
	case denseLt:
		p += ", cuBLASLt dense"
	case denseCUBLAS:
		p += ", cuBLAS dense"
	}
	if e.own && e.fusedUpdate {
		p += ", fused dense update"
	}
	switch {
	case e.updates:
		p += ", 3 streams"
	case e.streams:
		p += ", 2 streams"
	}
	switch {
	case !e.streams: // one stream: nothing to put first
	case e.priority == cu.MainFirst:
		p += ", main stream first"
	case e.priority == cu.LanesFirst:
		p += ", second stream first"
	}
	return p
}

// fail records the first error of a queued op, with its hint.
func (e *Engine) fail(err error) {
	if err != nil && e.err == nil {
		e.err = e.explain(err)
	}
}

// takeErr returns the recorded error and clears it. One recorded during a
// recording, which fail could not ask the device about, leaves through
// capture, which asks once the recording has ended.
func (e *Engine) takeErr() error {
	err := e.err
	e.err = nil
	return err
}

// Sync waits for the stream and returns the first error.
func (e *Engine) Sync() error {
	e.settle()
	if err := e.takeErr(); err != nil {
		return err
	}
	return e.explain(e.c.Sync())
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
	e.waitBeside()
	e.awaitLater()
	e.Reset()
	if e.timer != nil {
		e.c.DestroyEvent(e.timer)
		e.timer = nil
	}
	for s, cv := range e.convs {
		cv.Close()
		delete(e.convs, s)
	}
	e.closeGemms()
	for _, l := range []*lane{&e.lane, &e.upd, &e.copyLane} {
		if *l != nil {
			if lerr := e.c.CloseLane(*l); err == nil {
				err = explain(lerr)
			}
			*l = nil
		}
	}
	bufs := []*devBuf{&e.ws, &e.wsLane, &e.partial, &e.snap}
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
