// main_test.go: runs the built binary as a user would: bad flags and files
// give a message naming the problem and a non-zero exit code; a short run
// on generated data trains, checkpoints, evaluates and resumes; and (with
// real MNIST in the cache, always in CI) one epoch passes 97% test accuracy.

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/cnngpu/cnngpu/tune"
)

var binary_ string

// atExit is run after the tests (cgo-only files add to it).
var atExit []func()

func TestMain(m *testing.M) {
	if os.Getenv("CNNGPU_TEST_HANG_AFTER_INTERRUPT") == "1" {
		// TestSecondInterruptEndsAHungStop's child: a command whose clean
		// stop never ends, and says so after stopPatience.
		stopPatience = repeatWindow + 500*time.Millisecond
		ctx, _ := interruptContext(context.Background(), os.Stdout)
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("stopping")
		select {}
	}
	if os.Getenv("CNNGPU_TEST_WATCH_AFTER_STOP") == "1" {
		// TestDriverWaitAfterStopIsSaid's child: a stop asked, then a
		// GPU's start that does not end.
		driverPatience = 300 * time.Millisecond
		stopAskedOnce.Do(func() { close(stopAsked) })
		done := watchDriver(os.Stdout, "starting GPU 0")
		time.Sleep(3 * time.Second) // ten times the patience: a loaded machine is late
		done()
		os.Exit(0)
	}
	if os.Getenv("CNNGPU_TEST_STALL_PATIENCE") != "" {
		// A child of TestStallOnAGPUIsSaid: cnngpu itself, with its
		// arguments after this binary's name, told of a stalled
		// training, or a GPU that does not answer, after this patience.
		d, err := time.ParseDuration(os.Getenv("CNNGPU_TEST_STALL_PATIENCE"))
		if err != nil {
			panic(err)
		}
		stallPatience, driverPatience = d, d
		catchSIGPIPE()
		os.Exit(run(append([]string{"cnngpu"}, os.Args[1:]...)))
	}
	dir, err := os.MkdirTemp("", "cnngpu-cli-")
	if err != nil {
		panic(err)
	}
	binary_ = filepath.Join(dir, "cnngpu")
	out, err := exec.Command("go", "build", "-o", binary_, ".").CombinedOutput()
	if err != nil {
		panic("building cnngpu: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	for _, f := range atExit {
		f()
	}
	os.Exit(code)
}

// cnngpu runs the binary and returns stdout, stderr and the exit code.
func cnngpu(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary_, args...)
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return so.String(), se.String(), code
}

// fakeCalls runs cnngpu with args on the fake driver (env) and returns how
// often it called the function name, as the fake's stats count it: a
// count to place a failure or fault with (FAKECUDA_FAIL, FAKECUDA_FAULT)
// in a run of the same calls. The run must succeed and call it twice or
// more.
func fakeCalls(t *testing.T, env []string, name string, args ...string) int {
	t.Helper()
	stats := filepath.Join(t.TempDir(), "stats")
	if _, stderr, code := cnngpu(t, append(env, "FAKECUDA_STATS="+stats), args...); code != 0 {
		t.Fatalf("cnngpu %v on the fake driver: exit %d\n%s", args, code, stderr)
	}
	b, err := os.ReadFile(stats)
	_, count, _ := strings.Cut(string(b), "count "+name+" ")
	n := 0
	if _, serr := fmt.Sscanf(count, "%d", &n); err != nil || serr != nil || n < 2 {
		t.Fatalf("the fake's count of %s: %v %v %d\n%s", name, err, serr, n, b)
	}
	return n
}

// withFlags is base (a command and its flags) with more added, where a
// flag of more that base has replaces it and its value (cnngpu refuses a
// flag given twice with two values). It does not know the flags: a
// replaced flag's value is the word after it unless that begins with
// "-", so base holds flags alone, with boolean ones written --name=value
// where a positional argument follows them.
func withFlags(base []string, more ...string) []string {
	given := map[string]bool{}
	for _, a := range more {
		if strings.HasPrefix(a, "-") {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			given[name] = true
		}
	}
	var out []string
	for i := 0; i < len(base); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(base[i], "-"), "=")
		if !strings.HasPrefix(base[i], "-") || !given[name] {
			out = append(out, base[i])
			continue
		}
		if !hasValue && i+1 < len(base) && !strings.HasPrefix(base[i+1], "-") {
			i++ // its value
		}
	}
	return append(out, more...)
}

// fakeMNIST writes a small learnable IDX dataset (gzip) into dir.
func fakeMNIST(t *testing.T, dir string, nTrain, nTest int) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	write := func(name string, magic uint32, dims []uint32, body []byte) {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, magic)
		for _, d := range dims {
			binary.Write(&b, binary.BigEndian, d)
		}
		b.Write(body)
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(b.Bytes())
		w.Close()
		if err := os.WriteFile(filepath.Join(dir, name), z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set := func(n int) ([]byte, []byte) {
		img := make([]byte, n*784)
		lab := make([]byte, n)
		for i := range lab {
			l := r.IntN(10)
			lab[i] = byte(l)
			for c := 4; c < 24; c++ {
				img[i*784+(3+l*2)*28+c] = 255
			}
		}
		return img, lab
	}
	img, lab := set(nTrain)
	write("train-images-idx3-ubyte.gz", loader.MagicImages, []uint32{uint32(nTrain), 28, 28}, img)
	write("train-labels-idx1-ubyte.gz", loader.MagicLabels, []uint32{uint32(nTrain)}, lab)
	img, lab = set(nTest)
	write("t10k-images-idx3-ubyte.gz", loader.MagicImages, []uint32{uint32(nTest), 28, 28}, img)
	write("t10k-labels-idx1-ubyte.gz", loader.MagicLabels, []uint32{uint32(nTest)}, lab)
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 64, 32)
	dir100 := t.TempDir()
	fakeMNIST(t, dir100, 100, 10)
	notCk := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCk, []byte("hello"), 0o644)
	cut := filepath.Join(dir, "cut.safetensors") // a checkpoint's first 5 bytes
	os.WriteFile(cut, []byte{0x88, 0x13, 0, 0, 0}, 0o644)
	// What a process stopped while writing killed.safetensors first left.
	left := filepath.Join(dir, ".killed.safetensors.tmp-999999@elsewhere-1")
	os.WriteFile(left, []byte("half"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"train", "--cpu", "--epochs", "0"}, 2, "--epochs 0: expected at least 1"},
		{[]string{"train", "--cpu", "--batch-size", "-3"}, 2, "--batch-size -3"},
		{[]string{"train", "--cpu", "--lr", "-1"}, 2, "--lr -1: expected a positive finite number"},
		{[]string{"train", "--cpu", "--lr", "1e-50"}, 2, "--lr 1e-50: expected a positive finite number (as a 32-bit float"},
		{[]string{"train", "--cpu", "--lr", "1e39"}, 2, "--lr 1e+39: expected a positive finite number"},
		{[]string{"train", "--cpu", "--activation", "gelu"}, 2, `--activation "gelu": expected relu, sigmoid or tanh`},
		{[]string{"train", "--cpu", "--optimizer", "rmsprop"}, 2, `--optimizer "rmsprop": expected adam or sgd`},
		{[]string{"train", "--cpu", "--val-split", "1.5"}, 2, "--val-split 1.5"},
		{[]string{"train", "--cpu", "--arch", "vgg"}, 2, `--arch "vgg": expected reference or original`},
		{[]string{"train", "--cpu", "--epochs", "ten"}, 2, `--epochs "ten": expected a whole number`},
		{[]string{"train", "--cpu", "--batch-size", "99999999999999999999"}, 2, `--batch-size "99999999999999999999": expected a whole number up to 9223372036854775807`},
		{[]string{"train", "--cpu", "--batch-size", "064"}, 2, `--batch-size "064": write it without the leading zero (64)`},
		{[]string{"train", "--cpu", "--data", dir100, "--batch-size", "1", "--epochs", "200000"}, 2, "--epochs 200000 of 100 steps (100 images, --batch-size 1) are more than the 16777216 optimizer steps"},
		{[]string{"train", "--cpu", "--data", dir, "--batch-size", "1", "--epochs", "1000000000", "--out", filepath.Join(dir, "big.safetensors")}, 2, "--epochs 1000000000: expected at most 204800 (a checkpoint records every epoch's metrics"},
		{[]string{"train", "--cpu", "--train-limit=0x100"}, 2, `--train-limit "0x100": expected a whole number in decimal digits`},
		{[]string{"tune", "--cpu", "--seed", "1_000"}, 2, `--seed "1_000": expected a whole number in decimal digits`},
		// An empty argument (a script's unset "$F"): not a file named "".
		{[]string{"predict", "--model", filepath.Join(dir, "m.safetensors"), "a.png", ""}, 2, "predict: argument 2 is empty: expected image files"},
		{[]string{"plot", ""}, 2, "plot: argument 1 is empty: expected the --out folder of a 'cnngpu tune'"},
		{[]string{"tune", "merge", "--out", filepath.Join(dir, "merged"), ""}, 2, "tune merge: argument 1 is empty: expected the studies' folders to merge"},
		{[]string{"train", "--cpu", "--no-such-flag"}, 2, "unknown flag --no-such-flag"},
		{[]string{"train", "--cpu", "--data", filepath.Join(dir, "missing")}, 2, "does not exist"},
		{[]string{"train", "--cpu", "--data", t.TempDir()}, 1, "lacks train-images-idx3-ubyte.gz"},
		{[]string{"train", "--cpu", "--resume", notCk, "--data", dir}, 1, notCk},
		{[]string{"train", "--cpu", "--resume", filepath.Join(dir, "nope.safetensors"), "--data", dir}, 1, "no such file or directory\nhint: give a checkpoint that train wrote (train names it when it ends or is interrupted"},
		{[]string{"train", "--cpu", "--resume", filepath.Join(dir, "killed.safetensors"), "--data", dir}, 1, "no such file or directory\nits first write was cut short: " + left + " is what a process stopped while writing it left; there is no checkpoint: run the training again, from its start"},
		{[]string{"eval", "--cpu", "--model", filepath.Join(dir, "killed.safetensors"), "--data", dir}, 1, "--model: checkpoint: open " + filepath.Join(dir, "killed.safetensors") + ": no such file or directory\nits first write was cut short: " + left},
		{[]string{"eval", "--cpu", "--data", dir}, 2, "eval needs --model FILE"},
		{[]string{"eval", "--cpu", "--model", notCk, "--data", dir}, 1, "notes.txt: is a text file, not a cnngpu checkpoint"},
		{[]string{"eval", "--cpu", "--model", cut, "--data", dir}, 1, "truncated: 5 bytes, a safetensors file starts with an 8-byte header length"},
		{[]string{"eval", "--cpu", "--model", filepath.Join(dir, "nope.safetensors"), "--data", dir}, 1, "no such file"},
		{[]string{"eval", "--cpu", "--model", "/dev/zero", "--data", dir}, 1, "/dev/zero: is a device, not a regular file"},
		{[]string{"eval", "--cpu", "--model", dir, "--data", dir}, 2, "--model " + dir + ": is a folder; give the checkpoint file"},
		{[]string{"train", "--cpu", "--resume", "", "--data", dir}, 2, "--resume was given an empty path"},
		{[]string{"predict", "--cpu", "--model", notCk, "--labels", notCk, notCk}, 2, "--labels gives the labels of an --idx image file: it needs --idx"},
		{[]string{"predict", "--cpu", "--model", notCk, "-", "-"}, 2, "'-' (standard input) can be given once"},
		{[]string{"predict", "--cpu", "--model", notCk, "--idx", "", notCk}, 2, "--idx '': expected an IDX image file"},
		{[]string{"predict", "--cpu", "--model", notCk, "--idx", notCk, "--labels", ""}, 2, "--labels '': expected the IDX label file"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"; the commands are train, eval`},
		{[]string{"help", "frobnicate"}, 2, `unknown command "frobnicate"; the commands are train, eval`},
		{[]string{"help", "data", "frob"}, 2, `unknown command "data frob"; 'data' has the commands fetch, verify`},
		{[]string{"data"}, 2, `data needs a command: fetch or verify (see '`},
		{[]string{"help", "train", "nope"}, 2, `help train: "nope" is not a command of it`},
		{[]string{"train", "--cpu", "--device", "1"}, 2, "--cpu and --device exclude each other"},
		{[]string{"train", "--cpu", "--precision", "fp16"}, 2, `--precision "fp16": expected fp32 or tf32`},
		{[]string{"bench", "--cpu", "--batch-size", "90000"}, 2, "--batch-size 90000: a batch of 90000 images is more than the reference architecture can run"},
	}
	for _, c := range cases {
		_, stderr, code := cnngpu(t, nil, c.args...)
		if code != c.code {
			t.Errorf("cnngpu %s: exit code %d, want %d", strings.Join(c.args, " "), code, c.code)
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("cnngpu %s: stderr does not mention %q:\n%s", strings.Join(c.args, " "), c.want, stderr)
		}
	}
	// A truncated image file is reported with its name and what is wrong.
	b, _ := os.ReadFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), b[:len(b)/2], 0o644)
	_, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "train-images-idx3-ubyte.gz: bad gzip data") {
		t.Errorf("truncated gzip: exit %d, stderr %s", code, stderr)
	}
}

func TestTrainEvalResume(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 100)
	ck := filepath.Join(dir, "m.safetensors")
	metrics := filepath.Join(dir, "m.jsonl")
	// The reference recipe: its constant rate lets --resume extend a run.
	stdout, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", dir, "--recipe", "reference", "--epochs", "2", "--batch-size", "32",
		"--val-split", "0.2", "--out", ck, "--metrics", metrics)
	if code != 0 {
		t.Fatalf("train failed (%d): %s", code, stderr)
	}
	for _, want := range []string{"epoch 1/2", "epoch 2/2", "val acc", "test accuracy", "s, validation included)", ck} {
		if !strings.Contains(stdout, want) {
			t.Errorf("train output lacks %q:\n%s", want, stdout)
		}
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, metrics)), "\n")
	if len(lines) != 2 {
		t.Fatalf("metrics has %d lines, want 2", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images_per_sec", "val_seconds"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("metrics record lacks %s: %v", k, rec)
		}
	}
	stdout, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", ck, "--json")
	if code != 0 {
		t.Fatalf("eval failed: %s", stderr)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("eval --json output: %v\n%s", err, stdout)
	}
	total := 0
	for _, row := range rep.Confusion {
		for _, n := range row {
			total += n
		}
	}
	if rep.Images != 100 || total != 100 || rep.Accuracy < 0.5 || rep.Arch != "reference" || rep.Activation != "relu" ||
		rep.EpochsTrained != 2 || rep.StepsInEpoch != 0 || rep.Epochs != 2 || rep.CutShort {
		t.Errorf("eval report: %+v", rep)
	}
	stdout, _, _ = cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", ck)
	if !strings.Contains(stdout, "confusion matrix") || !strings.Contains(stdout, "per-class accuracy") || strings.Contains(stdout, " now") {
		t.Errorf("eval table output:\n%s", stdout)
	}
	// A training into the finished run's file (train --resume --epochs 3,
	// or a new run with that --out, holds its lock): training_now, and
	// said.
	func() {
		_, lock := outputLock(ck)
		f, _, err := fileutil.TryLock(lock)
		if err != nil {
			t.Fatal(err)
		}
		defer fileutil.Unlock(lock, f)
		stdout, _, _ := cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", ck, "--json")
		var rep evalReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil || !rep.TrainingNow || rep.CutShort {
			t.Errorf("eval --json of a finished run trained further: %v, %+v", err, rep)
		}
		if stdout, _, _ := cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", ck); !strings.Contains(stdout, "trained 2 epochs; another process (pid ") ||
			!strings.Contains(stdout, ") is training into it now (from it, or a new run that replaces it))") {
			t.Errorf("eval of a finished run trained further:\n%s", stdout)
		}
	}()
	// eval reads the test set alone: a folder with only its two files
	// will do.
	testOnly := t.TempDir()
	for _, f := range []string{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(testOnly, f), b, 0o644)
	}
	if out, stderr, code := cnngpu(t, nil, "eval", "--cpu", "--data", testOnly, "--model", ck, "--json"); code != 0 || !strings.Contains(out, `"images": 100`) {
		t.Errorf("eval with the test files alone: %d\n%s\n%s", code, out, stderr)
	}
	// A finished run refuses to resume without more epochs, and a
	// contradicting flag is refused.
	_, stderr, code = cnngpu(t, nil, "train", "--cpu", "--data", dir, "--resume", ck)
	if code != 2 || !strings.Contains(stderr, "already finished its 2 epochs: its test result comes from '"+binary_+" eval --model "+ck+" --data "+dir+"'; give --epochs N with N larger than 2") {
		t.Errorf("resume of a finished run: %d %s", code, stderr)
	}
	_, stderr, code = cnngpu(t, nil, "train", "--cpu", "--data", dir, "--resume", ck, "--epochs", "3", "--activation", "tanh")
	if code != 2 || !strings.Contains(stderr, "trained with --activation relu") {
		t.Errorf("resume with another activation: %d %s", code, stderr)
	}
	// Other data (another training set in --data) is refused: the
	// checkpoint keeps its training set's fingerprint.
	other := t.TempDir()
	fakeMNIST(t, other, 301, 100)
	_, stderr, code = cnngpu(t, nil, "train", "--cpu", "--data", other, "--resume", ck, "--epochs", "3")
	if code != 2 || !strings.Contains(stderr, "that run trained on other data (300 images of 28x28") || !strings.Contains(stderr, "resume with --data "+dir) {
		t.Errorf("resume on other data: %d %s", code, stderr)
	}
	// A checkpoint from before the data was recorded resumes on the
	// data given, and says it cannot tell.
	unrecorded := filepath.Join(t.TempDir(), "before.safetensors")
	writeModel(t, unrecorded, func(k *engine.Checkpoint) {
		old, err := engine.LoadCheckpoint(ck)
		if err != nil {
			t.Fatal(err)
		}
		*k = *old
		k.Config.Data, k.Config.DataDir = "", ""
	})
	_, stderr, code = cnngpu(t, nil, "train", "--cpu", "--data", other, "--resume", unrecorded, "--epochs", "3", "--quiet")
	if code != 0 || !strings.Contains(stderr, "note: "+unrecorded+" does not record the data it trained on (written by an earlier cnngpu, or a study's final model): it resumes on "+other+" (301 images of 28x28") {
		t.Errorf("resume of a checkpoint that records no data: %d %s", code, stderr)
	}
	stdout, stderr, code = cnngpu(t, nil, "train", "--cpu", "--data", dir, "--resume", ck, "--epochs", "3", "--metrics", metrics)
	if code != 0 || !strings.Contains(stdout, "epoch 3/3") || !strings.Contains(stdout, "resuming from epoch 3") {
		t.Errorf("resume to 3 epochs: %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(strings.Split(strings.TrimSpace(readFile(t, metrics)), "\n")); n != 3 {
		t.Errorf("metrics after resume has %d lines, want 3", n)
	}
	// A corrupted checkpoint is refused on load.
	b, _ := os.ReadFile(ck)
	b[len(b)-10] ^= 1
	os.WriteFile(ck, b, 0o644)
	_, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", ck)
	if code != 1 || !strings.Contains(stderr, "checksum mismatch") {
		t.Errorf("corrupted checkpoint: %d %s", code, stderr)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// needRealMNIST returns the cache's folder when it holds real MNIST's .gz
// files; without them the test fails in CI (CI set: .ci/run fetches them)
// and is skipped elsewhere.
func needRealMNIST(t *testing.T) string {
	t.Helper()
	dir, err := loader.CacheDir()
	if err != nil {
		t.Skipf("no cache folder here (%v)", err)
	}
	for _, st := range loader.Verify(dir) {
		if !st.OK {
			if os.Getenv("CI") != "" {
				t.Fatalf("real MNIST is not in the cache (%v); .ci/run must run 'make data' first", st.Err)
			}
			t.Skipf("real MNIST is not in the cache (%v); run 'make data' to enable this test", st.Err)
		}
	}
	return dir
}

// TestRealMNIST trains one epoch on real MNIST and requires 97% test
// accuracy, then uses that model: predicting test images written as PNG
// files agrees with eval, the drawing page works in headless Chromium, and
// the server survives a load test. It needs the files in the cache ('make
// data'); in CI (CI set) their absence is a failure, elsewhere a skip.
func TestRealMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: trains one full epoch")
	}
	dir := needRealMNIST(t)
	model := filepath.Join(t.TempDir(), "m.safetensors")
	stdout, stderr, code := cnngpu(t, nil, "train", "--cpu", "--epochs", "1", "--out", model)
	if code != 0 {
		t.Fatalf("train failed: %s", stderr)
	}
	t.Log(stdout)
	acc := -1.0
	var err error
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "test accuracy ") {
			if acc, err = parsePercent(strings.Fields(line)[2]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if acc < 0.97 {
		t.Fatalf("test accuracy after one epoch %.4f, want at least 0.97", acc)
	}
	data, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("predict PNG files agrees with eval", func(t *testing.T) { testPredictAgrees(t, model, data) })
	t.Run("serve", func(t *testing.T) { testServe(t, model) })
	// The README's example image, a 3 drawn for it, read as a 3 by a
	// model of one epoch.
	t.Run("the README's digit", func(t *testing.T) {
		img, err := filepath.Abs(filepath.Join("..", "..", "docs", "digit.png"))
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := cnngpu(t, nil, "predict", "--model", model, img)
		if code != 0 || !strings.HasPrefix(stdout, img+": 3 (") {
			t.Errorf("predict docs/digit.png: exit %d, want it read as a 3\n%s%s", code, stdout, stderr)
		}
	})
}

// testPredictAgrees writes 300 test images as PNG files (dark ink on white,
// as a person would draw) and checks that predict, with its preprocessing,
// gives the same digits as the model on the raw test images.
func testPredictAgrees(t *testing.T, model string, data *loader.MNIST) {
	const n = 300
	dir := t.TempDir()
	var files []string
	var idx bytes.Buffer
	binary.Write(&idx, binary.BigEndian, []uint32{loader.MagicImages, n, 28, 28})
	for i := 0; i < n; i++ {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for p := 0; p < 784; p++ {
			img.Pix[p] = 255 - data.Test.Images.Pixels[i*784+p]
		}
		idx.Write(data.Test.Images.Pixels[i*784 : (i+1)*784])
		f := filepath.Join(dir, fmt.Sprintf("%03d.png", i))
		var b bytes.Buffer
		png.Encode(&b, img)
		os.WriteFile(f, b.Bytes(), 0o644)
		files = append(files, f)
	}
	idxPath := filepath.Join(dir, "images.idx")
	os.WriteFile(idxPath, idx.Bytes(), 0o644)
	stdout, stderr, code := cnngpu(t, nil, append([]string{"predict", "--cpu", "--model", model, "--json"}, files...)...)
	if code != 0 {
		t.Fatalf("predict: %s", stderr)
	}
	fromPNG := digits(t, stdout)
	stdout, stderr, code = cnngpu(t, nil, "predict", "--cpu", "--model", model, "--json", "--idx", idxPath)
	if code != 0 {
		t.Fatalf("predict --idx: %s", stderr)
	}
	fromIDX := digits(t, stdout)
	if len(fromPNG) != n || len(fromIDX) != n {
		t.Fatalf("%d and %d predictions for %d images", len(fromPNG), len(fromIDX), n)
	}
	same, right := 0, [2]int{}
	for i := 0; i < n; i++ {
		if fromPNG[i] == fromIDX[i] {
			same++
		}
		if fromPNG[i] == int(data.Test.Labels[i]) {
			right[0]++
		}
		if fromIDX[i] == int(data.Test.Labels[i]) {
			right[1]++
		}
	}
	t.Logf("PNG and raw predictions agree on %d of %d; accuracy %d vs %d", same, n, right[0], right[1])
	if same < n-1 || right[0] != right[1] {
		t.Errorf("predict on PNG files disagrees with the raw images: %d of %d agree, %d vs %d correct", same, n, right[0], right[1])
	}
}

func digits(t *testing.T, jsonl string) []int {
	var out []int
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var p struct{ Digit int }
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		out = append(out, p.Digit)
	}
	return out
}

// startServe runs 'cnngpu serve' on a free loopback port and returns its
// base URL and the running command.
func startServe(t *testing.T, model string) (string, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	return startServeCmd(t, exec.Command(binary_, "serve", "--cpu", "--model", model, "--addr", "127.0.0.1:0"))
}

// startServeCmd is startServe of a command given whole.
func startServeCmd(t *testing.T, cmd *exec.Cmd) (string, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout = io.MultiWriter(out, pw)
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 1024)
	var got strings.Builder
	for {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("serve ended: %v\n%s", err, out.String())
		}
		got.Write(buf[:n])
		if i := strings.Index(got.String(), "http://"); i >= 0 && strings.Contains(got.String()[i:], "/ ") {
			rest := got.String()[i:]
			url := rest[:strings.Index(rest, "/ ")]
			go io.Copy(io.Discard, pr)
			return url, cmd, out
		}
	}
}

// lockedBuffer collects a process's stdout and stderr, written from two
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// needBrowser skips a test that drives headless Chromium (scripts/e2e)
// where it or the node modules are missing; CI must have them.
func needBrowser(t *testing.T) {
	t.Helper()
	_, err := os.Stat("../../scripts/e2e/node_modules/playwright-core")
	_, cerr := os.Stat("/usr/bin/chromium")
	if err != nil || cerr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must install chromium and scripts/e2e's node modules (see .ci/run)")
		}
		t.Skip("needs /usr/bin/chromium and 'npm install' in scripts/e2e")
	}
}

func testServe(t *testing.T, model string) {
	url, cmd, out := startServe(t, model)
	t.Run("healthz names the model's file, not its path", func(t *testing.T) {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var h map[string]any
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || h["status"] != "ok" || h["model"] != filepath.Base(model) {
			t.Errorf("/healthz: %d %v, %v; want status ok and model %q", resp.StatusCode, h, err, filepath.Base(model))
		}
	})
	t.Run("browser draws digits", func(t *testing.T) {
		needBrowser(t)
		shot := filepath.Join(t.TempDir(), "page.png")
		node := exec.Command("node", "../../scripts/e2e/draw.mjs", url+"/", shot)
		res, err := node.CombinedOutput()
		if err != nil {
			t.Fatalf("browser test: %v\n%s", err, res)
		}
		lines := strings.Split(strings.TrimSpace(string(res)), "\n")
		if len(lines) != 3 {
			t.Fatalf("browser test printed %q", res)
		}
		for _, line := range lines {
			var r struct {
				Drawn int
				Digit string
				Error string
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("browser line %q: %v", line, err)
			}
			if r.Digit != fmt.Sprint(r.Drawn) || r.Error != "" {
				t.Errorf("drew %d, the page shows %q (error %q)", r.Drawn, r.Digit, r.Error)
			}
		}
		if st, err := os.Stat(shot); err != nil || st.Size() < 5000 {
			t.Errorf("screenshot: %v", err)
		}
	})
	t.Run("load test", func(t *testing.T) {
		lt := exec.Command("go", "run", "../../scripts/loadtest", "-url", url, "-n", "10000", "-c", "32")
		res, err := lt.CombinedOutput()
		t.Logf("%s", res)
		if err != nil {
			t.Fatalf("load test failed: %v", err)
		}
		if !strings.Contains(string(res), "errors 0") {
			t.Error("load test reported errors")
		}
	})
	// Graceful shutdown on SIGTERM: exit code 0, says so.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "shutting down") {
		t.Errorf("serve output: %s", out.String())
	}
}

func parsePercent(s string) (float64, error) {
	var v float64
	_, err := fmt.Sscanf(strings.TrimSuffix(s, "%"), "%g", &v)
	return v / 100, err
}

// TestInterruptSavesCheckpoint sends SIGINT during training: the run must
// finish its batch, write a checkpoint, exit 130 and say how to resume, and
// resuming must continue from where it stopped.
func TestInterruptSavesCheckpoint(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 2000, 50)
	ck := filepath.Join(dir, "int.safetensors")
	// Interrupt mid-epoch, after the first epoch's line.
	_, stderr, code := interruptAt(t, dir, "epoch 1/50", 100*time.Millisecond,
		"train", "--cpu", "--data", dir, "--recipe", "reference", "--epochs", "50", "--batch-size", "16", "--out", ck)
	if code != 130 {
		t.Fatalf("interrupted train: exit %d, want 130\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "resume with: "+binary_+" train --resume "+ck+" --data "+dir+" --cpu") {
		t.Errorf("interrupt message lacks the resume command, with the flags the checkpoint does not keep:\n%s", stderr)
	}
	c, err := engine.LoadCheckpoint(ck)
	if err != nil {
		t.Fatalf("checkpoint after interrupt: %v", err)
	}
	if c.Position.Epoch < 1 || c.Position.Epoch >= 50 {
		t.Errorf("checkpoint position %+v", c.Position)
	}
	stdout, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", dir, "--resume", ck, "--epochs", fmt.Sprint(c.Position.Epoch+1))
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("epoch %d/%d", c.Position.Epoch+1, c.Position.Epoch+1)) {
		t.Errorf("resume after interrupt: %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "holds an earlier run") {
		t.Errorf("a resumed run warns that it replaces its own checkpoint:\n%s", stderr)
	}
}

// TestCheckpointRemovedMidRun: a run whose working folder, and with it its
// checkpoint (--out relative), is deleted between two saves fails at the
// next save, and says the checkpoint is gone: no resume command, since
// nothing is left to resume.
func TestCheckpointRemovedMidRun(t *testing.T) {
	data := t.TempDir()
	fakeMNIST(t, data, 2000, 50)
	work := filepath.Join(t.TempDir(), "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runWatching(t, work, func(_ *os.Process, line string) {
		// After the first checkpoint is written (the writes run beside
		// the next epoch).
		if !strings.Contains(line, "epoch 2/50") {
			return
		}
		for i := 0; i < 200 && !fileExists(filepath.Join(work, "m.safetensors")); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		// (Again, where a write made its temporary file meanwhile.)
		err := os.RemoveAll(work)
		for i := 0; i < 100 && err != nil; i++ {
			err = os.RemoveAll(work)
		}
		if err != nil {
			t.Error(err)
		}
	}, "train", "--cpu", "--data", data, "--recipe", "reference", "--epochs", "50", "--batch-size", "16", "--out", "m.safetensors")
	if code != 1 {
		t.Fatalf("train with its folder deleted: exit %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "is gone too, removed from outside this run") || strings.Contains(stderr, "resume with") {
		t.Errorf("the message does not say the checkpoint is gone, or offers a resume:\n%s", stderr)
	}
}

// TestTuneInterruptedSaysWhatIsKept: a study interrupted after its first
// run says how many of its runs finished and are kept, and that the run
// cut short trains again from its start; one interrupted before any
// epoch is recorded keeps nothing.
func TestTuneInterruptedSaysWhatIsKept(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out := filepath.Join(dir, "study")
	_, stderr, code := interruptAt(t, dir, "[1/3]", 0, "tune", "--cpu", "--data", dir, "--out", out, "--lr", "0.001,0.002,0.003",
		"--batch-size", "16", "--activation", "relu", "--epochs", "3", "--val-split", "0.2")
	if code != 130 {
		t.Fatalf("interrupted study: exit %d, want 130\n%s", code, stderr)
	}
	m := regexp.MustCompile(`study interrupted; ([0-9]) of 3 runs finished, kept in ` + regexp.QuoteMeta(out) + ` \(a run cut short trains again from its start, the final retraining from its last checkpoint, where it saved one\)`).FindStringSubmatch(stderr)
	if m == nil || m[1] == "0" || m[1] == "3" {
		t.Errorf("interrupted after its first run:\n%s\nwant it to say how many of its 3 runs finished (1 or 2) and are kept", stderr)
	}
	// Interrupted before any run recorded an epoch (Ctrl-C on a mistyped
	// command): nothing is kept, and the corrected command is not refused
	// as another study.
	early := filepath.Join(dir, "early")
	_, stderr, code = interruptAt(t, dir, "engine:", 0, "tune", "--cpu", "--data", dir, "--out", early, "--lr", "0.001",
		"--batch-size", "16", "--activation", "relu", "--epochs", "50", "--val-split", "0.2")
	if want := "study interrupted before its first run recorded an epoch: nothing is kept"; code != 130 || !strings.Contains(stderr, want) {
		t.Errorf("interrupted before its first epoch: exit %d, no %q in\n%s", code, want, stderr)
	}
	if _, err := os.Stat(early); err == nil {
		t.Errorf("interrupted before its first epoch: %s kept", early)
	}
}

// TestTuneInterruptedAsItEnds: a Ctrl-C once every run and the final
// retraining had ended, while the figures and report are written, lets
// them be written whole and says so (it was taken in silence, exit 0).
// The signal goes as the log says the final model is there, before the
// figures; should it come too late in a try (the process gone, or past
// its last check), another try is made.
func TestTuneInterruptedAsItEnds(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out := filepath.Join(dir, "study")
	args := []string{"tune", "--cpu", "--data", dir, "--out", out, "--lr", "0.001,0.003", "--batch-size", "16",
		"--activation", "relu,tanh", "--epochs", "1", "--val-split", "0.2"}
	if _, stderr, code := cnngpu(t, nil, args...); code != 0 {
		t.Fatalf("the study: exit %d\n%s", code, stderr)
	}
	want := "note: interrupted as the study ended: every run had finished, and " + out + " holds its results, figures and report\n"
	var tries []string
	for range 3 {
		stdout, stderr, code := interruptAt(t, dir, "already trained (test accuracy", 0, args...)
		if code == 0 && strings.Contains(stderr, want) && strings.Contains(stdout, "report: ") {
			return
		}
		tries = append(tries, fmt.Sprintf("exit %d\n%s%s", code, stdout, stderr))
	}
	t.Errorf("a study interrupted as it wrote its figures: no %q in any of 3 tries:\n%s", want, strings.Join(tries, "\n"))
}

// TestTuneKilledAndRerun kills a study with SIGKILL in the middle of a run
// and reruns the same command: it must finish, leave the runs finished
// before the kill untouched, and produce results, plots and report.
func TestTuneKilledAndRerun(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 600, 50)
	out := filepath.Join(dir, "study")
	args := []string{"tune", "--cpu", "--data", dir, "--out", out, "--lr", "0.001,0.002,0.003", "--batch-size", "16",
		"--activation", "relu", "--epochs", "3", "--val-split", "0.2"}
	cmd := exec.Command(binary_, args...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), "[1/3]") {
		n, err := pipe.Read(buf)
		if err != nil {
			t.Fatalf("study ended before its first run finished: %v\n%s", err, got.String())
		}
		got.Write(buf[:n])
	}
	time.Sleep(300 * time.Millisecond) // into the second run
	cmd.Process.Kill()
	cmd.Wait()
	first := filepath.Join(out, "runs", "lr0.001_bs16_relu.jsonl")
	before, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(first)
	// The dry run counts what is left and marks what is finished.
	plan, stderr, code := cnngpu(t, nil, append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(plan, "dry run: 3 configurations x 1 round into "+out+": 2 runs to train") ||
		!strings.Contains(plan, "1 of its 3 runs finished in "+out+" already: kept") ||
		!strings.Contains(plan, "then the best setting is retrained on all 600 training images and tested (--final=false skips this)") ||
		!strings.Contains(plan, "(the steps an epoch are --data's: 480 training images a run;") ||
		!regexp.MustCompile(`(?m)^  lr 0\.001, batch 16, relu .*%  finished$`).MatchString(plan) ||
		regexp.MustCompile(`(?m)^  lr 0\.002.*finished$`).MatchString(plan) {
		t.Errorf("dry run after one finished run: exit %d\n%s%s", code, plan, stderr)
	}
	stdout, stderr, code := cnngpu(t, nil, args...)
	if code != 0 {
		t.Fatalf("rerun failed: %s", stderr)
	}
	if !strings.Contains(stdout, "1 run finished earlier, 2 to run") {
		t.Errorf("rerun did not skip the finished run:\n%s", stdout)
	}
	// The command that tests the best setting over ten seeds trains on
	// the study's --data (it trained on the cache's MNIST without it).
	if !regexp.MustCompile(`over ten seeds: '\S+ train --cpu --seeds 1-10 --lr 0\.00[123] .* --data ` + regexp.QuoteMeta(dir) + `'\)`).MatchString(stdout) {
		t.Errorf("the ten seeds' command lacks --data %s:\n%s", dir, stdout)
	}
	after, _ := os.ReadFile(first)
	st2, _ := os.Stat(first)
	if !bytes.Equal(before, after) || !st.ModTime().Equal(st2.ModTime()) {
		t.Error("the run finished before the kill was rewritten")
	}
	// Once finished, the dry run has nothing to train and names the final
	// model it would keep.
	plan, stderr, code = cnngpu(t, nil, append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(plan, ": 0 runs to train") || !strings.Contains(plan, "then the final model: the one trained for lr 0.00") {
		t.Errorf("dry run of a finished study: exit %d\n%s%s", code, plan, stderr)
	}
	rows := strings.Split(strings.TrimSpace(readFile(t, filepath.Join(out, "results.csv"))), "\n")
	if len(rows) != 4 {
		t.Errorf("results.csv has %d lines, want 4", len(rows))
	}
	for _, f := range []string{"report.md", "final.json", "final.safetensors", "plots/heatmap.png", "plots/curves_relu_bs16.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// The study's folder given as a model names its final model.
	if _, stderr, code := cnngpu(t, nil, "eval", "--cpu", "--data", dir, "--model", out); code != 2 ||
		!strings.Contains(stderr, "--model "+out+": is a folder, a study's: its final model is "+filepath.Join(out, "final.safetensors")) {
		t.Errorf("eval --model of the study's folder: exit %d, want 2 naming its final model\n%s", code, stderr)
	}
	// The report's command for the chosen setting over seeds trains it
	// as the final retraining did: its seed 1 (the study's) is that
	// retraining, bit for bit on the CPU engine (two seeds here, of ten).
	m := regexp.MustCompile("(?m)^    cnngpu train --cpu --seeds 1-10 (.*)$").FindStringSubmatch(readFile(t, filepath.Join(out, "report.md")))
	if m == nil {
		t.Fatalf("no train command over seeds on the CPU engine in the report:\n%s", readFile(t, filepath.Join(out, "report.md")))
	}
	seedsArgs := append([]string{"train", "--cpu", "--data", dir, "--out", filepath.Join(dir, "seeds.safetensors"), "--json", "--seeds", "1-2"}, strings.Fields(m[1])...)
	stdout, stderr, code = cnngpu(t, nil, seedsArgs...)
	var seeds struct {
		Runs []struct {
			Seed     int
			TestAcc  float64 `json:"test_acc"`
			TestLoss float64 `json:"test_loss"`
		}
	}
	fin, err := tune.LoadFinal(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(stdout), &seeds); code != 0 || err != nil || len(seeds.Runs) != 2 ||
		seeds.Runs[0].TestAcc != fin.TestAcc || seeds.Runs[0].TestLoss != fin.TestLoss {
		t.Errorf("the report's command %q: exit %d, %v\n%s%s\nwant seed 1 to test as the final model: %v, loss %v", m[0], code, err, stdout, stderr, fin.TestAcc, fin.TestLoss)
	}
	// A dry run reads the data the run would (here --data) where it is
	// there, and refuses other data as the run does (it said the runs
	// were kept); with the same data it plans.
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o755)
	fakeMNIST(t, other, 500, 50)
	dry := append(slices.Clone(args), "--dry-run")
	if _, stderr, code := cnngpu(t, nil, dry...); code != 0 {
		t.Errorf("dry run with the study's data: exit %d\n%s", code, stderr)
	}
	dry[3] = other
	if _, stderr, code := cnngpu(t, nil, dry...); code != 2 || !strings.Contains(stderr, "holds a study trained on other data (training data 600 images of 28x28") ||
		!strings.Contains(stderr, "500 images of 28x28, crc32c ") || !strings.Contains(stderr, " in "+other+")") {
		t.Errorf("dry run with other data: exit %d\n%s", code, stderr)
	}
	// A different grid in the same folder is refused, naming the
	// difference, before the data is read (here: there is none).
	missing := filepath.Join(dir, "no-such-data")
	_, stderr, code = cnngpu(t, nil, "tune", "--cpu", "--data", missing, "--out", out, "--lr", "0.1", "--batch-size", "16", "--activation", "relu", "--epochs", "3", "--val-split", "0.2")
	if code != 2 || !strings.Contains(stderr, "holds a different study (learning rates [0.001 0.002 0.003] in the folder, [0.1] given now)") {
		t.Errorf("changed grid: %d %s", code, stderr)
	}
	// So is a folder another process holds (the lock taken here).
	lock, err := os.OpenFile(filepath.Join(out, tune.LockFile), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = cnngpu(t, nil, append(args[:3:3], append([]string{missing}, args[4:]...)...)...)
	_, pstderr, pcode := cnngpu(t, nil, "plot", out)
	lock.Close()
	if code != 2 || !strings.Contains(stderr, "is in use by") {
		t.Errorf("folder held elsewhere: %d %s; want it refused before the data is read, exit 2 as a busy train --out", code, stderr)
	}
	if pcode != 2 || !strings.Contains(pstderr, "is in use by") {
		t.Errorf("plot on a folder held elsewhere: %d %s; want it refused", pcode, pstderr)
	}
	if _, pstderr, pcode := cnngpu(t, nil, "plot", out); pcode != 0 {
		t.Errorf("plot once the folder is free: %d %s", pcode, pstderr)
	}
	// A study that fails before its first run leaves no folder behind.
	fresh := filepath.Join(dir, "fresh")
	_, stderr, code = cnngpu(t, nil, "tune", "--cpu", "--data", missing, "--out", fresh, "--epochs", "1")
	if _, err := os.Stat(fresh); code == 0 || !os.IsNotExist(err) {
		t.Errorf("tune with missing data: exit %d, folder %v; want a failure and no folder\n%s", code, err, stderr)
	}
	_, stderr, code = cnngpu(t, nil, "tune", "--cpu", "--data", dir, "--shard", "3/3")
	if code != 2 || !strings.Contains(stderr, "expected I/N with 0 <= I < N") {
		t.Errorf("bad shard: %d %s", code, stderr)
	}
}

// TestDevices: without an NVIDIA driver (CI) 'devices' says which library
// is missing, suggests --cpu and exits 1; with one it lists GPU 0.
func TestDevices(t *testing.T) {
	stdout, stderr, code := cnngpu(t, nil, "devices")
	if err := cuda.Load(); err != nil {
		t.Logf("no GPU here: %v", err)
		if code != 1 || !strings.Contains(stderr, "libcuda.so.1") || !strings.Contains(stderr, "--cpu") {
			t.Errorf("devices without a driver: exit %d, stderr %q", code, stderr)
		}
		// --device fails at once, naming the way out; without a flag,
		// train says it falls back to the CPU.
		_, stderr, code = cnngpu(t, nil, "train", "--device", "0", "--data", t.TempDir())
		if code != 1 || !strings.Contains(stderr, "--cpu") {
			t.Errorf("train --device 0 without a GPU: exit %d, stderr %q", code, stderr)
		}
		dir := t.TempDir()
		fakeMNIST(t, dir, 64, 20)
		_, stderr, code = cnngpu(t, nil, "train", "--epochs", "1", "--data", dir, "--out", filepath.Join(dir, "m.safetensors"))
		if code != 0 || !strings.Contains(stderr, "note: using the CPU engine") {
			t.Errorf("train without --cpu on a machine without a GPU: exit %d, stderr %q", code, stderr)
		}
		// --quiet does not hide the fall-back: the run is many times
		// slower than the user may expect.
		_, stderr, code = cnngpu(t, nil, "train", "--epochs", "1", "--quiet", "--data", dir, "--out", filepath.Join(dir, "q.safetensors"))
		if code != 0 || !strings.Contains(stderr, "note: using the CPU engine") {
			t.Errorf("train --quiet without --cpu on a machine without a GPU: exit %d, stderr %q", code, stderr)
		}
		// --precision tf32, the GPU's, is said to be left out.
		_, stderr, code = cnngpu(t, nil, "bench", "--precision", "tf32", "--steps", "1", "--warmup", "0", "--batch-size", "4")
		if code != 0 || !strings.Contains(stderr, "note: --precision tf32 is the GPU's; the CPU engine computes in strict FP32") {
			t.Errorf("bench --precision tf32 without a GPU: exit %d, stderr %q; want the fall-back to say tf32 is left out", code, stderr)
		}
		return
	}
	if !strings.Contains(stdout, "GPU 0 ") || !strings.Contains(stdout, "compute capability") {
		t.Errorf("devices with a driver: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// With a driver, the exit status says whether cuBLAS and cuDNN were
	// found too (TestDevicesWithoutLibraries covers their absence).
	_, blasErr := cuda.BLASLibrary()
	_, dnnErr := cudnn.Library()
	if usable := blasErr == nil && dnnErr == nil; usable != (code == 0) {
		t.Errorf("devices with a driver, cuBLAS %v, cuDNN %v: exit %d\n%s\n%s", blasErr, dnnErr, code, stdout, stderr)
	}
}

// TestHelpCommand: 'cnngpu help COMMAND [SUBCOMMAND]' shows that command's
// own help (a subcommand's, not its parent's), and the help command's.
func TestHelpCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "train"}, "cnngpu train - "},
		{[]string{"help", "tune", "merge"}, "cnngpu tune merge - "},
		{[]string{"help", "data", "fetch"}, "cnngpu data fetch - "},
		{[]string{"help", "help"}, "help - "},
		// --help after a command's arguments, or before the command: that
		// command's whole help (urfave/cli took the arguments for help
		// topics and exited 1, and showed a shortened help for --help tune)
		{[]string{"predict", "digit.png", "--help"}, "cnngpu predict - "},
		{[]string{"train", "--help", "extra"}, "cnngpu train - "},
		{[]string{"tune", "merge", "shard0", "shard1", "--help"}, "cnngpu tune merge - "},
		{[]string{"tune", "--help", "merge"}, "cnngpu tune merge - "},
		{[]string{"data", "--help", "fetch"}, "cnngpu data fetch - "},
		{[]string{"--help", "tune"}, "--jobs-per-device N"},
		{[]string{"--help", "tune", "merge"}, "cnngpu tune merge - "},
		{[]string{"-h", "plot"}, "cnngpu plot - "},
	} {
		stdout, stderr, code := cnngpu(t, nil, c.args...)
		if code != 0 || !strings.Contains(stdout, c.want) {
			t.Errorf("cnngpu %s: exit %d, want 0 and %q in:\n%s%s", strings.Join(c.args, " "), code, c.want, stdout, stderr)
		}
	}
}

// asNobody returns runuser's path and the uid of the user nobody, for a
// test that acts as another user; it skips the test where the tests do
// not run as root or runuser cannot act as nobody.
func asNobody(t *testing.T) (runuser string, uid int) {
	t.Helper()
	runuser, err := exec.LookPath("runuser")
	nobody, uerr := user.Lookup("nobody")
	if os.Geteuid() != 0 || err != nil || uerr != nil {
		t.Skip("needs root, runuser and a user nobody to act as another user")
	}
	if out, err := exec.Command(runuser, "-u", "nobody", "--", "true").CombinedOutput(); err != nil {
		t.Skipf("runuser cannot act as nobody here (%v: %s)", err, out)
	}
	uid, _ = strconv.Atoi(nobody.Uid)
	return runuser, uid
}

// nobodyFolder makes a folder (removed when the test ends) that the user
// nobody may enter, outside the test's own temporary folder (which only
// root may), with a copy of the binary in it: a test acting as nobody
// runs bin on files it puts in dir.
func nobodyFolder(t *testing.T) (dir, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "cnngpu-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin = filepath.Join(dir, "cnngpu-bin")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte(readFile(t, binary_)), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// TestOtherUsersCheckpointKept: as another user, a checkpoint that user
// cannot replace (root's, in a shared folder with the sticky bit such as
// /tmp, whatever its mode) is refused up front rather than failed on after
// an epoch; root's file in a folder of that user's (left by a sudo run)
// is replaced, as a rerun does. Run as nobody through runuser, so only
// where the tests run as root.
func TestOtherUsersCheckpointKept(t *testing.T) {
	runuser, uid := asNobody(t)
	shared, err := os.MkdirTemp("", "cnngpu-shared-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(shared)
	bin, data, own := filepath.Join(shared, "cnngpu"), filepath.Join(shared, "data"), filepath.Join(shared, "own")
	model := readFile(t, newFixtures(t).model)
	for _, f := range []func() error{
		func() error { return os.Chmod(shared, 0o777|os.ModeSticky) },
		func() error { return os.WriteFile(bin, []byte(readFile(t, binary_)), 0o755) },
		func() error { return os.WriteFile(filepath.Join(shared, "root.safetensors"), []byte(model), 0o644) },
		func() error { return os.WriteFile(filepath.Join(shared, "root666.safetensors"), []byte(model), 0o666) },
		func() error { return os.Chmod(filepath.Join(shared, "root666.safetensors"), 0o666) },
		func() error { return os.Mkdir(data, 0o755) },
		func() error { return os.Mkdir(own, 0o755) },
		func() error { return os.Chown(own, uid, -1) },
		func() error { return os.WriteFile(filepath.Join(own, "m.safetensors"), []byte(model), 0o644) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	fakeMNIST(t, data, 200, 20)
	train := func(out string) (string, error) {
		b, err := exec.Command(runuser, "-u", "nobody", "--", "env", "HOME="+shared, "XDG_CACHE_HOME="+shared,
			bin, "train", "--cpu", "--threads", "1", "--epochs", "1", "--train-limit", "100", "--data", data, "--out", out).CombinedOutput()
		return string(b), err
	}
	for _, name := range []string{"root.safetensors", "root666.safetensors"} {
		ck := filepath.Join(shared, name)
		out, err := train(ck)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "--out "+ck+": belongs to another user, in a folder with the sticky bit") {
			t.Errorf("nobody training into root's %s in a sticky folder: %v, want exit 2 naming it\n%s", name, err, out)
		}
		if readFile(t, ck) != model {
			t.Errorf("root's %s was replaced", name)
		}
	}
	ck := filepath.Join(own, "m.safetensors")
	if out, err := train(ck); err != nil {
		t.Errorf("nobody training into root's file in nobody's folder: %v, want it replaced\n%s", err, out)
	}
	if readFile(t, ck) == model {
		t.Error("root's file in nobody's folder was not replaced")
	}
	// export alike, --force or not, before it loads the model (it failed
	// after, saying the folder was not writable).
	onnx := filepath.Join(shared, "root.onnx")
	if err := os.WriteFile(onnx, []byte(model), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, force := range []string{"--force=false", "--force"} {
		b, err := exec.Command(runuser, "-u", "nobody", "--", "env", "HOME="+shared, "XDG_CACHE_HOME="+shared,
			bin, "export", force, "--model", ck, "--out", onnx).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(b), "--out: "+onnx+" belongs to another user, in a folder with the sticky bit") {
			t.Errorf("nobody exporting %s over root's %s in a sticky folder: %v, want exit 2 naming it\n%s", force, onnx, err, b)
		}
	}
}

// TestOneStepRunSaysItsRateIsConstant: a cosine schedule over a run of one
// step is no schedule: the run keeps a constant rate and says why.
func TestOneStepRunSaysItsRateIsConstant(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 200, 20)
	stdout, stderr, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "1", "--train-limit", "100", "--out", filepath.Join(dir, "m.safetensors"))
	if code != 0 || !strings.Contains(stdout, "constant schedule") || !strings.Contains(stdout, "note: this run takes one step, so it keeps a constant rate") {
		t.Errorf("a one-step run of the default (cosine) recipe: exit %d, want its constant rate explained:\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "2", "--train-limit", "100", "--out", filepath.Join(dir, "m2.safetensors"))
	if strings.Contains(stdout, "takes one step") || !strings.Contains(stdout, "cosine (warm-up") {
		t.Errorf("a two-step run: want a cosine schedule and no note:\n%s", stdout)
	}
}

// TestReadOnlyOutputKept: a read-only checkpoint or metrics file at --out
// or --metrics, or a read-only checkpoint resumed in place, is refused
// (exit 2, naming it and the ways out), not replaced by the rename that
// writes a new one; a writable one is replaced as a rerun does.
func TestReadOnlyOutputKept(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 200, 20)
	ck := filepath.Join(dir, "kept.safetensors")
	metrics := filepath.Join(dir, "kept.jsonl")
	train := func(args ...string) (string, int) {
		_, stderr, code := cnngpu(t, nil, append([]string{"train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "1", "--train-limit", "100", "--quiet"}, args...)...)
		return stderr, code
	}
	if stderr, code := train("--out", ck, "--metrics", metrics, "--schedule", "constant"); code != 0 {
		t.Fatalf("the first run: exit %d\n%s", code, stderr)
	}
	for _, p := range []string{ck, metrics} {
		if err := os.Chmod(p, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	before := readFile(t, ck)
	if stderr, code := train("--out", ck, "--seed", "2"); code != 2 || !strings.Contains(stderr, "--out "+ck+": is read-only (mode 0444)") || !strings.Contains(stderr, "chmod u+w") {
		t.Errorf("a read-only --out: exit %d, want 2 naming it\n%s", code, stderr)
	}
	if readFile(t, ck) != before {
		t.Error("the read-only checkpoint was replaced")
	}
	if _, stderr, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "2", "--resume", ck); code != 2 || !strings.Contains(stderr, "--resume "+ck+": is read-only (mode 0444); make it writable") || !strings.Contains(stderr, "give --out") {
		t.Errorf("resuming a read-only checkpoint in place: exit %d, want 2 naming it\n%s", code, stderr)
	}
	if readFile(t, ck) != before {
		t.Error("the read-only checkpoint was replaced by a resumed run")
	}
	if stderr, code := train("--out", filepath.Join(dir, "new.safetensors"), "--metrics", metrics); code != 2 || !strings.Contains(stderr, "--metrics "+metrics+": is read-only") {
		t.Errorf("a read-only --metrics: exit %d, want 2 naming it\n%s", code, stderr)
	}
	os.Chmod(ck, 0o644)
	if stderr, code := train("--out", ck, "--seed", "2"); code != 0 {
		t.Errorf("a writable earlier checkpoint: exit %d, want it replaced\n%s", code, stderr)
	}
}

// TestInterruptKeepsAnEarlierRun: a training stopped in its first epoch
// over an earlier, finished run's checkpoint leaves --out as it was and
// says so: before its first step (an untrained model would replace it),
// and after it (a Ctrl-C on reading the note, --out forgotten, replaced a
// finished model with one of a few steps). The signal is sent when the
// run takes its output lock, just before the model is made, and then,
// until one lands after the first step, later (an epoch of batch 1 takes
// seconds). With --seeds, the first seed's is kept so too, and the stop
// says to run the command again, not --continue (which took the earlier
// run's checkpoint for this run's, or refused it, of other settings).
func TestInterruptKeepsAnEarlierRun(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 2000, 50)
	ck := filepath.Join(dir, "earlier.safetensors")
	if _, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", dir, "--epochs", "1", "--train-limit", "100", "--quiet", "--out", ck); code != 0 {
		t.Fatalf("the earlier run: %s", stderr)
	}
	if _, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", dir, "--epochs", "1", "--train-limit", "100", "--quiet", "--seeds", "1-2", "--out", ck); code != 0 {
		t.Fatalf("the earlier seeds: %s", stderr)
	}
	seed1, seed2 := filepath.Join(dir, "earlier-seed1.safetensors"), filepath.Join(dir, "earlier-seed2.safetensors")
	before := map[string]string{ck: readFile(t, ck), seed1: readFile(t, seed1), seed2: readFile(t, seed2)}
	const firstEpoch = "in this run's first epoch: %s is as it was, with the earlier run, and nothing of this run was written\n"
	// stop runs train with more, interrupted delay after it takes the
	// lock of out, and returns its standard error.
	stop := func(delay time.Duration, out string, more ...string) string {
		t.Helper()
		cmd := exec.Command(binary_, append([]string{"train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "50", "--batch-size", "1", "--out", ck}, more...)...)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lock := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".lock")
		for start := time.Now(); ; time.Sleep(200 * time.Microsecond) {
			if _, err := os.Stat(lock); err == nil {
				break
			}
			if time.Since(start) > time.Minute {
				cmd.Process.Kill()
				t.Fatalf("the run never took its lock:\n%s\n%s", so.String(), se.String())
			}
		}
		time.Sleep(delay)
		cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("interrupted train %v after %v: %v, want exit code 130\n%s", more, delay, err, se.String())
		}
		for p, b := range before {
			if readFile(t, p) != b {
				t.Errorf("interrupted train %v after %v, in its first epoch: the earlier run's %s was replaced\n%s", more, delay, p, se.String())
			}
		}
		return se.String()
	}
	se := stop(0, ck)
	if !strings.Contains(se, "note: "+ck+" holds an earlier run's checkpoint; this run replaces it when its first epoch ends (give --out another name, or move the file aside, to keep it; a Ctrl-C before then keeps it)\n") ||
		strings.Contains(se, "to go on with that run instead") {
		t.Errorf("a run about to replace an earlier, finished run's checkpoint does not say so, or offers to resume it:\n%s", se)
	}
	if !strings.Contains(se, "interrupted before the first step: nothing was trained or written ("+ck+" is as it was)") && !strings.Contains(se, fmt.Sprintf(firstEpoch, ck)) {
		t.Errorf("interrupted at once: no word of the checkpoint kept\n%s", se)
	}
	for _, c := range []struct {
		out  string
		more []string
	}{{ck, nil}, {seed1, []string{"--seeds", "1-2"}}} {
		var tries []string
		for _, delay := range []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second} {
			se := stop(delay, c.out, c.more...)
			if strings.Contains(se, "interrupted before the first step") {
				tries = append(tries, se)
				continue
			}
			if !strings.Contains(se, fmt.Sprintf(firstEpoch, c.out)) {
				t.Errorf("train %v interrupted after %v, in its first epoch: no word of the checkpoint kept\n%s", c.more, delay, se)
			}
			if c.more != nil {
				for _, want := range []string{
					"note: " + seed2 + " holds an earlier run's checkpoint; this run replaces it when its first epoch ends, or when it is interrupted after its first step",
					"\nrun the same command again to train the seeds (each replaces the earlier run's checkpoint when its first epoch ends), or give --out another name to keep those",
				} {
					if !strings.Contains(se, want) || strings.Contains(se, "--continue") {
						t.Errorf("--seeds interrupted in its first seed's first epoch: no %q, or --continue offered, in\n%s", want, se)
					}
				}
			}
			tries = nil
			break
		}
		if tries != nil {
			t.Errorf("train %v: every interrupt came before the first step:\n%s", c.more, strings.Join(tries, "\n"))
		}
	}

	// In the first epoch's validation (100 steps of one image, then
	// 90,000 images to validate, seconds on one thread): kept too; it
	// was saved as the validation ended, the stop seen only then.
	dir = t.TempDir() // the data stop trains on
	fakeMNIST(t, dir, 100000, 50)
	var tries []string
	for _, delay := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		se := stop(delay, ck, "--train-limit", "100", "--val-split", "0.9")
		if strings.Contains(se, "interrupted as this run's first epoch ended: "+ck+" is as it was, with the earlier run, and nothing of this run was written\n") {
			tries = nil
			break
		}
		tries = append(tries, se)
	}
	if tries != nil {
		t.Errorf("no interrupt in the first epoch's validation said the earlier checkpoint kept:\n%s", strings.Join(tries, "\n"))
	}
}

// TestQuietNamesAMadeUpCheckpoint: with --quiet, a checkpoint whose name
// train made up (no --out) is still named, on standard error; one the
// user named is not repeated.
func TestQuietNamesAMadeUpCheckpoint(t *testing.T) {
	cwd, data := t.TempDir(), t.TempDir()
	fakeMNIST(t, data, 64, 20)
	_, stderr, code := runIn(t, cwd, time.Minute, "train", "--cpu", "--epochs", "1", "--quiet", "--data", data)
	name, ok := strings.CutPrefix(strings.TrimSpace(stderr), "checkpoint: ")
	if code != 0 || !ok || !strings.HasPrefix(name, filepath.Join("runs", "model-")) {
		t.Fatalf("train --quiet without --out: exit %d, stderr %q; want the checkpoint's name", code, stderr)
	}
	if _, err := engine.LoadCheckpoint(filepath.Join(cwd, name)); err != nil {
		t.Errorf("the checkpoint named: %v", err)
	}
	_, stderr, code = runIn(t, cwd, time.Minute, "train", "--cpu", "--epochs", "1", "--quiet", "--data", data, "--out", "m.safetensors")
	if code != 0 || stderr != "" {
		t.Errorf("train --quiet --out m.safetensors: exit %d, stderr %q; want nothing", code, stderr)
	}
	_, stderr, code = runIn(t, cwd, time.Minute, "train", "--cpu", "--epochs", "2", "--quiet", "--data", data, "--resume", "m.safetensors")
	if code != 0 || stderr != "" {
		t.Errorf("train --quiet --resume m.safetensors: exit %d, stderr %q; want nothing", code, stderr)
	}
}

// TestSecondInterruptEndsAHungStop: after a first Ctrl-C, whose clean stop
// hangs here (as on a GPU that no longer answers), a second ends the
// process at once: by the signal, or, for a process started with SIGINT
// ignored (a background job of a script), which letting the signal go
// would ignore again, with exit code 130.
func TestSecondInterruptEndsAHungStop(t *testing.T) {
	for _, ignored := range []bool{false, true} {
		t.Run(fmt.Sprintf("started ignoring SIGINT %v", ignored), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			if ignored {
				cmd = exec.Command("sh", "-c", `trap "" INT; exec "$0" -test.run='^$'`, os.Args[0])
			}
			cmd.Env = append(os.Environ(), "CNNGPU_TEST_HANG_AFTER_INTERRUPT=1")
			secondInterrupt(t, cmd, ignored)
		})
	}
}

// TestDriverWaitAfterStopIsSaid: a GPU's start that begins after a stop
// was asked for (Ctrl-C while the data loads) and does not end says that
// the stop waits for the driver, once; it said nothing, each of the two
// watches leaving the note to the other.
func TestDriverWaitAfterStopIsSaid(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CNNGPU_TEST_WATCH_AFTER_STOP=1")
	out, err := cmd.Output()
	if err != nil || strings.Count(string(out), "note: stopping once the NVIDIA driver answers (starting GPU 0, for ") != 1 {
		t.Errorf("a GPU start after a stop was asked: %v\n%s", err, out)
	}
}

func secondInterrupt(t *testing.T, cmd *exec.Cmd, ignored bool) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	expect := func(want string) {
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("child printed %q, want %q", lines.Text(), want)
		}
	}
	expect("ready")
	// The first, sent twice (as `timeout -s INT` does, to the process
	// and then its group; here the repeat comes once the stop has begun):
	// one request, a clean stop.
	cmd.Process.Signal(os.Interrupt)
	expect("stopping")
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("the first interrupt (sent twice at once) ended the process: %v", err)
	case <-time.After(repeatWindow + 300*time.Millisecond):
	}
	// A stop that hangs is said, with what ends it.
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "note: still stopping after ") || !strings.Contains(lines.Text(), " s, finishing what is in progress; Ctrl-C again stops at once") {
		t.Fatalf("child printed %q, want a note that it is still stopping", lines.Text())
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case !errors.As(err, &ee):
			t.Errorf("after the second interrupt: %v, want the process ended", err)
		case ignored && ee.ExitCode() != 130:
			t.Errorf("after the second interrupt: %v, want exit code 130", err)
		case !ignored && ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT:
			t.Errorf("after the second interrupt: %v, want the process ended by SIGINT", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second interrupt did not end the process")
	}
}

// TestStdoutWriteFailure: output that cannot be written (standard output
// on a full disk) fails the command instead of exiting 0.
func TestStdoutWriteFailure(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"--help"}, {"train", "--help"}} {
		expectFullDiskFailure(t, "writing standard output", args...)
	}
}

// expectFullDiskFailure runs cnngpu with standard output on /dev/full (a
// full disk) and expects exit 1 with want on standard error.
func expectFullDiskFailure(t *testing.T, want string, args ...string) {
	t.Helper()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full to test a failing write: %v", err)
	}
	defer full.Close()
	cmd := exec.Command(binary_, args...)
	var se bytes.Buffer
	cmd.Stdout, cmd.Stderr = full, &se
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(se.String(), want) {
		t.Errorf("cnngpu %v > /dev/full: %v, stderr %q; want exit 1 and %q", args, err, se.String(), want)
	}
}

// interruptAt runs the binary in dir and sends it SIGINT delay after it
// prints a line holding line to stdout (code -1: killed after 2 minutes).
func interruptAt(t *testing.T, dir, line string, delay time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runWatching(t, dir, func(p *os.Process, l string) {
		if strings.Contains(l, line) {
			time.AfterFunc(delay, func() { p.Signal(syscall.SIGINT) })
		}
	}, args...)
}

// runWatching runs the binary in dir, calling onLine with each line it
// prints to stdout as it comes (code -1: killed after 2 minutes).
func runWatching(t *testing.T, dir string, onLine func(p *os.Process, line string), args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary_, args...)
	cmd.Dir = dir
	var se bytes.Buffer
	cmd.Stderr = &se
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var killed atomic.Bool
	timer := time.AfterFunc(2*time.Minute, func() { killed.Store(true); cmd.Process.Kill() })
	defer timer.Stop()
	var so strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		so.WriteString(sc.Text() + "\n")
		onLine(cmd.Process, sc.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case killed.Load():
		code = -1
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return so.String(), se.String(), code
}

// TestReplacingAnUnfinishedRunSaysHowToResumeIt: a run about to replace
// the checkpoint of a run stopped before its end (make run interrupted,
// then run again) says how to go on with that run instead (its --data
// too), and keeps that checkpoint when stopped in its own first epoch (it
// replaced it from the first step, so that the advice to stop lost it).
func TestReplacingAnUnfinishedRunSaysHowToResumeIt(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 2000, 20)
	ck := filepath.Join(dir, "m.safetensors")
	writeModel(t, ck, func(c *engine.Checkpoint) { c.Config.Epochs, c.Config.DataDir = 3, dir })
	before := readFile(t, ck)
	_, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", dir, "--epochs", "1", "--train-limit", "100", "--out", ck)
	want := "note: " + ck + " holds the checkpoint of an earlier run of 3 epochs, stopped after epoch 1; this run replaces it when its first epoch ends (give --out another name, or move the file aside, to keep it); to go on with that run instead, stop this one (Ctrl-C) before then and run: " +
		binary_ + " train --resume " + ck + " --data " + dir + "\n"
	if code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("train over an unfinished run's checkpoint: exit %d, no %q in\n%s", code, want, stderr)
	}

	// Stopped in its first epoch: the earlier run's checkpoint stays.
	os.WriteFile(ck, []byte(before), 0o644)
	cmd := exec.Command(binary_, "train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "50", "--batch-size", "16", "--out", ck)
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, ".m.safetensors.lock") // taken as the run starts
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(lock); err == nil {
			break
		}
		if time.Since(start) > time.Minute {
			cmd.Process.Kill()
			t.Fatal("the run never took its lock")
		}
	}
	time.Sleep(500 * time.Millisecond) // a few steps into its first epoch, likely
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || readFile(t, ck) != before {
		t.Errorf("stopped in its first epoch over an unfinished run: %v, checkpoint kept %v\n%s", err, readFile(t, ck) == before, se.String())
	}
	if !strings.Contains(se.String(), "in this run's first epoch: "+ck+" is as it was, with the earlier run") && !strings.Contains(se.String(), "interrupted before the first step") {
		t.Errorf("stopped in its first epoch over an unfinished run: no word of the checkpoint kept\n%s", se.String())
	}

	// One whose weights went NaN (a diverged run's): nothing to go on with.
	writeModel(t, ck, func(c *engine.Checkpoint) { c.Config.Epochs = 3; nanModel(c) })
	_, stderr, code = cnngpu(t, nil, "train", "--cpu", "--data", dir, "--epochs", "1", "--train-limit", "100", "--out", ck)
	if code != 0 || !strings.Contains(stderr, "holds an earlier run's checkpoint") || strings.Contains(stderr, "to go on with that run instead") {
		t.Errorf("train over a diverged run's checkpoint: exit %d; want no offer to resume it\n%s", code, stderr)
	}
}

// TestTuneOthersFileInStickyStudy: as another user, a study folder with
// the sticky bit that holds root's results.csv (which the study rewrites)
// is refused before anything trains, exit 2 (it trained, then failed
// saying the folder was not writable).
func TestTuneOthersFileInStickyStudy(t *testing.T) {
	runuser, uid := asNobody(t)
	shared, bin := nobodyFolder(t)
	data, study := filepath.Join(shared, "data"), filepath.Join(shared, "study")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	fakeMNIST(t, data, 200, 20)
	args := []string{"tune", "--cpu", "--threads", "1", "--data", data, "--epochs", "1", "--lr", "0.003,0.01", "--batch-size", "32", "--activation", "relu", "--final=false", "--out", study}
	if _, stderr, code := cnngpu(t, nil, args...); code != 0 {
		t.Fatalf("the study as root: exit %d\n%s", code, stderr)
	}
	// nobody's study, but for root's results.csv, in a folder open to all
	// with the sticky bit; one run to train again.
	filepath.WalkDir(study, func(p string, _ fs.DirEntry, _ error) error { return os.Lchown(p, uid, -1) })
	for _, f := range []func() error{
		func() error { return os.Chown(study, 0, -1) },
		func() error { return os.Chmod(study, 0o777|os.ModeSticky) },
		func() error { return os.Chown(filepath.Join(study, "results.csv"), 0, -1) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	runs, _ := filepath.Glob(filepath.Join(study, "runs", "*.jsonl"))
	if len(runs) != 2 {
		t.Fatalf("%d run files, want 2", len(runs))
	}
	os.Remove(runs[0])
	b, err := exec.Command(runuser, append([]string{"-u", "nobody", "--", "env", "HOME=" + shared, "XDG_CACHE_HOME=" + shared, bin}, args...)...).CombinedOutput()
	var ee *exec.ExitError
	want := filepath.Join(study, "results.csv") + " is another user's, in a folder with the sticky bit (" + study + ") that is not yours either"
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(b), want) || strings.Contains(string(b), "epoch 1/1") {
		t.Errorf("nobody's tune over root's results.csv in a sticky study folder: %v, want exit 2 before training, saying %q\n%s", err, want, b)
	}
}
