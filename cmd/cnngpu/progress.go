// progress.go: the per-epoch progress bar drawn on a terminal.

package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

type progressBar struct {
	w       io.Writer
	enabled bool
	mu      sync.Mutex // update, clear and note come from two goroutines (note: a watcher's)
	drawn   bool
	// columns is the terminal's width now: a line longer than it wraps,
	// and "\r\033[K" then clears only its last row, leaving the rest
	// of every redraw behind.
	columns func() int
}

// newProgressBar draws on w when enabled, fitted to term's width (80
// columns where term is nil or tells none).
func newProgressBar(w io.Writer, term *os.File, enabled bool) *progressBar {
	return &progressBar{w: w, enabled: enabled, columns: func() int { return termColumns(term) }}
}

// termColumns is the width of the terminal f, or 80 where f is nil or
// not a terminal.
func termColumns(f *os.File) int {
	if f != nil {
		if n, ok := terminalWidth(f); ok && n > 0 {
			return n
		}
	}
	return 80
}

func (b *progressBar) update(p engine.Progress) {
	if !b.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	eta := time.Duration(0)
	if run := p.Step - p.FromStep; run > 0 {
		eta = time.Duration(float64(p.Elapsed) * float64(p.Steps-p.Step) / float64(run)).Round(time.Second)
	}
	line := func(width int) string {
		done := width * p.Step / max(1, p.Steps)
		bar := strings.Repeat("=", done) + strings.Repeat(" ", width-done)
		if p.Validating {
			return fmt.Sprintf("epoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  validating...",
				p.Epoch+1, p.Epochs, bar, p.Step, p.Steps, p.Loss, 100*p.Acc)
		}
		return fmt.Sprintf("epoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s",
			p.Epoch+1, p.Epochs, bar, p.Step, p.Steps, p.Loss, 100*p.Acc, p.ImagesPerSec, eta)
	}
	// The bar narrows (to 10) before the line is cut, one column short
	// of the terminal's width (a line filling it wraps on some).
	const width = 30
	room := max(1, b.columns()-1)
	s := line(width)
	if over := len(s) - room; over > 0 {
		s = line(max(10, width-over))
		s = s[:min(len(s), room)]
	}
	fmt.Fprint(b.w, "\r\033[K"+s)
	b.drawn = true
}

func (b *progressBar) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clearLocked()
}

func (b *progressBar) clearLocked() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}

// note writes line on a line of its own, the bar cleared first where it
// is drawn (its next update draws it again).
func (b *progressBar) note(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clearLocked()
	fmt.Fprintln(b.w, line)
}
