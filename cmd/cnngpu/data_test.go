// Tests of `cnngpu data` with the cache's uncompressed copies: fetch makes
// them, verify checks them by SHA-256 (a damaged copy beside a good .gz
// file is reported without failing, since it is not what is read; one
// without its .gz file fails), and a command reads from them.

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/loader"
	"github.com/urfave/cli/v2"
)

// realMNISTCopy copies the cache's four .gz files into a new cache folder
// (the test skips when the cache lacks them; CI fetches them first), and
// returns it with the environment that makes it the cache.
func realMNISTCopy(t *testing.T) (string, []string) {
	t.Helper()
	cache := needRealMNIST(t)
	root := t.TempDir()
	dir := filepath.Join(root, "cnngpu", "mnist")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range loader.Files {
		b, err := os.ReadFile(filepath.Join(cache, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, []string{"XDG_CACHE_HOME=" + root}
}

func TestDataUncompressedCopies(t *testing.T) {
	dir, env := realMNISTCopy(t)
	// Another folder than the cache is left with the four files.
	other := t.TempDir()
	for _, f := range loader.Files {
		b, _ := os.ReadFile(filepath.Join(dir, f.Name))
		os.WriteFile(filepath.Join(other, f.Name), b, 0o644)
	}
	stdout, stderr, code := cnngpu(t, env, "data", "fetch", "--dir", other)
	if ents, _ := os.ReadDir(other); code != 0 || len(ents) != 4 || !strings.Contains(stdout, "60000 training and 10000 test images") {
		t.Errorf("data fetch --dir into a folder with the .gz files: exit %d, %d files there\n%s%s", code, len(ents), stdout, stderr)
	}
	// The cache is given its uncompressed copies.
	stdout, stderr, code = cnngpu(t, env, "data", "fetch")
	if code != 0 || !strings.Contains(stdout, "60000 training and 10000 test images") || !strings.Contains(stderr, "kept train-images-idx3-ubyte.gz uncompressed (47040016 bytes, SHA-256 ok)") {
		t.Fatalf("data fetch into the cache with the .gz files: exit %d\n%s%s", code, stdout, stderr)
	}
	verify := func(what string, wantCode int, want ...string) {
		t.Helper()
		stdout, stderr, code := cnngpu(t, nil, "data", "verify", "--dir", dir)
		if code != wantCode {
			t.Errorf("%s: data verify exit %d, want %d\n%s%s", what, code, wantCode, stdout, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stdout+stderr, w) {
				t.Errorf("%s: data verify lacks %q:\n%s%s", what, w, stdout, stderr)
			}
		}
	}
	imgs := filepath.Join(dir, "t10k-images-idx3-ubyte")
	verify("after fetch", 0, "ok    "+imgs+".gz\n", "ok    "+imgs+" (uncompressed copy)\n")

	// A copy changed in one byte beside its good .gz file (a damaged copy
	// or a file of the user's: they cannot be told apart): reported, not
	// failed, and left as it is by a command that reads the cache.
	b, _ := os.ReadFile(imgs)
	b[5000] ^= 1
	os.WriteFile(imgs, b, 0o644)
	verify("a changed copy", 0, "other "+imgs+": SHA-256 ", "left as it is, the .gz file read in its place")
	stdout, stderr, code = cnngpu(t, env, "data", "fetch")
	if got, _ := os.ReadFile(imgs); code != 0 || !strings.Contains(stderr, imgs+" is a well-formed IDX file, but not MNIST's contents") || string(got) != string(b) {
		t.Errorf("data fetch with a changed copy: exit %d, copy kept %v\n%s%s", code, string(got) == string(b), stdout, stderr)
	}
	// Removed, it is made again; cut short (not an IDX file), too.
	os.Remove(imgs)
	if _, stderr, code := cnngpu(t, env, "data", "fetch"); code != 0 || !strings.Contains(stderr, "kept t10k-images-idx3-ubyte.gz uncompressed") {
		t.Errorf("data fetch after the copy was removed: exit %d\n%s", code, stderr)
	}
	os.Truncate(imgs, 1000)
	verify("a copy cut short", 0, "stale "+imgs+": SHA-256 ", "a command makes the copy again")
	if _, stderr, code := cnngpu(t, env, "data", "fetch"); code != 0 || !strings.Contains(stderr, imgs+" is damaged (SHA-256") || !strings.Contains(stderr, "kept t10k-images-idx3-ubyte.gz uncompressed") {
		t.Errorf("data fetch with a copy cut short: exit %d\n%s", code, stderr)
	}
	verify("the copy made again", 0, "ok    "+imgs+" (uncompressed copy)\n")

	// The copies without the .gz files: checked by SHA-256 alone.
	for _, f := range loader.Files {
		os.Remove(filepath.Join(dir, f.Name))
	}
	verify("copies alone", 0, "ok    "+imgs+" (uncompressed)\n")
	os.Truncate(imgs, 1000)
	verify("a damaged copy alone", 1, "BAD   "+imgs+": SHA-256 ", "1 of 4 files failed verification", "data fetch --dir "+dir)
}

// data verify on a --dir that is no folder, on a cache not made yet, on a
// folder of another dataset under MNIST's names, and on one with a folder
// where a file is kept (to be moved away: data fetch leaves it).
func TestDataVerifyFolders(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "notes.txt")
	os.WriteFile(file, []byte("notes"), 0o644)
	other := filepath.Join(tmp, "fashion")
	os.Mkdir(other, 0o755)
	otherRaw := filepath.Join(tmp, "fashion-raw")
	os.Mkdir(otherRaw, 0o755)
	for i, f := range loader.Files {
		// Well-formed IDX (labels-shaped) files: not MNIST's.
		os.WriteFile(filepath.Join(other, f.Name), []byte{0, 0, 8, 1, 0, 0, 0, 2, byte(i), 1}, 0o644)
		os.WriteFile(filepath.Join(otherRaw, f.RawName()), []byte{0, 0, 8, 1, 0, 0, 0, 2, byte(i), 1}, 0o644)
	}
	// A folder where a file is kept, which data fetch leaves as it is.
	folder := filepath.Join(tmp, "folder")
	os.MkdirAll(filepath.Join(folder, loader.Files[2].Name), 0o755)
	for _, c := range []struct {
		args []string
		env  []string
		code int
		want []string
	}{
		{[]string{"--dir", file}, nil, 2, []string{"--dir " + file + ": is a file, not a folder"}},
		{[]string{"--dir", filepath.Join(tmp, "nope")}, nil, 2, []string{"--dir " + filepath.Join(tmp, "nope") + ": does not exist"}},
		{nil, []string{"XDG_CACHE_HOME=" + filepath.Join(tmp, "fresh")}, 1, []string{"the MNIST cache " + filepath.Join(tmp, "fresh", "cnngpu", "mnist") + " does not exist yet", "data fetch"}},
		{[]string{"--dir", other}, nil, 1, []string{"a well-formed IDX file, but not the published MNIST one", "4 of 4 files failed verification, 4 of them well-formed IDX files of another dataset", "data fetch does not replace"}},
		{[]string{"--dir", otherRaw}, nil, 1, []string{"4 of 4 files failed verification, 4 of them well-formed IDX files of another dataset", "data fetch does not replace"}},
		{[]string{"--dir", folder}, nil, 1, []string{"4 of 4 files failed verification; move away what is in the way (" + filepath.Join(folder, loader.Files[2].Name) + ": not a file), then fetch them again with: ", "data fetch --dir " + folder}},
	} {
		stdout, stderr, code := cnngpu(t, c.env, append([]string{"data", "verify"}, c.args...)...)
		if code != c.code {
			t.Errorf("data verify %q: exit %d, want %d\n%s%s", c.args, code, c.code, stdout, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stdout+stderr, w) {
				t.Errorf("data verify %q: output lacks %q:\n%s%s", c.args, w, stdout, stderr)
			}
		}
	}
	// data fetch into the folder of another dataset's raw files would put
	// .gz files there that --data reads first: refused.
	if _, stderr, code := cnngpu(t, nil, "data", "fetch", "--dir", otherRaw); code != 1 || !strings.Contains(stderr, "not replaced") {
		t.Errorf("data fetch into another dataset's raw folder: exit %d\n%s", code, stderr)
	}
	if ents, _ := os.ReadDir(otherRaw); len(ents) != 4 {
		t.Errorf("data fetch wrote into another dataset's raw folder: %d entries", len(ents))
	}
}

// TestTrainingSetMissingDigits: a --data folder whose training set lacks
// some digits is refused by train and by tune before any training, with
// exit 1, naming the folder, the digits missing and those there (train
// blamed --val-split and --train-limit, neither given, and exited 2; tune
// trained on it and tested at chance).
func TestTrainingSetMissingDigits(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 0, 20)
	// 30 training images of the digits 0 to 2 alone, raw IDX (read
	// before no .gz: fakeMNIST wrote an empty training set).
	for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"} {
		os.Remove(filepath.Join(dir, f))
	}
	img := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, d := range []uint32{30, 28, 28} {
		img = binary.BigEndian.AppendUint32(img, d)
	}
	lab := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0x801), 30)
	for i := range 30 {
		px := make([]byte, 784)
		for c := 4; c < 24; c++ {
			px[(3+i%3*2)*28+c] = 255
		}
		img, lab = append(img, px...), append(lab, byte(i%3))
	}
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), img, 0o644)
	os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), lab, 0o644)
	want := "--data " + dir + ": its training set (train-labels-idx1-ubyte, 30 images) has no image of the digits 3, 4, 5, 6, 7, 8 or 9, only of 0, 1 and 2: "
	for _, args := range [][]string{
		{"train", "--cpu", "--threads", "1", "--epochs", "1", "--data", dir, "--out", filepath.Join(dir, "m.safetensors")},
		{"tune", "--cpu", "--threads", "1", "--epochs", "1", "--data", dir, "--lr", "0.01", "--batch-size", "8", "--activation", "relu", "--out", filepath.Join(dir, "study")},
	} {
		stdout, stderr, code := cnngpu(t, nil, args...)
		if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stdout+stderr, "epoch 1/1") {
			t.Errorf("%s on a training set of three digits: exit %d, want 1 saying %q\n%s%s", args[0], code, want, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m.safetensors")); err == nil {
		t.Error("train on a training set of three digits wrote a checkpoint")
	}
}

// A --data folder whose test set is empty is refused before any training
// (it was found after the whole run); eval on a test set that lacks some
// digits says so for them instead of 0%.
func TestTestSetEmptyOrMissingDigits(t *testing.T) {
	tmp := t.TempDir()
	empty, one := filepath.Join(tmp, "empty"), filepath.Join(tmp, "one")
	os.Mkdir(empty, 0o755)
	os.Mkdir(one, 0o755)
	fakeMNIST(t, empty, 64, 0)
	fakeMNIST(t, one, 64, 1)
	model := filepath.Join(tmp, "m.safetensors")
	train := []string{"train", "--cpu", "--threads", "1", "--epochs", "1", "--out", model, "--data"}
	stdout, stderr, code := cnngpu(t, nil, append(train, empty)...)
	if code != 1 || !strings.Contains(stderr, "--data "+empty+": its test set (t10k-images-idx3-ubyte) holds no images") || strings.Contains(stdout, "epoch 1/1") {
		t.Errorf("train on an empty test set: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(model); err == nil {
		t.Error("train on an empty test set wrote a checkpoint")
	}
	if _, stderr, code := cnngpu(t, nil, append(train, one)...); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--model", model, "--data", empty)
	if code != 1 || !strings.Contains(stderr, "--data "+empty+": its test set (t10k-images-idx3-ubyte) holds no images") {
		t.Errorf("eval on an empty test set: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--model", model, "--data", one)
	if code != 0 || strings.Count(stdout, "–  (no test image of this digit)") != 9 || !strings.Contains(stdout, "(1 image)") {
		t.Errorf("eval on one test image: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--json", "--model", model, "--data", one)
	var r struct {
		ClassAccuracy []*float64 `json:"class_accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); code != 0 || err != nil || len(r.ClassAccuracy) != 10 {
		t.Fatalf("eval --json: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	nulls := 0
	for _, a := range r.ClassAccuracy {
		if a == nil {
			nulls++
		}
	}
	if nulls != 9 {
		t.Errorf("eval --json on one test image: %d digits null, want 9:\n%s", nulls, stdout)
	}
}

// Ctrl-C during data fetch ends it at once with exit 130, saying what is
// kept (it was killed by the signal, leaving the go command's temporary
// folder and the go command itself behind); so does Ctrl-C during a first
// train's, tune's or eval's download (train and tune said "context
// canceled", exit 1; eval was killed by the signal, saying nothing).
func TestDataFetchInterrupted(t *testing.T) {
	// A proxy that takes the connection and never answers: the download
	// hangs until it is interrupted.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, c := range []struct {
		args []string
		said string // after the folder
	}{
		{[]string{"data", "fetch", "--dir", "DIR"}, "interrupted: the files checked and cached before are kept in DIR"},
		{[]string{"train", "--cpu", "--epochs", "1", "--out", "OUT/m.safetensors"}, "interrupted while getting MNIST ready in DIR: the files fetched and checked before are kept there"},
		{[]string{"tune", "--cpu", "--epochs", "1", "--lr", "0.001", "--batch-size", "128", "--activation", "relu", "--out", "OUT/study"},
			"interrupted while getting MNIST ready in DIR: the files fetched and checked before are kept there"},
		{[]string{"eval", "--cpu", "--model", "MODEL"}, "interrupted while getting MNIST ready in DIR: the files fetched and checked before are kept there"},
	} {
		home, out := t.TempDir(), t.TempDir()
		dir := filepath.Join(home, "cnngpu", "mnist")
		args := slices.Clone(c.args)
		model := filepath.Join(t.TempDir(), "m.safetensors")
		writeModel(t, model, nil)
		for i, a := range args {
			args[i] = strings.NewReplacer("DIR", dir, "OUT", out, "MODEL", model).Replace(a)
		}
		cmd := exec.Command(binary_, args...)
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+home, "HTTPS_PROXY=http://"+ln.Addr().String(), "https_proxy=http://"+ln.Addr().String(), "NO_PROXY=", "no_proxy=")
		errPipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Signalled once the download has begun (the handler is in
		// place), not after a fixed wait a loaded machine may not keep.
		lines, ended := make(chan string, 64), make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(errPipe)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			ended <- cmd.Wait()
		}()
		var se strings.Builder
		signalled := false
		deadline := time.After(30 * time.Second)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				se.WriteString(l + "\n")
				if !signalled && strings.HasPrefix(l, "fetching ") {
					time.Sleep(100 * time.Millisecond)
					cmd.Process.Signal(os.Interrupt)
					signalled = true
				}
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("%s did not end (signalled %v):\n%s", c.args[0], signalled, se.String())
			}
		}
		<-ended
		if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(se.String(), strings.ReplaceAll(c.said, "DIR", dir)) {
			t.Errorf("%s interrupted while fetching: exit %d\n%s", c.args[0], code, se.String())
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s interrupted while fetching left %d entries in %s", c.args[0], len(ents), dir)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("%s interrupted while fetching left %d entries in its --out folder %s", c.args[0], len(ents), out)
		}
	}
}

// TestRelativeXDGCacheHomeSaid: a relative XDG_CACHE_HOME, ignored as the
// XDG rules say, is said where the cache is used, with the folder used
// instead: the shell's ${XDG_CACHE_HOME:-$HOME/.cache} (the README's)
// takes it, and the files were not there.
func TestRelativeXDGCacheHomeSaid(t *testing.T) {
	home := t.TempDir()
	_, stderr, _ := cnngpu(t, []string{"HOME=" + home, "XDG_CACHE_HOME=relcache"}, "data", "verify")
	want := "note: XDG_CACHE_HOME=relcache is not an absolute path, so it is ignored (as the XDG rules say): the cache is " + filepath.Join(home, ".cache", "cnngpu", "mnist") + "\n"
	if !strings.Contains(stderr, want) {
		t.Errorf("data verify with XDG_CACHE_HOME=relcache:\n%s\nwant %q", stderr, want)
	}
	// No writer for notes (train --quiet): nothing said (it panicked).
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "relcache")
	if dir, err := cacheDir(nil); err != nil || dir != filepath.Join(home, ".cache", "cnngpu", "mnist") {
		t.Errorf("cacheDir(nil): %q, %v", dir, err)
	}
}

// TestVerifyCacheLinkToNothing: data verify on a cache folder that is a
// symbolic link to nothing, or below one, says so, as data fetch does; it
// said the cache did not exist yet and to run data fetch, which then
// refused the link.
func TestVerifyCacheLinkToNothing(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "cnngpu"), 0o755)
	link := filepath.Join(home, "cnngpu", "mnist")
	if err := os.Symlink(filepath.Join(home, "missing"), link); err != nil {
		t.Skip(err)
	}
	_, stderr, code := cnngpu(t, []string{"XDG_CACHE_HOME=" + home}, "data", "verify")
	if code != 1 || !strings.Contains(stderr, "the MNIST cache "+link+" cannot be reached: "+link+" is a symbolic link to "+filepath.Join(home, "missing")+", which does not exist") {
		t.Errorf("data verify on a cache linked to nothing: exit %d\n%s", code, stderr)
	}
	// The link a folder above it: said by verify and fetch (which said
	// "mkdir: file exists").
	os.Remove(link)
	os.RemoveAll(filepath.Join(home, "cnngpu"))
	above := filepath.Join(home, "cnngpu")
	os.Symlink(filepath.Join(home, "gone"), above)
	want := above + " is a symbolic link to " + filepath.Join(home, "gone") + ", which does not exist"
	for _, cmd := range []string{"verify", "fetch"} {
		if _, stderr, code := cnngpu(t, []string{"XDG_CACHE_HOME=" + home}, "data", cmd); code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("data %s on a cache below a link to nothing: exit %d\n%s", cmd, code, stderr)
		}
	}
}

// TestReadInterruptedIs130: a read of --data that succeeds after Ctrl-C
// was asked for still ends the command with 130 (eval's and tune merge
// --final's interrupt covers the read alone, and lost it: eval ran on).
func TestReadInterruptedIs130(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 100, 50)
	app := newApp()
	var got error
	ran := false
	for _, c := range app.Commands {
		if c.Name == "eval" {
			c.Action = func(c *cli.Context) error {
				ctx, cancel := context.WithCancel(c.Context)
				cancel() // Ctrl-C, as interruptContext cancels
				_, got = loadTestSet(ctx, c, io.Discard)
				ran = true
				return nil
			}
		}
	}
	if err := app.Run([]string{"cnngpu", "eval", "--cpu", "--data", dir, "--model", filepath.Join(dir, "m.safetensors")}); err != nil || !ran {
		t.Fatalf("eval's stand-in action: ran %v, %v", ran, err)
	}
	var ee *exitError
	if !errors.As(got, &ee) || ee.code != 130 || !strings.Contains(got.Error(), "interrupted while reading the data in "+dir) {
		t.Errorf("a read of --data after Ctrl-C: %v", got)
	}
}

// TestDamagedDataHintFetchesWhatItCan: data fetch leaves as they are the
// IDX files that are not MNIST's (a label of 10 is one), so the hint to
// fetch checked copies into a damaged --data folder first says to move
// those away (the hint alone led to a fetch that refused them); a file
// cut short is not one of them: fetching replaces it.
func TestDamagedDataHintFetchesWhatItCan(t *testing.T) {
	f := newFixtures(t)
	labels := filepath.Join(f.data, "t10k-labels-idx1-ubyte.gz")
	gz, err := os.Open(labels)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	gz.Close()
	if err != nil || len(b) < 20 {
		t.Fatal(err, len(b))
	}
	writeGz := func(b []byte) {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(b)
		w.Close()
		if err := os.WriteFile(labels, z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b[8+5] = 10 // after the magic and the count
	writeGz(b)
	_, stderr, code := cnngpu(t, nil, "eval", "--cpu", "--data", f.data, "--model", f.model)
	// The fixture's files are all another dataset's (made up).
	want := "the label at index 5 (from 0) is 10, expected 0-9; if the folder is meant to hold MNIST, move train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz out of it (fetching replaces no IDX file that is not MNIST's), then fetch checked copies with "
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("eval on a label of 10: exit %d, no %q in\n%s", code, want, stderr)
	}
	writeGz(b[:20]) // damaged: fetching replaces it
	_, stderr, code = cnngpu(t, nil, "eval", "--cpu", "--data", f.data, "--model", f.model)
	want = "truncated: header says 100 labels, file holds 12; if the folder is meant to hold MNIST, move train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz and t10k-images-idx3-ubyte.gz out of it "
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("eval on a label file cut short: exit %d, no %q in\n%s", code, want, stderr)
	}
}

// TestVerifyLinksAreReplaced: links at the .gz names to another dataset's
// files are what data fetch replaces (the links, not their files), so
// data verify asks for a fetch, not to move them away first.
func TestVerifyLinksAreReplaced(t *testing.T) {
	theirs, dir := t.TempDir(), t.TempDir()
	fakeMNIST(t, theirs, 50, 20)
	for _, f := range loader.Files {
		if err := os.Symlink(filepath.Join(theirs, f.Name), filepath.Join(dir, f.Name)); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, code := cnngpu(t, nil, "data", "verify", "--dir", dir)
	if code != 1 || !strings.Contains(stderr, "4 of 4 files failed verification; to fetch them again, run: ") || strings.Contains(stderr, "move them away") {
		t.Errorf("verify of links to another dataset's files: exit %d\n%s", code, stderr)
	}
}
