// progress.go: the per-epoch progress bar drawn on a terminal.

package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

type progressBar struct {
	w       io.Writer
	enabled bool
	drawn   bool
}

func newProgressBar(w io.Writer, enabled bool) *progressBar {
	return &progressBar{w: w, enabled: enabled}
}

func (b *progressBar) update(p engine.Progress) {
	if !b.enabled {
		return
	}
	const width = 30
	done := width * p.Step / max(1, p.Steps)
	bar := strings.Repeat("=", done) + strings.Repeat(" ", width-done)
	eta := time.Duration(0)
	if run := p.Step - p.FromStep; run > 0 {
		eta = time.Duration(float64(p.Elapsed) * float64(p.Steps-p.Step) / float64(run)).Round(time.Second)
	}
	if p.Validating {
		fmt.Fprintf(b.w, "\r\033[Kepoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  validating...",
			p.Epoch+1, p.Epochs, bar, p.Step, p.Steps, p.Loss, 100*p.Acc)
		b.drawn = true
		return
	}
	fmt.Fprintf(b.w, "\r\033[Kepoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s",
		p.Epoch+1, p.Epochs, bar, p.Step, p.Steps, p.Loss, 100*p.Acc, p.ImagesPerSec, eta)
	b.drawn = true
}

func (b *progressBar) clear() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}
