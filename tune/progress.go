// progress.go: a study's progress while it runs: which runs are in flight
// and how far each has got, how many are finished, and an estimate of the
// time left from the cost model (Spec.Cost) and the rate measured so far.

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
	mu        sync.Mutex
	spec      *Spec
	start     time.Time
	done      int
	total     int
	costTotal float64 // of the runs this invocation trains
	costDone  float64 // of those finished
	active    map[int]*Active
	on        func(Status)
}

func newTracker(spec *Spec, done int, jobs []job, on func(Status)) *tracker {
	t := &tracker{spec: spec, start: time.Now(), done: done, total: done + len(jobs), active: map[int]*Active{}, on: on}
	for _, j := range jobs {
		t.costTotal += t.cost(j)
	}
	return t
}

// cost of one round of a configuration.
func (t *tracker) cost(j job) float64 {
	return float64(t.spec.Cost(j.c)) / float64(t.spec.Rounds())
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

// finish ends a run and returns the finished count and the time left.
func (t *tracker) finish(worker int, j job) (done int, eta time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.active, worker)
	t.done++
	t.costDone += t.cost(j)
	t.notify()
	return t.done, t.eta()
}

// drop forgets a run that stopped without finishing.
func (t *tracker) drop(worker int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.active, worker)
}

// eta extrapolates the cost done so far (finished runs and the finished
// part of those in flight) per second of wall time to the cost left.
func (t *tracker) eta() time.Duration {
	done := t.costDone
	for _, a := range t.active {
		done += a.Fraction() * t.cost(job{c: a.Config})
	}
	el := time.Since(t.start)
	if done <= 0 || el <= 0 || t.done >= t.total {
		return 0
	}
	left := max(0, t.costTotal-done)
	return time.Duration(float64(el) * left / done)
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
