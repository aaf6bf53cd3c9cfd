//go:build cgo && !windows

// faults_test.go: every failure the GPU can report, injected one at a time
// into the engine on the emulated device (emuFault), the way SQLite tests
// every allocation failure: for one training run of three steps (warm-up,
// recording, replay; the Trainer's own loop), one with the recording timed
// against an alternative algorithm (events and graphs only), one
// evaluation and one prediction request as `cnngpu serve` makes it, the
// walk first counts the fault points of each kind in a clean run, then
// runs again failing each in turn: the Nth allocation, kernel launch,
// copy, library call, graph instantiation or launch, event query, and a
// device fault after the Nth kernel. Each run must return a Go error that
// names the failing call and says what to do (engine Error), never panic
// or queue work on a NULL buffer (the device's violations), release every
// allocation, lane, event, graph and plan by Close, and after an
// out-of-memory error take the next step at a smaller batch with the same
// results as a fresh engine from the same state.

package cuda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
)

// walkArch is a small network with every kind of layer of the reference
// one (the first layer on our kernels, the second on cuDNN, a dense layer
// on cuBLAS, the last one small), so that a run takes milliseconds.
var walkArch = engine.Arch{Preset: "walk", Kernel: 3, Pad: 1, K1: 4, K2: 8, Hidden: 40, Act: engine.ReLU}

// walkBatch is the batch of the walk's steps; usable steps take half.
const walkBatch = 4

// walkImages are random images and labels, the same in every run.
var walkImages = sync.OnceValues(func() ([]uint8, []uint8) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 4 * walkBatch
	img := make([]uint8, n*engine.ImagePixels)
	lab := make([]uint8, n)
	for i := range img {
		img[i] = uint8(r.IntN(256))
	}
	for i := range lab {
		lab[i] = uint8(i % engine.Classes)
	}
	return img, lab
})

// walkRun is one run of a scenario on a fresh engine and emulated device.
type walkRun struct {
	v variant
	g *emuGPU
	e *Engine
	m *engine.Model
	d *engine.Dataset
	// eval is the evaluate scenario's result.
	eval engine.EvalResult
}

func newWalkRun(t *testing.T, v variant, f emuFault, tuning bool) *walkRun {
	g := newEmuGPU(t)
	g.fault = f
	if !tuning {
		g.alternatives = [3][]int{}
		g.gemmAlgos = 1 // nor cuBLASLt's algorithms against each other
	} else {
		g.alternatives = [3][]int{{1}, nil, nil}
	}
	e := newEngine(g, false, v.own)
	v.configure(e)
	if !tuning && e.conv == convTimed {
		// Nothing to time: not our conv3 kernels either (the variant
		// "own convolutions" walks those).
		e.conv = convCUDNN
	}
	if !tuning && e.dense == denseTimed {
		// Nor cuBLASLt's fused products (the variant "cuBLASLt dense"
		// walks those).
		e.dense = denseCUBLAS
	}
	return &walkRun{v: v, g: g, e: e}
}

// setup makes the model and uploads the dataset.
func (w *walkRun) setup() error {
	m, err := engine.NewModel(w.e, walkArch, goldenOpts[0], walkArch.GlorotInit(1))
	if err != nil {
		return err
	}
	w.m = m
	img, lab := walkImages()
	w.d, err = engine.UploadDataset(w.e, img, lab)
	return err
}

// release frees what the run made and closes the engine.
func (w *walkRun) release() error {
	if w.m != nil {
		w.m.Release()
	}
	if w.d != nil {
		w.d.Release(w.e)
	}
	return w.e.Close()
}

// walkScenario is what a walk runs after setup.
type walkScenario struct {
	name   string
	kinds  []faultKind // the kinds of point walked
	tuning bool        // convolutions offer an alternative to time
	run    func(w *walkRun) error
}

var allKinds = []faultKind{faultAlloc, faultLaunch, faultCopy, faultLibrary, faultGraph, faultEvent, faultSticky}

var walkScenarios = []walkScenario{
	{"train", allKinds, false, func(w *walkRun) error {
		tr := &engine.Trainer{M: w.m, Data: w.d, TrainIdx: engine.AllIndices(3 * walkBatch), Epochs: 1, BatchSize: walkBatch, Seed: 1}
		_, err := tr.Run(context.Background(), engine.Position{})
		return err
	}},
	// The recording timed against an alternative forward algorithm of
	// conv2 (tune.go), and our conv3 kernels: tuneRounds steps a
	// recording, the first of a direction's timed again for each
	// direction.
	{"train with tuning", []faultKind{faultGraph, faultEvent}, true, func(w *walkRun) error {
		var cands int
		switch {
		case !w.v.own:
			cands = 2 + 2 // conv1's forward (on cuDNN), then conv2's
		case w.v.conv == convTimed:
			cands = 3 + 2 + 2 // conv2's forward with ours, then its data and filter gradients
		}
		steps := 2 + cands*tuneRounds + 1
		idx := make([]int32, steps)
		for i := range idx {
			idx[i] = int32(i % w.d.N)
		}
		tr := &engine.Trainer{M: w.m, Data: w.d, TrainIdx: idx, Epochs: 1, BatchSize: 1, Seed: 1}
		_, err := tr.Run(context.Background(), engine.Position{})
		if err == nil && w.e.Tuning() {
			err = errors.New("still tuning after the run: the scenario is too short")
		}
		return err
	}},
	{"evaluate", allKinds, false, func(w *walkRun) (err error) {
		// Two batches, of walkBatch and of half that. An allocation
		// of a batch's activations refused for memory goes on at half
		// the batch (checkWalk: the same result as without the fault).
		w.eval, err = engine.Evaluate(w.m, w.d, engine.AllIndices(walkBatch+walkBatch/2), walkBatch, true)
		return err
	}},
	{"serve", allKinds, false, func(w *walkRun) error {
		img, _ := walkImages()
		x := make([]float32, 3*engine.ImagePixels)
		for i := range x {
			x[i] = float32(img[i]) / 255
		}
		_, err := w.m.Predict(x)
		return err
	}},
}

// walkResult is what one run of a scenario with one fault came to.
type walkResult struct {
	err, closeErr error
	fired         *emuFault
	firedErr      error
	// absorbed: the fault failed the recording of an alternative
	// algorithm (the recordings after the first), which the engine
	// leaves out of the timing (tune.go) without an error; or it failed
	// planning or first running a fused product of cuBLASLt's in
	// DenseEnv's "timed" mode, which then runs apart (fused.go); or it
	// failed the step's recording for a reason of its own, after which
	// the step runs without a graph (graphs.go).
	absorbed   bool
	points     [faultKinds]int
	violations []string
	leaks      []string
	usable     error // after an out-of-memory error: the next step's outcome
	eval       engine.EvalResult
}

// protect runs fn, turning a panic into an error.
func protect(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}

// walkOnce runs scenario sc in variant v with fault f.
func walkOnce(t *testing.T, v variant, sc walkScenario, f emuFault) walkResult {
	w := newWalkRun(t, v, f, sc.tuning)
	var r walkResult
	r.err = protect(func() error {
		if err := w.setup(); err != nil {
			return err
		}
		return sc.run(w)
	})
	r.fired, r.firedErr = w.g.fired, w.g.firedErr
	r.absorbed = sc.tuning && w.g.firedIn > 1 || w.e != nil && (w.e.fusedDrops > 0 || w.e.eagerRuns > 0)
	r.points = w.g.points
	r.points[faultSticky] = w.g.executed
	r.eval = w.eval
	if r.fired != nil && w.g.stuck == nil && outOfMemory(r.firedErr) {
		r.usable = protect(func() error { return w.usable(t) })
	}
	r.closeErr = protect(w.release)
	r.violations, r.leaks = w.g.violations, w.g.leaks
	return r
}

// usable runs, after an out-of-memory error, one training step at half
// the batch and a prediction, on this engine and on a fresh one given
// the same model state, and compares them.
func (w *walkRun) usable(t *testing.T) error {
	if w.m == nil {
		m, err := engine.NewModel(w.e, walkArch, goldenOpts[0], walkArch.GlorotInit(1))
		if err != nil {
			return fmt.Errorf("a model after the error: %w", err)
		}
		w.m = m
	}
	var state [4][]float32
	for i, x := range []engine.Tensor{w.m.P, w.m.S1, w.m.S2, w.m.Step} {
		state[i] = make([]float32, x.Len())
		if err := w.e.Read(x, 0, state[i]); err != nil {
			return fmt.Errorf("reading the model after the error: %w", err)
		}
	}
	got, err := smallerStep(w.e, w.m)
	if err != nil {
		return fmt.Errorf("the next step: %w", err)
	}
	ref := newWalkRun(t, w.v, emuFault{}, false)
	ref.g.alternatives = w.g.alternatives
	defer ref.release()
	if ref.m, err = engine.NewModel(ref.e, walkArch, goldenOpts[0], state[0]); err != nil {
		return err
	}
	for i, x := range []engine.Tensor{ref.m.S1, ref.m.S2, ref.m.Step} {
		if err := ref.e.Write(x, 0, state[i+1]); err != nil {
			return err
		}
	}
	want, err := smallerStep(ref.e, ref.m)
	if err != nil {
		return fmt.Errorf("the reference: %w", err)
	}
	for i, what := range []string{"loss statistics", "parameters", "predictions"} {
		if !slices.Equal(got[i], want[i]) {
			return fmt.Errorf("after the error, a step at batch %d gives other %s than a fresh engine from the same state", walkBatch/2, what)
		}
	}
	return nil
}

// smallerStep runs one training step at half the walk's batch from a
// dataset, order and cursor of its own, then predicts two images, and
// returns the loss statistics, the parameters and the predictions.
func smallerStep(e *Engine, m *engine.Model) ([3][]float32, error) {
	var out [3][]float32
	img, lab := walkImages()
	d, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		return out, err
	}
	defer d.Release(e)
	var ts []engine.Tensor
	defer func() {
		for _, x := range ts {
			e.Free(x)
		}
	}()
	alloc := func(dt engine.DType, n int) engine.Tensor {
		x, aerr := e.Alloc(dt, n)
		if aerr != nil && err == nil {
			err = aerr
		}
		if x != nil {
			ts = append(ts, x)
		}
		return x
	}
	perm, cursor, stats := alloc(engine.Int32, d.N), alloc(engine.Int32, 1), alloc(engine.Float32, 3)
	if err != nil {
		return out, err
	}
	if err := e.Write(perm, 0, engine.AllIndices(d.N)); err != nil {
		return out, err
	}
	n := walkBatch / 2
	b := engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}
	var serr error
	if err := engine.Run(e, n, func() { serr = m.TrainStep(b, n, stats) }); err != nil || serr != nil {
		return out, errors.Join(err, serr)
	}
	out[0] = make([]float32, 3)
	if err := e.Read(stats, 0, out[0]); err != nil {
		return out, err
	}
	if out[1], err = m.Params(); err != nil {
		return out, err
	}
	x := make([]float32, 2*engine.ImagePixels)
	for i := range x {
		x[i] = float32(img[i]) / 255
	}
	out[2], err = m.Predict(x)
	engine.ResetGraphs(e)
	return out, err
}

// sameEval reports whether two evaluations of the same images agree: the
// same images, accuracy and confusion, and the loss to rounding (summed in
// other groups at another batch).
func sameEval(a, b engine.EvalResult) bool {
	return a.N == b.N && a.Acc == b.Acc && a.Confusion == b.Confusion && math.Abs(a.Loss-b.Loss) <= 1e-6*math.Abs(b.Loss)
}

// walkProblems gathers a walk's failures by kind of problem, so that a
// broken rule shows once with a count and an example, not once per point.
type walkProblems struct {
	count   map[string]int
	example map[string]string
	order   []string
}

func (p *walkProblems) add(problem, example string) {
	if p.count == nil {
		p.count, p.example = map[string]int{}, map[string]string{}
	}
	if p.count[problem] == 0 {
		p.order = append(p.order, problem)
		p.example[problem] = example
	}
	p.count[problem]++
}

// TestFaultInjectionWalk walks every fault point of each scenario in
// each variant (see the file's comment).
func TestFaultInjectionWalk(t *testing.T) {
	// Two timed rounds a recording: more add steps, not kinds of point.
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	total := 0
	for _, v := range variants {
		for _, sc := range walkScenarios {
			t.Run(v.name+"/"+sc.name, func(t *testing.T) {
				clean := walkOnce(t, v, sc, emuFault{})
				if clean.err != nil || clean.closeErr != nil || len(clean.violations) > 0 || len(clean.leaks) > 0 {
					t.Fatalf("without a fault: error %v, Close %v, violations %q, left alive %v", clean.err, clean.closeErr, clean.violations, clean.leaks)
				}
				var p walkProblems
				points := 0
				for _, k := range sc.kinds {
					for n := 1; n <= clean.points[k]; n++ {
						points++
						f := emuFault{k, n, "", false}
						r := walkOnce(t, v, sc, f)
						if sc.name == "evaluate" && r.err == nil && r.fired != nil && r.fired.kind == faultAlloc && outOfMemory(r.firedErr) {
							// A batch's activations refused: evaluated
							// at half the batch, to the same result.
							r.absorbed = true
							if !sameEval(r.eval, clean.eval) {
								p.add("an evaluation gone on at half the batch differs from the one without the fault",
									fmt.Sprintf("alloc %d: %+v, want %+v", n, r.eval, clean.eval))
							}
						}
						checkWalk(&p, f, r)
					}
				}
				for _, pr := range p.order {
					t.Errorf("%d of %d fault points: %s; e.g. %s", p.count[pr], points, pr, p.example[pr])
				}
				t.Logf("%d fault points: %s", points, describePoints(clean.points, sc.kinds))
				total += points
			})
		}
	}
	t.Logf("%d fault points walked in all", total)
}

// describePoints lists the count of each kind walked.
func describePoints(points [faultKinds]int, kinds []faultKind) string {
	var out []string
	for _, k := range kinds {
		out = append(out, fmt.Sprintf("%d %s", points[k], k))
	}
	return strings.Join(out, ", ")
}

// checkWalk records in p what run r with fault f broke.
func checkWalk(p *walkProblems, f emuFault, r walkResult) {
	at := fmt.Sprintf("%s %d", f.kind, f.at)
	if r.fired == nil {
		p.add("the fault point was not reached (the run differs from the clean one)", at)
		return
	}
	err := r.err
	if err == nil {
		err = r.closeErr
	}
	switch {
	case err == nil && r.absorbed:
	case err == nil:
		p.add("no error came back", at)
	case strings.HasPrefix(err.Error(), "panic: "):
		p.add("a panic", fmt.Sprintf("%s: %v", at, err))
	default:
		var de *cu.Error
		var be *cu.BLASError
		var ne *cudnn.Error
		call := ""
		switch {
		case errors.As(r.firedErr, &de):
			call = de.Func
		case errors.As(r.firedErr, &be):
			call = be.Func
		case errors.As(r.firedErr, &ne):
			call = ne.Func
		}
		if f.kind == faultSticky {
			call = "CUDA_ERROR_ILLEGAL_ADDRESS"
		}
		if !strings.Contains(err.Error(), call) {
			p.add("the error does not name the failing call", fmt.Sprintf("%s (%s): %v", at, call, err))
		}
		var he *Error
		if !errors.As(err, &he) || he.Hint == "" {
			p.add("the error says nothing of what to do", fmt.Sprintf("%s: %v", at, err))
		}
	}
	for _, v := range r.violations {
		p.add("the device recorded misuse: "+v, fmt.Sprintf("%s, error %v", at, err))
	}
	if len(r.leaks) > 0 {
		p.add("objects left alive after Close", fmt.Sprintf("%s: %s, error %v", at, strings.Join(r.leaks, ", "), err))
	}
	if r.usable != nil {
		p.add("not usable after an out-of-memory error", fmt.Sprintf("%s: %v", at, r.usable))
	}
	if r.closeErr != nil && r.err == nil && f.kind != faultSticky {
		p.add("Close failed", fmt.Sprintf("%s: %v", at, r.closeErr))
	}
}

// TestFaultBehindALibrary: a kernel's fault that a library call is the
// first to see (cuBLAS's or cuDNN's EXECUTION_FAILED, then the driver's
// sticky error for every call) is the device lost, with the fault's hint
// and the device's own error in the message; the same status with the
// device still well is not. In the timed dense mode such a fault in a
// cuBLASLt product fails the step rather than falling back to cuBLAS.
func TestFaultBehindALibrary(t *testing.T) {
	const bs = 8
	for _, c := range []struct {
		v     variant
		call  string
		lt    bool // the timed dense mode's cuBLASLt priming run
		stick bool
		rec   bool // the call's first in the graph recording, not in the warm-up
	}{
		{variants[0], "cudnnConvolutionForward", false, true, false},
		{variants[0], "cudnnConvolutionForward", false, false, false},
		{variants[0], "cudnnConvolutionForward", false, true, true},
		{variants[0], "cublasSgemm_v2", false, true, false},
		{variants[0], "cublasSgemm_v2", false, false, false},
		{variants[0], "cublasSgemm_v2", false, true, true},
		{variants[2], "cublasLtMatmul", true, true, false},
	} {
		t.Run(fmt.Sprintf("%s/%s/stick=%v/recording=%v", c.v.name, c.call, c.stick, c.rec), func(t *testing.T) {
			defer func(f func(string, ...any)) { warnf = f }(warnf)
			var warned []string
			warnf = func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }
			const steps = 4
			at := 1
			if c.rec {
				// The calls before the step that records, counted on
				// a clean run.
				clean := newEmuTraining(t, c.v, bs, steps)
				for range steps {
					before := clean.g.calls[c.call]
					if clean.step(); clean.g.captures > 0 {
						at = before + 1
						break
					}
				}
			}
			tr := newEmuTraining(t, c.v, bs, steps)
			tr.g.fault = emuFault{faultLibrary, at, c.call, c.stick}
			var err error
			for range steps {
				if err = tr.try(); err != nil {
					break
				}
			}
			if tr.g.fired == nil {
				t.Fatalf("the fault at %s was not reached", c.call)
			}
			if inRec := tr.g.firedIn > 0; inRec != c.rec {
				t.Fatalf("the fault at %s call %d fired in a recording: %v, want %v", c.call, at, inRec, c.rec)
			}
			if err == nil {
				t.Fatalf("a failed %s: the steps returned no error", c.call)
			}
			var x *Error
			if !errors.As(err, &x) || !strings.Contains(err.Error(), c.call) {
				t.Fatalf("error %v: not an engine Error naming %s", err, c.call)
			}
			lost := errors.Is(fmt.Errorf("serving: %w", err), engine.ErrDeviceLost)
			if lost != c.stick {
				t.Errorf("error %v matches engine.ErrDeviceLost: %v, want %v", err, lost, c.stick)
			}
			wantHint := hintOther
			if c.stick {
				wantHint = hintFault
				if !strings.Contains(err.Error(), "the device then reported") || !strings.Contains(err.Error(), "CUDA_ERROR_ILLEGAL_ADDRESS") {
					t.Errorf("error %v: does not give the device's own error", err)
				}
			}
			if x.Hint != wantHint {
				t.Errorf("error %v: hint %q, want %q", err, x.Hint, wantHint)
			}
			if c.lt && (tr.e.fusedDrops != 0 || len(warned) != 0) {
				t.Errorf("a device fault behind cuBLASLt fell back to cuBLAS (%d drops, warnings %q)", tr.e.fusedDrops, warned)
			}
			if len(tr.g.violations) != 0 {
				t.Errorf("violations: %q", tr.g.violations)
			}
		})
	}
}

// TestRecordingFailureRunsWithoutAGraph: a library call that fails while
// the step is recorded, but not when it runs (a call CUDA cannot record),
// does not end the run: the step runs without a graph from then on,
// warned once, and trains as the recorded step does.
func TestRecordingFailureRunsWithoutAGraph(t *testing.T) {
	const bs, steps = 8, 5
	for _, c := range []struct {
		v    variant
		call string
	}{{variants[0], "cudnnConvolutionForward"}, {variants[0], "cublasSgemm_v2"}, {variants[2], "cudnnConvolutionBackwardFilter"}} {
		t.Run(c.v.name+"/"+c.call, func(t *testing.T) {
			defer func(f func(string, ...any)) { warnf = f }(warnf)
			var warned []string
			warnf = func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }
			eagerWarned.Store(false)
			clean := newEmuTraining(t, c.v, bs, steps)
			at := 0
			for range steps {
				before := clean.g.calls[c.call]
				if clean.step(); clean.g.captures > 0 && at == 0 {
					at = before + 1
				}
			}
			if at == 0 || clean.g.calls[c.call] < at {
				t.Fatalf("%s is not called in the recording", c.call)
			}
			tr := newEmuTraining(t, c.v, bs, steps)
			tr.g.fault = emuFault{faultLibrary, at, c.call, false}
			for i := range steps {
				if err := tr.try(); err != nil {
					t.Fatalf("step %d, after %s failed in the recording: %v", i+1, c.call, err)
				}
			}
			if tr.g.fired == nil || tr.g.firedIn == 0 {
				t.Fatalf("the fault at %s call %d did not fire in a recording", c.call, at)
			}
			if tr.e.eagerRuns != 1 || tr.g.captures != 1 {
				t.Errorf("%d recordings failed, %d made; want 1 failed and no more tried", tr.e.eagerRuns, tr.g.captures)
			}
			if len(warned) != 1 || !strings.Contains(warned[0], c.call) || !strings.Contains(warned[0], "runs without a graph") {
				t.Errorf("warnings %q; want one naming %s", warned, c.call)
			}
			got, err := tr.m.Params()
			if err != nil {
				t.Fatal(err)
			}
			want, err := clean.m.Params()
			if err != nil {
				t.Fatal(err)
			}
			// Exactly, but where the recorded step's timing moved a
			// convolution onto our conv3 kernels (their own order of
			// summation), which the steps without a graph do not time.
			atol, rtol := 0.0, 0.0
			if c.v.own {
				atol, rtol = 1e-5, 1e-3
			}
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > atol+rtol*math.Abs(float64(want[i])) {
					t.Errorf("the steps run without a graph train otherwise than the recorded ones: parameter %d is %g, want %g", i, got[i], want[i])
					break
				}
			}
			if len(tr.g.violations) != 0 {
				t.Errorf("violations: %q", tr.g.violations)
			}
		})
	}
}

// TestAlternativesNeedingTooMuchMemory: where cuDNN's alternatives to time
// in place need more workspace than can be had, the run goes on with the
// algorithm in use, its own workspace allocated; those alternatives are
// left out, and the direction is not remembered (trimmed: a process with
// the memory times them all). The workspace the op's other direction
// sized is kept (one stream: the filter and data gradients share it).
func TestAlternativesNeedingTooMuchMemory(t *testing.T) {
	const bs, steps = 8, 24
	for _, c := range []struct {
		name      string
		alts      [3][]int
		mem, base [3]int
		trimmed   []string
		keptWork  int // the workspace must stay at least this
	}{
		{"every direction's alternatives too large", [3][]int{{1}, nil, {1, 2}}, [3]int{256 << 20, 256 << 20, 256 << 20}, [3]int{}, []string{dirNames[dirFilter], dirNames[dirForward]}, 0},
		// The filter gradient's algorithm needs 32 MB, sized first in
		// the op; the data gradient's alternatives, trimmed after it,
		// must not shrink the workspace under it.
		{"the data gradient's alone", [3][]int{{1}, {1}, nil}, [3]int{0, 256 << 20, 0}, [3]int{0, 0, 32 << 20}, []string{dirNames[dirData]}, 32 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newEmuTraining(t, variants[0], bs, steps)
			tr.g.alternatives, tr.g.altMemory, tr.g.baseMemory, tr.g.maxAlloc = c.alts, c.mem, c.base, 64<<20
			for i := range steps {
				if err := tr.try(); err != nil {
					t.Fatalf("step %d, with an alternatives' workspace out of reach: %v", i+1, err)
				}
			}
			var trimmed []string
			for pd := range tr.e.trimmed {
				trimmed = append(trimmed, dirNames[pd.dir])
			}
			slices.Sort(trimmed)
			if trimmed = slices.Compact(trimmed); !slices.Equal(trimmed, c.trimmed) {
				t.Errorf("directions trimmed %q, want %q", trimmed, c.trimmed)
			}
			if tr.e.ws.bytes >= 256<<20 || tr.e.ws.bytes < c.keptWork {
				t.Errorf("workspace %d bytes: want under the alternatives' %d and at least %d", tr.e.ws.bytes, 256<<20, c.keptWork)
			}
			if len(tr.g.violations) != 0 {
				t.Errorf("violations: %q", tr.g.violations)
			}
		})
	}
}
