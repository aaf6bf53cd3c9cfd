//go:build cgo && !windows

// gpuenv_test.go: the GPU engine's environment variables, in a build that
// has the GPU engine (cgo).

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGPUEnvRefused: a bad CNNGPU_KERNELS, CNNGPU_CONV, CNNGPU_DENSE,
// CNNGPU_STREAMS, CNNGPU_PRIORITY, CNNGPU_PRELOAD, CNNGPU_CUDNN_BESIDE,
// CNNGPU_HEAD, CNNGPU_DENSE_UPDATE, CNNGPU_NO_CACHE or CNNGPU_DEBUG is
// refused with the
// variable, the value and what is expected, exit 2, whether or not this
// machine has a GPU, with or without --device (rather than falling back
// to the CPU engine), with --cpu too, and by tune's dry run (before it
// says all is well); the other spellings of a switch are taken, --cpu
// included.
func TestGPUEnvRefused(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 64, 20)
	for _, env := range []string{"CNNGPU_KERNELS=fast", "CNNGPU_CONV=ours", "CNNGPU_DENSE=lt", "CNNGPU_STREAMS=4", "CNNGPU_PRIORITY=first", "CNNGPU_NO_CACHE=maybe", "CNNGPU_PRELOAD=2", "CNNGPU_CUDNN_BESIDE=later", "CNNGPU_HEAD=2", "CNNGPU_DENSE_UPDATE=on", "CNNGPU_DEBUG=x"} {
		for _, args := range [][]string{{"train", "--device", "0"}, {"train"}, {"train", "--cpu"}, {"bench", "--steps", "1"}, {"tune", "--dry-run", "--out", filepath.Join(dir, "study")}} {
			args = append(args, "--epochs", "1", "--data", dir)
			if args[0] == "bench" {
				args = args[:3]
			}
			_, stderr, code := cnngpu(t, []string{env}, args...)
			name := strings.SplitN(env, "=", 2)[0]
			if code != 2 || !strings.Contains(stderr, name+"=") || !strings.Contains(stderr, "expected") {
				t.Errorf("%s cnngpu %s: exit %d, stderr %q; want exit 2 naming %s and what is expected", env, strings.Join(args, " "), code, stderr, name)
			}
		}
	}
	env := []string{"CNNGPU_DEBUG=true", "CNNGPU_NO_CACHE=Off", "CNNGPU_PRELOAD=yes", "CNNGPU_CUDNN_BESIDE=no", "CNNGPU_TRACE=false", "CNNGPU_DENSE_UPDATE=Fused"}
	if _, stderr, code := cnngpu(t, env, "train", "--cpu", "--epochs", "1", "--data", dir, "--out", filepath.Join(dir, "m.safetensors")); code != 0 {
		t.Errorf("%v cnngpu train --cpu: exit %d, stderr %q", env, code, stderr)
	}
}

// TestHelpListsEnvironment: 'cnngpu --help' names every variable the
// commands read.
func TestHelpListsEnvironment(t *testing.T) {
	stdout, _, code := cnngpu(t, nil, "--help")
	for _, v := range []string{"XDG_CACHE_HOME", "CNNGPU_KERNELS", "CNNGPU_CONV", "CNNGPU_DENSE", "CNNGPU_STREAMS", "CNNGPU_PRIORITY", "CNNGPU_DEBUG", "CNNGPU_LIBRARY_PATH", "CNNGPU_TRACE", "CNNGPU_NO_CACHE", "CNNGPU_PRELOAD", "CNNGPU_CUDNN_BESIDE", "CNNGPU_HEAD", "CNNGPU_DENSE_UPDATE", "CNNGPU_NOASM", "CNNGPU_NOAVX512"} {
		if code != 0 || !strings.Contains(stdout, v) {
			t.Errorf("cnngpu --help (exit %d) does not mention %s", code, v)
		}
	}
}

// TestNoAsmEnv: CNNGPU_NOASM and CNNGPU_NOAVX512 take 1 or 0 (and the
// other spellings of a boolean); anything else is refused with exit 2,
// naming it. With CNNGPU_NOAVX512=1 the engine names the AVX2 kernel.
func TestNoAsmEnv(t *testing.T) {
	bench := []string{"bench", "--cpu", "--threads", "1", "--batch-size", "8", "--steps", "1", "--warmup", "0"}
	for _, name := range []string{"CNNGPU_NOASM", "CNNGPU_NOAVX512"} {
		_, stderr, code := cnngpu(t, []string{name + "=banana"}, bench...)
		if code != 2 || !strings.Contains(stderr, name+`="banana": expected 1`) {
			t.Errorf("%s=banana: exit %d\n%s", name, code, stderr)
		}
		for _, v := range []string{"0", "1"} {
			stdout, stderr, code := cnngpu(t, []string{name + "=" + v}, bench...)
			if code != 0 {
				t.Errorf("%s=%s: exit %d\n%s", name, v, code, stderr)
			}
			if name == "CNNGPU_NOAVX512" && v == "1" && strings.Contains(stdout+stderr, "AVX-512") {
				t.Errorf("%s=1: the engine still says AVX-512:\n%s%s", name, stdout, stderr)
			}
		}
	}
}
