// Tests of what a run keeps and says around --resume: a --seeds run
// interrupted mid-seed, a metrics file that cannot be written, a first
// checkpoint that cannot be (--metrics put back as it was), the settings
// a resumed run must not change, and the default --out name passed for
// the next where another run has taken it.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/urfave/cli/v2"
)

// waitFor polls until cond holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cmd *exec.Cmd, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > time.Minute {
			cmd.Process.Kill()
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// startTrain starts a training on the CPU, one thread, batch 16, on the
// data in dir, with args; its stderr is collected.
func startTrain(t *testing.T, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary_, append([]string{"train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16"}, args...)...)
	se := &bytes.Buffer{}
	cmd.Stderr = se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, se
}

// interruptSeeds runs --seeds 1-3 (3 epochs, on the data in dir) into out
// and metrics, interrupts it in seed 2's second epoch and wants exit 130;
// it returns seed 2's checkpoint and the run's stderr.
func interruptSeeds(t *testing.T, dir, out, metrics string) (seed2, stderr string) {
	t.Helper()
	cmd, se := startTrain(t, dir, "--epochs", "3", "--seeds", "1-3", "--out", out, "--metrics", metrics)
	seed2 = seedPath(out, 2)
	waitFor(t, "seed 2's first epoch", cmd, func() bool { return exists(seed2) })
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("interrupted --seeds run: exit %d\n%s", code, se)
	}
	return seed2, se.String()
}

// TestSeedsInterrupted: the resume hint of a seed interrupted in a --seeds
// run leaves out --metrics (the file of the finished seeds' results, which
// the resumed run would replace), names the seeds not started, and a
// resume given that file anyway says what it replaces.
func TestSeedsInterrupted(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out, metrics := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "m.jsonl")
	seed2, msg := interruptSeeds(t, dir, out, metrics)
	if !strings.Contains(msg, "resume with: "+binary_+" train --resume "+seed2+" --data "+dir+" --threads 1 --cpu\n") {
		t.Errorf("the resume hint of a --seeds run should leave out --metrics:\n%s", msg)
	}
	for _, want := range []string{
		"not started: seed 3\ncontinue all 3 seeds with: ",
		metrics + " keeps the finished seeds' results; a resume of seed 2 alone leaves it as it is",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("interrupted --seeds run: no %q in\n%s", want, msg)
		}
	}
	if b := readFile(t, metrics); !strings.Contains(b, `{"result":{"seed":1,`) {
		t.Fatalf("the metrics file lost seed 1's result:\n%s", b)
	}
	// Resumed into that file all the same: said.
	_, errOut, code := cnngpu(t, nil, "train", "--resume", seed2, "--data", dir, "--threads", "1", "--cpu", "--metrics", metrics, "--quiet")
	if code != 0 || !strings.Contains(errOut, "note: "+metrics+" holds the metrics of a --seeds run; this resumed run replaces them") {
		t.Errorf("resume into a --seeds metrics file: exit %d\n%s", code, errOut)
	}
}

// TestTrainJSONInterrupted: a plain train --json run interrupted writes
// what stopped and the checkpoint it goes on from, as a --seeds run does
// (stdout was empty before).
func TestTrainJSONInterrupted(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out := filepath.Join(dir, "m.safetensors")
	cmd := exec.Command(binary_, "train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16",
		"--epochs", "3", "--out", out, "--json")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first epoch's checkpoint", cmd, func() bool { return exists(out) })
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("interrupted train --json: exit %d\n%s", code, se.String())
	}
	var got struct {
		Stopped    seedStop
		Checkpoint string
	}
	if err := json.Unmarshal(so.Bytes(), &got); err != nil {
		t.Fatalf("standard output is not JSON: %v\n%q", err, so.String())
	}
	if got.Stopped.Seed != 1 || !got.Stopped.Interrupted || !strings.Contains(got.Stopped.Error, "--resume") || got.Checkpoint != out {
		t.Errorf("interrupted train --json: %+v", got)
	}
}

// TestSeedsJSONInterrupted: a --seeds --json run interrupted in seed 2
// still writes its JSON: seed 1's result and summary, the seed that
// stopped and why, and the seed not started (stdout was empty before).
func TestSeedsJSONInterrupted(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out := filepath.Join(dir, "m.safetensors")
	cmd := exec.Command(binary_, "train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16",
		"--epochs", "3", "--seeds", "1-3", "--out", out, "--json")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seed 2's first epoch", cmd, func() bool { return exists(seedPath(out, 2)) })
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("interrupted --seeds --json run: exit %d\n%s", code, se.String())
	}
	var got struct {
		Runs    []seedResult
		Summary *seedSummary
		Stopped seedStop
		Started []uint64 `json:"not_started"`
	}
	if err := json.Unmarshal(so.Bytes(), &got); err != nil {
		t.Fatalf("standard output is not the JSON result: %v\n%q", err, so.String())
	}
	if len(got.Runs) != 1 || got.Runs[0].Seed != 1 || got.Summary == nil || got.Summary.Seeds != 1 ||
		got.Stopped.Seed != 2 || !got.Stopped.Interrupted || got.Stopped.Error == "" || !slices.Equal(got.Started, []uint64{3}) {
		t.Errorf("interrupted --seeds --json: %+v", got)
	}
	// eval --json of the seed cut short says so.
	stdout, stderr, code := cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", seedPath(out, 2), "--json")
	var rep evalReport
	if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil || !rep.CutShort || rep.Epochs != 3 || rep.EpochsTrained >= 3 {
		t.Errorf("eval --json of seed 2, cut short: exit %d, %v, %+v\n%s", code, err, rep, stderr)
	}
	// So does its text (it said "trained 1 epoch", as of a whole run),
	// with the command that continues it on its --data (without, the
	// resume is refused: other data).
	stdout, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", seedPath(out, 2))
	if want := ", cut short of its 3: it continues with '" + binary_ + " train --resume " + seedPath(out, 2) + " --data " + dir + "')"; code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("eval of seed 2, cut short: exit %d, no %q in\n%s%s", code, want, stdout, stderr)
	}
	// While a training writes it (its lock held), the run is under way,
	// not cut short: the JSON says training_now, as the text names the
	// training (it said cut_short, with nothing to continue).
	_, lock := outputLock(seedPath(out, 2))
	f, _, err := fileutil.TryLock(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer fileutil.Unlock(lock, f)
	stdout, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", seedPath(out, 2), "--json")
	rep = evalReport{}
	if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil || rep.CutShort || !rep.TrainingNow || rep.EpochsTrained >= 3 {
		t.Errorf("eval --json of seed 2, being trained: exit %d, %v, %+v\n%s", code, err, rep, stderr)
	}
	stdout, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", seedPath(out, 2))
	if want := " of its 3, which another process (pid "; code != 0 || !strings.Contains(stdout, want) || strings.Contains(stdout, "cut short") {
		t.Errorf("eval of seed 2, being trained: exit %d, no %q in\n%s%s", code, want, stdout, stderr)
	}
}

// TestSeedsInterruptedInTheFirstSeed: stopped before any seed finished,
// the message does not say the metrics file keeps finished seeds'
// results (there are none), nor that it keeps seed 1's epochs unless it
// does (the file an earlier command wrote, for seed 5, is not this one's).
func TestSeedsInterruptedInTheFirstSeed(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 6000, 50)
	metrics := filepath.Join(dir, "m.jsonl")
	if _, se, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "1", "--train-limit", "100", "--seeds", "5",
		"--out", filepath.Join(dir, "five.safetensors"), "--metrics", metrics, "--quiet"); code != 0 {
		t.Fatalf("the earlier run: exit %d\n%s", code, se)
	}
	cmd := exec.Command(binary_, "train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16", "--epochs", "2", "--seeds", "1-2",
		"--out", filepath.Join(dir, "m.safetensors"), "--metrics", metrics)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seed 1's training to start", cmd, func() bool { return strings.Contains(out.String(), "model: ") })
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	msg := out.String()
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(msg, "seed 1: interrupted ") {
		t.Fatalf("interrupted in seed 1: exit %d\n%s", code, msg)
	}
	if strings.Contains(msg, "finished seeds' results") {
		t.Errorf("no seed finished, but the message says the metrics file keeps their results:\n%s", msg)
	}
	wrote := strings.Contains(readFile(t, metrics), `{"seed":1,`)
	if !wrote && strings.Contains(msg, metrics+" keeps") {
		t.Errorf("the message says %s keeps something of this run, which wrote nothing there:\n%s", metrics, msg)
	}
	if wrote && !strings.Contains(msg, metrics+" keeps seed 1's finished epochs") {
		t.Errorf("the message should say what %s keeps:\n%s", metrics, msg)
	}
}

// TestMetricsFailureKeepsTheEpoch: when the metrics file cannot be
// written after an epoch, the checkpoint of that epoch is saved anyway
// and the error says how to go on from it.
func TestMetricsFailureKeepsTheEpoch(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 2000, 50)
	out, metrics := filepath.Join(dir, "c.safetensors"), filepath.Join(dir, "c.jsonl")
	cmd, se := startTrain(t, dir, "--epochs", "4", "--recipe", "reference", "--out", out, "--metrics", metrics)
	waitFor(t, "the first epoch's metrics", cmd, func() bool { return exists(metrics) })
	// The next epoch's metrics cannot replace a folder.
	os.Remove(metrics)
	os.Mkdir(metrics, 0o755)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("metrics unwritable: %v, want exit 1\n%s", err, se.String())
	}
	ck, lerr := engine.LoadCheckpoint(out)
	if lerr != nil || ck.Position != (engine.Position{Epoch: 2}) {
		t.Fatalf("checkpoint after the second epoch's metrics failed: %v, position %+v; want the second epoch kept", lerr, ck.Position)
	}
	if msg := se.String(); !strings.Contains(msg, "--metrics: ") ||
		!strings.Contains(msg, "the checkpoint "+out+" is intact (it resumes at epoch 3, step 0): once that is fixed, resume with: "+binary_+" train --resume "+out) {
		t.Errorf("metrics unwritable:\n%s", msg)
	}
}

// TestCheckpointFailureKeepsTheOneBefore: a checkpoint whose write fails
// (written beside the next epoch) stops the run at the next save or at
// its end, with exit 1, no result, and the message naming the checkpoint
// before it as the one to resume.
func TestCheckpointFailureKeepsTheOneBefore(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 4000, 50)
	out, metrics := filepath.Join(dir, "c.safetensors"), filepath.Join(dir, "c.jsonl")
	cmd, se := startTrain(t, dir, "--epochs", "3", "--recipe", "reference", "--out", out, "--metrics", metrics)
	waitFor(t, "the first epoch's checkpoint", cmd, func() bool { return exists(out) })
	// The next checkpoint cannot replace a folder.
	os.Remove(out)
	os.Mkdir(out, 0o755)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("checkpoint unwritable: %v, want exit 1\n%s", err, se.String())
	}
	msg := se.String()
	if !strings.Contains(msg, "--out: writing "+out) || !strings.Contains(msg, "the checkpoint there is intact (it resumes at epoch ") ||
		strings.Contains(msg, "test accuracy") {
		t.Errorf("checkpoint unwritable:\n%s", msg)
	}
	// The metrics hold the epochs the checkpoint kept, no more.
	at := strings.Index(msg, "resumes at epoch ")
	var resumes int
	fmt.Sscanf(msg[at+len("resumes at epoch "):], "%d", &resumes)
	if lines := strings.Count(readFile(t, metrics), "\n"); resumes < 2 || lines != resumes-1 {
		t.Errorf("the metrics hold %d epochs, the checkpoint %d:\n%s", lines, resumes-1, readFile(t, metrics))
	}
}

// TestFirstCheckpointFailureKeepsEarlierMetrics: a run whose first
// checkpoint cannot be written leaves --metrics as it found it (an earlier
// run's lines), not emptied of the epoch it had written there; where there
// was no file, none is left.
func TestFirstCheckpointFailureKeepsEarlierMetrics(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 4000, 50)
	out, metrics := filepath.Join(dir, "c.safetensors"), filepath.Join(dir, "c.jsonl")
	fresh := filepath.Join(dir, "fresh.jsonl")
	earlier := "{\"epoch\":1,\"seconds\":2,\"images_per_sec\":100,\"images\":200,\"an earlier run's\":true}\n"
	if err := os.WriteFile(metrics, []byte(earlier), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{metrics, fresh} {
		os.RemoveAll(out)
		cmd, se := startTrain(t, dir, "--epochs", "3", "--recipe", "reference", "--out", out, "--metrics", m)
		// The first checkpoint cannot be written: a folder where it goes,
		// made once the run has passed its checks and locked its outputs,
		// before the first epoch ends (4000 images on one thread).
		lock := filepath.Join(dir, ".c.safetensors.lock")
		waitFor(t, "the run's lock on --out", cmd, func() bool { return exists(lock) })
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(se.String(), "--out: ") {
			t.Fatalf("--metrics %s: first checkpoint unwritable: %v, want exit 1 naming --out\n%s", m, err, se.String())
		}
		if m == fresh {
			if exists(fresh) {
				t.Errorf("no metrics file before the run, and %s left after its first checkpoint failed:\n%s", fresh, readFile(t, fresh))
			}
		} else if got := readFile(t, metrics); got != earlier {
			t.Errorf("the earlier run's metrics were not kept after the first checkpoint failed: %q, want %q", got, earlier)
		}
	}
}

// TestResumeRefusals: settings a resumed run must not change, and the
// words for a run that has already trained its epochs.
func TestResumeRefusals(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	sgd, adam := filepath.Join(dir, "sgd.safetensors"), filepath.Join(dir, "adam.safetensors")
	for _, c := range [][]string{
		{"--optimizer", "sgd", "--momentum", "0.9", "--out", sgd, "--recipe", "reference"},
		{"--out", adam, "--recipe", "reference"},
	} {
		args := append([]string{"train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "2", "--quiet"}, c...)
		if _, errOut, code := cnngpu(t, nil, args...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--resume", sgd, "--momentum", "0.5", "--epochs", "3"}, "--resume " + sgd + ": the checkpoint was trained with --momentum 0.9, but --momentum 0.5 was given"},
		{[]string{"--resume", adam, "--momentum", "0.5", "--epochs", "3"}, "--resume " + adam + ": the checkpoint was trained with Adam, which takes no --momentum"},
		{[]string{"--resume", adam, "--optimizer", "adam", "--momentum", "0.5", "--epochs", "3"}, "--resume " + adam + ": the checkpoint was trained with Adam, which takes no --momentum"},
		{[]string{"--resume", adam, "--epochs", "1"}, "--resume " + adam + ": that run has trained 2 epochs; --epochs 1 is not more than that: its test result comes from '" + binary_ + " eval --model " + adam + " --data " + dir + "'; give a larger --epochs"},
		// Two contradictions: the first in --resume's order is named.
		{[]string{"--resume", adam, "--seed", "99", "--batch-size", "7", "--epochs", "3"}, "--resume " + adam + ": the checkpoint was trained with --batch-size 128, but --batch-size 7 was given"},
		{[]string{"--resume", adam, "--augment", "shift", "--schedule", "cosine", "--epochs", "3"}, "--resume " + adam + ": the checkpoint was trained with --schedule constant, but --schedule cosine was given"},
		{[]string{"--resume", adam}, "--resume " + adam + ": that run already finished its 2 epochs: its test result comes from '" + binary_ + " eval --model " + adam + " --data " + dir + "'; give --epochs N with N larger than 2"},
		{[]string{"--resume", adam, "--label-smoothing", "0.1", "--epochs", "3"}, "--resume " + adam + ": the checkpoint was trained with --label-smoothing 0, but --label-smoothing 0.1 was given"},
		// -0 is 0 (it was refused as another setting than the checkpoint's 0)
		{[]string{"--resume", adam, "--label-smoothing", "-0"}, "--resume " + adam + ": that run already finished its 2 epochs"},
	} {
		args := append([]string{"train", "--cpu", "--threads", "1", "--data", dir}, c.args...)
		if _, errOut, code := cnngpu(t, nil, args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d\n%s\nwant exit 2 and %q", c.args, code, errOut, c.want)
		}
	}
	// A checkpoint another training holds is named as --resume, the flag
	// given, with how to write elsewhere.
	lock, err := os.OpenFile(filepath.Join(dir, ".sgd.safetensors.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--resume", sgd, "--epochs", "3")
	lock.Close()
	if code != 2 || !strings.Contains(errOut, "--resume "+sgd+": another process") || !strings.Contains(errOut, "give this run an --out of its own") {
		t.Errorf("resume of a checkpoint in use: exit %d\n%s", code, errOut)
	}
	// The same momentum, as given before, continues.
	if _, errOut, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--resume", sgd, "--momentum", "0.9", "--epochs", "3", "--quiet"); code != 0 {
		t.Errorf("resume with the checkpoint's own momentum: exit %d\n%s", code, errOut)
	}
}

// TestLabelSmoothingResumes: --label-smoothing (the default recipe's 0.1,
// or as given) is said in the model's line, recorded in the checkpoint
// and kept by --resume, which continues the run as if it had not stopped
// (the CPU engine's bits); and it trains otherwise than one-hot targets
// (--label-smoothing 0).
func TestLabelSmoothingResumes(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	common := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16", "--schedule", "constant", "--json"}
	run := resultOf(t, common)
	whole := run("--epochs", "2", "--label-smoothing", "0.1", "--out", filepath.Join(dir, "w.safetensors"))
	part := filepath.Join(dir, "p.safetensors")
	run("--epochs", "1", "--label-smoothing", "0.1", "--out", part)
	ck, err := engine.LoadCheckpoint(part)
	if err != nil || ck.Config.LabelSmoothing != 0.1 {
		t.Fatalf("the checkpoint's label smoothing: %v, %+v", err, ck.Config)
	}
	resumed := run("--resume", part, "--epochs", "2")
	if resumed.TestLoss != whole.TestLoss || resumed.TestAcc != whole.TestAcc {
		t.Errorf("resumed: test loss %v, accuracy %v; the run never stopped: %v, %v", resumed.TestLoss, resumed.TestAcc, whole.TestLoss, whole.TestAcc)
	}
	if plain := run("--epochs", "2", "--label-smoothing", "0", "--out", filepath.Join(dir, "o.safetensors")); plain.TestLoss == whole.TestLoss {
		t.Errorf("one-hot targets gave the test loss of label smoothing 0.1, %v", plain.TestLoss)
	}
	// The default recipe's 0.1, said in the model's line; 0 is a change
	// of it, said so.
	for _, c := range []struct{ ls, line, recipe string }{
		{"", "augment shift:2,rotate:10,scale:0.1, label smoothing 0.1, batch 128", "(recipe default)"},
		{"0.1", "augment shift:2,rotate:10,scale:0.1, label smoothing 0.1, batch 128", "(recipe default)"},
		{"0", "augment shift:2,rotate:10,scale:0.1, batch 128", "(recipe default with --label-smoothing 0)"},
	} {
		args := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "1", "--out", filepath.Join(dir, "q.safetensors")}
		if c.ls != "" {
			args = append(args, "--label-smoothing", c.ls)
		}
		so, _, code := cnngpu(t, nil, args...)
		if code != 0 || !strings.Contains(so, c.line) || !strings.Contains(so, c.recipe) {
			t.Errorf("the model's line with --label-smoothing %q: exit %d, want %q and %q\n%s", c.ls, code, c.line, c.recipe, so)
		}
	}
}

// resultOf returns a function running cnngpu with common and then its
// arguments, which must succeed, and reading the --json result it prints.
func resultOf(t *testing.T, common []string) func(args ...string) seedResult {
	return func(args ...string) seedResult {
		t.Helper()
		so, se, code := cnngpu(t, nil, append(slices.Clone(common), args...)...)
		var r seedResult
		if code != 0 || json.Unmarshal([]byte(so), &r) != nil {
			t.Fatalf("%v: exit %d\n%s%s", args, code, so, se)
		}
		return r
	}
}

// TestWarpResumes: a run with --augment's rotation and scale records them
// (format 2), a resumed run equals the run never stopped, another
// --augment on --resume is refused, and the warp trains otherwise than
// the translation alone.
func TestWarpResumes(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	const warp = "shift:2,rotate:10,scale:0.1"
	common := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16", "--schedule", "constant", "--json"}
	run := resultOf(t, common)
	whole := run("--epochs", "2", "--augment", warp, "--out", filepath.Join(dir, "w.safetensors"))
	part := filepath.Join(dir, "p.safetensors")
	run("--epochs", "1", "--augment", warp, "--out", part)
	ck, err := engine.LoadCheckpoint(part)
	if err != nil || ck.Config.Augmentation != (engine.Augmentation{Shift: 2, Rotate: 10, Scale: 0.1}) {
		t.Fatalf("the checkpoint's augmentation: %v, %+v", err, ck.Config)
	}
	if b, err := os.ReadFile(part); err != nil || !bytes.Contains(b[:min(len(b), 4096)], []byte(`"format":"cnngpu-checkpoint/2"`)) {
		t.Errorf("the warp's checkpoint is not format 2 (builds before the warp would resume it with the translation alone): %v", err)
	}
	if _, se, code := cnngpu(t, nil, append(slices.Clone(common), "--resume", part, "--epochs", "2", "--augment", "shift:2")...); code != 2 || !strings.Contains(se, "trained with --augment "+warp) {
		t.Errorf("--resume with another --augment: exit %d, %s", code, se)
	}
	resumed := run("--resume", part, "--epochs", "2")
	if resumed.TestLoss != whole.TestLoss || resumed.TestAcc != whole.TestAcc {
		t.Errorf("resumed: test loss %v, accuracy %v; the run never stopped: %v, %v", resumed.TestLoss, resumed.TestAcc, whole.TestLoss, whole.TestAcc)
	}
	if plain := run("--epochs", "2", "--augment", "shift:2", "--out", filepath.Join(dir, "o.safetensors")); plain.TestLoss == whole.TestLoss {
		t.Errorf("the translation alone gave the test loss of the warp, %v", plain.TestLoss)
	}
}

// TestOldDefaultResumes: a run of the default recipe before 2026-12-05
// (shifts alone, one-hot targets: what builds before then wrote as
// recipe "default", format 1) resumes with its own settings, not today's
// default: without flags it says which parts differ from today's
// default, keeps format 1 and ends as the run never stopped; the new
// default's label smoothing or warp on --resume is refused.
func TestOldDefaultResumes(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	common := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16", "--schedule", "constant", "--json"}
	old := []string{"--augment", "shift:2", "--label-smoothing", "0"}
	run := resultOf(t, common)
	whole := run(append([]string{"--epochs", "2", "--out", filepath.Join(dir, "w.safetensors")}, old...)...)
	part := filepath.Join(dir, "p.safetensors")
	run(append([]string{"--epochs", "1", "--out", part}, old...)...)
	ck, err := engine.LoadCheckpoint(part)
	if err != nil || ck.Config.Recipe != "default" || ck.Config.Augmentation != (engine.Augmentation{Shift: 2}) || ck.Config.LabelSmoothing != 0 {
		t.Fatalf("the checkpoint: %v, %+v; want recipe default, shift 2, no label smoothing", err, ck.Config)
	}
	if b, err := os.ReadFile(part); err != nil || !bytes.Contains(b[:min(len(b), 4096)], []byte(`"format":"cnngpu-checkpoint/1"`)) {
		t.Errorf("the run of the default before 2026-12-05 is not format 1 (which every build reads): %v", err)
	}
	so, se, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--resume", part, "--epochs", "2", "--out", filepath.Join(dir, "r.safetensors"))
	if code != 0 || !strings.Contains(so, "augment shift:2, batch 16") || !strings.Contains(so, "(recipe default with --schedule constant, --augment shift:2, --label-smoothing 0)") {
		t.Errorf("--resume without flags: exit %d, want the run's own shift and targets named\n%s%s", code, so, se)
	}
	if resumed := run("--resume", part, "--epochs", "2"); resumed.TestLoss != whole.TestLoss || resumed.TestAcc != whole.TestAcc {
		t.Errorf("resumed: test loss %v, accuracy %v; the run never stopped: %v, %v", resumed.TestLoss, resumed.TestAcc, whole.TestLoss, whole.TestAcc)
	}
	for _, flag := range [][]string{{"--label-smoothing", "0.1"}, {"--augment", "shift:2,rotate:10,scale:0.1"}} {
		if _, se, code := cnngpu(t, nil, append(slices.Clone(common), append([]string{"--resume", part, "--epochs", "2"}, flag...)...)...); code != 2 || !strings.Contains(se, flag[0]) {
			t.Errorf("--resume with %v: exit %d, want 2 naming it\n%s", flag, code, se)
		}
	}
}

// TestFinishedRunKeepsTheWeights: a finished run's last checkpoint keeps
// Adam's moments only where --resume can extend the run (a constant
// rate); with the default cosine schedule it holds the weights alone,
// which eval reads, and --resume says the run is finished, as before.
func TestFinishedRunKeepsTheWeights(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	cosine, constant := filepath.Join(dir, "cosine.safetensors"), filepath.Join(dir, "constant.safetensors")
	for _, c := range [][]string{{"--out", cosine}, {"--out", constant, "--schedule", "constant"}} {
		args := append([]string{"train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "2", "--quiet"}, c...)
		if _, errOut, code := cnngpu(t, nil, args...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	ck, err := engine.LoadCheckpoint(cosine)
	if err != nil {
		t.Fatal(err)
	}
	if ck.S1 != nil || ck.S2 != nil || ck.Position.Epoch != 2 || len(ck.History) != 2 {
		t.Errorf("cosine run's last checkpoint: moments kept %v %v, position %+v, %d epochs of history; want the weights alone at epoch 2 with both epochs",
			ck.S1 != nil, ck.S2 != nil, ck.Position, len(ck.History))
	}
	kept, err := engine.LoadCheckpoint(constant)
	if err != nil {
		t.Fatal(err)
	}
	if kept.S1 == nil || kept.S2 == nil {
		t.Error("constant-rate run's last checkpoint lost Adam's moments, which --resume --epochs 3 needs")
	}
	if a, b := fileSize(t, cosine), fileSize(t, constant); a*2 > b {
		t.Errorf("the weights-only file is %d bytes, the full one %d: want about a third", a, b)
	}
	if out, errOut, code := cnngpu(t, nil, "eval", "--cpu", "--threads", "1", "--data", dir, "--model", cosine); code != 0 || !strings.Contains(out, "test accuracy") {
		t.Errorf("eval of the weights-only checkpoint: exit %d\n%s%s", code, out, errOut)
	}
	want := "--resume " + cosine + ": that run already finished its 2 epochs, and its cosine schedule has brought the rate to its end: its test result comes from '" + binary_ + " eval --model " + cosine + " --data " + dir + "'; to train further, train a new run (with more --epochs)"
	if _, errOut, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--resume", cosine); code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("--resume of the finished cosine run: exit %d\n%s\nwant exit 2 and %q", code, errOut, want)
	}
	if _, errOut, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--resume", constant, "--epochs", "3", "--quiet"); code != 0 {
		t.Errorf("--resume --epochs 3 of the constant-rate run: exit %d\n%s", code, errOut)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestDefaultOutTakesAFreeName: a run without --out whose default name
// (the time to the second) another run has written, or is training into
// now, takes the next free name (…-2, …-3) instead of failing or
// replacing it; with --seeds, a name any seed's file has is taken.
func TestDefaultOutTakesAFreeName(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	at := time.Date(2026, 12, 4, 20, 42, 41, 0, time.UTC)
	first := defaultOut(at, 1)
	if first != filepath.Join("runs", "model-20261204-204241.safetensors") || defaultOut(at, 3) != filepath.Join("runs", "model-20261204-204241-3.safetensors") {
		t.Fatalf("default names %q, %q", first, defaultOut(at, 3))
	}
	os.MkdirAll("runs", 0o755)
	// The first name is being trained into (its lock held), the second
	// written by a run that ended.
	lock := filepath.Join("runs", "."+filepath.Base(first)+".lock")
	f, _, err := fileutil.TryLock(lock)
	if err != nil {
		t.Skipf("no locks here: %v", err)
	}
	defer fileutil.Unlock(lock, f)
	if err := os.WriteFile(defaultOut(at, 2), []byte("an earlier run's"), 0o644); err != nil {
		t.Fatal(err)
	}
	set := flag.NewFlagSet("train", flag.ContinueOnError)
	set.String("metrics", "", "")
	set.String("resume", "", "")
	set.String("out", "", "")
	c := cli.NewContext(cli.NewApp(), set, nil)
	s := &trainSetup{outAt: at, outN: 1, out: first}
	s.outs = s.outsOf(s.out)
	release, err := lockDefaultOut(c, s, io.Discard)
	if err != nil {
		t.Fatalf("a default name locked by another run: %v; want the next free one", err)
	}
	release()
	if want := defaultOut(at, 3); s.out != want || !slices.Equal(s.outs, []string{want}) {
		t.Errorf("took %q (outs %q), want %q", s.out, s.outs, want)
	}
	if b, _ := os.ReadFile(defaultOut(at, 2)); string(b) != "an earlier run's" {
		t.Error("the ended run's file was touched")
	}
	// A name written since the flags were checked (a run that ended in
	// between) is passed too, after its lock is taken.
	late := time.Date(2026, 12, 4, 20, 42, 42, 0, time.UTC)
	lateRun := &trainSetup{outAt: late, outN: 1, out: defaultOut(late, 1)}
	lateRun.outs = lateRun.outsOf(lateRun.out)
	if err := os.WriteFile(defaultOut(late, 1), []byte("written meanwhile"), 0o644); err != nil {
		t.Fatal(err)
	}
	release, err = lockDefaultOut(c, lateRun, io.Discard)
	if err != nil || lateRun.out != defaultOut(late, 2) {
		t.Errorf("a default name written after the checks: %v, took %q; want %q", err, lateRun.out, defaultOut(late, 2))
	}
	if err == nil {
		release()
	}
	if exists(filepath.Join("runs", "."+filepath.Base(defaultOut(late, 1))+".lock")) {
		t.Error("the lock of the name passed is left behind")
	}
	// --metrics another run holds is refused at once, whatever --out.
	mlock := filepath.Join(cwd, ".m.jsonl.lock")
	mf, _, err := fileutil.TryLock(mlock)
	if err != nil {
		t.Fatal(err)
	}
	defer fileutil.Unlock(mlock, mf)
	set.Set("metrics", filepath.Join(cwd, "m.jsonl"))
	withMetrics := &trainSetup{outAt: late, outN: 3, out: defaultOut(late, 3)}
	withMetrics.outs = withMetrics.outsOf(withMetrics.out)
	if _, err := lockDefaultOut(c, withMetrics, io.Discard); err == nil || !strings.Contains(err.Error(), "--metrics ") || withMetrics.outN != 3 {
		t.Errorf("--metrics held by another run: %v, default name %d; want the refusal naming --metrics, the name unchanged", err, withMetrics.outN)
	}
	set.Set("metrics", "")
	// A name the user gave is never changed: the lock refuses it.
	named := &trainSetup{out: first, outs: []string{first}}
	if _, err := lockDefaultOut(c, named, io.Discard); err == nil || !strings.Contains(err.Error(), "is training into that file now") || named.out != first {
		t.Errorf("--out %s locked by another run: %v, out %q; want the refusal", first, err, named.out)
	}
	// With --seeds, every seed's file counts.
	seeds := &trainSetup{seeds: []uint64{1, 2}, outAt: at, outN: 3, out: defaultOut(at, 3)}
	if err := os.WriteFile(seedPath(defaultOut(at, 3), 2), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if seeds.skipTakenOut(); seeds.out != defaultOut(at, 4) {
		t.Errorf("--seeds 1,2 with seed 2's file at the third name: took %q, want the fourth", seeds.out)
	}
}

// TestResumeKeepsItsPathAndSaysWhatItReplaces: a --resume path with
// "{seed}" in its name is written back as given (the braces are --out's
// template only), and a resumed run's --metrics holding another run's
// lines is said before they are replaced, while its own are not.
func TestResumeKeepsItsPathAndSaysWhatItReplaces(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	base := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--recipe", "reference", "--quiet"}
	braces, other := filepath.Join(dir, "q{seed}.safetensors"), filepath.Join(dir, "q1.safetensors")
	mine, theirs := filepath.Join(dir, "mine.jsonl"), filepath.Join(dir, "theirs.jsonl")
	for _, args := range [][]string{
		{"--epochs", "1", "--out", other, "--seed", "9", "--metrics", theirs},
		{"--epochs", "1", "--out", filepath.Join(dir, "q{seed}x.safetensors"), "--metrics", mine},
	} {
		if _, errOut, code := cnngpu(t, nil, append(base, args...)...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	if err := os.Rename(filepath.Join(dir, "q1x.safetensors"), braces); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(other)
	_, errOut, code := cnngpu(t, nil, append(base, "--resume", braces, "--epochs", "2", "--metrics", mine)...)
	if code != 0 || strings.Contains(errOut, "note:") {
		t.Fatalf("resume of %s with its own metrics: exit %d\n%s\nwant no note", braces, code, errOut)
	}
	if after, _ := os.ReadFile(other); !bytes.Equal(after, before) {
		t.Errorf("resuming %s wrote %s", braces, other)
	}
	ck, err := engine.LoadCheckpoint(braces)
	if err != nil || ck.Position.Epoch != 2 {
		t.Errorf("%s after the resumed run: %v, %v; want epoch 2", braces, ck, err)
	}
	_, errOut, code = cnngpu(t, nil, append(base, "--resume", braces, "--epochs", "3", "--metrics", theirs)...)
	if code != 0 || !strings.Contains(errOut, "note: "+theirs+" holds metrics that are not the epochs of "+braces) {
		t.Errorf("resume with another run's metrics: exit %d\n%s\nwant a note naming them", code, errOut)
	}
}

// TestHangupKeepsTheRun: SIGHUP (the terminal closed) stops a training as
// Ctrl-C does: the epoch in progress is saved, exit 130, no lock left;
// started under nohup (SIGHUP ignored), the run goes on.
func TestHangupKeepsTheRun(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		// The run under test would inherit the ignoring, and rightly
		// keep training through the hang-up (the nohup case below).
		t.Skip("SIGHUP is ignored in this process (the tests were started under nohup?), and so in the runs it starts: a hang-up cannot be tested here")
	}
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out := filepath.Join(dir, "m.safetensors")
	cmd, se := startTrain(t, dir, "--epochs", "50", "--out", out)
	waitFor(t, "the first epoch", cmd, func() bool { return exists(out) })
	cmd.Process.Signal(syscall.SIGHUP)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(se.String(), "resume with:") {
		t.Fatalf("SIGHUP: exit %d\n%s\nwant 130 and the resume hint", code, se.String())
	}
	if ck, err := engine.LoadCheckpoint(out); err != nil || ck.Position.Epoch < 1 {
		t.Errorf("after SIGHUP: %v, %v", ck, err)
	}
	if exists(filepath.Join(dir, ".m.safetensors.lock")) {
		t.Error("SIGHUP left the lock file")
	}
	// Under nohup: SIGHUP ignored, and still ignored.
	out2 := filepath.Join(dir, "n.safetensors")
	cmd = exec.Command("nohup", binary_, "train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16", "--epochs", "2", "--out", out2, "--quiet")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Skipf("nohup: %v", err)
	}
	waitFor(t, "the first epoch under nohup", cmd, func() bool { return exists(out2) })
	cmd.Process.Signal(syscall.SIGHUP)
	if err := cmd.Wait(); err != nil {
		t.Errorf("under nohup, SIGHUP stopped the run: %v", err)
	}
	if ck, err := engine.LoadCheckpoint(out2); err != nil || ck.Position.Epoch != 2 {
		t.Errorf("under nohup: %v, %v; want both epochs", ck, err)
	}
}

// TestSeedsContinue: a --seeds run interrupted in its second seed names
// the command that continues it; that command (--continue) tests the
// finished seed again without training it, resumes the interrupted one
// and trains the last, each to the accuracy of the run never interrupted
// (the CPU engine repeats a run bit for bit, resumed or not), and writes
// the metrics file whole. A checkpoint of other settings, or a file that
// is not one, is refused before anything trains.
func TestSeedsContinue(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	common := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16", "--epochs", "3"}
	type runs struct {
		Runs    []seedResult `json:"runs"`
		Summary seedSummary  `json:"summary"`
	}
	decode := func(what, stdout, stderr string, code int) runs {
		t.Helper()
		var r runs
		if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil || len(r.Runs) != 3 {
			t.Fatalf("%s: exit %d, %q\n%s", what, code, stdout, stderr)
		}
		return r
	}
	// --continue with nothing to continue trains every seed, and says so
	// (a mistyped --out would retrain them all unsaid).
	so, se, code := cnngpu(t, nil, append(common, "--seeds", "1-3", "--out", filepath.Join(dir, "u.safetensors"), "--json", "--continue")...)
	whole := decode("the run never interrupted", so, se, code)
	if want := "note: --continue found no checkpoint at --out's names (" + filepath.Join(dir, "u-seed1.safetensors") + " for seed 1, and 2 more): every seed trains from the start"; !strings.Contains(se, want) {
		t.Errorf("--continue with no checkpoint: no %q in\n%s", want, se)
	}

	out, metrics := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "m.jsonl")
	seed2, msg := interruptSeeds(t, dir, out, metrics)
	want := "continue all 3 seeds with: " + binary_ + " train --cpu --threads 1 --data " + dir + " --epochs 3 --batch-size 16 --seeds 1-3 --metrics " + metrics +
		" --out " + out + " --continue (the finished ones are tested again, not retrained)"
	if !strings.Contains(msg, want) {
		t.Fatalf("interrupted --seeds run: no %q in\n%s", want, msg)
	}
	ck, err := engine.LoadCheckpoint(seed2)
	if err != nil || ck.Position.Epoch >= 3 {
		t.Fatalf("seed 2's checkpoint: %v, position %+v: want one stopped before its last epoch", err, ck.Position)
	}
	seed1, _ := os.Stat(filepath.Join(dir, "m-seed1.safetensors"))

	cont := append(common, "--seeds", "1-3", "--metrics", metrics, "--out", out, "--continue")
	so, se, code = cnngpu(t, nil, append(cont, "--json")...)
	got := decode("--continue", so, se, code)
	if strings.Contains(se, "found no checkpoint") {
		t.Errorf("--continue with checkpoints said it found none:\n%s", se)
	}
	for i, how := range []string{"tested", "resumed", ""} {
		g, w := got.Runs[i], whole.Runs[i]
		if g.Continued != how || g.Seed != w.Seed || g.TestAcc != w.TestAcc || g.TestLoss != w.TestLoss || g.Checkpoint != seedPath(out, w.Seed) {
			t.Errorf("--continue, seed %d: %+v; want continued %q and the accuracy of the run never interrupted, %+v", w.Seed, g, how, w)
		}
	}
	if got.Summary.Mean != whole.Summary.Mean || *got.Summary.Std != *whole.Summary.Std {
		t.Errorf("--continue's summary %+v, the run never interrupted %+v", got.Summary, whole.Summary)
	}
	if now, err := os.Stat(filepath.Join(dir, "m-seed1.safetensors")); err != nil || !now.ModTime().Equal(seed1.ModTime()) {
		t.Errorf("the finished seed 1 was written again (%v): it should only be tested", err)
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, metrics)), "\n")
	var shape []string
	for _, l := range lines {
		shape = append(shape, l[:min(len(l), 18)])
	}
	wantShape := []string{}
	for seed := 1; seed <= 3; seed++ {
		for range 3 {
			wantShape = append(wantShape, fmt.Sprintf(`{"seed":%d,"epoch":`, seed)[:18])
		}
		wantShape = append(wantShape, `{"result":{"seed":`)
	}
	wantShape = append(wantShape, `{"summary":{"seeds`)
	if !slices.Equal(shape, wantShape) {
		t.Errorf("--metrics after --continue:\n%s", strings.Join(lines, "\n"))
	}

	// A seed's time is its epochs', validation included, whether it
	// trained now, resumed or was tested again: tested again now, each
	// gives the figure it gave then.
	so, se, code = cnngpu(t, nil, append(cont, "--json")...)
	again := decode("--continue with every seed finished", so, se, code)
	for i, r := range again.Runs {
		if r.Seconds != got.Runs[i].Seconds || !(r.Seconds > 0) {
			t.Errorf("seed %d: %v s tested again, %v s when %s", r.Seed, r.Seconds, got.Runs[i].Seconds, cmp.Or(got.Runs[i].Continued, "trained"))
		}
	}

	// Again: every seed finished, none trained.
	so, se, code = cnngpu(t, nil, cont...)
	if code != 0 || strings.Contains(so, "epoch 1/3") || strings.Count(so, "(trained earlier, tested again now)") != 3 {
		t.Errorf("--continue with every seed finished: exit %d\n%s\n%s", code, so, se)
	}
	// Made read-only to keep them: tested again all the same (they were
	// refused as outputs this run would replace).
	for seed := 1; seed <= 3; seed++ {
		os.Chmod(seedPath(out, uint64(seed)), 0o444)
	}
	so, se, code = cnngpu(t, nil, cont...)
	if code != 0 || strings.Count(so, "(trained earlier, tested again now)") != 3 {
		t.Errorf("--continue with every seed finished and read-only: exit %d\n%s\n%s", code, so, se)
	}
	for seed := 1; seed <= 3; seed++ {
		os.Chmod(seedPath(out, uint64(seed)), 0o644)
	}

	// A finished seed's checkpoint replaced while the seeds before it
	// train (by a copy: the locks keep only trainings out) is not taken.
	cmd, stderr := startTrain(t, dir, "--epochs", "3", "--seeds", "4,1", "--out", out, "--continue")
	waitFor(t, "seed 4's first epoch", cmd, func() bool { return exists(seedPath(out, 4)) })
	other, err := os.ReadFile(seedPath(filepath.Join(dir, "u.safetensors"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seedPath(out, 1), other, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "--continue: "+seedPath(out, 1)+" changed while the seeds before it trained") {
		t.Errorf("a checkpoint replaced during the run: exit %d, want 1 saying so:\n%s", code, stderr)
	}

	// Refused before anything is written: a checkpoint damaged (a byte
	// of its weights changed), one of other settings, flags that cannot
	// continue anything.
	b, err := os.ReadFile(filepath.Join(dir, "m-seed1.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-100] ^= 1
	damaged := filepath.Join(dir, "d-seed1.safetensors")
	if err := os.WriteFile(damaged, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// A folder where a seed's checkpoint goes: refused as an output,
	// before it is read as a checkpoint.
	if err := os.Mkdir(filepath.Join(dir, "f-seed1.safetensors"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{append(common, "--seeds", "1-3", "--out", filepath.Join(dir, "f.safetensors"), "--continue"), 2, "--out " + filepath.Join(dir, "f-seed1.safetensors") + ": is a directory"},
		{append(common, "--seed", "1", "--out", out, "--continue"), 2, "--continue continues a --seeds run; a single run continues with --resume CHECKPOINT"},
		{append(common, "--seeds", "1-3", "--continue"), 2, "--continue finds the seeds' checkpoints through --out"},
		{withFlags(common, "--epochs", "4", "--seeds", "1-3", "--out", out, "--continue"), 2,
			"--continue: " + filepath.Join(dir, "m-seed1.safetensors") + " holds a run of other settings than this command's seed 1 (--epochs 3 there, 4 here)"},
		{append(common, "--seeds", "1-3", "--lr", "0.01", "--out", out, "--continue"), 2, "(--lr 0.003 there, 0.01 here)"},
		{append(common, "--seeds", "1-3", "--out", filepath.Join(dir, "d.safetensors"), "--continue"), 1, "--continue: seed 1: " + damaged + ": "},
		{append(common, "--seeds", "1-3", "--out", filepath.Join(dir, "d.safetensors"), "--continue"), 1, "move it away to train seed 1 anew, or leave out --continue to train every seed anew"},
	} {
		_, se, code := cnngpu(t, nil, c.args...)
		if code != c.code || !strings.Contains(se, c.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", c.args[len(common)-2:], code, c.code, c.want, se)
		}
	}
	if now, _ := os.ReadFile(damaged); !bytes.Equal(now, b) || exists(filepath.Join(dir, "d-seed2.safetensors")) {
		t.Errorf("a refused --continue changed %s, or trained another seed", damaged)
	}
}

// TestSeedsContinueOtherSteps: a stopped seed's checkpoint from before the
// data's fingerprint, of a constant rate (whose schedule does not tell
// the steps of an epoch), whose position lies past this training set's
// epoch, is refused before any seed trains, not after the seeds before it.
func TestSeedsContinueOtherSteps(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out := filepath.Join(dir, "m.safetensors")
	common := []string{"train", "--cpu", "--threads", "1", "--batch-size", "16", "--epochs", "2", "--schedule", "constant"}
	if _, se, code := cnngpu(t, nil, append(common, "--data", dir, "--seed", "2", "--out", seedPath(out, 2))...); code != 0 {
		t.Fatalf("seed 2: exit %d\n%s", code, se)
	}
	ck, err := engine.LoadCheckpoint(seedPath(out, 2))
	if err != nil {
		t.Fatal(err)
	}
	ck.Config.Data, ck.Config.DataDir = "", "" // as written before fingerprints
	ck.Position = engine.Position{Epoch: 1, Step: 30}
	ck.History = ck.History[:1]
	if err := ck.Save(seedPath(out, 2)); err != nil {
		t.Fatal(err)
	}
	small := t.TempDir()
	fakeMNIST(t, small, 200, 50) // 13 steps an epoch
	args := append(slices.Clone(common), "--data", small, "--seeds", "1,2", "--out", out, "--continue")
	_, se, code := cnngpu(t, nil, args...)
	if code != 2 || !strings.Contains(se, "stopped at epoch 2, step 30, past the 13 steps of an epoch of this training set") || exists(seedPath(out, 1)) {
		t.Errorf("a stopped seed past this data's epoch: exit %d (seed 1 trained: %v), want 2 before any training:\n%s", code, exists(seedPath(out, 1)), se)
	}
}

// TestSeedPath: each seed's checkpoint name, "{seed}" replaced or -seedN
// put before the extension; a name whose only dot starts it (.hidden) has
// no extension (it became "-seed1.hidden", a name read as an option).
func TestSeedPath(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"m.safetensors", "m-seed7.safetensors"},
		{"runs/m", "runs/m-seed7"},
		{"runs/m-{seed}.st", "runs/m-7.st"},
		{".hidden", ".hidden-seed7"},
		{"d.x/.hidden", "d.x/.hidden-seed7"},
		{".m.safetensors", ".m-seed7.safetensors"},
	} {
		if got := seedPath(c.out, 7); got != c.want {
			t.Errorf("seedPath(%q, 7) = %q, want %q", c.out, got, c.want)
		}
	}
}

// TestSeedRanges: the seeds not started, as --seeds takes them.
func TestSeedRanges(t *testing.T) {
	for _, c := range []struct {
		seeds []uint64
		want  string
	}{
		{[]uint64{5}, "5"},
		{[]uint64{5, 6}, "5, 6"},
		{[]uint64{5, 6, 7, 9, 12, 13, 14, 15}, "5-7, 9, 12-15"},
		{[]uint64{3, 1, 2}, "3, 1, 2"},
		{[]uint64{math.MaxUint64 - 1, math.MaxUint64, 0, 1, 2}, "18446744073709551614, 18446744073709551615, 0-2"},
	} {
		if got := seedRanges(c.seeds); got != c.want {
			t.Errorf("seedRanges(%v) = %q, want %q", c.seeds, got, c.want)
		}
	}
}

func TestStoppedWhere(t *testing.T) {
	for _, c := range []struct {
		pos  engine.Position
		want string
	}{
		{engine.Position{Epoch: 1, Step: 17}, "at epoch 2, step 17"},
		{engine.Position{Epoch: 2}, "after epoch 2"},
		{engine.Position{}, "before its first step"},
	} {
		if got := stoppedWhere(c.pos); got != c.want {
			t.Errorf("stoppedWhere(%+v) = %q, want %q", c.pos, got, c.want)
		}
	}
}

// TestResumeRefusesOtherStepCount: a checkpoint whose optimizer step
// count is not the one its position means (edited, its checksums written
// again) is refused by --resume, naming both; it resumed, Adam's bias
// correction counting from the edited number. Exit 2, as --continue's
// refusal of a position past an epoch: most likely a --data other than
// the run's, a --resume that contradicts the run.
func TestResumeRefusesOtherStepCount(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	part := filepath.Join(dir, "p.safetensors")
	args := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--batch-size", "16", "--schedule", "constant"}
	if _, stderr, code := cnngpu(t, nil, append(args, "--epochs", "1", "--out", part)...); code != 0 {
		t.Fatalf("training: exit %d\n%s", code, stderr)
	}
	ck, err := engine.LoadCheckpoint(part)
	if err != nil || ck.Step != 19 { // 300 images, 16 a batch
		t.Fatalf("the checkpoint's step count: %v, %v", err, ck.Step)
	}
	ck.Step = 7
	if err := ck.Save(part); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cnngpu(t, nil, append(args, "--epochs", "2", "--resume", part)...)
	if code != 2 || !strings.Contains(stderr, "its optimizer has taken 7 steps, but its position (epoch 2, step 0, of 19 steps an epoch) means 19") {
		t.Errorf("resume with step count 7 after 19 steps: exit %d\n%s", code, stderr)
	}
}

// TestKeptCheckpointMarksWhatContinues: a failure after every epoch was
// saved (the test's) is marked so that a --seeds run prints its
// --continue command, which tests that seed again and trains the rest (it
// printed none); one in the middle of the epochs is resumable; one before
// any checkpoint, neither.
func TestKeptCheckpointMarksWhatContinues(t *testing.T) {
	fail := errors.New("testing the trained model: the GPU failed")
	for _, c := range []struct {
		saved              *engine.Position
		trained, resumable bool
	}{
		{&engine.Position{Epoch: 2}, true, false},
		{&engine.Position{Epoch: 1}, false, true},
		{nil, false, false},
	} {
		err := keptCheckpoint(fail, "m.safetensors", c.saved, 2, "", "")
		if errors.As(err, new(trainedKept)) != c.trained || errors.As(err, new(resumable)) != c.resumable || !errors.Is(err, fail) {
			t.Errorf("saved %+v of 2 epochs: %v; want trained %v, resumable %v", c.saved, err, c.trained, c.resumable)
		}
	}
}
