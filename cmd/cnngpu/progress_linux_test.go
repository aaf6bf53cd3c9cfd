// progress_linux_test.go: which terminals get a redrawn progress bar, on
// a pseudo-terminal made here (Linux's /dev/ptmx).

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDumbTerminalGetsLines: a terminal with TERM=dumb (an editor's shell
// buffer, which cannot move the cursor or clear a line) gets plain lines,
// as a file does; another terminal gets the redrawn bar.
func TestDumbTerminalGetsLines(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer tty.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, c := range []struct {
		term string
		f    *os.File
		want bool
	}{{"xterm", tty, true}, {"dumb", tty, false}, {"", tty, true}, {"xterm", file, false}} {
		t.Setenv("TERM", c.term)
		if got := isTerminal(c.f); got != c.want {
			t.Errorf("TERM=%q on %s: isTerminal = %v, want %v", c.term, c.f.Name(), got, c.want)
		}
	}
}
