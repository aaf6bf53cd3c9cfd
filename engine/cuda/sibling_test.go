//go:build cgo && !windows

// sibling_test.go: an occasional batch (an epoch's last) takes the
// choices the training's batch settled by timing in place (sibling.go)
// instead of timing its own, which it never finished: one recording, no
// alternatives, the same cuDNN algorithms, our kernels and cuBLASLt
// algorithms as the full batch; not remembered as settled (a second
// process takes them again, searching nothing); where its plans do not
// offer them, its own plans' first choices, still untimed. A batch size not marked
// occasional, no longer marked, or whose training batch is still being
// timed, times its own.

package cuda

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

func siblingConv2(n int) engine.ConvShape {
	return engine.ConvShape{N: n, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1}
}

func siblingDense1(n, dir int) planDir {
	return denseDir(engine.DenseShape{N: n, In: 64 * 7 * 7, Out: 1000}, dir)
}

// siblingSlow slows the emulated ops so that each direction's winner at
// the full batch differs from its first candidate: conv2's forward on
// cuDNN's algorithm 1, its data gradient on our kernel, its filter
// gradient on cuDNN's algorithm 2; dense1's products fused with
// cuBLASLt's algorithm 1.
func siblingSlow() map[string]time.Duration {
	slow := map[string]time.Duration{}
	for _, k := range []string{"convolution forward algorithm 0", "conv3_pool", "convolution backward data",
		"convolution backward filter algorithm 0", "convolution backward filter algorithm 1", "conv3_filter", "cublasSgemm"} {
		slow[k] = 20 * time.Millisecond
	}
	slow["cublasLtMatmul"] = 10 * time.Millisecond
	return slow
}

func TestSiblingBatchAdopts(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const bs, part, steps = 8, 4, 60
	conv2, dense1, slow := siblingConv2, siblingDense1, siblingSlow()
	path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
	t.Cleanup(forgetStores)
	process := func(which string) *emuTraining {
		t.Helper()
		forgetStores()
		tr := newEmuTraining(t, variants[2], bs, steps+3)
		tr.g.delay = slow
		tr.e.choices, tr.e.identity = openChoices(path), tr.g.Identity()
		for i := 0; i < steps && (i < 3 || tr.e.Tuning()); i++ {
			tr.step()
		}
		if tr.e.Tuning() {
			t.Fatalf("%s: the full batch still timing after %d steps", which, steps)
		}
		captures := tr.g.captures
		// As Trainer.Run marks its last batch; then its warm-up,
		// recording and a replay.
		tr.e.SetOccasional(bs, part)
		for range 3 {
			if err := tr.tryN(part); err != nil {
				t.Fatal(err)
			}
		}
		if tr.e.Tuning() || tr.g.captures != captures+1 {
			t.Errorf("%s: the batch of %d: timing %v, %d recordings; want no timing and one recording", which, part, tr.e.Tuning(), tr.g.captures-captures)
		}
		e := tr.e
		for d := range 3 {
			full, small := planDir{conv2(bs), d}, planDir{conv2(part), d}
			if !e.settled[small] {
				t.Errorf("%s: conv2's %s at batch %d not settled", which, dirNames[d], part)
			}
			if a, b := e.conv3(full.s, d) > 0, e.conv3(small.s, d) > 0; a != b || a != (d == dirData) {
				t.Errorf("%s: conv2's %s on our kernel: batch %d %v, batch %d %v; want both %v", which, dirNames[d], bs, a, part, b, d == dirData)
			}
			if want := [3]int{1, 0, 2}[d]; d != dirData && (e.convs[full.s].Algo(d) != want || e.convs[small.s].Algo(d) != want) {
				t.Errorf("%s: conv2's %s algorithm: batch %d %d, batch %d %d; want both %d", which, dirNames[d], bs, e.convs[full.s].Algo(d), part, e.convs[small.s].Algo(d), want)
			}
		}
		for _, d := range []int{dirDenseFwd, dirDenseWeight} {
			full, small := dense1(bs, d), dense1(part, d)
			if !e.fusedOn[full] || !e.fusedOn[small] || e.gemmDir[full].Algo() != 1 || e.gemmDir[small].Algo() != 1 {
				t.Errorf("%s: dense1's %s: batch %d fused %v, batch %d fused %v; want both fused with algorithm 1", which, dirNames[d], bs, e.fusedOn[full], part, e.fusedOn[small])
			}
		}
		return tr
	}
	first := process("first process")
	if first.g.finds == [3]int{} {
		t.Fatal("first process: nothing searched")
	}
	small := 0
	for k, c := range readDoc(t, path).Entries {
		if strings.Contains(k, " | 4x") {
			// The search's result, not a choice a later process
			// would take as settled whatever its batch sizes.
			if c.Tuned {
				t.Errorf("entry %q remembered as settled", k)
			}
			small++
		}
	}
	if small != 3 {
		t.Errorf("%d entries for the batch of %d, want conv2's three directions' search results", small, part)
	}
	second := process("second process")
	if second.g.finds != [3]int{} {
		t.Errorf("second process: searches %v, want none", second.g.finds)
	}

	// The run ends (Trainer.Run clears the marks): the same engine then
	// training at that batch size (another configuration of a study)
	// times its own.
	second.e.SetOccasional(0)
	if len(second.e.adopted) > 0 {
		t.Errorf("after the marks are cleared: %d directions still take another batch size's choices", len(second.e.adopted))
	}
	for range 2 {
		if err := second.tryN(part); err != nil {
			t.Fatal(err)
		}
	}
	if second.e.tuners[part] == nil {
		t.Error("a batch size no longer occasional: not timed in place")
	}

	// fresh is a process with its own empty store whose training batch
	// trains the given steps (while timing, with until), then its batch
	// of part warms up and is recorded: whether that one is timed.
	fresh := func(n int, until bool, occasional bool) (*emuTraining, bool) {
		forgetStores()
		tr := newEmuTraining(t, variants[2], bs, steps+3)
		tr.g.delay = slow
		tr.e.choices, tr.e.identity = openChoices(filepath.Join(t.TempDir(), "cnngpu", choicesFile)), tr.g.Identity()
		for i := 0; i < n || until && i < steps && tr.e.Tuning(); i++ {
			tr.step()
		}
		if occasional {
			tr.e.SetOccasional(bs, part)
		}
		for range 2 {
			if err := tr.tryN(part); err != nil {
				t.Fatal(err)
			}
		}
		return tr, tr.e.tuners[part] != nil
	}

	// Not marked occasional: timed as its own.
	if _, timed := fresh(3, true, false); !timed {
		t.Error("a batch size not marked occasional: not timed in place")
	}
	// Occasional, but the training batch still being timed: nothing
	// final to take, so it times its own, with one set of choices from
	// its warm-up to its recording.
	if mid, timed := fresh(4, false, true); len(mid.e.adopted) > 0 || !timed {
		t.Errorf("taken from a batch still being timed: %d directions, timed in place %v; want none, true", len(mid.e.adopted), timed)
	}
}

// TestSiblingChoiceNotOnOffer: where the occasional batch's plans do not
// offer the training batch's choices (cuDNN's close algorithms and
// cuBLASLt's heuristic differ between batch sizes on a real GPU), the
// occasional batch takes its own plans' first choices, still without
// timing them (runs 17–18: every warm run recorded five alternatives of
// the batch of 96 and timed eight of its steps, never finishing), and our
// kernel where the training batch's is ours.
func TestSiblingChoiceNotOnOffer(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const bs, part, steps = 8, 4, 60
	t.Cleanup(forgetStores)
	forgetStores()
	tr := newEmuTraining(t, variants[2], bs, steps+3)
	tr.g.delay = siblingSlow()
	// At the batch of 4: other close algorithms (3, not 1 or 2), other
	// cuBLASLt algorithm IDs.
	tr.g.alternativesAt = map[int][3][]int{part: {{3}, nil, {3}}}
	tr.g.gemmIDsAt = map[int]int{part: 10}
	tr.e.choices, tr.e.identity = openChoices(filepath.Join(t.TempDir(), "cnngpu", choicesFile)), tr.g.Identity()
	for i := 0; i < steps && (i < 3 || tr.e.Tuning()); i++ {
		tr.step()
	}
	if tr.e.Tuning() {
		t.Fatalf("the full batch still timing after %d steps", steps)
	}
	e := tr.e
	if a := e.convs[siblingConv2(bs)].Algo(dirForward); a != 1 {
		t.Fatalf("the full batch's conv2 forward settled on algorithm %d; the test wants 1, which the batch of %d does not offer", a, part)
	}
	captures := tr.g.captures
	e.SetOccasional(bs, part)
	for range 3 {
		if err := tr.tryN(part); err != nil {
			t.Fatal(err)
		}
	}
	if e.Tuning() || tr.g.captures != captures+1 {
		t.Errorf("the batch of %d: timing %v, %d recordings; want no timing and one recording", part, e.Tuning(), tr.g.captures-captures)
	}
	for d := range 3 {
		pd := planDir{siblingConv2(part), d}
		if !e.settled[pd] || !e.adopted[pd] || !e.restored[pd] {
			t.Errorf("conv2's %s at batch %d: settled %v, adopted %v, its workspace the choice's alone %v; want all", dirNames[d], part, e.settled[pd], e.adopted[pd], e.restored[pd])
		}
		if got := e.conv3(pd.s, d) > 0; got != (d == dirData) {
			t.Errorf("conv2's %s at batch %d on our kernel: %v, want %v", dirNames[d], part, got, d == dirData)
		}
		if d != dirData {
			if a := e.convs[pd.s].Algo(d); a != 0 {
				t.Errorf("conv2's %s at batch %d: algorithm %d, want its own search's first, 0", dirNames[d], part, a)
			}
		}
	}
	for _, d := range []int{dirDenseFwd, dirDenseWeight} {
		pd := siblingDense1(part, d)
		if p := e.gemmDir[pd]; !e.settled[pd] || !e.fusedOn[pd] || p == nil || p.Algo() != 0 {
			t.Errorf("dense1's %s at batch %d: settled %v, fused %v, plan %v; want both, with the heuristic's first algorithm", dirNames[d], part, e.settled[pd], e.fusedOn[pd], p)
		}
	}
	// Another batch size to take from, the same partial batch: what was
	// taken from the first is dropped (a study's next configuration).
	e.SetOccasional(2*bs, part)
	if len(e.adopted) > 0 {
		t.Errorf("marks replaced by another batch size to take from: %d directions still adopted", len(e.adopted))
	}
}
