//go:build cgo

// hazards.go: the two-stream hazard tracking. Each op declares the device
// memory it reads and writes (access, from tensors' regions); work sent to
// the second stream (toLane) is remembered by what it touches, and the main
// stream joins the lane before it touches any of that (use), and before a
// wait, copy or recording's end (settle).

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
	if e.stepsTouched(a) {
		e.flushSteps()
	}
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

// settle queues the pending step counts' increments (steps.go), then
// joins the lane into the main stream if work was queued on it since the
// last join.
func (e *Engine) settle() {
	e.flushSteps()
	if e.laneUse != nil {
		e.laneUse = nil
		e.fail(e.c.Join(e.lane))
	}
}
