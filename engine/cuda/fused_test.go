//go:build cgo && !windows

// fused_test.go: dense layers' products with fused epilogues (DenseEnv
// "cublaslt", fused.go) on the emulated device: which products fuse, the
// fallback where cuBLASLt has no algorithm, and the plans released.

package cuda

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
)

// TestEmulatedFusedDense trains a few recorded steps of the reference
// network in the variant "cuBLASLt dense, 2 streams": the first dense
// layer's forward product runs with its bias and ReLU fused, its weight
// gradient's with the bias gradient (so no bias_grad kernel a step,
// where the split products run one: the second layer's bias gradient is
// head_grads' in every variant); where emulated
// cuBLASLt has no algorithm for an epilogue, that product runs apart and
// the step is unchanged but for the summation order of the bias gradient.
// TestEmulatedTraining compares the variant's losses with the CPU engine's.
func TestEmulatedFusedDense(t *testing.T) {
	const bs, steps = 8, 5
	v := variants[5]
	if v.dense != denseLt {
		t.Fatalf("variants[5] is %q, not the cuBLASLt one", v.name)
	}
	const emuAlgos = 2 // the emulated plans' algorithms (newEmuGPU)
	split := newEmuTraining(t, variants[2], bs, steps)
	for range steps {
		split.step()
	}
	splitGrads := split.g.launched["bias_grad"]
	for _, c := range []struct {
		name     string
		none     []cu.Epilogue
		forward  bool
		backward bool
		fused    string
	}{
		{"both fused", nil, true, true, "3136→1000: forward + bias + ReLU, weight + bias gradient"},
		{"no bias gradient epilogue", []cu.Epilogue{cu.EpilogueBiasGradA}, true, false, "3136→1000: forward + bias + ReLU"},
		{"none", []cu.Epilogue{cu.EpilogueReLUBias, cu.EpilogueBiasGradA}, false, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newEmuTraining(t, v, bs, steps)
			tr.g.noFused = map[cu.Epilogue]bool{}
			for _, ep := range c.none {
				tr.g.noFused[ep] = true
			}
			for range steps {
				tr.step()
			}
			// Every step's, and each algorithm's once when planned.
			if got := tr.g.fusedRan[cu.EpilogueReLUBias] >= steps+emuAlgos; got != c.forward {
				t.Errorf("forward products with bias and ReLU fused: %d in %d steps; want fused: %v", tr.g.fusedRan[cu.EpilogueReLUBias], steps, c.forward)
			}
			if got := tr.g.fusedRan[cu.EpilogueBiasGradA] >= steps+emuAlgos; got != c.backward {
				t.Errorf("weight gradients with the bias gradient fused: %d in %d steps; want fused: %v", tr.g.fusedRan[cu.EpilogueBiasGradA], steps, c.backward)
			}
			if tr.g.fusedRan[cu.EpilogueReLUBias] > 0 != c.forward || tr.g.fusedRan[cu.EpilogueBiasGradA] > 0 != c.backward {
				t.Errorf("fused products ran %v where none should", tr.g.fusedRan)
			}
			// dense1's bias gradient: bias_grad where its product is not
			// fused (dense2's is head_grads' in every variant).
			want := splitGrads
			if c.backward {
				want = 0
			}
			if got := tr.g.launched["bias_grad"]; got != want {
				t.Errorf("bias_grad ran %d times, want %d (the split variant: %d)", got, want, splitGrads)
			}
			if got := tr.e.FusedDense(); got != c.fused {
				t.Errorf("FusedDense() = %q, want %q", got, c.fused)
			}
			if !strings.Contains(tr.e.Name(), "cuBLASLt dense") {
				t.Errorf("Name() = %q, want it to name cuBLASLt dense", tr.e.Name())
			}
		})
	}
}

// TestRememberedFusedDense: in DenseEnv's default "timed" mode the first
// process times dense1's forward and weight-gradient products, split
// against fused with each of the plan's two algorithms, inside the
// recorded step (an emulated clock that only the ops named advance
// decides which is faster), keeps the faster of each, and remembers it;
// the second process adopts both, algorithm included, and times nothing.
func TestRememberedFusedDense(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	// 2 warm-ups, then (3 + 2 + 4) recordings for conv2 and 3 + 3 for
	// dense1, timed 2 steps each.
	const bs, steps = 8, 34
	v := variants[2]
	if v.dense != denseTimed {
		t.Fatalf("variants[2] is %q, not timed", v.name)
	}
	dirs := []planDir{denseDir(engine.DenseShape{N: bs, In: 3136, Out: 1000}, dirDenseFwd), denseDir(engine.DenseShape{N: bs, In: 3136, Out: 1000}, dirDenseWeight)}
	for _, c := range []struct {
		name  string
		slow  []string
		fused bool
		algo  int
	}{
		// The split products run bias_act and bias_grad beside their
		// SGEMMs (bias_grad for dense2 in both).
		{"fused faster", []string{"bias_act", "bias_grad"}, true, 0},
		{"fused, second algorithm faster", []string{"bias_act", "bias_grad", "cublasLtMatmul"}, true, 1},
		{"split faster", []string{"cublasLtMatmul", "cublasLtMatmul algo 1"}, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
			t.Cleanup(forgetStores)
			run := func() (*emuTraining, bool) { return trainSlowed(t, v, bs, steps, path, c.slow) }
			check := func(which string, tr *emuTraining) {
				t.Helper()
				for _, pd := range dirs {
					if got := tr.e.fusedOn[pd]; got != c.fused {
						t.Errorf("%s: dense1's %s: %v, want %v", which, dirNames[pd.dir], got, c.fused)
					}
					if p := tr.e.gemmDir[pd]; p == nil || p.Algo() != c.algo {
						t.Errorf("%s: dense1's %s: plan %v, want one with algorithm %d in use", which, dirNames[pd.dir], p, c.algo)
					}
				}
				want := ""
				if c.fused {
					want = "3136→1000: forward + bias + ReLU, weight + bias gradient"
				}
				if got := tr.e.FusedDense(); got != want {
					t.Errorf("%s: FusedDense() = %q, want %q", which, got, want)
				}
			}
			forgetStores()
			tr1, tuning1 := run()
			if !tuning1 {
				t.Fatal("first run: no in-place timing after the recording")
			}
			check("first run", tr1)
			if tr1.g.fusedRan[cu.EpilogueReLUBias] == 0 || tr1.g.fusedRan[cu.EpilogueBiasGradA] == 0 {
				t.Errorf("first run: fused products ran %v: never timed", tr1.g.fusedRan)
			}
			fused, dense := 0, 0
			for k, e := range readDoc(t, path).Entries {
				if strings.Contains(k, "fused on cuBLASLt") {
					dense++
					if e.Own {
						fused++
					}
				}
			}
			if want := map[bool]int{true: 2, false: 0}[c.fused]; dense != 2 || fused != want {
				t.Errorf("%d entries for dense directions, %d of them fused; want 2, %d", dense, fused, want)
			}

			forgetStores()
			tr2, tuning2 := run()
			if tuning2 {
				t.Error("second run: timing in place; want none")
			}
			check("second run", tr2)
			// Beyond each algorithm's once when planned (emuGPU.gemmAlgos).
			if ran := tr2.g.fusedRan[cu.EpilogueReLUBias] > 2 && tr2.g.fusedRan[cu.EpilogueBiasGradA] > 2; ran != c.fused {
				t.Errorf("second run: fused products ran %v; want them run: %v", tr2.g.fusedRan, c.fused)
			}
			if c.algo != 1 {
				return
			}
			// A heuristic that lists the algorithms otherwise (another
			// cuBLASLt): the remembered one is found by what it is, at its
			// new place; where it is not offered, the timing runs again.
			defer func() { emuGemmIDs = 0 }()
			emuGemmIDs = 1
			forgetStores()
			tr3, tuning3 := run()
			if tuning3 {
				t.Error("third run (the algorithm listed first now): timing in place; want none")
			}
			for _, pd := range dirs {
				if p := tr3.e.gemmDir[pd]; !tr3.e.fusedOn[pd] || p == nil || p.AlgoID(p.Algo()) != "emu-1" {
					t.Errorf("third run: dense1's %s: fused %v, plan %v; want fused with emu-1 (now its algorithm 0)", dirNames[pd.dir], tr3.e.fusedOn[pd], p)
				}
			}
			emuGemmIDs = 2
			forgetStores()
			if _, tuning4 := run(); !tuning4 {
				t.Error("fourth run (the remembered algorithm not offered): no timing in place")
			}
		})
	}
}

// TestEmulatedFusedDenseFailure: in DenseEnv's default "timed" mode a
// fused product is an alternative, so where cuBLASLt fails to plan it or
// to run one of its algorithms the first time, the product runs apart:
// the training goes on to the same parameters as with the split products,
// the plan is released, and the user is told once.
func TestEmulatedFusedDenseFailure(t *testing.T) {
	const bs, steps = 8, 4
	v := variants[2]
	if v.dense != denseTimed {
		t.Fatalf("variants[2] is %q, not one in the timed dense mode", v.name)
	}
	params := func(tr *emuTraining) []float32 {
		t.Helper()
		p := make([]float32, tr.m.P.Len())
		if err := tr.e.Read(tr.m.P, 0, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	split := newEmuTraining(t, v, bs, steps)
	split.g.noFused = map[cu.Epilogue]bool{cu.EpilogueBias: true, cu.EpilogueReLUBias: true, cu.EpilogueBiasGradA: true}
	for range steps {
		split.step()
	}
	want := params(split)
	defer func(f func(string, ...any)) { warnf = f }(warnf)
	for _, c := range []struct {
		call string
		at   int
	}{
		{"cublasLtMatmulAlgoGetHeuristic", 1}, // dense1's forward product
		{"cublasLtMatmulAlgoGetHeuristic", 2}, // its weight gradient's
		{"cublasLtMatmul", 1},                 // the forward's first algorithm, first run
		{"cublasLtMatmul", 2},                 // its second algorithm
	} {
		t.Run(fmt.Sprintf("%s %d", c.call, c.at), func(t *testing.T) {
			var warned []string
			warnf = func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }
			fusedWarned.Store(false)
			tr := newEmuTraining(t, v, bs, steps)
			tr.g.fault = emuFault{faultLibrary, c.at, c.call, false}
			for range steps {
				tr.step()
			}
			if tr.g.fired == nil {
				t.Fatalf("the fault at %s call %d was not reached", c.call, c.at)
			}
			if tr.e.fusedDrops != 1 {
				t.Errorf("%d products dropped, want 1", tr.e.fusedDrops)
			}
			if len(warned) != 1 || !strings.Contains(warned[0], c.call) || !strings.Contains(warned[0], "runs on cuBLAS instead") || !strings.Contains(warned[0], "hint: ") {
				t.Errorf("warnings %q: want one naming %s, what runs instead, and a hint", warned, c.call)
			}
			// The other products still fuse where they timed faster;
			// whichever way, the emulated products compute the same bits.
			got := params(tr)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("parameter %d after %d steps: %g, the split products' %g", i, steps, got[i], want[i])
				}
			}
		})
	}
}

// TestLostAlternativeNotRemembered: where one alternative of a direction
// fails to record (here an out-of-memory error instantiating the first
// alternative's graph), the process settles that direction without it and
// does not remember it as timed; the next process times it again (and,
// the fused products being the faster here, fuses it), and remembers it.
func TestLostAlternativeNotRemembered(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const bs, steps = 8, 30
	path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
	t.Cleanup(forgetStores)
	run := func(f emuFault) *emuTraining {
		forgetStores()
		tr := newEmuTraining(t, variants[0], bs, steps)
		tr.g.alternatives = [3][]int{}
		tr.g.gemmAlgos = 1
		tr.g.fault = f
		// The split products slower: fused wins wherever it is timed.
		tr.g.delay = map[string]time.Duration{"bias_act": 20 * time.Millisecond, "bias_grad": 20 * time.Millisecond}
		tr.e.choices, tr.e.identity = openChoices(path), tr.g.Identity()
		for range steps {
			tr.step()
		}
		if tr.e.Tuning() {
			t.Fatal("still timing after all the steps")
		}
		return tr
	}
	fusedEntries := func() (tuned int, keys []string) {
		for k, c := range readDoc(t, path).Entries {
			if strings.Contains(k, "fused on cuBLASLt") {
				keys = append(keys, k)
				if c.Tuned && c.Own {
					tuned++
				}
			}
		}
		return tuned, keys
	}
	first := run(emuFault{kind: faultGraph, at: 2})
	if first.g.fired == nil || first.g.firedIn != 2 {
		t.Fatalf("the fault fired at %v in recording %d, want the first alternative's (recording 2)", first.g.fired, first.g.firedIn)
	}
	if n, keys := fusedEntries(); n != 3 || len(keys) != 3 {
		t.Fatalf("after the lost alternative: %d of %d dense entries remembered fused, want 3 of 3 (the lost direction not remembered):\n%s", n, len(keys), strings.Join(keys, "\n"))
	}
	second := run(emuFault{})
	if n, keys := fusedEntries(); n != 4 {
		t.Errorf("after a clean process: %d of %d dense entries remembered fused, want 4 (the lost one timed again):\n%s", n, len(keys), strings.Join(keys, "\n"))
	}
	if len(second.e.fusedOn) != 4 {
		t.Errorf("the clean process fuses %d dense directions, want 4", len(second.e.fusedOn))
	}
}
