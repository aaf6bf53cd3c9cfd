//go:build cgo

// cublas.go: loading cuBLAS (libcublas.so.13, then .12, then .11) and its
// version.

package cuda

/*
#include <stdlib.h>
typedef int cublasStatus_t;
// libraryPropertyType (library_types.h): MAJOR_VERSION 0, MINOR_VERSION 1,
// PATCH_LEVEL 2.
typedef cublasStatus_t (*cublasGetProperty_t)(int, int *);
static cublasStatus_t call_cublasGetProperty(void *f, int type, int *v) { return ((cublasGetProperty_t)f)(type, v); }
*/
import "C"

import "fmt"

// BLASLibraries are the cuBLAS sonames tried, newest first.
var BLASLibraries = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}

// BLASVersion loads cuBLAS and returns its library name and version.
func BLASVersion() (lib, version string, err error) {
	h, lib, err := dlopen(BLASLibraries...)
	if err != nil {
		return "", "", fmt.Errorf("cuBLAS not found (%v): install the CUDA toolkit's cuBLAS or add its folder to LD_LIBRARY_PATH", err)
	}
	fn, err := dlsym(h, lib, "cublasGetProperty")
	if err != nil {
		return lib, "", err
	}
	var v [3]C.int
	for i := range v {
		if st := C.call_cublasGetProperty(fn["cublasGetProperty"], C.int(i), &v[i]); st != 0 {
			return lib, "", fmt.Errorf("cublasGetProperty: status %d", int(st))
		}
	}
	return lib, fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), nil
}
