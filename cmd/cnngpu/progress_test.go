// progress_test.go: the epoch progress bar's figures.

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"golang.org/x/sys/unix"
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

// TestDumbTerminalGetsLines: on a terminal with TERM=dumb (an editor's
// shell buffer, which cannot move the cursor) train prints plain lines,
// no escape sequences; on another terminal it redraws its bar. The
// terminal is a pseudo-terminal made here.
func TestDumbTerminalGetsLines(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 20)
	for _, term := range []string{"dumb", "xterm"} {
		ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		if err != nil {
			t.Skipf("no pseudo-terminal here: %v", err)
		}
		n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
		if err == nil {
			err = unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0)
		}
		if err != nil {
			ptmx.Close()
			t.Skipf("no pseudo-terminal here: %v", err)
		}
		tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			ptmx.Close()
			t.Skipf("no pseudo-terminal here: %v", err)
		}
		cmd := exec.Command(binary_, "train", "--cpu", "--data", dir, "--epochs", "1", "--batch-size", "8", "--out", filepath.Join(dir, "m.safetensors"))
		cmd.Env = append(os.Environ(), "TERM="+term)
		cmd.Stdout, cmd.Stderr = tty, tty
		var out bytes.Buffer
		done := make(chan struct{})
		go func() { io.Copy(&out, ptmx); close(done) }()
		err = cmd.Run()
		tty.Close()
		<-done // the copy ends when the last end of the terminal is closed
		ptmx.Close()
		if err != nil {
			t.Fatalf("TERM=%s: %v\n%s", term, err, out.String())
		}
		escapes := strings.Contains(out.String(), "\x1b[")
		if term == "dumb" && escapes {
			t.Errorf("TERM=dumb: escape sequences in %q", out.String())
		}
		if term != "dumb" && !escapes {
			t.Errorf("TERM=%s: no redraw of the bar in %q", term, out.String())
		}
		if !strings.Contains(out.String(), "test accuracy") {
			t.Errorf("TERM=%s: no result line in %q", term, out.String())
		}
	}
}
