//go:build cgo

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
	"sync"
	"unsafe"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/nvlib"
	"github.com/cnngpu/cnngpu/internal/trace"
)

var (
	libOnce sync.Once
	lib     *cuda.Library
	libErr  error
)

// library opens cuDNN once: a file built for a CUDA major version the
// driver supports, where nvlib finds one (the system's search path,
// CNNGPU_LIBRARY_PATH, Python environments with NVIDIA's wheels,
// /usr/local/cuda/lib64).
func library() (*cuda.Library, error) {
	libOnce.Do(func() { defer trace.Begin(trace.LoadDNN).End(); lib, libErr = cuda.OpenLibrary(nvlib.CUDNN, describe) })
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

// subLibraries are cuDNN 9's parts that its convolutions need, which the
// dispatcher, libcudnn.so.9, loads from its own folder by soname when
// first asked for them: the graph API and its engines and heuristics,
// and the legacy ops and convolutions. (Left to cuDNN: the RNN and
// attention library, and the runtime-compiled engines, which need NVRTC.)
var subLibraries = []string{"libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
	"libcudnn_engines_precompiled.so.9", "libcudnn_heuristic.so.9"}

// Preload opens cuDNN and, for cuDNN 9, its sub-libraries (subLibraries)
// from the folder of the file opened; for cuda.Preload, beside the
// context's making. A failure is left for New to report, as without it.
func Preload() {
	l, err := library()
	if err != nil || l.Found.Major != 9 {
		return
	}
	defer trace.Begin(trace.LoadDNNParts).End()
	l.OpenBeside(subLibraries...)
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
