// space_linux_test.go: the free-space checks on a small file system of
// their own (a tmpfs, where the test may mount one).

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

// smallFS mounts a tmpfs of size (mount's size option) on a new folder,
// unmounted when the test ends; it skips the test where mounting is not
// allowed (not root, or a container without the capability).
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir
}

// TestTuneRefusesNoRoomForItsFinal: a study whose final retraining's
// checkpoints (76 MB with Adam: its checkpoint and the next beside it, or
// an interrupted run's, then its model) do not fit where
// --out is, is refused before it trains or makes its folder, its dry run
// too (the study trained every configuration and failed at the
// retraining's first write); without the final retraining, it trains.
func TestTuneRefusesNoRoomForItsFinal(t *testing.T) {
	data := t.TempDir()
	fakeMNIST(t, data, 300, 50)
	small := smallFS(t, "30m")
	out := filepath.Join(small, "study")
	args := []string{"tune", "--cpu", "--threads", "1", "--data", data, "--epochs", "1", "--lr", "0.01", "--batch-size", "32", "--activation", "relu", "--out", out}
	want := "--out " + out + " (its final retraining): the file system of " + small + " has "
	for _, extra := range [][]string{{"--dry-run"}, nil} {
		stdout, stderr, code := cnngpu(t, nil, append(args, extra...)...)
		if code != 2 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "the run needs 76.0 MB there") {
			t.Errorf("tune %v on 30 MB: exit %d, want 2 saying %q and 76.0 MB\n%s%s", extra, code, want, stdout, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("tune %v refused for its space made %s", extra, out)
		}
	}
	if _, stderr, code := cnngpu(t, nil, append(args, "--final=false")...); code != 0 {
		t.Errorf("tune --final=false on 30 MB: exit %d\n%s", code, stderr)
	}
}

// TestSeedsFitWithTheirLastCheckpoints: two seeds of two epochs each
// (Adam, cosine: a checkpoint of 38 MB, the last of 12.7) need 88.7 MB at
// most, the first seed's last checkpoint and two of the second's at once
// (its first and one an interruption would save beside it): on 100 MiB
// they train (refused before, as needing 114 MB), and three need more
// (101.3 MB) than the two leave, which is said before any training.
func TestSeedsFitWithTheirLastCheckpoints(t *testing.T) {
	data := t.TempDir()
	fakeMNIST(t, data, 300, 50)
	small := smallFS(t, "100m")
	args := []string{"train", "--cpu", "--threads", "1", "--data", data, "--epochs", "2", "--quiet", "--out", filepath.Join(small, "m.safetensors")}
	if _, stderr, code := cnngpu(t, nil, append(args, "--seeds", "1-2")...); code != 0 {
		t.Fatalf("two seeds on 100 MiB: exit %d\n%s", code, stderr)
	}
	for _, f := range []string{"m-seed1.safetensors", "m-seed2.safetensors"} {
		if _, err := engine.LoadWeights(filepath.Join(small, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	args[len(args)-1] = filepath.Join(small, "n.safetensors")
	stdout, stderr, code := cnngpu(t, nil, append(args, "--seeds", "1-3")...)
	if code != 2 || !strings.Contains(stderr, "and the run needs 101.3 MB there (a checkpoint takes 38.0 MB, a finished run's last 12.7 MB,") || strings.Contains(stdout, "seed 1:") {
		t.Errorf("three seeds on what two left: exit %d, want 2 before any training\n%s%s", code, stdout, stderr)
	}
}

// TestFileLimitRefusedBeforeTraining: a run whose checkpoint (38 MB with
// Adam) is larger than the process may write a file (ulimit -f) is
// refused before it trains, naming the limit and how to raise it, by
// train and by tune's final retraining (each trained, then failed at its
// first write, a one-epoch run without its test accuracy); under a limit
// the checkpoint fits, it trains.
func TestFileLimitRefusedBeforeTraining(t *testing.T) {
	data := t.TempDir()
	fakeMNIST(t, data, 300, 50)
	dir := t.TempDir()
	limited := func(blocks string, args ...string) (string, string, int) {
		// ulimit -f counts blocks of 512 bytes in dash and in bash as
		// sh (POSIX mode), 1024 in bash otherwise: the sizes below
		// hold for both.
		cmd := exec.Command("sh", append([]string{"-c", "ulimit -f " + blocks + ` && exec "$0" "$@"`, binary_}, args...)...)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return so.String(), se.String(), cmd.ProcessState.ExitCode()
	}
	out := filepath.Join(dir, "m.safetensors")
	train := []string{"train", "--cpu", "--threads", "1", "--data", data, "--epochs", "1", "--quiet", "--out", out}
	stdout, stderr, code := limited("20000", train...)
	want := regexp.MustCompile(`--out ` + regexp.QuoteMeta(out) + `: a checkpoint of this run takes 38\.0 MB, and this process may write files of (10\.2|20\.5) MB at most \(the limit ulimit -f sets\): raise it`)
	if code != 2 || !want.MatchString(stderr) || strings.Contains(stdout, "epoch 1") {
		t.Errorf("train under ulimit -f 20000: exit %d, want 2 before training saying %q\n%s%s", code, want, stdout, stderr)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Errorf("the refused run made %s", out)
	}
	study := filepath.Join(dir, "study")
	stdout, stderr, code = limited("20000", "tune", "--cpu", "--threads", "1", "--data", data, "--epochs", "1", "--lr", "0.01", "--batch-size", "32", "--activation", "relu", "--out", study)
	if code != 2 || !strings.Contains(stderr, "--out "+study+" (its final retraining): a checkpoint of this run takes 38.0 MB") {
		t.Errorf("tune under ulimit -f 20000: exit %d, want 2 before training\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Lstat(study); err == nil {
		t.Errorf("the refused study made %s", study)
	}
	if stdout, stderr, code := limited("100000", train...); code != 0 || !strings.Contains(stdout, "test accuracy") {
		t.Errorf("train under ulimit -f 100000 (51.2 MB or more): exit %d\n%s%s", code, stdout, stderr)
	}
	// Seeds all finished: --continue only tests them, and writes nothing
	// the limit could stop (it was refused).
	seeds := withFlags(train, "--seeds", "1-2", "--out", filepath.Join(dir, "s{seed}.safetensors"))
	if stdout, stderr, code := limited("100000", seeds...); code != 0 {
		t.Fatalf("two seeds: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, stderr, code := limited("20000", append(seeds, "--continue")...); code != 0 || !strings.Contains(stdout, "seed 2: test accuracy") {
		t.Errorf("--continue of finished seeds under ulimit -f 20000: exit %d, want them tested\n%s%s", code, stdout, stderr)
	}
}

// TestCheckpointBytesCountsTheDataFolder: a long --data folder's name,
// escaped twice in the header, is in the estimate (it took a checkpoint
// past the limit ulimit -f had been checked against).
func TestCheckpointBytesCountsTheDataFolder(t *testing.T) {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	opt := engine.OptConfig{Kind: engine.Adam}
	short, _ := checkpointBytes(arch, opt, engine.ConstantLR, 2, "/d")
	long, _ := checkpointBytes(arch, opt, engine.ConstantLR, 2, "/"+strings.Repeat("<", 750))
	if long-short < 750*7-8 { // less what "/d" took
		t.Errorf("a data folder of 750 '<' adds %d bytes to the estimate; escaped twice (\\u003c) it takes 7 a character", long-short)
	}
}

// TestLastCheckpointLostToAFullDisk: a file system that fills (another
// program's file) while a two-epoch run trains its last epoch, after the
// first epoch's checkpoint landed: the last checkpoint cannot be written.
// The run tests its model anyway and says its result, not saved, then the
// write's failure and the first epoch's checkpoint kept, with the resume
// command; exit 1, and --out holds epoch 1's checkpoint.
func TestLastCheckpointLostToAFullDisk(t *testing.T) {
	data := t.TempDir()
	fakeMNIST(t, data, 2000, 50) // an epoch of about a second on one thread: time to fill the disk
	small := smallFS(t, "100m")
	out := filepath.Join(small, "m.safetensors")
	cmd := exec.Command(binary_, "train", "--cpu", "--threads", "1", "--data", data, "--epochs", "2", "--out", out)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first epoch's checkpoint is at out once its write is done.
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(out); err == nil {
			break
		}
		if time.Since(start) > 2*time.Minute {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 2 minutes:\n%s%s", &so, &se)
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(small, &st); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(small, "filler"), make([]byte, st.Bavail*uint64(st.Bsize)), 0o644)
	err := cmd.Wait()
	if strings.Contains(so.String(), "checkpoint: ") {
		t.Skipf("the last epoch ended before the disk was full (a slow test machine):\n%s%s", &so, &se)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want 1", err)
	}
	for _, w := range []string{
		"note: the trained model (seed 1), not saved, had test accuracy ",
		"cnngpu: --out: writing " + out + ": no space left on device; free some space there and run again\n" +
			"the checkpoint there is intact (it resumes at epoch 2, step 0): once that is fixed, resume with: " + binary_ + " train --resume " + out + " --data " + data + " --threads 1 --cpu\n",
	} {
		if !strings.Contains(se.String(), w) {
			t.Errorf("no %q in\n%s%s", w, &so, &se)
		}
	}
	if ck, err := engine.LoadHeader(out); err != nil || ck.Position != (engine.Position{Epoch: 1}) {
		t.Errorf("%s: %v (%v), want the first epoch's checkpoint", out, ck, err)
	}
}

// TestTrainUnderAddressLimit: under an address-space limit (ulimit -v)
// near what a training needs, train trains or refuses with an error that
// names the limit, never the Go runtime's crash dump ("fatal error: out
// of memory", exit 2), which it gave under ulimit -v 2000000 and 2100000
// before each tensor was checked against what the limit leaves now and
// the C heap kept to one arena. On real MNIST: generated images of a
// thousand never came near the crash.
func TestTrainUnderAddressLimit(t *testing.T) {
	data, dir := needRealMNIST(t), t.TempDir()
	for _, kb := range []string{"2000000", "2100000", "2200000"} {
		cmd := exec.Command("sh", "-c", `ulimit -v "$0" && exec "$@"`, kb, binary_, "train", "--cpu", "--epochs", "1", "--train-limit", "1000",
			"--data", data, "--out", filepath.Join(dir, "m.safetensors"))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee) && ee.ExitCode() == 1 && strings.Contains(string(out), "raise the limit (ulimit -v") && !strings.Contains(string(out), "fatal error"):
		default:
			t.Errorf("train under ulimit -v %s: %v; want it trained, or exit 1 naming the limit:\n%.2000s", kb, err, out)
		}
	}
}
