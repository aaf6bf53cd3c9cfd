// tuneplan.go: the time a `tune --dry-run` expects the study to take: at
// the pace of the runs finished in its folder where there are any, else,
// for the CPU engine, from a few training steps of each batch size timed
// now (a second or two); a GPU's is left to the run, since a dry run
// starts no GPU.

package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/tune"
	"github.com/urfave/cli/v2"
)

// planSteps is the most training steps timed at each batch size (one more
// runs first, untimed; the median counts), planEvals the validation steps
// timed, and planBatch the largest batch timed: a larger one's step is
// worked out from it, in proportion to its images (a CPU step's time
// nearly is).
const planSteps, planEvals, planBatch = 5, 3, 4096

// planSizes is the most batch sizes timed.
const planSizes = 4

// printPlanTime writes a dry run's estimate of the study's time.
func printPlanTime(w io.Writer, c *cli.Context, spec *tune.Spec, out string, jobs int, final bool, n tune.Counts) error {
	ids, err := tuneDevices(c)
	if err != nil {
		return err
	}
	engines := jobs
	if ids != nil {
		engines = len(ids) * jobs
	}
	st, runs, err := spec.FinishedTimes(out, n)
	if err != nil {
		return studyError(err)
	}
	from := fmt.Sprintf("at the pace of the %s finished in %s (as many at once as they ran)", shown.Count(runs, "run"), out)
	retrain := st // the final retraining's pace
	if st == nil {
		if !c.Bool("cpu") {
			fmt.Fprintf(w, "time: not estimated: a dry run starts no GPU (with --cpu it times the CPU engine's steps); once runs have finished, a dry run on the folder estimates the rest from them\n")
			return nil
		}
		threads := c.Int("threads")
		if threads == 0 {
			threads = runtime.GOMAXPROCS(0)
		}
		each := max(1, threads/jobs)
		var how string
		st, how, err = cpuStepTimes(spec, each, n.Train)
		if err != nil {
			return err
		}
		from = fmt.Sprintf("from %s timed now on the CPU engine with %s", how, shown.Count(each, "thread"))
		// The runs at once share the cores: no more than the cores
		// hold run side by side.
		if most := max(1, runtime.NumCPU()/each); engines > most {
			from += fmt.Sprintf(" (%d runs at once share this machine's %s as %d would)", engines, shown.Count(runtime.NumCPU(), "core"), most)
			engines = most
		}
		// The final retraining has an engine of all the threads.
		retrain = st
		if each != threads {
			if retrain, _, err = cpuStepTimes(spec, threads, n.Final); err != nil {
				return err
			}
		}
	}
	p, err := spec.PlanTime(out, engines, st, retrain, n)
	if err != nil {
		return studyError(err)
	}
	span := tune.FormatDuration(p.FinalMin)
	if hi := tune.FormatDuration(p.FinalMax); hi != span {
		span += " to " + hi + " (by batch size)"
	}
	switch {
	case p.Runs > 0:
		at := ""
		if k := min(engines, p.Runs); k > 1 {
			at = fmt.Sprintf(", %d at a time", k)
		}
		fmt.Fprintf(w, "time: about %s for the %s left%s, %s\n", tune.FormatDuration(p.Left), shown.Count(p.Runs, "run"), at, from)
		if final {
			fmt.Fprintf(w, "  then the final retraining and its test: about %s\n", span)
		}
	case final:
		// Every run finished: the best setting is known, and its model
		// may be trained already.
		results, _ := tune.Collect(out, spec)
		best, ok := tune.Best(results)
		if old, err := tune.LoadFinalModel(out, spec); ok && err == nil && old != nil && old.Config == best.Config && old.Images == n.Final {
			fmt.Fprintf(w, "time: none, every run is finished and the final model is the best setting's\n")
			return nil
		}
		if ok {
			span = tune.FormatDuration(p.Final[best.Config.BatchSize]) + " (" + best.Config.Label() + ")"
		}
		fmt.Fprintf(w, "time: only the final retraining and its test are left, about %s, %s\n", span, from)
	default:
		fmt.Fprintf(w, "time: none, every run is finished\n")
	}
	return nil
}

// cpuStepTimes times, on a CPU engine of threads threads, training steps
// of the study's network and recipe at each batch size of its grid, and
// validation steps: random images, since the work of a step does not
// depend on its pixels.
// A step of a batch size larger than the run's images (most, of its
// training set) holds those images alone.
func cpuStepTimes(spec *tune.Spec, threads, most int) (st *tune.StepTimes, how string, err error) {
	e := cpu.New(threads)
	defer closeEngine(e, io.Discard, &err)
	act, err := engine.ParseActivation(spec.Acts[0])
	if err != nil {
		return nil, "", err
	}
	arch, err := engine.NewArch(spec.Arch, act)
	if err != nil {
		return nil, "", err
	}
	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, arch.GlorotInit(1))
	if err != nil {
		return nil, "", err
	}
	pool := engine.DefaultEvalBatch
	for _, b := range spec.BatchSizes {
		pool = max(pool, min(b, max(1, most), planBatch))
	}
	b, stats, err := randomBatch(e, pool)
	if err != nil {
		return nil, "", err
	}
	b.Aug, b.LabelSmoothing = spec.Augmentation.With(spec.Seed), spec.LabelSmoothing
	cursor := b.Cursor
	// timed runs n steps after one untimed one and returns the median
	// step's seconds (a step slowed by something else on the machine is
	// left out).
	timed := func(n int, step func() error) (float64, error) {
		var took []float64
		for i := 0; i <= n; i++ {
			start := time.Now()
			e.Fill(cursor, 0)
			if err := step(); err != nil {
				return 0, err
			}
			if err := e.Sync(); err != nil {
				return 0, err
			}
			if i > 0 {
				took = append(took, time.Since(start).Seconds())
			}
		}
		slices.Sort(took)
		return took[len(took)/2], nil
	}
	// At most planSizes batch sizes are timed, the smallest, the largest
	// and some between; the others' steps are worked out between the two
	// timed nearest, in proportion to their images.
	sizes := slices.Clone(spec.BatchSizes)
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	pick := sizes
	if len(sizes) > planSizes {
		pick = nil
		for i := range planSizes {
			pick = append(pick, sizes[i*(len(sizes)-1)/(planSizes-1)])
		}
	}
	st = &tune.StepTimes{Train: map[int]float64{}}
	for _, bs := range pick {
		images := min(bs, max(1, most)) // what a step holds
		n := min(images, planBatch)
		t, err := timed(max(1, min(planSteps, 1024/n)), func() error { return m.TrainStep(b, n, stats) })
		if err != nil {
			return nil, "", err
		}
		st.Train[bs] = t * float64(images) / float64(n)
	}
	for _, bs := range sizes {
		if _, ok := st.Train[bs]; ok {
			continue
		}
		i, _ := slices.BinarySearch(pick, bs) // pick[i-1] < bs < pick[i]
		lo, hi := pick[i-1], pick[i]
		f := float64(bs-lo) / float64(hi-lo)
		st.Train[bs] = st.Train[lo] + f*(st.Train[hi]-st.Train[lo])
	}
	eval, err := timed(planEvals, func() error { return m.EvalStep(b, engine.DefaultEvalBatch, stats, nil, nil) })
	if err != nil {
		return nil, "", err
	}
	st.Eval = eval / engine.DefaultEvalBatch
	how = "training steps of each batch size"
	if len(pick) < len(sizes) {
		how = fmt.Sprintf("training steps of %d of the %d batch sizes (the others' worked out between them)", len(pick), len(sizes))
	}
	return st, how, nil
}
