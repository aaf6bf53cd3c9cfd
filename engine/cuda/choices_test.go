//go:build cgo && !windows

// choices_test.go: cuDNN's choices remembered between processes
// (choices.go), on the emulated device: a second engine with the same
// file neither searches nor times in place and trains the same; an entry
// whose checksum fails, a file that does not parse, and an entry the
// library refuses now are each ignored and rewritten by a new search; and
// CNNGPU_NO_CACHE=1 turns the store off.

package cuda

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
)

// rememberedRun trains steps steps of batch 8 in the plain library
// variant with the choices in file path, and returns the emulated device,
// whether the engine was still timing recordings in place after the
// recording step (the third: the model's first step allocates, which drops what the engine knew), and the model's parameters after training.
func rememberedRun(t *testing.T, path string, steps int) (*emuGPU, bool, []float32) {
	t.Helper()
	tr, tuning := trainRemembered(t, variants[0], 8, steps, path, nil)
	params, err := tr.m.Params()
	if err != nil {
		t.Fatal(err)
	}
	return tr.g, tuning, params
}

// trainRemembered trains steps steps of bs in variant v with the choices
// in file path (delay, when not nil, slowing the emulated device's ops,
// emuGPU.delay), and says whether the engine was timing recordings in
// place after the recording step.
func trainRemembered(t *testing.T, v variant, bs, steps int, path string, delay map[string]time.Duration) (*emuTraining, bool) {
	t.Helper()
	tr := newEmuTraining(t, v, bs, steps)
	tr.g.delay = delay
	tr.e.choices, tr.e.identity = openChoices(path), tr.g.Identity()
	tuning := false
	for i := range steps {
		tr.step()
		if i == 2 {
			tuning = tr.e.Tuning()
		}
	}
	return tr, tuning
}

// trainSlowed is trainRemembered with each op named in slow delayed 20 ms
// on the emulated clock (the timing in place then finds it slower); it
// fails t when recordings are still being timed at the end.
func trainSlowed(t *testing.T, v variant, bs, steps int, path string, slow []string) (*emuTraining, bool) {
	t.Helper()
	delay := map[string]time.Duration{}
	for _, k := range slow {
		delay[k] = 20 * time.Millisecond
	}
	tr, tuning := trainRemembered(t, v, bs, steps, path, delay)
	if tr.e.Tuning() {
		t.Fatalf("still timing recordings after %d steps", steps)
	}
	return tr, tuning
}

// forgetStores drops the process's stores, as a new process starts.
func forgetStores() {
	storesMu.Lock()
	clear(stores)
	storesMu.Unlock()
}

func readDoc(t *testing.T, path string) choicesDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc choicesDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

func TestRememberedChoices(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	// Enough steps for the in-place timing of every recording to end
	// (2 + 3 + 2 + 3 recordings for the convolutions' four directions,
	// then 3 for each of the two dense layers' two products, 2 rounds
	// each).
	const steps = 50
	path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
	t.Cleanup(forgetStores)

	forgetStores()
	g1, tuning1, p1 := rememberedRun(t, path, steps)
	searched := g1.finds[0] + g1.finds[1] + g1.finds[2]
	if searched == 0 || g1.restores != [3]int{} {
		t.Fatalf("first run: searches %v, restores %v; want searches and no restores", g1.finds, g1.restores)
	}
	if !tuning1 {
		t.Fatal("first run: no in-place timing after the recording; the emulated alternatives should have started one")
	}
	doc := readDoc(t, path)
	// With the library kernel set both dense layers' products can fuse:
	// four dense directions, remembered with no search of their own.
	const dense = 4
	if len(doc.Entries) != searched+dense {
		t.Fatalf("the file has %d entries, want one per direction searched (%d) and %d for the dense products", len(doc.Entries), searched, dense)
	}
	for k, c := range doc.Entries {
		if !c.Tuned || !strings.HasPrefix(k, "emulated GPU | ") || (len(c.Timed) == 0) != strings.Contains(k, "fused on cuBLASLt") {
			t.Errorf("entry %q = %+v: want it settled by the in-place timing, keyed by the device, with cuDNN's timings for a convolution", k, c)
		}
	}

	// A new process: nothing searched, nothing timed, the same training.
	forgetStores()
	g2, tuning2, p2 := rememberedRun(t, path, steps)
	if g2.finds != [3]int{} || g2.restores != g1.finds {
		t.Errorf("second run: searches %v, restores %v; want none and %v", g2.finds, g2.restores, g1.finds)
	}
	if tuning2 {
		t.Error("second run: recordings timed in place again although every choice was settled")
	}
	if !slices.Equal(p1, p2) {
		t.Error("second run: trained parameters differ from the first run's")
	}

	// An entry changed by hand fails its checksum: searched again, and
	// rewritten with a valid checksum.
	var tampered string
	for k, c := range doc.Entries {
		if len(c.Timed) == 0 {
			continue // a dense product's: no algorithm to change
		}
		// Any alternative but the one chosen: which one the in-place
		// timing chose depends on the machine's load (CI once chose
		// the last listed in every entry).
		i := slices.IndexFunc(c.Timed, func(a cudnn.AlgoTime) bool { return a.Algo != c.Algo })
		if i < 0 {
			continue
		}
		c.Algo = c.Timed[i].Algo
		doc.Entries[k] = c
		tampered = k
		break
	}
	if tampered == "" {
		t.Fatal("no entry with an alternative to tamper with")
	}
	writeDoc(t, path, doc)
	forgetStores()
	g3, _, _ := rememberedRun(t, path, steps)
	if n := g3.finds[0] + g3.finds[1] + g3.finds[2]; n != 1 {
		t.Errorf("after tampering with one entry: %d searches (%v), want 1", n, g3.finds)
	}
	if c := readDoc(t, path).Entries[tampered]; c.Sum != c.sum(tampered) {
		t.Error("the tampered entry was not rewritten")
	}

	// An entry with a valid checksum that the library refuses now (an
	// algorithm this direction does not have: another cuDNN) is searched
	// again and rewritten.
	doc = readDoc(t, path)
	var stale string
	for k, c := range doc.Entries {
		if len(c.Timed) == 0 {
			continue // a dense product's: nothing for cuDNN to refuse
		}
		c.Timed = append(slices.Clone(c.Timed), cudnn.AlgoTime{Algo: 7, MS: 9, Memory: emuWorkspace, Math: cudnn.MathFMA})
		c.Sum = c.sum(k)
		doc.Entries[k], stale = c, k
		break
	}
	writeDoc(t, path, doc)
	forgetStores()
	g4, _, p4 := rememberedRun(t, path, steps)
	if n := g4.finds[0] + g4.finds[1] + g4.finds[2]; n != 1 {
		t.Errorf("after a refused entry: %d searches (%v), want 1", n, g4.finds)
	}
	if slices.ContainsFunc(readDoc(t, path).Entries[stale].Timed, func(a cudnn.AlgoTime) bool { return a.Algo == 7 }) {
		t.Error("the refused entry was not rewritten")
	}
	if !slices.Equal(p1, p4) {
		t.Error("after a refused entry: trained parameters differ from the first run's")
	}

	// A file that does not parse: everything searched again, the file
	// rewritten whole.
	if err := os.WriteFile(path, []byte(`{"format": 1, "entries": {`), 0o644); err != nil {
		t.Fatal(err)
	}
	forgetStores()
	g5, _, _ := rememberedRun(t, path, steps)
	if g5.finds != g1.finds {
		t.Errorf("after a corrupt file: searches %v, want %v", g5.finds, g1.finds)
	}
	if n := len(readDoc(t, path).Entries); n != searched+dense {
		t.Errorf("after a corrupt file: %d entries rewritten, want %d", n, searched+dense)
	}
}

func writeDoc(t *testing.T, path string, doc choicesDoc) {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestChoicesEnv(t *testing.T) {
	t.Cleanup(forgetStores)
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv(NoCacheEnv, "1")
	if s := choicesFromEnv(); s != nil {
		t.Errorf("%s=1: the store is %s, want none", NoCacheEnv, s.path)
	}
	t.Setenv(NoCacheEnv, "")
	s := choicesFromEnv()
	if want := filepath.Join(dir, "cnngpu", choicesFile); s == nil || s.path != want {
		t.Fatalf("store %v, want one at %s", s, want)
	}
	if openChoices(s.path) != s {
		t.Error("a second engine of the process does not share the store")
	}

	// A folder that cannot be made (a file is in the way, which holds
	// for root too): one warning, training goes on.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var warned []string
	defer func(f func(string, ...any)) { warnf = f }(warnf)
	warnf = func(format string, a ...any) { warned = append(warned, format) }
	w := openChoices(filepath.Join(blocker, "cnngpu", choicesFile))
	c := dirChoice{Timed: []cudnn.AlgoTime{{Algo: 1, MS: 1, Math: cudnn.MathFMA}}, Algo: 1}
	w.put("a", c)
	c.Algo = 0
	c.Timed = append(c.Timed, cudnn.AlgoTime{Algo: 0, MS: 2, Math: cudnn.MathFMA})
	w.put("b", c)
	if len(warned) != 1 {
		t.Errorf("%d warnings for an unwritable folder, want 1", len(warned))
	}
	if _, ok := w.get("b"); !ok {
		t.Error("an entry not written is not kept in memory for this process")
	}
}

// TestChoicesTwoProcesses: two stores on one file, as two processes: a
// write keeps the entries the other wrote since this one read the file
// (not its own stale copies of them), and the file keeps at most
// maxChoices entries.
func TestChoicesTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), choicesFile)
	proc := func() *choiceStore {
		return &choiceStore{path: path, entries: readChoices(path), mine: map[string]bool{}}
	}
	timed := []cudnn.AlgoTime{{Algo: 1, MS: 1, Math: cudnn.MathFMA}, {Algo: 0, MS: 1.1, Math: cudnn.MathFMA}}
	first := proc()
	first.put("k", dirChoice{Timed: timed, Algo: 1})
	a, b := proc(), proc() // both read k, not tuned
	b.put("k", dirChoice{Timed: timed, Algo: 0, Tuned: true})
	a.put("other", dirChoice{Timed: timed, Algo: 1})
	doc := readChoices(path)
	if c := doc["k"]; !c.Tuned || c.Algo != 0 {
		t.Errorf("after another process's write: k = %+v, want the tuned entry the other wrote", c)
	}
	if _, ok := doc["other"]; !ok {
		t.Error("this process's own entry is not in the file")
	}
	if c, _ := a.get("k"); !c.Tuned {
		t.Error("the other process's newer entry is not this one's to use after a write")
	}
	for i := range maxChoices + 20 {
		a.put(fmt.Sprintf("key %04d", i), dirChoice{Timed: timed, Algo: 1})
	}
	if n := len(readChoices(path)); n != maxChoices {
		t.Errorf("%d entries in the file, want at most %d", n, maxChoices)
	}
}

// ownConvKernels are our conv3 kernels, one a direction.
var ownConvKernels = []string{"conv3_pool", "conv3_data", "conv3_filter"}

// TestRememberedOwnConvolution: with ConvEnv "timed" the in-place timing
// keeps our conv3 kernels for conv2's forward pass, data and filter
// gradients where they are the faster (cuDNN's calls slowed on the emulated device)
// and cuDNN's where they are the slower; the choice goes into the file
// with cuDNN's, and a new process runs the same kernels with no search and
// no timing.
func TestRememberedOwnConvolution(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const bs, steps = 8, 34 // 2 warm-ups, then (3 + 2 + 4) recordings and dense1's (3 + 3) timed 2 steps each
	conv2 := engine.ConvShape{N: bs, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1}
	for _, c := range []struct {
		name string
		slow []string
		own  bool
	}{
		{"ours faster", []string{"convolution forward", "convolution backward data", "convolution backward filter"}, true},
		{"cuDNN faster", []string{"conv3_pool", "conv3_data", "conv3_filter"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
			t.Cleanup(forgetStores)
			run := func() (*emuTraining, bool) { return trainSlowed(t, variants[2], bs, steps, path, c.slow) }
			check := func(which string, tr *emuTraining) {
				t.Helper()
				for _, d := range []int{dirForward, dirData, dirFilter} {
					if got := tr.e.conv3(conv2, d) > 0; got != c.own {
						t.Errorf("%s: conv2's %s on our kernel: %v, want %v", which, dirNames[d], got, c.own)
					}
				}
			}
			forgetStores()
			tr1, tuning1 := run()
			if !tuning1 {
				t.Fatal("first run: no in-place timing after the recording")
			}
			check("first run", tr1)
			for _, k := range ownConvKernels {
				if tr1.g.launched[k] == 0 {
					t.Errorf("first run: %s never ran: never timed", k)
				}
			}
			owns := 0
			for k, e := range readDoc(t, path).Entries {
				if e.Own {
					owns++
					if !strings.Contains(k, "8x32x14x14") {
						t.Errorf("entry %q says our kernel runs it", k)
					}
				}
			}
			if want := map[bool]int{true: 3, false: 0}[c.own]; owns != want {
				t.Errorf("%d entries say our kernel, want %d", owns, want)
			}

			forgetStores()
			tr2, tuning2 := run()
			if tuning2 || tr2.g.finds != [3]int{} {
				t.Errorf("second run: timing in place %v, searches %v; want neither", tuning2, tr2.g.finds)
			}
			check("second run", tr2)
			for _, k := range ownConvKernels {
				if ran := tr2.g.launched[k] > 0; ran != c.own {
					t.Errorf("second run: %s ran %d times; want it run: %v", k, tr2.g.launched[k], c.own)
				}
			}
		})
	}
}

// TestChoicesNoCacheFolder: a cache folder that cannot be found (here
// $XDG_CACHE_HOME names a file) is said once, and the engine goes on
// without remembering.
func TestChoicesNoCacheFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	t.Setenv("XDG_CACHE_HOME", file)
	t.Setenv(NoCacheEnv, "")
	var warned []string
	defer func(f func(string, ...any)) { warnf = f }(warnf)
	warnf = func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }
	rootWarned = sync.Once{}
	for range 2 {
		if s := choicesFromEnv(); s != nil {
			t.Fatalf("a store at %s", s.path)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "$XDG_CACHE_HOME ("+file+") is a file") {
		t.Errorf("warnings %q, want one naming $XDG_CACHE_HOME", warned)
	}
}

// TestRestoredChoiceSizesItsOwnWorkspace: a process that restores
// directions settled by an earlier one's timing sizes the workspace for
// the algorithms kept, not for alternatives it will never time (which
// the first process needed room for).
func TestRestoredChoiceSizesItsOwnWorkspace(t *testing.T) {
	defer func(n int) { tuneRounds = n }(tuneRounds)
	tuneRounds = 2
	const bs, steps, altMem = 8, 50, 8 << 20
	path := filepath.Join(t.TempDir(), "cnngpu", choicesFile)
	t.Cleanup(forgetStores)
	run := func() *emuTraining {
		tr := newEmuTraining(t, variants[0], bs, steps)
		// The alternatives the slower: the timing keeps algorithm 0,
		// which needs the emulated cuDNN's 4 KB.
		tr.g.alternatives = [3][]int{{1}, {1}, {1}}
		tr.g.altMemory = [3]int{altMem, altMem, altMem}
		tr.g.delay = map[string]time.Duration{"convolution forward algorithm 1": 20 * time.Millisecond,
			"convolution backward data algorithm 1": 20 * time.Millisecond, "convolution backward filter algorithm 1": 20 * time.Millisecond}
		tr.e.choices, tr.e.identity = openChoices(path), tr.g.Identity()
		for range steps {
			tr.step()
		}
		if tr.e.Tuning() {
			t.Fatalf("still timing recordings after %d steps", steps)
		}
		return tr
	}
	forgetStores()
	first := run()
	if ws := max(first.e.ws.bytes, first.e.wsLane.bytes); ws < altMem {
		t.Fatalf("first process: workspace %d bytes, want room for the alternatives' %d", ws, altMem)
	}
	forgetStores()
	second := run()
	if len(second.e.restored) == 0 {
		t.Fatal("second process: nothing restored as settled")
	}
	need := 0
	for _, cv := range second.e.convs {
		for _, d := range []int{dirForward, dirData, dirFilter} {
			if cv.Prepared(d) {
				need = max(need, cv.Required(d))
			}
		}
	}
	if need >= altMem {
		t.Fatalf("a direction kept an alternative (%d bytes): the test cannot tell the workspaces apart", need)
	}
	if ws := max(second.e.ws.bytes, second.e.wsLane.bytes); ws > need {
		t.Errorf("second process: workspace %d bytes, want the kept algorithms' %d (the alternatives need %d)", ws, need, altMem)
	}
}
