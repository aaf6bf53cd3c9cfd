//go:build cgo && !windows

// steps.go: the optimizer's step counts, added to once a training step in
// one launch. Update queues its update kernel and leaves the increment of
// its step count pending; the pending increments are queued together
// (step_inc over the counts that lie side by side: a model's four layers'
// in one launch, not one a layer, each a node on the path of the stream
// the updates run on) when the streams are joined (settle: a step's or
// recording's end, any wait or copy), and before any op touches a pending
// count (an update of the same count, a Fill), so that nothing reads a
// count before its increment.

package cuda

import (
	"cmp"
	"slices"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
)

// pendStep leaves the increment of step (a count of one float) for the
// next flushSteps.
func (e *Engine) pendStep(step engine.Tensor) {
	e.pendingSteps = append(e.pendingSteps, regionOf(step))
}

// stepsTouched reports whether a touches a count whose increment is
// pending.
func (e *Engine) stepsTouched(a access) bool {
	hit := false
	a.each(func(r region, _ bool) bool {
		for _, p := range e.pendingSteps {
			if r.lo < p.hi && p.lo < r.hi {
				hit = true
			}
		}
		return !hit
	})
	return hit
}

// flushSteps queues the pending increments, one step_inc for each run of
// counts that lie side by side, where the updates went (toUpdates: the
// lane with two streams, the updates' stream with three, forked there
// after the main stream's work so far), and
// declares them as part of the op being queued, if any. With an error
// pending (which shuts the gate) they are queued all the same, past the
// gate, so that the counts of the updates queued before it still match
// them; inside a recording, which that error discards, they are dropped.
func (e *Engine) flushSteps() {
	if len(e.pendingSteps) == 0 {
		return
	}
	rs := e.pendingSteps
	e.pendingSteps = nil
	slices.SortFunc(rs, func(a, b region) int { return cmp.Compare(a.lo, b.lo) })
	runs := rs[:1]
	for _, r := range rs[1:] {
		if last := &runs[len(runs)-1]; r.lo == last.hi {
			last.hi = r.hi
		} else {
			runs = append(runs, r)
		}
	}
	a := access{w: runs}
	l := e.toUpdates(a)
	if l == nil {
		e.alsoUse(a)
	}
	for _, r := range runs {
		n := int(r.hi-r.lo) / 4
		switch {
		case e.err == nil:
			e.fail(e.c.LaunchOn(l, "step_inc", int64(n), block, bufArg(r), cu.I(n)))
		case !e.recording:
			// The error is already the one reported; a device that
			// fails this as well has nothing left to count.
			_ = e.device().LaunchOn(l, "step_inc", int64(n), block, bufArg(r), cu.I(n))
		}
	}
}
