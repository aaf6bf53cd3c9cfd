// estimate.go: a dry run's estimate of how long a shard's runs left take,
// from step times: those of the runs finished in the study's folder where
// there are any, else those the caller timed on the engine the run would
// use. Runs are dealt to the engines in the order they start, each to the
// engine free first, as the run's own estimate of the time left does.

package tune

import (
	"math"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

// StepTimes is the pace of runs on one engine, each run alone on it.
type StepTimes struct {
	// Train: the seconds of one training step, by batch size. A batch
	// size of the grid missing here is worked out from the others by the
	// cost model (see StepOverhead).
	Train map[int]float64
	// Eval: the seconds of validating one image.
	Eval float64
	// Run: the seconds a run takes besides its epochs' training and
	// validation (setting it up, writing its record).
	Run float64
}

// Plan is a dry run's estimate of its time.
type Plan struct {
	// Runs: the runs of the shard not finished in the folder; Left: their
	// time, dealt to the engines.
	Runs int
	Left time.Duration
	// Final: the final retraining's time, and its test's, at each batch
	// size of the grid (which one comes out best is not known before);
	// FinalMin, FinalMax: the least and the most of them.
	Final              map[int]time.Duration
	FinalMin, FinalMax time.Duration
}

// Counts are the images a study's runs see: each run's training and
// validation images an epoch (the largest round's), the final
// retraining's training images and its test's.
type Counts struct{ Train, Val, Final, Test int }

// MNISTCounts are a study's Counts on MNIST.
func (s *Spec) MNISTCounts() Counts {
	return Counts{s.TrainImages(), s.ValImages(MNISTTrain), s.FinalImages(), MNISTTest}
}

// ValImages is the number of images a run validates on after each epoch,
// of a training set of n.
func (s *Spec) ValImages(n int) int {
	if s.Folds > 0 {
		return n / s.Folds
	}
	return int(math.Round(s.ValSplit * float64(n)))
}

// FinishedTimes is the pace of the runs of the shard finished in dir,
// and how many runs it comes from: (nil, 0) where none is finished. Each
// was timed with as many runs at once as that study had engines.
func (s *Spec) FinishedTimes(dir string, n Counts) (*StepTimes, int, error) {
	secs, steps := map[int]float64{}, map[int]int{}
	var val, other float64
	var valImages, runs int
	for _, c := range s.Mine() {
		for k := 0; k < s.Rounds(); k++ {
			r, err := LoadRunOf(dir, s, c, k)
			if err != nil {
				return nil, 0, err
			}
			if r == nil || !r.Done || len(r.Epochs) == 0 {
				continue
			}
			var trained float64
			for _, e := range r.Epochs {
				trained += e.Seconds
			}
			if trained <= 0 {
				continue // no time recorded: no pace
			}
			runs++
			// A record from before the validation's time was kept (no
			// val_seconds): what its run took besides its epochs'
			// training is taken as its validation.
			old := true
			for _, e := range r.Epochs {
				old = old && e.ValSeconds == 0
			}
			rest := r.Seconds
			for _, e := range r.Epochs {
				secs[c.BatchSize] += e.Seconds
				steps[c.BatchSize] += engine.StepsPerEpoch(e.Images, c.BatchSize)
				val += e.ValSeconds
				valImages += n.Val
				rest -= e.Seconds + e.ValSeconds
			}
			if old && n.Val > 0 {
				val += max(0, rest)
			} else {
				other += rest
			}
		}
	}
	if runs == 0 {
		return nil, 0, nil
	}
	st := &StepTimes{Train: map[int]float64{}, Run: max(0, other/float64(runs))}
	for b, k := range steps {
		if k > 0 {
			st.Train[b] = secs[b] / float64(k)
		}
	}
	if valImages > 0 {
		st.Eval = val / float64(valImages)
	}
	return st, runs, nil
}

// step is a training step's seconds at batch size b: st's, else worked
// out by the cost model from the batch sizes st has.
func (st *StepTimes) step(b int) float64 {
	if t, ok := st.Train[b]; ok {
		return t
	}
	var secs, cost float64
	for ob, t := range st.Train {
		secs, cost = secs+t, cost+float64(StepOverhead+ob)
	}
	if cost == 0 {
		return 0
	}
	return secs / cost * float64(StepOverhead+b)
}

// PlanTime estimates the time of the shard's runs not finished in dir,
// on engines engines at once, at st's pace, each seeing n's images, and
// of the final retraining at final's pace (its engine's, which may have
// more threads than each of the runs').
func (s *Spec) PlanTime(dir string, engines int, st, final *StepTimes, n Counts) (Plan, error) {
	var p Plan
	free := make([]float64, max(1, engines))
	for _, c := range s.Mine() {
		for k := 0; k < s.Rounds(); k++ {
			r, err := LoadRunOf(dir, s, c, k)
			if err != nil {
				return Plan{}, err
			}
			if r != nil && r.Done {
				continue
			}
			p.Runs++
			run := st.Run + float64(s.Epochs)*(float64(engine.StepsPerEpoch(n.Train, c.BatchSize))*st.step(c.BatchSize)+float64(n.Val)*st.Eval)
			i := 0 // the engine free first
			for w := range free {
				if free[w] < free[i] {
					i = w
				}
			}
			free[i] += run
		}
	}
	for _, f := range free {
		p.Left = max(p.Left, seconds(f))
	}
	p.Final = map[int]time.Duration{}
	for i, b := range s.BatchSizes {
		// The retraining validates on nothing: its epochs, then the test.
		f := seconds(final.Run + float64(s.Epochs*engine.StepsPerEpoch(n.Final, b))*final.step(b) + float64(n.Test)*final.Eval)
		p.Final[b] = f
		if i == 0 || f < p.FinalMin {
			p.FinalMin = f
		}
		p.FinalMax = max(p.FinalMax, f)
	}
	return p, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
