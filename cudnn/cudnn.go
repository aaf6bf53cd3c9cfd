//go:build cgo && !windows

// Package cudnn is cnngpu's binding to cuDNN, loaded at run time with dlopen
// (libcudnn.so.9, then .8, where internal/nvlib finds it) like package
// cuda, so no cuDNN headers or libraries are needed to build.
//
// cudnn.go: loading the library and its version.
package cudnn

/*
#include <stddef.h>
typedef size_t (*cudnnGetVersion_t)(void);
static size_t call_cudnnGetVersion(void *f) { return ((cudnnGetVersion_t)f)(); }
*/
import "C"

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/nvlib"
	"github.com/cnngpu/cnngpu/internal/trace"
)

var (
	libOnce sync.Once
	lib     *cuda.Library
	libErr  error
	// fns are the functions New looks up (dnnFuncs, and those of opsFuncs
	// the file has), fnErr the first of dnnFuncs it lacks.
	fns   map[string]unsafe.Pointer
	fnErr error

	partsOnce sync.Once
	// begun is set by the preload's goroutine as it starts opening cuDNN
	// (cuda.WaitPreloaded).
	begun atomic.Bool
)

// library opens cuDNN once: a file built for a CUDA major version the
// driver supports, where nvlib finds one (the system's search path,
// CNNGPU_LIBRARY_PATH, Python environments with NVIDIA's wheels,
// /usr/local/cuda/lib64); and looks up the functions New uses, so that no
// dlsym is left for New (on a preload one would wait for the loader's
// lock while the sub-libraries open).
func library() (*cuda.Library, error) {
	libOnce.Do(func() {
		defer trace.Begin(trace.LoadDNN).End()
		if lib, libErr = cuda.OpenLibrary(nvlib.CUDNN, describe); libErr != nil {
			return
		}
		fns = map[string]unsafe.Pointer{}
		for _, n := range append(dnnFuncs, opsFuncs...) {
			p := lib.Lookup(n)
			if p == nil {
				if slices.Contains(opsFuncs, n) {
					continue // needed only by the op that calls it (ops.go)
				}
				if fnErr == nil {
					// No hint to debug it (a SetupError).
					fnErr = &cuda.SetupError{Err: fmt.Errorf("%s lacks %s: cuDNN 8 or 9 is needed", lib.Found.File(), n), Hint: cuda.UseCPU}
				}
				continue
			}
			fns[n] = p
		}
	})
	return lib, libErr
}

// describe reads a cuDNN file's version and the CUDA version it was built
// for (cudnnGetCudartVersion).
func describe(sym func(string) unsafe.Pointer) (nvlib.Info, error) {
	gv, gc := sym("cudnnGetVersion"), sym("cudnnGetCudartVersion")
	if gv == nil || gc == nil {
		return nvlib.Info{}, errors.New("lacks cudnnGetVersion or cudnnGetCudartVersion: not cuDNN 8 or 9")
	}
	return nvlib.Info{Version: versionString(int(C.call_cudnnGetVersion(gv))), CUDAMajor: int(C.call_cudnnGetVersion(gc)) / 1000}, nil
}

// versionString decodes cudnnGetVersion: cuDNN 9 encodes major*10000 +
// minor*100 + patch; cuDNN 8 major*1000 + minor*100 + patch.
func versionString(v int) string {
	if v >= 90000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%d.%d.%d", v/1000, v/100%10, v%100)
}

// Preload opens cuDNN and, for cuDNN 9, its sub-libraries (loadParts);
// for cuda.Preload, beside the context's making. A failure is left for
// New to report, as without it.
func Preload() {
	begun.Store(true)
	l, err := library()
	if err != nil || cuda.Abandoned() {
		return
	}
	loadParts(l)
}

// skippedParts are cuDNN 9's sub-libraries a preload leaves to cuDNN: the
// RNN and attention library, which we never call, and the
// runtime-compiled engines, which bring NVRTC with them.
var skippedParts = []string{"libcudnn_adv.so.9", "libcudnn_engines_runtime_compiled.so.9"}

// loadParts opens once, for cuDNN 9, the sub-libraries in the folder of
// the libcudnn.so.9 opened (libcudnn_*.so.9: graph, ops, cnn, engines,
// heuristics, and whatever a later release adds), less skippedParts.
// cuDNN's dispatcher loads its parts by soname, which the loader's search
// may resolve elsewhere (LD_LIBRARY_PATH, the system's cache) than the
// folder of the file chosen; opened first from that folder, they are the
// ones cuDNN gets, and their loading moves off the first cuDNN calls.
func loadParts(l *cuda.Library) {
	partsOnce.Do(func() {
		dir := l.Folder()
		if l.Found.Major != 9 || dir == "" {
			return
		}
		defer trace.Begin(trace.LoadDNNParts).End()
		files, _ := filepath.Glob(filepath.Join(dir, "libcudnn_*.so.9"))
		var names []string
		for _, f := range files {
			if n := filepath.Base(f); !slices.Contains(skippedParts, n) {
				names = append(names, n)
			}
		}
		l.OpenBeside(names...)
	})
}

// Library loads cuDNN and says which file was loaded, its version, from
// where, and the candidates tried before it.
func Library() (*nvlib.Found, error) {
	l, err := library()
	if err != nil {
		return nil, err
	}
	return l.Found, nil
}

// Usable is why the cuDNN found (Library) cannot be used: it lacks a
// function the engine calls; nil where it has them all.
func Usable() error {
	if _, err := library(); err != nil {
		return err
	}
	return fnErr
}
