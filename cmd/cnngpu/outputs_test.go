// outputs_test.go: the free-space check of train's checkpoints, the
// default study folder, and the note on a model of a run cut short.

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
)

// TestCheckSpace: checkpoints that do not fit in their file system's free
// space are refused before any training, naming --out, the folder (the
// nearest that exists), the space free and the space needed; those that
// fit are not. A file replaced needs only one checkpoint's room beside
// it, a run that writes its file more than once room for two; a finished
// run's last checkpoint, the weights alone, counts as what it is.
func TestCheckSpace(t *testing.T) {
	dir := t.TempDir()
	free, _, ok := freeSpace(dir)
	if !ok {
		t.Skipf("the free space of %s cannot be read here", dir)
	}
	if free > 1<<60 {
		t.Skipf("%s reports %d bytes free", dir, free)
	}
	// Each case fits or not by a wide margin (a tenth of the free space
	// or more): other processes change it while the test runs.
	size := int64(free) / 10 * 7 // one fits, two do not
	out := filepath.Join(dir, "new", "folder", "m.safetensors")
	if err := checkSpace("--out "+out, []string{out}, 1<<20, 1<<20, 3); err != nil {
		t.Errorf("a 1 MB checkpoint with %d bytes free: %v", free, err)
	}
	if err := checkSpace("--out "+out, []string{out}, size, size, 1); err != nil {
		t.Errorf("one new checkpoint of 70%% of the free space, written once: %v", err)
	}
	err := checkSpace("--out "+out, []string{out}, size, size, 3)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--out "+out+": the file system of "+dir+" has ") ||
		!strings.Contains(err.Error(), "free some space there") {
		t.Errorf("one new checkpoint of 70%% of the free space, written twice: %v, want it refused with exit 2, naming %s", err, dir)
	}
	outs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
	if err := checkSpace("--out "+outs[0], outs, size, size, 1); err == nil {
		t.Error("two new checkpoints of 70% of the free space each: not refused")
	}
	// Runs whose last checkpoint is the weights alone (a quarter of the
	// others here, a quarter of the free space) keep it alone once they
	// finish: four runs fit (counted as whole checkpoints, they would
	// not), twenty do not.
	quarter := int64(free) / 4
	var many []string
	for i := range 20 {
		many = append(many, filepath.Join(dir, fmt.Sprintf("s%d", i)))
	}
	if err := checkSpace("--out "+many[0], many[:4], quarter, quarter/4, 2); err != nil {
		t.Errorf("four runs of two epochs, their checkpoints of a quarter of the free space and their last of a quarter of that: %v", err)
	}
	if err := checkSpace("--out "+many[0], many[:4], quarter, quarter, 2); err == nil {
		t.Error("four runs of two epochs, every checkpoint of a quarter of the free space: not refused")
	}
	if err := checkSpace("--out "+many[0], many, quarter, quarter/4, 2); err == nil || !strings.Contains(err.Error(), ", a finished run's last ") {
		t.Errorf("twenty runs of two epochs, their last of a quarter of a quarter of the free space each: %v, want it refused, naming the last one's size", err)
	}
	// Replacing files of the same size needs one checkpoint's room.
	for _, p := range outs {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Skipf("a sparse file of %d bytes: %v", size, err)
		}
		f.Close()
	}
	if free2, _, _ := freeSpace(dir); free2+uint64(size) < free {
		t.Skip("the sparse files took space")
	}
	if err := checkSpace("--out "+outs[0], outs, size, size, 3); err != nil {
		t.Errorf("two checkpoints replacing files of their size: %v", err)
	}
	// A run resumed in its own file (a whole checkpoint), whose last is
	// smaller: one checkpoint's room beside it (it asked for 7/4 of one).
	if err := checkSpace("--out "+outs[0], outs[:1], size, size/4, 3); err != nil {
		t.Errorf("a run resumed in its file of 70%% of the free space, 3 epochs left: %v", err)
	}
}

// TestCheckSpaceRemovesStaleTemporaries: a checkpoint's temporary file
// left by a writer that was killed is removed before the free space is
// read (it would be counted as used), and a running writer's is kept.
func TestCheckSpaceRemovesStaleTemporaries(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("cannot run a short-lived process: %v", err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	// (Named as an earlier build named them, without the machine's tag:
	// the writer is judged by its PID on this machine all the same.)
	stale := filepath.Join(dir, fmt.Sprintf(".m.safetensors.tmp-%d-1", dead.Process.Pid))
	running := filepath.Join(dir, fmt.Sprintf(".m.safetensors.tmp-%d-2", os.Getpid()))
	for _, p := range []string{stale, running} {
		if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkSpace("--out "+out, []string{out}, 1<<20, 1<<20, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the killed writer's temporary file is still there: %v", err)
	}
	if _, err := os.Stat(running); err != nil {
		t.Errorf("a running writer's temporary file was removed: %v", err)
	}
}

// TestDefaultStudyTakesAFreeFolder: a study without --out does not take
// the default folder of a study started in the same second (which it
// would otherwise continue as its own): the next free name.
func TestDefaultStudyTakesAFreeFolder(t *testing.T) {
	t.Chdir(t.TempDir())
	at := time.Date(2026, 12, 4, 20, 42, 41, 0, time.UTC)
	first := filepath.Join("runs", "tune-20261204-204241")
	if got := defaultStudy(at); got != first {
		t.Fatalf("default study folder %q, want %q", got, first)
	}
	for _, d := range []string{first, first + "-2"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := defaultStudy(at); got != first+"-3" {
		t.Errorf("with %s and -2 made: %q, want %s-3", first, got, first)
	}
}

// TestNoteUnfinished: predict, export and serve say when their model is a
// run cut short (between epochs, or in one), and nothing for a finished one.
func TestNoteUnfinished(t *testing.T) {
	for _, c := range []struct {
		pos    engine.Position
		epochs int
		want   string
	}{
		{engine.Position{Epoch: 10}, 10, ""},
		{engine.Position{Epoch: 1}, 2, "note: m.safetensors holds a run cut short after 1 epoch of 2: its answers are below what the whole run gives (an interrupted run continues with "},
		{engine.Position{Epoch: 1}, 2, " train --resume m.safetensors')\n"},
		{engine.Position{Epoch: 0, Step: 12}, 2, "cut short after 0 epochs and 12 steps of epoch 1 of 2"},
	} {
		var b strings.Builder
		noteUnfinished(&b, "m.safetensors", &engine.Checkpoint{Position: c.pos, Config: engine.TrainConfig{Epochs: c.epochs}})
		if got := b.String(); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("position %+v of %d epochs: %q, want %q", c.pos, c.epochs, got, c.want)
		}
	}
	// A checkpoint a training writes now (its lock held) is not cut
	// short: the note names the training, and no command to continue it
	// (which would be refused, the file locked).
	p := filepath.Join(t.TempDir(), "m.safetensors")
	_, lock := outputLock(p)
	f, _, err := fileutil.TryLock(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer fileutil.Unlock(lock, f)
	var b strings.Builder
	noteUnfinished(&b, p, &engine.Checkpoint{Position: engine.Position{Epoch: 1}, Config: engine.TrainConfig{Epochs: 2}})
	if want := fmt.Sprintf("note: %s holds a run after 1 epoch of 2, which another process (pid %d", p, os.Getpid()); !strings.HasPrefix(b.String(), want) ||
		!strings.HasSuffix(b.String(), ") is training now: its answers are below what the whole run will give\n") {
		t.Errorf("a checkpoint being trained: %q, want %q", b.String(), want)
	}
}

// TestRespacedCheckpointIsOurs: a checkpoint whose header was saved again
// with other spacing (Python's json.dumps puts a space after each colon)
// is still taken for a cnngpu checkpoint where train checks an existing
// --out (it was refused as "not a cnngpu checkpoint"), and a file that is
// not one is still refused.
func TestRespacedCheckpointIsOurs(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 64, 32)
	p := filepath.Join(dir, "m.safetensors")
	writeModel(t, p, nil)
	b, _ := os.ReadFile(p)
	hl := binary.LittleEndian.Uint64(b)
	var spaced bytes.Buffer
	if err := json.Indent(&spaced, b[8:8+hl], "", " "); err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(spaced.Len()))
	out = append(append(out, spaced.Bytes()...), b[8+hl:]...)
	os.WriteFile(p, out, 0o644)
	other := filepath.Join(dir, "notes.safetensors")
	os.WriteFile(other, []byte("notes\n"), 0o644)
	train := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "1", "--batch-size", "16", "--train-limit", "32", "--quiet"}
	if _, stderr, code := cnngpu(t, nil, append(train, "--out", p)...); code != 0 {
		t.Errorf("--out a checkpoint with a re-spaced header: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := cnngpu(t, nil, append(train, "--out", other)...); code != 2 || !strings.Contains(stderr, "exists and is not a cnngpu checkpoint") {
		t.Errorf("--out a text file: exit %d\n%s", code, stderr)
	}
}

// TestIsMetrics: an existing --metrics file is replaced only where its
// first line is one train writes; other JSON lines are not (a log line
// with an "epoch", a "summary" string, a study's run record were).
func TestIsMetrics(t *testing.T) {
	for _, c := range []struct {
		line string
		want bool
	}{
		{`{"epoch":1,"train_loss":0.3,"train_acc":0.9,"seconds":1.5,"images_per_sec":4000,"images":6000}`, true},
		{`{"epoch":1,"seconds":1.5,"images_per_sec":4000,"images":6000,"diverged":true}`, true}, // its loss not finite: left out
		{`{"seed":2,"epoch":1,"seconds":1.5,"images_per_sec":4000,"images":6000}`, true},
		{`{"result":{"seed":2,"test_acc":0.99,"test_loss":0.03},"seed":2}`, true},
		{`{"summary":{"seeds":3,"mean_test_acc":0.99}}`, true},
		{`{"ts":"x","event":"deploy"}`, false},
		{`{"epoch":null}`, false},
		{`{"epoch":"3","seconds":1,"images_per_sec":1,"images":1}`, false},
		{`{"summary":"deploy done","level":"info"}`, false},
		{`{"epoch":3,"event":"keras-log"}`, false},
		{`{"seed":7,"result":"ok","job":"ci"}`, false},
		{`{"config":{"lr":0.003,"batch_size":64,"act":"relu"},"fold":0}`, false}, // a study's run record
	} {
		if got := isMetrics([]byte(c.line + "\n")); got != c.want {
			t.Errorf("isMetrics(%s) = %v, want %v", c.line, got, c.want)
		}
	}
}

// TestSeedOutputsThatAreOneFile: two seeds' --out names that lead to one
// file (a symbolic link) are refused as such, exit 2; the refusal said
// another process, this one, was training into it, and to wait for it.
func TestSeedOutputsThatAreOneFile(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 200, 50)
	if err := os.Symlink("m-seed2.safetensors", filepath.Join(dir, "m-seed1.safetensors")); err != nil {
		t.Skip(err)
	}
	_, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", dir, "--epochs", "1", "--seeds", "1-2", "--out", filepath.Join(dir, "m.safetensors"))
	if code != 2 || !strings.Contains(stderr, "--out "+filepath.Join(dir, "m-seed1.safetensors")+" and --out "+filepath.Join(dir, "m-seed2.safetensors")+" are one file, "+filepath.Join(dir, "m-seed2.safetensors")+" (through a symbolic link)") || strings.Contains(stderr, "another process") {
		t.Errorf("two seeds' --out leading to one file: exit %d\n%s", code, stderr)
	}
}
