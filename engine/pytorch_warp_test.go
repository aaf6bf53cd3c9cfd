// pytorch_warp_test.go: scripts/pytorch_train.py's warp of the training
// images (NumPy, for PyTorch's runs of the default recipe) against
// engine.WarpImage, bit for bit, where python3 with NumPy is installed.

package engine

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPyTorchScriptWarp: the script's --warp-check writes, for the same
// seed, epoch and --augment, the images DrawWarp and WarpImage make, for
// dataset images 0..n-1: the PyTorch peer of the default recipe trains
// on cnngpu's images.
func TestPyTorchScriptWarp(t *testing.T) {
	py := pythonWithNumPy()
	if py == "" {
		t.Skip("no python3 on the PATH has NumPy: the script's warp is not checked")
	}
	const side, n = 28, 64
	rng := rand.New(rand.NewPCG(5, 6))
	src := make([]uint8, n*side*side)
	for i := range src {
		if rng.IntN(3) > 0 { // digits' share of ink, and edges: zero and full pixels both
			src[i] = uint8(rng.IntN(256))
		}
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "src.u8"), filepath.Join(dir, "dst.f32")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flag string
		a    Augment
	}{
		{"shift:2,rotate:10,scale:0.1", Augment{Shift: 2, Rotate: 10, Scale: 0.1, Seed: 7}},
		{"rotate:45", Augment{Rotate: 45, Seed: 1}},
		{"shift:3,scale:0.25", Augment{Shift: 3, Scale: 0.25, Seed: 1 << 40}},
	} {
		const epoch = 3
		cmd := exec.Command(py, "../scripts/pytorch_train.py", "--warp-check", in, out, "--augment", c.flag,
			"--seed", strconv.FormatUint(c.a.Seed, 10), "--warp-epoch", strconv.Itoa(epoch))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("--augment %s: %v\n%s", c.flag, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil || len(b) != 4*len(src) {
			t.Fatalf("--augment %s: %d bytes, %v; want %d", c.flag, len(b), err, 4*len(src))
		}
		want := make([]float32, side*side)
		bad := 0
		for i := range n {
			WarpImage(want, src[i*side*side:(i+1)*side*side], side, DrawWarp(c.a, epoch, int32(i)))
			for p, w := range want {
				got := math.Float32frombits(binary.LittleEndian.Uint32(b[4*(i*side*side+p):]))
				if math.Float32bits(got) != math.Float32bits(w) {
					if bad < 5 {
						t.Errorf("--augment %s, image %d pixel (%d,%d): the script's %v, WarpImage's %v", c.flag, i, p/side, p%side, got, w)
					}
					bad++
				}
			}
		}
		if bad > 0 {
			t.Errorf("--augment %s: %d of %d pixels differ", c.flag, bad, len(src))
		}
	}
	// What cnngpu refuses, the script refuses (else the two would train
	// on other images than they say).
	for _, flag := range []string{"shift:0", "shift:+2", "rotate:0", "rotate:+5", "rotate:1e1", "scale:0.3", "shift:2,shift:3", "shear:5", "99", "shift:\u0663", "shift:\u00b2", "\u00b2", "rotate:10\x1c",
		"rotate:0.00000000000000000000000000000000000000000000001"} {
		if _, err := ParseAugment(flag); err == nil {
			t.Fatalf("ParseAugment(%q) takes it: not a case for this test", flag)
		}
		cmd := exec.Command(py, "../scripts/pytorch_train.py", "--warp-check", in, out, "--augment", flag)
		if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "--augment") {
			t.Errorf("the script's --augment %q: %v, %s; want it refused as cnngpu does", flag, err, b)
		}
	}
}

// pythonWithNumPy is the first python3 on the PATH that imports NumPy
// (a pyenv shim may come before the system's), or "".
func pythonWithNumPy() string {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		py := filepath.Join(dir, "python3")
		if _, err := os.Stat(py); err == nil && exec.Command(py, "-c", "import numpy").Run() == nil {
			return py
		}
	}
	return ""
}

// TestPyTorchScriptArgs: the script refuses values cnngpu refuses, and a
// --data folder that is missing, lacks a file or holds a damaged one,
// with a message naming the flag or file and no Python traceback, before
// it imports PyTorch (absent here: the refusals need NumPy alone).
func TestPyTorchScriptArgs(t *testing.T) {
	py := pythonWithNumPy()
	if py == "" {
		t.Skip("no python3 on the PATH has NumPy: the script's argument checks are not run")
	}
	dir := t.TempDir()
	idx := func(magic uint32, dims ...uint32) []byte {
		b := binary.BigEndian.AppendUint32(nil, magic)
		for _, d := range dims {
			b = binary.BigEndian.AppendUint32(b, d)
		}
		return b
	}
	// A folder whose training images say 2 images but hold pixels for 1,
	// and one whose training images are a gzip cut short.
	short, cut := filepath.Join(dir, "short"), filepath.Join(dir, "cut")
	for _, d := range []string{short, cut} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(short, "train-images-idx3-ubyte"), append(idx(0x803, 2, 28, 28), make([]byte, 784)...), 0o644)
	os.WriteFile(filepath.Join(cut, "train-images-idx3-ubyte.gz"), []byte{0x1f, 0x8b, 8, 0, 0, 0}, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--epochs", "0"}, "--epochs 0: expected 1 to 10000"},
		{[]string{"--lr", "0"}, "--lr 0.0: expected a positive finite rate"},
		{[]string{"--lr", "nan"}, "--lr nan: expected a positive finite rate"},
		{[]string{"--lr", "inf"}, "--lr inf: expected a positive finite rate"},
		{[]string{"--threads", "0"}, "--threads 0: expected 1 to 1024"},
		{[]string{"--warp-epoch", "-1"}, "--warp-epoch -1: expected 0 or more"},
		{[]string{"--data", filepath.Join(dir, "nowhere")}, "--data " + filepath.Join(dir, "nowhere") + ": not a folder"},
		{[]string{"--data", dir}, "--data " + dir + ": holds no train-images-idx3-ubyte.gz or train-images-idx3-ubyte"},
		{[]string{"--data", short}, filepath.Join(short, "train-images-idx3-ubyte") + ": 784 bytes of pixels for 2 images of 28×28"},
		{[]string{"--data", cut}, filepath.Join(cut, "train-images-idx3-ubyte.gz") + ": "},
	} {
		b, err := exec.Command(py, append([]string{"../scripts/pytorch_train.py"}, c.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(b), c.want) || strings.Contains(string(b), "Traceback") {
			t.Errorf("pytorch_train.py %s: %v\n%s\nwant it refused with %q and no traceback", strings.Join(c.args, " "), err, b, c.want)
		}
	}
}
