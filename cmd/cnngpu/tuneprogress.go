// tuneprogress.go: a study's output. Its log lines (one per finished run,
// with the count and the time left) go to stdout as they are; on a
// terminal (stderr, as for train's progress bar) a live block below them
// shows the runs in flight, redrawn in place and cleared before each line.

package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cnngpu/cnngpu/tune"
)

// studyView is an io.Writer for the study's log and the receiver of its
// status; safe for concurrent use.
type studyView struct {
	mu     sync.Mutex
	out    io.Writer // log lines
	term   io.Writer // the live block; nil when not a terminal
	width  func() int
	drawn  int // lines of the block now on the screen
	st     tune.Status
	have   bool
	last   time.Time
	closed bool
}

// redrawEvery limits how often progress alone redraws the block.
const redrawEvery = 250 * time.Millisecond

func newStudyView(out io.Writer, term *os.File, live bool) *studyView {
	v := &studyView{out: out, width: func() int { return 100 }}
	if live {
		v.term = term
		v.width = func() int { return termColumns(term) }
	}
	return v
}

func (v *studyView) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	n, err := v.out.Write(p)
	v.draw()
	return n, err
}

// update takes a new status; it redraws when a run started or finished,
// or at most every redrawEvery otherwise.
func (v *studyView) update(s tune.Status) {
	v.mu.Lock()
	defer v.mu.Unlock()
	changed := !v.have || len(s.Running) != len(v.st.Running) || s.Done != v.st.Done
	v.st, v.have = s, true
	if v.term == nil || v.closed || (!changed && time.Since(v.last) < redrawEvery) {
		return
	}
	v.clear()
	v.draw()
}

// close clears the block for good.
func (v *studyView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	v.closed = true
}

func (v *studyView) clear() {
	if v.term != nil && v.drawn > 0 {
		fmt.Fprintf(v.term, "\r\033[%dA\033[J", v.drawn)
		v.drawn = 0
	}
}

func (v *studyView) draw() {
	if v.term == nil || v.closed || !v.have || len(v.st.Running) == 0 {
		return
	}
	lines := liveLines(v.st, v.width())
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	io.WriteString(v.term, b.String())
	v.drawn = len(lines)
	v.last = time.Now()
}

// liveLines renders the block: a summary and one line per run in flight
// (with the engine it runs on, where there are several), each cut to the terminal's width so that none wraps (which would break
// the redraw).
func liveLines(s tune.Status, width int) []string {
	eta := "estimating"
	if s.ETA > 0 {
		eta = tune.FormatDuration(s.ETA)
	}
	head := fmt.Sprintf("-- %d/%d runs finished, %d running, %s elapsed, ETA %s", s.Done, s.Total, len(s.Running), tune.FormatDuration(s.Elapsed), eta)
	lines := []string{head}
	slotW := 0 // the engines' names in a column, with several
	for _, a := range s.Running {
		slotW = max(slotW, len([]rune(a.Slot)))
	}
	for _, a := range s.Running {
		const barW = 16
		f := a.Fraction()
		n := int(f * barW)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", barW-n)
		epoch := min(a.Epoch+1, a.Epochs)
		l := "   "
		if a.Slot != "" {
			l += fmt.Sprintf("%-*s  ", slotW, a.Slot)
		}
		l += fmt.Sprintf("%-32s epoch %2d/%d [%s] %3.0f%%", a.Name(), epoch, a.Epochs, bar, 100*f)
		if a.Steps > 0 {
			l += fmt.Sprintf("  loss %.4f  acc %.2f%%", a.Loss, 100*a.Acc)
		}
		if a.Validating {
			l += "  validating"
		}
		l += fmt.Sprintf("  %s", tune.FormatDuration(time.Since(a.Started)))
		lines = append(lines, l)
	}
	for i, l := range lines {
		if r := []rune(l); len(r) > width-1 {
			lines[i] = string(r[:max(0, width-1)])
		}
	}
	return lines
}
