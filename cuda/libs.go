//go:build cgo && !windows

// libs.go: opening the NVIDIA libraries other than the driver (cuBLAS
// here, cuDNN for package cudnn) where package nvlib finds them: each
// candidate file is opened with dlopen (its companions from the same
// folder first), asked for its version and the CUDA version it was built
// for, and chosen or closed by the driver's CUDA version. dladdr tells
// which file the system actually loaded.

package cuda

/*
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

// c_dlfile is the path of the object that holds sym, or NULL.
static const char *c_dlfile(void *sym) {
	Dl_info info;
	if (sym == NULL || dladdr(sym, &info) == 0) return NULL;
	return info.dli_fname;
}
static void *c_dlopen(const char *name, int lazy) {
	return dlopen(name, (lazy ? RTLD_LAZY : RTLD_NOW) | RTLD_LOCAL);
}
*/
import "C"

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/nvlib"
)

// Library is an opened NVIDIA library and how it was found.
type Library struct {
	handle unsafe.Pointer
	Found  *nvlib.Found
}

// Sym resolves names from the library; a missing one is an error naming
// the file.
func (l *Library) Sym(names ...string) (map[string]unsafe.Pointer, error) {
	return dlsym(l.handle, l.Found.File(), names...)
}

// Lookup resolves one name from the library (nil when missing).
func (l *Library) Lookup(name string) unsafe.Pointer {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return C.dlsym(l.handle, cn)
}

// Describe reads an opened file's version and the CUDA major version it
// was built for; sym resolves a name in that file (nil when missing).
type Describe func(sym func(name string) unsafe.Pointer) (nvlib.Info, error)

// OpenLibrary finds and opens lib where nvlib searches, choosing by the
// driver's CUDA version and the GPUs' compute capability (neither when the
// driver does not load).
func OpenLibrary(lib nvlib.Lib, describe Describe) (*Library, error) {
	var m nvlib.Machine
	if Load() == nil {
		m.Driver, _ = DriverVersion()
		if devs, err := Devices(); err == nil {
			for _, d := range devs {
				if d.Err == nil {
					m.NewestCC = max(m.NewestCC, 10*d.ComputeMajor+d.ComputeMinor)
				}
			}
		}
	}
	return openLibrary(lib, nvlib.OSEnv(), m, describe)
}

func openLibrary(lib nvlib.Lib, env nvlib.Env, m nvlib.Machine, describe Describe) (*Library, error) {
	o, found, err := nvlib.Find(lib, env, m, func(c nvlib.Candidate) (opened, nvlib.Info, error) {
		return openCandidate(lib, c, describe)
	}, opened.close)
	if err != nil {
		return nil, err
	}
	return &Library{handle: o.h, Found: found}, nil
}

// opened is a candidate's handle and those of the companions opened for
// it (kept open while it is: the dynamic loader resolved it against them).
type opened struct {
	h     unsafe.Pointer
	comps []unsafe.Pointer
}

// close releases a candidate passed over, its companions with it, so that
// the next candidate's loading does not find them by soname (another
// folder's libcublasLt beside this folder's libcublas).
func (o opened) close() {
	if o.h != nil {
		C.dlclose(o.h)
	}
	for _, c := range o.comps {
		C.dlclose(c)
	}
}

// openCandidate opens one candidate file and describes it.
func openCandidate(lib nvlib.Lib, c nvlib.Candidate, describe Describe) (opened, nvlib.Info, error) {
	var o opened
	if c.InFolder() {
		// A folder off the system's search path: what the library needs
		// from it is opened first, so the dynamic loader finds it by
		// soname. One that fails is left to the library's own open to
		// report.
		for _, comp := range lib.Companions(c.Major) {
			p := filepath.Join(filepath.Dir(c.Path), comp)
			if h, err := dlopenOne(p, true); err == nil {
				o.comps = append(o.comps, h)
			}
		}
	}
	h, err := dlopenOne(c.Path, false)
	if err != nil {
		o.close()
		return opened{}, nvlib.Info{}, err
	}
	o.h = h
	sym := func(name string) unsafe.Pointer {
		cn := C.CString(name)
		defer C.free(unsafe.Pointer(cn))
		return C.dlsym(h, cn)
	}
	info, err := describe(sym)
	if err != nil {
		o.close()
		return opened{}, info, err
	}
	// Which file the system loaded (a bare soname resolves to a path).
	if f := C.c_dlfile(sym(lib.Probe)); f != nil {
		info.File = C.GoString(f)
	}
	return o, info, nil
}

// dlopenOne opens one file or soname, lazily or not; the error is dlerror.
func dlopenOne(name string, lazy bool) (unsafe.Pointer, error) {
	// dlerror is the calling thread's: the goroutine stays on the thread
	// that called dlopen until it has read it (else it may read another
	// thread's, or none: an empty reason, seen in parallel tests).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	l := C.int(0)
	if lazy {
		l = 1
	}
	h := C.c_dlopen(cn, l)
	if h == nil {
		why := C.GoString(C.dlerror())
		// A file there, built for another processor, which the loader
		// calls missing (or names no file of); not where the loader gave
		// another reason (of a later file on the path, say).
		if strings.Contains(why, "No such file or directory") || strings.Contains(why, "wrong ELF class") {
			if foreign := nvlib.ForeignOnSearchPath(name); foreign != "" {
				why += "; " + foreign
			}
		}
		return nil, errors.New(why)
	}
	return h, nil
}

// DriverFile is the path of the libcuda.so.1 the system loads (also when
// the driver then fails to start: no GPU).
func DriverFile() (string, error) {
	h, err := dlopenOne("libcuda.so.1", true)
	if err != nil {
		return "", err
	}
	defer C.dlclose(h)
	cn := C.CString("cuInit")
	defer C.free(unsafe.Pointer(cn))
	return driverPath(C.dlsym(h, cn)), nil
}

// driverPath is the path of the libcuda.so.1 whose cuInit is at cuInit
// (its name where the system does not say): of the one loaded, without
// opening it again as DriverFile does.
func driverPath(cuInit unsafe.Pointer) string {
	if f := C.c_dlfile(cuInit); f != nil {
		return C.GoString(f)
	}
	return "libcuda.so.1"
}

// LtLibrary loads cuBLASLt (the copy beside the cuBLAS loaded, for the
// dense layers' fused products) and returns the file the system loaded.
func LtLibrary() (string, error) {
	fns, err := ltLibrary()
	if err != nil {
		return "", err
	}
	if f := C.c_dlfile(fns["cublasLtCreate"]); f != nil {
		return C.GoString(f), nil
	}
	return "", errors.New("cuBLASLt: loaded, but the system does not say from which file")
}
