//go:build cgo && !windows

// memory.go: tensors: allocation (zeroed), release (which drops the
// recordings that use the memory first), views, copies to and from the
// host, and Fill.

package cuda

import (
	"errors"
	"fmt"
	"slices"
	"sync"
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
		if first := e.takeErr(); first != nil {
			// A call queued before failed first (its error held for the
			// next wait): the cause, as after a kernel's fault, which
			// every allocation then fails with.
			return nil, first
		}
		err = e.explain(err)
		var ee *Error
		if errors.As(err, &ee) && outOfMemory(ee.Err) {
			ee.Refused = true
		}
		return nil, err
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

var _ engine.LaterReader = (*Engine)(nil)

// ReadLater queues, on the main stream, copies of srcs into one device
// buffer of the engine's (snap: 38 MB for the reference model with Adam's
// moments, copied in tens of microseconds), orders a lane of its own
// after them, and returns: the steps queued next run while wait, on its
// caller's goroutine (a checkpoint writer's), reads snap to dsts through
// that lane (about 3 ms for 38 MB on the training's path before, the
// GPU idle meanwhile). A ReadLater waits for the one before (its copies
// out of snap) before it writes snap again, and Close for the last.
func (e *Engine) ReadLater(srcs []engine.Tensor, dsts [][]float32) (func() error, error) {
	if len(srcs) != len(dsts) {
		panic("cuda: ReadLater with a different number of destinations than tensors")
	}
	total := 0
	for i, s := range srcs {
		engine.Must("ReadLater", "src", s, engine.Float32, len(dsts[i]))
		if s.Len() != len(dsts[i]) {
			panic("cuda: ReadLater into a destination of another length than its tensor")
		}
		total += 4 * s.Len()
	}
	if e.recording {
		panic("cuda: ReadLater during a graph recording")
	}
	e.awaitLater()
	e.settle()
	if err := e.takeErr(); err != nil {
		return nil, err
	}
	if e.copyLane != nil {
		// The lane's reads of snap are done (awaitLater); the emulated
		// device also sees them ordered before snap is written again.
		if err := e.c.Join(e.copyLane); err != nil {
			return nil, e.explain(err)
		}
	} else {
		l, err := e.c.NewCopyLane()
		if err != nil {
			return nil, e.explain(err)
		}
		e.copyLane = l
	}
	if e.snap.bytes < total {
		if e.snap.p != 0 {
			e.fail(e.c.Free(e.snap.p))
			e.snap = devBuf{}
		}
		p, err := e.c.Alloc(total)
		if err != nil {
			return nil, e.explain(err)
		}
		e.snap = devBuf{p, total}
	}
	at := make([]cu.Ptr, len(srcs))
	off := 0
	for i, s := range srcs {
		at[i] = e.snap.p + cu.Ptr(off)
		if err := e.c.CopyDevice(at[i], ptr(s), 4*s.Len()); err != nil {
			return nil, e.explain(err)
		}
		off += 4 * s.Len()
	}
	if err := e.c.Fork(e.copyLane); err != nil {
		return nil, e.explain(err)
	}
	fetches := make([]func(unsafe.Pointer) error, len(srcs))
	for i, s := range srcs {
		f, err := e.c.ReadOn(e.copyLane, at[i], 4*s.Len())
		if err != nil {
			return nil, e.explain(err)
		}
		fetches[i] = f
	}
	// On the caller's goroutine: explain, not e.explain (which reads the
	// engine's state). Every read is fetched, also after one failed, so
	// that none is left to read snap later; the first error is the wait's.
	e.later = sync.OnceValue(func() error {
		var first error
		for i, f := range fetches {
			if err := f(unsafe.Pointer(unsafe.SliceData(dsts[i]))); err != nil && first == nil {
				first = explain(err)
			}
		}
		return first
	})
	return e.later, nil
}

// awaitLater waits for the last ReadLater's copies, calling its wait
// where nobody has (its error is the wait's owner's to report).
func (e *Engine) awaitLater() {
	if e.later != nil {
		e.later()
		e.later = nil
	}
}

// Fill sets every element to v.
func (e *Engine) Fill(t engine.Tensor, v float32) {
	defer e.warmOp("Fill").End()
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
