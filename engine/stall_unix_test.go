//go:build unix

// A process stopped (Ctrl-Z, SIGSTOP) and continued is not told of a
// stall for the time it was stopped: the stall watch's test with a real
// stop, in a child process (this test binary run again).
package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
)

// TestStallNotToldAfterAStop: a training stopped for four times its
// StallAfter and continued, then stopped five times for 1.3 times it
// (a stop that one late wake of the watch need not show), goes on without
// OnStall, its steps finishing again at once. The child trains until
// killed, saying each epoch and each stall on standard output.
func TestStallNotToldAfterAStop(t *testing.T) {
	const patience = time.Second
	if os.Getenv("CNNGPU_TEST_STALL_CHILD") == "1" {
		e := cpu.New(1)
		defer e.Close()
		tr, _ := newTrainer(t, e, engine.ReLU, 1, 1_000_000, 64)
		tr.StallAfter = patience
		tr.OnStall = func(since time.Duration) { fmt.Printf("stall after %v\n", since) }
		tr.OnEpoch = func(m engine.EpochMetrics, _ engine.Position) error { fmt.Printf("epoch %d\n", m.Epoch); return nil }
		tr.Run(context.Background(), engine.Position{})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStallNotToldAfterAStop$")
	cmd.Env = append(os.Environ(), "CNNGPU_TEST_STALL_CHILD=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var mu sync.Mutex
	var lines []string
	epochs := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			select {
			case epochs <- struct{}{}:
			default:
			}
		}
	}()
	said := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), lines...) }
	next := func(what string) {
		select {
		case <-epochs:
		case <-time.After(60 * time.Second):
			t.Fatalf("no epoch %s after 60 s:\n%s", what, strings.Join(said(), "\n"))
		}
	}
	next("at all")
	for i, stop := range []time.Duration{4 * patience, 13 * patience / 10, 13 * patience / 10, 13 * patience / 10, 13 * patience / 10, 13 * patience / 10} {
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(stop)
		n := len(said())
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		// Epochs again.
		for len(said()) <= n+1 {
			next(fmt.Sprintf("after continuing from stop %d", i+1))
		}
	}
	time.Sleep(3 * patience)
	for _, l := range said() {
		if strings.HasPrefix(l, "stall") {
			t.Errorf("a training stopped and continued was told of a stall: %q\n%s", l, strings.Join(said(), "\n"))
			break
		}
	}
}
