//go:build cgo

// tune.go: cuDNN's algorithm choices timed where they are used. A plan
// picks each direction's algorithm (convPlan.Prepare) by timing the
// candidates alone (cudnnFind…), where close ones time alike; inside a
// training step, beside the second stream's work, one of them can be the
// faster by a tenth of the step (kernels/NOTES.md, "Measurements the code
// cites"). So when a step is first recorded and a convolution it uses has
// close alternatives (convPlan.Alternatives), the engine also records the
// step with each alternative swapped in, one at a time, replays the
// recordings in turn as the next real steps (each call of Replay runs one
// step, so training is unchanged but for the rounding of those steps), times
// each tuneRounds times with CUDA events, and keeps the fastest by median.
// The tuner owns those events and releases each once. What it settles is
// remembered for later processes (choices.go), which then neither search
// nor time it again.

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
// gradient) of one convolution shape's plan.
type planDir struct {
	s   engine.ConvShape
	dir int
}

// uses records that the op being queued runs direction dir of s's plan.
func (e *Engine) uses(s engine.ConvShape, dir int) {
	e.usedDirs[planDir{s, dir}] = true
}

// tuner times one key's recordings: the one with cuDNN's choices and one
// per alternative.
type tuner struct {
	cands []*tuneCand
	next  int
	dirs  []planDir // the plan directions being settled
}

// tuneCand is one recording and its timings; at is the swap it was
// recorded with (none for the first).
type tuneCand struct {
	at    planDir
	algo  int
	swap  bool
	g     graph
	start []event
	end   []event
}

// newTuner records fn with each alternative of the plan directions the
// recording g used that are not yet tuned, or returns nil when there are
// none.
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
	t := &tuner{cands: []*tuneCand{{g: g}}, dirs: dirs}
	for _, pd := range dirs {
		e.settled[pd] = true
		cv := e.convs[pd.s]
		if cv == nil {
			continue
		}
		was := cv.Algo(pd.dir)
		for _, a := range cv.Alternatives(pd.dir) {
			if cv.Use(pd.dir, a) != nil {
				continue // that one is not a candidate
			}
			ga, _, err := e.capture(fn)
			e.fail(cv.Use(pd.dir, was))
			if err != nil {
				continue // nor that one
			}
			t.cands = append(t.cands, &tuneCand{at: pd, algo: a, swap: true, g: ga})
		}
	}
	if len(t.cands) == 1 {
		// Nothing close to time: cuDNN's choices are settled.
		e.remember(dirs, true)
		return nil
	}
	return t
}

// tuneStep runs one step of key's tuning: the next recording, timed;
// after the last round the fastest becomes key's recording. The events
// are the tuner's until it releases them, each once.
func (e *Engine) tuneStep(key int, t *tuner) error {
	defer trace.Begin(trace.InPlaceTiming).End()
	c := t.cands[t.next]
	a, err := e.c.Record()
	if err != nil {
		return err
	}
	if err := e.c.Replay(c.g); err != nil {
		e.c.DestroyEvent(a)
		return err
	}
	b, err := e.c.Record()
	if err != nil {
		e.c.DestroyEvent(a)
		return err
	}
	c.start, c.end = append(c.start, a), append(c.end, b)
	t.next = (t.next + 1) % len(t.cands)
	if last := t.cands[len(t.cands)-1]; len(last.end) < tuneRounds {
		return nil
	}
	best, bestMS := 0, float32(0)
	for i, c := range t.cands {
		ms := make([]float32, len(c.end))
		for j := range c.end {
			if ms[j], err = e.c.Elapsed(c.start[j], c.end[j]); err != nil {
				break
			}
		}
		if err != nil {
			// The timing is lost: keep cuDNN's choices.
			best = 0
			break
		}
		slices.Sort(ms)
		if m := ms[len(ms)/2]; i == 0 || m < bestMS {
			best, bestMS = i, m
		}
	}
	t.releaseEvents(e)
	w := t.cands[best]
	if w.swap {
		e.fail(e.convs[w.at.s].Use(w.at.dir, w.algo))
	}
	e.graphs[key] = w.g
	for i, c := range t.cands {
		if i != best {
			e.c.Destroy(c.g)
		}
	}
	delete(e.tuners, key)
	if err == nil {
		e.remember(t.dirs, true)
	}
	return err
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
// and the events queued for them.
func (t *tuner) destroy(e *Engine) {
	t.releaseEvents(e)
	for i, c := range t.cands {
		if i > 0 {
			e.c.Destroy(c.g)
		}
	}
}

// Tuning reports whether some recording is still being timed against its
// alternatives (benchmarks run steps until it is not).
func (e *Engine) Tuning() bool { return len(e.tuners) > 0 }
