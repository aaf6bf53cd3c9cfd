// progress.go: a study's progress while it runs: which runs are in flight
// and how far each has got, how many are finished, and an estimate of the
// time left: the work left over the work done, times the time taken. Work
// is the cost model's (Spec.Cost), corrected per batch size by how long
// the finished runs of that batch size took against the model (on the CPU,
// for one, a batch-64 run takes about as long as a batch-256 one).

package tune

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Active is a run in flight.
type Active struct {
	Config  Config
	Fold    int // fold (0 for the hold-out)
	Folds   int // spec's folds (0: hold-out)
	Worker  int // which engine runs it
	Engine  string
	Epoch   int // epochs finished
	Epochs  int
	Step    int // steps done in the current epoch
	Steps   int // steps per epoch (0 until the first report)
	Loss    float64
	Acc     float64 // running training accuracy of the current epoch
	Started time.Time
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
	jobs     []job           // the runs this invocation trains
	finished map[job]bool    // those of them finished
	secs     map[int]float64 // per batch size: seconds of finished runs
	model    map[int]float64 // per batch size: their cost
	active   map[int]*Active
	on       func(Status)
}

func newTracker(spec *Spec, done int, jobs []job, on func(Status)) *tracker {
	return &tracker{spec: spec, start: time.Now(), done: done, total: done + len(jobs), jobs: jobs, finished: map[job]bool{},
		secs: map[int]float64{}, model: map[int]float64{}, active: map[int]*Active{}, on: on}
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
	t.active[worker] = &Active{Config: j.c, Fold: j.fold, Folds: t.spec.Folds, Worker: worker, Engine: engineName,
		Epochs: t.spec.Epochs, Started: time.Now()}
	t.notify()
}

// progress records a run's position: epochs finished, and within the
// current epoch step of steps with the running loss and accuracy.
func (t *tracker) progress(worker, epochsDone, step, steps int, loss, acc float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.active[worker]
	if a == nil {
		return
	}
	a.Epoch, a.Step, a.Loss, a.Acc = epochsDone, step, loss, acc
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
	t.finished[j] = true
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

// eta extrapolates the work done so far (finished runs and the finished
// part of those in flight) per second of wall time to the work left.
func (t *tracker) eta() time.Duration {
	var done, total float64
	for _, j := range t.jobs {
		c := t.cost(j.c)
		total += c
		if t.finished[j] {
			done += c
		}
	}
	for _, a := range t.active {
		done += a.Fraction() * t.cost(a.Config)
	}
	el := time.Since(t.start)
	if done <= 0 || el <= 0 || t.done >= t.total {
		return 0
	}
	return time.Duration(float64(el) * max(0, total-done) / done)
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
