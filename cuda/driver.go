//go:build cgo && !windows

// Package cuda is cnngpu's binding to the CUDA driver API and cuBLAS. The
// libraries are loaded at run time with dlopen and every function is
// resolved with dlsym from our own declarations, so the binary builds
// without any CUDA SDK (it links only libc and libdl) and starts on
// machines without an NVIDIA driver, where Load reports why.
//
// driver.go: loading libcuda.so.1, device discovery and the error helper.
package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>

// Our declarations of the driver API types we use (cuda.h): CUresult and
// CUdevice are int; CUdevice_attribute is an int-sized enum.
typedef int CUresult;
typedef int CUdevice;

typedef CUresult (*cuInit_t)(unsigned int);
typedef CUresult (*cuDriverGetVersion_t)(int *);
typedef CUresult (*cuDeviceGetCount_t)(int *);
typedef CUresult (*cuDeviceGet_t)(CUdevice *, int);
typedef CUresult (*cuDeviceGetName_t)(char *, int, CUdevice);
typedef CUresult (*cuDeviceTotalMem_t)(size_t *, CUdevice);
typedef CUresult (*cuDeviceGetAttribute_t)(int *, int, CUdevice);
typedef CUresult (*cuGetErrorString_t)(CUresult, const char **);

static CUresult call_cuInit(void *f, unsigned int flags) { return ((cuInit_t)f)(flags); }
static CUresult call_cuDriverGetVersion(void *f, int *v) { return ((cuDriverGetVersion_t)f)(v); }
static CUresult call_cuDeviceGetCount(void *f, int *n) { return ((cuDeviceGetCount_t)f)(n); }
static CUresult call_cuDeviceGet(void *f, CUdevice *d, int ordinal) { return ((cuDeviceGet_t)f)(d, ordinal); }
static CUresult call_cuDeviceGetName(void *f, char *name, int len, CUdevice d) { return ((cuDeviceGetName_t)f)(name, len, d); }
static CUresult call_cuDeviceTotalMem(void *f, size_t *bytes, CUdevice d) { return ((cuDeviceTotalMem_t)f)(bytes, d); }
static CUresult call_cuDeviceGetAttribute(void *f, int *v, int attr, CUdevice d) { return ((cuDeviceGetAttribute_t)f)(v, attr, d); }
static CUresult call_cuGetErrorString(void *f, CUresult r, const char **s) { return ((cuGetErrorString_t)f)(r, s); }
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/trace"
)

// Device attributes (CUdevice_attribute in cuda.h).
const (
	attrMultiprocessorCount = 16
	attrComputeMajor        = 75
	attrComputeMinor        = 76
)

// driver holds libcuda's handle and the functions resolved from it.
type driver struct {
	handle unsafe.Pointer
	fn     map[string]unsafe.Pointer
}

var (
	loadOnce sync.Once
	drv      *driver
	loadErr  error
)

// dlopen opens the first library of names that loads, returning its
// handle and name, or an error listing why each failed.
func dlopen(names ...string) (unsafe.Pointer, string, error) {
	var reasons []string
	for _, n := range names {
		h, err := dlopenOne(n, false)
		if err == nil {
			return h, n, nil
		}
		reasons = append(reasons, err.Error())
	}
	return nil, "", errors.New(strings.Join(reasons, "; "))
}

// dlsym resolves names from handle.
func dlsym(handle unsafe.Pointer, lib string, names ...string) (map[string]unsafe.Pointer, error) {
	out := map[string]unsafe.Pointer{}
	for _, n := range names {
		cn := C.CString(n)
		p := C.dlsym(handle, cn)
		C.free(unsafe.Pointer(cn))
		if p == nil {
			return nil, fmt.Errorf("%s lacks %s: the library is too old or not the NVIDIA one", lib, n)
		}
		out[n] = p
	}
	return out, nil
}

// Load opens libcuda.so.1 and initialises the driver. It is safe to call
// more than once; the first result is kept.
func Load() error {
	loadOnce.Do(func() {
		ld := trace.Begin(trace.LoadDriver) // dlopen and dlsym; ended before cuInit
		h, _, err := dlopen("libcuda.so.1")
		if err != nil {
			why := fmt.Sprintf("libcuda.so.1 could not be loaded (%v)", err)
			if e := err.Error(); e == "libcuda.so.1: cannot open shared object file: No such file or directory" {
				// glibc's whole dlerror (a library libcuda.so.1 needs,
				// missing, is named first: kept, as any other error).
				why = "libcuda.so.1 is not on the library path"
			}
			loadErr = &SetupError{Err: fmt.Errorf("no NVIDIA driver: %s", why), Hint: UseCPU + noDriver}
			return
		}
		fn, err := dlsym(h, "libcuda.so.1", "cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet",
			"cuDeviceGetName", "cuDeviceTotalMem_v2", "cuDeviceGetAttribute", "cuGetErrorName", "cuGetErrorString")
		if err != nil {
			C.dlclose(h)
			loadErr = &SetupError{Err: fmt.Errorf("%w (a driver older than CUDA 11, or a libcuda.so.1 that is not NVIDIA's: nvidia-smi shows the driver)", err), Hint: UseCPU}
			return
		}
		d := &driver{handle: h, fn: fn}
		ld.End()
		in := trace.Begin(trace.CUInit)
		err = d.check("cuInit", C.call_cuInit(fn["cuInit"], 0))
		in.End()
		if err != nil {
			hint, then := initHint(err)
			loadErr = &SetupError{Err: fmt.Errorf("the NVIDIA driver (%s) did not start: %w; %s", driverPath(fn["cuInit"]), err, hint), Hint: then}
			return
		}
		drv = d
	})
	return loadErr
}

// initHint says what to do about cuInit's failure err, and what until
// then (SetupError's Hint).
func initHint(err error) (hint, then string) {
	var e *Error
	errors.As(err, &e)
	switch {
	case e == nil:
	case e.Status == 34: // CUDA_ERROR_STUB_LIBRARY
		return "that libcuda.so.1 is the CUDA toolkit's stub, for linking only (a folder such as /usr/local/cuda/lib64/stubs comes first in LD_LIBRARY_PATH): take that folder out, so that the driver's own libcuda.so.1 is loaded", "; until then, use --cpu"
	case e.Status == 35 || e.Status == 803: // CUDA_ERROR_INSUFFICIENT_DRIVER, CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
		return "the driver's library and its kernel module differ in version, or the driver is too old (an update not finished: a reboot, or reloading the nvidia module, ends it; nvidia-smi says which)", "; until then, use --cpu"
	}
	return "is a GPU visible to this process (nvidia-smi tells)?", " Without one, use --cpu"
}

// Error is a failed driver call: the function, the status and the driver's
// own name and description of it.
type Error struct {
	Func   string
	Status int
	Name   string
	Desc   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (%d): %s", e.Func, e.Name, e.Status, e.Desc)
}

// check turns a CUresult into an *Error (nil for CUDA_SUCCESS).
func (d *driver) check(fn string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	// (Not CUDA_ERROR_UNKNOWN, a status of its own: 999.)
	e := &Error{Func: fn, Status: int(r), Name: "a status the driver does not name", Desc: "no description"}
	var s *C.char
	// cuGetErrorName has cuGetErrorString's signature.
	if C.call_cuGetErrorString(d.fn["cuGetErrorName"], r, &s) == 0 && s != nil {
		e.Name = C.GoString(s)
	}
	if C.call_cuGetErrorString(d.fn["cuGetErrorString"], r, &s) == 0 && s != nil {
		e.Desc = C.GoString(s)
	}
	return e
}

// DriverVersion returns the CUDA version the driver supports, e.g. 13000
// for 13.0.
func DriverVersion() (int, error) {
	if err := Load(); err != nil {
		return 0, err
	}
	var v C.int
	if err := drv.check("cuDriverGetVersion", C.call_cuDriverGetVersion(drv.fn["cuDriverGetVersion"], &v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// Devices lists the GPUs the driver sees, asked once a process (the
// engine's start and the choice of libraries beside it both need them).
func Devices() ([]Device, error) {
	if err := Load(); err != nil {
		return nil, err
	}
	devicesOnce.Do(func() { devicesList, devicesErr = listDevices() })
	return slices.Clone(devicesList), devicesErr
}

var (
	devicesOnce sync.Once
	devicesList []Device
	devicesErr  error
)

// maxDevices is the most GPUs a driver is believed to report: more than
// any machine holds (a count past it is a driver out of order).
const maxDevices = 1024

func listDevices() ([]Device, error) {
	var n C.int
	if err := drv.check("cuDeviceGetCount", C.call_cuDeviceGetCount(drv.fn["cuDeviceGetCount"], &n)); err != nil {
		return nil, &SetupError{Err: fmt.Errorf("the NVIDIA driver could not count the GPUs: %w; check them with nvidia-smi (a reset or a reboot may be needed)", err), Hint: "; until then, use --cpu"}
	}
	if n < 0 || n > maxDevices {
		return nil, &SetupError{Err: fmt.Errorf("the NVIDIA driver reports %d GPUs (cuDeviceGetCount), where 0 to %d were expected: the driver is not answering as one does; check the GPUs with nvidia-smi (a reset or a reboot may be needed)", int(n), maxDevices), Hint: "; until then, use --cpu"}
	}
	out := make([]Device, 0, int(n))
	for i := 0; i < int(n); i++ {
		// A GPU the driver fails to describe is listed with the failure
		// (one GPU in a bad state hid all the others).
		dev, err := describeDevice(i)
		if err != nil {
			dev = Device{Index: i, Err: err}
		}
		out = append(out, dev)
	}
	return out, nil
}

// deviceName is the name in b up to its first NUL (all of b where there
// is none), as printable text: a byte that is not UTF-8 is U+FFFD, and a
// control character (a newline, an escape sequence's ESC) is too, so
// that a name cannot start a line of its own or drive the terminal.
func deviceName(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(string(b), string(utf8.RuneError)))
}

// describeDevice asks the driver for GPU i's name, memory and properties.
func describeDevice(i int) (Device, error) {
	var d C.CUdevice
	if err := drv.check("cuDeviceGet", C.call_cuDeviceGet(drv.fn["cuDeviceGet"], &d, C.int(i))); err != nil {
		return Device{}, err
	}
	var name [256]C.char
	if err := drv.check("cuDeviceGetName", C.call_cuDeviceGetName(drv.fn["cuDeviceGetName"], &name[0], 256, d)); err != nil {
		return Device{}, err
	}
	var mem C.size_t
	if err := drv.check("cuDeviceTotalMem_v2", C.call_cuDeviceTotalMem(drv.fn["cuDeviceTotalMem_v2"], &mem, d)); err != nil {
		return Device{}, err
	}
	attr := func(a int) (int, error) {
		var v C.int
		err := drv.check("cuDeviceGetAttribute", C.call_cuDeviceGetAttribute(drv.fn["cuDeviceGetAttribute"], &v, C.int(a), d))
		return int(v), err
	}
	dev := Device{Index: i, Name: deviceName(C.GoBytes(unsafe.Pointer(&name[0]), C.int(len(name)))), MemoryBytes: uint64(mem)}
	var err error
	if dev.ComputeMajor, err = attr(attrComputeMajor); err != nil {
		return Device{}, err
	}
	if dev.ComputeMinor, err = attr(attrComputeMinor); err != nil {
		return Device{}, err
	}
	if dev.Multiprocessors, err = attr(attrMultiprocessorCount); err != nil {
		return Device{}, err
	}
	return dev, nil
}
