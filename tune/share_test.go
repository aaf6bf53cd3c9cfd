// share_test.go: several runs at once. Two CPU engines of one thread each
// give the same results.csv (and every epoch's figures in the runs'
// records) as one engine of two threads, run both engines
// at once, and use one upload of the training images, freed once, after
// the last run; engines are grouped by what they can read of each other;
// and the time left counts that the last runs do not split over engines.

package tune

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
)

// uploads counts what a countingEngine sees of the training images.
type uploads struct {
	mu      sync.Mutex
	allocs  int // uint8 tensors allocated: one per upload
	frees   int
	freedBy []string
	// runsAtFree is how many runs had finished when each was freed.
	runsAtFree []int
	finished   func() int
}

// countingEngine is a CPU engine that counts the uploads of images (the
// only uint8 tensors) and shares with the countingEngines that share is
// true for.
type countingEngine struct {
	*cpu.Engine
	name  string
	n     *uploads
	share bool
}

func (c *countingEngine) Alloc(dt engine.DType, n int) (engine.Tensor, error) {
	if dt == engine.Uint8 {
		c.n.mu.Lock()
		c.n.allocs++
		c.n.mu.Unlock()
	}
	return c.Engine.Alloc(dt, n)
}

func (c *countingEngine) Free(t engine.Tensor) {
	if t.DType() == engine.Uint8 {
		c.n.mu.Lock()
		c.n.frees++
		c.n.freedBy = append(c.n.freedBy, c.name)
		c.n.runsAtFree = append(c.n.runsAtFree, c.n.finished())
		c.n.mu.Unlock()
	}
	c.Engine.Free(t)
}

func (c *countingEngine) SharesWith(o engine.Engine) bool {
	oc, ok := o.(*countingEngine)
	return ok && c.share && oc.share && c.Engine.SharesWith(oc.Engine)
}

func studyWith(t *testing.T, spec *Spec, engines []engine.Engine, onStatus func(Status)) string {
	t.Helper()
	dir := t.TempDir()
	r := &Runner{Spec: spec, Dir: dir, Data: synthetic(300, 50), Engines: engines, Machine: "test machine", OnStatus: onStatus}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRunsAtOnceGiveTheSameResults(t *testing.T) {
	spec := tinySpec() // 4 configurations, 2 epochs
	one := cpu.New(2)
	defer one.Close()
	alone := studyWith(t, spec, []engine.Engine{one}, nil)

	var finished, most int
	workers := map[int]bool{}
	n := &uploads{finished: func() int { return finished }}
	var engines []engine.Engine
	for i := range 2 {
		e := &countingEngine{Engine: cpu.New(1), name: string(rune('a' + i)), n: n, share: true}
		defer e.Close()
		engines = append(engines, e)
	}
	// OnStatus calls do not overlap, and the last one of a run comes
	// before its engine frees anything.
	together := studyWith(t, spec, engines, func(s Status) {
		n.mu.Lock()
		finished = s.Done
		n.mu.Unlock()
		most = max(most, len(s.Running))
		for _, a := range s.Running {
			workers[a.Worker] = true
			if a.Slot != []string{"#1", "#2"}[a.Worker] {
				t.Errorf("run on engine %d shown as %q", a.Worker, a.Slot)
			}
		}
	})
	a := withoutTime(readCSV(t, filepath.Join(alone, ResultsFile)))
	b := withoutTime(readCSV(t, filepath.Join(together, ResultsFile)))
	if len(a) != 5 || !slices.EqualFunc(a, b, slices.Equal) {
		t.Errorf("results with two engines of one thread differ from one engine of two threads:\n%v\n%v", a, b)
	}
	// And every epoch's losses and accuracies in the runs' records, to
	// the last bit.
	for _, c := range spec.Configs() {
		ra, err := LoadRun(RunPath(alone, c, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		rb, err := LoadRun(RunPath(together, c, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if len(ra.Epochs) != spec.Epochs || len(rb.Epochs) != len(ra.Epochs) {
			t.Fatalf("%s: %d and %d epochs recorded", c.Label(), len(ra.Epochs), len(rb.Epochs))
		}
		for i, x := range ra.Epochs {
			y := rb.Epochs[i]
			if x.TrainLoss != y.TrainLoss || x.TrainAcc != y.TrainAcc || x.ValLoss != y.ValLoss || x.ValAcc != y.ValAcc {
				t.Errorf("%s epoch %d: %+v alone, %+v with two engines", c.Label(), i+1, x, y)
			}
		}
	}
	if most != 2 || len(workers) != 2 {
		t.Errorf("at most %d runs in flight at once, on engines %v: want 2, on both", most, workers)
	}
	if n.allocs != 1 || n.frees != 1 || n.freedBy[0] != "a" || n.runsAtFree[0] != 4 {
		t.Errorf("training images: %d uploads, freed %d times by %v after %v of 4 runs; want one upload, freed once by the first engine after the last run",
			n.allocs, n.frees, n.freedBy, n.runsAtFree)
	}

	// Engines that do not share upload once each.
	n2 := &uploads{finished: func() int { return 0 }}
	var apart []engine.Engine
	for i := range 2 {
		e := &countingEngine{Engine: cpu.New(1), name: string(rune('a' + i)), n: n2}
		defer e.Close()
		apart = append(apart, e)
	}
	spec2 := tinySpec()
	spec2.LRs, spec2.Epochs = []float64{0.001}, 1
	studyWith(t, spec2, apart, nil)
	if n2.allocs != 2 || n2.frees != 2 {
		t.Errorf("two engines that do not share: %d uploads, %d frees; want 2 and 2", n2.allocs, n2.frees)
	}
}

// TestRunsAtOnceAtMostTheRunsLeft: with more engines than runs to train
// (--jobs-per-device above the grid's size, or a resumed study), the log
// says how many run at once, not how many engines there are.
func TestRunsAtOnceAtMostTheRunsLeft(t *testing.T) {
	spec := tinySpec()
	spec.LRs, spec.Acts, spec.Epochs = []float64{0.001}, []string{"relu"}, 1 // one run
	var engines []engine.Engine
	for range 3 {
		e := cpu.New(1)
		defer e.Close()
		engines = append(engines, e)
	}
	var log strings.Builder
	r := &Runner{Spec: spec, Dir: t.TempDir(), Data: synthetic(300, 50), Engines: engines, Log: &log}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := log.String(); strings.Contains(s, "3 runs at once") || !strings.Contains(s, "1 run at once, on one copy of the training images (2 of the 3 engines have no run to train)") {
		t.Errorf("one run on three engines:\n%s", s)
	}
}

// device is an engine on a device that shares with those on the same.
type device struct {
	engine.Engine
	id int
}

func (d *device) SharesWith(o engine.Engine) bool {
	x, ok := o.(*device)
	return ok && x.id == d.id
}

func TestShareGroups(t *testing.T) {
	plain := cpuNoShare{cpu.New(1)}
	defer plain.Close()
	es := []engine.Engine{&device{id: 0}, &device{id: 1}, &device{id: 0}, plain, &device{id: 1}, &device{id: 0}}
	g := group(es)
	if len(g.groups) != 3 {
		t.Fatalf("%d groups, want 3 (device 0, device 1, the engine that shares with none)", len(g.groups))
	}
	want := []int{0, 1, 0, 2, 1, 0}
	for i, w := range want {
		if g.of[i] != g.groups[w] {
			t.Errorf("engine %d in group %d, want %d", i, slices.Index(g.groups, g.of[i]), w)
		}
	}
	if g.groups[0].owner != es[0] || len(g.groups[0].members) != 3 || g.groups[1].owner != es[1] {
		t.Errorf("groups %+v", g.groups)
	}
	// The CPU engine shares with CPU engines only.
	c1, c2 := cpu.New(1), cpu.New(1)
	defer c1.Close()
	defer c2.Close()
	if !engine.Shares(c1, c2) || engine.Shares(c1, es[0]) || !engine.Shares(es[0], es[0]) || engine.Shares(plain, c1) {
		t.Error("engine.Shares")
	}
}

// cpuNoShare is a CPU engine that does not say it shares: only the
// Engine interface's methods are promoted.
type cpuNoShare struct{ engine.Engine }

// TestTrackerETAConcurrent: with four engines, after four runs of 10 s
// that ran at once, the one run left takes another 10 s on one engine (the
// study's pace, work over wall time, would say 2.5 s); with runs in
// flight, an engine takes the next run when its own is done, by its start
// rather than its last report.
func TestTrackerETAConcurrent(t *testing.T) {
	spec := tinySpec()
	spec.LRs = []float64{0.001, 0.002, 0.003, 0.004, 0.005} // 10 runs of equal cost
	var jobs []job
	for _, c := range spec.Configs() {
		jobs = append(jobs, job{c: c})
	}
	jobs = jobs[:5]
	tr := newTracker(spec, 0, jobs, 4, nil)
	tr.start = time.Now().Add(-10 * time.Second)
	for w := range 4 {
		tr.begin(w, "cpu", jobs[w])
	}
	for w := range 4 {
		tr.finish(w, jobs[w], 10)
	}
	if eta := tr.eta(); eta < 9*time.Second || eta > 11*time.Second {
		t.Errorf("four runs of 10 s at once in 10 s, one left on four engines: ETA %v, want about 10 s", eta)
	}

	// Two engines, four runs: two in flight, half done after 5 s.
	jobs = jobs[:4]
	tr = newTracker(spec, 0, jobs, 2, nil)
	tr.start = time.Now().Add(-5 * time.Second)
	for w := range 2 {
		tr.begin(w, "cpu", jobs[w])
		tr.active[w].Started = tr.start
		tr.progress(w, engine.Progress{Epoch: 1, Loss: 0.5, Acc: 0.9}) // 1 of 2 epochs
	}
	// 5 s for the ones in flight, then 10 s for the next two at once.
	if eta := tr.eta(); eta < 14*time.Second || eta > 16*time.Second {
		t.Errorf("two of four runs half done at once in 5 s: ETA %v, want about 15 s", eta)
	}

	// One engine: a run of 10 s done, the next in flight for 8 s with no
	// progress reported (its first epoch's validation, say): 2 s left,
	// then 10 s for the last.
	jobs = jobs[:3]
	tr = newTracker(spec, 0, jobs, 1, nil)
	tr.finish(0, jobs[0], 10)
	tr.begin(0, "cpu", jobs[1])
	tr.active[0].Started = time.Now().Add(-8 * time.Second)
	if eta := tr.eta(); eta < 11*time.Second || eta > 13*time.Second {
		t.Errorf("one run of 10 s done, the next 8 s in, one to go: ETA %v, want about 12 s", eta)
	}
}
