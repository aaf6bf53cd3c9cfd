// Tests of what commands print for a user to read or run: bench's JSON
// object and text, and the program named in the commands of hints.
package main

import (
	"encoding/json"
	"os"
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
	out, _, code = cnngpu(t, nil, "bench", "--cpu", "--threads", "1", "--activation", "sigmoid", "--batch-size", "8", "--steps", "2", "--warmup", "0")
	if code != 0 || !strings.Contains(out, "batch size  8 (sigmoid, 2 timed steps after 0 warm-up)") {
		t.Errorf("bench's text (exit %d):\n%s", code, out)
	}
}

// The commands in hints run this program as the user can run it again:
// "cnngpu" where the PATH finds this binary under that name, else the
// path it was run by.
func TestHintsNameThisProgram(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		env  []string
		want string
	}{
		{nil, "run '" + binary_ + " data fetch --dir " + dir + "'"},
		{[]string{"PATH=" + filepath.Dir(binary_) + ":" + os.Getenv("PATH")}, "run 'cnngpu data fetch --dir " + dir + "'"},
	} {
		_, errOut, code := cnngpu(t, c.env, "data", "verify", "--dir", dir)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("data verify of an empty folder (env %q): exit %d\n%s\nwant %q", c.env, code, errOut, c.want)
		}
	}
}
