// engine.go: the pure-Go CPU engine. Tensors are Go slices; ops run on a
// pool of GOMAXPROCS workers; convolutions are im2col + the packed SGEMM in
// gemm.go with bias and activation fused into the epilogue. Scratch space is
// kept between calls, so a training step allocates nothing once warm.

package cpu

import (
	"fmt"
	"runtime"

	"github.com/cnngpu/cnngpu/engine"
)

var (
	_ engine.Engine             = (*Engine)(nil)
	_ engine.ConvPooler         = (*Engine)(nil)
	_ engine.ConvPoolBackwarder = (*Engine)(nil)
)

// tensor is the CPU engine's Tensor: exactly one of f, i, b is set.
type tensor struct {
	dt engine.DType
	f  []float32
	i  []int32
	b  []uint8
}

func (t *tensor) Len() int {
	switch t.dt {
	case engine.Float32:
		return len(t.f)
	case engine.Int32:
		return len(t.i)
	}
	return len(t.b)
}

func (t *tensor) DType() engine.DType { return t.dt }

// Engine is the CPU engine. It is not safe for concurrent use: ops run one
// at a time, each spread over the worker pool.
type Engine struct {
	workers int
	pool    *pool
	gemm    gemmTask
	ws      []workerWS

	convF    convFwdTask
	convB    convBwdTask
	poolF    poolFwdTask
	denseE   denseEpilogueTask
	warp     warpTask
	adam     adamTask
	chunkDW  [][]float32
	chunkDB  [][]float32
	dz       []float32
	wpk      []float32
	closed   bool
	accelMsg string
}

// workerWS is one worker's scratch for convolutions.
type workerWS struct {
	gemm gemmWS
	col  []float32
	dcol []float32
	dz   []float32
	xpad []float32 // a zero-padded image for directConv
}

// New returns a CPU engine using workers goroutines (GOMAXPROCS when
// workers <= 0).
func New(workers int) *Engine {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	startBudget() // memory.go
	e := &Engine{workers: workers, pool: newPool(workers), ws: make([]workerWS, workers)}
	e.gemm.ws = make([]gemmWS, workers)
	e.accelMsg = "portable Go kernel"
	switch {
	case useAsm && useWide:
		e.accelMsg = "AVX-512 kernel"
	case useAsm:
		e.accelMsg = "AVX2/FMA kernel"
	case useAsmCore && haveNEON:
		e.accelMsg = "NEON kernel"
	case useAsmCore: // a test's kernel set: arm64's configuration on amd64
		e.accelMsg = "AVX2/FMA micro-kernel, packing, pooling and Adam, the other ops portable"
	}
	return e
}

// Name describes the engine.
func (e *Engine) Name() string {
	threads := "threads"
	if e.workers == 1 {
		threads = "thread"
	}
	return fmt.Sprintf("cpu (%d %s, %s)", e.workers, threads, e.accelMsg)
}

func t32(t engine.Tensor) []float32 {
	if t == nil {
		return nil
	}
	return t.(*tensor).f
}

func ti32(t engine.Tensor) []int32 { return t.(*tensor).i }

// Alloc returns a zeroed tensor.
func (e *Engine) Alloc(dt engine.DType, n int) (engine.Tensor, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: alloc of %d elements", n)
	}
	t := &tensor{dt: dt}
	size := map[engine.DType]int64{engine.Float32: 4, engine.Int32: 4, engine.Uint8: 1}[dt]
	if size == 0 {
		return nil, fmt.Errorf("cpu: alloc: unknown dtype %v", dt)
	}
	if err := reserve(size * int64(n)); err != nil {
		return nil, err
	}
	switch dt {
	case engine.Float32:
		t.f = make([]float32, n)
	case engine.Int32:
		t.i = make([]int32, n)
	case engine.Uint8:
		t.b = make([]uint8, n)
	default:
		return nil, fmt.Errorf("cpu: alloc: unknown dtype %v", dt)
	}
	return t, nil
}

// Free drops the engine's hold on t; the garbage collector reclaims it.
func (e *Engine) Free(t engine.Tensor) {
	if d, ok := t.(*tensor); ok {
		release(4*int64(len(d.f)+len(d.i)) + int64(len(d.b)))
		d.f, d.i, d.b = nil, nil, nil
	}
}

// Slice returns a view of t.
func (e *Engine) Slice(t engine.Tensor, off, n int) engine.Tensor {
	src := t.(*tensor)
	if off < 0 || n < 0 || off+n > src.Len() {
		panic("cpu: Slice out of range")
	}
	v := &tensor{dt: src.dt}
	switch src.dt {
	case engine.Float32:
		v.f = src.f[off : off+n : off+n]
	case engine.Int32:
		v.i = src.i[off : off+n : off+n]
	default:
		v.b = src.b[off : off+n : off+n]
	}
	return v
}

// Write copies host data into dst.
func (e *Engine) Write(dst engine.Tensor, off int, src any) error {
	d := dst.(*tensor)
	var n int
	switch s := src.(type) {
	case []float32:
		if d.dt != engine.Float32 {
			return fmt.Errorf("cpu: write of []float32 into a %v tensor", d.dt)
		}
		n = len(s)
		if off < 0 || off+n > len(d.f) {
			break
		}
		copy(d.f[off:], s)
		return nil
	case []int32:
		if d.dt != engine.Int32 {
			return fmt.Errorf("cpu: write of []int32 into a %v tensor", d.dt)
		}
		n = len(s)
		if off < 0 || off+n > len(d.i) {
			break
		}
		copy(d.i[off:], s)
		return nil
	case []uint8:
		if d.dt != engine.Uint8 {
			return fmt.Errorf("cpu: write of []uint8 into a %v tensor", d.dt)
		}
		n = len(s)
		if off < 0 || off+n > len(d.b) {
			break
		}
		copy(d.b[off:], s)
		return nil
	default:
		return fmt.Errorf("cpu: write of unsupported type %T", src)
	}
	return fmt.Errorf("cpu: write of %d elements at %d into a tensor of %d", n, off, d.Len())
}

// Read copies tensor data to the host.
func (e *Engine) Read(src engine.Tensor, off int, dst any) error {
	s := src.(*tensor)
	var n int
	switch d := dst.(type) {
	case []float32:
		if s.dt != engine.Float32 {
			return fmt.Errorf("cpu: read of a %v tensor into []float32", s.dt)
		}
		n = len(d)
		if off < 0 || off+n > len(s.f) {
			break
		}
		copy(d, s.f[off:])
		return nil
	case []int32:
		if s.dt != engine.Int32 {
			return fmt.Errorf("cpu: read of a %v tensor into []int32", s.dt)
		}
		n = len(d)
		if off < 0 || off+n > len(s.i) {
			break
		}
		copy(d, s.i[off:])
		return nil
	case []uint8:
		if s.dt != engine.Uint8 {
			return fmt.Errorf("cpu: read of a %v tensor into []uint8", s.dt)
		}
		n = len(d)
		if off < 0 || off+n > len(s.b) {
			break
		}
		copy(d, s.b[off:])
		return nil
	default:
		return fmt.Errorf("cpu: read into unsupported type %T", dst)
	}
	return fmt.Errorf("cpu: read of %d elements at %d from a tensor of %d", n, off, s.Len())
}

// Fill sets every element of t to v.
func (e *Engine) Fill(t engine.Tensor, v float32) {
	d := t.(*tensor)
	switch d.dt {
	case engine.Float32:
		for i := range d.f {
			d.f[i] = v
		}
	case engine.Int32:
		for i := range d.i {
			d.i[i] = int32(v)
		}
	default:
		for i := range d.b {
			d.b[i] = uint8(v)
		}
	}
}

// Sync is a no-op: every CPU op has finished when it returns.
func (e *Engine) Sync() error { return nil }

// Close stops the worker pool.
func (e *Engine) Close() error {
	if !e.closed {
		e.closed = true
		e.pool.close()
	}
	return nil
}

// Gather assembles a batch: x: (n,pixels) float32 in [0,1], y: (n) int32.
func (e *Engine) Gather(images, labels, perm, cursor, x, y engine.Tensor, n, pixels int, aug engine.Augment) {
	engine.CheckGather(images, labels, cursor, x, y, n, pixels, aug)
	cur := ti32(cursor)
	c := int(cur[0])
	p := ti32(perm)
	if c < 0 || c+n > len(p) {
		panic("cpu: Gather: cursor runs past the end of perm")
	}
	img := images.(*tensor).b
	lab := ti32(labels)
	xs, ys := t32(x), ti32(y)
	side := engine.ImageSideOf(pixels)
	warps := aug.Warps() // once: it takes a tangent
	if warps {
		// Each image's warp is its own: the workers share the batch.
		e.warp = warpTask{img: img, perm: p[c : c+n], x: xs, pixels: pixels, side: side, aug: aug, epoch: cur[1]}
		e.pool.parallelFor(n, 4, &e.warp)
		e.warp = warpTask{}
	}
	for k := 0; k < n; k++ {
		idx := int(p[c+k])
		ys[k] = lab[idx]
		if warps {
			continue // its image made above
		}
		src := img[idx*pixels : idx*pixels+pixels]
		dst := xs[k*pixels : k*pixels+pixels]
		if aug.Shift > 0 {
			dx, dy := engine.ShiftOffsets(aug.Seed, cur[1], int32(idx), aug.Shift)
			shiftScale(dst, src, side, dx, dy)
		} else {
			for j, v := range src {
				dst[j] = float32(v) / 255
			}
		}
	}
	cur[0] += int32(n)
}

// warpTask warps batch images [lo, hi) into x (engine.WarpImage of each
// image's engine.DrawWarp). x: (n,pixels) f32.
type warpTask struct {
	img          []uint8
	perm         []int32 // the batch's dataset indices
	x            []float32
	pixels, side int
	aug          engine.Augment
	epoch        int32
}

func (t *warpTask) run(_, lo, hi int) {
	for k := lo; k < hi; k++ {
		idx := int(t.perm[k])
		engine.WarpImage(t.x[k*t.pixels:(k+1)*t.pixels], t.img[idx*t.pixels:(idx+1)*t.pixels], t.side, engine.DrawWarp(t.aug, t.epoch, int32(idx)))
	}
}

// shiftScale is engine.ShiftImage by rows: dst (side×side) is src
// translated by (dx, dy), scaled to [0, 1], zero outside.
// dst: (side,side) f32, src: (side,side) u8.
func shiftScale(dst []float32, src []uint8, side, dx, dy int) {
	// Destination columns [c0, c1) have a source column c-dx in range.
	c0, c1 := max(0, dx), min(side, side+dx)
	for r := 0; r < side; r++ {
		row := dst[r*side : (r+1)*side]
		sr := r - dy
		if sr < 0 || sr >= side || c0 >= c1 {
			clear(row)
			continue
		}
		clear(row[:c0])
		clear(row[c1:])
		s := src[sr*side+c0-dx : sr*side+c1-dx]
		for j, v := range s {
			row[c0+j] = float32(v) / 255
		}
	}
}
