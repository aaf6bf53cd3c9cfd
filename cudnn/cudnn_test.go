//go:build cgo && !windows

// cudnn_test.go: cuDNN's version and the CUDA version it was built for,
// read from fake libraries built by the C compiler (cuDNN 9's and 8's
// version encodings), found through CNNGPU_LIBRARY_PATH.

package cudnn

import (
	"testing"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/nvlib"
	"github.com/cnngpu/cnngpu/internal/nvlib/nvlibtest"
)

func TestDescribeFakeCUDNN(t *testing.T) {
	for _, c := range []struct {
		major, version, cudart int
		want                   string
		cuda                   int
	}{{9, 91400, 12080, "9.14.0", 12}, {9, 92001, 13000, "9.20.1", 13}, {8, 8907, 11080, "8.9.7", 11}} {
		dir := t.TempDir()
		p := nvlibtest.CUDNN(t, dir, c.major, c.version, c.cudart)
		t.Setenv(nvlib.LibraryPathEnv, dir)
		l, err := cuda.OpenLibrary(nvlib.CUDNN, describe)
		if err != nil {
			t.Fatal(err)
		}
		if f := l.Found; f.File() != p || f.Version != c.want || f.CUDAMajor != c.cuda || f.Place != nvlib.LibraryPathEnv {
			t.Errorf("cuDNN %d: found %s (CUDA %d), want %s %s for CUDA %d from %s", c.version, f, f.CUDAMajor, p, c.want, c.cuda, nvlib.LibraryPathEnv)
		}
	}
	if got := versionString(90100); got != "9.1.0" {
		t.Errorf("versionString(90100) = %s", got)
	}
}
