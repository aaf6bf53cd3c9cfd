//go:build cgo && !windows

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

// laneOnGPU opens GPU 0 with fill_f32, two n×n float buffers and a lane,
// all released at t's end; it skips t without a GPU.
func laneOnGPU(t *testing.T, n int) (c *Context, a, b Ptr, l *Lane) {
	t.Helper()
	if err := Load(); err != nil {
		t.Skipf("no GPU on this machine: %v", err)
	}
	c, err := Open(0, kernels.Fatbin, kernels.PTX, []string{"fill_f32"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, p := range []*Ptr{&a, &b} {
		if *p, err = c.Alloc(n * n * 4); err != nil {
			t.Fatal(err)
		}
		q := *p
		t.Cleanup(func() { c.Free(q) })
	}
	if l, err = c.NewLane(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return c, a, b, l
}

// TestLaneOnGPU: work on a lane, forked from and joined to the main stream,
// directly and recorded as a graph (which fails to record if the lane is
// not joined back), sees the main stream's writes before it and is seen by
// the main stream after; a kernel lane ordered after it (After) writes
// what the lane's product read only once the product is done.
func TestLaneOnGPU(t *testing.T) {
	// Large enough that the kernel lane's fill, were it not ordered after
	// the product, would overwrite a while the product still reads it.
	const n = 1024
	c, a, b, l := laneOnGPU(t, n)
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

// TestMarkOnGPU: marks recorded in a graph on the main stream and on a
// lane are recorded again by each replay: the lane's product ends after
// the main stream's start mark and before the mark after the join, and
// a mark outside a recording is refused.
func TestMarkOnGPU(t *testing.T) {
	const n = 1024
	c, a, b, l := laneOnGPU(t, n)
	if ev, err := c.Mark(nil); err == nil {
		c.DestroyEvent(ev)
		t.Errorf("Mark outside a recording: no error")
	}
	var start, prod, end *Event
	g, err := c.Capture(func() (err error) {
		if start, err = c.Mark(nil); err != nil {
			return err
		}
		if err := c.Launch("fill_f32", n*n, 256, P(a), F(1), L(n*n)); err != nil {
			return err
		}
		if err := c.Fork(l); err != nil {
			return err
		}
		if err := c.SgemmRowMajorOn(l, false, false, n, n, n, 1, a, n, a, n, 0, b, n); err != nil {
			return err
		}
		if prod, err = c.Mark(l); err != nil {
			return err
		}
		if err := c.Join(l); err != nil {
			return err
		}
		end, err = c.Mark(nil)
		return err
	})
	for _, ev := range []*Event{start, prod, end} {
		defer c.DestroyEvent(ev)
	}
	if err != nil {
		t.Fatalf("recording with marks: %v", err)
	}
	defer c.Destroy(g)
	for i := range 3 {
		if err := c.Replay(g); err != nil {
			t.Fatal(err)
		}
		p, err := c.Elapsed(start, prod)
		if err != nil {
			t.Fatal(err)
		}
		e, err := c.Elapsed(start, end)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("replay %d: the lane's product ends at %.3f ms, the step at %.3f", i, p, e)
		if !(p > 0 && p <= e) {
			t.Errorf("replay %d: the product's mark at %v ms, the end's at %v: want 0 < product ≤ end", i, p, e)
		}
	}
}
