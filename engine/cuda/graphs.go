//go:build cgo && !windows

// graphs.go: recorded steps (engine.Capturer): a warm-up run, then a CUDA
// graph recorded and replayed, with the memory each recording's ops declare
// kept so that Free drops the ones it would break, and its tuning
// (tune.go); and timing on the device with events (engine.DeviceTimer).

package cuda

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/cnngpu/cnngpu/engine"

	"github.com/cnngpu/cnngpu/internal/trace"
)

// Replay runs fn directly the first time for a key (warm-up: cuDNN picks
// algorithms, buffers are allocated), records it as a CUDA graph the second
// time, and replays the graph from then on. Where a convolution direction
// the recording uses has alternatives (cuDNN's close algorithms, our conv3
// kernels), fn is also recorded with each, and the calls that follow time
// the recordings in turn, one direction at a time, keeping the fastest
// (tune.go); every call runs fn's work once.
//
// A failed warm-up is not kept: the next call for the key starts again
// with a warm-up (which sizes what a failure left unsized). So is a
// recording that failed for want of memory or with the device; one that
// failed otherwise (a call CUDA cannot record, a graph it will not
// instantiate) makes the key's steps run without a graph from then on,
// that step included, with a warning once a process.
func (e *Engine) Replay(key int, fn func()) error {
	if err := e.takeErr(); err != nil {
		return err // of an op queued before
	}
	if e.adoptBeside(); e.beside != nil {
		defer trace.Begin(trace.BesideSteps).End()
	}
	if e.eager[key] || e.besideEager[key] {
		if e.eager[key] {
			e.rerecord = false // never recorded again
		}
		e.kickBeside()
		return e.runEager(fn)
	}
	if t := e.tuners[key]; t != nil {
		e.kickBeside()
		return e.explain(e.tuneStep(key, t))
	}
	if g, ok := e.graphs[key]; ok {
		e.kickBeside()
		return e.explain(e.c.Replay(g))
	}
	if !e.warm[key] {
		defer trace.Begin(trace.WarmUp).End()
		// Set first: fn may drop it (growing buffers resets).
		e.warm[key] = true
		e.warming = true
		defer func() { e.warming = false }()
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
		if !recordingOnly(err) {
			return err
		}
		// The warm-up ran this work: what failed is the recording.
		if e.beside != nil {
			// Perhaps spoiled by cuDNN's loading beside: without a
			// graph only until the switch, which records it again.
			e.besideEager[key] = true
			return e.runEager(fn)
		}
		// The step runs without a graph from here, slower.
		e.eager[key] = true
		e.rerecord = false
		e.warnEager(err)
		return e.runEager(fn)
	}
	e.graphs[key], e.touched[key] = g, touched
	e.rerecord = false
	t := e.newTuner(g, fn) // may record the alternatives
	// The step is recorded: cuDNN's loading beside starts here where it
	// has not yet (BesideEnv "recorded"; by default it started at the
	// first use of a convolution's gradient, needsPlan).
	e.kickBeside()
	if t != nil {
		e.tuners[key] = t
		return e.explain(e.tuneStep(key, t))
	}
	return e.explain(e.c.Replay(g))
}

// warmOp times op's queuing during a first step (WarmUp), where its
// one-time work lands (trace.WarmUpOp: the trace's table splits the first
// step by op); elsewhere the zero Span, which does nothing.
func (e *Engine) warmOp(op string) trace.Span {
	if !e.warming {
		return trace.Span{}
	}
	return trace.Begin(trace.WarmUpOp + op)
}

// runEager runs fn's work as it is queued, without a recording.
func (e *Engine) runEager(fn func()) error {
	fn()
	e.settle()
	return e.explain(e.takeErr())
}

// recordingOnly tells whether err, a recording's failure, may be the
// recording's alone (a call CUDA cannot record, a graph it will not
// instantiate), so that the same work run without one may succeed: not
// out of memory, not a device fault, not the engine's own bug.
func recordingOnly(err error) bool {
	var x *Error
	return errors.As(err, &x) && x.Hint == hintOther && !errors.Is(err, engine.ErrDeviceLost)
}

// warnEager says once a process that a step runs without its graph.
func (e *Engine) warnEager(err error) {
	e.eagerRuns++
	if eagerWarned.Swap(true) {
		return
	}
	warnf("recording the step as a CUDA graph failed: %v\nthe step runs without a graph from here (slower), and the run goes on\nhint: if it should work here, CNNGPU_DEBUG=1 names the call that broke the recording", err)
}

// eagerWarned: warnEager has spoken in this process.
var eagerWarned atomic.Bool

// capture records fn as a graph, with the memory its ops declare.
func (e *Engine) capture(fn func()) (graph, []region, error) {
	defer trace.Begin(trace.GraphRecord).End()
	// Nothing queued before may end up in the recording (a step count's
	// increment left pending would then count every replay).
	e.settle()
	var touched []region
	e.recording, e.touching = true, &touched
	defer func() { e.recording, e.touching = false, nil }()
	g, err := e.c.Capture(func() error {
		fn()
		e.settle() // a recording must end with every stream joined
		return e.takeErr()
	})
	e.recording, e.touching = false, nil // before explain asks the device
	return g, touched, e.explain(err)
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

// StartTimer records a CUDA event on the stream (engine.DeviceTimer).
func (e *Engine) StartTimer() error {
	if e.timer != nil {
		panic("cuda: StartTimer twice without StopTimer")
	}
	e.settle()
	ev, err := e.c.Record()
	if err != nil {
		return e.explain(err)
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
		return 0, e.explain(err)
	}
	defer e.c.DestroyEvent(b)
	ms, err := e.c.Elapsed(a, b)
	if err != nil {
		return 0, e.explain(err)
	}
	if err := e.Sync(); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}
