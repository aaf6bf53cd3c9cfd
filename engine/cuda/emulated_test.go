//go:build cgo && !windows

// emulated_test.go: the GPU engine's own code (all but device.go: every
// launch's kernel, arguments and grid, buffer sizes, scratch and workspace
// handling, the second stream's forks and joins, graph recording and
// replay) run on an emulated device (emudevice_test.go), so that CI, which
// has no GPU, runs it with each variant: both kernel sets, one and two
// streams. What it cannot check is the GPU itself: the PTX, timing, real
// concurrency, the libraries' results (engine_test.go, on a GPU).

package cuda

import (
	"context"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/engine/enginetest"
	"github.com/cnngpu/cnngpu/loader"
)

// newEmulated is the engine on an emulated device, in variant v.
func newEmulated(t testing.TB, v variant) *Engine {
	e := newEngine(newEmuGPU(t), false, v.own)
	v.configure(e)
	return e
}

// TestEmulatedConformance runs the conformance suite on the engine with
// an emulated device, in each variant.
func TestEmulatedConformance(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			enginetest.Run(t, func(t *testing.T) engine.Engine { return newEmulated(t, v) })
		})
	}
}

// TestEmulatedTraining trains 30 steps at batch 16 on real MNIST (or, when
// it is not cached, on generated digits-like data) from the same initial
// weights on the CPU engine and on the GPU engine with an emulated device
// (the step recorded as a graph and replayed from the third step), with
// Adam in each variant and with SGD in the default one, and compares the losses at
// every 10th step as TestGoldenCPUvsGPU does: first step within 1e-6,
// then within four times the CPU's own drift from a one-ulp change of its
// initial weights, plus 1e-3.
func TestEmulatedTraining(t *testing.T) {
	const steps, bs, every = 30, 16, 10
	tk := trainingTask(t)
	c := cpu.New(0)
	defer c.Close()
	for _, opt := range goldenOpts {
		lc, wn := cpuDrift(t, c, tk, opt, steps, bs, every)
		for _, v := range variants {
			if opt.Kind == engine.SGD && v.own {
				continue // SGD's own path is one kernel, which the suite checks
			}
			g := newEmulated(t, v)
			gname := optName(opt) + ", " + v.name + " on an emulated GPU"
			lg := losses(t, g, tk, opt, steps, bs, false)
			if err := g.Close(); err != nil {
				t.Errorf("%s: Close: %v", gname, err)
			}
			agrees(t, gname, lg, lc, wn, every, 0.9)
		}
	}
}

// trainingTask is the first 2,560 real MNIST training images when they
// are cached (or in $CNNGPU_MNIST), else as many generated ones: each
// class a fixed random stroke pattern, each image its class's pattern
// with noise.
func trainingTask(t *testing.T) task {
	const n = 2560
	if m, err := loader.LoadDir(mnistDir()); err == nil {
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

// TestEmulatedDeviceOrdering checks the emulated device's own checks of
// streams and recordings, which the engine's tests rely on.
func TestEmulatedDeviceOrdering(t *testing.T) {
	g := newEmuGPU(t)
	defer g.Close()
	a, _ := g.Alloc(64 * 4)
	b, _ := g.Alloc(64 * 4)
	c, _ := g.Alloc(64 * 4)
	for _, p := range []cu.Ptr{a, b, c} {
		if err := g.Zero(p, 64*4); err != nil {
			t.Fatal(err)
		}
	}
	l, err := g.NewLane()
	if err != nil {
		t.Fatal(err)
	}
	lanemul := func() error { return g.SgemmRowMajorOn(l, false, false, 8, 8, 8, 1, a, 8, a, 8, 0, b, 8) }
	expect := func(what string, err error, want string) {
		t.Helper()
		if want == "" && err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want an error containing %q", what, err, want)
		}
	}
	// The lane reads a, which the main stream wrote: not ordered yet.
	expect("lane op without a Fork", lanemul(), "nothing orders the two")
	expect("Fork", g.Fork(l), "")
	expect("lane op after a Fork", lanemul(), "")
	// The main stream reads b, which the lane wrote.
	expect("main op before the Join", g.SgemmRowMajor(false, false, 8, 8, 8, 1, b, 8, b, 8, 0, a, 8), "nothing orders the two")
	expect("Join", g.Join(l), "")
	expect("main op after the Join", g.SgemmRowMajor(false, false, 8, 8, 8, 1, b, 8, b, 8, 0, a, 8), "")
	// Two reads of one buffer need no order.
	expect("Fork", g.Fork(l), "")
	expect("lane reads a", g.SgemmRowMajorOn(l, false, false, 8, 8, 8, 1, a, 8, a, 8, 0, b, 8), "")
	expect("main reads a too", g.SgemmRowMajor(false, false, 8, 8, 8, 1, a, 8, a, 8, 0, c, 8), "")
	expect("Join", g.Join(l), "")

	// Recordings: a lane joins by a Fork and must be joined back.
	_, err = g.Capture(func() error { return lanemul() })
	expect("lane op in a recording without a Fork", err, "no Fork into it")
	_, err = g.Capture(func() error {
		if err := g.Fork(l); err != nil {
			return err
		}
		return lanemul()
	})
	expect("recording left forked", err, "not joined back")
	gr, err := g.Capture(func() error {
		g.Fork(l)
		lanemul()
		return g.Join(l)
	})
	expect("recording with Fork and Join", err, "")
	if err == nil {
		expect("replay", g.Replay(gr), "")
	}
	_, err = g.Capture(func() error { _, err := g.Alloc(4); return err })
	expect("Alloc in a recording", err, "during a graph recording")
}

// emuTraining is a model and a batch source on an engine with an emulated
// device: step queues one training step of bs through engine.Run (warm-up,
// recording, replays) and waits for it; try does the same and returns
// the error. Once the device has faulted, its cleanup expects Close to
// fail.
type emuTraining struct {
	e      *Engine
	g      *emuGPU
	m      *engine.Model
	cursor engine.Tensor
	step   func()
	// raw is one training step's work, for Replay or Timeline to run.
	raw func()
	try func() error
	// tryN is try with a batch of n (at most bs) images.
	tryN func(n int) error
}

// newEmuModel is the reference model (Adam, seed 1) on an engine in
// variant v on a new emulated device.
func newEmuModel(t *testing.T, v variant) (*emuGPU, *Engine, *engine.Model) {
	g := newEmuGPU(t)
	e := newEngine(g, false, v.own)
	v.configure(e)
	arch, _ := engine.NewArch("reference", engine.ReLU)
	m, err := engine.NewModel(e, arch, goldenOpts[0], arch.GlorotInit(1))
	if err != nil {
		t.Fatal(err)
	}
	return g, e, m
}

// newEmuTraining makes an emuTraining in variant v over random images,
// enough for steps steps of bs; t's cleanup releases it.
func newEmuTraining(t *testing.T, v variant, bs, steps int) *emuTraining {
	g, e, m := newEmuModel(t, v)
	d := randomDataset(t, e, steps*bs, 1, 2)
	perm, _ := e.Alloc(engine.Int32, d.N)
	order := make([]int32, d.N)
	for i := range order {
		order[i] = int32(i)
	}
	cursor, _ := e.Alloc(engine.Int32, 1)
	stats, _ := e.Alloc(engine.Float32, 3)
	if err := e.Write(perm, 0, order); err != nil {
		t.Fatal(err)
	}
	b := engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}
	tr := &emuTraining{e: e, g: g, m: m, cursor: cursor, raw: func() { m.TrainStep(b, bs, stats) }}
	tr.tryN = func(n int) error {
		if err := engine.Run(e, n, func() { m.TrainStep(b, n, stats) }); err != nil {
			return err
		}
		return e.Sync()
	}
	tr.try = func() error { return tr.tryN(bs) }
	tr.step = func() {
		t.Helper()
		if err := tr.try(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		engine.ResetGraphs(e)
		for _, x := range []engine.Tensor{perm, cursor, stats, d.Images, d.Labels} {
			e.Free(x)
		}
		m.Release()
		if err := e.Close(); err != nil && g.stuck == nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tr
}

// TestEmulatedLaneOverlap checks what the second stream is for, in each
// two-stream variant: in a recorded training step the main stream waits
// for the lane once, at the step's end (each layer's weight gradient and
// update run beside the backward ops of the layers below); and the main
// stream joins the lane before it touches memory that work queued there
// touches, and not otherwise. With three streams, the same of the
// updates' stream, which takes every update and step count's increment
// and waits for the lane where an update reads its gradient, while the
// lane never waits for it within a step.
func TestEmulatedLaneOverlap(t *testing.T) {
	const bs = 8
	for _, v := range variants {
		if v.streams < 2 {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			tr := newEmuTraining(t, v, bs, 4)
			e, g := tr.e, tr.g
			for step := range 4 { // warm-up, recording (and tuning), replays
				before := g.joins
				tr.step()
				if got := g.joins - before; step >= 2 && got != v.streams-1 {
					t.Errorf("replayed step %d: the main stream joined the other streams %d times, want %d (each once, at the step's end)", step, got, v.streams-1)
				}
			}
			if v.streams == 3 {
				u, l := e.upd.(*emuLane).id, e.lane.(*emuLane).id
				for _, k := range []string{"adam4", "step_inc"} {
					if on := g.queuedOn[k]; len(on) != 1 || !on[u] {
						t.Errorf("%s queued on streams %v, want only the updates' stream (%d)", k, on, u)
					}
				}
				if on := g.queuedOn["head_grads"]; len(on) != 1 || !on[l] {
					t.Errorf("head_grads queued on streams %v, want only the second stream (%d)", on, l)
				}
				if n := g.afters[[2]int{l, u}]; n != 0 {
					t.Errorf("the second stream waited for the updates' stream %d times in 4 steps, want none", n)
				}
				if n := g.afters[[2]int{u, l}]; n == 0 {
					t.Errorf("the updates' stream never waited for the second stream, whose gradients its updates read")
				}
				if g.kernelLanes != 1 {
					t.Errorf("%d updates' streams made in 4 steps, want 1 (made once, on first use)", g.kernelLanes)
				}
			}
			want := "32x14x14→64 3x3: the CPU engine's"
			if v.conv == convOwn {
				want = "32x14x14→64 3x3: ours: forward, data gradient, filter gradient"
			}
			if got := e.ConvAlgorithms(); !strings.Contains(got, want) {
				t.Errorf("ConvAlgorithms() = %q, want it to contain %q", got, want)
			}
			engine.ResetGraphs(e)

			// Update goes to the lane; the main stream touching other
			// memory does not wait for it, touching the updated
			// parameters does.
			opt := goldenOpts[0]
			ts := make([]engine.Tensor, 6)
			for i := range ts {
				ts[i], _ = e.Alloc(engine.Float32, 64)
			}
			p, gr, s1, s2, st, other := ts[0], ts[1], ts[2], ts[3], e.Slice(ts[4], 0, 1), ts[5]
			joins := g.joins
			e.Update(opt, p, gr, s1, s2, st)
			e.Fill(other, 1)
			pending := func() bool { return e.laneUse != nil }
			if v.streams == 3 {
				pending = func() bool { return e.updUse != nil }
			}
			if !pending() || g.joins != joins {
				t.Errorf("Update then Fill of other memory: %d joins, update pending %v; want the update left on its stream", g.joins-joins, pending())
			}
			e.Fill(e.Slice(p, 10, 4), 2)
			if g.joins != joins+1 || pending() {
				t.Errorf("Fill of updated parameters: %d joins, update pending %v; want 1 join", g.joins-joins, pending())
			}
			if err := e.Sync(); err != nil {
				t.Fatal(err)
			}
			for _, x := range ts {
				e.Free(x)
			}
		})
	}
}

// TestEmulatedStepLaunches checks, in every variant, what a training
// step queues for its output layer and its step counts: with own kernels
// dense_xent and head_grads once a step, not dense_small, softmax_xent or
// dense_small_dx (the library set: softmax_xent, with cuBLAS's products);
// and one step_inc a step for the four layers' counts (each update leaves
// its increment pending), which still count every step.
func TestEmulatedStepLaunches(t *testing.T) {
	const bs, steps = 8, 5
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			tr := newEmuTraining(t, v, bs, steps)
			// The warm-up runs each op as it is queued, and the first
			// sizes the scratch, which joins the streams (and queues the
			// increments so far) more than once: the steps after it.
			tr.step()
			before := maps.Clone(tr.g.launched)
			for range steps - 1 { // recording (and tuning), replays
				tr.step()
			}
			head, xent := 0, steps-1
			if v.own {
				head, xent = steps-1, 0
			}
			for name, want := range map[string]int{"dense_xent": head, "head_grads": head, "dense_small": 0,
				"softmax_xent": xent, "dense_small_dx": 0, "step_inc": steps - 1} {
				if got := tr.g.launched[name] - before[name]; got != want {
					t.Errorf("%d steps after the warm-up ran %s %d times, want %d", steps-1, name, got, want)
				}
			}
			tr.checkStepCounts(t, "", steps)
		})
	}
}

// TestEmulatedHeadOff: with HeadEnv 0 the own kernel set's steps run the
// output layer and loss as dense_small, softmax_xent and dense_small_dx
// (with dense_small_dw and bias_grad), never dense_xent or head_grads,
// and train to the same weights, bit for bit, as with them.
func TestEmulatedHeadOff(t *testing.T) {
	const bs, steps = 8, 5
	train := func(off bool) ([]float32, map[string]int) {
		tr := newEmuTraining(t, variants[2], bs, steps)
		tr.e.noHead = off
		for range steps {
			tr.step()
		}
		p, err := tr.m.Params()
		if err != nil {
			t.Fatal(err)
		}
		return p, maps.Clone(tr.g.launched)
	}
	on, _ := train(false)
	off, launched := train(true)
	for name, want := range map[string]int{"dense_xent": 0, "head_grads": 0, "dense_small": steps, "softmax_xent": steps,
		"dense_small_dx": steps, "dense_small_dw": steps} {
		if got := launched[name]; got != want {
			t.Errorf("%s=0: %d steps ran %s %d times, want %d", HeadEnv, steps, name, got, want)
		}
	}
	for i := range on {
		if on[i] != off[i] {
			t.Fatalf("%s=0: after %d steps parameter %d is %v, want %v as with dense_xent", HeadEnv, steps, i, off[i], on[i])
		}
	}
}

// checkStepCounts fails t unless every layer's step count is steps
// (what names the case).
func (tr *emuTraining) checkStepCounts(t *testing.T, what string, steps int) {
	t.Helper()
	counts := make([]float32, tr.m.Arch.Layers())
	if err := tr.e.Read(tr.m.Step, 0, counts); err != nil {
		t.Fatal(err)
	}
	for l, c := range counts {
		if c != float32(steps) {
			t.Errorf("%slayer %d's step count is %v after %d steps", what, l, c, steps)
		}
	}
}

// TestEmulatedFusedUpdate: with DenseUpdateEnv "fused" a training step
// runs the first dense layer's weight gradient and update as one
// dense_wgrad_adam, where the updates go (the second stream; with three,
// the updates' own; with one, the main stream), in place of its weight
// gradient's product and one of the four adam4 (the split path runs
// none); every layer's step count still advances once a step. (How
// close its training stays to the CPU engine's: TestEmulatedTraining.)
func TestEmulatedFusedUpdate(t *testing.T) {
	const bs, steps = 8, 5
	byName := func(name string) variant {
		return variants[slices.IndexFunc(variants, func(v variant) bool { return v.name == name })]
	}
	fusedV := byName("fused update, 2 streams")
	one, three := fusedV, fusedV
	one.name, one.streams = "fused update, 1 stream", 1
	three.name, three.streams = "fused update, 3 streams", 3
	for _, c := range []struct {
		v      variant
		stream string
	}{{byName("own, 2 streams"), ""}, {fusedV, "second"}, {three, "updates"}, {one, "main"}} {
		v, fused := c.v, c.v.fusedUpdate
		tr := newEmuTraining(t, v, bs, steps)
		for range steps {
			tr.step()
		}
		want := map[string]int{"dense_wgrad_adam": 0, "adam4": 4 * steps}
		if fused {
			want = map[string]int{"dense_wgrad_adam": steps, "adam4": 3 * steps}
		}
		for k, n := range want {
			if got := tr.g.launched[k]; got != n {
				t.Errorf("%s: %d steps ran %s %d times, want %d", v.name, steps, k, got, n)
			}
		}
		tr.checkStepCounts(t, v.name+": ", steps)
		if !fused {
			continue
		}
		marks, err := tr.e.Timeline(tr.raw, func() { tr.e.Fill(tr.cursor, 0) }, 1)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(marks, func(m engine.TimelineMark) bool { return m.Op == "dense_wgrad_adam" }); i < 0 || marks[i].Stream != c.stream {
			t.Errorf("%s: the step's timeline %v: want dense_wgrad_adam on the %s stream", v.name, marks, c.stream)
		}
	}
}

// TestEmulatedDeferUpdate: bench --defer-update's schedule on the emulated
// device, recorded and replayed: the first dense layer's update queued at
// the step's start (on the updates' stream where there is one), which the
// hazard tracking orders before the forward pass reads those weights and
// after the step before wrote their gradient; after the steps and
// FlushUpdate the parameters are those of the usual order, bit for bit,
// on one stream, two and three; with two, through the in-place timing of
// the step's alternatives to its end (recordings made again and again,
// each with the update at its start). The timing runs on the emulator's
// virtual clock with cuDNN's convolutions slowed, so that both orders
// choose the same alternatives (our kernels for conv2) whatever the host's
// load: on the wall clock the two trainings could choose differently and
// round differently.
func TestEmulatedDeferUpdate(t *testing.T) {
	const bs = 8
	slow := map[string]time.Duration{"convolution forward": 20 * time.Millisecond,
		"convolution backward data": 20 * time.Millisecond, "convolution backward filter": 20 * time.Millisecond}
	for _, v := range []variant{variants[1], variants[2], variants[6]} {
		steps := 5
		if v.streams == 2 {
			steps = 160
		}
		train := func(deferred bool) []float32 {
			tr := newEmuTraining(t, v, bs, steps)
			tr.g.delay = slow
			tr.m.DeferUpdate = deferred
			for range steps - 1 {
				tr.step()
			}
			ran := tr.g.dnnRan
			tr.step()
			if v.streams == 2 {
				if tr.e.Tuning() {
					t.Fatalf("%s: still timing the step's alternatives after %d steps: run more", v.name, steps)
				}
				if tr.g.dnnRan != ran {
					t.Fatalf("%s: the last step ran cuDNN's convolutions (%v, then %v): want ours, chosen by the timing", v.name, ran, tr.g.dnnRan)
				}
			}
			tr.m.FlushUpdate()
			p, err := tr.m.Params()
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		usual, deferred := train(false), train(true)
		for i := range usual {
			if math.Float32bits(usual[i]) != math.Float32bits(deferred[i]) {
				t.Fatalf("%s: after %d steps with the update deferred parameter %d is %v, want %v as in the usual order", v.name, steps, i, deferred[i], usual[i])
			}
		}
	}
}

// TestEmulatedTuning checks the in-place timing of the convolutions'
// alternatives (tune.go), with the emulated convolutions offering some
// (one forward, two filter-gradient algorithms a shape), our conv3
// kernels for each of conv2's directions and cuBLASLt's fused products
// for each dense layer's forward and weight gradient: one direction at a
// time, the recording is timed against one recording per alternative of
// that direction, tuneRounds steps each, then the fastest is kept and the
// next direction timed against it; every step runs once (the cursor
// advances by one batch a call); a plan's directions are tuned once; and
// Reset during the timing releases it.
func TestEmulatedTuning(t *testing.T) {
	const bs = 4
	for _, c := range []struct {
		v            variant
		first, cands int // recordings timed in the first direction, and in all
	}{
		// own, 2 streams: conv2 on cuDNN; forward: cuDNN's choice, its
		// alternative, ours; data gradient: cuDNN's, ours; filter
		// gradient: cuDNN's, two alternatives, ours; then dense1's
		// forward and weight gradient: split, fused with either of the
		// emulated cuBLASLt's two algorithms.
		{variants[2], 3, 3 + 2 + 4 + 3 + 3},
		// own convolutions: conv2 all ours, only dense1's products to
		// time.
		{variants[4], 3, 3 + 3},
		// library, 2 streams: conv1's forward and filter gradient, then
		// conv2's, then dense2's and dense1's products (with the library
		// set dense2 is a cuBLAS product too).
		{variants[3], 2, 2 + 3 + 2 + 3 + 4*3},
		{variants[0], 2, 2 + 3 + 2 + 3 + 4*3}, // library
		// cuBLASLt dense: conv2 as in the default, then dense1's fused
		// products, each with its first algorithm against its second.
		{variants[5], 3, 3 + 2 + 4 + 2 + 2},
	} {
		t.Run(c.v.name, func(t *testing.T) {
			// Warm-up runs until the first recording (the model's first
			// step allocates its buffers, which drops what the engine
			// knew of the key: two).
			const warm = 2
			steps := warm + c.cands*tuneRounds + 2
			tr := newEmuTraining(t, c.v, bs, steps+2) // and two steps after the Reset
			e := tr.e
			for range warm {
				tr.step()
			}
			tr.step() // recording, and the first timed step
			tu := e.tuners[bs]
			if c.first == 0 {
				if tu != nil || e.Tuning() {
					t.Fatalf("after the recording: tuner %v, want none", tu)
				}
				return
			}
			if tu == nil || len(tu.cands) != c.first {
				t.Fatalf("after the recording: tuner %v, want %d recordings to time first", tu, c.first)
			}
			for i := warm + 1; i < steps; i++ {
				tr.step()
				if want := i < warm+c.cands*tuneRounds-1; e.Tuning() != want {
					t.Fatalf("after step %d: Tuning() = %v, want %v", i, e.Tuning(), want)
				}
			}
			cur := []int32{0}
			if err := e.Read(tr.cursor, 0, cur); err != nil || int(cur[0]) != steps*bs {
				t.Errorf("cursor after %d steps of %d: %d (%v), want %d: one step a call", steps, bs, cur[0], err, steps*bs)
			}
			if _, ok := e.graphs[bs]; !ok || len(e.graphs) != 1 {
				t.Errorf("after tuning: %d recordings, want the kept one for key %d", len(e.graphs), bs)
			}
			for _, cd := range tu.cands {
				if g := cd.g.(*emuGraph); g.destroyed == (cd.g == e.graphs[bs]) {
					t.Errorf("recording %+v: destroyed %v, kept %v", cd.at, g.destroyed, cd.g == e.graphs[bs])
				}
			}
			// Tuned once: a new recording of the same shapes (after a
			// Reset) is not timed again.
			engine.ResetGraphs(e)
			tr.step()
			tr.step()
			if len(e.graphs) != 1 || e.Tuning() {
				t.Errorf("the same shapes recorded again: %d recordings, Tuning() %v; want one, not timed again", len(e.graphs), e.Tuning())
			}
		})
	}
}

// TestEmulatedTuningResetMidway: a Reset while the second direction is
// timed keeps the first direction settled, remembers it as timed (conv2's
// others as searched only, dense1's not at all), and leaves the others to
// the next recording, which times them, starting with the interrupted
// one.
func TestEmulatedTuningResetMidway(t *testing.T) {
	const bs, warm = 4, 2
	tr := newEmuTraining(t, variants[2], bs, 40)
	e := tr.e
	path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
	t.Cleanup(forgetStores)
	forgetStores()
	e.choices, e.identity = openChoices(path), tr.g.Identity()
	for range warm + 1 { // warm-ups, then the recording and the first timed step
		tr.step()
	}
	tu := e.tuners[bs]
	if tu == nil || len(tu.dirs) != 5 || !isDense(tu.dirs[3].dir) || !isDense(tu.dirs[4].dir) {
		t.Fatalf("after the recording: tuner %+v, want conv2's three directions to time, then dense1's two", tu)
	}
	for range 3*tuneRounds - 1 { // the forward pass's three recordings, then into the second phase
		tr.step()
	}
	if tu.phase != 1 || len(tu.cands) != 2 {
		t.Fatalf("phase %d with %d recordings, want the data gradient's (1) with 2", tu.phase, len(tu.cands))
	}
	first, left := tu.dirs[0], slices.Clone(tu.dirs[1:])
	engine.ResetGraphs(e)
	if !e.settled[first] || slices.ContainsFunc(left, func(pd planDir) bool { return e.settled[pd] }) {
		t.Errorf("after the Reset: settled %v; want the first direction only", e.settled)
	}
	doc := readDoc(t, path)
	for i, pd := range tu.dirs {
		c, ok := doc.Entries[e.choiceKey(pd.s, pd.dir)]
		switch {
		case isDense(pd.dir) && ok:
			t.Errorf("after the Reset: the file has an entry for the %s, never timed: %+v", dirNames[pd.dir], c)
		case !isDense(pd.dir) && (!ok || c.Tuned != (i == 0)):
			t.Errorf("after the Reset: the file's entry for the %s: %+v (found %v); want it timed: %v", dirNames[pd.dir], c, ok, i == 0)
		}
	}
	tr.step() // warm-up
	tr.step() // the recording
	nt := e.tuners[bs]
	if nt == nil || !slices.Equal(nt.dirs, left) || len(nt.cands) != 2 {
		t.Fatalf("the next recording: tuner %+v, want the four directions left, the data gradient first", nt)
	}
}

// TestEmulatedRecipeRecordsOnce: with the default recipe (the cosine
// schedule and augmentation) a training of two epochs records its step
// once per batch size: the scheduled rate comes from the step count and
// the translations from the epoch in the cursor tensor, both read on the
// device, so the second epoch replays what the first recorded.
func TestEmulatedRecipeRecordsOnce(t *testing.T) {
	const bs, n = 4, 48 // 12 steps an epoch, no short batch
	run := func() (captures, afterFirst int) {
		g := newEmuGPU(t)
		e := newEngine(g, false, variants[2].own)
		e.setStreams(variants[2].streams)
		defer func() {
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
		arch, _ := engine.NewArch("reference", engine.ReLU)
		opt := goldenOpts[0]
		opt.Sched = engine.NewSchedule(engine.CosineLR, 2*n/bs)
		m, err := engine.NewModel(e, arch, opt, arch.GlorotInit(1))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release()
		d := randomDataset(t, e, n, 3, 3)
		defer d.Release(e)
		tr := &engine.Trainer{M: m, Data: d, TrainIdx: engine.AllIndices(n), Epochs: 2, BatchSize: bs, Seed: 5, Augment: engine.Augmentation{Shift: 2, Rotate: 10, Scale: 0.1}}
		tr.OnEpoch = func(em engine.EpochMetrics, pos engine.Position) error {
			if pos.Epoch == 1 {
				afterFirst = g.captures
			}
			return nil
		}
		if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
			t.Fatal(err)
		}
		return g.captures, afterFirst
	}
	c1, first := run()
	if c1 == 0 || c1 != first {
		t.Errorf("%d recordings in the first epoch, %d after the second: want some in the first, none added by the second", first, c1)
	}
	if c1 > 11 { // the step and the tuner's alternatives (TestEmulatedTuning)
		t.Errorf("%d recordings for one batch size, want at most the step and its 10 timed alternatives", c1)
	}
}

// randomDataset uploads n images of random pixels (from PCG(s1, s2)) to
// e, labelled 0, 1, …, 9 in turn.
func randomDataset(t *testing.T, e engine.Engine, n int, s1, s2 uint64) *engine.Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(s1, s2))
	img, lab := make([]uint8, n*engine.ImagePixels), make([]uint8, n)
	for i := range img {
		img[i] = uint8(r.IntN(256))
	}
	for i := range lab {
		lab[i] = uint8(i % engine.Classes)
	}
	d, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEmulatedStepCountAfterError: an update queued before an op fails
// has its step count's increment queued all the same (steps.go: past the
// gate), so that the count matches the parameters the update changed; an
// update queued after the failure changes neither.
func TestEmulatedStepCountAfterError(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			e := newEmulated(t, v)
			const n = 100
			c := engine.OptConfig{Kind: engine.SGD, LR: 0.1}
			ts := make([]engine.Tensor, 4)
			for i := range ts {
				ts[i], _ = e.Alloc(engine.Float32, n)
			}
			p, g, s1, step := ts[0], ts[1], ts[2], e.Slice(ts[3], 0, 2)
			e.Fill(g, 1)
			e.Update(c, p, g, s1, nil, e.Slice(step, 0, 1))
			e.fail(errors.New("a later op failed")) // as a launch failure would
			e.Update(c, p, g, s1, nil, e.Slice(step, 1, 1))
			if err := e.Sync(); err == nil {
				t.Fatal("Sync after a failure: no error")
			}
			pv, sv := make([]float32, 1), make([]float32, 2)
			if err := e.Read(p, 0, pv); err != nil {
				t.Fatal(err)
			}
			if err := e.Read(step, 0, sv); err != nil {
				t.Fatal(err)
			}
			if pv[0] != -0.1 || sv[0] != 1 || sv[1] != 0 {
				t.Errorf("p[0] = %v (one update: -0.1), step counts %v, want [1 0]", pv[0], sv)
			}
			for _, x := range ts {
				e.Free(x)
			}
		})
	}
}

// TestEmulatedLaneAfterUpdates: with three streams, second-stream work
// that writes what a pending update reads (a second head's HeadStep
// into the dw the update of the first head's w read) waits for the
// updates' stream (After), run directly, recorded and replayed; the
// weights come out bit for bit as with two streams. Without that wait the emulated device refuses the
// write (head_grads on the lane writing what adam4 read, unordered).
func TestEmulatedLaneAfterUpdates(t *testing.T) {
	s := engine.DenseShape{N: 6, In: 40, Out: 3}
	opt := goldenOpts[0]
	run := func(v variant) ([]float32, map[[2]int]int, [2]int) {
		e := newEmulated(t, v)
		defer e.Close()
		g := e.device().(*emuGPU)
		f32 := func(n int, seed float32) engine.Tensor {
			x, err := e.Alloc(engine.Float32, n)
			if err != nil {
				t.Fatal(err)
			}
			vals := make([]float32, n)
			for i := range vals {
				vals[i] = float32(math.Sin(float64(seed) + float64(i)*0.37))
			}
			if err := e.Write(x, 0, vals); err != nil {
				t.Fatal(err)
			}
			return x
		}
		x, w, b := f32(s.N*s.In, 1), f32(s.Out*s.In, 2), f32(s.Out, 3)
		logits, dlogits, dx, dw, db := f32(s.N*s.Out, 0), f32(s.N*s.Out, 0), f32(s.N*s.In, 0), f32(s.Out*s.In, 0), f32(s.Out, 0)
		stats, m1, m2 := f32(3, 0), f32(s.Out*s.In, 0), f32(s.Out*s.In, 0)
		e.Fill(m1, 0)
		e.Fill(m2, 0)
		e.Fill(stats, 0)
		step := f32(1, 0)
		e.Fill(step, 0)
		labels, err := e.Alloc(engine.Int32, s.N)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Write(labels, 0, []int32{0, 1, 2, 2, 1, 0}); err != nil {
			t.Fatal(err)
		}
		// A second head of two outputs (w2, b2) whose gradients go to
		// the start of dw and db: its dense_xent touches nothing the
		// update of w or the first head_grads does (its own logits,
		// dlogits and rows), so the main stream joins neither; its
		// head_grads on the lane writes the dw that update reads.
		s2 := engine.DenseShape{N: s.N, In: s.In, Out: 2}
		w2, b2, n1, n2, step2 := f32(s2.Out*s.In, 4), f32(s2.Out, 5), f32(s2.Out*s.In, 0), f32(s2.Out*s.In, 0), f32(1, 0)
		logits2, dlogits2 := f32(s.N*s2.Out, 0), f32(s.N*s2.Out, 0)
		dw2, db2 := e.Slice(dw, 0, s2.Out*s.In), e.Slice(db, 0, s2.Out)
		e.Fill(n1, 0)
		e.Fill(n2, 0)
		e.Fill(step2, 0)
		fn := func() {
			e.HeadStep(x, w, b, logits, labels, dlogits, stats, dx, dw, db, s, 0)
			e.Update(opt, w, dw, m1, m2, step)
			e.HeadStep(x, w2, b2, logits2, labels, dlogits2, stats, dx, dw2, db2, s2, 0)
			e.Update(opt, w2, dw2, n1, n2, step2)
		}
		for range 4 { // directly, recorded, replayed
			if err := e.Replay(7, fn); err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
		}
		if err := e.Sync(); err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if len(g.violations) > 0 {
			t.Errorf("%s: misuse %q", v.name, g.violations)
		}
		got := make([]float32, (s.Out+s2.Out)*s.In)
		if err := e.Read(w, 0, got[:s.Out*s.In]); err != nil {
			t.Fatal(err)
		}
		if err := e.Read(w2, 0, got[s.Out*s.In:]); err != nil {
			t.Fatal(err)
		}
		var ids [2]int
		if e.upd != nil {
			ids = [2]int{e.lane.(*emuLane).id, e.upd.(*emuLane).id}
		}
		e.Reset()
		return got, g.afters, ids
	}
	want, _, _ := run(variants[2])
	got, afters, ids := run(variants[6])
	if n := afters[ids]; n != 2 {
		t.Errorf("the second stream was made to wait for the updates' stream %d times, want 2 (the direct run and the recording, whose replays wait as recorded)", n)
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("weight %d (of w, then w2) = %v with three streams, %v with two", i, got[i], want[i])
		}
	}
}

// TestEmulatedTimeline: a three-stream training step's timeline (with the
// emulated clock advanced only by head_grads, 2 ms, and each adam4, 1
// ms): it starts on the main stream at 0 and ends there after the joins;
// each op is marked on the stream it ran on (dense_xent on the main one,
// head_grads on the second, the updates and the step counts' increment on
// the updates' stream); the times add up to the delays of the ops before
// them; and every event is released (the emulated device's Close counts
// them).
func TestEmulatedTimeline(t *testing.T) {
	const bs = 8
	tr := newEmuTraining(t, variants[6], bs, 40)
	for i := 0; i < 3 || tr.e.Tuning(); i++ {
		if i%8 == 0 {
			tr.e.Fill(tr.cursor, 0) // the dataset holds 40 batches
		}
		tr.step()
	}
	tr.g.delay = map[string]time.Duration{"head_grads": 2 * time.Millisecond, "adam4": time.Millisecond}
	marks, err := tr.e.Timeline(tr.raw, func() { tr.e.Fill(tr.cursor, 0) }, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range marks {
		t.Logf("%-8s %-28s %v", m.Stream, m.Op, m.At)
	}
	first, last := marks[0], marks[len(marks)-1]
	if first != (engine.TimelineMark{Stream: "main", Op: "start"}) || last.Stream != "main" || last.Op != "end" {
		t.Fatalf("timeline from %+v to %+v, want from the main stream's start at 0 to its end", first, last)
	}
	on := map[string]string{}
	adams := 0
	for i, m := range marks {
		on[m.Op] = m.Stream
		if i == 0 {
			continue
		}
		want := marks[i-1].At + tr.g.delay[m.Op]
		if m.At != want {
			t.Errorf("mark %d (%s on %s) at %v, want %v (the one before plus its delay)", i, m.Op, m.Stream, m.At, want)
		}
		if m.Op == "adam4" {
			adams++
		}
	}
	for op, want := range map[string]string{"dense_xent": "main", "head_grads": "second", "adam4": "updates", "step_inc": "updates"} {
		if on[op] != want {
			t.Errorf("%s marked on %q, want %q", op, on[op], want)
		}
	}
	if want := 2*time.Millisecond + time.Duration(adams)*time.Millisecond; adams != 4 || last.At != want {
		t.Errorf("%d adam4 in the step and its end at %v, want 4 and %v", adams, last.At, want)
	}
	if tr.g.events != 0 || len(tr.g.violations) > 0 {
		t.Errorf("%d events alive after the timeline, misuse %q", tr.g.events, tr.g.violations)
	}
}
