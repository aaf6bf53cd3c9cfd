//go:build cgo && !windows

// timeline.go: a recorded step's timeline (engine.StepTimeline): the step
// recorded with a timing event after each kernel and library call, on the
// stream that ran it (the gate marks them), replayed, and each event's
// time from the step's start: which stream's work ends last, and after
// what it waited. The events are nodes of the graph, so the step timed
// here is a little longer than the step without them.

package cuda

import (
	"slices"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

var _ engine.StepTimeline = (*Engine)(nil)

// markPoint is a timeline's event, after op on stream.
type markPoint struct {
	stream, op string
	ev         event
}

// markAfter records, while a timeline's step is being recorded, an event
// after op, just queued on lane l.
func (e *Engine) markAfter(l lane, op string) {
	if e.marks == nil || !e.recording || e.err != nil {
		return
	}
	ev, err := e.device().Mark(l)
	if err != nil {
		e.fail(err)
		return
	}
	*e.marks = append(*e.marks, markPoint{e.streamName(l), op, ev})
}

// streamName names lane l in a timeline.
func (e *Engine) streamName(l lane) string {
	switch {
	case l == nil:
		return "main"
	case l == e.lane:
		return "second"
	case l == e.upd:
		return "updates"
	}
	return "other"
}

// Timeline records step with an event after each op (engine.StepTimeline),
// replays it, and returns the events' median times from the step's start
// ("start", the first, on the main stream) to its end ("end", the last,
// after the streams are joined).
func (e *Engine) Timeline(step, before func(), replays int) ([]engine.TimelineMark, error) {
	if replays < 1 {
		panic("cuda: Timeline with no replays")
	}
	if e.recording {
		panic("cuda: Timeline during a graph recording")
	}
	e.settle()
	if err := e.takeErr(); err != nil {
		return nil, err
	}
	var marks []markPoint
	e.marks = &marks
	defer func() {
		e.marks = nil
		for _, m := range marks {
			e.c.DestroyEvent(m.ev)
		}
	}()
	g, _, err := e.capture(func() {
		e.markAfter(nil, "start")
		step()
		e.settle()
		e.markAfter(nil, "end")
	})
	if err != nil {
		return nil, err
	}
	defer e.c.Destroy(g) // before the events it records (deferred above)
	at := make([][]float64, len(marks))
	for range replays {
		before()
		if err := e.explain(e.c.Replay(g)); err != nil {
			return nil, err
		}
		for i, m := range marks {
			ms, err := e.c.Elapsed(marks[0].ev, m.ev)
			if err != nil {
				return nil, e.explain(err)
			}
			at[i] = append(at[i], float64(ms))
		}
	}
	out := make([]engine.TimelineMark, len(marks))
	for i, m := range marks {
		slices.Sort(at[i])
		med := at[i][len(at[i])/2]
		if len(at[i])%2 == 0 {
			med = (at[i][len(at[i])/2-1] + med) / 2
		}
		out[i] = engine.TimelineMark{Stream: m.stream, Op: m.op, At: time.Duration(med * float64(time.Millisecond))}
	}
	return out, e.Sync()
}
