// tuneprogress_test.go: the study's live view: log lines pass through
// unchanged, the block of runs in flight is drawn on the terminal only,
// cleared before each log line and redrawn after it, and cut to the
// terminal's width; several runs at once are shown with their engines.

package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/tune"
)

func TestStudyView(t *testing.T) {
	var out, term bytes.Buffer
	width := 120
	v := &studyView{out: &out, term: &term, width: func() int { return width }}
	c := tune.Config{LR: 0.001, BatchSize: 64, Act: "relu"}
	st := tune.Status{Done: 3, Total: 36, Elapsed: 95 * time.Second, ETA: 725 * time.Second,
		Running: []tune.Active{{Config: c, Epoch: 2, Epochs: 10, Step: 300, Steps: 600, Loss: 0.1234, Acc: 0.9612, Started: time.Now()}}}
	v.update(st)
	got := term.String()
	if !strings.Contains(got, "-- 3/36 runs finished, 1 running, 1m35s elapsed, ETA 12m05s") ||
		!strings.Contains(got, "lr 0.001, batch 64, relu") || !strings.Contains(got, "epoch  3/10 [====") || !strings.Contains(got, " 25%") {
		t.Errorf("block:\n%s", got)
	}
	// On a narrow terminal every line is cut so that none wraps.
	for _, l := range liveLines(st, 40) {
		if len([]rune(l)) > 39 {
			t.Errorf("line of %d characters on a 40-column terminal: %q", len([]rune(l)), l)
		}
	}
	term.Reset()
	fmt.Fprintf(v, "[4/36] lr 0.003, batch 64, relu: val acc 98.10%% (41.0s)\n")
	if out.String() != "[4/36] lr 0.003, batch 64, relu: val acc 98.10% (41.0s)\n" {
		t.Errorf("log line changed: %q", out.String())
	}
	// Cleared (cursor up over the 2 lines, erase below) and redrawn.
	if !strings.HasPrefix(term.String(), "\r\033[2A\033[J") || !strings.Contains(term.String(), "-- 3/36") {
		t.Errorf("terminal after a log line: %q", term.String())
	}
	v.close()
	if !strings.HasSuffix(term.String(), "\r\033[2A\033[J") {
		t.Errorf("close did not clear the block: %q", term.String())
	}

	// Several runs at once: each shown with its engine, in a column.
	st2 := st
	c2 := tune.Config{LR: 0.03, BatchSize: 256, Act: "tanh"}
	st2.Running = []tune.Active{
		{Config: c, Slot: "GPU 0 #1", Epoch: 2, Epochs: 10, Started: time.Now()},
		{Config: c2, Slot: "GPU 10 #2", Worker: 1, Epoch: 5, Epochs: 10, Started: time.Now()},
	}
	lines := liveLines(st2, 200)
	if len(lines) != 3 || !strings.Contains(lines[0], "2 running") ||
		!strings.HasPrefix(lines[1], "   GPU 0 #1   lr 0.001, batch 64, relu ") || !strings.HasPrefix(lines[2], "   GPU 10 #2  lr 0.03, batch 256, tanh ") {
		t.Errorf("runs at once:\n%s", strings.Join(lines, "\n"))
	}

	// A run whose epoch is validating says so.
	st3 := st
	st3.Running = []tune.Active{{Config: c, Epoch: 3, Epochs: 10, Step: 315, Steps: 315, Loss: 0.1, Acc: 0.97, Validating: true, Started: time.Now()}}
	if lines := liveLines(st3, 200); len(lines) != 2 || !strings.Contains(lines[1], "epoch  4/10") || !strings.Contains(lines[1], "acc 97.00%  validating") {
		t.Errorf("a run validating:\n%s", strings.Join(lines, "\n"))
	}
	st3.Running[0].Validating = false
	if lines := liveLines(st3, 200); strings.Contains(lines[1], "validating") {
		t.Errorf("a run training:\n%s", strings.Join(lines, "\n"))
	}

	// Not a terminal: log lines only, no escape codes.
	out.Reset()
	plain := newStudyView(&out, nil, false)
	plain.update(st)
	fmt.Fprintf(plain, "line\n")
	plain.close()
	if out.String() != "line\n" {
		t.Errorf("without a terminal: %q", out.String())
	}
}
