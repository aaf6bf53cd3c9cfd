//go:build cgo && !windows

// beside_test.go: cuDNN's first calls made beside the first steps
// (beside.go), on the emulated device, whose WarmDNN a test can hold (its
// kernels loading): while held, conv2 runs on our kernels and cuDNN is
// neither asked nor run; once done, the next step switches to what the
// remembered choices say, as a process without it runs; a first process
// (nothing remembered) and BesideEnv=0 make no call beside; Close waits
// for one in flight; the switch may come at any step, with a second,
// occasional batch size in play, and after a failed WarmDNN.

package cuda

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// besideRun is an emulated training of steps steps at batch 8 in the own,
// two-stream variant with the choices in path and each op named in slow
// delayed 20 ms on the emulated clock, cuDNN loaded beside when beside
// is set, started once the first step is recorded (BesideEnv "recorded",
// whose later start the tests here follow step by step; TestBesideEarly,
// TestBesideTraining and TestBesideNotForEvaluation run the default, at
// the first use of a convolution's gradient).
func besideRun(t *testing.T, path string, steps int, slow []string, beside bool) *emuTraining {
	t.Helper()
	tr := newEmuTraining(t, variants[2], 8, steps)
	tr.g.delay = map[string]time.Duration{}
	for _, k := range slow {
		tr.g.delay[k] = 20 * time.Millisecond
	}
	tr.e.choices, tr.e.identity = openChoices(path), tr.g.Identity()
	tr.e.besideOn, tr.e.besideLate = beside, true
	// Before the training's cleanup, which closes the engine and so
	// waits for WarmDNN: a test that failed holding it lets it go.
	t.Cleanup(func() {
		if t.Failed() && tr.g.warmGate != nil {
			tr.g.releaseWarm()
		}
	})
	return tr
}

// rememberFirst runs a first process of steps steps (besideRun, slow
// slowed) with a new store, whose choices it remembers, and returns the
// store's path.
func rememberFirst(t *testing.T, steps int, slow []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
	t.Cleanup(forgetStores)
	forgetStores()
	first := besideRun(t, path, steps, slow, true)
	for range steps {
		first.step()
	}
	return path
}

// launchedOwn is how many times each of our conv3 kernels ran.
func launchedOwn(g *emuGPU) []int {
	var n []int
	for _, k := range ownConvKernels {
		n = append(n, g.launched[k])
	}
	return n
}

// besideCases: remembered choices all ours (cuDNN's convolutions slowed
// on the emulated device when they were timed), or all cuDNN's.
var besideCases = []struct {
	name string
	slow []string
	own  bool
}{
	{"ours faster", []string{"convolution forward", "convolution backward data", "convolution backward filter"}, true},
	{"cuDNN faster", ownConvKernels, false},
}

// besideConv2 is conv2's shape at besideRun's batch of 8.
var besideConv2 = engine.ConvShape{N: 8, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1}

func TestBesideFirstSteps(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const steps, held = 34, 5
	conv2 := besideConv2
	for _, c := range besideCases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
			t.Cleanup(forgetStores)

			// A first process: nothing remembered, so cuDNN is searched
			// on the ops' own path and nothing is called beside.
			forgetStores()
			first := besideRun(t, path, steps, c.slow, true)
			for range steps {
				first.step()
			}
			if first.e.Tuning() {
				t.Fatalf("first process: still timing after %d steps", steps)
			}
			if w := first.g.warmCalls(); len(w) > 0 || first.g.finds == [3]int{} {
				t.Fatalf("first process: WarmDNN called for %v, searches %v; want no call and searches", w, first.g.finds)
			}

			// The process to compare with: the choices restored on the
			// ops' path (BesideEnv=0).
			forgetStores()
			plain := besideRun(t, path, steps, c.slow, false)
			for range steps {
				plain.step()
			}
			if w := plain.g.warmCalls(); len(w) > 0 {
				t.Errorf("%s=0: WarmDNN called for %v", BesideEnv, w)
			}
			if plain.g.restores != [3]int{1, 1, 1} {
				t.Fatalf("%s=0: restores %v, want one a direction", BesideEnv, plain.g.restores)
			}

			// cuDNN loaded beside, held for the first steps.
			forgetStores()
			trace.Reset()
			defer trace.Reset()
			trace.Enable()
			tr := besideRun(t, path, steps, c.slow, true)
			tr.g.warmGate = make(chan struct{})
			for i := range held {
				tr.step()
				// With "recorded": not during the first step's run,
				// nor before its recording.
				if j := tr.e.beside; i == 0 && (j == nil || j.start == nil || len(tr.g.warmCalls()) > 0 || tr.g.captures > 0) {
					t.Fatalf("after the first step: loading beside readied %v, started %v (WarmDNN called for %v), recordings %d; want readied, not started, none",
						j != nil, j != nil && j.start == nil, tr.g.warmCalls(), tr.g.captures)
				}
			}
			if w := tr.g.warmCalls(); !slices.Equal(w, []engine.ConvShape{conv2}) {
				t.Fatalf("WarmDNN called for %v, want conv2's shape %+v once", w, conv2)
			}
			if tr.e.beside == nil || !tr.e.Tuning() {
				t.Fatal("cuDNN's loading held, yet the engine does not say the steps are not yet the final ones (Tuning)")
			}
			for i, n := range launchedOwn(tr.g) {
				if n == 0 {
					t.Errorf("while cuDNN loads: %s never ran", ownConvKernels[i])
				}
			}
			if tr.g.dnnRan != [3]int{} || tr.g.restores != [3]int{} || tr.g.finds != [3]int{} || len(tr.e.convs) > 0 {
				t.Errorf("while cuDNN loads: cuDNN convolutions run %v, restores %v, searches %v, plans %d; want none",
					tr.g.dnnRan, tr.g.restores, tr.g.finds, len(tr.e.convs))
			}
			captures, own := tr.g.captures, launchedOwn(tr.g)

			tr.g.releaseWarm()
			<-tr.e.beside.done
			for range steps - held {
				tr.step()
			}
			if tr.e.beside != nil || tr.e.Tuning() {
				t.Fatal("cuDNN's loading done, yet the engine is still aside or timing")
			}
			if tr.g.finds != [3]int{} {
				t.Errorf("after the switch: searches %v, want none", tr.g.finds)
			}
			rows := map[string]trace.Row{}
			for _, r := range trace.Snapshot().Rows {
				rows[r.Name] = r
			}
			// The first step starts the loading inside it; the next
			// ones up to the switch ran aside.
			for _, w := range []struct {
				name  string
				count int
				aside bool
			}{{trace.DNNBeside, 1, true}, {trace.BesideSteps, held - 1, false}, {trace.BesideAdopt, 1, false}} {
				if r := rows[w.name]; r.Count != w.count || r.Aside != w.aside {
					t.Errorf("trace row %q: %d spans (aside %v), want %d (aside %v)", w.name, r.Count, r.Aside, w.count, w.aside)
				}
			}
			// What WarmDNN made is freed at the switch, which records
			// every step again, restoring each direction once.
			if tr.g.warmReleased != 1 || tr.g.restores != [3]int{1, 1, 1} || tr.g.captures == captures {
				t.Errorf("after the switch: WarmDNN's release called %d times, restores %v, recordings %d → %d; want once, one a direction, new recordings",
					tr.g.warmReleased, tr.g.restores, captures, tr.g.captures)
			}
			if c.own {
				// Every choice is our kernel: cuDNN is never run.
				if tr.g.dnnRan != [3]int{} {
					t.Errorf("all ours: cuDNN run %v, want never", tr.g.dnnRan)
				}
			} else {
				if !slices.Equal(launchedOwn(tr.g), own) {
					t.Errorf("after the switch our conv3 kernels ran %v → %v times; want no more", own, launchedOwn(tr.g))
				}
				for d, n := range tr.g.dnnRan {
					// Each step after the switch runs each direction once.
					if n != steps-held {
						t.Errorf("cuDNN's %s ran %d times, want %d", dirNames[d], n, steps-held)
					}
				}
			}
			for _, d := range []int{dirForward, dirData, dirFilter} {
				if got, want := tr.e.conv3(conv2, d) > 0, plain.e.conv3(conv2, d) > 0; got != want {
					t.Errorf("conv2's %s on our kernel at the end: %v, without the loading beside %v", dirNames[d], got, want)
				}
			}

			if c.own {
				// The same kernels all along: the same bits.
				p, err := tr.m.Params()
				if err != nil {
					t.Fatal(err)
				}
				q, err := plain.m.Params()
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(p, q) {
					t.Error("all ours: the trained parameters differ from the process's without the loading beside")
				}
			}
		})
	}
}

// TestBesideTraining trains as TestEmulatedTraining does (Adam, 40 steps
// at batch 16), in the own two-stream variant with cuDNN the faster, in
// a second process whose cuDNN loads beside until 100 kernels have run
// (a few steps): the losses agree with the CPU's within its own drift, as
// the golden test's, across the switch from our kernels to cuDNN's.
func TestBesideTraining(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const steps, bs, every = 40, 16, 10
	tk := trainingTask(t)
	c := cpu.New(0)
	defer c.Close()
	opt := goldenOpts[0]
	lc, wn := cpuDrift(t, c, tk, opt, steps, bs, every)
	path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
	t.Cleanup(forgetStores)
	run := func(beside bool) (*Engine, *emuGPU, []float64) {
		g := newEmuGPU(t)
		e := newEngine(g, false, true)
		variants[2].configure(e)
		g.delay = map[string]time.Duration{}
		for _, k := range ownConvKernels {
			g.delay[k] = 20 * time.Millisecond
		}
		e.choices, e.identity, e.besideOn = openChoices(path), g.Identity(), beside
		if beside {
			g.warmGate = make(chan struct{})
			g.warmAt = 100
		}
		l := losses(t, e, tk, opt, steps, bs, false)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		return e, g, l
	}
	forgetStores()
	if _, g, _ := run(true); len(g.warmCalls()) > 0 {
		t.Fatal("first process: WarmDNN called with nothing remembered")
	}
	forgetStores()
	e, g, lg := run(true)
	conv2 := engine.ConvShape{N: bs, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1}
	if w := g.warmCalls(); !slices.Equal(w, []engine.ConvShape{conv2}) {
		t.Fatalf("WarmDNN called for %v, want conv2's %+v once", w, conv2)
	}
	if g.warmReleased != 1 {
		t.Errorf("WarmDNN's release called %d times, want once", g.warmReleased)
	}
	if e.dnnLoaded != true || g.restores != [3]int{1, 1, 1} || g.dnnRan[dirForward] == 0 || g.launched["conv3_pool"] == 0 {
		t.Fatalf("no switch: cuDNN loaded %v, restores %v, cuDNN run %v, conv3_pool run %d times; want both kernels run, one restore a direction",
			e.dnnLoaded, g.restores, g.dnnRan, g.launched["conv3_pool"])
	}
	t.Logf("steps on our kernels before the switch: %d of %d", steps-g.dnnRan[dirForward], steps)
	agrees(t, "cuDNN loaded beside, on an emulated GPU", lg, lc, wn, every, 0.9)
}

// TestBesideCloseWaits: Close with cuDNN's first calls still in flight
// waits for them (their goroutine uses the context) and reports no error.
func TestBesideCloseWaits(t *testing.T) { besideModes(t, testBesideCloseWaits) }

// besideModes runs test with BesideEnv's default (late false) and with
// "recorded" (true), each a subtest.
func besideModes(t *testing.T, test func(t *testing.T, late bool)) {
	for _, late := range []bool{false, true} {
		name := "default"
		if late {
			name = "recorded"
		}
		t.Run(name, func(t *testing.T) { test(t, late) })
	}
}

func testBesideCloseWaits(t *testing.T, late bool) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const steps = 34
	path := rememberFirst(t, steps, nil)
	forgetStores()
	var j *besideJob
	var tr *emuTraining
	// Registered before the training's own cleanup, which closes the
	// engine: runs after it.
	t.Cleanup(func() {
		if j != nil && (!j.finished() || tr.e.beside != nil || tr.g.warmReleased != 1) {
			t.Errorf("Close returned with cuDNN's first calls in flight %v, their release called %d times; want done, once",
				!j.finished() || tr.e.beside != nil, tr.g.warmReleased)
		}
	})
	tr = besideRun(t, path, steps, nil, true)
	tr.e.besideLate = late
	tr.g.warmGate = make(chan struct{})
	for i := 0; tr.e.beside == nil || tr.e.beside.start != nil; i++ {
		if i == 5 {
			t.Fatal("cuDNN's loading beside not started after 5 steps")
		}
		tr.step()
	}
	j = tr.e.beside
	go func() {
		time.Sleep(50 * time.Millisecond)
		tr.g.releaseWarm()
	}()
}

// TestBesideCloseNeverStarted: with BesideEnv "recorded", a process that
// ends after the first step (its warm-up), before any replay, never
// starts cuDNN's calls beside: Close drops them, WarmDNN is never called
// and nothing is released (TestBesideNotForEvaluation: by default, one
// that never reaches a gradient).
func TestBesideCloseNeverStarted(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	path := rememberFirst(t, 34, nil)
	forgetStores()
	var tr *emuTraining
	// Registered before the training's own cleanup, which closes the
	// engine: runs after it.
	t.Cleanup(func() {
		if w := tr.g.warmCalls(); len(w) > 0 || tr.g.warmReleased != 0 || tr.e.beside != nil {
			t.Errorf("after Close: WarmDNN called for %v, released %d times, job kept %v; want none", w, tr.g.warmReleased, tr.e.beside != nil)
		}
	})
	tr = besideRun(t, path, 34, nil, true)
	tr.step()
	if j := tr.e.beside; j == nil || j.start == nil {
		t.Fatalf("after the first step: loading beside readied %v, started %v; want readied, not started", j != nil, j != nil && j.start == nil)
	}
}

// TestBesideEarly: by default (BesideEnv unset, 1 or "early") the
// goroutine starts at the first use of the convolution's gradient, inside
// the first step
// (run 17's way, and again the default since run 19), and the training
// goes on across the switch as with "recorded".
func TestBesideEarly(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const steps = 34
	path := rememberFirst(t, steps, nil)
	forgetStores()
	tr := besideRun(t, path, steps, nil, true)
	tr.e.besideLate = false
	tr.g.warmGate = make(chan struct{})
	tr.step()
	j := tr.e.beside
	if j == nil || j.start != nil || !slices.Equal(tr.g.warmCalls(), []engine.ConvShape{besideConv2}) || tr.g.captures > 0 {
		t.Fatalf("after the first step: loading beside %v, started %v, WarmDNN called for %v, recordings %d; want started in it, before any recording",
			j != nil, j != nil && j.start == nil, tr.g.warmCalls(), tr.g.captures)
	}
	tr.g.releaseWarm()
	<-j.done
	for range steps - 1 {
		tr.step()
	}
	if tr.e.beside != nil || tr.e.Tuning() || tr.g.finds != [3]int{} || tr.g.warmReleased != 1 {
		t.Errorf("at the end: loading beside %v, timing %v, searches %v, WarmDNN's release called %d times; want none, none, none, once",
			tr.e.beside != nil, tr.e.Tuning(), tr.g.finds, tr.g.warmReleased)
	}
}

// TestBesideNotForEvaluation: by default the loading beside is readied at
// a convolution's first use and started at the first use of one of its
// gradients, so a process that only runs the forward pass (eval,
// predict, serve) never starts it; "recorded" starts it at a replay, not
// at a gradient.
func TestBesideNotForEvaluation(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	path := rememberFirst(t, 34, nil)
	for _, late := range []bool{false, true} {
		forgetStores()
		tr := besideRun(t, path, 34, nil, true)
		tr.e.besideLate = late
		if tr.e.needsPlan(besideConv2, dirForward) {
			t.Fatalf("late %v: the forward pass needs cuDNN's plan, want it on our kernels while cuDNN loads beside", late)
		}
		j := tr.e.beside
		if j == nil || j.start == nil {
			t.Fatalf("late %v: after the forward pass the loading beside is readied %v, started %v; want readied, not started", late, j != nil, j != nil && j.start == nil)
		}
		tr.e.needsPlan(besideConv2, dirData)
		if started := j.start == nil; started == late {
			t.Errorf("late %v: after a gradient's first use the loading beside started %v, want %v", late, started, !late)
		}
		if j.start == nil {
			<-j.done
		}
	}
}

// TestBesideSwitchAnyStep: the loading beside may end at any step: after
// the first warm-up, between a key's warm-up and its recording (the
// model's first step drops what it made, so its second is a warm-up
// too), in the middle of the in-place timing; with an epoch's partial
// batch (occasional) in play too, and where WarmDNN failed. Each time
// the training goes on without an error and ends switched, settled, and
// with every direction where the remembered choices put it.
func TestBesideSwitchAnyStep(t *testing.T) { besideModes(t, testBesideSwitchAnyStep) }

func testBesideSwitchAnyStep(t *testing.T, late bool) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const steps, part = 34, 4
	conv2 := besideConv2
	for _, c := range besideCases {
		path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
		t.Cleanup(forgetStores)
		forgetStores()
		first := besideRun(t, path, steps+3, c.slow, true)
		for range steps {
			first.step()
		}
		// The partial batch's choices too, taken from the full one's.
		first.e.SetOccasional(8, part)
		for range 3 {
			if err := first.tryN(part); err != nil {
				t.Fatal(err)
			}
		}
		for _, held := range []int{1, 2, 3, 4, 7} {
			for _, failed := range []bool{false, true} {
				if failed && held != 2 {
					continue
				}
				name := fmt.Sprintf("%s, switch after step %d", c.name, held)
				if failed {
					name += ", WarmDNN failed"
				}
				t.Run(name, func(t *testing.T) {
					forgetStores()
					tr := besideRun(t, path, steps, c.slow, true)
					tr.e.besideLate = late
					tr.e.SetOccasional(8, part)
					tr.g.warmGate = make(chan struct{})
					if failed {
						tr.g.warmErr = errors.New("emulated cuDNN: cudnnCreate: CUDNN_STATUS_ALLOC_FAILED")
					}
					for i := 1; i <= steps-3; i++ {
						n := 8
						if i%5 == 0 {
							n = part // an epoch's last batch, now and then
						}
						if err := tr.tryN(n); err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
						if i == held {
							j := tr.e.beside
							if j == nil {
								t.Fatalf("nothing loading beside at step %d", i)
							}
							tr.g.releaseWarm()
							if j.start == nil {
								<-j.done
							} // else it ends as soon as a replay starts it
						}
					}
					if tr.e.beside != nil || tr.e.Tuning() || len(tr.e.eager) > 0 {
						t.Fatalf("at the end: loading beside %v, timing %v, keys without a graph %v; want none", tr.e.beside != nil, tr.e.Tuning(), tr.e.eager)
					}
					if tr.g.finds != [3]int{} || tr.g.warmReleased != 1 {
						t.Errorf("searches %v, WarmDNN's release called %d times; want none, once", tr.g.finds, tr.g.warmReleased)
					}
					for _, d := range []int{dirForward, dirData, dirFilter} {
						if got := tr.e.conv3(conv2, d) > 0; got != c.own {
							t.Errorf("conv2's %s on our kernel: %v, want %v", dirNames[d], got, c.own)
						}
					}
				})
			}
		}
	}
}

// TestBesideRecordingFailure: a recording that fails while cuDNN loads
// beside (the other thread's loading could spoil one) runs that key's
// steps without a graph only until the switch, which records them again:
// no warning, and no key left without a graph.
func TestBesideRecordingFailure(t *testing.T) { besideModes(t, testBesideRecordingFailure) }

func testBesideRecordingFailure(t *testing.T, late bool) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const steps, held = 34, 6
	path := rememberFirst(t, steps, ownConvKernels)
	// Where the first recording's product is: cuBLAS's, dense1's data
	// gradient, in every step.
	forgetStores()
	clean := besideRun(t, path, steps, ownConvKernels, true)
	clean.e.besideLate = late
	clean.g.warmGate = make(chan struct{})
	at := 0
	for range held {
		before := clean.g.calls["cublasSgemm_v2"]
		if clean.step(); clean.g.captures > 0 && at == 0 {
			at = before + 1
		}
	}
	clean.g.releaseWarm()
	if at == 0 {
		t.Fatal("no recording while cuDNN loads beside")
	}

	defer func(f func(string, ...any)) { warnf = f }(warnf)
	var warned []string
	warnf = func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }
	eagerWarned.Store(false)
	forgetStores()
	tr := besideRun(t, path, steps, ownConvKernels, true)
	tr.e.besideLate = late
	tr.g.warmGate = make(chan struct{})
	tr.g.fault = emuFault{faultLibrary, at, "cublasSgemm_v2", false}
	for i := 1; i <= steps; i++ {
		if err := tr.try(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if i == held {
			if tr.g.fired == nil || tr.g.firedIn == 0 || !tr.e.besideEager[8] {
				t.Fatalf("the fault did not fail the recording made while cuDNN loads (fired %v)", tr.g.fired)
			}
			tr.g.releaseWarm()
			<-tr.e.beside.done
		}
	}
	if len(tr.e.eager) > 0 || tr.e.eagerRuns > 0 || len(warned) > 0 || tr.e.graphs[8] == nil || tr.e.Tuning() {
		t.Errorf("after the switch: keys without a graph %v, %d recordings given up, warnings %q, recorded %v, timing %v; want none, none, none, true, false",
			tr.e.eager, tr.e.eagerRuns, warned, tr.e.graphs[8] != nil, tr.e.Tuning())
	}
}
