//go:build cgo

// emudevice_test.go: an emulated device (gpu on the CPU) for running the
// GPU engine's own code without a GPU (emulated_test.go). Our kernels run
// in the kernel emulator (kernels/emu, the same kernels.cu); cuBLAS's SGEMM
// is the CPU engine's product, cuDNN's convolutions its convolutions. Work runs
// at once, in the order it is queued (or replayed), which is one order a
// GPU may run it in; the emulated device checks what would make another
// order give other results or fail:
//   - streams: every op records the bytes it reads and writes; two ops on
//     different streams that touch the same bytes (one of them writing)
//     must be ordered by Fork/Join (vector clocks), or the op is refused;
//   - recordings: a second stream's op must come after a Fork into the
//     recording, every Fork must be joined back before the recording ends,
//     and allocation, copies and waits are refused inside one;
//   - memory: new memory reads as NaN until written, every pointer
//     argument must point into live memory, and a write past either end
//     of an allocation fails the launch that made it.

package cuda

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
	"unsafe"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/kernels"
	"github.com/cnngpu/cnngpu/kernels/emu"
)

var _ gpu = (*emuGPU)(nil)

// span is the bytes [lo, hi) of device memory.
type span struct{ lo, hi uint64 }

func bytesAt(p cu.Ptr, n int) span { return span{uint64(p), uint64(p) + uint64(n)} }

// emuAccess is one op's reading or writing of a span, at a stream's time.
type emuAccess struct {
	span
	stream int
	time   uint64
	write  bool
	what   string
}

// emuLane is a second stream: its index in emuGPU.clock.
type emuLane struct {
	id     int
	closed bool
}

// emuGPU is gpu on the CPU.
type emuGPU struct {
	mem    *emu.Memory
	host   *cpu.Engine     // cuDNN's convolutions
	rec    *[]func() error // the graph being recorded, or nil
	closed bool
	// clock[s][u] is the time of stream u's last op ordered before stream
	// s's next one; stream 0 is the main stream, 1… the lanes.
	clock  [][]uint64
	access []emuAccess  // accesses some stream is not yet ordered after
	forked map[int]bool // lanes forked into the recording, not yet joined
	joins  int          // Joins run (replays included)
	// captures counts the graphs recorded.
	captures int
	// alternatives each convolution offers per direction (emuConv): the
	// engine's tuning times them in place.
	alternatives [3][]int
}

func newEmuGPU(t testing.TB) *emuGPU {
	if !emu.Available {
		t.Skip("this build has no cgo, so no kernel emulator: emulated GPU test skipped")
	}
	return &emuGPU{mem: emu.NewMemory(), host: cpu.New(0), clock: [][]uint64{{0}}, forked: map[int]bool{},
		alternatives: [3][]int{{1}, nil, {1, 2}}}
}

func (g *emuGPU) Info() cu.Device {
	// Six multiprocessors: the gradient reductions split over several
	// blocks (kernels.Splits) at the conformance suite's batch sizes.
	return cu.Device{Name: "emulated GPU (CPU)", MemoryBytes: 1 << 32, ComputeMajor: 9, Multiprocessors: 6}
}

func streamName(s int) string {
	if s == 0 {
		return "the main stream"
	}
	return fmt.Sprintf("lane %d", s)
}

// touch records that op what on stream s reads and writes these spans,
// after checking each against the accesses of other streams it is not
// ordered after.
func (g *emuGPU) touch(s int, what string, reads, writes []span) error {
	c := g.clock[s]
	c[s]++
	t := c[s]
	for _, list := range []struct {
		spans []span
		write bool
	}{{reads, false}, {writes, true}} {
		for _, sp := range list.spans {
			if sp.hi <= sp.lo {
				continue
			}
			for _, a := range g.access {
				if a.stream == s || a.hi <= sp.lo || sp.hi <= a.lo || !(a.write || list.write) || c[a.stream] >= a.time {
					continue
				}
				verb := map[bool]string{false: "reads", true: "writes"}
				return fmt.Errorf("emulated GPU: %s on %s %s bytes %#x–%#x, which %s on %s %s, and nothing orders the two (a Fork or Join is missing)",
					what, streamName(s), verb[list.write], max(sp.lo, a.lo), min(sp.hi, a.hi), a.what, streamName(a.stream), map[bool]string{false: "read", true: "wrote"}[a.write])
			}
		}
		for _, sp := range list.spans {
			if sp.hi <= sp.lo {
				continue
			}
			// A later access of the same bytes by the same stream stands
			// for an earlier one (a write for reads too): whatever is
			// ordered after it is ordered after the earlier. So the list
			// stays as long as the spans in use, and a lane made later,
			// ordered after nothing, still sees the main stream's past.
			g.access = slices.DeleteFunc(g.access, func(a emuAccess) bool {
				return a.span == sp && a.stream == s && (list.write || !a.write)
			})
			g.access = append(g.access, emuAccess{sp, s, t, list.write, what})
		}
	}
	return nil
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

// queue runs op on stream s now, or adds it to the graph being recorded,
// with its reads and writes checked and recorded first when it runs.
func (g *emuGPU) queue(s int, what string, reads, writes []span, op func() error) error {
	run := func() error {
		if err := g.touch(s, what, reads, writes); err != nil {
			return err
		}
		return op()
	}
	if g.rec != nil {
		if s != 0 && !g.forked[s] {
			return fmt.Errorf("emulated GPU: %s on %s during a recording, with no Fork into it first (it would run at once, outside the graph)", what, streamName(s))
		}
		*g.rec = append(*g.rec, run)
		return nil
	}
	return run()
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
	// The memory's accesses go with it (Free waits for the device).
	if end, ok := g.mem.End(uint64(p)); ok {
		g.access = slices.DeleteFunc(g.access, func(a emuAccess) bool { return a.lo >= uint64(p) && a.lo < end })
	}
	return g.mem.Free(uint64(p))
}

func (g *emuGPU) Zero(p cu.Ptr, bytes int) error {
	return g.queue(0, "memset", nil, []span{bytesAt(p, bytes)}, func() error {
		b, err := g.mem.Bytes(uint64(p), bytes)
		clear(b)
		return err
	})
}

func (g *emuGPU) CopyIn(dst cu.Ptr, src unsafe.Pointer, bytes int) error {
	if err := g.refuse("CopyIn"); err != nil {
		return err
	}
	return g.queue(0, "copy to the device", nil, []span{bytesAt(dst, bytes)}, func() error {
		b, err := g.mem.Bytes(uint64(dst), bytes)
		if err == nil && bytes > 0 {
			copy(b, unsafe.Slice((*byte)(src), bytes))
		}
		return err
	})
}

func (g *emuGPU) CopyOut(dst unsafe.Pointer, src cu.Ptr, bytes int) error {
	if err := g.refuse("CopyOut"); err != nil {
		return err
	}
	return g.queue(0, "copy to the host", []span{bytesAt(src, bytes)}, nil, func() error {
		b, err := g.mem.Bytes(uint64(src), bytes)
		if err == nil && bytes > 0 {
			copy(unsafe.Slice((*byte)(dst), bytes), b)
		}
		return err
	})
}

func (g *emuGPU) Launch(name string, n int64, block int, args ...cu.Arg) error {
	return g.LaunchOn(nil, name, n, block, args...)
}

func (g *emuGPU) LaunchOn(l lane, name string, n int64, block int, args ...cu.Arg) error {
	s, err := g.laneID(l)
	if err != nil {
		return err
	}
	if !slices.Contains(kernels.Names, name) {
		return fmt.Errorf("emulated GPU: launch of %s, which is not in kernels.Names (the module's loaded kernels)", name)
	}
	if n <= 0 {
		return nil
	}
	grid := (n + int64(block) - 1) / int64(block)
	if grid > math.MaxInt32 {
		return fmt.Errorf("emulated GPU: %s on %d blocks", name, grid)
	}
	sig, _ := emu.Signature(name)
	ea := make([]emu.Arg, len(args))
	var reads, writes []span
	for i, a := range args {
		ea[i] = emu.Arg{Bits: a.Bits(), Size: a.Size()}
		if i >= len(sig) || (sig[i] != 'P' && sig[i] != 'C') || a.Bits() == 0 {
			continue
		}
		// A kernel may touch what the engine says it may (cu.Buf), or
		// else anything from its pointer to the end of the allocation.
		if end, ok := g.mem.End(a.Bits()); ok {
			sp := span{a.Bits(), end}
			if x := a.Extent(); x > 0 {
				if a.Bits()+uint64(x) > end {
					return fmt.Errorf("emulated GPU: %s's argument %d spans %d bytes from %#x, past the end of its allocation at %#x", name, i, x, a.Bits(), end)
				}
				sp.hi = a.Bits() + uint64(x)
			}
			if sig[i] == 'P' {
				writes = append(writes, sp)
			} else {
				reads = append(reads, sp)
			}
		}
	}
	return g.queue(s, name, reads, writes, func() error { return g.mem.Launch(name, int(grid), block, ea) })
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
	sp := matrixSpan(p, rows, cols, ld)
	if sp.hi == sp.lo {
		return nil, nil
	}
	v, err := g.mem.Float32s(sp.lo, int(sp.hi-sp.lo)/4)
	if err != nil {
		return nil, fmt.Errorf("emulated cuBLAS: %s (%d×%d, stride %d): %w", what, rows, cols, ld, err)
	}
	return v, nil
}

// matrixSpan is the bytes a rows×cols matrix with row stride ld covers.
func matrixSpan(p cu.Ptr, rows, cols, ld int) span {
	if rows == 0 || cols == 0 {
		return span{}
	}
	return bytesAt(p, 4*((rows-1)*ld+cols))
}

func (g *emuGPU) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	return g.sgemm(0, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc)
}

func (g *emuGPU) SgemmRowMajorOn(l lane, transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	s, err := g.laneID(l)
	if err != nil {
		return err
	}
	return g.sgemm(s, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc)
}

// sgemm checks the matrices' extents and multiplies with the CPU engine's
// product.
func (g *emuGPU) sgemm(stream int, transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	reads := []span{matrixSpan(a, ar, ac, lda), matrixSpan(b, br, bc, ldb)}
	writes := []span{matrixSpan(out, m, n, ldc)}
	return g.queue(stream, "cublasSgemm", reads, writes, func() error {
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
		g.host.SgemmRowMajor(transA, transB, m, n, k, alpha, av, lda, bv, ldb, beta, cv, ldc)
		return nil
	})
}

func (g *emuGPU) NewConv(s engine.ConvShape) (convPlan, error) {
	if s.P() < 1 || s.Q() < 1 {
		return nil, fmt.Errorf("emulated cuDNN: convolution %+v has no output", s)
	}
	return &emuConv{g: g, s: s, alts: g.alternatives}, nil
}

// laneID is lane l's stream, 0 (the main stream) for nil.
func (g *emuGPU) laneID(l lane) (int, error) {
	if l == nil {
		return 0, nil
	}
	el := l.(*emuLane)
	if el.closed {
		return 0, fmt.Errorf("emulated GPU: use of closed lane %d", el.id)
	}
	return el.id, nil
}

func (g *emuGPU) NewLane() (lane, error) {
	if err := g.refuse("NewLane"); err != nil {
		return nil, err
	}
	id := len(g.clock)
	for i := range g.clock {
		g.clock[i] = append(g.clock[i], 0)
	}
	g.clock = append(g.clock, make([]uint64, id+1))
	return &emuLane{id: id}, nil
}

// merge orders stream to's next ops after stream from's ops so far.
func (g *emuGPU) merge(to, from int) {
	for u, v := range g.clock[from] {
		g.clock[to][u] = max(g.clock[to][u], v)
	}
}

func (g *emuGPU) Fork(l lane) error {
	s, err := g.laneID(l)
	if err != nil {
		return err
	}
	if g.rec != nil {
		g.forked[s] = true
	}
	return g.queue(0, "fork", nil, nil, func() error { g.merge(s, 0); return nil })
}

func (g *emuGPU) Join(l lane) error {
	s, err := g.laneID(l)
	if err != nil {
		return err
	}
	if g.rec != nil {
		if !g.forked[s] {
			return fmt.Errorf("emulated GPU: Join of %s during a recording it was not forked into", streamName(s))
		}
		delete(g.forked, s)
	}
	return g.queue(0, "join", nil, nil, func() error { g.merge(0, s); g.joins++; return nil })
}

func (g *emuGPU) CloseLane(l lane) error {
	if err := g.refuse("CloseLane"); err != nil {
		return err
	}
	if _, err := g.laneID(l); err != nil {
		return err
	}
	l.(*emuLane).closed = true
	return nil
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
	g.captures++
	clear(g.forked)
	err := fn()
	g.rec = nil
	if err != nil {
		return nil, err
	}
	for s := range g.forked {
		return nil, fmt.Errorf("emulated GPU: %s was forked into the recording and not joined back (CUDA fails such a recording: stream capture unjoined)", streamName(s))
	}
	return &emuGraph{ops: ops}, nil
}

func (g *emuGPU) Replay(gr graph) error {
	eg := gr.(*emuGraph)
	if eg.destroyed {
		return errors.New("emulated GPU: Replay of a destroyed graph")
	}
	for _, op := range eg.ops {
		if err := op(); err != nil {
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
// must be passed as cuDNN's would (and that each call writes).
type emuConv struct {
	g *emuGPU
	s engine.ConvShape
	// Algorithm numbers, all the CPU engine's convolution: in use, and
	// the alternatives (emuGPU.alternatives of each direction).
	algo [3]int
	alts [3][]int
}

const emuWorkspace = 4096

func (c *emuConv) Workspace() int { return emuWorkspace }
func (c *emuConv) Close()         {}
func (c *emuConv) Algorithms() string {
	return fmt.Sprintf("the CPU engine's (forward %d, data %d, filter %d)", c.algo[0], c.algo[1], c.algo[2])
}
func (c *emuConv) Alternatives(dir int) []int {
	return slices.DeleteFunc(slices.Clone(c.alts[dir]), func(a int) bool { return a == c.algo[dir] })
}
func (c *emuConv) Algo(dir int) int { return c.algo[dir] }
func (c *emuConv) Use(dir, algo int) {
	if algo != 0 && !slices.Contains(c.alts[dir], algo) {
		panic("emulated cuDNN: Use of an algorithm that is not an alternative")
	}
	c.algo[dir] = algo
}

// run checks the workspace, copies the device tensors in (pointers with
// their lengths in floats) into CPU tensors, calls op on those and copies
// the outputs back, on stream s.
func (c *emuConv) run(s int, what string, ws cu.Ptr, wsBytes int, in, out []cu.Ptr, lens map[cu.Ptr]int, op func(t map[cu.Ptr]engine.Tensor)) error {
	var reads, writes []span
	for _, p := range in {
		reads = append(reads, bytesAt(p, 4*lens[p]))
	}
	for _, p := range out {
		writes = append(writes, bytesAt(p, 4*lens[p]))
	}
	writes = append(writes, bytesAt(ws, wsBytes))
	return c.g.queue(s, what, reads, writes, func() error {
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

// scratch returns a zeroed CPU tensor for what an op needs but cuDNN's
// does not take: a zero bias, an ignored output.
func (c *emuConv) scratch(n int) engine.Tensor {
	t, err := c.g.host.Alloc(engine.Float32, n)
	if err != nil {
		panic(err)
	}
	return t
}

func (c *emuConv) Forward(x, w, y, ws cu.Ptr, wsBytes int) error {
	nx, nw, ny := c.sizes()
	return c.run(0, "convolution forward", ws, wsBytes, []cu.Ptr{x, w}, []cu.Ptr{y}, map[cu.Ptr]int{x: nx, w: nw, y: ny}, func(t map[cu.Ptr]engine.Tensor) {
		b := c.scratch(c.s.K)
		defer c.g.host.Free(b)
		c.g.host.Conv(t[x], t[w], b, t[y], c.s, engine.Identity)
	})
}

func (c *emuConv) BackwardData(w, dy, dx, ws cu.Ptr, wsBytes int) error {
	nx, nw, ny := c.sizes()
	return c.run(0, "convolution backward data", ws, wsBytes, []cu.Ptr{w, dy}, []cu.Ptr{dx}, map[cu.Ptr]int{w: nw, dy: ny, dx: nx}, func(t map[cu.Ptr]engine.Tensor) {
		x, dw, db := c.scratch(nx), c.scratch(nw), c.scratch(c.s.K)
		defer func() {
			for _, u := range []engine.Tensor{x, dw, db} {
				c.g.host.Free(u)
			}
		}()
		c.g.host.ConvBackward(x, t[w], t[dy], t[dy], t[dx], dw, db, c.s, engine.Identity)
	})
}

func (c *emuConv) BackwardFilter(l lane, x, dy, dw, ws cu.Ptr, wsBytes int) error {
	s, err := c.g.laneID(l)
	if err != nil {
		return err
	}
	nx, nw, ny := c.sizes()
	return c.run(s, "convolution backward filter", ws, wsBytes, []cu.Ptr{x, dy}, []cu.Ptr{dw}, map[cu.Ptr]int{x: nx, dy: ny, dw: nw}, func(t map[cu.Ptr]engine.Tensor) {
		w, db := c.scratch(nw), c.scratch(c.s.K)
		defer func() {
			for _, u := range []engine.Tensor{w, db} {
				c.g.host.Free(u)
			}
		}()
		c.g.host.ConvBackward(t[x], w, t[dy], t[dy], nil, t[dw], db, c.s, engine.Identity)
	})
}
