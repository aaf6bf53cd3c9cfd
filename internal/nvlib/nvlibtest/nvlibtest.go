// Package nvlibtest builds fake NVIDIA libraries for tests: real shared
// objects, compiled with the system's C compiler, that export the few
// functions cnngpu asks a library for its version (cublasGetProperty,
// cudnnGetVersion, cudnnGetCudartVersion), so the dlopen path (sonames,
// folders, companions, the choice by driver version) is tested without a
// GPU or NVIDIA's libraries.
package nvlibtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CC returns the C compiler, or skips the test when there is none.
func CC(t testing.TB) string {
	t.Helper()
	for _, cc := range []string{os.Getenv("CC"), "cc", "gcc"} {
		if cc == "" {
			continue
		}
		if p, err := exec.LookPath(cc); err == nil {
			return p
		}
	}
	t.Skip("no C compiler (cc) to build fake libraries")
	return ""
}

// Build compiles C source src into the shared object path with soname,
// linked against the shared objects needed (recorded by their sonames, no
// run path: the loader must find them some other way).
func Build(t testing.TB, path, soname, src string, needed ...string) string {
	t.Helper()
	cc := CC(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	c := path + ".c"
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(c)
	args := append([]string{"-shared", "-fPIC", "-o", path, "-Wl,-soname," + soname, "-Wl,--no-as-needed", c}, needed...)
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", path, err, out)
	}
	return path
}

// CUBLAS builds a fake libcublas.so.MAJOR of version major.minor.patch in
// folder dir, needing libcublasLt.so.MAJOR (built beside it) when lt.
func CUBLAS(t testing.TB, dir string, major, minor, patch int, lt bool) string {
	t.Helper()
	src := fmt.Sprintf(`int cublasGetProperty(int type, int *v) {
	static const int ver[3] = {%d, %d, %d};
	if (type < 0 || type > 2) return 7;
	*v = ver[type];
	return 0;
}
`, major, minor, patch)
	var needed []string
	if lt {
		ltName := fmt.Sprintf("libcublasLt.so.%d", major)
		// cublasLtGetVersion, which the real libcublasLt exports too, so
		// the fake also links where a real one of this soname is loaded.
		needed = append(needed, Build(t, filepath.Join(dir, ltName), ltName, "#include <stddef.h>\nsize_t cublasLtGetVersion(void) { return 7; }\n"))
		src = "#include <stddef.h>\nsize_t cublasLtGetVersion(void);\nsize_t cublasUsesLt(void) { return cublasLtGetVersion(); }\n" + src
	}
	name := fmt.Sprintf("libcublas.so.%d", major)
	return Build(t, filepath.Join(dir, name), name, src, needed...)
}

// CUDNN builds a fake libcudnn.so.MAJOR in folder dir whose
// cudnnGetVersion is version (cuDNN's encoding, e.g. 91400) and
// cudnnGetCudartVersion cudart (e.g. 12080).
func CUDNN(t testing.TB, dir string, major, version, cudart int) string {
	t.Helper()
	src := fmt.Sprintf(`#include <stddef.h>
size_t cudnnGetVersion(void) { return %d; }
size_t cudnnGetCudartVersion(void) { return %d; }
`, version, cudart)
	name := fmt.Sprintf("libcudnn.so.%d", major)
	return Build(t, filepath.Join(dir, name), name, src)
}
