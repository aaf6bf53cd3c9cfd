//go:build cgo && !windows

// devices_test.go: `cnngpu devices` names the file of cuBLAS and cuDNN it
// loaded and where it found it (fake libraries built by the C compiler,
// in a CNNGPU_LIBRARY_PATH folder), and, when cuDNN is missing, where it
// looked and how to install it.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/fakecuda"
	"github.com/cnngpu/cnngpu/internal/nvlib/nvlibtest"
)

func TestDevicesShowsLibraries(t *testing.T) {
	dir := t.TempDir()
	blas := nvlibtest.CUBLAS(t, dir, 12, 8, 4, true)
	dnn := nvlibtest.CUDNN(t, dir, 9, 91400, 12080)
	stdout, stderr, code := cnngpu(t, []string{"CNNGPU_LIBRARY_PATH=" + dir}, "devices")
	for _, w := range []string{
		"cuBLAS 12.8.4  " + blas + "  (found in CNNGPU_LIBRARY_PATH)",
		"cuDNN 9.14.0  " + dnn + "  (found in CNNGPU_LIBRARY_PATH)",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("cnngpu devices does not show %q:\n%s%s", w, stdout, stderr)
		}
	}
	// The stand-in cuBLAS's cuBLASLt has no functions: devices names the
	// file, and says what runs without it.
	for _, w := range []string{filepath.Join(dir, "libcublasLt.so.12") + " lacks cublasLtCreate",
		"the dense layers' products run on cuBLAS alone"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("cnngpu devices does not show %q:\n%s%s", w, stdout, stderr)
		}
	}
	if gpu := cuda.Load() == nil; gpu != (code == 0) {
		t.Errorf("exit %d with a GPU %v", code, gpu)
	}
	if cuda.Load() != nil && (!strings.HasPrefix(stdout, "NVIDIA driver: ") || !strings.Contains(stderr, "libcuda.so.1")) {
		t.Errorf("without a GPU, devices does not say first what happened to the driver:\n%s%s", stdout, stderr)
	}

	// Without cuDNN (none in the folder, none on this machine), with a
	// driver that starts (the fake one alone), it says where it looked
	// and how to install it; with no driver that starts, in one line (the
	// GPU is what is missing, said first).
	empty := t.TempDir()
	only := t.TempDir()
	if err := os.Symlink(filepath.Join(fakecuda.Dir(t), "libcuda.so.1"), filepath.Join(only, "libcuda.so.1")); err != nil {
		t.Fatal(err)
	}
	noDNN := []string{"CNNGPU_LIBRARY_PATH=" + empty, "VIRTUAL_ENV=" + filepath.Join(empty, "venv")}
	stdout, _, _ = cnngpu(t, append(noDNN, "LD_LIBRARY_PATH="+only), "devices")
	if !strings.Contains(stdout, "cuDNN not found") {
		t.Skipf("this machine has a cuDNN of its own:\n%s", stdout)
	}
	for _, w := range []string{"CNNGPU_LIBRARY_PATH: " + empty, "the virtual environment " + filepath.Join(empty, "venv"),
		"pip install nvidia-cudnn-cu12", "libcudnn9-cuda-12", "--cpu"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("the missing cuDNN's message, with a GPU, lacks %q:\n%s", w, stdout)
		}
	}
	if cuda.Load() == nil {
		return // a GPU here: no run without one
	}
	stdout, stderr, _ = cnngpu(t, noDNN, "devices")
	if !strings.Contains(stdout, "cuDNN not found") || !strings.Contains(stdout, "(needed once a GPU works: then install it, docs/gpu.md, or put a usable one in CNNGPU_LIBRARY_PATH's "+empty+")") ||
		strings.Contains(stdout, "pip install") || !strings.Contains(stdout, "no GPU can be used") {
		t.Errorf("devices with no driver that starts and no cuDNN: want the GPU said first and cuDNN in a line:\n%s%s", stdout, stderr)
	}
	// A cuDNN in CNNGPU_LIBRARY_PATH that cannot be used: said why, in
	// that short form too.
	os.WriteFile(filepath.Join(empty, "libcudnn.so.9"), nil, 0o644)
	stdout, stderr, _ = cnngpu(t, noDNN, "devices")
	if w := "  not used: " + filepath.Join(empty, "libcudnn.so.9") + ": "; !strings.Contains(stdout, w) || strings.Contains(stdout, "pip install") {
		t.Errorf("devices with no driver that starts and a damaged cuDNN in CNNGPU_LIBRARY_PATH: want %q, in the short form:\n%s%s", w, stdout, stderr)
	}
}

func init() { atExit = append(atExit, fakecuda.Cleanup) }

// TestNoSuchGPU: --device naming a GPU the machine lacks (two fake GPUs
// here) is a bad flag value, exit 2 as --device -1, listing the GPUs there
// are and what to do, with no generic hint after it.
func TestNoSuchGPU(t *testing.T) {
	f := newFixtures(t)
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t)}
	_, stderr, code := cnngpu(t, env, "eval", "--device", "5", "--data", f.data, "--model", f.model)
	if code != 2 || !strings.Contains(stderr, "--device 5: no such GPU; this machine has:\n  GPU 0: ") ||
		!strings.Contains(stderr, "give --device one of these, or use --cpu") || strings.Contains(stderr, "CNNGPU_DEBUG") {
		t.Errorf("eval --device 5 on two GPUs: exit %d\n%s", code, stderr)
	}
}

// TestNaNOnAGPU: a non-finite result on a GPU engine (the fake GPU
// computes no real numbers) carries the hint that tells an engine fault
// from the model's own overflow; the CPU engine's results do not need it.
func TestNaNOnAGPU(t *testing.T) {
	f := newFixtures(t)
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "XDG_CACHE_HOME=" + t.TempDir()}
	_, stderr, code := cnngpu(t, env, "eval", "--device", "1", "--data", f.data, "--model", f.model)
	if code == 0 {
		t.Skip("the fake GPU gave finite numbers")
	}
	if !strings.Contains(stderr, "the test loss is") || !strings.Contains(stderr, "hint: on a GPU this can also be a fault of the GPU engine: if the same command with --cpu gives finite numbers") {
		t.Errorf("eval on the fake GPU: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := cnngpu(t, nil, "eval", "--cpu", "--data", f.data, "--model", f.model); code != 0 || strings.Contains(stderr, "hint: on a GPU") {
		t.Errorf("eval on the CPU: exit %d\n%s", code, stderr)
	}
}

// TestDevicesWithoutLibraries: a driver with GPUs but no cuBLAS or cuDNN
// is no GPU that can be used: devices says so and exits 1.
func TestDevicesWithoutLibraries(t *testing.T) {
	only := t.TempDir()
	if err := os.Symlink(filepath.Join(fakecuda.Dir(t), "libcuda.so.1"), filepath.Join(only, "libcuda.so.1")); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cnngpu(t, []string{"LD_LIBRARY_PATH=" + only}, "devices")
	if !strings.Contains(stdout, "cuBLAS not found") && !strings.Contains(stdout, "cuDNN not found") {
		t.Skip("cuBLAS and cuDNN are installed here")
	}
	if code != 1 || !strings.Contains(stdout, "GPU 1  Fake GPU 1") || !strings.Contains(stderr, "the GPU engine cannot start without a usable cu") {
		t.Errorf("devices with the driver alone: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestBenchOutOfMemory: bench on a GPU that runs out of memory at each of
// its allocations in turn (the fake driver's cuMemAlloc failing at the
// Nth call) ends with the allocation's error, exit 1, never a panic; the
// size asked is named, a small one in bytes rather than "0.0 MiB".
func TestBenchOutOfMemory(t *testing.T) {
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "XDG_CACHE_HOME=" + t.TempDir(), "CNNGPU_NO_CACHE=1"}
	for n := 1; ; n++ {
		if n > 500 {
			t.Fatal("bench still fails after 500 allocations failed in turn")
		}
		stdout, stderr, code := cnngpu(t, append(env, fmt.Sprintf("FAKECUDA_FAIL=cuMemAlloc_v2:%d", n)), "bench", "--device", "0", "--steps", "1")
		if code == 0 {
			if n < 10 {
				t.Fatalf("bench ran with its allocation %d failing:\n%s", n, stdout)
			}
			break
		}
		if code != 1 || strings.Contains(stderr, "panic") || !strings.Contains(stderr, "out of memory") || strings.Contains(stderr, "allocating 0.0 MiB") {
			t.Fatalf("bench with its allocation %d failing: exit %d\n%s", n, code, stderr)
		}
	}
}

// TestGPUNotDescribed: one GPU the driver fails to describe (the fake's
// second cuDeviceGetName fails) is listed as such beside the others, which
// stay usable; --device naming it says what happened and what to do. The
// failure had hidden every GPU behind a bare "cuDeviceGetName: …". A
// driver that cannot count its GPUs says to check them, and --cpu.
func TestGPUNotDescribed(t *testing.T) {
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "FAKECUDA_FAIL=cuDeviceGetName:2"}
	stdout, stderr, code := cnngpu(t, env, "devices")
	if code != 0 || !strings.Contains(stdout, "GPU 0  Fake GPU 0") || !strings.Contains(stdout, "GPU 1  not described by the driver: cuDeviceGetName: ") {
		t.Errorf("devices with GPU 1 not described: exit %d\n%s%s", code, stdout, stderr)
	}
	f := newFixtures(t)
	_, stderr, code = cnngpu(t, env, "eval", "--device", "1", "--data", f.data, "--model", f.model)
	if code == 0 || !strings.Contains(stderr, "GPU 1: the driver could not describe it (cuDeviceGetName: ") || !strings.Contains(stderr, "use another GPU (--device N") {
		t.Errorf("eval --device 1, not described: exit %d\n%s", code, stderr)
	}
	env[1] = "FAKECUDA_FAIL=cuDeviceGetCount:1"
	_, stderr, code = cnngpu(t, env, "devices")
	if code != 1 || !strings.Contains(stderr, "the NVIDIA driver could not count the GPUs: cuDeviceGetCount: ") || !strings.Contains(stderr, "use --cpu") {
		t.Errorf("devices whose count fails: exit %d\n%s", code, stderr)
	}
}

// TestDevicesTooOldGPU: GPUs older than our kernels' target (the fake's
// compute capability 3.5) are listed as too old and not usable, and
// devices exits 1, as train --device says (it exited 0, listing them as
// any other).
func TestDevicesTooOldGPU(t *testing.T) {
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "FAKECUDA_CC=35"}
	stdout, stderr, code := cnngpu(t, env, "devices")
	if code != 1 || !strings.Contains(stdout, "GPU 0  Fake GPU 0  16.0 GiB  compute capability 3.5  4 multiprocessors  (too old for cnngpu's kernels, which need ") ||
		!strings.Contains(stderr, "no GPU here can run cnngpu's kernels") {
		t.Errorf("devices on GPUs of compute capability 3.5: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestTooOldGPUFallBackNote: a default run on a GPU too old for our
// kernels falls back to the CPU with a note that does not tell the user
// to use --cpu (it has), while --device 0 names both ways out.
func TestTooOldGPUFallBackNote(t *testing.T) {
	f := newFixtures(t)
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "FAKECUDA_CC=35"}
	_, stderr, code := cnngpu(t, env, "eval", "--data", f.data, "--model", f.model)
	if code != 0 || !strings.Contains(stderr, "note: using the CPU engine: GPU 0 does not work: GPU 0 (Fake GPU 0) is too old for cnngpu's kernels") ||
		strings.Contains(stderr, "use --cpu") || strings.Contains(stderr, "or --cpu") {
		t.Errorf("eval on a GPU of compute capability 3.5: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cnngpu(t, env, "eval", "--data", f.data, "--model", f.model, "--device", "0")
	if code != 1 || !strings.Contains(stderr, "use another GPU with --device (cnngpu devices lists them), or --cpu") {
		t.Errorf("eval --device 0 on a GPU of compute capability 3.5: exit %d\n%s", code, stderr)
	}
}

// TestNoGPUFallsBackSaidPlainly: a default run where the driver sees no
// GPU trains on the CPU, saying that, not "--device 0: no such GPU" (no
// --device was given).
func TestNoGPUFallsBackSaidPlainly(t *testing.T) {
	f := newFixtures(t)
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "FAKECUDA_NDEV=0"}
	_, stderr, code := cnngpu(t, env, "eval", "--data", f.data, "--model", f.model)
	if code != 0 || !strings.Contains(stderr, "note: using the CPU engine: the NVIDIA driver sees no GPU\n") || strings.Contains(stderr, "--device 0") {
		t.Errorf("eval where the driver sees no GPU: exit %d\n%s", code, stderr)
	}
}

// TestDriverThatHangsIsSaid: a driver whose cuInit never returns is said
// after driverPatience (devices printed nothing, ever), and a first Ctrl-C
// while train waits on it says that the stop waits for the driver and
// how to stop at once (it said nothing).
func TestDriverThatHangsIsSaid(t *testing.T) {
	env := append(os.Environ(), "LD_LIBRARY_PATH="+fakecuda.Dir(t), "FAKECUDA_HANG=cuInit", "CNNGPU_NO_CACHE=1")
	waitFor := func(want string, signal bool, args ...string) {
		t.Helper()
		cmd := exec.Command(binary_, args...)
		cmd.Env = env
		var se lockedBuffer
		cmd.Stderr = &se
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		if signal {
			time.Sleep(time.Second)
			cmd.Process.Signal(os.Interrupt)
		}
		for start := time.Now(); !regexp.MustCompile(want).MatchString(se.String()); time.Sleep(100 * time.Millisecond) {
			if time.Since(start) > driverPatience+10*time.Second {
				t.Errorf("cnngpu %v with cuInit hanging: no %q on standard error:\n%s", args, want, se.String())
				return
			}
		}
	}
	waitFor(`note: still asking the NVIDIA driver for its GPUs after 1\d s: the NVIDIA driver or its libraries do not answer`, false, "devices")
	f := newFixtures(t)
	waitFor(`note: stopping once the NVIDIA driver answers \(starting the NVIDIA driver, for \d+ s now\); Ctrl-C again stops at once`, true,
		"train", "--data", f.data, "--epochs", "1", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
}

// TestDevicesLibrariesLackingFunctions: a libcuda.so.1 without a function
// of the engine's context (cuGraphInstantiateWithFlags: a driver before
// CUDA 11.4), or a libcudnn.so.9 with its version functions alone, is no
// GPU that can be used: devices names the file and what it lacks, and
// exits 1 (it exited 0, and train then failed).
func TestDevicesLibrariesLackingFunctions(t *testing.T) {
	fake := fakecuda.Dir(t)
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	build := func(dir, name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(cc, append([]string{"-shared", "-fPIC", "-o", filepath.Join(dir, name)}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	oldDriver := t.TempDir()
	build(oldDriver, "libcuda.so.1", "-DcuGraphInstantiateWithFlags=cuGraphInstantiateWithFlags_missing", filepath.Join("..", "..", "internal", "fakecuda", "csrc", "fakecuda.c"))
	dnn := t.TempDir()
	src := filepath.Join(dnn, "dnn.c")
	os.WriteFile(src, []byte("#include <stddef.h>\nsize_t cudnnGetVersion(void) { return 90100; }\nsize_t cudnnGetCudartVersion(void) { return 12080; }\n"), 0o644)
	build(dnn, "libcudnn.so.9", src)
	for _, c := range []struct {
		dir        string
		out, error string
	}{
		{oldDriver, "libcuda.so.1, supports CUDA 12.8, but cannot run cnngpu's engine (" + filepath.Join(oldDriver, "libcuda.so.1") + " lacks cuGraphInstantiateWithFlags", "lacks cuGraphInstantiateWithFlags"},
		{dnn, "  but it cannot be used: " + filepath.Join(dnn, "libcudnn.so.9") + " lacks cudnnCreate: cuDNN 8 or 9 is needed", "the GPU engine cannot start without a usable cuDNN"},
	} {
		stdout, stderr, code := cnngpu(t, []string{"LD_LIBRARY_PATH=" + c.dir + ":" + fake}, "devices")
		if code != 1 || !strings.Contains(stdout, c.out) || !strings.Contains(stderr, c.error) {
			t.Errorf("devices with %s first: exit %d, want 1, %q and %q\n%s%s", c.dir, code, c.out, c.error, stdout, stderr)
		}
	}
}

// TestDevicesDriverTooOld: a driver older than cnngpu runs on (CUDA 9.0)
// is said to be, with what to update it to, as the first line and the
// error; the libraries are not said to be the ones to install.
func TestDevicesDriverTooOld(t *testing.T) {
	stdout, stderr, code := cnngpu(t, []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "FAKECUDA_DRIVER=9000"}, "devices")
	if code != 1 || !strings.HasPrefix(stdout, "NVIDIA driver: ") || !strings.Contains(stdout, "supports CUDA 9.0: too old for cnngpu\n") ||
		!strings.Contains(stderr, "the NVIDIA driver supports CUDA 9.0, and cnngpu needs CUDA 11.4 or newer") || strings.Contains(stdout+stderr, "install it") {
		t.Errorf("devices under a CUDA 9.0 driver: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestDevicesPascalOnAnOldDriver: a GPU without SASS in the fatbin (a
// Pascal, compute capability 6.1) under a driver that cannot compile the
// kernels' PTX (CUDA 11.7) is listed as such and devices exits 1, as
// train --device then fails; under CUDA 12.8 it is usable; a driver whose
// version is not known (0) is not called too old, as the engine does not.
func TestDevicesPascalOnAnOldDriver(t *testing.T) {
	env := []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "FAKECUDA_CC=61"}
	stdout, stderr, code := cnngpu(t, append(env, "FAKECUDA_DRIVER=11070"), "devices")
	if code != 1 || !strings.Contains(stdout, "compute capability 6.1  4 multiprocessors  (its driver is too old to compile cnngpu's kernels for it: driver 520 or newer") {
		t.Errorf("devices, a Pascal GPU under CUDA 11.7: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, stderr, code := cnngpu(t, env, "devices"); strings.Contains(stdout, "cannot be used") || strings.Contains(stderr, "can run cnngpu's kernels") {
		t.Errorf("devices, a Pascal GPU under CUDA 12.8: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, stderr, _ := cnngpu(t, append(env, "FAKECUDA_DRIVER=0"), "devices"); strings.Contains(stdout+stderr, "too old") {
		t.Errorf("devices under a driver of unknown version: called too old\n%s%s", stdout, stderr)
	}
}

// TestStallOnAGPUIsSaid: a training on a GPU whose steps stop finishing
// without an error (the fake's graph launch never returns, as on a GPU
// whose driver no longer answers) is said once, with what to check and
// how to stop, by train and by each training of tune; they said nothing,
// ever. So is eval's test on a GPU that stops answering (the fake's
// stream synchronization never returns).
func TestStallOnAGPUIsSaid(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	model := filepath.Join(t.TempDir(), "model.safetensors")
	writeModel(t, model, nil)
	env := append(append(os.Environ(), "CNNGPU_TEST_STALL_PATIENCE=1s"), fakeTraining(t)...)
	const said = ` the training has finished nothing \(no step, validation or epoch's end\) for \d+ s on cuda GPU 0 \(Fake GPU 0.*\): the GPU or its driver may no longer answer \(nvidia-smi says whether the driver does\), or other work holds the GPU; Ctrl-C stops, keeping the epochs that finished$`
	for _, c := range []struct {
		args   []string
		stdout bool // the note is on standard output (tune's log)
		note   string
	}{
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "m.safetensors")}, false, `note:` + said},
		{[]string{"train", "--seeds", "3-4", "--out", filepath.Join(t.TempDir(), "m.safetensors")}, false, `note: seed 3:` + said},
		{[]string{"tune", "--lr", "0.001", "--activation", "relu", "--out", filepath.Join(t.TempDir(), "study")}, true, `note: the run lr 0\.001, batch 32, relu:` + said},
		{[]string{"eval", "--model", model}, false, `note: still testing the model on cuda GPU 0 \(Fake GPU 0.*\) after 1 s: the NVIDIA driver or its libraries do not answer`},
	} {
		args, hang := append(c.args, "--device", "0", "--data", dir), "FAKECUDA_HANG=cuGraphLaunch"
		if c.args[0] == "eval" {
			hang = "FAKECUDA_HANG=cuStreamSynchronize"
		} else {
			args = append(args, "--epochs", "1", "--batch-size", "32")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(env, hang)
		var out lockedBuffer
		if c.stdout {
			cmd.Stdout = &out
		} else {
			cmd.Stderr = &out
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		note := regexp.MustCompile(`(?m)^` + c.note)
		for start := time.Now(); !note.MatchString(out.String()); time.Sleep(100 * time.Millisecond) {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("cnngpu %v, its steps stopped: no note after %v:\n%s", c.args, time.Since(start).Round(time.Second), out.String())
			}
		}
		time.Sleep(3 * time.Second) // three patiences more: the same stall
		if n := len(note.FindAllString(out.String(), -1)); n != 1 {
			t.Errorf("cnngpu %v: the stall said %d times, want once:\n%s", c.args, n, out.String())
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// TestSeedsContinueAfterAFailedTestOnAGPU: a seed that trained every
// epoch on a GPU whose test evaluation then failed is saved; the error
// names its checkpoint, the seeds not started, and the --continue command,
// which tests that seed again without training it and trains the rest.
// The fake's trainings run to their end (fakeTraining).
func TestSeedsContinueAfterAFailedTestOnAGPU(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	env := fakeTraining(t)
	out := filepath.Join(dir, "m.safetensors")
	args := []string{"train", "--device", "0", "--data", dir, "--epochs", "1", "--batch-size", "32", "--out", out}

	// The last read from the GPU of one seed's run is its test's loss.
	reads := fakeCalls(t, env, "cuMemcpyDtoHAsync_v2", withFlags(args, "--out", filepath.Join(dir, "counted.safetensors"))...)

	seeds := append(args, "--seeds", "1,2")
	_, stderr, code := cnngpu(t, append(env, fmt.Sprintf("FAKECUDA_FAIL=cuMemcpyDtoHAsync_v2:%d", reads)), seeds...)
	seed1 := filepath.Join(dir, "m-seed1.safetensors")
	for _, want := range []string{
		"cnngpu: seed 1: testing the trained model: cuMemcpyDtoHAsync_v2: CUDA_ERROR_UNKNOWN",
		"\nthe trained model is saved in " + seed1 + " (all 1 epoch): test it with: ",
		"\nnot started: seed 2\n",
		"\ncontinue all 2 seeds with: " + binary_ + " train --device 0 --data " + dir + " --epochs 1 --batch-size 32 --seeds 1,2 --out " + out + " --continue (the finished ones are tested again, not retrained)\n",
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Fatalf("seed 1's test failing: exit %d, no %q in\n%s", code, want, stderr)
		}
	}
	before, err := os.Stat(seed1)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cnngpu(t, env, append(seeds, "--continue")...)
	if code != 0 || strings.Count(stdout, "epoch 1/1 ") != 1 || strings.Count(stdout, "test accuracy 50.00%") != 2 {
		t.Errorf("--continue: exit %d; want seed 1 tested and seed 2 trained (one epoch line, two tests)\n%s\n%s", code, stdout, stderr)
	}
	if now, err := os.Stat(seed1); err != nil || !now.ModTime().Equal(before.ModTime()) {
		t.Errorf("--continue wrote seed 1's checkpoint again (%v): it should only be tested", err)
	}

	// One seed: its continue command says so, without "all 1 seeds".
	one := withFlags(args, "--seeds", "3")
	_, stderr, code = cnngpu(t, append(env, fmt.Sprintf("FAKECUDA_FAIL=cuMemcpyDtoHAsync_v2:%d", reads)), one...)
	want := "\ncontinue with: " + binary_ + " train --device 0 --data " + dir + " --epochs 1 --batch-size 32 --seeds 3 --out " + out + " --continue (the trained seed is tested again, not retrained)\n"
	if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stderr, "all 1 seeds") {
		t.Errorf("one seed's test failing: exit %d, no %q in\n%s", code, want, stderr)
	}
}

// TestDevicesJSON: devices --json says in fields what its text says, with
// the same exit code: two fake GPUs and libraries usable (exit 0); the
// driver alone, whose libraries are missing (exit 1); no driver (exit 1).
func TestDevicesJSON(t *testing.T) {
	type report struct {
		Driver struct{ File, CUDA, Error string }
		GPUs   []struct {
			Index             int
			Name              string
			MemoryBytes       uint64 `json:"memory_bytes"`
			ComputeCapability string `json:"compute_capability"`
			Usable            bool
		}
		Libraries []struct{ Name, Version, File, Error string }
		Usable    bool
		Error     string
	}
	run := func(env ...string) (report, string, int) {
		t.Helper()
		stdout, stderr, code := cnngpu(t, env, "devices", "--json")
		var r report
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("devices --json printed no JSON object (%v):\n%s%s", err, stdout, stderr)
		}
		return r, stderr, code
	}
	r, stderr, code := run("LD_LIBRARY_PATH=" + fakecuda.Dir(t))
	if code != 0 || !r.Usable || r.Error != "" || r.Driver.File == "" || r.Driver.CUDA == "" || len(r.GPUs) != 2 ||
		r.GPUs[1].Index != 1 || r.GPUs[1].Name != "Fake GPU 1" || r.GPUs[1].MemoryBytes == 0 || r.GPUs[1].ComputeCapability == "" || !r.GPUs[1].Usable {
		t.Errorf("devices --json with the fake driver and libraries: exit %d %+v\n%s", code, r, stderr)
	}
	names := ""
	for _, l := range r.Libraries {
		names += l.Name + " "
	}
	if names != "cuBLAS cuBLASLt cuDNN " {
		t.Errorf("devices --json lists the libraries %q, want cuBLAS, cuBLASLt and cuDNN", names)
	}

	only := t.TempDir()
	if err := os.Symlink(filepath.Join(fakecuda.Dir(t), "libcuda.so.1"), filepath.Join(only, "libcuda.so.1")); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	r, stderr, code = run("LD_LIBRARY_PATH="+only, "CNNGPU_LIBRARY_PATH="+empty, "VIRTUAL_ENV="+filepath.Join(empty, "venv"))
	if len(r.Libraries) == 0 || r.Libraries[len(r.Libraries)-1].Error == "" {
		t.Skip("cuDNN is installed here")
	}
	if code != 1 || r.Usable || !strings.Contains(r.Error, "the GPU engine cannot start without a usable") || len(r.GPUs) != 2 ||
		!strings.HasPrefix(r.Libraries[len(r.Libraries)-1].Error, "cuDNN not found") || strings.Contains(r.Libraries[len(r.Libraries)-1].Error, "\n") ||
		!strings.Contains(stderr, "the GPU engine cannot start") {
		t.Errorf("devices --json with the driver alone: exit %d %+v\n%s", code, r, stderr)
	}
	if cuda.Load() == nil {
		return // a GPU here: no run without one
	}
	r, _, code = run("CNNGPU_LIBRARY_PATH=" + empty)
	if code != 1 || r.Usable || r.Driver.Error == "" || len(r.GPUs) != 0 || r.Error == "" {
		t.Errorf("devices --json with no driver: exit %d %+v", code, r)
	}
}
