//go:build cgo

// Package cudnn is cnngpu's binding to cuDNN, loaded at run time with dlopen
// (libcudnn.so.9, then .8) like package cuda, so no cuDNN headers or
// libraries are needed to build.
//
// cudnn.go: loading the library and its version.
package cudnn

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>
typedef size_t (*cudnnGetVersion_t)(void);
static size_t call_cudnnGetVersion(void *f) { return ((cudnnGetVersion_t)f)(); }
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Libraries are the cuDNN sonames tried, newest first.
var Libraries = []string{"libcudnn.so.9", "libcudnn.so.8"}

// Version loads cuDNN and returns its library name and version, e.g.
// "9.14.0".
func Version() (lib, version string, err error) {
	var reasons []string
	var h unsafe.Pointer
	for _, n := range Libraries {
		cn := C.CString(n)
		h = C.dlopen(cn, C.RTLD_NOW|C.RTLD_LOCAL)
		C.free(unsafe.Pointer(cn))
		if h != nil {
			lib = n
			break
		}
		reasons = append(reasons, C.GoString(C.dlerror()))
	}
	if h == nil {
		return "", "", fmt.Errorf("cuDNN not found (%s): install cuDNN 9 or add its folder to LD_LIBRARY_PATH", strings.Join(reasons, "; "))
	}
	cn := C.CString("cudnnGetVersion")
	f := C.dlsym(h, cn)
	C.free(unsafe.Pointer(cn))
	if f == nil {
		return lib, "", fmt.Errorf("%s lacks cudnnGetVersion", lib)
	}
	v := int(C.call_cudnnGetVersion(f))
	// cuDNN 9 encodes major*10000 + minor*100 + patch; cuDNN 8 major*1000 + minor*100 + patch.
	if v >= 90000 {
		return lib, fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100), nil
	}
	return lib, fmt.Sprintf("%d.%d.%d", v/1000, v/100%10, v%100), nil
}
