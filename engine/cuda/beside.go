//go:build cgo && !windows

// beside.go: cuDNN's first calls made beside the first training steps.
// cuDNN's first call that needs its kernels loads them into the context:
// 146–203 ms in every process on an H200 (kernels/NOTES.md, "cuDNN's
// first call is module loading"), a tenth of the default run, spent
// before the first step could run. Where our conv3 kernels can run every
// direction of a convolution (conv3Block) and an earlier process's
// choices for all three are remembered (choices.go), the engine instead
// runs the shape on our kernels from its first use (aside), and at the
// first use of one of its gradients (needsPlan: inside the first training
// step, never in a process that only evaluates) starts a goroutine that
// makes the calls restoring those choices makes and runs each direction
// once (gpu.WarmDNN, on a cuDNN handle, buffers and stream of its own).
// BesideEnv "recorded" starts it later, once the step is recorded (the
// first replay of a graph): that let 430–550 steps run on our slower
// kernels where the early start let up to 180, and ended a warm run 50 ms
// later on an H100 (kernels/NOTES.md, run 19); the first step took
// 100–160 ms either way there. At the first step that begins once that
// goroutine is done (Replay), it switches: the recordings are dropped, and
// each key's next warm-up run restores the choices as without this (fast
// now) and records the step with cuDNN or our kernels as the choices say.
// A step's ops all see one state: the switch happens only between steps.
// A recording that fails meanwhile (the other thread's loading could
// spoil it) runs that key's steps without one only until the switch.
// Processes that never train (evaluation, prediction) stay on our
// kernels and never start it; Close waits for one started.
//
// A first run (nothing remembered) searches as before, which loads cuDNN
// in the search; BesideEnv=0 turns this off.

package cuda

import (
	"slices"

	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/envflag"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// dnnPick is one direction's remembered choice for gpu.WarmDNN: the
// search's result and the algorithm in use, as restore passes them to
// convPlan.Restore.
type dnnPick struct {
	dir   int
	timed []cudnn.AlgoTime
	algo  int
}

// besideJob is cuDNN's first calls, to be made (start) or in flight on
// another goroutine. Only that goroutine writes err and release, before
// it closes done.
type besideJob struct {
	done    chan struct{}
	err     error
	release func() // frees what WarmDNN made (nil before done)
	start   func() // starts the goroutine (kickBeside); nil once started
}

// finished reports, without waiting, whether the job is done.
func (j *besideJob) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// aside reports whether convolution s runs on our kernels because cuDNN
// is being loaded beside. Between two steps its answer changes only at
// adoptBeside.
func (e *Engine) aside(s engine.ConvShape) bool { return e.beside != nil && e.ownAll(s) }

// goAside is aside, first starting the loading beside at s's first use
// where it applies (startBeside): the ops call it where they would make
// s's plan (needsPlan).
func (e *Engine) goAside(s engine.ConvShape) bool {
	// (A plan made for any shape has made cuDNN's first calls:
	// dnnLoaded.)
	if e.beside != nil || !e.besideOn || e.dnnLoaded || e.recording || e.choices == nil || !e.ownAll(s) {
		return e.aside(s)
	}
	return e.startBeside(s)
}

// ownAll reports whether our conv3 kernels can run all three directions
// of s (in ConvEnv's "timed" mode: "own" needs no cuDNN, "cudnn" no
// kernel of ours).
func (e *Engine) ownAll(s engine.ConvShape) bool {
	if e.conv != convTimed {
		return false
	}
	for dir := range 3 {
		if e.conv3Block(s, dir) == 0 {
			return false
		}
	}
	return true
}

// startBeside readies the goroutine that makes cuDNN's first calls for s
// with the choices remembered for its three directions (kickBeside starts
// it), and reports whether it did: not where one of them is not remembered as settled by
// timing in place (that process searches, or times, in this one).
func (e *Engine) startBeside(s engine.ConvShape) bool {
	j := &besideJob{done: make(chan struct{})}
	var picks []dnnPick
	for dir := range 3 {
		c, ok := e.choices.get(e.choiceKey(s, dir))
		if !ok || !c.Tuned {
			return false
		}
		picks = append(picks, dnnPick{dir, slices.Clone(c.Timed), c.Algo})
	}
	dev := e.device()
	j.start = func() {
		go func() {
			defer close(j.done)
			defer trace.Aside()()
			defer trace.Begin(trace.DNNBeside).End()
			j.release, j.err = dev.WarmDNN(s, picks)
		}()
	}
	e.beside = j
	return true
}

// kickBeside starts cuDNN's first calls where they wait to be started:
// needsPlan at the first use of a convolution's gradient (the default),
// and Replay as it replays a recorded step or runs one that could not be
// recorded (the start for BesideEnv "recorded", a backstop otherwise).
func (e *Engine) kickBeside() {
	if j := e.beside; j != nil && j.start != nil {
		start := j.start
		j.start = nil
		start()
	}
}

// adoptBeside ends the steps on our kernels once cuDNN's first calls are
// done (Replay, before a step): the recordings made meanwhile are
// dropped (every key warms up and records again, making its plans as
// without the loading beside, fast now) and what WarmDNN made is freed;
// Tuning stays true until a step is recorded again.
func (e *Engine) adoptBeside() {
	j := e.beside
	if j == nil || !j.finished() {
		return
	}
	defer trace.Begin(trace.BesideAdopt).End()
	e.beside, e.dnnLoaded, e.rerecord = nil, true, true
	clear(e.besideEager)
	if j.err != nil && envflag.On(DebugEnv) {
		warnf("cuDNN's first calls beside the first steps: %v (the steps go on; restoring the choices reports what matters)", j.err)
	}
	e.Reset()
	j.release()
}

// waitBeside waits for cuDNN's first calls in flight (the goroutine uses
// the context) and frees what they made (Close); calls never started
// are dropped.
func (e *Engine) waitBeside() {
	j := e.beside
	if j == nil {
		return
	}
	if j.start != nil {
		e.beside = nil
		return
	}
	sp := trace.Begin(trace.BesideWait)
	<-j.done
	sp.End()
	e.beside = nil
	j.release()
}
