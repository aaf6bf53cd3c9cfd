//go:build cgo && !windows

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
//     of an allocation fails the launch that made it;
//   - objects: it counts the allocations, lanes, events, graphs and
//     convolution plans alive, and at Close lists those not released.
//
// It also fails on demand (emuFault), as a GPU and its libraries can: the
// Nth allocation, kernel launch, copy, library call (cuBLAS, cuDNN), graph
// instantiation or launch, or event query, with the error the real call
// gives; or, after the Nth kernel has run, a device fault that makes every
// later call fail (a sticky error: the context is unusable). What a real
// device would punish silently, it records (violations): a launch or a
// library call on a NULL buffer, an event or graph used after release or
// released twice, a call after Close.

package cuda

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
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
	mem  *emu.Memory
	host *cpu.Engine     // cuDNN's convolutions
	rec  *[]func() error // the graph being recorded, or nil
	// recMarks is the events Mark made in the recording being made.
	recMarks []*emuEvent
	closed   bool
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
	// alternativesAt, when it has a convolution's batch size, replaces
	// alternatives for that batch size (cuDNN's close algorithms differ
	// between batch sizes on a real GPU).
	alternativesAt map[int][3][]int
	// altMemory[dir], when set, is the workspace each alternative
	// algorithm of direction dir needs (algorithm 0 needs emuWorkspace);
	// maxAlloc, when set, fails every allocation larger (out of memory).
	altMemory [3]int
	maxAlloc  int
	// baseMemory[dir], when set, is what algorithm 0 of direction dir
	// needs instead of emuWorkspace.
	baseMemory [3]int
	// delay, when set, makes the events' clock a virtual one that only
	// the ops named in it advance (a kernel's name, or "convolution
	// forward" and the like), each by its delay when it runs: a test
	// decides what the in-place timing finds faster, whatever the
	// emulation of each op costs. A convolution's "WHAT algorithm N"
	// (cuDNN's algorithm N of that direction) adds to its WHAT.
	delay  map[string]time.Duration
	vclock time.Duration

	fault    emuFault
	points   [faultKinds]int // fault points met so far, by kind
	executed int             // kernels run (replays included)
	launched map[string]int  // kernels run, by name
	// queuedOn is the streams each kernel was queued on (0: the main
	// stream), afters the After calls by (lane, src).
	queuedOn map[string]map[int]bool
	afters   map[[2]int]int
	stuck    error     // the sticky error, once the device faulted
	fired    *emuFault // the fault injected, once it was
	firedErr error
	// firedIn is the recording (captures) the fault fired in (0:
	// outside any).
	firedIn    int
	violations []string
	// Live objects: lanes open, events and graphs not released, plans
	// not closed; and what Close found alive.
	lanes, events, graphs, plans int
	gemmPlans                    int // cuBLASLt plans not closed
	leaks                        []string
	// noFused: the epilogues emulated cuBLASLt has no algorithm for;
	// fusedRan counts the fused products run, by epilogue.
	noFused  map[cu.Epilogue]bool
	fusedRan map[cu.Epilogue]int
	// gemmAlgos is how many algorithms each cuBLASLt plan offers (2).
	gemmAlgos int
	// gemmIDsAt, when set, shifts the algorithms' IDs of a product with
	// a dimension of that size (cuBLASLt's heuristic offers other
	// algorithms at another batch size on a real GPU).
	gemmIDsAt map[int]int
	// calls counts the fault points reached, by call name.
	calls    map[string]int
	finds    [3]int // convolution searches by direction
	restores [3]int // remembered choices adopted, by direction
	dnnRan   [3]int // convolutions run (replays included), by direction
	// WarmDNN, which the engine calls on another goroutine: under
	// warmMu, the shapes it was called for and the error it returns;
	// warmGate, set by a test before the engine runs, holds it until
	// closed (cuDNN's kernels loading).
	warmMu   sync.Mutex
	warmed   []engine.ConvShape
	warmErr  error
	warmGate chan struct{}
	// warmAt, when set, closes warmGate once that many kernels have run.
	// releaseWarm closes it, once.
	warmAt   int
	warmOnce sync.Once
	// warmReleased counts WarmDNN's releases (on the engine's goroutine).
	warmReleased int
	// copyLanes counts the copy lanes made (NewCopyLane); fetchErr, set
	// by a test, is what ReadOn's fetches return (a copy that failed).
	copyLanes int
	// kernelLanes counts the kernel lanes made (NewKernelLane).
	kernelLanes int
	fetchErr    error
	// reading is the copies to the host ReadOn queued whose fetch has not
	// returned: the real device reads its source when fetch runs, so
	// until then nothing may write or free it (touch, Free), nor Close.
	reading []*emuRead
}

// emuRead is a copy to the host queued on a lane (ReadOn); done is set by
// its fetch, on another goroutine.
type emuRead struct {
	span
	lane int
	done atomic.Bool
}

// stillRead is the first copy to the host not yet fetched that reads a
// byte of sp, or nil; it forgets those fetched.
func (g *emuGPU) stillRead(sp span) *emuRead {
	g.reading = slices.DeleteFunc(g.reading, func(r *emuRead) bool { return r.done.Load() })
	for _, r := range g.reading {
		if r.lo < sp.hi && sp.lo < r.hi {
			return r
		}
	}
	return nil
}

// faultKind is a kind of point where the emulated device can fail.
type faultKind int

const (
	faultNone    faultKind = iota
	faultAlloc             // cuMemAlloc
	faultLaunch            // cuLaunchKernel
	faultCopy              // cuMemcpy…, cuMemset
	faultLibrary           // cuBLAS and cuDNN calls, handles, plans and searches
	faultGraph             // graph instantiation and launch
	faultEvent             // event record and query
	faultSticky            // a device fault after the Nth kernel has run
	faultKinds
)

var faultNames = [faultKinds]string{"none", "allocation", "launch", "copy", "library call", "graph", "event", "device fault"}

func (k faultKind) String() string { return faultNames[k] }

// emuFault is the fault to inject: the at-th point of kind (1 first), or
// where call is set, the at-th call of that name; with stick, the device
// also faults there (a kernel's fault that the call is the first to see,
// as cuBLAS's EXECUTION_FAILED can be).
type emuFault struct {
	kind  faultKind
	at    int
	call  string
	stick bool
}

// violate records something a real device would punish silently.
func (g *emuGPU) violate(format string, args ...any) {
	g.violations = append(g.violations, fmt.Sprintf(format, args...))
}

// point is a fault point of kind for call: it returns the sticky error
// once the device has faulted, the injected error when this is the point
// to fail, else nil.
func (g *emuGPU) point(kind faultKind, call string, injected func() error) error {
	if g.closed {
		g.violate("%s after Close", call)
		return errors.New("emulated GPU: " + call + " after Close")
	}
	if g.stuck != nil {
		return g.sticky(call)
	}
	g.points[kind]++
	if g.calls == nil {
		g.calls = map[string]int{}
	}
	g.calls[call]++
	n := g.points[kind]
	if g.fault.call != "" {
		n = -1
		if call == g.fault.call {
			n = g.calls[call]
		}
	}
	if g.fault.kind == kind && n == g.fault.at && g.fired == nil {
		g.fired = &emuFault{kind, n, g.fault.call, g.fault.stick}
		g.firedErr = injected()
		if g.fault.stick {
			g.stuck = g.sticky(call)
		}
		if g.rec != nil || kind == faultGraph && call == "cuGraphInstantiateWithFlags" {
			g.firedIn = g.captures
		}
		return g.firedErr
	}
	return nil
}

// sticky is the error every call returns once the device has faulted.
func (g *emuGPU) sticky(call string) error {
	return &cu.Error{Func: call, Status: 700, Name: "CUDA_ERROR_ILLEGAL_ADDRESS", Desc: "an illegal memory access was encountered"}
}

// ran counts a kernel run; after the fault's, the device is faulted.
func (g *emuGPU) ran(name string) {
	g.executed++
	if g.warmAt > 0 && g.executed == g.warmAt {
		g.releaseWarm()
	}
	if g.launched == nil {
		g.launched = map[string]int{}
	}
	g.launched[name]++
	if g.fault.kind == faultSticky && g.executed == g.fault.at && g.stuck == nil {
		g.points[faultSticky] = g.executed
		g.fired = &emuFault{faultSticky, g.executed, "", false}
		g.stuck = g.sticky(name)
		g.firedErr = g.stuck
	}
}

// oom is the driver's out-of-memory error for call.
func oom(call string) error {
	return &cu.Error{Func: call, Status: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY", Desc: "out of memory"}
}

// unknown is the driver's error of a call that failed for no stated reason.
func unknown(call string) error {
	return &cu.Error{Func: call, Status: 999, Name: "CUDA_ERROR_UNKNOWN", Desc: "unknown error"}
}

// dnnOOM is cuDNN's out-of-memory error for call.
func dnnOOM(call string) error {
	return &cudnn.Error{Func: call, Status: 4001, Desc: "CUDNN_STATUS_ALLOC_FAILED"}
}

// live lists the objects not released, for Close.
func (g *emuGPU) live() []string {
	var out []string
	for _, c := range []struct {
		n    int
		what string
	}{{g.mem.Live(), "allocations"}, {g.lanes, "lanes"}, {g.events, "events"}, {g.graphs, "graphs"}, {g.plans, "convolution plans"}, {g.gemmPlans, "cuBLASLt plans"}} {
		if c.n != 0 {
			out = append(out, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return out
}

func newEmuGPU(t testing.TB) *emuGPU {
	if !emu.Available {
		t.Skip("this build has no cgo, so no kernel emulator: emulated GPU test skipped")
	}
	return &emuGPU{mem: emu.NewMemory(), host: cpu.New(0), clock: [][]uint64{{0}}, forked: map[int]bool{},
		alternatives: [3][]int{{1}, nil, {1, 2}}, gemmAlgos: 2}
}

func (g *emuGPU) Identity() string { return "emulated GPU" }

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
	for _, sp := range writes {
		if r := g.stillRead(sp); r != nil && sp.hi > sp.lo {
			return fmt.Errorf("emulated GPU: %s on %s writes bytes %#x–%#x, which a copy to the host queued on %s still reads (its fetch has not returned)",
				what, streamName(s), max(sp.lo, r.lo), min(sp.hi, r.hi), streamName(r.lane))
		}
	}
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
		g.vclock += g.delay[what]
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
		g.violate("%v", err)
		return 0, err
	}
	if err := g.point(faultAlloc, "cuMemAlloc_v2", func() error {
		return fmt.Errorf("allocating %.1f MiB on GPU 0 (0.0 MiB free of 4096.0 MiB): %w", float64(bytes)/(1<<20), oom("cuMemAlloc_v2"))
	}); err != nil {
		return 0, err
	}
	if g.maxAlloc > 0 && bytes > g.maxAlloc {
		return 0, fmt.Errorf("allocating %d bytes on GPU 0 (at most %d free in one piece): %w", bytes, g.maxAlloc, oom("cuMemAlloc_v2"))
	}
	p, err := g.mem.Alloc(bytes)
	return cu.Ptr(p), err
}

func (g *emuGPU) Free(p cu.Ptr) error {
	if g.closed {
		g.violate("Free after Close")
		return errors.New("emulated GPU: Free after Close")
	}
	if err := g.refuse("Free"); err != nil {
		g.violate("%v", err)
		return err
	}
	// The memory's accesses go with it (Free waits for the device).
	if end, ok := g.mem.End(uint64(p)); ok {
		if r := g.stillRead(span{uint64(p), end}); r != nil {
			g.violate("Free of %#x, which a copy to the host queued on %s still reads (its fetch has not returned)", uint64(p), streamName(r.lane))
			return fmt.Errorf("emulated GPU: Free of memory a copy to the host still reads")
		}
		g.access = slices.DeleteFunc(g.access, func(a emuAccess) bool { return a.lo >= uint64(p) && a.lo < end })
	}
	if err := g.mem.Free(uint64(p)); err != nil {
		g.violate("%v", err)
		return err
	}
	// After a fault the memory is released, and the call reports it.
	if g.stuck != nil {
		return g.sticky("cuMemFree_v2")
	}
	return nil
}

func (g *emuGPU) Zero(p cu.Ptr, bytes int) error {
	if err := g.point(faultCopy, "cuMemsetD8Async", func() error { return unknown("cuMemsetD8Async") }); err != nil {
		return err
	}
	if p == 0 && bytes > 0 {
		g.violate("memset of %d bytes at NULL", bytes)
	}
	return g.queue(0, "memset", nil, []span{bytesAt(p, bytes)}, func() error {
		b, err := g.mem.Bytes(uint64(p), bytes)
		clear(b)
		return err
	})
}

func (g *emuGPU) CopyIn(dst cu.Ptr, src unsafe.Pointer, bytes int) error {
	if err := g.refuse("CopyIn"); err != nil {
		g.violate("%v", err)
		return err
	}
	if err := g.point(faultCopy, "cuMemcpyHtoDAsync_v2", func() error { return unknown("cuMemcpyHtoDAsync_v2") }); err != nil {
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
		g.violate("%v", err)
		return err
	}
	if err := g.point(faultCopy, "cuMemcpyDtoHAsync_v2", func() error { return unknown("cuMemcpyDtoHAsync_v2") }); err != nil {
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
	if g.queuedOn == nil {
		g.queuedOn = map[string]map[int]bool{}
	}
	if g.queuedOn[name] == nil {
		g.queuedOn[name] = map[int]bool{}
	}
	g.queuedOn[name][s] = true
	if n <= 0 {
		return nil
	}
	call := "cuLaunchKernel(" + name + ")"
	if err := g.point(faultLaunch, call, func() error {
		return &cu.Error{Func: call, Status: 701, Name: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", Desc: "too many resources requested for launch"}
	}); err != nil {
		return err
	}
	grid := (n + int64(block) - 1) / int64(block)
	if grid > math.MaxInt32 {
		return fmt.Errorf("emulated GPU: %s on %d blocks", name, grid)
	}
	sig, _ := emu.Signature(name)
	ea := make([]emu.Arg, len(args))
	var reads, writes []span
	null := false
	for i, a := range args {
		ea[i] = emu.Arg{Bits: a.Bits(), Size: a.Size()}
		if a.Bits() == 0 && a.Extent() > 0 {
			g.violate("%s launched with argument %d NULL, a buffer of %d bytes", name, i, a.Extent())
			null = true
		}
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
	return g.queue(s, name, reads, writes, func() error {
		if g.stuck != nil {
			return nil // the device no longer runs anything
		}
		if null {
			// What the GPU would do: an illegal address, a sticky error.
			g.stuck = g.sticky(name)
			return nil
		}
		// A recording replayed after memory it uses was freed (and maybe
		// allocated again, smaller): the same.
		for i, a := range args {
			if i >= len(sig) || (sig[i] != 'P' && sig[i] != 'C') || a.Bits() == 0 {
				continue
			}
			if end, ok := g.mem.End(a.Bits()); !ok || a.Bits()+uint64(a.Extent()) > end {
				g.violate("%s run with argument %d in memory freed since it was queued (a recording replayed after Free)", name, i)
				g.stuck = g.sticky(name)
				return nil
			}
		}
		defer g.ran(name)
		return g.mem.Launch(name, int(grid), block, ea)
	})
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
// stored is the rows and columns of a row-major operand that is rows×cols
// after op (transposed: stored cols×rows).
func stored(trans bool, rows, cols int) (int, int) {
	if trans {
		return cols, rows
	}
	return rows, cols
}

func (g *emuGPU) sgemm(stream int, transA, transB bool, m, n, k int, alpha float32, a cu.Ptr, lda int, b cu.Ptr, ldb int, beta float32, out cu.Ptr, ldc int) error {
	ar, ac := stored(transA, m, k)
	br, bc := stored(transB, k, n)
	if err := g.point(faultLibrary, "cublasSgemm_v2", func() error {
		return &cu.BLASError{Func: "cublasSgemm_v2", Status: 13, Desc: "the GPU program failed to execute"}
	}); err != nil {
		return err
	}
	if m > 0 && n > 0 && k > 0 && (a == 0 || b == 0 || out == 0) {
		g.violate("cublasSgemm_v2 on a NULL matrix (A %#x, B %#x, C %#x)", a, b, out)
	}
	reads := []span{matrixSpan(a, ar, ac, lda), matrixSpan(b, br, bc, ldb)}
	writes := []span{matrixSpan(out, m, n, ldc)}
	return g.queue(stream, "cublasSgemm", reads, writes, func() error {
		if g.stuck != nil {
			return nil
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
		g.host.SgemmRowMajor(transA, transB, m, n, k, alpha, av, lda, bv, ldb, beta, cv, ldc)
		return nil
	})
}

// emuGemm is a product with a fused epilogue (cuBLASLt) on the CPU, with
// emuGPU.gemmAlgos algorithms that all compute the same bits (the
// emulated clock can tell them apart: emuGPU.delay of "cublasLtMatmul
// algo N").
type emuGemm struct {
	g      *emuGPU
	s      cu.GemmSpec
	algos  int
	cur    int
	ids    int // emuGPU.gemmIDsAt's shift of this product's
	closed bool
}

func (p *emuGemm) Algos() int { return p.algos }
func (p *emuGemm) Algo() int  { return p.cur }

// AlgoID: algorithm i is "emu-<emuGemmIDs+ids+i>".
func (p *emuGemm) AlgoID(i int) string { return fmt.Sprintf("emu-%d", emuGemmIDs+p.ids+i) }

// emuGemmIDs shifts the emulated heuristic's list of algorithms, as
// another cuBLASLt's heuristic could (tests set it).
var emuGemmIDs = 0

func (p *emuGemm) Use(i int) {
	if i < 0 || i >= p.algos {
		panic("emulated cuBLASLt: Use of an algorithm the plan does not have")
	}
	p.cur = i
}

func (p *emuGemm) Close() { p.g.release(&p.closed, &p.g.gemmPlans, "a cuBLASLt plan") }

// release marks a plan closed, once (what: the plan, for the violation),
// counting it off live.
func (g *emuGPU) release(closed *bool, live *int, what string) {
	if *closed {
		g.violate("%s closed twice", what)
		return
	}
	*closed = true
	*live--
}

// NewGemm is cuBLASLt's heuristic: outside recordings, failing as the
// fault asks, and finding nothing for the epilogues in noFused.
func (g *emuGPU) NewGemm(s cu.GemmSpec) (gemmPlan, error) {
	const call = "cublasLtMatmulAlgoGetHeuristic"
	if g.rec != nil {
		g.violate("%s during a graph recording", call)
	}
	if err := g.point(faultLibrary, call, func() error {
		return &cu.BLASError{Func: call, Status: 3, Desc: "the resource allocation failed"}
	}); err != nil {
		return nil, err
	}
	if g.noFused[s.Epilogue] {
		return nil, fmt.Errorf("%w (emulated)", cu.ErrNoFusedAlgorithm)
	}
	g.gemmPlans++
	ids := 0
	for _, d := range []int{s.M, s.N, s.K} {
		ids += g.gemmIDsAt[d]
	}
	return &emuGemm{g: g, s: s, algos: g.gemmAlgos, ids: ids}, nil
}

// Gemm checks the plan, the pointers' alignment and the matrices'
// extents, and runs the product with the CPU engine's SGEMM and the
// epilogue in float32.
func (g *emuGPU) Gemm(l lane, p gemmPlan, a, b, out, bias cu.Ptr) error {
	const call = "cublasLtMatmul"
	stream, err := g.laneID(l)
	if err != nil {
		return err
	}
	pl := p.(*emuGemm)
	s := pl.s
	if pl.closed {
		g.violate("%s with a closed plan", call)
	}
	if cu.Alignment(a) < s.AlignA || cu.Alignment(b) < s.AlignB || cu.Alignment(out) < s.AlignC || cu.Alignment(bias) < s.AlignBias {
		g.violate("%s on A %#x, B %#x, out %#x, vector %#x: less aligned than the plan's %d, %d, %d, %d bytes", call, a, b, out, bias, s.AlignA, s.AlignB, s.AlignC, s.AlignBias)
	}
	if err := g.point(faultLibrary, call, func() error {
		return &cu.BLASError{Func: call, Status: 13, Desc: "the GPU program failed to execute"}
	}); err != nil {
		return err
	}
	ar, ac := stored(s.TransA, s.M, s.K)
	br, bc := stored(s.TransB, s.K, s.N)
	reads := []span{matrixSpan(a, ar, ac, s.LDA), matrixSpan(b, br, bc, s.LDB)}
	writes := []span{matrixSpan(out, s.M, s.N, s.LDC)}
	switch s.Epilogue {
	case cu.EpilogueBias, cu.EpilogueReLUBias:
		reads = append(reads, bytesAt(bias, 4*s.N))
	case cu.EpilogueBiasGradA:
		writes = append(writes, bytesAt(bias, 4*s.M))
	}
	what := call
	if pl.cur > 0 {
		what = fmt.Sprintf("%s algo %d", call, pl.cur)
	}
	return g.queue(stream, what, reads, writes, func() error {
		if g.stuck != nil {
			return nil
		}
		av, err := g.matrix("A", a, ar, ac, s.LDA)
		if err != nil {
			return err
		}
		bv, err := g.matrix("B", b, br, bc, s.LDB)
		if err != nil {
			return err
		}
		cv, err := g.matrix("out", out, s.M, s.N, s.LDC)
		if err != nil {
			return err
		}
		g.host.SgemmRowMajor(s.TransA, s.TransB, s.M, s.N, s.K, 1, av, s.LDA, bv, s.LDB, 0, cv, s.LDC)
		if g.fusedRan == nil {
			g.fusedRan = map[cu.Epilogue]int{}
		}
		g.fusedRan[s.Epilogue]++
		switch s.Epilogue {
		case cu.EpilogueBias, cu.EpilogueReLUBias:
			v, err := g.mem.Float32s(uint64(bias), s.N)
			if err != nil {
				return fmt.Errorf("emulated cuBLASLt: bias vector: %w", err)
			}
			for i := range s.M {
				row := cv[i*s.LDC : i*s.LDC+s.N]
				for j := range row {
					row[j] += v[j]
					if s.Epilogue == cu.EpilogueReLUBias {
						row[j] = max(row[j], 0)
					}
				}
			}
		case cu.EpilogueBiasGradA:
			if s.TransA && s.LDA == s.M {
				// A is dz (K×M, row-major), as the engine passes it:
				// summed in the order of our bias_grad kernel, so that
				// the fused product gives the split one's bits, as the
				// emulated cuDNN's algorithms all give the CPU's.
				args := []cu.Arg{cu.P(bias), cu.P(a), cu.I(s.K), cu.I(s.M), cu.I(1)}
				ea := make([]emu.Arg, len(args))
				for i, x := range args {
					ea[i] = emu.Arg{Bits: x.Bits(), Size: x.Size()}
				}
				return g.mem.Launch("bias_grad", s.M, 256, ea)
			}
			v, err := g.mem.Float32s(uint64(bias), s.M)
			if err != nil {
				return fmt.Errorf("emulated cuBLASLt: bias gradient vector: %w", err)
			}
			for i := range v {
				var sum float32
				for k := range s.K {
					if s.TransA {
						sum += av[k*s.LDA+i]
					} else {
						sum += av[i*s.LDA+k]
					}
				}
				v[i] = sum
			}
		}
		return nil
	})
}

func (g *emuGPU) NewConv(s engine.ConvShape) (convPlan, error) {
	if s.P() < 1 || s.Q() < 1 {
		return nil, fmt.Errorf("emulated cuDNN: convolution %+v has no output", s)
	}
	if err := g.point(faultLibrary, "cudnnCreateTensorDescriptor", func() error { return dnnOOM("cudnnCreateTensorDescriptor") }); err != nil {
		return nil, err
	}
	g.plans++
	alts := g.alternatives
	if a, ok := g.alternativesAt[s.N]; ok {
		alts = a
	}
	return &emuConv{g: g, s: s, alts: alts}, nil
}

// WarmDNN is cuDNN's first calls beside the steps (beside.go): it checks
// that each pick is a remembered choice restore could adopt (the algorithm
// in use among those timed), records the call and waits for warmGate. It
// runs on another goroutine than the engine's, so it touches nothing
// else of the device.
func (g *emuGPU) WarmDNN(s engine.ConvShape, picks []dnnPick) (func(), error) {
	g.warmMu.Lock()
	g.warmed = append(g.warmed, s)
	gate, err := g.warmGate, g.warmErr
	g.warmMu.Unlock()
	release := func() {
		// On the engine's goroutine, as a real release would free.
		if g.closed {
			g.violate("WarmDNN's release after Close")
		}
		g.warmReleased++
	}
	for _, p := range picks {
		if !slices.ContainsFunc(p.timed, func(a cudnn.AlgoTime) bool { return a.Algo == p.algo }) {
			return release, fmt.Errorf("emulated cuDNN: WarmDNN: the %s's algorithm %d is not among those remembered", dirNames[p.dir], p.algo)
		}
	}
	if gate != nil {
		<-gate
	}
	return release, err
}

// releaseWarm lets WarmDNN go on (closes warmGate), once.
func (g *emuGPU) releaseWarm() { g.warmOnce.Do(func() { close(g.warmGate) }) }

// warmCalls is the shapes WarmDNN was called for so far.
func (g *emuGPU) warmCalls() []engine.ConvShape {
	g.warmMu.Lock()
	defer g.warmMu.Unlock()
	return slices.Clone(g.warmed)
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
		g.violate("%v", err)
		return nil, err
	}
	if err := g.point(faultLibrary, "cublasCreate_v2", func() error {
		return &cu.BLASError{Func: "cublasCreate_v2", Status: 3, Desc: "the resource allocation failed"}
	}); err != nil {
		return nil, err
	}
	return g.addLane(), nil
}

// addLane makes a stream, ordered after nothing yet.
func (g *emuGPU) addLane() *emuLane {
	g.lanes++
	id := len(g.clock)
	for i := range g.clock {
		g.clock[i] = append(g.clock[i], 0)
	}
	g.clock = append(g.clock, make([]uint64, id+1))
	return &emuLane{id: id}
}

// NewCopyLane is NewLane without library handles: it fails where making
// a stream does.
func (g *emuGPU) NewCopyLane() (lane, error) { return g.bareLane("NewCopyLane", &g.copyLanes) }

// bareLane is a lane without library handles, made by call (counted in
// made): it fails where making a stream does.
func (g *emuGPU) bareLane(call string, made *int) (lane, error) {
	if err := g.refuse(call); err != nil {
		g.violate("%v", err)
		return nil, err
	}
	if err := g.point(faultLibrary, "cuStreamCreate", func() error { return unknown("cuStreamCreate") }); err != nil {
		return nil, err
	}
	*made++
	return g.addLane(), nil
}

// NewKernelLane is NewCopyLane for our kernels (the updates' stream).
func (g *emuGPU) NewKernelLane() (lane, error) { return g.bareLane("NewKernelLane", &g.kernelLanes) }

func (g *emuGPU) CopyDevice(dst, src cu.Ptr, bytes int) error {
	if err := g.point(faultCopy, "cuMemcpyDtoDAsync_v2", func() error { return unknown("cuMemcpyDtoDAsync_v2") }); err != nil {
		return err
	}
	return g.queue(0, "copy on the device", []span{bytesAt(src, bytes)}, []span{bytesAt(dst, bytes)}, func() error {
		from, err := g.mem.Bytes(uint64(src), bytes)
		if err != nil {
			return err
		}
		to, err := g.mem.Bytes(uint64(dst), bytes)
		if err == nil {
			copy(to, from)
		}
		return err
	})
}

// ReadOn reads src on lane l at once (the emulated device runs what it
// queues as it is queued: the lane's order is checked then), into a host
// buffer of its own; fetch, on any goroutine, touches no state of the
// device's: it copies that buffer out, or returns fetchErr (a test's: a
// copy that failed where it was waited for).
func (g *emuGPU) ReadOn(l lane, src cu.Ptr, bytes int) (func(unsafe.Pointer) error, error) {
	s, err := g.laneID(l)
	if err != nil {
		return nil, err
	}
	if err := g.refuse("ReadOn"); err != nil {
		g.violate("%v", err)
		return nil, err
	}
	if err := g.point(faultCopy, "cuMemcpyDtoHAsync_v2", func() error { return unknown("cuMemcpyDtoHAsync_v2") }); err != nil {
		return nil, err
	}
	buf := make([]byte, bytes)
	err = g.queue(s, "copy to the host beside", []span{bytesAt(src, bytes)}, nil, func() error {
		b, err := g.mem.Bytes(uint64(src), bytes)
		copy(buf, b)
		return err
	})
	if err != nil {
		return nil, err
	}
	r := &emuRead{span: bytesAt(src, bytes), lane: s}
	g.reading = append(g.reading, r)
	fetchErr := g.fetchErr
	return func(dst unsafe.Pointer) error {
		defer r.done.Store(true)
		if fetchErr != nil {
			return fetchErr
		}
		copy(unsafe.Slice((*byte)(dst), bytes), buf)
		return nil
	}, nil
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
	if err := g.point(faultEvent, "cuEventRecord", func() error { return unknown("cuEventRecord") }); err != nil {
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
	if err := g.point(faultEvent, "cuEventRecord", func() error { return unknown("cuEventRecord") }); err != nil {
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

// After orders lane l's next ops after lane src's so far: queued on src,
// so that it takes src's clock where src has got to.
func (g *emuGPU) After(l, src lane) error {
	if l == nil || src == nil {
		g.violate("After with the main stream (Fork or Join orders it)")
		return errors.New("emulated GPU: After with the main stream")
	}
	s, err := g.laneID(l)
	if err != nil {
		return err
	}
	from, err := g.laneID(src)
	if err != nil {
		return err
	}
	if err := g.point(faultEvent, "cuEventRecord", func() error { return unknown("cuEventRecord") }); err != nil {
		return err
	}
	if g.rec != nil && !g.forked[s] {
		return fmt.Errorf("emulated GPU: After on %s during a recording it was not forked into", streamName(s))
	}
	if g.afters == nil {
		g.afters = map[[2]int]int{}
	}
	g.afters[[2]int{s, from}]++
	return g.queue(from, "after", nil, nil, func() error { g.merge(s, from); return nil })
}

func (g *emuGPU) CloseLane(l lane) error {
	if err := g.refuse("CloseLane"); err != nil {
		g.violate("%v", err)
		return err
	}
	if _, err := g.laneID(l); err != nil {
		g.violate("%v", err)
		return err
	}
	l.(*emuLane).closed = true
	g.lanes--
	if g.stuck != nil {
		return g.sticky("cuStreamSynchronize")
	}
	return nil
}

func (g *emuGPU) Sync() error {
	if err := g.refuse("Sync"); err != nil {
		g.violate("%v", err)
		return err
	}
	if g.closed {
		g.violate("Sync after Close")
		return errors.New("emulated GPU: Sync after Close")
	}
	if g.stuck != nil {
		return g.sticky("cuStreamSynchronize")
	}
	return nil
}

// emuEvent is an event: when it was recorded.
type emuEvent struct {
	t         time.Time
	destroyed bool
	// in is the graph a Mark records it in (nil: none yet, or Record's):
	// it may not be destroyed before that graph.
	in *emuGraph
}

func (g *emuGPU) Record() (event, error) {
	if err := g.point(faultEvent, "cuEventRecord", func() error { return unknown("cuEventRecord") }); err != nil {
		return nil, err
	}
	g.events++
	return &emuEvent{t: g.now()}, nil
}

// now is the events' clock: the virtual one where delay is set, else the
// host's.
func (g *emuGPU) now() time.Time {
	if g.delay != nil {
		return time.Unix(0, 0).Add(g.vclock)
	}
	return time.Now()
}

// Mark is Record queued on stream l inside a recording, its time taken
// when it runs (at each replay).
func (g *emuGPU) Mark(l lane) (event, error) {
	s, err := g.laneID(l)
	if err != nil {
		return nil, err
	}
	if g.rec == nil {
		return nil, errors.New("emulated GPU: Mark outside a recording")
	}
	if err := g.point(faultEvent, "cuEventRecordWithFlags", func() error { return unknown("cuEventRecordWithFlags") }); err != nil {
		return nil, err
	}
	ev := &emuEvent{}
	g.recMarks = append(g.recMarks, ev)
	if err := g.queue(s, "mark", nil, nil, func() error { ev.t = g.now(); return nil }); err != nil {
		return nil, err
	}
	g.events++
	return ev, nil
}

func (g *emuGPU) Elapsed(a, b event) (float32, error) {
	ea, eb := a.(*emuEvent), b.(*emuEvent)
	if ea.destroyed || eb.destroyed {
		g.violate("an event used after it was destroyed")
	}
	if err := g.point(faultEvent, "cuEventSynchronize", func() error { return unknown("cuEventSynchronize") }); err != nil {
		return 0, err
	}
	return float32(eb.t.Sub(ea.t).Seconds() * 1000), nil
}

func (g *emuGPU) DestroyEvent(ev event) error {
	e := ev.(*emuEvent)
	if e.destroyed {
		g.violate("an event destroyed twice")
		return nil
	}
	if e.in != nil && !e.in.destroyed {
		g.violate("an event destroyed before the graph that records it (a Mark's)")
	}
	e.destroyed = true
	g.events--
	return nil
}

// emuGraph is a recording: the queued ops, run again by Replay.
type emuGraph struct {
	ops       []func() error
	destroyed bool
}

func (g *emuGPU) Capture(fn func() error) (graph, error) {
	if g.rec != nil {
		g.violate("Capture during a graph recording")
		return nil, errors.New("emulated GPU: Capture during a graph recording")
	}
	if g.stuck != nil {
		return nil, g.sticky("cuStreamBeginCapture_v2")
	}
	var ops []func() error
	g.rec = &ops
	g.captures++
	clear(g.forked)
	g.recMarks = nil
	err := fn()
	g.rec = nil
	marks := g.recMarks
	g.recMarks = nil
	if err != nil {
		return nil, err
	}
	for s := range g.forked {
		g.violate("a lane forked into a recording and not joined back")
		return nil, fmt.Errorf("emulated GPU: %s was forked into the recording and not joined back (CUDA fails such a recording: stream capture unjoined)", streamName(s))
	}
	if err := g.point(faultGraph, "cuGraphInstantiateWithFlags", func() error { return oom("cuGraphInstantiateWithFlags") }); err != nil {
		return nil, err
	}
	g.graphs++
	eg := &emuGraph{ops: ops}
	for _, ev := range marks {
		ev.in = eg
	}
	return eg, nil
}

func (g *emuGPU) Replay(gr graph) error {
	eg := gr.(*emuGraph)
	if eg.destroyed {
		g.violate("Replay of a destroyed graph")
		return errors.New("emulated GPU: Replay of a destroyed graph")
	}
	if err := g.point(faultGraph, "cuGraphLaunch", func() error { return oom("cuGraphLaunch") }); err != nil {
		return err
	}
	for _, op := range eg.ops {
		if err := op(); err != nil {
			return err
		}
	}
	return nil
}

func (g *emuGPU) Destroy(gr graph) error {
	eg := gr.(*emuGraph)
	if eg.destroyed {
		g.violate("a graph destroyed twice")
		return nil
	}
	eg.destroyed = true
	g.graphs--
	return nil
}

func (g *emuGPU) Close() error {
	if g.closed {
		g.violate("Close twice")
		return errors.New("emulated GPU: Close twice")
	}
	g.leaks = g.live()
	if g.stillRead(span{0, math.MaxUint64}) != nil {
		g.violate("Close with a copy to the host not fetched")
		g.closed = true
		g.mem.Close()
		g.host.Close()
		return errors.New("emulated GPU: Close with a copy to the host queued (ReadOn) whose fetch has not returned")
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
	algo     [3]int
	alts     [3][]int
	prepared [3]bool
	closed   bool
}

const emuWorkspace = 4096

// Workspace covers the algorithm in use and the alternatives.
func (c *emuConv) Workspace(dir int) int {
	if !c.prepared[dir] {
		return 0
	}
	n := c.memOf(dir, c.algo[dir])
	for _, a := range c.alts[dir] {
		n = max(n, c.memOf(dir, a))
	}
	return n
}

// memOf is the workspace algorithm a of direction dir needs.
func (c *emuConv) memOf(dir, a int) int {
	switch {
	case a == 0 && c.g.baseMemory[dir] > 0:
		return c.g.baseMemory[dir]
	case a == 0 || c.g.altMemory[dir] == 0:
		return emuWorkspace
	}
	return c.g.altMemory[dir]
}

func (c *emuConv) Required(dir int) int { return c.memOf(dir, c.algo[dir]) }

func (c *emuConv) KeepWithin(dir, bytes int) {
	c.alts[dir] = slices.DeleteFunc(slices.Clone(c.alts[dir]), func(a int) bool { return a != c.algo[dir] && c.memOf(dir, a) > bytes })
}

func (c *emuConv) Prepared(dir int) bool { return c.prepared[dir] }

// Prepare is cuDNN's search, once a direction, outside recordings.
func (c *emuConv) Prepare(dir int) error {
	if c.prepared[dir] {
		return nil
	}
	call := [3]string{"cudnnFindConvolutionForwardAlgorithm", "cudnnFindConvolutionBackwardDataAlgorithm", "cudnnFindConvolutionBackwardFilterAlgorithm"}[dir]
	if c.g.rec != nil {
		c.g.violate("%s during a graph recording", call)
		return fmt.Errorf("emulated cuDNN: %s during a graph recording", call)
	}
	if err := c.g.point(faultLibrary, call, func() error { return dnnOOM(call) }); err != nil {
		return err
	}
	c.g.finds[dir]++
	c.prepared[dir] = true
	return nil
}
func (c *emuConv) Close() { c.g.release(&c.closed, &c.g.plans, "a convolution plan") }
func (c *emuConv) Algorithms() string {
	return fmt.Sprintf("the CPU engine's (forward %d, data %d, filter %d)", c.algo[0], c.algo[1], c.algo[2])
}
func (c *emuConv) Alternatives(dir int) []int {
	return slices.DeleteFunc(slices.Clone(c.alts[dir]), func(a int) bool { return a == c.algo[dir] })
}
func (c *emuConv) Algo(dir int) int { return c.algo[dir] }

// Timings is the emulated search's result: algorithm 0 then the
// direction's alternatives, 0.1 ms apart.
func (c *emuConv) Timings(dir int) []cudnn.AlgoTime {
	if !c.prepared[dir] {
		return nil
	}
	var out []cudnn.AlgoTime
	for i, a := range append([]int{0}, c.alts[dir]...) {
		out = append(out, cudnn.AlgoTime{Algo: a, MS: 0.5 + 0.1*float32(i), Memory: c.memOf(dir, a), Math: cudnn.MathFMA})
	}
	return out
}

// Restore adopts a remembered search: every algorithm must be 0 or one of
// the direction's alternatives, with the emulated workspace (as cuDNN
// refuses one it does not have); adoptions are counted.
func (c *emuConv) Restore(dir int, timed []cudnn.AlgoTime, algo int) error {
	if c.prepared[dir] {
		c.g.violate("a prepared direction restored")
	}
	if c.g.rec != nil {
		c.g.violate("a choice restored during a graph recording")
	}
	ok := slices.ContainsFunc(timed, func(a cudnn.AlgoTime) bool { return a.Algo == algo })
	for _, a := range timed {
		if (a.Algo != 0 && !slices.Contains(c.alts[dir], a.Algo)) || a.Memory != c.memOf(dir, a.Algo) {
			ok = false
		}
	}
	if !ok {
		return &cudnn.Error{Func: "cudnnGetConvolutionForwardWorkspaceSize", Status: 3000, Desc: "CUDNN_STATUS_NOT_SUPPORTED"}
	}
	c.g.restores[dir]++
	c.algo[dir] = algo
	c.prepared[dir] = true
	return nil
}
func (c *emuConv) Use(dir, algo int) error {
	if algo != 0 && !slices.Contains(c.alts[dir], algo) {
		panic("emulated cuDNN: Use of an algorithm that is not an alternative")
	}
	c.algo[dir] = algo
	return nil
}

// run checks the workspace, copies the device tensors in (pointers with
// their lengths in floats) into CPU tensors, calls op on those and copies
// the outputs back, on stream s.
func (c *emuConv) run(s int, what string, ws cu.Ptr, wsBytes int, in, out []cu.Ptr, lens map[cu.Ptr]int, op func(t map[cu.Ptr]engine.Tensor)) error {
	call := map[string]string{"convolution forward": "cudnnConvolutionForward", "convolution backward data": "cudnnConvolutionBackwardData",
		"convolution backward filter": "cudnnConvolutionBackwardFilter"}[what]
	if err := c.g.point(faultLibrary, call, func() error {
		return &cudnn.Error{Func: call, Status: 5000, Desc: "CUDNN_STATUS_EXECUTION_FAILED"}
	}); err != nil {
		return err
	}
	if c.closed {
		c.g.violate("%s on a closed plan", call)
	}
	if dir := map[string]int{"cudnnConvolutionForward": 0, "cudnnConvolutionBackwardData": 1, "cudnnConvolutionBackwardFilter": 2}[call]; !c.prepared[dir] {
		c.g.violate("%s before its direction was prepared", call)
	}
	for _, p := range append(slices.Clone(in), append(out, ws)...) {
		if p == 0 {
			c.g.violate("%s on a NULL buffer (workspace %d bytes)", call, wsBytes)
		}
	}
	var reads, writes []span
	for _, p := range in {
		reads = append(reads, bytesAt(p, 4*lens[p]))
	}
	for _, p := range out {
		writes = append(writes, bytesAt(p, 4*lens[p]))
	}
	writes = append(writes, bytesAt(ws, wsBytes))
	dir := map[string]int{"convolution forward": 0, "convolution backward data": 1, "convolution backward filter": 2}[what]
	// The algorithm as queued (a recording keeps it), for emuGPU.delay's
	// "WHAT algorithm N" entries.
	slow := c.g.delay[fmt.Sprintf("%s algorithm %d", what, c.algo[dir])]
	return c.g.queue(s, what, reads, writes, func() error {
		if c.g.stuck != nil {
			return nil
		}
		c.g.vclock += slow
		c.g.dnnRan[dir]++
		if need := c.memOf(dir, c.algo[dir]); wsBytes < need {
			return fmt.Errorf("emulated cuDNN: %s with %d bytes of workspace, %d needed", what, wsBytes, need)
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
