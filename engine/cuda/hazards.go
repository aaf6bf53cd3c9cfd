//go:build cgo && !windows

// hazards.go: the streams' hazard tracking. Each op declares the device
// memory it reads and writes (access, from tensors' regions); work sent to
// the second stream (toLane), or with three streams to the updates' stream
// (toUpdates), is remembered by what it touches, and the main stream joins
// that stream before it touches any of that (use), and before a wait, copy
// or recording's end (settle); the second stream and the updates' wait for
// each other where one's work touches what the other's touches.

package cuda

import (
	"fmt"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
)

// laneFor returns the second stream when the engine uses one, making it on
// first use (outside a recording: the warm-up run of a step comes first),
// or nil.
func (e *Engine) laneFor() lane {
	if !e.streams {
		return nil
	}
	return e.made(&e.lane, "the second stream", "set %s=1 to use one stream", e.c.NewLane)
}

// updLaneFor returns the updates' stream, making it on first use (outside
// a recording, as laneFor).
func (e *Engine) updLaneFor() lane {
	return e.made(&e.upd, "the optimizer updates' stream", "set %s=2, or unset it, to use two streams", e.c.NewKernelLane)
}

// made returns *l, making it with mk first where it is nil; nil (the
// error recorded) where that fails or would happen inside a recording.
// what names the stream, fewer how to do without it (with %s for
// StreamsEnv).
func (e *Engine) made(l *lane, what, fewer string, mk func() (lane, error)) lane {
	if *l == nil {
		if e.recording {
			e.fail(bug("%s made during a graph recording (the warm-up run makes it)", what))
			return nil
		}
		n, err := mk()
		if err != nil {
			e.fail(fmt.Errorf("making %s (%s): %w", what, fmt.Sprintf(fewer, StreamsEnv), err))
			return nil
		}
		*l = n
	}
	return *l
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
// stream goes on with other work. Where a conflicts with work queued on
// the updates' stream since its last join, the lane waits for that too.
func (e *Engine) toLane(a access) lane {
	if e.stepsTouched(a) {
		e.flushSteps()
	}
	l := e.laneFor()
	if l == nil {
		return nil
	}
	return e.forkTo(l, &e.laneUse, e.upd, e.updUse, a)
}

// toUpdates is where an optimizer's update with access a goes: with three
// streams (StreamsEnv), the updates' stream, ordered after the main
// stream's work so far and, where a conflicts with it (the gradient the
// update reads), the second stream's; else toLane's choice. The stream is
// joined back as the lane is (use, settle).
func (e *Engine) toUpdates(a access) lane {
	if !e.updates || !e.streams {
		return e.toLane(a)
	}
	if e.stepsTouched(a) {
		e.flushSteps()
	}
	u := e.updLaneFor()
	if u == nil {
		return nil
	}
	return e.forkTo(u, &e.updUse, e.lane, e.laneUse, a)
}

// forkTo orders stream l, for work with access a, after the main
// stream's work so far and, where a conflicts with the work queued on
// the other side stream since its last join (otherUse), after that
// stream's too; adds a to l's use, and returns l.
func (e *Engine) forkTo(l lane, use *[]laneAccess, other lane, otherUse []laneAccess, a access) lane {
	e.fail(e.c.Fork(l))
	if conflicts(a, otherUse) {
		e.fail(e.c.After(l, other))
	}
	e.noteOn(use, a)
	return l
}

// noteOn declares a as the op's (as use does) and adds it to use, what
// the work queued on a stream since its last join touches (non-nil from
// then on, so that settle joins the stream even where a is empty).
func (e *Engine) noteOn(use *[]laneAccess, a access) {
	e.touch(a)
	a.each(func(r region, _ bool) bool {
		e.declared = append(e.declared, r)
		return true
	})
	if *use == nil {
		*use = []laneAccess{}
	}
	a.each(func(r region, write bool) bool {
		*use = append(*use, laneAccess{r, write})
		return true
	})
}

// conflicts reports whether a and work that touches use touch the same
// bytes, one of the two writing.
func conflicts(a access, use []laneAccess) bool {
	conflict := false
	a.each(func(r region, write bool) bool {
		for _, u := range use {
			if (u.write || write) && r.lo < u.hi && u.lo < r.hi {
				conflict = true
			}
		}
		return !conflict
	})
	return conflict
}

// use joins the lane (and the updates' stream) into the main stream when
// work queued there conflicts with a, which the main stream is about to
// do: one of the two writes bytes the other touches.
func (e *Engine) use(a access) {
	e.declared = e.declared[:0]
	e.alsoUse(a)
}

// alsoUse is use for more memory of the op being queued: a is added to
// what it declared.
func (e *Engine) alsoUse(a access) {
	if e.stepsTouched(a) {
		e.flushSteps()
	}
	e.touch(a)
	a.each(func(r region, _ bool) bool {
		e.declared = append(e.declared, r)
		return true
	})
	if conflicts(a, e.laneUse) || conflicts(a, e.updUse) {
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

// settle queues the pending step counts' increments (steps.go), then
// joins the lane and the updates' stream into the main stream where work
// was queued on them since the last join.
func (e *Engine) settle() {
	e.flushSteps()
	if e.laneUse != nil {
		e.laneUse = nil
		e.fail(e.c.Join(e.lane))
	}
	if e.updUse != nil {
		e.updUse = nil
		e.fail(e.c.Join(e.upd))
	}
}
