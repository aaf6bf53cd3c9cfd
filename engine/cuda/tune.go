//go:build cgo && !windows

// tune.go: cuDNN's algorithm choices, our convolution kernels against
// them (ConvEnv), and cuBLASLt's fused dense products against the split
// ones (DenseEnv), timed where they are used. A plan picks each direction's
// algorithm (convPlan.Prepare) by timing the candidates alone
// (cudnnFind…), where close ones time alike; inside a training step,
// beside the second stream's work, one of them can be the faster by a
// tenth of the step (kernels/NOTES.md, "Measurements the code cites"). So
// when a step is first recorded, the engine times, one plan direction at
// a time, the step as recorded against the step recorded with each
// alternative of that direction swapped in: cuDNN's close algorithms
// (convPlan.Alternatives) and, for the directions our conv3 kernels take
// (conv3Block), those; for each dense layer's forward and weight-gradient
// products (denseDir), cuBLASLt's fused product with each of its
// algorithms (fused.go). The recordings are replayed in turn as the next
// real steps (each call of Replay runs one step, so training is unchanged
// but for the rounding of those steps), each timed tuneRounds times with
// CUDA events; the fastest by median is kept, and the next direction is
// timed against it. The tuner owns those events and releases each once.
// What it settles is remembered for later processes (choices.go), which
// then neither search nor time it again.

package cuda

import (
	"cmp"
	"slices"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// tuneRounds is how many steps each recording is timed over (a variable
// for the fault-injection walk, which times over fewer).
var tuneRounds = 8

// planDir is one direction (0 forward, 1 data gradient, 2 filter
// gradient) of one convolution shape's plan, or a dense layer's product
// that can fuse its epilogue on cuBLASLt (denseDir: 3 forward, 4 weight
// gradient).
type planDir struct {
	s   engine.ConvShape
	dir int
}

// uses records that the op being queued runs direction dir of s's plan.
func (e *Engine) uses(s engine.ConvShape, dir int) {
	e.usedDirs[planDir{s, dir}] = true
}

// tuner times one key's recordings, one plan direction at a time (a
// phase): the step as kept so far, and one recording per alternative of
// that direction. Each phase's fastest is kept and becomes the next
// phase's first recording, so that what one direction settled holds
// while the next is timed, and every process records and times the same
// number of steps, whatever it finds.
type tuner struct {
	fn    func()
	dirs  []planDir // the plan directions being settled, in a fixed order
	phase int       // the index in dirs of the direction being timed
	cands []*tuneCand
	next  int
}

// tuneCand is one recording and its timings; at is the swap it was
// recorded with (none for the first): cuDNN's algorithm algo, own, our
// conv3 kernel, or fused, cuBLASLt's fused product for a dense direction
// with its plan's algorithm algo.
type tuneCand struct {
	at    planDir
	algo  int
	swap  bool
	own   bool
	fused bool
	g     graph
	start []event
	end   []event
}

// newTuner starts timing the alternatives of the plan directions the
// recording g (of fn) used that are not yet settled, or returns nil when
// none has any (they are settled then).
func (e *Engine) newTuner(g graph, fn func()) *tuner {
	var dirs []planDir
	for pd := range e.usedDirs {
		if !e.settled[pd] {
			dirs = append(dirs, pd)
		}
	}
	// A fixed order (every field compared, so that it is a total one):
	// the same recordings in every process.
	slices.SortFunc(dirs, func(a, b planDir) int {
		x, y := a.s, b.s
		return cmp.Or(cmp.Compare(x.C, y.C), cmp.Compare(x.K, y.K), cmp.Compare(x.N, y.N), cmp.Compare(x.H, y.H),
			cmp.Compare(x.W, y.W), cmp.Compare(x.R, y.R), cmp.Compare(x.S, y.S), cmp.Compare(x.Pad, y.Pad), cmp.Compare(a.dir, b.dir))
	})
	for _, pd := range dirs {
		e.settled[pd] = true
	}
	t := &tuner{fn: fn, dirs: dirs, phase: -1}
	if !e.nextPhase(t, g) {
		// Nothing to time: the choices are settled.
		e.remember(dirs, true)
		return nil
	}
	return t
}

// nextPhase starts timing the next direction of t that has alternatives,
// with g (the key's recording now) as the first of its recordings, and
// reports whether there was one.
func (e *Engine) nextPhase(t *tuner, g graph) bool {
	for t.phase++; t.phase < len(t.dirs); t.phase++ {
		if alts := e.recordAlternatives(t.dirs[t.phase], t.fn); len(alts) > 0 {
			t.cands, t.next = append([]*tuneCand{{g: g}}, alts...), 0
			return true
		}
	}
	return false
}

// recordAlternatives records fn with each alternative of direction pd
// swapped in, one at a time: cuDNN's close algorithms and, where ConvEnv
// leaves it to timing, our conv3 kernel; for a dense direction
// (denseDir), cuBLASLt's fused product. One that cannot be used or
// recorded is not a candidate; where it failed for want of memory, pd is
// then lost: what this process settles for it is not remembered as timed
// (an out-of-memory moment would otherwise fix a choice made without that
// alternative for every later process), so a later one times it again.
func (e *Engine) recordAlternatives(pd planDir, fn func()) []*tuneCand {
	var out []*tuneCand
	delete(e.lost, pd)
	if isDense(pd.dir) {
		return e.recordFused(pd, fn)
	}
	if cv := e.convs[pd.s]; cv != nil {
		was := cv.Algo(pd.dir)
		for _, a := range cv.Alternatives(pd.dir) {
			if err := cv.Use(pd.dir, a); err != nil {
				e.loseIfOOM(pd, err)
				continue
			}
			ga, _, err := e.capture(fn)
			if uerr := cv.Use(pd.dir, was); uerr != nil {
				// The plan left on the alternative: stop here, the error
				// recorded for the caller (the next capture would take it
				// as that alternative's failure and go on).
				if err == nil {
					e.c.Destroy(ga)
				}
				e.fail(uerr)
				return out
			}
			if err != nil {
				e.loseIfOOM(pd, err)
				continue
			}
			out = append(out, &tuneCand{at: pd, algo: a, swap: true, g: ga})
		}
	}
	if e.conv == convTimed && !e.convOwn[pd] && e.conv3Block(pd.s, pd.dir) > 0 {
		out = append(out, e.recordSwapped(e.convOwn, fn, tuneCand{at: pd, own: true})...)
	}
	return out
}

// loseIfOOM marks pd lost where an alternative of it failed for want of
// memory, which another process may have: that process times it again.
// An alternative that cannot be recorded for any other reason would fail
// alike every time; pd is remembered as timed without it.
func (e *Engine) loseIfOOM(pd planDir, err error) {
	if outOfMemory(err) {
		e.lost[pd] = true
	}
}

// recordSwapped records fn with on[c.at] set (what the ops read to run
// the alternative: convOwn, fusedOn) and returns c with that recording,
// or nothing when it could not be recorded.
func (e *Engine) recordSwapped(on map[planDir]bool, fn func(), c tuneCand) []*tuneCand {
	on[c.at] = true
	g, _, err := e.capture(fn)
	delete(on, c.at)
	if err != nil {
		e.loseIfOOM(c.at, err)
		return nil
	}
	c.g = g
	return []*tuneCand{&c}
}

// tuneStep runs one step of key's tuning: the next recording of the
// phase, timed; after the phase's last round its fastest becomes key's
// recording, and the next phase begins (its recordings made), or the
// tuning ends (its choices remembered). The events are the tuner's until
// it releases them, each once.
func (e *Engine) tuneStep(key int, t *tuner) error {
	best, done, err := e.timeRound(t)
	if !done {
		return err
	}
	t.releaseEvents(e)
	w := t.cands[best]
	if w.swap {
		e.fail(e.convs[w.at.s].Use(w.at.dir, w.algo))
	}
	if w.own {
		e.convOwn[w.at] = true
	}
	if w.fused {
		e.fusedOn[w.at] = true
		if p := e.gemmDir[w.at]; p != nil {
			p.Use(w.algo)
		}
	}
	e.graphs[key] = w.g
	for i, c := range t.cands {
		if i != best {
			e.c.Destroy(c.g)
		}
	}
	if err == nil && e.nextPhase(t, w.g) {
		return nil
	}
	delete(e.tuners, key)
	if err == nil {
		e.remember(t.dirs, true)
	} else {
		// The timing is lost: this phase and those not reached are for
		// a later recording to time (those done are remembered), as
		// when the tuner is destroyed.
		for _, pd := range t.dirs[t.phase:] {
			delete(e.settled, pd)
		}
		e.remember(t.dirs[:t.phase], true)
	}
	return err
}

// timeRound replays the phase's next recording between two events; after
// the last round (done) it reports the fastest recording by median, or
// the first with the error that lost the timing.
func (e *Engine) timeRound(t *tuner) (best int, done bool, err error) {
	defer trace.Begin(trace.InPlaceTiming).End()
	c := t.cands[t.next]
	a, err := e.c.Record()
	if err != nil {
		return 0, false, err
	}
	if err := e.c.Replay(c.g); err != nil {
		e.c.DestroyEvent(a)
		return 0, false, err
	}
	b, err := e.c.Record()
	if err != nil {
		e.c.DestroyEvent(a)
		return 0, false, err
	}
	c.start, c.end = append(c.start, a), append(c.end, b)
	t.next = (t.next + 1) % len(t.cands)
	if last := t.cands[len(t.cands)-1]; len(last.end) < tuneRounds {
		return 0, false, nil
	}
	bestMS := float32(0)
	for i, c := range t.cands {
		ms := make([]float32, len(c.end))
		for j := range c.end {
			if ms[j], err = e.c.Elapsed(c.start[j], c.end[j]); err != nil {
				// The timing is lost: keep the step as it was.
				return 0, true, err
			}
		}
		slices.Sort(ms)
		if m := ms[len(ms)/2]; i == 0 || m < bestMS {
			best, bestMS = i, m
		}
	}
	return best, true, nil
}

// releaseEvents releases the events queued for the recordings, once.
func (t *tuner) releaseEvents(e *Engine) {
	for _, c := range t.cands {
		for _, ev := range append(c.start, c.end...) {
			e.c.DestroyEvent(ev)
		}
		c.start, c.end = nil, nil
	}
}

// destroy releases the recordings being timed but key's own (in graphs)
// and the events queued for them, remembers the directions whose phases
// ended, and leaves the others to be timed in a later recording.
func (t *tuner) destroy(e *Engine) {
	t.releaseEvents(e)
	for i, c := range t.cands {
		if i > 0 {
			e.c.Destroy(c.g)
		}
	}
	if t.phase >= 0 && t.phase < len(t.dirs) {
		for _, pd := range t.dirs[t.phase:] {
			delete(e.settled, pd)
		}
		e.remember(t.dirs[:t.phase], true)
	}
}

// Tuning reports whether some recording is still being timed against its
// alternatives, or the steps run on our convolution kernels while cuDNN
// loads beside, or have not been recorded again since (beside.go):
// benchmarks run steps until it is not.
func (e *Engine) Tuning() bool { return len(e.tuners) > 0 || e.beside != nil || e.rerecord }
