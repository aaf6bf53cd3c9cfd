// space_linux_test.go: the free-space checks on a small file system of
// their own (a tmpfs, where the test may mount one).

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
