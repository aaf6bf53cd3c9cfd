//go:build cgo && !windows

// gpufault_test.go: a GPU that faults during a training (an illegal
// address, after which every call fails: FAKECUDA_FAULT) on the fake
// driver: train says the GPU faulted and what --out holds, whichever
// checkpoint the fault took with it.

package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fakecuda"
)

// TestGPUFaultSaysWhatOutHolds: a two-epoch run on the fake GPU (its
// memory holding what is uploaded, its losses finite) whose device faults
//   - in the first epoch, into the --out of an earlier run: that file is
//     named untouched, byte for byte;
//   - as the first epoch's checkpoint is copied from the GPU (the third
//     read: the first epoch's loss and step count come first): that
//     checkpoint is named as lost with the fault, and nothing is at --out;
//   - at the second epoch's save (its step count, the seventh read, made
//     once the first epoch's write is done): the first epoch's checkpoint
//     is intact, at epoch 1, with the resume command;
//   - in the first epoch of a run resumed with more --epochs than its
//     checkpoint's: the resume command repeats --epochs, and runs.
func TestGPUFaultSaysWhatOutHolds(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	env := fakeTraining(t)
	train := func(out string, extra ...string) []string {
		return append([]string{"train", "--device", "0", "--data", dir, "--epochs", "2", "--batch-size", "32", "--out", out}, extra...)
	}
	const fault = "CUDA_ERROR_ILLEGAL_ADDRESS (700): an illegal memory access was encountered; the GPU reported a fault, after which this process cannot use it"
	check := func(what string, stderr string, code int, want ...string) {
		t.Helper()
		for _, w := range append([]string{fault}, want...) {
			if code != 1 || !strings.Contains(stderr, w) {
				t.Errorf("%s: exit %d, want 1 saying %q:\n%s", what, code, w, stderr)
				return
			}
		}
	}

	earlier := filepath.Join(dir, "earlier.safetensors")
	if _, stderr, code := cnngpu(t, env, train(earlier)...); code != 0 {
		t.Fatalf("a run on the fake GPU: exit %d\n%s", code, stderr)
	}
	before, err := os.ReadFile(earlier)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cnngpu(t, append(env, "FAKECUDA_FAULT=cuGraphLaunch:5"), train(earlier)...)
	check("a fault in the first epoch", stderr, code, "\nno checkpoint of this run was written: the file "+earlier+" is untouched by it")
	if now, err := os.ReadFile(earlier); err != nil || !bytes.Equal(now, before) {
		t.Errorf("the earlier run's checkpoint changed (%v)", err)
	}

	lost := filepath.Join(dir, "lost.safetensors")
	_, stderr, code = cnngpu(t, append(env, "FAKECUDA_FAULT=cuMemcpyDtoHAsync_v2:3"), train(lost)...)
	check("a fault as the first checkpoint is copied", stderr, code,
		"\nthe checkpoint of epoch 1 was not written: its copy from the GPU failed with the fault\nno checkpoint was written to "+lost)
	if _, err := os.Lstat(lost); err == nil {
		t.Errorf("%s was written", lost)
	}

	kept := filepath.Join(dir, "kept.safetensors")
	_, stderr, code = cnngpu(t, append(env, "FAKECUDA_FAULT=cuMemcpyDtoHAsync_v2:7"), train(kept)...)
	check("a fault at the second epoch's save", stderr, code,
		"\nthe checkpoint "+kept+" is intact (it resumes at epoch 2, step 0): once that is fixed, resume with: "+binary_+" train --resume "+kept+" --data "+dir+" --device 0 (")
	if ck, err := engine.LoadHeader(kept); err != nil || ck.Position != (engine.Position{Epoch: 1}) {
		t.Errorf("%s after a fault in epoch 2: %v, want epoch 1's checkpoint (%v)", kept, ck, err)
	}

	// A finished one-epoch run (on the CPU: the fake's kernels count no
	// optimizer steps, which a resume checks), resumed for three.
	short := filepath.Join(dir, "short.safetensors")
	if _, stderr, code := cnngpu(t, nil, "train", "--cpu", "--threads", "1", "--data", dir, "--epochs", "1", "--batch-size", "32",
		"--schedule", "constant", "--quiet", "--out", short); code != 0 {
		t.Fatalf("one epoch on the CPU: exit %d\n%s", code, stderr)
	}
	before, err = os.ReadFile(short)
	if err != nil {
		t.Fatal(err)
	}
	resume := []string{"train", "--resume", short, "--data", dir, "--device", "0", "--epochs", "3"}
	_, stderr, code = cnngpu(t, append(env, "FAKECUDA_FAULT=cuGraphLaunch:5"), resume...)
	check("a fault in a resumed run's first epoch", stderr, code,
		"\nthe checkpoint "+short+" is intact (it resumes at epoch 2, step 0): once that is fixed, resume with: "+binary_+" "+strings.Join(resume, " ")+" (")
	if now, err := os.ReadFile(short); err != nil || !bytes.Equal(now, before) {
		t.Errorf("the resumed checkpoint changed (%v)", err)
	}
	if stdout, stderr, code := cnngpu(t, env, resume...); code != 0 || !strings.Contains(stdout, "epoch 3/3 ") {
		t.Errorf("the resume command given: exit %d, want its three epochs trained\n%s%s", code, stdout, stderr)
	}
}

// TestGPUFaultInASeedSaysHowToContinue: a --seeds run whose GPU faults in
// the second seed's first epoch (nothing of that seed kept) names the
// finished seed and the --continue command, which tests that seed again
// and trains the other two.
func TestGPUFaultInASeedSaysHowToContinue(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	env := fakeTraining(t)
	out := filepath.Join(dir, "m.safetensors")
	args := []string{"train", "--device", "0", "--data", dir, "--epochs", "2", "--batch-size", "32", "--out", out}

	// The graph launches of one seed's run, its test's included.
	launches := fakeCalls(t, env, "cuGraphLaunch", withFlags(args, "--out", filepath.Join(dir, "counted.safetensors"))...)

	seeds := append(args, "--seeds", "1-3")
	stdout, stderr, code := cnngpu(t, append(env, fmt.Sprintf("FAKECUDA_FAULT=cuGraphLaunch:%d", launches+2)), seeds...)
	for _, want := range []string{
		"cnngpu: seed 2: cuGraphLaunch: CUDA_ERROR_ILLEGAL_ADDRESS",
		"\nno checkpoint was written to " + filepath.Join(dir, "m-seed2.safetensors") + "\nnot started: seed 3\n",
		"\ncontinue all 3 seeds with: " + binary_ + " train --device 0 --data " + dir + " --epochs 2 --batch-size 32 --seeds 1-3 --out " + out + " --continue (the finished ones are tested again, not retrained)\n",
	} {
		if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stdout, "seed 1: test accuracy") {
			t.Fatalf("a fault in seed 2: exit %d, no %q in\n%s%s", code, want, stdout, stderr)
		}
	}
	stdout, stderr, code = cnngpu(t, env, append(seeds, "--continue")...)
	if code != 0 || strings.Count(stdout, "epoch 2/2 ") != 2 || !strings.Contains(stdout, "3 seeds: test accuracy mean 50.00%") {
		t.Errorf("--continue: exit %d; want seed 1 tested, seeds 2 and 3 trained\n%s\n%s", code, stdout, stderr)
	}

	// Seeds of other settings over those: the fault in seed 2 leaves its
	// file the earlier run's, which --continue would take for this one's
	// (and refuse): they are to be moved aside first.
	other := withFlags(seeds, "--lr", "0.002")
	_, stderr, code = cnngpu(t, append(env, fmt.Sprintf("FAKECUDA_FAULT=cuGraphLaunch:%d", launches+2)), other...)
	if code != 1 || !strings.Contains(stderr, "no checkpoint of this run was written: the file "+filepath.Join(dir, "m-seed2.safetensors")+" is untouched by it") ||
		strings.Contains(stderr, "\ncontinue all") || !strings.Contains(stderr, "\nto go on, move aside the earlier run's checkpoints at the --out of seed 2 and the seeds after it (named above), then continue all 3 seeds with: ") {
		t.Errorf("a fault in seed 2 over an earlier run's seeds: exit %d, want 1 naming its file untouched, and to move the earlier files aside before --continue\n%s", code, stderr)
	}
}

// fakeTraining is the environment of a cnngpu run on the fake driver
// whose trainings run to their end: its memory holds what is uploaded
// (FAKECUDA_HOSTMEM) and its loss statistics read finite (FAKECUDA_LOSS),
// with a cache of its own and none of the GPU's choices remembered.
func fakeTraining(t *testing.T) []string {
	return []string{"LD_LIBRARY_PATH=" + fakecuda.Dir(t), "XDG_CACHE_HOME=" + t.TempDir(), "CNNGPU_NO_CACHE=1",
		"FAKECUDA_HOSTMEM=1", "FAKECUDA_LOSS=0.25"}
}

// TestGPUFaultNamedAsSuch: a fault the first call to see is a library's
// allocation (cudnnFind's workspace) is told as the fault, not as the GPU
// out of memory (with advice for a smaller batch); one whose kernel's
// error waits for the next call is told at that kernel, not at the next
// allocation; and serve's start-up check gives the fault without the
// hint for non-finite outputs.
func TestGPUFaultNamedAsSuch(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	env := fakeTraining(t)
	_, stderr, code := cnngpu(t, append(env, "FAKECUDA_FAULT=cudnnFindConvolutionForwardAlgorithm:1"),
		"train", "--device", "0", "--data", dir, "--epochs", "1", "--batch-size", "32", "--out", filepath.Join(dir, "m.safetensors"))
	if code != 1 || !strings.Contains(stderr, "CUDNN_STATUS_ALLOC_FAILED; the device then reported ") || !strings.Contains(stderr, "the GPU reported a fault") ||
		strings.Contains(stderr, "out of memory") {
		t.Errorf("a fault seen first by cudnnFind's allocation: exit %d, want 1 telling the fault, not out of memory\n%s", code, stderr)
	}
	model := filepath.Join(dir, "model.safetensors")
	writeModel(t, model, nil)
	_, stderr, code = cnngpu(t, append(env, "FAKECUDA_FAULT=cuLaunchKernel:1"), "predict", "--device", "0", "--model", model, "../../docs/digit.png")
	if code != 1 || !strings.HasPrefix(stderr, "cnngpu: cuLaunchKernel(") || !strings.Contains(stderr, "the GPU reported a fault") {
		t.Errorf("predict, a fault at the first kernel: exit %d, want 1 naming that kernel\n%s", code, stderr)
	}
	_, stderr, code = cnngpu(t, append(env, "FAKECUDA_FAULT=cuLaunchKernel:1"), "serve", "--device", "0", "--model", model, "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "cuLaunchKernel(") || strings.Contains(stderr, "finite") {
		t.Errorf("serve, a fault in its start-up check: exit %d, want 1 naming the kernel, without the non-finite hint\n%s", code, stderr)
	}
}

// TestGPUFaultAsTheEngineCloses: a fault that only the engine's last wait
// sees, as train ends (its results read back and its checkpoint written
// before) or as serve stops after SIGTERM (its answers given), is said in
// a note: the results stand, exit 0. It went unsaid.
func TestGPUFaultAsTheEngineCloses(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 300, 50)
	env := fakeTraining(t)
	args := []string{"train", "--device", "0", "--data", dir, "--epochs", "1", "--batch-size", "32", "--out", filepath.Join(dir, "m.safetensors")}
	waits := fakeCalls(t, env, "cuStreamSynchronize", withFlags(args, "--out", filepath.Join(dir, "counted.safetensors"))...)
	stdout, stderr, code := cnngpu(t, append(env, fmt.Sprintf("FAKECUDA_FAULT=cuStreamSynchronize:%d", waits)), args...)
	if code != 0 || !strings.Contains(stdout, "test accuracy 50.00%") ||
		!strings.Contains(stderr, closeFault) {
		t.Errorf("a fault at the engine's last wait: exit %d, want 0 with the result and a note\n%s%s", code, stdout, stderr)
	}
	if _, err := engine.LoadHeader(filepath.Join(dir, "m.safetensors")); err != nil {
		t.Errorf("the checkpoint: %v", err)
	}

	// serve, stopped by SIGTERM once it has answered a request: the
	// answer stands (exit 0), and the fault at the engine's closing wait
	// is said.
	serve := func(env ...string) (string, int) {
		cmd := exec.Command(binary_, "serve", "--device", "0", "--model", filepath.Join(dir, "m.safetensors"), "--addr", "127.0.0.1:0")
		cmd.Env = append(append(os.Environ(), fakeTraining(t)...), env...)
		url, cmd, out := startServeCmd(t, cmd)
		png, err := os.ReadFile("../../docs/digit.png")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(url+"/v1/predict", "image/png", bytes.NewReader(png))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("serve's answer: %v %v\n%s", resp, err, out.String())
		}
		resp.Body.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		return out.String(), cmd.ProcessState.ExitCode()
	}
	stats := filepath.Join(t.TempDir(), "stats")
	if out, code := serve("FAKECUDA_STATS=" + stats); code != 0 {
		t.Fatalf("serve on the fake driver: exit %d\n%s", code, out)
	}
	b, _ := os.ReadFile(stats)
	_, count, _ := strings.Cut(string(b), "count cuStreamSynchronize ")
	if _, err := fmt.Sscanf(count, "%d", &waits); err != nil {
		t.Fatalf("the fake's count of cuStreamSynchronize in serve: %v\n%s", err, b)
	}
	if out, code := serve(fmt.Sprintf("FAKECUDA_FAULT=cuStreamSynchronize:%d", waits)); code != 0 || !strings.Contains(out, closeFault) {
		t.Errorf("serve, a fault at the engine's last wait after SIGTERM: exit %d, want 0 and a note\n%s", code, out)
	}
}

// closeFault is the note of a fault at the engine's last wait.
const closeFault = "note: the command's work is done and its results are complete, but closing the engine failed: cuStreamSynchronize: CUDA_ERROR_ILLEGAL_ADDRESS"
