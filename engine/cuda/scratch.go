//go:build cgo && !windows

// scratch.go: device scratch that grows on demand (each layer's dz, the
// gradient reductions' partial sums, cuDNN's workspaces) and cuDNN's plans,
// each direction prepared on its first use. Growing and preparing happen
// only outside recordings, checked: a warm-up run sizes everything first.

package cuda

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/cnngpu/cnngpu/kernels"
)

// devBuf is device scratch that grows on demand.
type devBuf struct {
	p     cu.Ptr
	bytes int
}

// grow returns b's memory with at least bytes, reallocating it when it is
// smaller, or false when that failed (the error recorded): the op must
// then queue nothing. Growing drops the recorded steps, which refer to the
// old memory, and so never happens during a recording (a warm-up run
// sizes everything first): that is refused as the engine's bug.
func (e *Engine) grow(b *devBuf, bytes int) (cu.Ptr, bool) {
	if !e.resize(b, bytes, false) {
		return 0, false
	}
	return b.p, true
}

// resize is grow; optional: the memory is wanted, not needed, so that
// running out of it returns false with b empty and the engine unfailed
// (any other failure fails it all the same).
func (e *Engine) resize(b *devBuf, bytes int, optional bool) bool {
	if bytes <= b.bytes {
		return true
	}
	if e.recording {
		e.fail(bug("scratch grown during a graph recording (the warm-up run sizes it)"))
		return false
	}
	e.settle()
	e.Reset()
	if b.p != 0 {
		e.fail(e.c.Sync())
		e.fail(e.c.Free(b.p))
		b.p, b.bytes = 0, 0
	}
	p, err := e.c.Alloc(bytes)
	if err != nil {
		if !optional || !outOfMemory(err) {
			e.fail(err)
		}
		return false
	}
	b.p, b.bytes = p, bytes
	return true
}

// dzFor returns device scratch of at least n floats for the activation
// gradient of the layer of shape key (its batch size set to 0): a buffer
// a layer, so that one layer's dz, still read on the lane, is not
// overwritten by the next layer's. False: it could not be allocated.
func (e *Engine) dzFor(key any, n int) (cu.Ptr, bool) {
	b := e.dzs[key]
	if b == nil {
		b = &devBuf{}
		e.dzs[key] = b
	}
	return e.grow(b, n*4)
}

// partialFor returns device scratch for n partial sums (false: it could
// not be allocated).
func (e *Engine) partialFor(n int) (cu.Ptr, bool) { return e.grow(&e.partial, n*4) }

// splits is kernels.Splits on this GPU.
func (e *Engine) splits(k, n int) int { return kernels.Splits(k, n, e.c.Info().Multiprocessors) }

// The directions of a convolution plan, and (for the tuning, tune.go)
// those of a dense layer whose products can fuse their epilogues on
// cuBLASLt (denseDir).
const (
	dirForward     = 0
	dirData        = 1
	dirFilter      = 2
	dirDenseFwd    = 3
	dirDenseWeight = 4
)

var dirNames = [5]string{"forward", "data gradient", "filter gradient",
	"dense forward, bias and activation fused on cuBLASLt", "dense weight and bias gradients fused on cuBLASLt"}

// isDense reports whether dir is a dense layer's direction.
func isDense(dir int) bool { return dir >= dirDenseFwd }

// plan returns the cuDNN plan for shape s with direction dir's algorithm
// chosen and ws grown to its workspace, making the plan on first use and
// choosing the algorithm on the direction's first use (so inference never
// searches the backward directions), or nil when that failed (the error
// recorded); a choice remembered by an earlier process (choices.go)
// replaces the search. Both happen outside recordings (a warm-up run comes first):
// during one they are refused as the engine's bug.
func (e *Engine) plan(s engine.ConvShape, dir int, ws *devBuf) convPlan {
	cv, ok := e.convs[s]
	if !ok || !cv.Prepared(dir) {
		if e.recording {
			e.fail(bug("convolution %+v's %s prepared during a graph recording (the warm-up run prepares it)", s, dirNames[dir]))
			return nil
		}
		defer trace.Begin(trace.ConvAlgo).End()
	}
	if !ok {
		e.dnnLoaded = true // (its first call, if not made beside)
		sp := trace.Begin(trace.ConvDescs)
		p, err := e.c.NewConv(s)
		sp.End()
		if err != nil {
			e.fail(fmt.Errorf("preparing convolution %+v: %w", s, err))
			return nil
		}
		cv = p
		e.convs[s] = cv
	}
	if !cv.Prepared(dir) && !e.restore(s, cv, dir) {
		sp := trace.Begin(trace.ConvSearch)
		err := cv.Prepare(dir)
		sp.End()
		if err != nil {
			e.fail(fmt.Errorf("choosing the %s algorithm of convolution %+v: %w", dirNames[dir], s, err))
			return nil
		}
		e.remember([]planDir{{s, dir}}, false)
	}
	if pd := (planDir{s, dir}); !e.settled[pd] && !e.recording {
		e.adoptConv(pd, cv)
	}
	need := cv.Workspace(dir)
	if e.restored[planDir{s, dir}] {
		// Settled by an earlier process: no alternative is timed here.
		need = cv.Required(dir)
	}
	if need > ws.bytes && need > cv.Required(dir) && !e.recording {
		// The alternatives to time in place ask for more workspace than
		// the algorithm in use: worth it only where memory allows.
		had := ws.bytes
		if !e.resize(ws, need, true) {
			if e.err != nil {
				return nil // failed otherwise than for memory
			}
			// Those that fit in what the buffer held stay (another
			// direction of the op may have sized it: it is kept).
			cv.KeepWithin(dir, max(had, cv.Required(dir)))
			e.trimmed[planDir{s, dir}] = true // remembered by a process with the memory
			need = max(had, cv.Workspace(dir))
		}
	}
	if _, ok := e.grow(ws, need); !ok {
		return nil
	}
	return cv
}

// ConvAlgorithms describes, for each convolution shape used so far, the
// cuDNN algorithms chosen for it and the directions our conv3 kernels
// run (for benchmarks: the choice is timed at start, so it can differ
// between processes).
func (e *Engine) ConvAlgorithms() string {
	shapes := maps.Clone(e.conv3Used)
	for s := range e.convs {
		shapes[s] = true
	}
	var out []string
	for s := range shapes {
		var parts []string
		if cv := e.convs[s]; cv != nil {
			parts = append(parts, cv.Algorithms())
		}
		var ours []string
		for _, d := range []int{dirForward, dirData, dirFilter} {
			if e.conv3(s, d) > 0 {
				ours = append(ours, dirNames[d])
			}
		}
		if len(ours) > 0 {
			parts = append(parts, "ours: "+strings.Join(ours, ", "))
		}
		out = append(out, fmt.Sprintf("%dx%dx%d→%d %dx%d: %s", s.C, s.H, s.W, s.K, s.R, s.S, strings.Join(parts, "; ")))
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}
