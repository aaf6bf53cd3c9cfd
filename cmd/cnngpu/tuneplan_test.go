// tuneplan_test.go: the time `tune --dry-run` expects: timed on the CPU
// engine with --cpu, none for a GPU, and at the pace of the runs finished
// in the study's folder.

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/tune"
)

func TestTuneDryRunTime(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 100)
	study := filepath.Join(dir, "study")
	args := []string{"tune", "--data", dir, "--lr", "0.001", "--batch-size", "16,32", "--activation", "relu", "--epochs", "1", "--out", study}
	dry := func(extra ...string) string {
		t.Helper()
		stdout, stderr, code := cnngpu(t, nil, append(append(args, "--dry-run"), extra...)...)
		if code != 0 || !strings.HasSuffix(stdout, "nothing trained (--dry-run)\n") {
			t.Fatalf("%v --dry-run: exit %d\n%s%s", extra, code, stdout, stderr)
		}
		return stdout
	}
	want := func(out string, patterns ...string) {
		t.Helper()
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(out) {
				t.Errorf("the dry run's output does not match %q:\n%s", p, out)
			}
		}
	}
	want(dry("--cpu", "--threads", "1"),
		`\ntime: about \d+s for the 2 runs left, from training steps of each batch size timed now on the CPU engine with 1 thread\n`,
		`\n  then the final retraining and its test: about \d+s( to \d+s \(by batch size\))?\n`)
	// Two engines splitting two threads: one thread each, two runs at once.
	want(dry("--cpu", "--threads", "2", "--jobs-per-device", "2"), `for the 2 runs left, 2 at a time, from training steps of each batch size timed now on the CPU engine with 1 thread\n`)
	// More runs at once than the cores: dealt as the cores allow.
	if runtime.NumCPU() < 64 {
		want(dry("--cpu", "--threads", "64", "--jobs-per-device", "64"), `with 1 thread \(64 runs at once share this machine's \d+ cores? as \d+ would\)\n`)
	}
	want(dry("--final=false", "--cpu"), `\ntime: about \d+s for the 2 runs left`)
	if out := dry("--final=false", "--cpu"); strings.Contains(out, "final retraining and its test") {
		t.Errorf("--final=false: the dry run times a final retraining:\n%s", out)
	}
	want(dry(), `\ntime: not estimated: a dry run starts no GPU \(with --cpu it times the CPU engine's steps\)`)
	if _, err := os.Stat(study); err == nil {
		t.Fatalf("a dry run made %s", study)
	}

	// Trained, then one run taken away: the rest at the finished one's
	// pace, a GPU's plan included (no --cpu).
	if stdout, stderr, code := cnngpu(t, nil, append(args, "--cpu", "--final=false")...); code != 0 {
		t.Fatalf("the study: exit %d\n%s%s", code, stdout, stderr)
	}
	want(dry(), `\ntime: only the final retraining and its test are left, about \d+s \(lr 0\.001, batch (16|32), relu\), at the pace of the 2 runs finished in `)
	want(dry("--final=false"), `\ntime: none, every run is finished\n`)
	// The final model trained: nothing left, its setting the best.
	if stdout, stderr, code := cnngpu(t, nil, append(args, "--cpu")...); code != 0 {
		t.Fatalf("the study's final retraining: exit %d\n%s%s", code, stdout, stderr)
	}
	want(dry(), `\ntime: none, every run is finished and the final model is the best setting's\n`)
	spec, err := tune.LoadSpec(study)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(tune.RunPath(study, spec.Configs()[1], 0, 0)); err != nil {
		t.Fatal(err)
	}
	want(dry("--final=false"), `\ntime: about \d+s for the 1 run left, at the pace of the 1 run finished in `+regexp.QuoteMeta(study)+` \(as many at once as they ran\)\n`)
	want(dry(), `\n  then the final retraining and its test: about \d+s`)
	if err := os.Remove(tune.RunPath(study, spec.Configs()[0], 0, 0)); err != nil {
		t.Fatal(err)
	}
	want(dry(), `\ntime: not estimated`)
}
