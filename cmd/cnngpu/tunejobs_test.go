// tunejobs_test.go: `tune --jobs-per-device`: bad values are refused
// naming the flag (exit 2); on the CPU two engines split the threads, run
// at once on one copy of the training images, and give the same results
// and the same final model as one engine with all the threads; tf32
// without a GPU is refused; a study interrupted before its first epoch
// keeps a definition that was there before.

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fakecuda"
	"github.com/cnngpu/cnngpu/tune"
)

func TestTuneJobsPerDevice(t *testing.T) {
	for _, v := range []string{"0", "-2", "65", "two"} {
		_, stderr, code := cnngpu(t, nil, "tune", "--cpu", "--jobs-per-device", v, "--dry-run")
		if code != 2 || !strings.Contains(stderr, "jobs-per-device") {
			t.Errorf("--jobs-per-device %s: exit %d, %q; want 2 and a message naming the flag", v, code, stderr)
		}
	}
	_, stderr, _ := cnngpu(t, nil, "tune", "--cpu", "--jobs-per-device", "0", "--dry-run")
	if !strings.Contains(stderr, "expected the number of trainings to run at once on each device, 1 to 64") {
		t.Errorf("--jobs-per-device 0: %q", stderr)
	}

	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 60)
	study := func(jobs string) (string, string) {
		out := filepath.Join(dir, "study"+jobs)
		stdout, stderr, code := cnngpu(t, nil, "tune", "--cpu", "--threads", "2", "--jobs-per-device", jobs, "--data", dir, "--out", out,
			"--lr", "0.001,0.003", "--batch-size", "32", "--activation", "relu", "--epochs", "1", "--val-split", "0.2", "--recipe", "reference")
		if code != 0 {
			t.Fatalf("--jobs-per-device %s: exit %d\n%s\n%s", jobs, code, stdout, stderr)
		}
		return out, stdout
	}
	one, _ := study("1")
	two, stdout := study("2")
	for _, s := range []string{"engine: cpu (1 thread, ", " ×2", "2 runs at once, on one copy of the training images", "s on cpu #"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("--jobs-per-device 2: output lacks %q:\n%s", s, stdout)
		}
	}
	a := resultRows(t, filepath.Join(one, "results.csv"))
	b := resultRows(t, filepath.Join(two, "results.csv"))
	if len(a) != 3 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("results.csv with 2 jobs differs from 1:\n%s\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	var f1, f2 struct {
		TestAcc  float64 `json:"test_acc"`
		TestLoss float64 `json:"test_loss"`
		Engine   string  `json:"engine"`
	}
	for _, x := range []struct {
		dir string
		f   any
	}{{one, &f1}, {two, &f2}} {
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(x.dir, "final.json"))), x.f); err != nil {
			t.Fatal(err)
		}
	}
	// The final retraining runs on an engine with all the threads.
	if f1.TestAcc != f2.TestAcc || f1.TestLoss != f2.TestLoss || !strings.HasPrefix(f2.Engine, "cpu (2 threads") {
		t.Errorf("final retraining: %+v with 1 job, %+v with 2", f1, f2)
	}
}

// resultRows is results.csv's lines without the last column (time).
func resultRows(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		out = append(out, l[:strings.LastIndex(l, ",")])
	}
	return out
}

// TestTuneTF32WithoutGPU: tune --precision tf32 where no GPU can be used
// is refused, leaving no folder, and so is tune merge --final of tf32
// shards; they fell back to the CPU engine and recorded the study as tf32
// (its next-step command then refused).
func TestTuneTF32WithoutGPU(t *testing.T) {
	f := newFixtures(t)
	out := filepath.Join(f.root, "study")
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "FAKECUDA_NDEV=0"}
	_, stderr, code := cnngpu(t, env, "tune", "--data", f.data, "--precision", "tf32", "--lr", "0.001", "--batch-size", "64",
		"--activation", "relu", "--epochs", "1", "--out", out)
	if code != 1 || !strings.Contains(stderr, "--precision tf32 is the GPU's, and GPU 0 cannot be used: ") || strings.Contains(stderr, "note: using the CPU engine") {
		t.Errorf("tune --precision tf32 without a GPU: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("tune --precision tf32 without a GPU left %s", out)
	}
	// tune merge --final of tf32 shards alike, before the merge writes.
	shards := filepath.Join(f.root, "shards")
	spec := &tune.Spec{Version: 1, LRs: []float64{0.001, 0.003}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 1,
		Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.25, Precision: "tf32"}
	for i := range 2 {
		sp := *spec
		sp.Shard, _ = tune.ParseShard(fmt.Sprintf("%d/2", i))
		d := filepath.Join(shards, strconv.Itoa(i))
		if err := tune.Prepare(d, &sp); err != nil {
			t.Fatal(err)
		}
		for _, c := range sp.Mine() {
			r := &tune.Run{Config: c, Done: true, Seconds: 1, Epochs: []engine.EpochMetrics{{Epoch: 1, TrainLoss: 1, TrainAcc: 0.5, ValLoss: 1, ValAcc: 0.5}}}
			if err := r.Save(tune.RunPath(d, c, 0, 0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	merged := filepath.Join(f.root, "merged")
	_, stderr, code = cnngpu(t, env, "tune", "merge", "--final", "--precision", "tf32", "--data", f.data, "--out", merged, shards)
	if code != 1 || !strings.Contains(stderr, "--precision tf32 is the GPU's, and GPU 0 cannot be used: ") || strings.Contains(stderr, "note: using the CPU engine") {
		t.Errorf("tune merge --final --precision tf32 without a GPU: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(merged); err == nil {
		t.Errorf("tune merge --final --precision tf32 without a GPU made %s", merged)
	}
}

// TestTuneInterruptedBeforeFirstEpochKeepsEarlierSettings: a study folder
// left with its definition and no epoch recorded (the process killed in
// its first epoch) keeps that definition when a second try is interrupted
// in its first epoch too, and the message says so; it said the settings
// were not fixed and to try other flags, which were then refused.
func TestTuneInterruptedBeforeFirstEpochKeepsEarlierSettings(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 3000, 50)
	out := filepath.Join(dir, "study")
	// stopped runs the study until its first run begins, then sends sig.
	stopped := func(sig os.Signal) string {
		cmd := exec.Command(binary_, "tune", "--cpu", "--threads", "1", "--data", dir, "--lr", "0.001", "--batch-size", "16",
			"--activation", "relu", "--epochs", "1", "--out", out)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		for lines.Scan() && !strings.HasPrefix(lines.Text(), "engine: ") {
		}
		cmd.Process.Signal(sig)
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		return stderr.String()
	}
	stopped(os.Kill)
	if _, err := os.Stat(filepath.Join(out, "study.json")); err != nil {
		t.Fatalf("the killed study left no definition: %v", err)
	}
	if !tune.NothingRecorded(out) {
		t.Skip("the killed study recorded an epoch before the kill (a fast machine): nothing to test")
	}
	said := stopped(os.Interrupt)
	if !tune.NothingRecorded(out) {
		t.Skip("the second try recorded an epoch before its interrupt (a fast machine): nothing to test")
	}
	if !strings.Contains(said, "nothing new is kept; "+out+" holds the study's settings from before this command") {
		t.Errorf("the second try, interrupted:\n%s", said)
	}
	if _, err := os.Stat(filepath.Join(out, "study.json")); err != nil {
		t.Errorf("the study's definition from before is gone: %v", err)
	}
}

// TestTuneEngineFailureSaysWhatIsKept: a study whose second run fails on
// the GPU (the fake's, whose first run ends as diverged: it computes no
// numbers) names that run, and says what the folder keeps and how to go on
// (it said only the CUDA error); the same command then goes on from there.
func TestTuneEngineFailureSaysWhatIsKept(t *testing.T) {
	data := t.TempDir()
	fakeMNIST(t, data, 1000, 50) // 750 training images: 6 steps a run, 4 of them replays of the recorded step
	out := filepath.Join(t.TempDir(), "study")
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "CNNGPU_NO_CACHE=1", "XDG_CACHE_HOME=" + t.TempDir()}
	args := []string{"tune", "--device", "0", "--data", data, "--lr", "0.001,0.003", "--batch-size", "128", "--activation", "relu",
		"--epochs", "1", "--final=false", "--out", out}
	// The second run's first replay: each run replays the step as often
	// (counted in a study of the same runs elsewhere).
	launches := fakeCalls(t, env, "cuGraphLaunch", withFlags(args, "--out", out+"-counted")...)
	stdout, stderr, code := cnngpu(t, append(env, fmt.Sprintf("FAKECUDA_FAIL=cuGraphLaunch:%d", launches/2+1)), args...)
	want := []string{"cnngpu: the run lr 0.003, batch 128, relu: cuGraphLaunch: CUDA_ERROR_UNKNOWN",
		"\n1 of 2 runs finished, kept in " + out + " (a run cut short trains again from its start)\n",
		"once that is fixed, continue with the same command and --out " + out}
	for _, w := range want {
		if code != 1 || !strings.Contains(stderr, w) {
			t.Errorf("tune whose second run fails on the GPU: exit %d, want 1 saying %q\n%s%s", code, w, stdout, stderr)
		}
	}
	if stdout, stderr, code := cnngpu(t, env, args...); code != 0 || !strings.Contains(stdout, "1 run finished earlier, 1 to run") {
		t.Errorf("the same command again: exit %d, want the second run alone\n%s%s", code, stdout, stderr)
	}
	// With the final retraining: every run diverged (the fake's), which
	// the same command again would not mend: its own hint alone.
	stdout, stderr, code = cnngpu(t, env, withFlags(args, "--final")...)
	if code != 1 || !strings.Contains(stderr, "every configuration of the study diverged (2 runs; see ") || strings.Contains(stderr, "continue with the same command") {
		t.Errorf("tune --final of runs that all diverged: exit %d, want 1 with the divergence's hint alone\n%s%s", code, stdout, stderr)
	}
}

// TestTuneDevicesNoSuchGPU: a GPU in --devices the machine lacks is named
// with --devices, the flag given (it said --device, which was not), exit 2.
func TestTuneDevicesNoSuchGPU(t *testing.T) {
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "CNNGPU_NO_CACHE=1", "XDG_CACHE_HOME=" + t.TempDir()}
	_, stderr, code := cnngpu(t, env, "tune", "--devices", "0,5", "--epochs", "1", "--lr", "0.001", "--batch-size", "128", "--activation", "relu", "--out", filepath.Join(t.TempDir(), "s"))
	if code != 2 || !strings.Contains(stderr, "cnngpu: --devices 0,5: no GPU 5; this machine has:\n  GPU 0: ") || !strings.Contains(stderr, "give --devices from these, or use --cpu") {
		t.Errorf("tune --devices 0,5 on two GPUs: exit %d\n%s", code, stderr)
	}
}
