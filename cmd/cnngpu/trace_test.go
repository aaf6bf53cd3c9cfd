// trace_test.go: CNNGPU_TRACE=1 and --trace print the phase table at the
// end of a command, with the phases a CPU training goes through and times
// that fit in the process's wall time; without them nothing is printed; a
// bad value of the variable is refused.

package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/internal/trace"
)

// traceRow is one parsed row of the table.
type traceRow struct {
	name  string
	depth int
	count int
	total time.Duration
	aside bool // under "beside the phases above" (trace.Aside)
}

var traceRowRE = regexp.MustCompile(`^( *)(\S.*?)  +(\d+)  +([0-9.]+)  +(?:[0-9.]+  +)?[0-9.]+%`)

// parseTrace reads the table from stderr: its rows and the wall time.
func parseTrace(t *testing.T, stderr string) ([]traceRow, time.Duration) {
	t.Helper()
	i := strings.Index(stderr, "cnngpu trace: wall time by phase")
	if i < 0 {
		t.Fatalf("no trace table in stderr:\n%s", stderr)
	}
	msf := func(s string) time.Duration {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return time.Duration(v * float64(time.Millisecond))
	}
	var rows []traceRow
	var wall time.Duration
	aside := false
	for _, line := range strings.Split(stderr[i:], "\n")[2:] {
		if strings.HasPrefix(line, "beside the phases above") {
			aside = true
			continue
		}
		if strings.HasPrefix(line, "wall: ") {
			f := strings.Fields(line)
			wall = msf(f[len(f)-1])
			break
		}
		if strings.HasPrefix(line, "(in no phase above)") {
			continue
		}
		m := traceRowRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("trace row %q does not parse", line)
		}
		n, _ := strconv.Atoi(m[3])
		depth := len(m[1]) / 2
		if aside {
			depth-- // indented under their line
		}
		rows = append(rows, traceRow{name: m[2], depth: depth, count: n, total: msf(m[4]), aside: aside})
	}
	if wall == 0 {
		t.Fatalf("no wall line in the table:\n%s", stderr[i:])
	}
	return rows, wall
}

// TestTraceCPUTrain: a CPU training of two epochs on generated data with
// CNNGPU_TRACE=1 lists the wait for the data (read on another goroutine
// while the engine starts: its row comes last, beside the others), the
// two uploads, the model, both epochs with their checkpoints' reading back
// nested, the test evaluation, the waits for the checkpoints' writes and
// the writes themselves (on the writer's goroutine, beside the rest); the command's own top-level phases sum to no
// more than the wall time the
// table states, and that to no more than the process's wall time as
// measured from outside (plus the tick the process start is rounded to).
func TestTraceCPUTrain(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 256, 64)
	cmd := exec.Command(binary_, "train", "--cpu", "--epochs", "2", "--batch-size", "64", "--data", dir, "--out", filepath.Join(dir, "m.safetensors"))
	cmd.Env = append(cmd.Environ(), "CNNGPU_TRACE=1")
	var se strings.Builder
	cmd.Stderr = &se
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("train: %v\n%s", err, se.String())
	}
	outside := time.Since(start)
	rows, wall := parseTrace(t, se.String())
	type want struct {
		name         string
		depth, count int
		aside        bool
	}
	wants := []want{
		{trace.DataWait, 0, 1, false},
		{trace.Upload, 0, 2, false},
		{trace.InitWait, 0, 1, false},
		{trace.ModelSetup, 0, 1, false},
		{trace.Epoch, 0, 2, false},
		{trace.EpochOrder, 1, 2, false},
		{trace.EpochStats, 1, 2, false},
		{trace.Checkpoint, 1, 2, false},
		{trace.CheckpointWait, 1, 1, false}, // epoch 2's save waits for epoch 1's write
		{trace.TestEval, 0, 1, false},
		{trace.CheckpointWait, 0, 1, false}, // the last write, beside the test
		{trace.InitWeights, 0, 1, true},
		{trace.ReadData, 0, 1, true},
		{trace.Fingerprint, 0, 1, true},
		{trace.CheckpointWrite, 0, 2, true},
		{trace.CheckpointCheck, 1, 2, true},
		{trace.CheckpointFile, 1, 2, true},
		{trace.CheckpointSums, 0, 2, true}, // each save's own goroutine, summed
	}
	if runtime.GOOS == "linux" {
		wants = append([]want{{trace.StartToMain, 0, 1, false}}, wants...)
	}
	var got []want
	var top time.Duration
	for _, r := range rows {
		got = append(got, want{r.name, r.depth, r.count, r.aside})
		if r.depth == 0 && !r.aside {
			top += r.total
		}
		// (A wait may round to 0: the read or the write can end first;
		// so may the CPU engine's epoch order and statistics.)
		if r.total <= 0 && !slices.Contains([]string{trace.StartToMain, trace.DataWait, trace.InitWait, trace.Fingerprint, trace.CheckpointWait, trace.EpochOrder, trace.EpochStats}, r.name) {
			t.Errorf("%s: %v", r.name, r.total)
		}
	}
	// The rows beside come in the order their goroutines began, which
	// races (the data read, the weights drawn): compared as a set.
	besideLast := func(ws []want) []want {
		ws = slices.Clone(ws)
		i := slices.IndexFunc(ws, func(w want) bool { return w.aside })
		if i >= 0 {
			slices.SortStableFunc(ws[i:], func(a, b want) int { return strings.Compare(a.name, b.name) })
		}
		return ws
	}
	if !slices.Equal(besideLast(got), besideLast(wants)) {
		t.Errorf("phases %+v\nwant %+v\n%s", got, wants, se.String())
	}
	const rounding = time.Millisecond // the table prints tenths of a millisecond
	if top > wall+time.Duration(len(rows))*rounding/10 {
		t.Errorf("the top-level phases sum to %v, more than the wall time %v", top, wall)
	}
	const tick = 10 * time.Millisecond // the process start is rounded down to one
	if wall > outside+tick {
		t.Errorf("the table's wall time %v is more than the process took, %v", wall, outside)
	}
}

// TestTraceOffAndFlag: without CNNGPU_TRACE nothing is printed; --trace,
// before the command or after it, prints the table, also for a command
// that fails;
// CNNGPU_TRACE=0 is off, =yes on; another value is refused naming the
// variable.
func TestTraceOffAndFlag(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 200, 32)
	args := []string{"train", "--cpu", "--epochs", "1", "--data", dir, "--out", filepath.Join(dir, "m.safetensors")}
	for _, env := range [][]string{nil, {"CNNGPU_TRACE=0"}} {
		_, stderr, code := cnngpu(t, env, args...)
		if code != 0 || strings.Contains(stderr, "cnngpu trace") {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant no trace table", env, code, stderr)
		}
	}
	_, stderr, code := cnngpu(t, nil, append([]string{"--trace"}, args...)...)
	if rows, _ := parseTrace(t, stderr); code != 0 || len(rows) < 5 {
		t.Errorf("--trace: exit %d, %d rows:\n%s", code, len(rows), stderr)
	}
	_, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--model", filepath.Join(dir, "none.safetensors"), "--data", dir, "--trace")
	if code != 1 || !strings.Contains(stderr, "cnngpu trace") || !strings.Contains(stderr, "no such file") {
		t.Errorf("a failing eval with --trace after it: exit %d, stderr:\n%s\nwant exit 1, the error and the table", code, stderr)
	}
	// --trace=VALUE after the command, as before it (it was "unknown
	// flag --trace").
	for _, c := range []struct {
		flag  string
		code  int
		table bool
	}{{"--trace=false", 1, false}, {"-trace=true", 1, true}, {"--trace=maybe", 2, false}} {
		_, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--model", filepath.Join(dir, "none.safetensors"), "--data", dir, c.flag)
		if code != c.code || strings.Contains(stderr, "cnngpu trace") != c.table || strings.Contains(stderr, "unknown flag") {
			t.Errorf("eval with %s after it: exit %d, stderr:\n%s\nwant exit %d, a table %v", c.flag, code, stderr, c.code, c.table)
		}
	}
	_, stderr, code = cnngpu(t, []string{"CNNGPU_TRACE=yes"}, args...)
	if rows, _ := parseTrace(t, stderr); code != 0 || len(rows) < 5 {
		t.Errorf("CNNGPU_TRACE=yes: exit %d, %d rows:\n%s", code, len(rows), stderr)
	}
	_, stderr, code = cnngpu(t, []string{"CNNGPU_TRACE=sometimes"}, args...)
	if code != 2 || !strings.Contains(stderr, `CNNGPU_TRACE="sometimes": expected 1`) {
		t.Errorf("CNNGPU_TRACE=sometimes: exit %d, stderr %q; want exit 2 naming the variable", code, stderr)
	}
	stdout, _, _ := cnngpu(t, nil, "--help")
	for _, s := range []string{"CNNGPU_TRACE=1", "--trace"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("cnngpu --help does not mention %s", s)
		}
	}
}
