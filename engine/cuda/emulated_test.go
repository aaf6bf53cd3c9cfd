//go:build cgo

// emulated_test.go: the GPU engine's own code (engine.go, ops.go: every
// launch's kernel, arguments and grid, buffer sizes, scratch and workspace
// handling, graph recording and replay) run on an emulated device, so
// that CI, which has no GPU, runs it with both kernel sets. Our kernels
// run in the kernel emulator (kernels/emu, the same kernels.cu); cuBLAS's
// SGEMM is a plain product here and cuDNN's convolutions are the CPU
// engine's. The emulated device is stricter than a GPU where it can be:
// new memory reads as NaN until written, a pointer argument must point
// into live memory, a write past either end of an allocation fails the
// launch, and a graph recording refuses allocation, copies and waits.
// What it cannot check is the GPU's own behaviour: the PTX, timing,
// concurrency, the libraries' real results (engine_test.go, on a GPU).

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/engine/enginetest"
	"github.com/cnngpu/cnngpu/kernels"
	"github.com/cnngpu/cnngpu/kernels/emu"
	"github.com/cnngpu/cnngpu/loader"
)

var _ gpu = (*emuGPU)(nil)

// emuGPU is gpu on the CPU.
type emuGPU struct {
	mem    *emu.Memory
	host   *cpu.Engine     // cuDNN's convolutions
	rec    *[]func() error // the graph being recorded, or nil
	closed bool
}

func newEmuGPU(t testing.TB) *emuGPU {
	if !emu.Available {
		t.Skip("this build has no cgo, so no kernel emulator: emulated GPU test skipped")
	}
	return &emuGPU{mem: emu.NewMemory(), host: cpu.New(0)}
}

// newEmulated is the engine on an emulated device, with kernel set own.
func newEmulated(t testing.TB, own bool) *Engine { return newEngine(newEmuGPU(t), false, own) }

func (g *emuGPU) Info() cu.Device {
	// Six multiprocessors: the gradient reductions split over several
	// blocks (kernels.Splits) at the conformance suite's batch sizes.
	return cu.Device{Name: "emulated GPU (CPU)", MemoryBytes: 1 << 32, ComputeMajor: 9, Multiprocessors: 6}
}

// refuse returns an error when a graph is being recorded: what would
// break the recording (or, for allocation, the engine's rule that buffers
// are sized before one).
func (g *emuGPU) refuse(what string) error {
	if g.rec != nil {
		return fmt.Errorf("emulated GPU: %s during a graph recording", what)
	}
	return nil
}

// queue runs op now, or adds it to the graph being recorded.
func (g *emuGPU) queue(op func() error) error {
	if g.rec != nil {
		*g.rec = append(*g.rec, op)
		return nil
	}
	return op()
}

func (g *emuGPU) Alloc(bytes int) (cu.Ptr, error) {
	if err := g.refuse("Alloc"); err != nil {
		return 0, err
	}
	p, err := g.mem.Alloc(bytes)
	return cu.Ptr(p), err
}

func (g *emuGPU) Free(p cu.Ptr) error {
	if err := g.refuse("Free"); err != nil {
		return err
	}
	return g.mem.Free(uint64(p))
}

func (g *emuGPU) Zero(p cu.Ptr, bytes int) error {
	return g.queue(func() error {
		b, err := g.mem.Bytes(uint64(p), bytes)
		clear(b)
		return err
	})
}

func (g *emuGPU) CopyIn(dst cu.Ptr, src unsafe.Pointer, bytes int) error {
	if err := g.refuse("CopyIn"); err != nil {
		return err
	}
	b, err := g.mem.Bytes(uint64(dst), bytes)
	if err == nil && bytes > 0 {
		copy(b, unsafe.Slice((*byte)(src), bytes))
	}
	return err
}

func (g *emuGPU) CopyOut(dst unsafe.Pointer, src cu.Ptr, bytes int) error {
	if err := g.refuse("CopyOut"); err != nil {
		return err
	}
	b, err := g.mem.Bytes(uint64(src), bytes)
	if err == nil && bytes > 0 {
		copy(unsafe.Slice((*byte)(dst), bytes), b)
	}
	return err
}

func (g *emuGPU) Launch(name string, n int64, block int, args ...cu.Arg) error {
	if !slices.Contains(kernels.Names, name) {
		return fmt.Errorf("emulated GPU: launch of %s, which is not in kernels.Names (the module's loaded kernels)", name)
	}
	if n <= 0 {
		return nil
	}
	ea := make([]emu.Arg, len(args))
	for i, a := range args {
		ea[i] = emu.Arg{Bits: a.Bits(), Size: a.Size()}
	}
	grid := (n + int64(block) - 1) / int64(block)
	if grid > math.MaxInt32 {
		return fmt.Errorf("emulated GPU: %s on %d blocks", name, grid)
	}
	return g.queue(func() error { return g.mem.Launch(name, int(grid), block, ea) })
}

func (g *emuGPU) LaunchBlocks(name string, grid, block int, args ...cu.Arg) error {
	return g.Launch(name, int64(grid)*int64(block), block, args...)
}

// matrix returns the floats of a rows×cols row-major matrix with row
// stride ld at p, as cuBLAS would read or write them.
func (g *emuGPU) matrix(what string, p cu.Ptr, rows, cols, ld int) ([]float32, error) {
	if ld < max(1, cols) {
		return nil, fmt.Errorf("emulated cuBLAS: %s has %d columns but row stride %d", what, cols, ld)
	}
	if rows == 0 || cols == 0 {
		return nil, nil
	}
	v, err := g.mem.Float32s(uint64(p), (rows-1)*ld+cols)
	if err != nil {
		return nil, fmt.Errorf("emulated cuBLAS: %s (%d×%d, stride %d): %w", what, rows, cols, ld, err)
	}
	return v, nil
}

// SgemmRowMajor: float32 sums over k in order, rows of out in parallel.
func (g *emuGPU) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	return g.queue(func() error {
		ar, ac := m, k
		if transA {
			ar, ac = k, m
		}
		br, bc := k, n
		if transB {
			br, bc = n, k
		}
		av, err := g.matrix("A", a, ar, ac, lda)
		if err != nil {
			return err
		}
		bv, err := g.matrix("B", b, br, bc, ldb)
		if err != nil {
			return err
		}
		cv, err := g.matrix("C", out, m, n, ldc)
		if err != nil {
			return err
		}
		// op(A) as m rows of k, op(B)ᵀ as n rows of k.
		at := make([]float32, m*k)
		for i := 0; i < m; i++ {
			for p := 0; p < k; p++ {
				if transA {
					at[i*k+p] = av[p*lda+i]
				} else {
					at[i*k+p] = av[i*lda+p]
				}
			}
		}
		bt := make([]float32, n*k)
		for j := 0; j < n; j++ {
			for p := 0; p < k; p++ {
				if transB {
					bt[j*k+p] = bv[j*ldb+p]
				} else {
					bt[j*k+p] = bv[p*ldb+j]
				}
			}
		}
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				set := func(i, j int, s float32) {
					if beta == 0 {
						cv[i*ldc+j] = alpha * s
					} else {
						cv[i*ldc+j] = alpha*s + beta*cv[i*ldc+j]
					}
				}
				for i := w; i < m; i += workers {
					ai := at[i*k : i*k+k]
					j := 0
					// Four outputs at a time: four independent sums.
					for ; j+4 <= n; j += 4 {
						b0, b1, b2, b3 := bt[j*k:j*k+k], bt[(j+1)*k:(j+1)*k+k], bt[(j+2)*k:(j+2)*k+k], bt[(j+3)*k:(j+3)*k+k]
						var s0, s1, s2, s3 float32
						for p, x := range ai {
							s0 += x * b0[p]
							s1 += x * b1[p]
							s2 += x * b2[p]
							s3 += x * b3[p]
						}
						set(i, j, s0)
						set(i, j+1, s1)
						set(i, j+2, s2)
						set(i, j+3, s3)
					}
					for ; j < n; j++ {
						bj := bt[j*k : j*k+k]
						var s float32
						for p, x := range ai {
							s += x * bj[p]
						}
						set(i, j, s)
					}
				}
			}()
		}
		wg.Wait()
		return nil
	})
}

func (g *emuGPU) NewConv(s engine.ConvShape) (convPlan, error) {
	if s.P() < 1 || s.Q() < 1 {
		return nil, fmt.Errorf("emulated cuDNN: convolution %+v has no output", s)
	}
	return &emuConv{g: g, s: s}, nil
}

func (g *emuGPU) Sync() error { return g.refuse("Sync") }

func (g *emuGPU) Record() (event, error) { return time.Now(), nil }

func (g *emuGPU) Elapsed(a, b event) (float32, error) {
	return float32(b.(time.Time).Sub(a.(time.Time)).Seconds() * 1000), nil
}

// emuGraph is a recording: the queued ops, run again by Replay.
type emuGraph struct {
	ops       []func() error
	destroyed bool
}

func (g *emuGPU) Capture(fn func() error) (graph, error) {
	if g.rec != nil {
		return nil, errors.New("emulated GPU: Capture during a graph recording")
	}
	var ops []func() error
	g.rec = &ops
	err := fn()
	g.rec = nil
	if err != nil {
		return nil, err
	}
	return &emuGraph{ops: ops}, nil
}

func (g *emuGPU) Replay(gr graph) error {
	eg := gr.(*emuGraph)
	if eg.destroyed {
		return errors.New("emulated GPU: Replay of a destroyed graph")
	}
	for _, op := range eg.ops {
		if err := g.queue(op); err != nil {
			return err
		}
	}
	return nil
}

func (g *emuGPU) Destroy(gr graph) { gr.(*emuGraph).destroyed = true }

func (g *emuGPU) Close() error {
	if g.closed {
		return errors.New("emulated GPU: Close twice")
	}
	g.closed = true
	g.mem.Close()
	return g.host.Close()
}

// emuConv is one shape's convolutions on the CPU engine (its Conv and
// ConvBackward with a zero bias and no activation), with a workspace that
// must be passed as cuDNN's would.
type emuConv struct {
	g *emuGPU
	s engine.ConvShape
}

const emuWorkspace = 4096

func (c *emuConv) Workspace() int { return emuWorkspace }
func (c *emuConv) Close()         {}

// run checks the workspace, copies the device tensors (pointers with
// their lengths) into CPU tensors, calls op on those and copies the
// outputs back.
func (c *emuConv) run(what string, ws cu.Ptr, wsBytes int, in, out []cu.Ptr, lens map[cu.Ptr]int, op func(t map[cu.Ptr]engine.Tensor)) error {
	return c.g.queue(func() error {
		if wsBytes < emuWorkspace {
			return fmt.Errorf("emulated cuDNN: %s with %d bytes of workspace, %d needed", what, wsBytes, emuWorkspace)
		}
		if _, err := c.g.mem.Bytes(uint64(ws), wsBytes); err != nil {
			return fmt.Errorf("emulated cuDNN: %s workspace: %w", what, err)
		}
		h := c.g.host
		ts := map[cu.Ptr]engine.Tensor{}
		defer func() {
			for _, t := range ts {
				h.Free(t)
			}
		}()
		for _, p := range append(slices.Clone(in), out...) {
			v, err := c.g.mem.Float32s(uint64(p), lens[p])
			if err != nil {
				return fmt.Errorf("emulated cuDNN: %s: %w", what, err)
			}
			t, err := h.Alloc(engine.Float32, lens[p])
			if err != nil {
				return err
			}
			ts[p] = t
			if slices.Contains(in, p) {
				if err := h.Write(t, 0, v); err != nil {
					return err
				}
			}
		}
		op(ts)
		for _, p := range out {
			v, _ := c.g.mem.Float32s(uint64(p), lens[p])
			if err := h.Read(ts[p], 0, v); err != nil {
				return err
			}
		}
		return h.Sync()
	})
}

func (c *emuConv) sizes() (x, w, y int) {
	s := c.s
	return s.N * s.C * s.H * s.W, s.K * s.C * s.R * s.S, s.N * s.K * s.P() * s.Q()
}

// scratch returns CPU tensors for what an op needs but cuDNN's does not
// take: a zero bias, an ignored output.
func (c *emuConv) scratch(n int) engine.Tensor {
	t, err := c.g.host.Alloc(engine.Float32, n)
	if err != nil {
		panic(err)
	}
	return t
}

func (c *emuConv) Forward(x, w, y, ws cu.Ptr, wsBytes int) error {
	nx, nw, ny := c.sizes()
	return c.run("convolution forward", ws, wsBytes, []cu.Ptr{x, w}, []cu.Ptr{y}, map[cu.Ptr]int{x: nx, w: nw, y: ny}, func(t map[cu.Ptr]engine.Tensor) {
		b := c.scratch(c.s.K)
		defer c.g.host.Free(b)
		c.g.host.Conv(t[x], t[w], b, t[y], c.s, engine.Identity)
	})
}

func (c *emuConv) BackwardData(w, dy, dx, ws cu.Ptr, wsBytes int) error {
	nx, nw, ny := c.sizes()
	return c.run("convolution backward data", ws, wsBytes, []cu.Ptr{w, dy}, []cu.Ptr{dx}, map[cu.Ptr]int{w: nw, dy: ny, dx: nx}, func(t map[cu.Ptr]engine.Tensor) {
		x, dw, db := c.scratch(nx), c.scratch(nw), c.scratch(c.s.K)
		defer func() {
			for _, u := range []engine.Tensor{x, dw, db} {
				c.g.host.Free(u)
			}
		}()
		c.g.host.ConvBackward(x, t[w], t[dy], t[dy], t[dx], dw, db, c.s, engine.Identity)
	})
}

func (c *emuConv) BackwardFilter(x, dy, dw, ws cu.Ptr, wsBytes int) error {
	nx, nw, ny := c.sizes()
	return c.run("convolution backward filter", ws, wsBytes, []cu.Ptr{x, dy}, []cu.Ptr{dw}, map[cu.Ptr]int{x: nx, dy: ny, dw: nw}, func(t map[cu.Ptr]engine.Tensor) {
		w, db := c.scratch(nw), c.scratch(c.s.K)
		defer func() {
			for _, u := range []engine.Tensor{w, db} {
				c.g.host.Free(u)
			}
		}()
		c.g.host.ConvBackward(t[x], w, t[dy], t[dy], nil, t[dw], db, c.s, engine.Identity)
	})
}

// TestEmulatedConformance runs the conformance suite on the engine with
// an emulated device, with each kernel set.
func TestEmulatedConformance(t *testing.T) {
	for _, ks := range kernelSets {
		t.Run(ks.name, func(t *testing.T) {
			enginetest.Run(t, func(t *testing.T) engine.Engine { return newEmulated(t, ks.own) })
		})
	}
}

// TestEmulatedTraining trains 30 steps at batch 16 on real MNIST (or, when
// it is not cached, on generated digits-like data) from the same initial
// weights on the CPU engine and on the GPU engine with an emulated device
// (the step recorded as a graph and replayed from the third step), with
// Adam and with SGD, with each kernel set, and compares the losses at
// every 10th step as TestGoldenCPUvsGPU does: first step within 1e-6,
// then within four times the CPU's own drift from a one-ulp change of its
// initial weights, plus 1e-3.
func TestEmulatedTraining(t *testing.T) {
	const steps, bs, every = 30, 16, 10
	tk := trainingTask(t)
	c := cpu.New(0)
	defer c.Close()
	for _, opt := range []engine.OptConfig{
		{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7},
		{Kind: engine.SGD, LR: 0.01, Momentum: 0.9},
	} {
		name := "adam"
		if opt.Kind == engine.SGD {
			name = "sgd"
		}
		lc := losses(t, c, tk, opt, steps, bs, false)
		ln := losses(t, c, tk, opt, steps, bs, true)
		wn := worst(t, name+", cpu nudged one ulp vs cpu", ln, lc, every)
		for _, ks := range kernelSets {
			g := newEmulated(t, ks.own)
			gname := name + ", " + ks.name + " kernels on an emulated GPU"
			lg := losses(t, g, tk, opt, steps, bs, false)
			if err := g.Close(); err != nil {
				t.Errorf("%s: Close: %v", gname, err)
			}
			wg := worst(t, gname+" vs cpu", lg, lc, every)
			t.Logf("%s: largest relative difference at every %dth step: %.1e (cpu one ulp apart %.1e)", gname, every, wg, wn)
			if rel := math.Abs(lg[0]-lc[0]) / lc[0]; !(rel <= 1e-6) {
				t.Errorf("%s: first-step losses differ by %.1e relative (> 1e-6)", gname, rel)
			}
			if !(wg <= 4*wn+1e-3) {
				t.Errorf("%s: drifts from the CPU by %.1e relative, more than 4 × the CPU's own one-ulp drift %.1e + 1e-3", gname, wg, wn)
			}
			if n := len(lg); !(lg[n-1] < lg[0]*0.9) {
				t.Errorf("%s: did not learn: loss %.4f -> %.4f", gname, lg[0], lg[n-1])
			}
		}
	}
}

// trainingTask is the first 2,560 real MNIST training images when they
// are cached (or in $CNNGPU_MNIST), else as many generated ones: each
// class a fixed random stroke pattern, each image its class's pattern
// with noise.
func trainingTask(t *testing.T) task {
	const n = 2560
	dir := os.Getenv("CNNGPU_MNIST")
	if dir == "" {
		dir, _ = loader.CacheDir()
	}
	if m, err := loader.LoadDir(dir); err == nil {
		return task{"mnist", m.Train.Images.Pixels[:n*engine.ImagePixels], m.Train.Labels[:n]}
	}
	t.Log("real MNIST is not cached: training on generated data")
	r := rand.New(rand.NewPCG(3, 4))
	var proto [engine.Classes][engine.ImagePixels]float64
	for c := range proto {
		for s := 0; s < 6; s++ {
			i, j := 4+r.IntN(20), 4+r.IntN(20)
			for k := -3; k <= 3; k++ {
				if s%2 == 0 {
					proto[c][i*28+j+k] = 1
				} else {
					proto[c][(i+k)*28+j] = 1
				}
			}
		}
	}
	img := make([]uint8, n*engine.ImagePixels)
	lab := make([]uint8, n)
	for k := range lab {
		c := r.IntN(engine.Classes)
		lab[k] = uint8(c)
		for p := 0; p < engine.ImagePixels; p++ {
			v := proto[c][p]*0.8 + r.Float64()*0.3
			img[k*engine.ImagePixels+p] = uint8(255 * min(v, 1))
		}
	}
	return task{"generated", img, lab}
}
