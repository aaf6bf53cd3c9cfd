//go:build cgo

// memory.go: tensors: allocation (zeroed), release (which drops the
// recordings that use the memory first), views, copies to and from the
// host, and Fill.

package cuda

import (
	"fmt"
	"slices"
	"unsafe"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
)

func ptr(t engine.Tensor) cu.Ptr {
	if t == nil {
		return 0
	}
	return t.(*tensor).p
}

// Alloc returns a zeroed tensor.
func (e *Engine) Alloc(dt engine.DType, n int) (engine.Tensor, error) {
	p, err := e.c.Alloc(n * dt.Size())
	if err != nil {
		return nil, e.explain(err)
	}
	// Zeroed whatever error is pending (past the gate).
	if err := e.device().Zero(p, n*dt.Size()); err != nil {
		e.c.Free(p)
		return nil, e.explain(err)
	}
	return &tensor{p: p, n: n, dt: dt, owner: true}, nil
}

// Free releases a tensor from Alloc, and first the recordings that use
// its memory.
func (e *Engine) Free(t engine.Tensor) {
	if d, ok := t.(*tensor); ok && d.owner && d.p != 0 {
		e.forget(regionOf(t))
		e.settle()
		e.fail(e.c.Sync())
		e.fail(e.c.Free(d.p))
		d.p = 0
	}
}

// forget drops every recording that touches memory r.
func (e *Engine) forget(r region) {
	for key, rs := range e.touched {
		if slices.ContainsFunc(rs, func(x region) bool { return x.lo < r.hi && r.lo < x.hi }) {
			e.drop(key)
		}
	}
}

// Slice returns a view.
func (e *Engine) Slice(t engine.Tensor, off, n int) engine.Tensor {
	s := t.(*tensor)
	if off < 0 || n < 0 || off+n > s.n {
		panic("cuda: Slice out of range")
	}
	return &tensor{p: s.p + cu.Ptr(off*s.dt.Size()), n: n, dt: s.dt}
}

func hostBytes(v any) (unsafe.Pointer, int, engine.DType, error) {
	switch s := v.(type) {
	case []float32:
		if len(s) == 0 {
			return nil, 0, engine.Float32, nil
		}
		return unsafe.Pointer(&s[0]), len(s), engine.Float32, nil
	case []int32:
		if len(s) == 0 {
			return nil, 0, engine.Int32, nil
		}
		return unsafe.Pointer(&s[0]), len(s), engine.Int32, nil
	case []uint8:
		if len(s) == 0 {
			return nil, 0, engine.Uint8, nil
		}
		return unsafe.Pointer(&s[0]), len(s), engine.Uint8, nil
	}
	return nil, 0, 0, fmt.Errorf("cuda: unsupported host type %T", v)
}

// Write copies host data into dst.
func (e *Engine) Write(dst engine.Tensor, off int, src any) error {
	d := dst.(*tensor)
	p, n, dt, err := hostBytes(src)
	if err != nil {
		return err
	}
	if dt != d.dt {
		return fmt.Errorf("cuda: write of %v data into a %v tensor", dt, d.dt)
	}
	if off < 0 || off+n > d.n {
		return fmt.Errorf("cuda: write of %d elements at %d into a tensor of %d", n, off, d.n)
	}
	e.settle()
	return e.explain(e.c.CopyIn(d.p+cu.Ptr(off*dt.Size()), p, n*dt.Size()))
}

// Read waits for queued work and copies tensor data to the host.
func (e *Engine) Read(src engine.Tensor, off int, dst any) error {
	s := src.(*tensor)
	p, n, dt, err := hostBytes(dst)
	if err != nil {
		return err
	}
	if dt != s.dt {
		return fmt.Errorf("cuda: read of a %v tensor into %v data", s.dt, dt)
	}
	if off < 0 || off+n > s.n {
		return fmt.Errorf("cuda: read of %d elements at %d from a tensor of %d", n, off, s.n)
	}
	e.settle()
	if err := e.takeErr(); err != nil {
		return err
	}
	return e.explain(e.c.CopyOut(p, s.p+cu.Ptr(off*dt.Size()), n*dt.Size()))
}

// Fill sets every element to v.
func (e *Engine) Fill(t engine.Tensor, v float32) {
	d := t.(*tensor)
	e.use(access{w: []region{regionOf(t)}})
	switch d.dt {
	case engine.Float32:
		e.fail(e.c.Launch("fill_f32", int64(d.n), block, cu.P(d.p), cu.F(v), cu.L(int64(d.n))))
	case engine.Int32:
		e.fail(e.c.Launch("fill_i32", int64(d.n), block, cu.P(d.p), cu.I(int(v)), cu.L(int64(d.n))))
	default:
		e.fail(e.c.Launch("fill_u8", int64(d.n), block, cu.P(d.p), cu.I(int(uint8(v))), cu.L(int64(d.n))))
	}
}
