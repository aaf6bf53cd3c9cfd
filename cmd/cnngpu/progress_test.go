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
		newProgressBar(&b, true).update(engine.Progress{Epochs: 10, Step: 400, Steps: 469, FromStep: c.from, Elapsed: 3 * time.Second})
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("from step %d: %q, want %s", c.from, b.String(), c.want)
		}
	}
}
