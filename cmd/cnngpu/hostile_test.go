// hostile_test.go: the binary fed what a careless or hostile user gives
// it (issue 18). TestHostileInput is the table: every subcommand with
// zero, negative, NaN, infinite, huge and empty values, a folder for a
// file and a file for a folder, paths that cannot be written, the input
// as the output, flags after arguments; each must exit with the right
// code, name the flag or file and what is expected, write or replace
// nothing, and never panic. The other tests follow one problem each
// through: a diverging run, a model holding NaN, serve's address, export
// over its input, outputs checked before training.

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/export"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/cnngpu/cnngpu/server"
	"github.com/cnngpu/cnngpu/tune"
)

// runIn runs the binary with dir as its working folder, killing it after
// limit, and fails the test on a Go panic. code is -1 when it was killed.
func runIn(t *testing.T, dir string, limit time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary_, args...)
	cmd.Dir = dir
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		code = -1
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	if strings.Contains(se.String(), "panic:") || strings.Contains(se.String(), "goroutine ") {
		t.Errorf("cnngpu %s panicked:\n%s", strings.Join(args, " "), se.String())
	}
	return so.String(), se.String(), code
}

// snapshot records every file and folder under root: mode, size,
// modification time of files and inode (a replacement by rename is a new
// inode),
// so that a run that writes, replaces or deletes anything shows.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d", info.Mode(), info.Size())
		if !info.IsDir() {
			// A folder's time changes when a check creates and removes a
			// file in it; its entries show what stays.
			v += fmt.Sprintf(" %d", info.ModTime().UnixNano())
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			v += fmt.Sprintf(" inode %d", st.Ino)
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffSnapshots describes what changed between two snapshots.
func diffSnapshots(a, b map[string]string) string {
	var d []string
	for p, v := range b {
		if w, ok := a[p]; !ok {
			d = append(d, "created "+p)
		} else if w != v {
			d = append(d, "changed "+p)
		}
	}
	for p := range a {
		if _, ok := b[p]; !ok {
			d = append(d, "removed "+p)
		}
	}
	return strings.Join(d, ", ")
}

// writeModel writes a checkpoint of the reference network with Glorot
// weights (seed 1), changed by edit when not nil, without training.
func writeModel(t *testing.T, path string, edit func(*engine.Checkpoint)) {
	t.Helper()
	arch, _ := engine.NewArch("reference", engine.ReLU)
	ck := &engine.Checkpoint{Arch: arch, Opt: engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7},
		Config: engine.TrainConfig{Epochs: 1, BatchSize: 32, Seed: 1}, Position: engine.Position{Epoch: 1}, Params: arch.GlorotInit(1),
		S1: make([]float32, arch.NumParams()), S2: make([]float32, arch.NumParams()), Step: 10}
	if edit != nil {
		edit(ck)
	}
	b, err := ck.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// nanModel makes a checkpoint as a diverged run saved it before
// divergence was caught: NaN weights.
func nanModel(ck *engine.Checkpoint) {
	for i := range ck.Params {
		ck.Params[i] = float32(math.NaN())
	}
}

// digitPNG is a 28x28 PNG of a vertical stroke, dark on white.
func digitPNG(t *testing.T) []byte {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := 4; y < 24; y++ {
		for x := 12; x < 16; x++ {
			img.SetGray(x, y, color.Gray{0})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// fixtures are the files the hostile cases point at.
type fixtures struct {
	root, cwd, data, model, nan, png, empty, notes, folder, file, link, hard, ours, readonly string
	shard0, shard0b, fifo, zeroIdx, weights, huge, jsonLog                                   string
}

func newFixtures(t *testing.T) *fixtures {
	t.Helper()
	root := t.TempDir()
	f := &fixtures{root: root, cwd: filepath.Join(root, "cwd"), data: filepath.Join(root, "data"),
		model: filepath.Join(root, "m.safetensors"), nan: filepath.Join(root, "nan.safetensors"),
		png: filepath.Join(root, "digit.png"), empty: filepath.Join(root, "empty.png"), notes: filepath.Join(root, "notes.txt"),
		folder: filepath.Join(root, "folder"), file: filepath.Join(root, "plain"), link: filepath.Join(root, "link.safetensors"),
		hard: filepath.Join(root, "hard.safetensors"), ours: filepath.Join(root, "ours.onnx"), readonly: filepath.Join(root, "readonly.onnx"),
		shard0: filepath.Join(root, "shard0"), shard0b: filepath.Join(root, "shard0-again"), fifo: filepath.Join(root, "pipe"), zeroIdx: filepath.Join(root, "zero.idx"),
		weights: filepath.Join(root, "weights.safetensors"), huge: filepath.Join(root, "huge.safetensors"), jsonLog: filepath.Join(root, "audit.jsonl")}
	for _, d := range []string{f.cwd, f.data, f.folder} {
		os.MkdirAll(d, 0o755)
	}
	fakeMNIST(t, f.data, 300, 100)
	writeModel(t, f.model, nil)
	writeModel(t, f.nan, nanModel)
	writeModel(t, f.weights, func(ck *engine.Checkpoint) { ck.S1, ck.S2 = nil, nil })
	writeModel(t, f.huge, func(ck *engine.Checkpoint) { // finite, but every output overflows
		for i := range ck.Params {
			ck.Params[i] = 1e38
		}
	})
	os.WriteFile(f.png, digitPNG(t), 0o644)
	os.WriteFile(f.empty, nil, 0o644)
	os.WriteFile(f.notes, []byte("notes, not a model\n"), 0o644)
	os.WriteFile(f.jsonLog, []byte(`{"ts":"2026-01-01","event":"deploy"}`+"\n"), 0o644)
	os.WriteFile(f.file, []byte("a plain file\n"), 0o644)
	if err := os.Symlink(f.model, f.link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(f.model, f.hard); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "nowhere"), filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop", filepath.Join(root, "loop")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(f.fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// A valid IDX image file of no images: the header alone.
	os.WriteFile(f.zeroIdx, []byte{0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28}, 0o644)
	ck, err := engine.LoadCheckpoint(f.model)
	if err != nil {
		t.Fatal(err)
	}
	onnx, err := export.ONNX(ck, version)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f.ours, onnx, 0o644)
	os.WriteFile(f.readonly, onnx, 0o444)
	for _, d := range []string{f.shard0, f.shard0b} {
		spec := &tune.Spec{Version: 1, LRs: []float64{0.001, 0.002}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 1,
			Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.2, Shard: tune.Shard{I: 0, N: 2}}
		if err := tune.Prepare(d, spec); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestHostileInput is the standing proof of issue 18: every subcommand fed
// bad values exits with the right code and a message that names the flag
// or file and what is expected; nothing under the test's folder is
// written, replaced or removed; nothing panics.
func TestHostileInput(t *testing.T) {
	f := newFixtures(t)
	// Quick settings, so that a value wrongly accepted trains for a moment
	// (and its output shows in the snapshot) rather than for an hour.
	train := []string{"train", "--cpu", "--data", f.data, "--epochs", "1", "--train-limit", "100"}
	tuneArgs := []string{"tune", "--cpu", "--data", f.data, "--epochs", "1", "--train-limit", "100", "--lr", "0.001",
		"--batch-size", "32", "--activation", "relu", "--final=false", "--out", filepath.Join(f.cwd, "study")}
	with := withFlags
	var sizes []string
	for b := 1; b <= 4097; b++ {
		sizes = append(sizes, strconv.Itoa(b))
	}
	manyBatchSizes := strings.Join(sizes, ",")
	cwd := func(name string) string { return filepath.Join(f.cwd, name) }
	// A link to --out's file, not made yet.
	if err := os.Symlink("c.safetensors", cwd("c-link.jsonl")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want []string // all in stderr
	}{
		// train: counts and rates
		{with(train, "--epochs", "0"), 2, []string{"--epochs 0", "at least 1"}},
		{with(train, "--data", ""), 2, []string{"--data '': expected the folder"}},
		{with(tuneArgs, "--data", "", "--dry-run"), 2, []string{"--data '': expected the folder"}},
		{with(tuneArgs, "--devices", "", "--dry-run"), 2, []string{"--devices '': expected GPU indices"}},
		{with(tuneArgs, "--batch-size", manyBatchSizes, "--dry-run"), 2, []string{"make a grid of 4097 configurations (1 × 4097 × 1); a study takes at most 4096"}},
		{with(train, "--precision", ""), 2, []string{"--precision '': expected fp32 or tf32"}},
		{[]string{"data", "verify", "--dir", ""}, 2, []string{"--dir '': expected a folder"}},
		{[]string{"data", "verify", "--data", ""}, 2, []string{"--dir '': expected a folder"}},
		{with(train, "--epochs", "-3"), 2, []string{"--epochs -3", "at least 1"}},
		{with(train, "--epochs", "99999999999999999999"), 2, []string{`--epochs "99999999999999999999"`, "whole number"}},
		{with(train, "--batch-size", "0"), 2, []string{"--batch-size 0", "expected 1 to 60000"}},
		{with(train, "--batch-size", "1000000"), 2, []string{"--batch-size 1000000", "expected 1 to 60000"}},
		{with(train, "--lr", "0"), 2, []string{"--lr 0", "positive finite number"}},
		{with(train, "--lr", "-1"), 2, []string{"--lr -1", "positive finite number"}},
		{with(train, "--lr", "NaN"), 2, []string{"--lr NaN", "positive finite number"}},
		{with(train, "--lr", "inf"), 2, []string{"--lr +Inf", "positive finite number"}},
		{with(train, "--lr", "1e400"), 2, []string{`--lr "1e400"`, "expected a number"}},
		{with(train, "--optimizer", "sgd", "--momentum", "nan"), 2, []string{"--momentum NaN", "[0, 1)"}},
		{with(train, "--optimizer", "sgd", "--momentum", "-0.5"), 2, []string{"--momentum -0.5", "[0, 1)"}},
		// 1 as a float32: it trained, and no command loaded the
		// checkpoint.
		// Recorded as smoothing, the targets one-hot.
		{with(train, "--label-smoothing", "1e-300"), 2, []string{"--label-smoothing 1e-300: too small to change the training", "3e-8 or more"}},
		{with(train, "--label-smoothing", "1e-9"), 2, []string{"--label-smoothing 1e-09: too small to change the training"}},
		{with(train, "--optimizer", "sgd", "--momentum", "0.99999999"), 2, []string{"--momentum 0.99999999: is 1 as a 32-bit float", "at most 0.99999994"}},
		{with(train, "--momentum", "1"), 2, []string{"--momentum 1", "[0, 1)"}},
		{with(train, "--momentum", "0.5"), 2, []string{"--momentum 0.5 is SGD's", "--optimizer sgd"}},
		{with(train, "--lr", "1e-46"), 2, []string{"--lr 1e-46", "about 1.4e-45 to 3.4e38"}},
		{with(train, "--lr", "1_0"), 2, []string{`--lr "1_0": expected a decimal number`}},
		{with(train, "--lr=0x1p-3"), 2, []string{`--lr "0x1p-3": expected a decimal number`}},
		{with(tuneArgs, "--lr", "0.001,1_0"), 2, []string{`"1_0" is not valid: expected a decimal number`}},
		{with(train, "--optimizer", "sgd", "--momentum", "inf"), 2, []string{"--momentum +Inf", "[0, 1)"}},
		{with(train, "--val-split", "-0.1"), 2, []string{"--val-split -0.1", "from 0 (no validation set) to below 1"}},
		{with(train, "--val-split", "1"), 2, []string{"--val-split 1", "from 0 (no validation set) to below 1"}},
		{with(train, "--val-split", "nan"), 2, []string{"--val-split NaN", "from 0 (no validation set) to below 1"}},
		{with(train, "--val-split", "0.99"), 2, []string{"--val-split", "leaves the training set empty", "expected below"}},
		{with(tuneArgs, "--epochs", "300000"), 2, []string{"epochs 300000: expected at most 204800"}},
		{with(train, "--val-split", "0.00001"), 2, []string{"--val-split", "leaves the validation set empty", "expected at least"}},
		{with(train, "--out", cwd(strings.Repeat("b", 256))), 2, []string{"is 256 bytes long, more than the 255 a file or folder name may have"}},
		{with(train, "--metrics", cwd(strings.Repeat("m", 300)+"/m.jsonl")), 2, []string{"--metrics", "is 300 bytes long"}},
		{with(train, "--out", filepath.Join(f.root, "dangling", "m.safetensors")), 2, []string{"dangling is a symbolic link to", "which does not exist"}},
		{with(train, "--train-limit", "-1"), 2, []string{"--train-limit -1", "at least 10"}},
		{with(train, "--train-limit", "5"), 2, []string{"--train-limit 5", "at least 10", "each digit"}},
		{with(train, "--seed", "-1"), 2, []string{`--seed "-1"`, "whole number from 0"}},
		{with(train, "--threads", "-1"), 2, []string{"--threads -1", "0 (all cores)"}},
		{with(train, "--threads", "1000000"), 2, []string{"--threads 1000000", "up to 1024"}},
		{with(train, "--precision", "fp16"), 2, []string{`--precision "fp16"`, "fp32 or tf32"}},
		{with(train, "--precision", "tf32"), 2, []string{"--precision tf32 is the GPU's tensor-core arithmetic", "--cpu"}},
		{with(train, "--activation", ""), 2, []string{`--activation ""`, "relu, sigmoid or tanh"}},
		{with(train, "--no-such-flag"), 2, []string{"unknown flag --no-such-flag"}},
		// train: outputs and inputs
		{with(train, "--out", ""), 2, []string{`--out ""`, "expected a file name"}},
		// A device or a pipe (also through a link) would be replaced by
		// the rename that puts the new file in place.
		{with(train, "--out", "/dev/null"), 2, []string{"--out /dev/null", "not a regular file", "a character device"}},
		{with(train, "--metrics", "/dev/null"), 2, []string{"--metrics /dev/null", "not a regular file"}},
		{with(train, "--out", f.fifo), 2, []string{"--out " + f.fifo, "a named pipe"}},
		{with(train, "--out", f.folder), 2, []string{"--out " + f.folder, "is a directory"}},
		{with(train, "--out", filepath.Join(f.file, "m.safetensors")), 2, []string{"--out", f.file + " is a file, not a folder"}},
		{with(train, "--out", "/proc/cnngpu-test/m.safetensors"), 2, []string{"--out /proc/cnngpu-test/m.safetensors", "cannot write in /proc"}},
		{with(train, "--out", filepath.Join(f.data, "train-images-idx3-ubyte.gz")), 2, []string{"same file as --data", "train-images-idx3-ubyte.gz"}},
		// a folder not made yet, by a trailing /: refused before training
		// (it trained, then failed to save: "rename ... file exists"; with
		// --seeds it wrote files named -seed1 in it)
		{with(train, "--out", cwd("new")+"/"), 2, []string{"--out " + cwd("new") + "/: names a folder, not a file", filepath.Join(cwd("new"), "model.safetensors")}},
		{with(train, "--seeds", "1", "--out", cwd("new")+"/"), 2, []string{"--out " + cwd("new") + "/: names a folder, not a file"}},
		{with(train, "--seeds", "1,2", "--out", cwd("a")+"/{seed}/../m.st"), 2, []string{"seeds 1 and 2 would both write " + cwd("a/m.st"), "put {seed} in the file's name"}},
		{with(train, "--out", cwd("new")+"/."), 2, []string{"names a folder, not a file"}},
		{with(train, "--metrics", cwd("new")+"/"), 2, []string{"--metrics " + cwd("new") + "/: names a folder, not a file", "metrics.jsonl"}},
		{with(train, "--metrics", ""), 2, []string{`--metrics ""`, "expected a file name"}},
		{with(train, "--metrics", cwd("m{seed}.jsonl")), 2, []string{"--metrics " + cwd("m{seed}.jsonl") + `: "{seed}" is replaced in --out only`}},
		// an existing file of another kind is not replaced (export refuses
		// the same without --force); an earlier checkpoint or metrics file is
		{with(train, "--out", f.notes), 2, []string{"--out " + f.notes, "exists and is not a cnngpu checkpoint", "choose another name"}},
		{with(train, "--out", cwd("a.safetensors"), "--metrics", f.model), 2, []string{"--metrics " + f.model, "exists and is not a metrics file of cnngpu's"}},
		{with(train, "--seeds", "1,2", "--out", filepath.Join(f.root, "m.safetensors"), "--metrics", f.png), 2, []string{"--metrics " + f.png, "not a metrics file of cnngpu's"}},
		// A log of JSON lines is not a metrics file (it was replaced).
		{with(train, "--out", cwd("b.safetensors"), "--metrics", f.jsonLog), 2, []string{"--metrics " + f.jsonLog, "exists and is not a metrics file of cnngpu's"}},
		{with(train, "--metrics", f.folder), 2, []string{"--metrics " + f.folder, "is a directory"}},
		{with(train, "--metrics", "/proc/m.jsonl"), 2, []string{"--metrics /proc/m.jsonl", "cannot write in /proc"}},
		{with(train, "--out", cwd("a.safetensors"), "--metrics", cwd("a.safetensors")), 2, []string{"--metrics", "is the checkpoint file", "e.g. " + cwd("a.jsonl")}},
		// its hint named the file refused
		{with(train, "--out", cwd("a.jsonl"), "--metrics", cwd("a.jsonl")), 2, []string{"--metrics", "is the checkpoint file", "e.g. " + cwd("a.metrics.jsonl")}},
		// --data's files: the .gz there, and the raw name beside it, not
		// there (a checkpoint under it was read as the training images
		// once the .gz was gone)
		{with(train, "--out", filepath.Join(f.data, "train-images-idx3-ubyte.gz")), 2, []string{"--out " + filepath.Join(f.data, "train-images-idx3-ubyte.gz") + " is the same file as --data "}},
		{with(train, "--out", filepath.Join(f.data, "train-labels-idx1-ubyte")), 2, []string{"--out " + filepath.Join(f.data, "train-labels-idx1-ubyte") + " is the name of a file --data reads (not there now)"}},
		// (the run's own lock on it was said to be another process's)
		{with(train, "--out", cwd("c.safetensors"), "--metrics", cwd("c-link.jsonl")), 2, []string{"--metrics " + cwd("c-link.jsonl") + " is the checkpoint file"}},
		{with(train, "--resume", f.notes), 1, []string{"--resume", f.notes, "cnngpu checkpoint"}},
		{with(train, "--resume", f.nan), 1, []string{f.nan, "non-finite", "diverged"}},
		{with(train, "--resume", f.folder), 2, []string{"--resume " + f.folder + ": is a folder"}},
		{[]string{"train", "--cpu", "--data", f.data, "--resume", f.model, "--lr", "0.01"}, 2, []string{"trained with --lr 0.001, but --lr 0.01 was given"}},
		{[]string{"train", "--cpu", "--data", f.data, "--resume", f.weights}, 2, []string{"--resume " + f.weights, "without the optimizer's state", "not resumed"}},
		{[]string{"train", "--cpu", "--data", f.data, "--resume", f.model, "--epochs", "3", "--metrics", f.model}, 2, []string{"--metrics " + f.model, "is the checkpoint file"}},
		{with(train, "--data", f.folder), 1, []string{f.folder, "lacks train-images-idx3-ubyte.gz"}},
		{with(train, "--data", f.file), 2, []string{"--data " + f.file, "is a file, not a folder"}},
		{with(train, "--data", "/dev/zero"), 2, []string{"--data /dev/zero: is a character device, not a folder"}},
		{with(train, "extra"), 2, []string{`train takes no arguments, got "extra"`}},
		{append([]string{"train", "extra"}, train[1:]...), 2, []string{`train takes no arguments, got "extra"`}},
		// eval
		{[]string{"eval", "--cpu", "--data", f.data}, 2, []string{"eval needs --model FILE"}},
		{[]string{"eval", "--cpu", "--data", f.data, "--model", ""}, 2, []string{"eval needs --model FILE"}},
		{[]string{"eval", "--cpu", "--data", f.data, "--model", f.folder}, 2, []string{"--model " + f.folder + ": is a folder; give the checkpoint file"}},
		{[]string{"eval", "--cpu", "--data", f.data, "--model", f.notes}, 1, []string{f.notes + ": is a text file, not a cnngpu checkpoint"}},
		{[]string{"eval", "--cpu", "--data", f.data, "--model", f.nan}, 1, []string{f.nan, "non-finite", "diverged", "--lr"}},
		// a file of another kind given as the checkpoint is named for what it is
		{[]string{"eval", "--cpu", "--data", f.data, "--model", f.png}, 1, []string{f.png + ": is an image (to classify it: cnngpu predict", "not a cnngpu checkpoint"}},
		{[]string{"eval", "--cpu", "--data", f.data, "--model", f.ours}, 1, []string{f.ours + ": is an ONNX model (an export), not a cnngpu checkpoint"}},
		{with(train, "--resume", filepath.Join(f.data, "t10k-labels-idx1-ubyte.gz")), 1, []string{"t10k-labels-idx1-ubyte.gz: is a gzip file, not a cnngpu checkpoint"}},
		{[]string{"predict", "--cpu", "--model", f.model, f.model, f.png}, 1, []string{f.model + ": is a cnngpu checkpoint, not an image: give it as --model"}},
		{[]string{"predict", "--cpu", f.model, f.png}, 2, []string{"predict needs --model FILE", f.model + " is one: give it as --model"}},
		{[]string{"predict", "--cpu", "--model", f.model, "--idx", f.png}, 1, []string{"--idx: " + f.png + ": a PNG image, not an IDX image file", "give image files without --idx", "predict --model " + f.model + " "}},
		{[]string{"predict", "--cpu", "--idx", f.png}, 1, []string{"give image files without --idx", "predict --model FILE "}},
		// A folder as the checkpoint is a flag of the wrong kind, as
		// --data FILE is (exit 1 before).
		{[]string{"predict", "--cpu", "--model", f.folder, f.png}, 2, []string{"--model " + f.folder + ": is a folder"}},
		{[]string{"export", "--model", f.folder, "--out", cwd("f.onnx")}, 2, []string{"--model " + f.folder + ": is a folder"}},
		// A named pipe no writer opens is given up (it was waited on for
		// ever), and a device is named as one (it was "larger than the
		// 20 MB limit: scale the image down").
		{[]string{"predict", "--cpu", "--model", f.model, f.fifo, "/dev/zero", f.png}, 1, []string{f.fifo + ": is a named pipe, and nothing opened it for writing within 10s", "/dev/zero: is a device, not an image file", "2 of 3 images could not be classified"}},
		// an output named as another kind of file
		{with(train, "--out", cwd("m.onnx")), 2, []string{"--out " + cwd("m.onnx") + ": train writes a checkpoint (safetensors), not an ONNX model", "export --model CHECKPOINT --out model.onnx"}},
		{with(train, "--out", cwd("m.pt")), 2, []string{"--out " + cwd("m.pt") + ": train writes a checkpoint in safetensors, not a PyTorch file", "safetensors.torch.load_file"}},
		{with(train, "--out", cwd("m.keras")), 2, []string{"not a Keras file", "export --model CHECKPOINT --out model.onnx"}},
		{with(train, "--out", cwd("w.npy")), 2, []string{"not NumPy files", "--format npy --out FOLDER"}},
		{[]string{"export", "--model", f.model, "--out", cwd("w.npy")}, 2, []string{"--out " + cwd("w.npy") + ": a NumPy file name for an ONNX model; without --format, export writes ONNX; --format npy writes one .npy file per tensor into a folder"}},
		{[]string{"eval", "--cpu", "--data", f.data, "--model", f.model, "extra"}, 2, []string{`eval takes no arguments, got "extra"`}},
		{[]string{"eval", "--cpu", "--data", f.data, "--model", f.model, "--threads", "-2"}, 2, []string{"--threads -2"}},
		{[]string{"eval", "--model", f.model, "--device", "-1"}, 2, []string{"--device -1", "GPU index"}},
		// predict
		{[]string{"predict", "--cpu", "--model", f.model}, 2, []string{"predict needs image files"}},
		{[]string{"predict", "--cpu", "--model", "-", f.png}, 2, []string{"--model -: a checkpoint is read from a file, not standard input"}},
		{[]string{"export", "--model", "-", "--out", cwd("m.onnx")}, 2, []string{"--model -: a checkpoint is read from a file, not standard input"}},
		{[]string{"predict", "--cpu", "--model", "/dev/stdin", "-"}, 2, []string{"--model /dev/stdin and the image '-' both read standard input"}},
		{[]string{"predict", "--cpu", "--model", "-", "--idx", "missing.gz"}, 2, []string{"--model -: a checkpoint is read from a file, not standard input"}},
		{[]string{"predict", "--cpu", "--model", f.model, f.folder}, 1, []string{f.folder, "is a folder"}},
		{[]string{"predict", "--cpu", "--model", f.model, f.notes}, 1, []string{f.notes, "not a PNG, JPEG or GIF"}},
		{[]string{"predict", "--cpu", "--model", f.model, "missing.png"}, 1, []string{"cnngpu: missing.png: no such file or directory\n"}},
		{[]string{"eval", "--cpu", "--model", cwd("gone.safetensors")}, 1, []string{"cnngpu: --model: checkpoint: open " + cwd("gone.safetensors") + ": no such file or directory"}},
		{[]string{"export", "--model", cwd("gone.safetensors"), "--out", cwd("gone.onnx")}, 1, []string{"cnngpu: --model: checkpoint: open " + cwd("gone.safetensors")}},
		{[]string{"predict", "--cpu", "--model", f.model, f.empty}, 1, []string{f.empty, "empty file"}},
		{[]string{"predict", "--cpu", "--model", f.nan, f.png}, 1, []string{f.nan, "non-finite"}},
		{[]string{"predict", "--cpu", "--model", f.nan, "--json", f.png}, 1, []string{f.nan, "non-finite"}},
		{[]string{"predict", "--cpu", "--model", f.model, "--idx", f.notes}, 1, []string{"--idx", "notes.txt"}},
		{[]string{"predict", "--cpu", "--model", f.model, "--idx", f.zeroIdx}, 1, []string{"--idx " + f.zeroIdx, "holds no images"}},
		// Folders where files go: exit 2, as --model's (it was 1).
		{[]string{"predict", "--cpu", "--model", f.model, "--idx", f.folder}, 2, []string{"--idx " + f.folder + ": is a folder; give an IDX file"}},
		{[]string{"predict", "--cpu", "--model", f.model, "--idx", filepath.Join(f.data, "t10k-images-idx3-ubyte.gz"), "--labels", f.folder}, 2, []string{"--labels " + f.folder + ": is a folder; give an IDX file"}},
		{[]string{"predict", "--cpu", "--model", f.model, "--idx", f.notes, f.png}, 2, []string{"either --idx FILE or image files"}},
		{[]string{"predict", "--cpu", "--model", f.model, "--idx", filepath.Join(f.data, "t10k-images-idx3-ubyte.gz"), "--labels", f.notes}, 1, []string{"--labels", "notes.txt"}},
		{[]string{"predict", "--cpu", "--model", f.model, "--idx", filepath.Join(f.data, "t10k-images-idx3-ubyte.gz"), "--labels", filepath.Join(f.data, "train-labels-idx1-ubyte.gz")}, 1,
			[]string{"--labels " + filepath.Join(f.data, "train-labels-idx1-ubyte.gz"), "labels for the", "images of --idx " + filepath.Join(f.data, "t10k-images-idx3-ubyte.gz"), "give the label file that goes with"}},
		// The files are checked before the model is loaded.
		{[]string{"predict", "--cpu", "--model", f.notes, "--idx", f.zeroIdx}, 1, []string{"--idx " + f.zeroIdx, "holds no images"}},
		{[]string{"predict", "--cpu", f.png, "--model"}, 2, []string{"--model needs a value"}},
		// export
		{[]string{"export", "--model", f.model, "--out", f.model}, 2, []string{"--out " + f.model, "same file as --model"}},
		{[]string{"export", "--model", f.model, "--out", "-"}, 2, []string{"--out -: cnngpu writes its outputs to files, not to standard output"}},
		{with(train, "--out", "-"), 2, []string{"--out -: cnngpu writes its outputs to files"}},
		{[]string{"export", "--model", f.model, "--out", f.link}, 2, []string{"--out " + f.link, "same file as --model"}},
		{[]string{"export", "--model", f.model, "--out", f.hard, "--force"}, 2, []string{"--out " + f.hard, "same file as --model"}},
		{[]string{"export", "--model", f.model, "--out", f.folder}, 2, []string{"--out " + f.folder, "is a directory"}},
		{[]string{"export", "--model", f.model, "--out", f.notes}, 2, []string{f.notes, "not an ONNX model exported by cnngpu", "--force"}},
		{[]string{"export", "--model", f.model, "--out", f.readonly}, 2, []string{f.readonly, "read-only", "--force"}},
		{[]string{"export", "--model", f.model, "--out", filepath.Join(f.file, "m.onnx")}, 2, []string{f.file + " is a file, not a folder"}},
		{[]string{"export", "--model", f.model, "--out", "/proc/m.onnx"}, 2, []string{"--out /proc/m.onnx", "cannot write in /proc"}},
		{[]string{"export", "--model", f.model, "--out", cwd("new") + "/"}, 2, []string{"names a folder, not a file", "model.onnx"}},
		{[]string{"export", "--model", f.model, "--format", "npy", "--out", f.file}, 2, []string{"--out " + f.file, "is a file, not a folder"}},
		{[]string{"export", "--model", f.model, "--format", "zip", "--out", cwd("m.zip")}, 2, []string{`--format "zip"`, "onnx or npy"}},
		{[]string{"export", "--model", f.model, "--out", cwd("m.safetensors")}, 2, []string{"--out " + cwd("m.safetensors"), "a checkpoint's file name for an ONNX model"}},
		{[]string{"export", "--model", f.model, "--format", "npy", "--out", cwd("w.npy")}, 2, []string{"--out " + cwd("w.npy"), "a file name (.npy) for the folder"}},
		{[]string{"export", "--model", f.model, "--format", "npy", "--out", cwd("w.npz")}, 2, []string{"--out " + cwd("w.npz") + ": a NumPy archive's name (.npz", "give a folder name such as weights"}},
		{[]string{"export", "--model", f.model, "--out", cwd("w.NPZ")}, 2, []string{"--out " + cwd("w.NPZ") + ": a NumPy file name for an ONNX model"}},
		{with(train, "--out", cwd("w.npz")), 2, []string{"not NumPy files", "--format npy --out FOLDER"}},
		{[]string{"export", "--model", f.model, "--format", "npy", "--out", cwd("w.onnx")}, 2, []string{"a file name (.onnx) for the folder"}},
		{[]string{"export", "--model", f.nan, "--out", cwd("nan.onnx")}, 1, []string{f.nan, "non-finite"}},
		{[]string{"export", "--model", f.model, "--out", ""}, 2, []string{"export needs --model FILE and --out PATH"}},
		{[]string{"export", "--model", f.model, "--out", cwd("m.onnx"), "extra"}, 2, []string{`export takes no arguments, got "extra"`}},
		// serve
		{[]string{"serve", "--cpu", "--model", f.model, "--addr", ""}, 2, []string{`--addr ""`, "HOST:PORT"}},
		{[]string{"serve", "--cpu", "--model", f.model, "--addr", ":0"}, 2, []string{"--addr :0 has no host", "127.0.0.1:0"}},
		{[]string{"serve", "--cpu", "--model", f.model, "--addr", "127.0.0.1"}, 2, []string{"--addr 127.0.0.1", "HOST:PORT"}},
		{[]string{"serve", "--cpu", "--model", f.model, "--addr", "127.0.0.1:70000"}, 2, []string{"--addr 127.0.0.1:70000", "0 to 65535"}},
		{[]string{"serve", "--cpu", "--model", f.nan, "--addr", "127.0.0.1:0"}, 1, []string{f.nan, "non-finite"}},
		// It answered every request 500 while /healthz said ok.
		{[]string{"serve", "--cpu", "--model", f.huge, "--addr", "127.0.0.1:0"}, 1, []string{f.huge + ": ", "not a probability (its weights overflow"}},
		{[]string{"predict", "--cpu", "--model", f.huge, f.png}, 1, []string{f.huge + ": ", "not a probability (its weights overflow"}},
		{[]string{"export", "--model", f.huge, "--out", cwd("huge.onnx")}, 1, []string{"--model " + f.huge + ": ", "not a probability (its weights overflow"}},
		{[]string{"serve", "--cpu"}, 2, []string{"serve needs --model FILE"}},
		{[]string{"serve", "--cpu", "--model", f.model, "--allow-origin", "localhost:3000"}, 2, []string{`--allow-origin: "localhost:3000" is not valid: not an origin: expected http:// or https://`}},
		{[]string{"serve", "--cpu", "--model", f.model, "--allow-origin", "http://localhost:3000/app"}, 2, []string{"an origin is a scheme, a host and an optional port, with no path"}},
		{[]string{"serve", "--cpu", "--model", f.model, "--allow-origin", ""}, 2, []string{"--allow-origin '': expected origins"}},
		{[]string{"serve", "--cpu", "--model", f.model, "extra"}, 2, []string{`serve takes no arguments, got "extra"`}},
		// bench, devices
		{[]string{"bench", "--cpu", "--batch-size", "0"}, 2, []string{"--batch-size", "positive"}},
		{[]string{"bench", "--cpu", "--steps", "-1"}, 2, []string{"--steps", "positive"}},
		{[]string{"bench", "--cpu", "--steps", "1000001"}, 2, []string{"--steps 1000001, --warmup 3: at most 1000000 each"}},
		{[]string{"bench", "--cpu", "--warmup", "9999999999"}, 2, []string{"--warmup 9999999999: at most 1000000 each"}},
		{[]string{"eval", "--cpu", "--model", f.model, "--data", ""}, 2, []string{"--data '': expected the folder"}},
		{[]string{"bench", "--cpu", "--activation", "gelu"}, 2, []string{"--activation", "gelu"}},
		{[]string{"bench", "--cpu", "--defer-update", "--no-update"}, 2, []string{"--no-update and --defer-update exclude each other"}},
		{[]string{"bench", "--cpu", "extra"}, 2, []string{`bench takes no arguments, got "extra"`}},
		{[]string{"devices", "extra"}, 2, []string{`devices takes no arguments, got "extra"`}},
		// data
		{[]string{"data", "frob"}, 2, []string{`unknown command "data frob"`, "fetch, verify"}},
		{[]string{"data", "fetch", "junk"}, 2, []string{`data fetch takes no arguments, got "junk"`}},
		{[]string{"data", "fetch", "junk", "--foo"}, 2, []string{"data fetch: unknown flag --foo", "cnngpu data fetch --help"}},
		{[]string{"data", "--verify"}, 2, []string{"data: unknown flag --verify", "cnngpu data --help"}},
		{[]string{"data", "verify", "extra"}, 2, []string{`data verify takes no arguments, got "extra"`}},
		{[]string{"eval", "--cpu", f.model}, 2, []string{"eval takes no arguments", "give the checkpoint as --model " + f.model}},
		{[]string{"eval", "--model", filepath.Join(f.root, "missing.safetensors"), "--threads", "-5"}, 2, []string{"--threads -5"}},
		{[]string{"data", "verify", "--dir", f.folder}, 1, []string{f.folder, "failed verification", "data fetch --dir " + f.folder}},
		// tune
		{with(tuneArgs, "--lr", ""), 2, []string{"--lr: empty list"}},
		{with(tuneArgs, "--lr", "nan"), 2, []string{"--lr NaN", "positive finite number"}},
		{with(tuneArgs, "--lr", "0.001,inf"), 2, []string{"--lr +Inf", "positive finite number"}},
		{with(tuneArgs, "--lr", "-1"), 2, []string{"--lr -1", "positive finite number"}},
		{with(tuneArgs, "--batch-size", "0"), 2, []string{"--batch-size 0", "expected 1 to 60000"}},
		{with(tuneArgs, "--activation", "gelu"), 2, []string{`--activation "gelu"`, "relu, sigmoid or tanh"}},
		{with(tuneArgs, "--optimizer", "sgd", "--momentum", "nan"), 2, []string{"--momentum NaN", "[0, 1)"}},
		{with(tuneArgs, "--momentum", "0.5"), 2, []string{"--momentum 0.5 is SGD's", "--optimizer sgd"}},
		{with(tuneArgs, "--optimizer", "sgd", "--momentum", "-0.5"), 2, []string{"--momentum -0.5", "[0, 1)"}},
		{with(tuneArgs, "--optimizer", "sgd", "--momentum", "0.99999999"), 2, []string{"--momentum 0.99999999: is 1 as a 32-bit float"}},
		{with(tuneArgs, "--epochs", "0"), 2, []string{"--epochs 0", "at least 1"}},
		{with(tuneArgs, "--folds", "1"), 2, []string{"--folds 1", "or 2 to 60000"}},
		{with(tuneArgs, "--folds", "100000"), 2, []string{"--folds 100000", "or 2 to 60000"}},
		{with(tuneArgs, "--val-split", "1"), 2, []string{"--val-split 1", "above 0 and below 1"}},
		{with(tuneArgs, "--train-limit", "5"), 2, []string{"--train-limit 5", "at least 10"}},
		{with(tuneArgs, "--shard", "50/100"), 2, []string{"--shard 50/100", "only 1 configuration", "100 shards cannot each get one"}},
		{with(tuneArgs, "--shard", "3/3"), 2, []string{"--shard", "0 <= I < N"}},
		{with(tuneArgs, "--out", f.file), 2, []string{"--out " + f.file, "is a file, not a folder"}},
		{with(tuneArgs, "--out", ""), 2, []string{`--out ""`, "expected a folder name"}},
		{with(tuneArgs, "--out", "/proc/cnngpu-study"), 2, []string{"--out /proc/cnngpu-study", "cannot write in /proc"}},
		{with(tuneArgs, "extra"), 2, []string{`tune takes no arguments, got "extra"`}},
		// The folder without --out (it was asked whether tune merge was
		// meant).
		{[]string{"tune", "--cpu", "runs/study"}, 2, []string{`tune takes no arguments, got "runs/study": the study's folder is given as --out runs/study`}},
		// A list's second value given apart: not taken for a folder.
		{[]string{"tune", "--cpu", "--activation", "relu", "tanh"}, 2, []string{`tune takes no arguments, got "tanh" (flags start with --, and a list's values are joined by commas`}},
		{[]string{"data", "fetch", "--dir", f.file}, 2, []string{"--dir " + f.file + ": is a file, not a folder"}},
		// An output folder that is itself a link to nothing ("mkdir: file
		// exists" before), and the alias named as given.
		{[]string{"data", "fetch", "--data", filepath.Join(f.root, "dangling")}, 2, []string{"--data " + filepath.Join(f.root, "dangling") + ": " + filepath.Join(f.root, "dangling") + " is a symbolic link to " + filepath.Join(f.root, "nowhere") + ", which does not exist"}},
		{[]string{"export", "--model", f.model, "--format", "npy", "--out", filepath.Join(f.root, "dangling")}, 2, []string{"is a symbolic link to " + filepath.Join(f.root, "nowhere") + ", which does not exist"}},
		// A link to itself ("mkdir: file exists", exit 1, after loading
		// the model).
		{[]string{"export", "--model", f.model, "--format", "npy", "--out", filepath.Join(f.root, "loop")}, 2, []string{"--out " + filepath.Join(f.root, "loop") + ": " + filepath.Join(f.root, "loop") + " is a symbolic link that leads into a loop of links"}},
		{[]string{"tune", "merge", f.shard0, "--out", filepath.Join(f.root, "dangling")}, 2, []string{"is a symbolic link to " + filepath.Join(f.root, "nowhere") + ", which does not exist"}},
		{[]string{"data", "verify", "--data", filepath.Join(f.root, "nowhere")}, 2, []string{"--data " + filepath.Join(f.root, "nowhere") + ": does not exist", "leave --data out"}},
		// --devices checked by a dry run too.
		{[]string{"tune", "--dry-run", "--out", cwd("study"), "--devices", "-1"}, 2, []string{"--devices: -1 is not a GPU index"}},
		// named by its flag, as train names it (it read "epochs 1000000000")
		{[]string{"tune", "--dry-run", "--out", cwd("study"), "--epochs", "1000000000"}, 2, []string{"--epochs 1000000000: expected at most 204800"}},
		// a number too large to hold is not "not a number"
		{[]string{"tune", "--dry-run", "--out", cwd("study"), "--lr", "1e400"}, 2, []string{`--lr: "1e400" is not valid: out of range: too large a number`}},
		{with(train, "--lr", "1e400"), 2, []string{`--lr "1e400": expected a number, and this one is out of range`}},
		{[]string{"tune", "--dry-run", "--out", cwd("study"), "--devices", "0,1,0"}, 2, []string{"--devices 0,1,0: GPU 0 is named twice", "--jobs-per-device"}},
		{[]string{"tune", "--dry-run", "--out", cwd("study"), "--shard", "0/5000"}, 2, []string{"--shard 0/5000: a study has at most 4096 shards"}},
		{[]string{"tune", "--dry-run", "--out", cwd("study"), "--shard", "auto/1099511627776"}, 2, []string{"--shard auto/1099511627776: a study has at most 4096 shards"}},
		{[]string{"tune", "merge"}, 2, []string{"tune merge needs --out DIR"}},
		{[]string{"tune", "merge", "--out", cwd("merged")}, 2, []string{"tune merge needs the shard folders"}},
		{[]string{"tune", "merge", f.shard0, f.shard0b, "--out", cwd("merged")}, 2, []string{f.shard0, f.shard0b, "shard 0/2 twice"}},
		{[]string{"tune", "merge", filepath.Join(f.root, "nowhere"), "--out", cwd("merged")}, 2, []string{"nowhere is not a study folder"}},
		{[]string{"tune", "merge", f.shard0, "--out", f.file}, 2, []string{"--out " + f.file, "is a file, not a folder"}},
		// plot, and an unknown command
		{[]string{"plot"}, 2, []string{"plot takes one study folder", "usage: ", "plot DIR (a folder cnngpu tune --out DIR wrote)"}},
		{[]string{"plot", f.folder, f.folder}, 2, []string{"plot takes one study folder, got 2"}},
		{[]string{"plot", filepath.Join(f.root, "nowhere")}, 2, []string{"nowhere: does not exist"}},
		{[]string{"plot", f.folder}, 2, []string{f.folder + ": not a study folder: it has no study.json"}},
		// a shard's report would rank and advise as if it were the
		// whole study
		{[]string{"plot", f.shard0}, 2, []string{"plot " + f.shard0 + ": holds shard 0/2 of a study", "tune merge --out NEW_DIR SHARD_DIR..."}},
		{[]string{"plot", f.file}, 2, []string{f.file + ": is a file, not a study folder"}},
		{[]string{"frobnicate"}, 2, []string{`unknown command "frobnicate"; the commands are train, eval`}},
		// slips: a command mistyped, a command's flag before the command
		{[]string{"trian"}, 2, []string{`unknown command "trian" (did you mean train?)`}},
		{[]string{"Tune"}, 2, []string{`unknown command "Tune" (did you mean tune?)`}},
		{[]string{"data", "fetc"}, 2, []string{`unknown command "data fetc" (did you mean fetch?)`}},
		{[]string{"fetch"}, 2, []string{`unknown command "fetch" (did you mean data fetch?)`}},
		{[]string{"merge"}, 2, []string{`unknown command "merge" (did you mean tune merge?)`}},
		{[]string{"run"}, 2, []string{`unknown command "run"; the commands are`}},
		{[]string{"--model", f.model, "predict"}, 2, []string{"--model before the command: it is a flag of eval, predict", "cnngpu predict --model …'"}},
		{[]string{"--cpu", "train"}, 2, []string{"--cpu before the command: it is a flag of train, eval", "cnngpu train --cpu'"}},
		{[]string{"--epochs", "3", "train"}, 2, []string{"--epochs before the command: it is a flag of train, tune;", "cnngpu train --epochs …'"}},
		{[]string{"--allow-missing", "tune", "merge"}, 2, []string{"--allow-missing before the command: it is a flag of tune merge;", "cnngpu tune merge --allow-missing'"}},
		{[]string{"--cpu", "train"}, 2, []string{"serve, tune, tune merge;"}},
		{[]string{"--final", "tune", "merge", "x"}, 2, []string{"cnngpu tune merge --final'"}},
		{[]string{"--frob", "train"}, 2, []string{"unknown flag --frob (see"}},
		// help forms: an unknown command after --help is a usage error (not
		// urfave/cli's "No help topic", exit 1), as after 'help'
		{[]string{"--help", "frobnicate"}, 2, []string{`unknown command "frobnicate"`, "train, eval"}},
		{[]string{"-h", "tune", "frob"}, 2, []string{`unknown command "tune frob"`, "merge"}},
		{[]string{"tune", "--help", "frob"}, 2, []string{`unknown command "tune frob"`, "merge"}},
		{[]string{"data", "--help", "frob"}, 2, []string{`unknown command "data frob"`, "fetch, verify"}},
		{[]string{"help", "-x"}, 2, []string{"help: unknown flag -x", "cnngpu help COMMAND"}},
		// a flag where a value is due: not taken for the value (a
		// checkpoint named --help, after a whole training)
		{with(train, "--out", "--help"), 2, []string{"--out needs a value, but the flag --help follows it", "--out=VALUE"}},
		{with(train, "--metrics", "--cpu"), 2, []string{"--metrics needs a value, but the flag --cpu follows it"}},
		{[]string{"predict", "--cpu", "--model", "--json", f.png}, 2, []string{"--model needs a value, but the flag --json follows it"}},
	}
	before := snapshot(t, f.root)
	for _, c := range cases {
		name := strings.Join(c.args, " ")
		stdout, stderr, code := runIn(t, f.cwd, 2*time.Minute, c.args...)
		if code != c.code {
			t.Errorf("cnngpu %s: exit code %d, want %d\n%s", name, code, c.code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("cnngpu %s: stderr does not say %q:\n%s", name, w, stderr)
			}
		}
		if strings.Contains(stdout, "NaN") {
			t.Errorf("cnngpu %s printed NaN:\n%s", name, stdout)
		}
		if after := snapshot(t, f.root); !equalMaps(before, after) {
			t.Errorf("cnngpu %s: %s", name, diffSnapshots(before, after))
			before = after
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestFlagsAfterArguments: flags after positional arguments are read as
// flags, not file names; "--" still ends the flags.
func TestFlagsAfterArguments(t *testing.T) {
	f := newFixtures(t)
	stdout, stderr, code := runIn(t, f.cwd, time.Minute, "predict", "--cpu", f.png, "--model", f.model, "--json")
	if code != 0 || !strings.HasPrefix(stdout, `{"file":"`+f.png) {
		t.Errorf("predict IMG --model M --json: exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, stderr, code = runIn(t, f.cwd, time.Minute, "predict", "--cpu", "--model", f.model, "--", "--json")
	if code != 1 || !strings.Contains(stderr, "cnngpu: --json: no such file or directory") {
		t.Errorf("predict -- --json: exit %d\n%s", code, stderr)
	}
	// A file named like a flag: the error says how to name it.
	_, stderr, code = runIn(t, f.cwd, time.Minute, "predict", "--cpu", "--model", f.model, "-x.png")
	if code != 2 || !strings.Contains(stderr, "unknown flag -x.png: if it is a file, write ./-x.png, or put -- before the file names") {
		t.Errorf("predict -x.png: exit %d\n%s", code, stderr)
	}
	// A name with no dot gets the hint where such a file is there, and the
	// plain message where none is.
	_, stderr, code = runIn(t, f.cwd, time.Minute, "predict", "--cpu", "--model", f.model, "-7")
	if code != 2 || !strings.Contains(stderr, "unknown flag --7") || strings.Contains(stderr, "if it is a file") {
		t.Errorf("predict -7 with no such file: exit %d\n%s", code, stderr)
	}
	os.WriteFile(filepath.Join(f.cwd, "-7"), nil, 0o644)
	_, stderr, code = runIn(t, f.cwd, time.Minute, "predict", "--cpu", "--model", f.model, "-7")
	if code != 2 || !strings.Contains(stderr, "unknown flag -7: if it is a file, write ./-7, or put -- before the file names") {
		t.Errorf("predict -7 with a file -7 there: exit %d\n%s", code, stderr)
	}
	shard := filepath.Join(f.root, "shard1")
	spec := &tune.Spec{Version: 1, LRs: []float64{0.001, 0.002}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 1,
		Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.2, Shard: tune.Shard{I: 1, N: 3}}
	spec0 := *spec
	spec0.Shard.I = 0
	tune.Prepare(shard, spec)
	tune.Prepare(filepath.Join(f.root, "shard0of3"), &spec0)
	stdout, stderr, code = runIn(t, f.cwd, time.Minute, "tune", "merge", filepath.Join(f.root, "shard0of3"), shard, "--out", filepath.Join(f.cwd, "merged"))
	if code != 1 || !strings.Contains(stderr, "do not cover the grid") || !strings.Contains(stderr, "no folder has finished it") {
		t.Errorf("tune merge A B --out X: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestDivergedTrainingFailsLoudly (issue 18, item 1): a learning rate far
// too high stops training within a step or two of the loss turning NaN,
// with a message and exit code 1, writing no checkpoint and no metrics
// and printing no NaN; a resumed run that diverges keeps the checkpoint
// it resumed from untouched and says so.
func TestDivergedTrainingFailsLoudly(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 100)
	out, metrics := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "m.jsonl")
	start := time.Now()
	stdout, stderr, code := runIn(t, dir, 2*time.Minute, "train", "--cpu", "--data", dir, "--recipe", "reference", "--lr", "1e9", "--epochs", "50",
		"--batch-size", "16", "--out", out, "--metrics", metrics)
	t.Logf("diverging run took %v:\n%s%s", time.Since(start), stdout, stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, w := range []string{"training diverged: the training loss became NaN in epoch 1 (found after step 2 of 19)", "--lr 1e+09", "no checkpoint was written to " + out} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not say %q", w)
		}
	}
	if strings.Contains(stdout, "NaN") || strings.Contains(stdout, "epoch 1/50") || strings.Contains(stdout, "test accuracy") {
		t.Errorf("a diverged run reported results:\n%s", stdout)
	}
	for _, p := range []string{out, metrics} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a diverged run wrote %s", p)
		}
	}
	// Into folders it had to make (the metrics' below the checkpoint's):
	// they go with it, a folder that was there stays.
	nested := filepath.Join(dir, "new", "deeper", "m.safetensors")
	if _, _, code := runIn(t, dir, 2*time.Minute, "train", "--cpu", "--data", dir, "--recipe", "reference", "--lr", "1e9", "--epochs", "2",
		"--batch-size", "16", "--out", nested, "--metrics", filepath.Join(dir, "new", "deeper", "more", "m.jsonl")); code != 1 {
		t.Errorf("a diverging run into new folders: exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Error("a diverged run left the empty folders it made for --out")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the folder that was there: %v", err)
	}
	// Resuming a checkpoint whose learning rate is 1e9 (the file itself
	// finite): epoch 2 diverges, the checkpoint after epoch 1 is kept.
	ck := filepath.Join(dir, "resume.safetensors")
	writeModel(t, ck, func(c *engine.Checkpoint) {
		c.Opt.LR = 1e9
		c.Config = engine.TrainConfig{Epochs: 3, BatchSize: 16, Seed: 1}
		c.Step = 19 // an epoch of 300 images, 16 a batch
	})
	before, _ := os.ReadFile(ck)
	_, stderr, code = runIn(t, dir, 2*time.Minute, "train", "--cpu", "--data", dir, "--resume", ck)
	if code != 1 || !strings.Contains(stderr, "training diverged") || !strings.Contains(stderr, "in epoch 2") ||
		!strings.Contains(stderr, "the last finite checkpoint, after epoch 1, is kept in "+ck) {
		t.Errorf("diverging resumed run: exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(ck); !bytes.Equal(before, after) {
		t.Error("the checkpoint resumed from was changed by the diverged run")
	}
}

// TestDivergedCheckpointSaysItIsUnusable: a rate so large that one
// epoch's last update leaves finite weights no forward pass survives (a
// step an epoch, --lr 1e30): the run diverges in the next epoch, or fails
// its test after the last, and says that the checkpoint it kept gives
// non-finite outputs too, not that it is a finite one to go on from.
func TestDivergedCheckpointSaysItIsUnusable(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 200, 50)
	for _, epochs := range []string{"2", "1"} {
		out := filepath.Join(dir, "m"+epochs+".safetensors")
		_, stderr, code := runIn(t, dir, 2*time.Minute, "train", "--cpu", "--threads", "1", "--data", dir, "--train-limit", "100", "--epochs", epochs,
			"--lr", "1e30", "--out", out)
		if code != 1 || !strings.Contains(stderr, "the checkpoint after epoch 1 in "+out+" cannot be used either") || strings.Contains(stderr, "last finite checkpoint") {
			t.Errorf("--epochs %s at --lr 1e30: exit %d, want 1 and the checkpoint called unusable\n%s", epochs, code, stderr)
		}
	}
}

// TestNonFiniteCheckpointIsADivergence: an epoch whose last update takes
// the weights past float32's range while its loss was still finite (a
// resumed Adam run whose first moments are near the largest float32 and
// its second moments zero: the first update divides one by the other and
// overflows) is a divergence: its checkpoint is refused (it is checked
// where it is written, beside the next epoch), and whether it was the
// run's last epoch (found after the test), an earlier one (found by the
// next epoch's loss, or at its end), or the one an interrupt came at,
// train exits 1 with the divergence's message, naming the finite
// checkpoint it kept: the one resumed from, unchanged (or none, where
// --out is another file); --metrics holds the resumed checkpoint's
// epochs and no other.
func TestNonFiniteCheckpointIsADivergence(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 200, 50)
	for i, c := range []struct {
		epochs    int
		other     bool // --out another file than the one resumed
		interrupt bool // SIGINT as epoch 2 ends
	}{{2, false, false}, {3, false, false}, {2, true, false}, {3, false, true}} {
		what := fmt.Sprintf("--epochs %d, --out another file %v, interrupted %v", c.epochs, c.other, c.interrupt)
		ck := filepath.Join(dir, fmt.Sprintf("resume%d.safetensors", i))
		metrics := filepath.Join(dir, fmt.Sprintf("m%d.jsonl", i))
		writeModel(t, ck, func(ckp *engine.Checkpoint) {
			ckp.Config = engine.TrainConfig{Epochs: c.epochs, BatchSize: 16, Seed: 1, TrainLimit: 16}
			ckp.Step = 1 // an epoch of one batch
			ckp.History = []engine.EpochMetrics{{Epoch: 1, TrainLoss: 2.3, TrainAcc: 0.1, ValLoss: math.NaN(), ValAcc: math.NaN(), Images: 16}}
			for i := range ckp.S1 {
				ckp.S1[i] = 3e38
			}
		})
		before, _ := os.ReadFile(ck)
		args := []string{"train", "--cpu", "--threads", "1", "--data", dir, "--resume", ck, "--metrics", metrics}
		kept := "the last finite checkpoint, after epoch 1, is kept in " + ck
		if c.other {
			out := filepath.Join(dir, fmt.Sprintf("other%d.safetensors", i))
			args = append(args, "--out", out)
			kept = "no checkpoint was written to " + out
		}
		var stdout, stderr string
		code := 0
		if c.interrupt {
			stdout, stderr, code = interruptAt(t, dir, "epoch 2/3", 0, args...)
		} else {
			stdout, stderr, code = runIn(t, dir, 2*time.Minute, args...)
		}
		t.Logf("%s:\n%s%s", what, stdout, stderr)
		if code != 1 || !strings.Contains(stderr, "the learning rate is likely too high") || !strings.Contains(stderr, kept) ||
			strings.Contains(stdout, "test accuracy") || strings.Contains(stderr, "resume with") {
			t.Errorf("%s: exit %d, want 1 and the divergence's message, saying %q\n%s", what, code, kept, stderr)
		}
		if c.epochs == 2 && !strings.Contains(stderr, "non-finite values: tensor conv1.weight holds") {
			t.Errorf("%s: the last epoch's non-finite checkpoint is not named:\n%s", what, stderr)
		}
		if after, _ := os.ReadFile(ck); !bytes.Equal(before, after) {
			t.Errorf("%s: the checkpoint resumed from was changed", what)
		}
		if m, err := os.ReadFile(metrics); err != nil || strings.Contains(string(m), `"epoch":2`) || !strings.Contains(string(m), `"epoch":1`) {
			t.Errorf("%s: --metrics holds %q (%v); want the resumed checkpoint's epoch 1 alone", what, m, err)
		}
	}
}

// TestNonFiniteModelIsRefused (issue 18, item 1): a checkpoint holding NaN
// weights is refused by eval, predict, export and serve, which print no
// answer; export writes nothing and serve does not start listening.
func TestNonFiniteModelIsRefused(t *testing.T) {
	f := newFixtures(t)
	onnx := filepath.Join(f.cwd, "nan.onnx")
	for _, args := range [][]string{
		{"eval", "--cpu", "--data", f.data, "--model", f.nan, "--json"},
		{"eval", "--cpu", "--data", f.data, "--model", f.nan},
		{"predict", "--cpu", "--model", f.nan, "--json", f.png},
		{"predict", "--cpu", "--model", f.nan, f.png},
		{"export", "--model", f.nan, "--out", onnx},
		{"serve", "--cpu", "--model", f.nan, "--addr", "127.0.0.1:0"},
	} {
		stdout, stderr, code := runIn(t, f.cwd, 30*time.Second, args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, f.nan) || !strings.Contains(stderr, "non-finite values: tensor conv1.weight holds NaN") {
			t.Errorf("cnngpu %s: exit %d, stdout %q\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	if _, err := os.Stat(onnx); err == nil {
		t.Error("export of a NaN model wrote its --out")
	}
}

// TestServeNeedsAHost (issue 18, item 3): an empty or host-less --addr is
// refused with exit code 2 before listening (it used to listen on every
// interface), and a loopback address still works.
func TestServeNeedsAHost(t *testing.T) {
	f := newFixtures(t)
	for _, addr := range []string{"", ":0", "[]:0"} {
		_, stderr, code := runIn(t, f.cwd, 20*time.Second, "serve", "--cpu", "--model", f.model, "--addr", addr)
		if code != 2 || !strings.Contains(stderr, "--addr "+addr) || !strings.Contains(stderr, "127.0.0.1") {
			t.Errorf("serve --addr %q: exit code %d (-1: still listening after 20 s), want 2\n%s", addr, code, stderr)
		}
	}
	url, _, out := startServe(t, f.model)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("serve on loopback: %s", url)
	}
	// Its start says how to use it and stop it.
	want := "curl --data-binary @IMAGE " + url + "/v1/predict (Ctrl-C stops the server)"
	for i := 0; i < 500 && !strings.Contains(out.String(), want); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), want) {
		t.Errorf("serve's start does not say %q:\n%s", want, out.String())
	}
}

// TestServePortInUse: a port another server holds is said before the
// model is read (a missing model is not what is reported) with what to do,
// exit 1: the machine's state, not a flag wrong in itself; a flag wrong in
// itself is still exit 2 before it.
func TestServePortInUse(t *testing.T) {
	f := newFixtures(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for _, model := range []string{f.model, filepath.Join(f.cwd, "missing.safetensors")} {
		_, stderr, code := runIn(t, f.cwd, 20*time.Second, "serve", "--cpu", "--model", model, "--addr", addr)
		if code != 1 || !strings.Contains(stderr, "--addr "+addr) || !strings.Contains(stderr, "another server uses the port: choose another, or --addr 127.0.0.1:0 for any free one") {
			t.Errorf("serve --model %s --addr %s (in use): exit %d, want 1 and the port named with what to do\n%s", model, addr, code, stderr)
		}
	}
	for _, args := range [][]string{{"serve", "--addr", addr}, {"serve", "--addr", addr, "--cpu", "--device", "0", "--model", f.model}} {
		if _, stderr, code := runIn(t, f.cwd, 20*time.Second, args...); code != 2 || strings.Contains(stderr, "another server") {
			t.Errorf("%v, the port in use: exit %d, want 2 for the flags\n%s", args, code, stderr)
		}
	}
}

// TestExportNeverOverwritesItsInput (issue 18, item 4): export refuses
// --out when it is the model file (also through a symbolic or hard link,
// even with --force), refuses to replace a file that is not one of its
// exports or is read-only without --force, and keeps the mode of a file it
// replaces.
func TestExportNeverOverwritesItsInput(t *testing.T) {
	f := newFixtures(t)
	model, _ := os.ReadFile(f.model)
	for _, out := range []string{f.model, f.link, f.hard} {
		for _, force := range []bool{false, true} {
			args := []string{"export", "--model", f.model, "--out", out}
			if force {
				args = append(args, "--force")
			}
			_, stderr, code := runIn(t, f.cwd, time.Minute, args...)
			if code != 2 || !strings.Contains(stderr, "same file as --model") {
				t.Errorf("cnngpu %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
			}
		}
	}
	if b, _ := os.ReadFile(f.model); !bytes.Equal(b, model) {
		t.Fatal("export wrote over its input")
	}
	notes, _ := os.ReadFile(f.notes)
	if _, stderr, code := runIn(t, f.cwd, time.Minute, "export", "--model", f.model, "--out", f.notes); code != 2 || !strings.Contains(stderr, "--force") {
		t.Errorf("export over a text file: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(f.notes); !bytes.Equal(b, notes) {
		t.Error("export replaced a file that was not one of its exports")
	}
	// A name with a newline is quoted in what export says it wrote, as
	// predict quotes such names.
	nl := filepath.Join(f.root, "name\nnl.onnx")
	if stdout, stderr, code := runIn(t, f.cwd, time.Minute, "export", "--model", f.model, "--out", nl); code != 0 || !strings.HasPrefix(stdout, "wrote "+strconv.Quote(nl)+" (") {
		t.Errorf("export to a name with a newline: exit %d, %q\n%s", code, stdout, stderr)
	}
	// An earlier export is replaced; a read-only one only with --force,
	// and it stays read-only.
	if _, stderr, code := runIn(t, f.cwd, time.Minute, "export", "--model", f.model, "--out", f.ours); code != 0 {
		t.Errorf("export over an earlier export: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := runIn(t, f.cwd, time.Minute, "export", "--model", f.model, "--out", f.readonly); code != 2 || !strings.Contains(stderr, "read-only") {
		t.Errorf("export over a read-only export: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := runIn(t, f.cwd, time.Minute, "export", "--model", f.model, "--out", f.readonly, "--force"); code != 0 {
		t.Errorf("export --force over a read-only export: exit %d\n%s", code, stderr)
	}
	if st, err := os.Stat(f.readonly); err != nil || st.Mode().Perm() != 0o444 {
		t.Errorf("the replaced read-only export: %v %v, want mode 0444 kept", st.Mode(), err)
	}
	if _, stderr, code := runIn(t, f.cwd, time.Minute, "export", "--model", f.model, "--out", f.notes, "--force"); code != 0 {
		t.Errorf("export --force over a text file: exit %d\n%s", code, stderr)
	}
	// A folder not made yet is made, as for npy and train --out.
	deep := filepath.Join(filepath.Dir(f.model), "new", "a", "m.onnx")
	if _, stderr, code := runIn(t, f.cwd, time.Minute, "export", "--model", f.model, "--out", deep); code != 0 {
		t.Errorf("export into a folder not made yet: exit %d\n%s", code, stderr)
	} else if _, err := os.Stat(deep); err != nil {
		t.Errorf("export into a folder not made yet: %v", err)
	}
}

// TestOutputsCheckedBeforeTraining (issue 18, item 5): a folder, a path
// below a file, or an unwritable place as --out or --metrics is refused
// at once, before any data is loaded or epoch trained, with exit code 2.
func TestOutputsCheckedBeforeTraining(t *testing.T) {
	f := newFixtures(t)
	// Links that cannot be written through: a loop, and one into a
	// folder that does not exist.
	links := t.TempDir()
	loop, dangling := filepath.Join(links, "loop1"), filepath.Join(links, "dangling")
	os.Symlink("loop2", loop)
	os.Symlink("loop1", filepath.Join(links, "loop2"))
	os.Symlink("missing/target.safetensors", dangling)
	for _, c := range []struct{ flag, path, want string }{
		{"--out", loop, "too many levels of symbolic links"},
		{"--metrics", loop, "too many levels of symbolic links"},
		{"--out", dangling, "is a symbolic link to " + filepath.Join(links, "missing", "target.safetensors") + ", in a folder that does not exist"},
		{"--out", f.folder, "is a directory"},
		{"--out", filepath.Join(f.file, "m.safetensors"), "is a file, not a folder"},
		{"--out", "/proc/cnngpu-test.safetensors", "cannot write in /proc"},
		{"--metrics", f.folder, "is a directory"},
		{"--metrics", filepath.Join(f.file, "m.jsonl"), "is a file, not a folder"},
		{"--metrics", "/proc/cnngpu-test.jsonl", "cannot write in /proc"},
		// Standard output (a file by the shell's redirect, say): the
		// rename replaced the redirect's file.
		{"--metrics", "/dev/stdout", "names an open descriptor of this process"},
		{"--out", "/dev/fd/1", "names an open descriptor of this process"},
	} {
		args := []string{"train", "--cpu", "--data", f.data, "--epochs", "1", "--batch-size", "16", c.flag, c.path}
		if c.flag == "--metrics" {
			args = append(args, "--out", filepath.Join(f.cwd, "m.safetensors"))
		}
		stdout, stderr, code := runIn(t, f.cwd, 2*time.Minute, args...)
		if code != 2 || !strings.Contains(stderr, c.flag+" "+c.path) || !strings.Contains(stderr, c.want) || strings.Contains(stdout, "epoch") {
			t.Errorf("train %s %s: exit %d, want 2 before training\n%s\n%s", c.flag, c.path, code, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(f.cwd); len(entries) > 0 {
		t.Errorf("refused runs left %v", entries)
	}
	// The loop as --data: said to be one, exit 2 (it was sent to chmod).
	if _, stderr, code := runIn(t, f.cwd, time.Minute, "train", "--cpu", "--data", loop); code != 2 || !strings.Contains(stderr, "--data "+loop+": a symbolic link that leads back to itself") {
		t.Errorf("train --data LOOP: exit %d\n%s", code, stderr)
	}
}

// TestTrainLimitIsSaid (issue 18, item 8): a --train-limit above the
// images there are is said, not silently clamped; so is a --batch-size
// above them; once, not for each seed.
func TestTrainLimitIsSaid(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 100)
	_, stderr, code := runIn(t, dir, 2*time.Minute, "train", "--cpu", "--data", dir, "--epochs", "1", "--train-limit", "100000000", "--batch-size", "301",
		"--seeds", "1-2", "--out", filepath.Join(dir, "m.safetensors"))
	if code != 0 || strings.Count(stderr, "note: --train-limit 100000000 is more than the 300 training images there are; training on all 300\n") != 1 ||
		strings.Count(stderr, "note: --batch-size 301 is more than the 300 training images; each step takes all 300, one step an epoch\n") != 1 {
		t.Errorf("exit %d; want each note once\n%s", code, stderr)
	}
}

// TestTuneDryRunReadsItsData: with --data, a dry run plans the steps for
// that data's images (it planned them for MNIST's 60,000), and refuses
// data the run would refuse before it trains: a folder that is not
// there, a training set without a digit, or one whose folds leave a
// round without one (it said nothing, and the study failed at its start,
// on the cluster).
func TestTuneDryRunReadsItsData(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	out := filepath.Join(t.TempDir(), "study")
	grid := []string{"tune", "--dry-run", "--cpu", "--lr", "0.001", "--batch-size", "64", "--activation", "relu", "--out", out}
	stdout, stderr, code := cnngpu(t, nil, append(grid, "--data", dir)...)
	var n int
	if at := strings.Index(stdout, "(the steps an epoch are --data's: "); at >= 0 {
		fmt.Sscanf(stdout[at+len("(the steps an epoch are --data's: "):], "%d", &n)
	}
	if want := fmt.Sprintf(`(?m)^  lr 0\.001, batch 64, relu +%d steps/epoch`, (n+63)/64); code != 0 || n < 150 || n > 250 ||
		!regexp.MustCompile(want).MatchString(stdout) || !strings.Contains(stdout, "retrained on all 300 training images") {
		t.Errorf("a dry run on 300 images: exit %d, %d a run; want about 200 and %q\n%s%s", code, n, want, stdout, stderr)
	}
	// Labels rewritten: digit 9 becomes 8 but for one image.
	relabel := func(keep int) string {
		d := t.TempDir()
		fakeMNIST(t, d, 300, 50)
		p := filepath.Join(d, "train-labels-idx1-ubyte.gz")
		zr, err := gzip.NewReader(strings.NewReader(readFile(t, p)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		for i := 8; i < len(b); i++ {
			if b[i] == 9 {
				if keep > 0 {
					keep--
				} else {
					b[i] = 8
				}
			}
		}
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(b)
		w.Close()
		os.WriteFile(p, z.Bytes(), 0o644)
		return d
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--data", filepath.Join(dir, "none")}, 2, "--data: data folder " + filepath.Join(dir, "none") + " does not exist"},
		{[]string{"--data", relabel(0)}, 1, "has no image of the digit 9, only of 0, 1, 2, 3, 4, 5, 6, 7 and 8"},
		{[]string{"--data", relabel(1), "--folds", "3"}, 2, "--folds 3: the training set has 1 image of the digit 9, so round "},
		// The optimizer's steps are counted over --data's images, not
		// MNIST's 60,000 (which refused the first).
		{[]string{"--data", dir, "--epochs", "200000"}, 0, ""},
		{[]string{"--data", dir, "--epochs", "70000", "--batch-size", "1"}, 2, "70000 epochs of batch 1 over 300 images (the final retraining's) are more than the 16777216 optimizer steps"},
		{[]string{"--data", dir, "--epochs", "100000", "--batch-size", "1", "--final=false"}, 2, "100000 epochs of batch 1 over " + strconv.Itoa(n) + " images (a run's training set) are more than"},
	} {
		_, stderr, code := cnngpu(t, nil, withFlags(grid, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("dry run %v: exit %d\n%s\nwant exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	// Files there but not MNIST's IDX (here a label file's magic number
	// damaged): refused as the run refuses them, not planned for MNIST.
	bad := t.TempDir()
	fakeMNIST(t, bad, 300, 50)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte{0, 0, 9, 9, 0, 0, 0, 1, 5})
	zw.Close()
	os.WriteFile(filepath.Join(bad, "train-labels-idx1-ubyte.gz"), z.Bytes(), 0o644)
	_, runErr, runCode := cnngpu(t, nil, "tune", "--cpu", "--lr", "0.001", "--batch-size", "64", "--activation", "relu", "--epochs", "1", "--final=false",
		"--data", bad, "--out", filepath.Join(t.TempDir(), "run"))
	_, stderr, code = cnngpu(t, nil, append(grid, "--data", bad)...)
	if code != 1 || runCode != 1 || stderr != runErr || !strings.Contains(stderr, "train-labels-idx1-ubyte") {
		t.Errorf("a dry run on a damaged label file: exit %d\n%s\nthe run: exit %d\n%s", code, stderr, runCode, runErr)
	}
	// A folder without the files yet (a cluster's data, planned from a
	// login node): said, and planned for MNIST.
	empty := t.TempDir()
	stdout, stderr, code = cnngpu(t, nil, append(grid, "--data", empty)...)
	if code != 0 || !strings.Contains(stderr, "note: the training data in "+empty+" could not be read to plan with: ") ||
		!strings.Contains(stdout, "(the steps an epoch are planned for MNIST's 60000 training images; the run counts --data's own)") {
		t.Errorf("a dry run on an empty --data: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a dry run made %s", out)
	}
}

// TestTuneDryRunChecksLikeARun: --dry-run refuses what the study itself
// would (engine flags that exclude each other, too many folds, a list
// with an empty item or a word, a folder holding another study, a folder
// inside one, the data folder), with exit code 2, and counts the runs a
// folder of the same study has finished.
func TestTuneDryRunChecksLikeARun(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	spec := &tune.Spec{Version: 1, LRs: []float64{0.001}, BatchSizes: []int{128}, Acts: []string{"relu"}, Epochs: 10, Optimizer: "adam",
		Seed: 7, Arch: "reference", ValSplit: 0.1, Shard: tune.Shard{N: 1}}
	if err := tune.Prepare(other, spec); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "study")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cpu", "--device", "0"}, "--cpu and --device exclude each other"},
		{[]string{"--cpu", "--devices", "0"}, "--devices excludes --cpu and --device"},
		{[]string{"--folds", "100000"}, "--folds 100000: expected 0 (a hold-out) or 2 to 60000"},
		{[]string{"--batch-size", "1,128", "--epochs", "300"}, "300 epochs of batch 1 over 60000 images (the final retraining's, of MNIST's) are more than the 16777216 optimizer steps"},
		{[]string{"--val-split", "0.99999999"}, "--val-split 0.99999999 leaves MNIST's validation set empty or its training set without a digit"},
		// Below the largest digit's bound (0.9999258), past the smallest's.
		{[]string{"--val-split", "0.99991"}, "expected at least 7.42e-05 and below 0.9999078"},
		{[]string{"--val-split", "0.00001"}, "--val-split 1e-05 leaves MNIST's validation set empty or its training set without a digit"},
		{[]string{"--shard", ""}, "--shard '': expected I/N (this process's part of the grid, e.g. 0/4) or auto/N; leave --shard out to train the whole grid"},
		{[]string{"--lr", "0.001,,0.01"}, "an empty item"},
		{[]string{"--lr", "0.001,abc"}, `"abc" is not valid: not a number`},
		{[]string{"--out", other, "--lr", "0.001", "--batch-size", "128", "--activation", "relu"}, "holds a different study (seed 7 in the folder, 1 given now"},
		{[]string{"--out", filepath.Join(other, tune.SpecFile)}, "is a file, not a folder"},
		// Inside another study's folder, or the data folder itself: an
		// output that is one of the inputs (they went on with a note).
		{[]string{"--out", filepath.Join(other, tune.RunsDir)}, "lies inside the study folder " + other + ": give this study a folder of its own"},
		{[]string{"--data", dir, "--out", dir}, "is the data folder the study reads (" + dir + ")"},
	} {
		args := append([]string{"tune", "--dry-run"}, c.args...)
		if !slices.Contains(c.args, "--out") {
			args = append(args, "--out", out)
		}
		_, stderr, code := cnngpu(t, nil, args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("cnngpu %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(args, " "), code, stderr, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a dry run made %s", out)
	}
	// A folder of studies' folders given as an argument: merge them.
	if _, stderr, code := cnngpu(t, nil, "tune", dir); code != 2 || !strings.Contains(stderr, "it holds studies' folders; to merge them, ") {
		t.Errorf("tune %s: exit %d\n%s", dir, code, stderr)
	}
	// A folder of the user's own files (--out . mistyped): said, and
	// the study goes on; one with a results.csv but no study is refused
	// without the hint to resume a study that is not there.
	mine := filepath.Join(dir, "mine")
	os.MkdirAll(filepath.Join(mine, ".git"), 0o755)
	for _, f := range []string{"a.txt", "b.png", "c.go", "d.md"} {
		os.WriteFile(filepath.Join(mine, f), []byte("x"), 0o644)
	}
	_, stderr, code := cnngpu(t, nil, "tune", "--dry-run", "--out", mine)
	if code != 0 || !strings.Contains(stderr, "note: --out "+mine+" already holds other files (a.txt, b.png, c.go and 1 more): the study's study.json, runs/") {
		t.Errorf("a dry run into a folder of other files: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cnngpu(t, nil, "tune", "--dry-run", "--out", out)
	if code != 0 || strings.Contains(stderr, "note:") {
		t.Errorf("a dry run into a new folder: exit %d\n%s", code, stderr)
	}
	os.WriteFile(filepath.Join(mine, tune.ResultsFile), []byte("a,b\n"), 0o644)
	_, stderr, code = cnngpu(t, nil, "tune", "--dry-run", "--out", mine)
	if code != 2 || !strings.Contains(stderr, "which a study writes: they would be replaced; use another --out folder") || strings.Contains(stderr, "resume") {
		t.Errorf("a dry run into a folder with a results.csv of its own: exit %d\n%s", code, stderr)
	}
}

// TestTrainOutputLocked: a training whose --out or --metrics another
// process is writing (its lock held) is refused, naming the file
// and the holder, and writes nothing; once the lock is released the same
// command trains, and leaves no lock file behind.
func TestTrainOutputLocked(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	fakeMNIST(t, data, 300, 100)
	out, metrics := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "m.jsonl")
	args := []string{"train", "--cpu", "--data", data, "--epochs", "1", "--train-limit", "100", "--quiet", "--out", out, "--metrics", metrics}
	for _, c := range []struct{ flag, file string }{{"--out", out}, {"--metrics", metrics}} {
		lock := filepath.Join(dir, "."+filepath.Base(c.file)+".lock")
		f, _, err := fileutil.TryLock(lock)
		if err != nil {
			t.Fatal(err)
		}
		_, stderr, code := cnngpu(t, nil, args...)
		fileutil.Unlock(lock, f)
		if code != 2 || !strings.Contains(stderr, c.flag+" "+c.file) || !strings.Contains(stderr, fmt.Sprintf("pid %d", os.Getpid())) ||
			!strings.Contains(stderr, "is training into that file now") {
			t.Errorf("%s held: exit %d, %q; want 2 naming the file and the holder", c.flag, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s held: a checkpoint was written", c.flag)
		}
	}
	if _, stderr, code := cnngpu(t, nil, args...); code != 0 {
		t.Fatalf("unlocked: exit %d: %s", code, stderr)
	}
	// --resume of a checkpoint another training writes now: refused as
	// that, before its contents (the other run's of the moment: here a
	// finished run) are judged.
	lock := filepath.Join(dir, "."+filepath.Base(out)+".lock")
	f, _, err := fileutil.TryLock(lock)
	if err != nil {
		t.Fatal(err)
	}
	for _, more := range [][]string{nil, {"--out", filepath.Join(dir, ".", filepath.Base(out))}} {
		_, stderr, code := cnngpu(t, nil, append([]string{"train", "--cpu", "--data", data, "--epochs", "2", "--resume", out}, more...)...)
		if code != 2 || !strings.Contains(stderr, "--resume "+out+": another process (pid") || !strings.Contains(stderr, "is training into that file now; wait for it to finish, or give this run an --out of its own") {
			t.Errorf("--resume of a checkpoint being written %v: exit %d, %q", more, code, stderr)
		}
	}
	fileutil.Unlock(lock, f)
	left, _ := filepath.Glob(filepath.Join(dir, ".*.lock"))
	if len(left) > 0 {
		t.Errorf("lock files left behind: %v", left)
	}
}

// TestTrainAndStudyKeepApart: a training into a study folder that a
// study holds now is refused, naming the holder, and writes nothing; a
// study in a folder where a training writes one of its files (its final
// model) is refused too, before it claims the folder. Each wrote over
// the other's file, the study's final.json then naming another model.
func TestTrainAndStudyKeepApart(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	fakeMNIST(t, data, 300, 100)
	study := filepath.Join(dir, "study")
	os.MkdirAll(study, 0o755)
	final := filepath.Join(study, tune.FinalModel)

	unlock, err := tune.Lock(study)
	if err != nil {
		t.Fatal(err)
	}
	// Its own folder, and one of its runs/ (whose run files the study
	// would find damaged).
	for _, out := range []string{final, filepath.Join(study, tune.RunsDir, "x.jsonl")} {
		_, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", data, "--epochs", "1", "--train-limit", "100", "--out", out)
		if want := fmt.Sprintf("--out %s: %s is a study that another process (pid %d", out, study, os.Getpid()); code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("train into a study folder in use: exit %d, no %q in\n%s", code, want, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("train into a study folder in use wrote %s", out)
		}
	}
	unlock()

	lock := filepath.Join(study, "."+tune.FinalModel+".lock")
	f, _, err := fileutil.TryLock(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer fileutil.Unlock(lock, f)
	for _, dry := range []bool{true, false} {
		args := []string{"tune", "--cpu", "--data", data, "--lr", "0.01", "--batch-size", "32", "--activation", "relu", "--epochs", "1", "--out", study}
		if dry {
			args = append(args, "--dry-run")
		}
		_, stderr, code := cnngpu(t, nil, args...)
		if want := fmt.Sprintf("%s: another process (pid %d", study, os.Getpid()); code != 2 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "is training into "+final+", in the study's folder") {
			t.Errorf("tune (dry run %v) where a training writes its final model: exit %d, no %q in\n%s", dry, code, want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(study, tune.SpecFile)); err == nil {
		t.Error("a study refused for a training in its folder claimed the folder")
	}
	// A training into its runs/ (whose file the study would find
	// damaged): refused too.
	runs := filepath.Join(study, tune.RunsDir)
	os.MkdirAll(runs, 0o755)
	rlock := filepath.Join(runs, ".x.jsonl.lock")
	rf, _, err := fileutil.TryLock(rlock)
	if err != nil {
		t.Fatal(err)
	}
	defer fileutil.Unlock(rlock, rf)
	fileutil.Unlock(lock, f)
	_, stderr, code := cnngpu(t, nil, "tune", "--cpu", "--data", data, "--lr", "0.01", "--batch-size", "32", "--activation", "relu", "--epochs", "1", "--out", study, "--dry-run")
	if want := "is training into " + filepath.Join(runs, "x.jsonl") + ", in the study's folder"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("tune where a training writes into its runs/: exit %d, no %q in\n%s", code, want, stderr)
	}
}

// TestResumeUnchanged: a checkpoint replaced between the resume's read and
// the output lock (another training's atomic write, or an edit in place)
// is refused, naming the file and what to do; one left alone is not.
func TestResumeUnchanged(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(p, []byte("epoch 3"), 0o644); err != nil {
		t.Fatal(err)
	}
	was, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := unchanged(p, was); err != nil {
		t.Fatalf("an untouched checkpoint: %v", err)
	}
	for name, change := range map[string]func() error{
		"replaced": func() error { return fileutil.WriteAtomic(p, []byte("epoch 4"), 0o644) },
		"grown": func() error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("!")
			return err
		},
		"removed": func() error { return os.Remove(p) },
	} {
		if err := os.WriteFile(p, []byte("epoch 3"), 0o644); err != nil {
			t.Fatal(err)
		}
		was, _ := os.Stat(p)
		if err := change(); err != nil {
			t.Fatal(err)
		}
		err := unchanged(p, was)
		if err == nil || !strings.Contains(err.Error(), "--resume "+p) || !strings.Contains(err.Error(), "run the command again") {
			t.Errorf("%s: %v; want an error naming --resume %s and what to do", name, err, p)
		}
	}
}

// TestServeSecondSignal: a stop waits for the requests in flight (here one
// whose client stalls mid-body), a repeat of the first signal at once is
// the same request, and a second Ctrl-C stops the process at once rather
// than after the wait, also where serve was started with SIGINT ignored
// (a background job of a script), then with exit code 130.
func TestServeSecondSignal(t *testing.T) {
	f := newFixtures(t)
	for _, ignored := range []bool{false, true} {
		t.Run(fmt.Sprintf("started ignoring SIGINT %v", ignored), func(t *testing.T) {
			args := []string{"serve", "--cpu", "--model", f.model, "--addr", "127.0.0.1:0"}
			cmd := exec.Command(binary_, args...)
			if ignored {
				cmd = exec.Command("sh", append([]string{"-c", `trap "" INT; exec "$0" "$@"`, binary_}, args...)...)
			}
			url, cmd, out := startServeCmd(t, cmd)
			serveSecondSignal(t, url, cmd, out, ignored)
		})
	}
}

func serveSecondSignal(t *testing.T, url string, cmd *exec.Cmd, out *lockedBuffer, ignored bool) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\nstall")
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	for start := time.Now(); !strings.Contains(out.String(), "shutting down"); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no shutdown after SIGTERM:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "Ctrl-C again stops at once") {
		t.Errorf("the shutdown does not say how to stop at once:\n%s", out.String())
	}
	// A repeat at once is the same request (as `timeout -s INT` sends it,
	// to the process and its group): the shutdown goes on.
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("a repeat of the first signal ended serve: %v\n%s", err, out.String())
	case <-time.After(repeatWindow + 300*time.Millisecond):
	}
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 || ignored && ee.ExitCode() != 130 {
			t.Errorf("serve after a second signal: %v, want it stopped by the signal (exit code 130 where it was started ignoring SIGINT)", err)
		}
		if d := time.Since(start); d > shutdownWait/2 {
			t.Errorf("serve stopped %s after the second signal", d)
		}
	case <-time.After(shutdownWait / 2):
		t.Errorf("serve still waiting %s after a second signal:\n%s", shutdownWait/2, out.String())
	}
}

// TestServeStdoutReaderGone: a script that reads serve's first line for
// its address and then closes the pipe (or serve | head -1) leaves the
// server serving; a SIGTERM then stops it with exit code 0, the lost
// status lines said once on standard error (before, serve stopped
// silently with exit code 141, at its second line or at its shutdown).
func TestServeStdoutReaderGone(t *testing.T) {
	f := newFixtures(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary_, "serve", "--cpu", "--model", f.model, "--addr", "127.0.0.1:0")
	cmd.Stdout = pw
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(pr).ReadString('\n')
	pr.Close() // the reader goes away after the first line
	i := strings.Index(line, "http://")
	if err != nil || i < 0 {
		t.Fatalf("serve's first line: %q, %v\n%s", line, err, stderr.String())
	}
	url := strings.TrimSuffix(strings.Fields(line[i:])[0], "/")
	time.Sleep(300 * time.Millisecond) // for a second line that would stop it
	for k := 0; k < 3; k++ {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatalf("serve after its reader went: %v\n%s", err, stderr.String())
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz: %d", resp.StatusCode)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve stopped by SIGTERM: %v, want exit code 0\n%s", err, stderr.String())
	}
	if got := strings.Count(stderr.String(), "status lines could not be written to standard output"); got != 1 {
		t.Errorf("the lost status lines said %d times, want once:\n%s", got, stderr.String())
	}
}

// TestPredictIDXLabelsJSON: with --labels, each JSON line carries its
// image's label beside the prediction, and the accuracy line agrees.
func TestPredictIDXLabelsJSON(t *testing.T) {
	f := newFixtures(t)
	images, labels := filepath.Join(f.data, "t10k-images-idx3-ubyte.gz"), filepath.Join(f.data, "t10k-labels-idx1-ubyte.gz")
	raw, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	want, err := loader.ParseLabels("labels", raw)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cnngpu(t, nil, "predict", "--cpu", "--model", f.model, "--json", "--idx", images, "--labels", labels)
	if code != 0 {
		t.Fatalf("predict --idx --labels --json: %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != want.N {
		t.Fatalf("%d lines for %d images", len(lines), want.N)
	}
	right, unsure, unsureRight := 0, 0, 0
	for i, line := range lines {
		var p struct {
			Index, Label, Digit *int
			Probability         float64
			Unsure              *bool
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.Index == nil || p.Label == nil || p.Digit == nil || p.Unsure == nil {
			t.Fatalf("line %d %q: %v; want index, label, digit and unsure", i, line, err)
		}
		if *p.Index != i || *p.Label != int(want.Values[i]) {
			t.Fatalf("line %d: index %d label %d, want %d and %d", i, *p.Index, *p.Label, i, want.Values[i])
		}
		if *p.Unsure != (p.Probability < server.UnsureBelow) {
			t.Fatalf("line %d: unsure %v at probability %v", i, *p.Unsure, p.Probability)
		}
		if *p.Digit == *p.Label {
			right++
		}
		if *p.Unsure {
			unsure++
			if *p.Digit == *p.Label {
				unsureRight++
			}
		}
	}
	// (The fixture's model is untrained: every read is unsure.)
	if acc := fmt.Sprintf("(%d of %d); %d read unsure (the digit under 50%%), %d of them right\n", right, want.N, unsure, unsureRight); unsure == 0 || !strings.Contains(stderr, acc) {
		t.Errorf("accuracy line %q, want %s", stderr, acc)
	}
}

// TestPredictMarksUnsure: an image read at less than even odds is marked
// unsure on its line, and a note after the lines says what that means
// (in JSON, its object's "unsure").
func TestPredictMarksUnsure(t *testing.T) {
	f := newFixtures(t)
	stdout, stderr, code := cnngpu(t, nil, "predict", "--cpu", "--threads", "1", "--model", f.model, "--json", f.png)
	var p server.Result
	if err := json.Unmarshal([]byte(stdout), &p); code != 0 || err != nil {
		t.Fatalf("predict --json: %d %v %q %q", code, err, stdout, stderr)
	}
	if !p.Unsure || p.Probability >= server.UnsureBelow || strings.Contains(stderr, "unsure") {
		t.Fatalf("the untrained model's read %+v (stderr %q): want it unsure, and no note beside JSON", p, stderr)
	}
	stdout, stderr, code = cnngpu(t, nil, "predict", "--cpu", "--threads", "1", "--model", f.model, f.png)
	if want := fmt.Sprintf(": %d (%.1f%%, unsure)  top 3: ", p.Digit, 100*p.Probability); code != 0 || !strings.Contains(stdout, want) ||
		!strings.Contains(stderr, "note: the image read unsure: the model gives the digit less than even odds (under 50%)") {
		t.Errorf("predict: %d %q %q; want a line with %q and the note", code, stdout, stderr, want)
	}
}

// TestPredictIDXChunks: an IDX file larger than one chunk is classified
// chunk by chunk with every line in its place (image j is a copy of
// image j mod 100, so its line must match that image's), and a write that
// fails (a full disk) is an error, not an exit 0 with lines missing.
func TestPredictIDXChunks(t *testing.T) {
	f := newFixtures(t)
	raw, err := os.ReadFile(filepath.Join(f.data, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := loader.ParseImages("test", raw)
	if err != nil {
		t.Fatal(err)
	}
	n := 2*predictChunk + 7
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{loader.MagicImages, uint32(n), 28, 28})
	for j := 0; j < n; j++ {
		k := j % im.N
		b.Write(im.Pixels[k*784 : (k+1)*784])
	}
	big := filepath.Join(f.root, "big.idx")
	os.WriteFile(big, b.Bytes(), 0o644)
	stdout, stderr, code := cnngpu(t, nil, "predict", "--cpu", "--threads", "1", "--model", f.model, "--idx", big)
	if code != 0 {
		t.Fatalf("predict --idx %d images: %d %s", n, code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines for %d images", len(lines), n)
	}
	for j, line := range lines {
		k := j % im.N
		idx, rest, _ := strings.Cut(line, " ")
		_, want, _ := strings.Cut(lines[k], " ")
		if idx != strconv.Itoa(j) || rest != want {
			t.Fatalf("line %d %q: want index %d and %q (image %d's)", j, line, j, want, k)
		}
	}
	for _, args := range [][]string{{"--idx", big}, {f.png}} {
		expectFullDiskFailure(t, "writing the predictions", append([]string{"predict", "--cpu", "--threads", "1", "--model", f.model}, args...)...)
	}
}

// TestEvalSaysAPartEpoch: a checkpoint saved in the middle of an epoch
// (an interrupted run) is said to be trained that far, not whole epochs.
func TestEvalSaysAPartEpoch(t *testing.T) {
	f := newFixtures(t)
	mid := filepath.Join(f.root, "mid.safetensors")
	writeModel(t, mid, func(ck *engine.Checkpoint) { ck.Config.Epochs, ck.Position = 3, engine.Position{Epoch: 2, Step: 5} })
	stdout, stderr, code := cnngpu(t, nil, "eval", "--cpu", "--threads", "1", "--data", f.data, "--model", mid)
	if code != 0 || !strings.Contains(stdout, "trained 2 epochs and 5 steps of epoch 3, cut short of its 3: it continues with ") {
		t.Errorf("eval of a checkpoint saved at step 5 of epoch 3: %d %q %q", code, stdout, stderr)
	}
}

// TestLongOutName: an --out name as long as the system allows (255
// bytes) trains and is written: the files kept beside it (its lock, its
// temporary file) have shortened names of their own.
func TestLongOutName(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	fakeMNIST(t, data, 300, 100)
	out := filepath.Join(dir, strings.Repeat("m", 255-len(".safetensors"))+".safetensors")
	_, stderr, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", data, "--epochs", "1", "--train-limit", "100", "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("train --out of a 255-byte name: exit %d, %s", code, stderr)
	}
	if _, err := engine.LoadCheckpoint(out); err != nil {
		t.Error(err)
	}
}

// TestPredictEngineDefault: image files, up to cpuPredictMax of them, are
// classified on the CPU engine when no engine is asked for, without
// looking for a GPU (whose start takes longer than they do), and in the
// order given though read several at once (a file that fails keeps its
// place); more files, or --precision tf32, look for GPU 0 as the other
// commands do.
func TestPredictEngineDefault(t *testing.T) {
	f := newFixtures(t)
	stdout, stderr, code := runIn(t, f.cwd, time.Minute, "predict", "--model", f.model, f.png)
	// The note, with the hint to use the GPU, only where the NVIDIA driver
	// is (without it there is no GPU to choose, and --device 0 only fails).
	note := "note: using the CPU engine: one image takes less time on it than a GPU takes to start (--device 0 for the GPU)\n"
	if noted := strings.Contains(stderr, "note: using the CPU engine"); noted != nvidiaDriverPresent() {
		t.Errorf("predict IMG with no engine flag, NVIDIA driver present %v: a note %v\n%s", nvidiaDriverPresent(), noted, stderr)
	} else if !noted {
		note = ""
	}
	if code != 0 || !strings.Contains(stderr, note) ||
		strings.Contains(stderr, "libcuda") || strings.Contains(stderr, "GPU 0") || !strings.HasPrefix(stdout, f.png+": ") {
		t.Errorf("predict IMG with no engine flag: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// In order, each file's result its own: every third file a blank
	// image (refused: no ink), one file missing; a result given to another
	// file moves those errors.
	img, err := os.ReadFile(f.png)
	if err != nil {
		t.Fatal(err)
	}
	blank := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range blank.Pix {
		blank.Pix[i] = 255
	}
	var bb bytes.Buffer
	png.Encode(&bb, blank)
	var files []string
	failing := map[string]bool{}
	for i := range cpuPredictMax + 1 {
		name := filepath.Join(f.root, fmt.Sprintf("d%04d.png", i))
		switch {
		case i == 7:
			failing[name] = true // missing
		case i%3 == 2:
			os.WriteFile(name, bb.Bytes(), 0o644)
			failing[name] = true
		default:
			os.WriteFile(name, img, 0o644)
		}
		files = append(files, name)
	}
	stdout, stderr, code = runIn(t, f.cwd, 2*time.Minute, append([]string{"predict", "--json", "--model", f.model}, files[:cpuPredictMax]...)...)
	if code != 1 || strings.Contains(stderr, "1000 images take less time on it than a GPU takes to start") != nvidiaDriverPresent() ||
		!strings.Contains(stderr, fmt.Sprintf("%d of 1000 images could not be classified", 1+cpuPredictMax/3)) {
		t.Errorf("predict of %d files with no engine flag: exit %d\n%s", cpuPredictMax, code, stderr)
	}
	var got []string
	for line := range strings.Lines(stdout) {
		var r struct{ File, Error string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("predict --json: line %q: %v", line, err)
		}
		if (r.Error != "") != failing[r.File] {
			t.Errorf("predict --json: %s: error %q; want one: %v (its result is another file's)", r.File, r.Error, failing[r.File])
		}
		got = append(got, r.File)
	}
	if !slices.Equal(got, files[:cpuPredictMax]) {
		t.Errorf("predict --json of %d files: the lines name other files or another order than given", cpuPredictMax)
	}
	// More files, or tf32: GPU 0 is looked for (without one here, the
	// fall-back's note).
	for _, args := range [][]string{append([]string{"--model", f.model}, files...), {"--precision", "tf32", "--model", f.model, f.png}} {
		_, stderr, _ = runIn(t, f.cwd, 2*time.Minute, append([]string{"predict"}, args...)...)
		if strings.Contains(stderr, "take less time on it") || strings.Contains(stderr, "takes less time on it") {
			t.Errorf("predict %s: the CPU taken without looking for a GPU\n%s", args[0], stderr)
		}
	}
}

// TestReadDigitsThreads: predict's image files are read one a core, at
// most 8, or --threads at a time where it is given (it read on every
// core whatever --threads said).
func TestReadDigitsThreads(t *testing.T) {
	defer func(r func(string) ([]float32, error)) { readImage = r }(readImage)
	var now, most atomic.Int64
	readImage = func(string) ([]float32, error) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
		return nil, nil
	}
	dir := t.TempDir()
	var files []string
	for i := range 12 {
		f := filepath.Join(dir, fmt.Sprintf("%d.png", i))
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, c := range []struct{ threads, want int64 }{{1, 1}, {3, 3}, {0, 4}, {20, 8}} {
		most.Store(0)
		readDigits(files, int(c.threads))
		if got := most.Load(); got != c.want {
			t.Errorf("--threads %d on 4 cores: %d files read at once, want %d", c.threads, got, c.want)
		}
	}
}

// TestBenchInterrupted: Ctrl-C during bench's timed steps prints what was
// timed (it printed nothing), says how many steps that is, and exits 130.
func TestBenchInterrupted(t *testing.T) {
	for _, json_ := range []bool{false, true} {
		args := []string{"bench", "--cpu", "--threads", "1", "--batch-size", "8", "--steps", "1000000", "--warmup", "0"}
		if json_ {
			args = append(args, "--json")
		}
		var stdout, stderr string
		// The signal must come once bench is timing (its handler
		// installed): a slow start is given longer.
		for delay := 2 * time.Second; ; delay *= 2 {
			cmd := exec.Command(binary_, args...)
			var so, se bytes.Buffer
			cmd.Stdout, cmd.Stderr = &so, &se
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(delay, func() { cmd.Process.Signal(os.Interrupt) })
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("bench interrupted: %v, want exit 130\n%s%s", err, so.String(), se.String())
			}
			if ee.ExitCode() == -1 && delay < 16*time.Second {
				continue // ended by the signal itself: sent too early
			}
			if ee.ExitCode() != 130 {
				t.Fatalf("bench interrupted: %v, want exit 130\n%s%s", err, so.String(), se.String())
			}
			stdout, stderr = so.String(), se.String()
			break
		}
		if !regexp.MustCompile(`interrupted: \d+ of 1000000 training steps timed; the figures printed are over those`).MatchString(stderr) {
			t.Errorf("stderr: %q; want how many steps were timed", stderr)
		}
		if json_ {
			var r benchResult
			if err := json.Unmarshal([]byte(stdout), &r); err != nil || !r.Interrupted || r.Steps < 1 || r.Steps >= 1000000 || r.InferSteps != 0 || r.InferImagesSec != nil || r.TrainImagesSec <= 0 {
				t.Errorf("--json interrupted: %v %+v; want the training steps timed, interrupted, no inference", err, r)
			}
			continue
		}
		if !regexp.MustCompile(`(?s)\d+ of 1000000 steps timed after 0 warm-up.*training +\d+ images/s.*inference   not timed \(interrupted\)`).MatchString(stdout) {
			t.Errorf("stdout:\n%s\nwant the training steps timed and no inference", stdout)
		}
	}
}

// TestPredictQuotesControlCharacters: a file name with a newline, a
// right-to-left override or bytes that are not UTF-8 is quoted in
// predict's lines (a newline printed a line that read as another file's
// result), on stdout and stderr; others are shown as given.
func TestPredictQuotesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.safetensors")
	writeModel(t, model, nil)
	forged := filepath.Join(dir, "a\nb.png: 1 (99.0%)  top 3: 1 99.0%, 2 0.5%, 3 0.5%\nc.png")
	plain := filepath.Join(dir, "plain.png")
	for _, f := range []string{forged, plain} {
		if err := os.WriteFile(f, digitPNG(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reversed, bytes_ := filepath.Join(dir, "a\u202egnp.png"), filepath.Join(dir, "\xff.png") // a right-to-left override; not UTF-8
	for _, f := range []string{reversed, bytes_} {
		if err := os.WriteFile(f, digitPNG(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "no\nsuch.png")
	stdout, stderr, code := cnngpu(t, nil, "predict", "--cpu", "--model", model, forged, plain, reversed, bytes_, missing)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 1 || len(lines) != 4 || !strings.HasPrefix(lines[0], strconv.Quote(forged)+": ") || !strings.HasPrefix(lines[1], plain+": ") ||
		!strings.HasPrefix(lines[2], strconv.Quote(reversed)+": ") || !strings.HasPrefix(lines[3], strconv.Quote(bytes_)+": ") ||
		!strings.Contains(stderr, strconv.Quote(missing)+": no such file") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant four lines, the plain file's name alone as given, and the missing one's quoted", code, stdout, stderr)
	}
}

// TestMergeFinalOtherData: `tune merge --final --data DIR` whose shards
// trained on other data is refused (exit 2, naming both fingerprints)
// before the merge writes anything; before 2026-12-06 the merge was
// written first and the retraining refused after.
func TestMergeFinalOtherData(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	os.MkdirAll(data, 0o755)
	fakeMNIST(t, data, 300, 100)
	var shards []string
	for i := 0; i < 2; i++ {
		spec := &tune.Spec{Version: 1, LRs: []float64{0.001, 0.002}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 1,
			Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.2, Shard: tune.Shard{I: i, N: 2}, Data: "crc32c:0badda7a"}
		d := filepath.Join(root, fmt.Sprintf("shard%d", i))
		if err := tune.Prepare(d, spec); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, d)
	}
	out := filepath.Join(root, "merged")
	stdout, stderr, code := runIn(t, root, time.Minute, "tune", "merge", "--final", "--allow-missing", "--cpu", "--data", data, "--out", out, shards[0], shards[1])
	if code != 2 || !strings.Contains(stderr, shards[0]+" holds a study trained on other data (training data crc32c:0badda7a in the folder, ") ||
		!strings.Contains(stderr, "given for the final retraining); give --data for the data the shards trained on, or merge without --final") {
		t.Errorf("tune merge --final --data OTHER: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a merge refused for its data wrote %s", out)
	}
}

// TestMergeSaysDataTakenOn: a shard from before studies recorded their
// training data, merged with one that records it, is named as taken on
// that data (it was merged without a word); a refused merge says nothing
// of it.
func TestMergeSaysDataTakenOn(t *testing.T) {
	root := t.TempDir()
	var shards []string
	for i := 0; i < 3; i++ { // shard 0/2 recording no data; 1/2 recording it, with its run and without
		spec := &tune.Spec{Version: 1, LRs: []float64{0.001, 0.002}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 1,
			Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.2, Shard: tune.Shard{I: min(i, 1), N: 2, Split: tune.SplitCost}}
		if i > 0 {
			spec.Data = "crc32c:1234abcd"
		}
		d := filepath.Join(root, fmt.Sprintf("shard%d", i))
		if err := tune.Prepare(d, spec); err != nil {
			t.Fatal(err)
		}
		for _, c := range spec.Mine() {
			if i == 2 {
				break
			}
			r := &tune.Run{Config: c, Done: true, Seconds: 1, Epochs: []engine.EpochMetrics{{Epoch: 1, TrainLoss: 1, TrainAcc: 0.5, ValLoss: 1, ValAcc: 0.5}}}
			if err := r.Save(tune.RunPath(d, c, 0, 0)); err != nil {
				t.Fatal(err)
			}
		}
		shards = append(shards, d)
	}
	note := "note: " + shards[0] + " does not record the data its runs trained on"
	_, stderr, code := runIn(t, root, time.Minute, "tune", "merge", "--out", filepath.Join(root, "refused"), shards[0], shards[2])
	if code == 0 || !strings.Contains(stderr, "do not cover the grid") || strings.Contains(stderr, note) {
		t.Errorf("a merge refused (a run missing): exit %d, want no note on the data\n%s", code, stderr)
	}
	merged := filepath.Join(root, "merged")
	_, stderr, code = runIn(t, root, time.Minute, "tune", "merge", "--dry-run", "--out", merged, shards[0], shards[1])
	if code != 0 || !strings.Contains(stderr, note) || !strings.Contains(stderr, "its finished runs would be taken as trained on the data "+shards[1]+" records") {
		t.Errorf("a dry run of that merge: exit %d, want the note, in the conditional\n%s", code, stderr)
	}
	_, stderr, code = runIn(t, root, time.Minute, "tune", "merge", "--out", merged, shards[0], shards[1])
	if code != 0 || !strings.Contains(stderr, note) || !strings.Contains(stderr, "its finished runs are taken as trained on the data "+shards[1]+" records") {
		t.Errorf("merging a shard that records no data with one that does: exit %d, want the note\n%s", code, stderr)
	}
	// Merged again, nothing new is taken from it: nothing to say.
	_, stderr, code = runIn(t, root, time.Minute, "tune", "merge", "--out", merged, shards[0], shards[1])
	if code != 0 || strings.Contains(stderr, note) {
		t.Errorf("the same merge again: exit %d, want no note\n%s", code, stderr)
	}
	// tune's dry run on the shard says what the run would take on.
	_, stderr, code = runIn(t, root, time.Minute, "tune", "--dry-run", "--recipe", "reference", "--lr", "0.001,0.002", "--batch-size", "32", "--activation", "relu",
		"--epochs", "1", "--val-split", "0.2", "--shard", "0/2", "--out", shards[0])
	if code != 0 || !strings.Contains(stderr, note+" (an earlier cnngpu made it, or merged it from such folders): it would take its 1 finished run as trained on the data the run is given") {
		t.Errorf("tune --dry-run on a shard that records no data: exit %d, want the note\n%s", code, stderr)
	}
}

// TestClosedStdout: a training whose standard output's reader goes (as
// `| head -4` or a pager that quits) stops as if interrupted (exit 130,
// said on standard error), keeping the epochs it finished, the one whose
// line found the pipe closed included (it was killed by SIGPIPE at that
// line before). A command that ends for it alone, its output's reader
// gone, exits 141 (as a process killed by SIGPIPE) and says nothing:
// --help, and predict of an IDX file's images piped to head.
func TestClosedStdout(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 100)
	out := filepath.Join(dir, "m.safetensors")
	// The engine, data and model lines, then the first epoch's.
	stderr, err := headOf(t, 4, "train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "30", "--batch-size", "16", "--out", out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.Contains(stderr, "standard output was closed") ||
		!strings.Contains(stderr, "checkpoint saved to "+out) {
		t.Fatalf("train with its standard output closed: %v\n%s", err, stderr)
	}
	ck, err := engine.LoadCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Position.Epoch < 2 {
		t.Errorf("the checkpoint kept epoch %d: the epoch whose line met the closed pipe (the second) was lost", ck.Position.Epoch)
	}
	if _, err := os.Stat(filepath.Join(dir, ".m.safetensors.lock")); err == nil {
		t.Error("the run left its lock behind")
	}

	// A command that finishes, its output's reader gone before it wrote.
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rd.Close()
	help := exec.Command(binary_, "--help")
	help.Stdout = wr
	var herr bytes.Buffer
	help.Stderr = &herr
	err = help.Run()
	wr.Close()
	if !errors.As(err, &ee) || ee.ExitCode() != 141 || herr.Len() != 0 {
		t.Errorf("--help into a closed pipe: %v, standard error %q; want exit 141 and nothing said", err, herr.String())
	}
	// More images than a pipe holds in one write: the first write blocks
	// until read, and the pipe is closed under it.
	many := filepath.Join(dir, "many")
	os.Mkdir(many, 0o755)
	fakeMNIST(t, many, 10, 5000)
	perr, err := headOf(t, 1, "predict", "--cpu", "--model", out, "--idx", filepath.Join(many, "t10k-images-idx3-ubyte.gz"))
	// (Its note that the model is a run cut short is said, as always.)
	if !errors.As(err, &ee) || ee.ExitCode() != 141 || strings.Contains(perr, "cnngpu:") || strings.Contains(perr, "broken pipe") {
		t.Errorf("predict --idx piped to head -1: %v, standard error %q; want exit 141 and no error said", err, perr)
	}
}

// headOf runs the binary with args as `| head -n` would: it reads the
// first n lines of its standard output, closes the pipe, and returns how
// the process ended and its standard error (failing the test where the
// lines do not come, or the process goes on for 2 minutes after).
func headOf(t *testing.T, n int, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary_, args...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(pipe)
	for range n {
		if _, err := r.ReadString('\n'); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s: reading the first %d lines: %v\n%s", args[0], n, err, stderr.String())
		}
	}
	pipe.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s went on for 2 minutes with standard output closed:\n%s", args[0], stderr.String())
	}
	return stderr.String(), err
}

// TestMergeIntoUnwritableRuns: `tune merge` into an --out whose runs
// folder its user cannot write is refused (exit 2, naming the folder)
// before anything is written there, rather than after study.json was
// (the hostile-user pass found it half made). As another user (nobody,
// through runuser), so only where the tests run as root.
func TestMergeIntoUnwritableRuns(t *testing.T) {
	runuser, uid := asNobody(t)
	root, err := os.MkdirTemp("", "cnngpu-merge-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	bin, shard, out := filepath.Join(root, "cnngpu"), filepath.Join(root, "shard"), filepath.Join(root, "out")
	spec := &tune.Spec{Version: 1, LRs: []float64{0.001}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 1,
		Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.2}
	if err := tune.Prepare(shard, spec); err != nil {
		t.Fatal(err)
	}
	c := spec.Configs()[0]
	r := &tune.Run{Config: c, Done: true, Seconds: 1, Epochs: []engine.EpochMetrics{{Epoch: 1, TrainLoss: 0.5, TrainAcc: 0.8, ValLoss: 0.6, ValAcc: 0.7, Seconds: 1}}}
	if err := r.Save(tune.RunPath(shard, c, 0, 0)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error { return os.Chmod(root, 0o755) },
		func() error { return os.WriteFile(bin, []byte(readFile(t, binary_)), 0o755) },
		func() error { return os.Mkdir(out, 0o755) },
		func() error { return os.Chown(out, uid, -1) },
		func() error { return os.Mkdir(filepath.Join(out, tune.RunsDir), 0o755) }, // root's
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(runuser, "-u", "nobody", "--", bin, "tune", "merge", "--out", out, shard)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(b), filepath.Join(out, tune.RunsDir)+" is not writable") {
		t.Errorf("tune merge into a runs folder it cannot write: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, tune.SpecFile)); err == nil {
		t.Error("the refused merge wrote study.json")
	}
}

// TestPermissionHint: a failure the system refused for lack of permission
// gets a hint naming the user and what to check, once; other failures, and
// messages that have a hint of their own, get none. And end to end: eval
// with a --model its user may not read (as nobody, through runuser, so
// only where the tests run as root) names the file and gives the hint.
func TestPermissionHint(t *testing.T) {
	denied := fmt.Errorf("--model: checkpoint: %w", &fs.PathError{Op: "open", Path: "m.safetensors", Err: syscall.EACCES})
	if h := permissionHint(denied); !strings.HasPrefix(h, "hint: cnngpu runs as ") || !strings.Contains(h, "permissions") {
		t.Errorf("permission denied: hint %q", h)
	}
	for _, err := range []error{
		fmt.Errorf("--model: checkpoint: %w", &fs.PathError{Op: "open", Path: "m.safetensors", Err: syscall.ENOENT}),
		fmt.Errorf("%w\nhint: do this instead", denied),
	} {
		if h := permissionHint(err); h != "" {
			t.Errorf("%v: hint %q, want none", err, h)
		}
	}
	runuser, _ := asNobody(t)
	fx := newFixtures(t)
	root, err := os.MkdirTemp("", "cnngpu-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	bin, model := filepath.Join(root, "cnngpu"), filepath.Join(root, "m.safetensors")
	for _, f := range []func() error{
		func() error { return os.Chmod(root, 0o755) },
		func() error { return os.WriteFile(bin, []byte(readFile(t, binary_)), 0o755) },
		func() error { return os.WriteFile(model, []byte(readFile(t, fx.model)), 0o600) }, // root's
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := exec.Command(runuser, "-u", "nobody", "--", bin, "eval", "--cpu", "--model", model).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), model+": permission denied") ||
		!strings.Contains(string(b), "hint: cnngpu runs as user nobody") {
		t.Errorf("eval --model on a file nobody may not read: %v\n%s", err, b)
	}
	// An image predict may not read: the hint once, after the lines.
	readable, img := filepath.Join(root, "r.safetensors"), filepath.Join(root, "digit.png")
	if err := os.WriteFile(readable, []byte(readFile(t, fx.model)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, []byte(readFile(t, fx.png)), 0o600); err != nil { // root's
		t.Fatal(err)
	}
	b, err = exec.Command(runuser, "-u", "nobody", "--", bin, "predict", "--cpu", "--model", readable, img, img).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), img+": permission denied") ||
		strings.Count(string(b), "hint: cnngpu runs as user nobody") != 1 {
		t.Errorf("predict of an image nobody may not read: %v\n%s", err, b)
	}
}

// TestPredictJSONNonUTF8Name: predict --json names a file whose name is
// not UTF-8 (which a JSON string cannot hold) in file_base64 too, byte for
// byte, for a classified image and a failed one; a UTF-8 name has none.
func TestPredictJSONNonUTF8Name(t *testing.T) {
	f := newFixtures(t)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "ok\xff.png"), filepath.Join(dir, "no\xfe.png")
	if err := os.WriteFile(good, []byte(readFile(t, f.png)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cnngpu(t, nil, "predict", "--cpu", "--json", "--model", f.model, good, bad, f.png)
	if code != 1 {
		t.Fatalf("predict: exit %d, want 1 (one file failed)\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want 3:\n%s", len(lines), stdout)
	}
	for i, want := range []string{good, bad, ""} {
		var rec struct {
			File       string  `json:"file"`
			FileBase64 *string `json:"file_base64"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if want == "" {
			if rec.FileBase64 != nil {
				t.Errorf("UTF-8 name %q: file_base64 %q, want none", rec.File, *rec.FileBase64)
			}
			continue
		}
		if rec.FileBase64 == nil {
			t.Errorf("line %d: no file_base64 for %q", i, rec.File)
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(*rec.FileBase64); err != nil || string(b) != want {
			t.Errorf("line %d: file_base64 decodes to %q (%v), want %q", i, b, err, want)
		}
	}
}

// TestBlownUpTrainingSaysSo: a rate that blows the training up while its
// loss stays finite (--lr 1000, constant) finishes, but says that its
// chance accuracy and huge test loss come from the rate (it exited 0
// unsaid); a run at the default rate on the same data, which learns
// little from these random images, says nothing of the kind.
func TestBlownUpTrainingSaysSo(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 100)
	for _, c := range []struct {
		lr   string
		note bool
	}{{"1000", true}, {"0.003", false}} {
		_, stderr, code := runIn(t, dir, 2*time.Minute, "train", "--cpu", "--data", dir, "--lr", c.lr, "--schedule", "constant", "--epochs", "1",
			"--batch-size", "16", "--out", filepath.Join(dir, "m"+c.lr+".safetensors"))
		said := strings.Contains(stderr, "the training blew up without turning NaN") && strings.Contains(stderr, "--lr "+c.lr+" with adam")
		if code != 0 || said != c.note {
			t.Errorf("--lr %s: exit %d, note %v (want %v)\n%s", c.lr, code, said, c.note, stderr)
		}
	}
}

// TestCheckpointNamesEscaped: names a checkpoint carries (its training
// data's fingerprint and folder), written to the terminal in a message
// or a hint, have their control characters escaped: a crafted file's
// escape sequences reached stderr raw.
func TestCheckpointNamesEscaped(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 100)
	ck := filepath.Join(dir, "crafted.safetensors")
	writeModel(t, ck, func(c *engine.Checkpoint) {
		c.Config = engine.TrainConfig{Epochs: 3, BatchSize: 16, Seed: 1, Data: "other \x1b[31mRED\x1b[0m", DataDir: "/nonexist/\x1b[2Jdir"}
	})
	_, stderr, code := runIn(t, dir, time.Minute, "train", "--cpu", "--data", dir, "--resume", ck)
	if code != 2 || strings.Contains(stderr, "\x1b") || !strings.Contains(stderr, `resume with --data $'/nonexist/\x1b[2Jdir'`) ||
		!strings.Contains(stderr, `trained on other data ("other \x1b[31mRED\x1b[0m", from "/nonexist/\x1b[2Jdir")`) {
		t.Errorf("a checkpoint naming its data with escape sequences: exit %d, stderr %q", code, stderr)
	}
}

// TestJSONNamesNotUTF8: train --json and eval --json give a checkpoint's
// name that is not UTF-8 byte for byte in checkpoint_base64 and
// model_base64 (their "checkpoint" and "model" hold U+FFFD for the bad
// byte, a file that does not exist), as predict gives file_base64.
func TestJSONNamesNotUTF8(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 100)
	out := filepath.Join(dir, "bad\xff.safetensors")
	stdout, stderr, code := runIn(t, dir, time.Minute, "train", "--cpu", "--data", dir, "--epochs", "1", "--batch-size", "16", "--out", out, "--json")
	var tr struct {
		CheckpointBase64 string `json:"checkpoint_base64"`
	}
	if err := json.Unmarshal([]byte(stdout), &tr); code != 0 || err != nil {
		t.Fatalf("train --json: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	if b, err := base64.StdEncoding.DecodeString(tr.CheckpointBase64); err != nil || string(b) != out {
		t.Errorf("train --json: checkpoint_base64 %q, want %s in base64", tr.CheckpointBase64, out)
	}
	stdout, stderr, code = runIn(t, dir, time.Minute, "eval", "--cpu", "--data", dir, "--model", out, "--json")
	var ev struct {
		ModelBase64 string `json:"model_base64"`
	}
	if err := json.Unmarshal([]byte(stdout), &ev); code != 0 || err != nil {
		t.Fatalf("eval --json: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	if b, err := base64.StdEncoding.DecodeString(ev.ModelBase64); err != nil || string(b) != out {
		t.Errorf("eval --json: model_base64 %q, want %s in base64", ev.ModelBase64, out)
	}
}

// TestHintsForDashNames: a checkpoint whose name begins with "-" (--out=-cpu)
// is named in the hints as ./-cpu, and the hint runs as printed: written
// as "--model -cpu" it was refused (a flag where a value is due). An image
// argument that is that checkpoint is pointed to --model the same way.
func TestHintsForDashNames(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	fakeMNIST(t, filepath.Join(dir, "data"), 64, 20)
	run := func(args ...string) (string, string, int) {
		t.Helper()
		return runIn(t, dir, time.Minute, args...)
	}
	stdout, stderr, code := run("train", "--cpu", "--epochs", "1", "--data", "data", "--out=-cpu")
	if code != 0 {
		t.Fatalf("train --out=-cpu: exit %d, stderr %q", code, stderr)
	}
	m := regexp.MustCompile(`evaluate with: \S+ (eval .*)\)`).FindStringSubmatch(stdout)
	if m == nil || !strings.Contains(m[1], "--model ./-cpu --data "+filepath.Join(dir, "data")) {
		t.Fatalf("train's hint %q; want eval --model ./-cpu on the run's --data", stdout)
	}
	if _, stderr, code := run(strings.Fields(m[1])...); code != 0 {
		t.Errorf("the hint as printed (%s): exit %d, stderr %q", m[1], code, stderr)
	}
	_, stderr, code = run("predict", "--model", "./-cpu", "--", "-cpu")
	if code == 0 || !strings.Contains(stderr, "give it as --model ./-cpu") {
		t.Errorf("predict on the checkpoint as an image: exit %d, stderr %q; want it pointed to --model ./-cpu", code, stderr)
	}
}

// TestRepeatedFlags: a flag given twice with two values is refused, naming
// both as typed, exit 2 (the flag package took the last silently, so a
// run trained with another rate than one written); the same value twice
// is taken. A number too small to hold is refused as written, not echoed
// as the 0 it would be read as.
func TestRepeatedFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--lr", "0.01", "--epochs", "1", "--lr=0.03"}, "--lr is given twice, as --lr 0.01 and as --lr=0.03: give it once"},
		{[]string{"train", "--cpu", "--cpu=false"}, "--cpu is given twice, as --cpu and as --cpu=false"},
		{[]string{"eval", "--model", "a b", "--model", "c"}, "--model is given twice, as --model 'a b' and as --model c"},
		{[]string{"tune", "--batch-size", "64", "--dry-run", "-batch-size", "128"}, "--batch-size is given twice, as --batch-size 64 and as -batch-size 128"},
		{[]string{"train", "--lr", "1e-400"}, "--lr 1e-400: too small to hold (it would be read as 0)"},
		{[]string{"train", "--label-smoothing=-1e-999"}, "--label-smoothing -1e-999: too small to hold"},
		{[]string{"tune", "--dry-run", "--lr", "0.001,1e-400"}, `--lr: "1e-400" is not valid: too small to hold`},
		// A forgotten value is said as one, not as a flag given twice.
		{[]string{"train", "--lr", "0.01", "--lr", "--epochs", "2"}, "--lr needs a value, but the flag --epochs follows it"},
	} {
		_, stderr, code := runIn(t, dir, time.Minute, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("cnngpu %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
	fakeMNIST(t, dir, 64, 20)
	if _, stderr, code := runIn(t, dir, time.Minute, "train", "--cpu", "--data", dir, "--epochs", "1", "--cpu=true", "--epochs=+1", "--out", "m.safetensors", "--lr", "0.002", "--lr=2e-3"); code != 0 {
		t.Errorf("the same values twice: exit %d, stderr %q; want them taken", code, stderr)
	}
}

// TestPercentUnderHalf: a probability under 50% is never shown as 50.0%,
// nor in --idx's lines (four places) as 0.5000.
func TestPercentUnderHalf(t *testing.T) {
	for _, c := range []struct {
		p    float32
		want string
	}{{0.4996, "49.9%"}, {0.49949, "49.9%"}, {0.4, "40.0%"}, {0.5, "50.0%"}, {0.91234, "91.2%"}} {
		if got := probText(c.p); got != c.want {
			t.Errorf("probText(%v) = %s, want %s", c.p, got, c.want)
		}
	}
	for _, c := range []struct {
		p    float32
		want string
	}{{0.49996, "0.4999"}, {0.49994, "0.4999"}, {0.5, "0.5000"}, {0.91236, "0.9124"}} {
		if got := fmt.Sprintf("%.4f", shown.Under(float64(c.p), server.UnsureBelow, 1e-4)); got != c.want {
			t.Errorf("%v to four places: %s, want %s", c.p, got, c.want)
		}
	}
}

// TestCacheClosedToTheUser: a cache below a folder the user may not enter
// is said to be closed to them, with the permission hint (it was said
// that a folder above it may be a file).
func TestCacheClosedToTheUser(t *testing.T) {
	runuser, _ := asNobody(t)
	fx := newFixtures(t)
	root, bin := nobodyFolder(t)
	model, closed := filepath.Join(root, "m.safetensors"), filepath.Join(root, "closed")
	if err := os.WriteFile(model, []byte(readFile(t, fx.model)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(closed, 0o700); err != nil { // root's
		t.Fatal(err)
	}
	b, err := exec.Command(runuser, "-u", "nobody", "--", "env", "XDG_CACHE_HOME="+filepath.Join(closed, "cache"), bin, "eval", "--cpu", "--model", model).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), "permission denied): set XDG_CACHE_HOME to a folder of your own, or ask for access to it") ||
		!strings.Contains(string(b), "hint: cnngpu runs as user nobody") || strings.Contains(string(b), "may be a file") {
		t.Errorf("eval with a cache closed to nobody: %v\n%s", err, b)
	}
}

// TestFetchOthersFileInStickyCache: as another user, a shared cache folder
// with the sticky bit whose .gz file, root's, must be fetched again is
// refused before anything is downloaded, naming that file (the write failed
// after the download, saying the folder was not writable).
func TestFetchOthersFileInStickyCache(t *testing.T) {
	runuser, _ := asNobody(t)
	root, bin := nobodyFolder(t)
	cache := filepath.Join(root, "cnngpu", "mnist")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	fakeMNIST(t, cache, 50, 20) // root's, and not MNIST: to be fetched again
	if err := os.Chmod(cache, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(runuser, "-u", "nobody", "--", "env", "XDG_CACHE_HOME="+root, "PATH=/usr/bin:/bin", bin, "data", "fetch").CombinedOutput()
	want := filepath.Join(cache, loader.Files[0].Name) + " is another user's, in a folder with the sticky bit (" + cache + ") that is not yours either"
	if err == nil || !strings.Contains(string(b), want) || strings.Contains(string(b), "fetching http") {
		t.Errorf("nobody's data fetch over root's files in a sticky cache: %v, want %q before any download\n%s", err, want, b)
	}
}
