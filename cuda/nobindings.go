// nobindings.go: why a build has no GPU bindings (nocgo.go), and what
// gives them, for every message that says so.

package cuda

import "runtime"

// NoBindingsWhy says why this build has no GPU bindings, and what gives
// them: built without cgo, or for Windows, where the bindings (which
// load Linux's libcuda.so.1) are not built.
func NoBindingsWhy() string {
	if runtime.GOOS == "windows" {
		return "the GPU engine runs on Linux only (it loads the driver's libcuda.so.1): on Windows, build and run cnngpu in WSL2, whose Linux build reaches the GPU"
	}
	return "built without cgo (CGO_ENABLED=0, which Go sets itself where it finds no C compiler), so it cannot load the NVIDIA driver; to use a GPU, install a C compiler (gcc or clang) and run make build again"
}
