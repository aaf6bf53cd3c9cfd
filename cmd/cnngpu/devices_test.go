//go:build cgo

// devices_test.go: `cnngpu devices` names the file of cuBLAS and cuDNN it
// loaded and where it found it (fake libraries built by the C compiler,
// in a CNNGPU_LIBRARY_PATH folder), and, when cuDNN is missing, where it
// looked and how to install it.

package main

import (
	"path/filepath"
	"strings"
	"testing"

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

	// Without cuDNN (none in the folder, none on this machine) it says
	// where it looked and how to install it.
	empty := t.TempDir()
	stdout, _, _ = cnngpu(t, []string{"CNNGPU_LIBRARY_PATH=" + empty, "VIRTUAL_ENV=" + filepath.Join(empty, "venv")}, "devices")
	if !strings.Contains(stdout, "cuDNN not found") {
		t.Skipf("this machine has a cuDNN of its own:\n%s", stdout)
	}
	for _, w := range []string{"CNNGPU_LIBRARY_PATH: " + empty, "the virtual environment " + filepath.Join(empty, "venv"),
		"pip install nvidia-cudnn-cu12", "libcudnn9-cuda-12", "--cpu"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("the missing cuDNN's message lacks %q:\n%s", w, stdout)
		}
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
