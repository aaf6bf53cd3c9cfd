// Tests of what a run keeps and says around --resume: a --seeds run
// interrupted mid-seed, a metrics file that cannot be written, and the
// settings a resumed run must not change.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
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

// TestSeedsInterrupted: the resume hint of a seed interrupted in a --seeds
// run leaves out --metrics (the file of the finished seeds' results, which
// the resumed run would replace), names the seeds not started, and a
// resume given that file anyway says what it replaces.
func TestSeedsInterrupted(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out, metrics := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "m.jsonl")
	cmd, se := startTrain(t, dir, "--epochs", "3", "--seeds", "1-3", "--out", out, "--metrics", metrics)
	seed2 := filepath.Join(dir, "m-seed2.safetensors")
	waitFor(t, "seed 2's first epoch", cmd, func() bool { return exists(seed2) })
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	msg := se.String()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("interrupted --seeds run: exit %d\n%s", code, msg)
	}
	if !strings.Contains(msg, "resume with: "+binary_+" train --resume "+seed2+" --data "+dir+" --threads 1 --cpu\n") {
		t.Errorf("the resume hint of a --seeds run should leave out --metrics:\n%s", msg)
	}
	for _, want := range []string{
		"not started: seed 3 (train it with --seeds 3, another --metrics (this one would be rewritten) and this run's other flags)",
		metrics + " keeps the finished seeds' results; a resume of seed 2 leaves it as it is",
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
		{[]string{"--resume", adam, "--epochs", "1"}, "--resume " + adam + ": that run has trained 2 epochs; --epochs 1 is not more than that"},
		{[]string{"--resume", adam}, "--resume " + adam + ": that run already finished its 2 epochs; give --epochs N with N larger than 2"},
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
	want := "--resume " + cosine + ": that run already finished its 2 epochs, and its cosine schedule has brought the rate to its end"
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
