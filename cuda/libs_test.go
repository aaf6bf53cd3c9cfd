//go:build cgo && !windows

// libs_test.go: cuBLAS found and opened for real (dlopen, dladdr) among
// fake libraries built by the C compiler: the wheel layouts of CUDA 12 and
// 13, a libcublasLt that only the companion preload lets the loader find,
// and the choice by the driver's CUDA version.

package cuda

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/internal/nvlib"
	"github.com/cnngpu/cnngpu/internal/nvlib/nvlibtest"
)

func TestOpenLibraryFakeCUBLAS(t *testing.T) {
	root := t.TempDir()
	site := filepath.Join(root, "venv/lib/python3.12/site-packages")
	env := nvlib.Env{Getenv: func(k string) string {
		if k == "VIRTUAL_ENV" {
			return filepath.Join(root, "venv")
		}
		return ""
	}, NoSystemSearch: true}

	// libcublas.so.12 needs libcublasLt.so.12; in a folder of its own,
	// without it, loading fails and says so (so the dependency is real).
	lone := filepath.Join(root, "lone")
	nvlibtest.CUBLAS(t, lone, 12, 8, 4, true)
	if err := os.Remove(filepath.Join(lone, "libcublasLt.so.12")); err != nil {
		t.Fatal(err)
	}
	envLone := env
	envLone.Getenv = func(k string) string {
		if k == nvlib.LibraryPathEnv {
			return lone
		}
		return ""
	}
	// (Unless this process already has a libcublasLt.so.12, the system's,
	// which the loader would take by its soname.)
	maps, _ := os.ReadFile("/proc/self/maps")
	if !strings.Contains(string(maps), "/libcublasLt.so.12") {
		if _, err := openLibrary(nvlib.CUBLAS, envLone, nvlib.Machine{Driver: 12040}, describeBLAS); err == nil || !strings.Contains(err.Error(), "libcublasLt.so.12") {
			t.Fatalf("libcublas.so.12 without its libcublasLt: %v; want an error naming libcublasLt.so.12", err)
		}
	}

	p13 := nvlibtest.CUBLAS(t, filepath.Join(site, "nvidia/cu13/lib"), 13, 1, 0, false)
	p12 := nvlibtest.CUBLAS(t, filepath.Join(site, "nvidia/cublas/lib"), 12, 8, 4, true)

	// A CUDA 12.4 driver: cuBLAS 13 is skipped, cuBLAS 12 loads from the
	// wheel folder, its libcublasLt found through the companion preload.
	l, err := openLibrary(nvlib.CUBLAS, env, nvlib.Machine{Driver: 12040}, describeBLAS)
	if err != nil {
		t.Fatalf("CUDA 12.4 driver: %v", err)
	}
	if l.Found.File() != p12 || l.Found.Version != "12.8.4" || !strings.HasPrefix(l.Found.Place, "the virtual environment") {
		t.Errorf("CUDA 12.4 driver: loaded %s", l.Found)
	}
	if rep := strings.Join(l.Found.Report(), "\n"); !strings.Contains(rep, p13+" (13.1.0): built for CUDA 13") {
		t.Errorf("the report does not say why cuBLAS 13 was skipped: %q", rep)
	}
	if _, err := l.Sym("cublasGetProperty", "cublasUsesLt"); err != nil {
		t.Error(err)
	}

	// A CUDA 13 driver takes the newest.
	l, err = openLibrary(nvlib.CUBLAS, env, nvlib.Machine{Driver: 13000}, describeBLAS)
	if err != nil || l.Found.File() != p13 || l.Found.Version != "13.1.0" || len(l.Found.Skipped) != 0 {
		t.Errorf("CUDA 13 driver: %v, %v; want %s first", l, err, p13)
	}

	// A file that is not cuBLAS is passed over with the reason.
	bogus := filepath.Join(root, "bogus")
	nvlibtest.Build(t, filepath.Join(bogus, "libcublas.so.13"), "libcublas.so.13", "int nothing(void) { return 0; }\n")
	envBogus := env
	envBogus.Getenv = func(k string) string {
		switch k {
		case nvlib.LibraryPathEnv:
			return bogus
		case "VIRTUAL_ENV":
			return filepath.Join(root, "venv")
		}
		return ""
	}
	l, err = openLibrary(nvlib.CUBLAS, envBogus, nvlib.Machine{Driver: 13000}, describeBLAS)
	if err != nil || l.Found.File() != p13 || len(l.Found.Skipped) != 1 || !strings.Contains(l.Found.Report()[0], "lacks cublasGetProperty") {
		t.Errorf("with a bogus libcublas.so.13 first: %v, %v", l, err)
	}
}
