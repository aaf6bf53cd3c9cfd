// progress_test.go: the epoch progress bar's figures.

package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

// TestProgressETA: the time left is estimated from the steps run since
// the epoch's clock started, which after a mid-epoch resume is not the
// epoch's first step (at step 400 of 469, 60 run in 3 s: 3.5 s left at
// that rate, not the 0.5 s of 400 steps in 3 s).
func TestProgressETA(t *testing.T) {
	for _, c := range []struct {
		from int
		want string
	}{{0, "ETA 1s"}, {340, "ETA 3s"}} {
		var b bytes.Buffer
		newProgressBar(&b, nil, true).update(engine.Progress{Epochs: 10, Step: 400, Steps: 469, FromStep: c.from, Elapsed: 3 * time.Second})
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("from step %d: %q, want %s", c.from, b.String(), c.want)
		}
	}
}

// TestProgressFitsTheTerminal: the bar's line is one column short of the
// terminal's width, its bar narrowed first (to 10) and then the line cut:
// a line that wrapped (98 characters on a full run) left a row behind at
// every redraw, since "\r\033[K" clears only the last row.
func TestProgressFitsTheTerminal(t *testing.T) {
	p := engine.Progress{Epoch: 9, Epochs: 10, Step: 400, Steps: 469, Loss: 0.1097, Acc: 0.9972, ImagesPerSec: 3846, Elapsed: 12 * time.Second}
	for _, c := range []struct {
		columns        int
		minBar, maxBar int
		whole          bool
	}{{200, 30, 30, true}, {80, 10, 29, true}, {70, 10, 10, false}, {40, 0, 0, false}} {
		var b bytes.Buffer
		bar := newProgressBar(&b, nil, true)
		bar.columns = func() int { return c.columns }
		for _, v := range []bool{false, true} {
			b.Reset()
			p.Validating = v
			bar.update(p)
			line, ok := strings.CutPrefix(b.String(), "\r\033[K")
			if !ok || len(line) > c.columns-1 || strings.ContainsAny(line, "\r\n") {
				t.Errorf("%d columns: %q (%d characters), want one line of %d at most", c.columns, line, len(line), c.columns-1)
			}
			if o, e := strings.Index(line, "["), strings.Index(line, "]"); c.maxBar > 0 && (o < 0 || e-o-1 < c.minBar || e-o-1 > c.maxBar) {
				t.Errorf("%d columns: %q, want a bar %d to %d wide", c.columns, line, c.minBar, c.maxBar)
			}
			end := map[bool]string{false: "ETA 2s", true: "validating..."}[v]
			if c.whole != strings.HasSuffix(line, end) {
				t.Errorf("%d columns: %q, want the whole line %v", c.columns, line, c.whole)
			}
		}
	}
}
