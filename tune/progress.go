// progress.go: a study's progress while it runs: which runs are in flight
// (on which engine) and how far each has got, how many are finished, and an
// estimate of the time left. Work is the cost model's (Spec.Cost),
// corrected per batch size by how long the finished runs of that batch
// size took against the model (on the CPU, for one, a batch-64 run takes
// about as long as a batch-256 one). The time left deals the runs left out
// to the engines in the order they start, each to the engine free first, at
// the pace of one run (work over that run's own time, measured with as many
// runs at once as there are engines): with several runs at once per GPU,
// each takes longer than alone, and the last ones run with some engines
// idle, since a run does not split over engines.

package tune

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

// Active is a run in flight.
type Active struct {
	Config Config
	Fold   int    // fold (0 for the hold-out)
	Folds  int    // spec's folds (0: hold-out)
	Worker int    // which engine runs it (Runner.Engines' index)
	Slot   string // that engine's name for the progress (Runner.Slots); "" with one engine
	Engine string
	Epoch  int // epochs finished
	Epochs int
	Step   int // steps done in the current epoch
	Steps  int // steps per epoch (0 until the first report)
	Loss   float64
	Acc    float64 // running training accuracy of the current epoch
	// Validating: the current epoch's steps are done and its validation
	// runs.
	Validating bool
	Started    time.Time
}

// Fraction is how much of the run is done, 0 to 1.
func (a Active) Fraction() float64 {
	f := float64(a.Epoch)
	if a.Steps > 0 {
		f += float64(a.Step) / float64(a.Steps)
	}
	return min(1, f/float64(max(1, a.Epochs)))
}

// Name is the run's label with its fold.
func (a Active) Name() string {
	if a.Folds > 0 {
		return fmt.Sprintf("%s, fold %d/%d", a.Config.Label(), a.Fold+1, a.Folds)
	}
	return a.Config.Label()
}

// Status is a snapshot of a study's progress.
type Status struct {
	Done, Total int           // finished runs of this shard (earlier ones included), and all of them
	Elapsed     time.Duration // since this invocation started
	ETA         time.Duration // estimated time left; 0 when not known yet
	Running     []Active      // in worker order
}

// tracker keeps the status; its methods are safe for concurrent use.
type tracker struct {
	mu       sync.Mutex
	spec     *Spec
	start    time.Time
	done     int
	total    int
	jobs     []job           // the runs this invocation trains, in the order they start
	workers  int             // engines running them at once
	slots    []string        // each engine's name for the progress (may be short)
	started  map[job]bool    // those of jobs started
	finished map[job]float64 // those finished, with their seconds
	secs     map[int]float64 // per batch size: seconds of finished runs
	model    map[int]float64 // per batch size: their cost
	active   map[int]*Active // by worker
	on       func(Status)
}

func newTracker(spec *Spec, done int, jobs []job, workers int, on func(Status)) *tracker {
	return &tracker{spec: spec, start: time.Now(), done: done, total: done + len(jobs), jobs: jobs, workers: max(1, workers),
		started: map[job]bool{}, finished: map[job]float64{}, secs: map[int]float64{}, model: map[int]float64{}, active: map[int]*Active{}, on: on}
}

// modelCost is the cost model's for one round of a configuration.
func (t *tracker) modelCost(c Config) float64 {
	return float64(t.spec.Cost(c)) / float64(t.spec.Rounds())
}

// cost is modelCost corrected by what the finished runs measured: for a
// batch size with finished runs, by how much longer (or shorter) they took
// per unit of cost than all finished runs together.
func (t *tracker) cost(c Config) float64 {
	m := t.modelCost(c)
	if t.model[c.BatchSize] == 0 {
		return m
	}
	var secs, model float64
	for b, s := range t.secs {
		secs, model = secs+s, model+t.model[b]
	}
	if secs <= 0 {
		return m
	}
	return m * (t.secs[c.BatchSize] / t.model[c.BatchSize]) / (secs / model)
}

func (t *tracker) begin(worker int, engineName string, j job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	slot := ""
	if worker < len(t.slots) {
		slot = t.slots[worker]
	}
	t.started[j] = true
	t.active[worker] = &Active{Config: j.c, Fold: j.fold, Folds: t.spec.Folds, Worker: worker, Slot: slot, Engine: engineName,
		Epochs: t.spec.Epochs, Started: time.Now()}
	t.notify()
}

// progress records a run's position: epochs finished, and within the
// current epoch step of steps with the running loss and accuracy.
func (t *tracker) progress(worker int, p engine.Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.active[worker]
	if a == nil {
		return
	}
	a.Epoch, a.Step, a.Loss, a.Acc, a.Validating = p.Epoch, p.Step, p.Loss, p.Acc, p.Validating
	steps := p.Steps
	if steps > 0 {
		a.Steps = steps
	}
	t.notify()
}

// finish ends a run that took seconds and returns the finished count and
// the time left.
func (t *tracker) finish(worker int, j job, seconds float64) (done int, eta time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.active, worker)
	t.done++
	t.started[j] = true
	t.finished[j] = seconds
	if seconds > 0 {
		t.secs[j.c.BatchSize] += seconds
		t.model[j.c.BatchSize] += t.modelCost(j.c)
	}
	t.notify()
	return t.done, t.eta()
}

// drop forgets a run that stopped without finishing.
func (t *tracker) drop(worker int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.active, worker)
}

// eta deals the runs left out to the engines (see the top of this file);
// 0 while there is nothing to go by.
func (t *tracker) eta() time.Duration {
	if t.done >= t.total {
		return 0
	}
	// One run's pace, in work per second of its own time: from the runs
	// finished, else from the finished part of those in flight.
	var work, secs float64
	for _, j := range t.jobs {
		if s, ok := t.finished[j]; ok && s > 0 {
			work += t.cost(j.c)
			secs += s
		}
	}
	if work == 0 {
		for _, a := range t.active {
			work += a.Fraction() * t.cost(a.Config)
			secs += time.Since(a.Started).Seconds()
		}
	}
	if work <= 0 || secs <= 0 {
		return 0
	}
	pace := work / secs
	// Each engine is free once its run in flight has taken the time its
	// cost says (from its start: its reported progress lags, and says
	// nothing of the validation after each epoch); the runs not started
	// go, in order, to the engine free first.
	free := make([]float64, t.workers)
	for w, a := range t.active {
		if w >= 0 && w < len(free) {
			free[w] = max(0, t.cost(a.Config)/pace-time.Since(a.Started).Seconds())
		}
	}
	for _, j := range t.jobs {
		if t.started[j] {
			continue
		}
		i := 0
		for k := range free {
			if free[k] < free[i] {
				i = k
			}
		}
		free[i] += t.cost(j.c) / pace
	}
	return time.Duration(slices.Max(free) * float64(time.Second))
}

func (t *tracker) snapshot() Status {
	s := Status{Done: t.done, Total: t.total, Elapsed: time.Since(t.start), ETA: t.eta()}
	for _, a := range t.active {
		s.Running = append(s.Running, *a)
	}
	slices.SortFunc(s.Running, func(a, b Active) int { return a.Worker - b.Worker })
	return s
}

func (t *tracker) notify() {
	if t.on != nil {
		t.on(t.snapshot())
	}
}

// FormatDuration writes d as 1h02m, 3m05s or 12s.
func FormatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
