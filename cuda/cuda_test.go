//go:build cgo

// cuda_test.go: the error helper's format, and, on a machine with an NVIDIA
// driver, device discovery and a second stream (lane) forked and joined,
// directly and in a graph (skipped with the reason elsewhere).

package cuda

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/cnngpu/cnngpu/kernels"
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
	if f, err := BLASLibrary(); err != nil {
		t.Errorf("cuBLAS: %v", err)
	} else {
		t.Logf("%s", f)
	}
}

// TestLaneOnGPU: work on a lane, forked from and joined to the main stream,
// directly and recorded as a graph (which fails to record if the lane is
// not joined back), sees the main stream's writes before it and is seen by
// the main stream after; a kernel lane ordered after it (After) writes
// what the lane's product read only once the product is done.
func TestLaneOnGPU(t *testing.T) {
	if err := Load(); err != nil {
		t.Skipf("no GPU on this machine: %v", err)
	}
	c, err := Open(0, kernels.Fatbin, kernels.PTX, []string{"fill_f32"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Large enough that the kernel lane's fill, were it not ordered after
	// the product, would overwrite a while the product still reads it.
	const n = 1024
	a, err := c.Alloc(n * n * 4)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free(a)
	b, err := c.Alloc(n * n * 4)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free(b)
	l, err := c.NewLane()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	k, err := c.NewKernelLane()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	// b = a·a on the lane, a filled with v on the main stream just before;
	// then a zeroed on the kernel lane, after the product.
	step := func(v float32) error {
		if err := c.Launch("fill_f32", n*n, 256, P(a), F(v), L(n*n)); err != nil {
			return err
		}
		if err := c.Fork(l); err != nil {
			return err
		}
		if err := c.SgemmRowMajorOn(l, false, false, n, n, n, 1, a, n, a, n, 0, b, n); err != nil {
			return err
		}
		if err := c.Fork(k); err != nil {
			return err
		}
		if err := c.After(k, l); err != nil {
			return err
		}
		if err := c.LaunchOn(k, "fill_f32", n*n, 256, P(a), F(0), L(n*n)); err != nil {
			return err
		}
		if err := c.Join(l); err != nil {
			return err
		}
		return c.Join(k)
	}
	check := func(what string, p Ptr, want float32) {
		t.Helper()
		got := make([]float32, n*n)
		if err := c.CopyOut(unsafe.Pointer(&got[0]), p, n*n*4); err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if v != want {
				t.Fatalf("%s: element %d = %v, want %v", what, i, v, want)
			}
		}
	}
	if err := step(1); err != nil {
		t.Fatal(err)
	}
	check("direct", b, n)
	check("direct, the kernel lane's fill", a, 0)
	g, err := c.Capture(func() error { return step(2) })
	if err != nil {
		t.Fatalf("recording a step with a lane: %v", err)
	}
	defer c.Destroy(g)
	for i := 0; i < 3; i++ {
		if err := c.Replay(g); err != nil {
			t.Fatal(err)
		}
	}
	check("replayed graph", b, 4*n)
	check("replayed graph, the kernel lane's fill", a, 0)
}
