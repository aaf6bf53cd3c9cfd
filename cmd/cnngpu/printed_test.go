// Tests of what commands print for a user to read or run: bench's JSON
// object and text, and the program named in the commands of hints.
package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchJSON(t *testing.T) {
	out, errOut, code := cnngpu(t, nil, "bench", "--cpu", "--threads", "1", "--json", "--activation", "tanh", "--batch-size", "8", "--steps", "2", "--warmup", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	want := map[string]any{"activation": "tanh", "batch_size": 8.0, "steps": 2.0, "warmup_steps": 1.0}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v, want %v (in %s)", k, r[k], v, out)
		}
	}
	for _, k := range []string{"train_images_per_sec", "train_step_ms", "inference_images_per_sec", "epoch_seconds_60000"} {
		if v, ok := r[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number (in %s)", k, r[k], out)
		}
	}
	if e, _ := r["engine"].(string); !strings.HasPrefix(e, "cpu") {
		t.Errorf("engine = %q, want the CPU engine", r["engine"])
	}
	if _, ok := r["no_update"]; ok {
		t.Errorf("no_update in a bench without --no-update: %s", out)
	}
	out, _, code = cnngpu(t, nil, "bench", "--cpu", "--threads", "1", "--activation", "sigmoid", "--batch-size", "8", "--steps", "2", "--warmup", "0")
	if code != 0 || !strings.Contains(out, "batch size  8 (sigmoid, 2 steps timed after 0 warm-up)") {
		t.Errorf("bench's text (exit %d):\n%s", code, out)
	}
	// Without the updates: said in both forms.
	out, _, code = cnngpu(t, nil, "bench", "--cpu", "--threads", "1", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--no-update", "--json")
	if code != 0 || !strings.Contains(out, `"no_update":true`) {
		t.Errorf("bench --no-update --json (exit %d): %s", code, out)
	}
	out, _, code = cnngpu(t, nil, "bench", "--cpu", "--threads", "1", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--no-update")
	if code != 0 || !strings.Contains(out, "ms/step, without the optimizer's updates;") {
		t.Errorf("bench --no-update's text (exit %d):\n%s", code, out)
	}
	// --timeline is the GPU engine's: refused on the CPU, naming the flag.
	_, stderr, code := cnngpu(t, nil, "bench", "--cpu", "--threads", "1", "--batch-size", "8", "--steps", "1", "--timeline")
	if code != 2 || !strings.Contains(stderr, "--timeline") || !strings.Contains(stderr, "--device") {
		t.Errorf("bench --cpu --timeline: exit %d, stderr %q; want 2 naming the flag and --device", code, stderr)
	}
}

// TestPrintTimeline: --timeline's table, each op's end and its time since
// the previous op on its stream (the first, since the start), and each
// stream's last op (not the step's start or end) with its points.
func TestPrintTimeline(t *testing.T) {
	var b strings.Builder
	printTimeline(&b, benchResult{TrainStepMS: 0.25, TimelineStepMS: 0.262, Timeline: []timelineRow{
		{"main", "start", 0}, {"main", "gather", 4}, {"main", "dense_xent", 100}, {"second", "head_grads", 112.5},
		{"updates", "adam4", 130}, {"main", "act_grad", 103}, {"second", "cuBLAS SGEMM 1000×3136×128", 140}, {"main", "end", 262}}})
	out := b.String()
	for _, want := range []string{"median of 100 replays: 0.262 ms from its start to its end", "the timed steps above: 0.250 ms a step",
		"       112.5       112.5  second   head_grads\n", "       140.0        27.5  second   cuBLAS SGEMM", "       103.0         3.0  main     act_grad\n",
		"       262.0       159.0  main     end\n",
		"last op of each stream: main 103.0 µs (act_grad; 3 points), second 140.0 µs (cuBLAS SGEMM 1000×3136×128; 2 points), updates 130.0 µs (adam4; 1 point)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}

// The commands in hints run this program as the user can run it again:
// "cnngpu" where the PATH finds this binary under that name, else the
// path it was run by, quoted where it needs to be.
func TestHintsNameThisProgram(t *testing.T) {
	dir := t.TempDir()
	spaced := filepath.Join(t.TempDir(), "a b", "cnngpu")
	os.Mkdir(filepath.Dir(spaced), 0o755)
	if err := os.Symlink(binary_, spaced); err != nil {
		t.Fatal(err)
	}
	onPath := []string{"PATH=" + filepath.Dir(binary_) + ":" + os.Getenv("PATH")}
	for _, c := range []struct {
		bin        string
		env        []string
		fetch, see string
	}{
		{binary_, nil, "run: " + binary_ + " data fetch --dir " + dir, "(see '" + binary_ + " train --help')"},
		{binary_, onPath, "run: cnngpu data fetch --dir " + dir, "(see 'cnngpu train --help')"},
		{spaced, nil, "run: '" + spaced + "' data fetch --dir " + dir, "(see '" + spaced + "' train --help)"},
	} {
		run := func(args ...string) (string, int) {
			cmd := exec.Command(c.bin, args...)
			cmd.Env = append(os.Environ(), c.env...)
			var se strings.Builder
			cmd.Stderr = &se
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("%s %v: %v", c.bin, args, err)
			}
			return se.String(), ee.ExitCode()
		}
		if errOut, code := run("data", "verify", "--dir", dir); code != 1 || !strings.HasSuffix(strings.TrimSpace(errOut), c.fetch) {
			t.Errorf("data verify of an empty folder, run as %s (env %q): exit %d\n%s\nwant it to end %q", c.bin, c.env, code, errOut, c.fetch)
		}
		if errOut, code := run("train", "--epochz", "1"); code != 2 || !strings.Contains(errOut, c.see) {
			t.Errorf("an unknown flag, run as %s (env %q): exit %d\n%s\nwant %q", c.bin, c.env, code, errOut, c.see)
		}
	}
}
