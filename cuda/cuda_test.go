//go:build cgo

// cuda_test.go: the error helper's format, and, on a machine with an NVIDIA
// driver, device discovery (skipped with the reason elsewhere).

package cuda

import (
	"strings"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	e := &Error{Func: "cuMemAlloc_v2", Status: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY", Desc: "out of memory"}
	if got := e.Error(); got != "cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory" {
		t.Errorf("Error() = %q", got)
	}
}

func TestDevicesOnGPU(t *testing.T) {
	if err := Load(); err != nil {
		if !strings.Contains(err.Error(), "libcuda.so.1") || !strings.Contains(err.Error(), "--cpu") {
			t.Errorf("load error does not name the library and the way out: %v", err)
		}
		t.Skipf("no GPU on this machine: %v", err)
	}
	v, err := DriverVersion()
	if err != nil || v < 11000 {
		t.Fatalf("driver version %d, %v", v, err)
	}
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Fatal("the driver loaded but sees no GPU")
	}
	for _, d := range devs {
		t.Logf("GPU %d: %s, %d MiB, sm_%d%d, %d SMs", d.Index, d.Name, d.MemoryBytes>>20, d.ComputeMajor, d.ComputeMinor, d.Multiprocessors)
		if d.Name == "" || d.MemoryBytes == 0 || d.ComputeMajor < 3 || d.Multiprocessors < 1 {
			t.Errorf("implausible device %+v", d)
		}
	}
	if _, ver, err := BLASVersion(); err != nil {
		t.Errorf("cuBLAS: %v", err)
	} else {
		t.Logf("cuBLAS %s", ver)
	}
}
