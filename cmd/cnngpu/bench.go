// bench.go: `cnngpu bench`: training and inference throughput of the
// reference network at a batch size, warm-up excluded.

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:         "bench",
		Usage:        "measure training and inference images/s",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			cpuFlag, deviceFlag, precisionFlag, threadsFlag,
			&cli.IntFlag{Name: "batch-size", Value: 128, Usage: "`N` images per step"},
			&cli.IntFlag{Name: "steps", Value: 30, Usage: "`N` timed training steps"},
			&cli.IntFlag{Name: "warmup", Value: 3, Usage: "`N` untimed steps first (on a GPU, more while it times cuDNN's algorithms in place)"},
			&cli.StringFlag{Name: "activation", Value: "relu", Usage: "hidden-layer activation: relu, sigmoid or tanh"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			&cli.BoolFlag{Name: "defer-update", Usage: "time the training step with the first dense layer's optimizer update queued at the start of the next step, beside its forward pass, instead of after that layer's backward pass (the same arithmetic; for measuring a schedule, not for training)"},
			&cli.BoolFlag{Name: "no-update", Usage: "time the training step without its optimizer updates (the model does not learn): with the full step's time, how much of it the updates take (on a GPU, beside the backward pass)"},
			&cli.BoolFlag{Name: "timeline", Usage: "GPU only: after the timed steps, record the step once more with a timing point after each kernel and library call on the stream that ran it, and print when each ends (median of 100 replays): which stream ends last, after what"},
		},
		Action: benchAction,
	}
}

type benchResult struct {
	Engine     string `json:"engine"`
	Activation string `json:"activation"`
	BatchSize  int    `json:"batch_size"`
	// Steps: the training steps timed (fewer than --steps when
	// interrupted); InferSteps: the inference steps timed.
	Steps      int `json:"steps"`
	InferSteps int `json:"inference_steps"`
	// Warmup: the untimed training steps before the timed ones, --warmup
	// and those the GPU engine still spent timing alternatives in place.
	Warmup         int     `json:"warmup_steps"`
	TrainImagesSec float64 `json:"train_images_per_sec"`
	TrainStepMS    float64 `json:"train_step_ms"`
	// InferImagesSec: null where no inference step was timed (stopped
	// before).
	InferImagesSec *float64 `json:"inference_images_per_sec"`
	// EpochSeconds is 60,000 / TrainImagesSec: a 60,000-image epoch at the
	// rate timed, worked out, not timed (an epoch of train adds its
	// augmentation, a last partial batch and a checkpoint).
	EpochSeconds float64 `json:"epoch_seconds_60000"`
	// ConvAlgorithms: the GPU engine's cuDNN algorithm choices and the
	// directions on our kernels, timed at start (they can differ between
	// processes, and so can the step).
	ConvAlgorithms string `json:"conv_algorithms,omitempty"`
	// FusedDense: the dense layers whose products run with their
	// epilogues fused on cuBLASLt (CNNGPU_DENSE=cublaslt), and which.
	FusedDense string `json:"fused_dense,omitempty"`
	// NoUpdate: the training steps ran without their optimizer updates
	// (--no-update).
	NoUpdate bool `json:"no_update,omitempty"`
	// DeferUpdate: the first dense layer's update queued at the next
	// step's start (--defer-update).
	DeferUpdate bool `json:"defer_update,omitempty"`
	// Interrupted: a signal (Ctrl-C) stopped the run before all the steps
	// were timed; the figures are over the steps timed.
	Interrupted bool `json:"interrupted,omitempty"`
	// Timeline: with --timeline, the step's ops in the order queued, each
	// with its stream and when it ends (median microseconds from the
	// step's start over timelineReplays replays); TimelineStepMS is that
	// step's end (its timing points lengthen it; TrainStepMS, timed over
	// steps in a row, includes the gaps between their launches).
	Timeline       []timelineRow `json:"timeline,omitempty"`
	TimelineStepMS float64       `json:"timeline_step_ms,omitempty"`
}

// timelineRow is one op of --timeline's step.
type timelineRow struct {
	Stream string  `json:"stream"`
	Op     string  `json:"op"`
	EndUS  float64 `json:"end_us"`
}

// timelineReplays is how many replays --timeline takes the median of.
const timelineReplays = 100

// maxBenchSteps is the most steps --steps and --warmup take: a million
// steps of 128 images on the CPU engine are some days.
const maxBenchSteps = 1_000_000

func benchAction(c *cli.Context) (err error) {
	bs, steps, warm := c.Int("batch-size"), c.Int("steps"), c.Int("warmup")
	if bs < 1 || steps < 1 || warm < 0 {
		return usageErrorf("--batch-size and --steps must be positive and --warmup not negative (got %d, %d, %d)", bs, steps, warm)
	}
	if steps > maxBenchSteps || warm > maxBenchSteps {
		return usageErrorf("--steps %d, --warmup %d: at most %d each", steps, warm, maxBenchSteps)
	}
	// Ctrl-C stops at the next step, and what was timed is printed.
	ctx, stop := interruptContext(c.Context, c.App.ErrWriter)
	defer stop()
	act, err := engine.ParseActivation(c.String("activation"))
	if err != nil || act == engine.Identity {
		return usageErrorf("--activation %q: expected relu, sigmoid or tanh", c.String("activation"))
	}
	arch, _ := engine.NewArch("reference", act)
	if err := arch.CheckBatch(bs); err != nil {
		return usageErrorf("--batch-size %d: %v", bs, err)
	}
	if c.Bool("no-update") && c.Bool("defer-update") {
		return usageErrorf("--no-update and --defer-update exclude each other")
	}
	e, err := newEngine(c, c.App.ErrWriter, false)
	if err != nil {
		return err
	}
	defer closeEngine(e, c.App.ErrWriter, &err)
	tl, timeline := e.(engine.StepTimeline)
	if c.Bool("timeline") && !timeline {
		return usageErrorf("--timeline: %s runs its steps on one stream, as they come; it times a GPU step's streams (give --device, on a machine with an NVIDIA GPU)", e.Name())
	}
	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, arch.GlorotInit(1))
	if err != nil {
		return err
	}
	m.NoUpdate = c.Bool("no-update")
	m.DeferUpdate = c.Bool("defer-update")
	b, stats, err := randomBatch(e, bs*4)
	if err != nil {
		return err
	}
	cursor := b.Cursor
	// timeSteps runs n steps, fewer if interrupted, and returns their
	// time and how many ran: device time between two CUDA events on a
	// GPU, else the host clock after waiting for the work to finish.
	dt, _ := e.(engine.DeviceTimer)
	timeSteps := func(n int, step func() error) (time.Duration, int, error) {
		if err := e.Sync(); err != nil {
			return 0, 0, err
		}
		start := time.Now()
		if dt != nil {
			if err := dt.StartTimer(); err != nil {
				return 0, 0, err
			}
		}
		done := 0
		for ; done < n && ctx.Err() == nil; done++ {
			if done%4 == 0 {
				e.Fill(cursor, 0)
			}
			if err := step(); err != nil {
				return 0, done, err
			}
		}
		if dt != nil {
			d, err := dt.StopTimer()
			return d, done, err
		}
		if err := e.Sync(); err != nil {
			return 0, done, err
		}
		return time.Since(start), done, nil
	}
	train := func() error {
		var serr error
		if err := engine.Run(e, bs, func() { serr = m.TrainStep(b, bs, stats) }); err != nil {
			return err
		}
		return serr
	}
	infer := func() error { return m.EvalStep(b, bs, stats, nil, nil) }
	// warmUp runs n untimed steps, then more while the engine is still
	// timing alternatives in place (the GPU engine's first steps of a
	// batch size, engine/cuda/tune.go), so that the timed steps are those
	// of training after it.
	tu, _ := e.(interface{ Tuning() bool })
	warmUp := func(n int, step func() error) (int, error) {
		if _, _, err := timeSteps(n, step); err != nil {
			return n, err
		}
		for i := 0; i < 1000 && tu != nil && tu.Tuning() && ctx.Err() == nil; i++ {
			if _, _, err := timeSteps(1, step); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	trainWarm, err := warmUp(warm, train)
	if err != nil {
		return err
	}
	tt, tn, err := timeSteps(steps, train)
	if err != nil {
		return err
	}
	if tn == 0 {
		return withCode(130, errors.New("interrupted before a training step was timed: nothing to report"))
	}
	res := benchResult{Engine: e.Name(), Activation: act.String(), BatchSize: bs, Steps: tn, Warmup: trainWarm,
		TrainImagesSec: float64(bs*tn) / tt.Seconds(), TrainStepMS: tt.Seconds() * 1000 / float64(tn), NoUpdate: m.NoUpdate, DeferUpdate: m.DeferUpdate}
	res.EpochSeconds = 60000 / res.TrainImagesSec
	if ctx.Err() == nil {
		if _, err := warmUp(warm, infer); err != nil {
			return err
		}
		di, in, err := timeSteps(steps, infer)
		if err != nil {
			return err
		}
		if in > 0 {
			v := float64(bs*in) / di.Seconds()
			res.InferSteps, res.InferImagesSec = in, &v
		}
	}
	res.Interrupted = ctx.Err() != nil
	if c.Bool("timeline") && !res.Interrupted {
		if tu != nil && tu.Tuning() {
			return fmt.Errorf("--timeline: the step's choices were still being timed in place after %s, so the timeline could time another step than the one kept: give a larger --warmup", shown.Count(trainWarm, "warm-up step"))
		}
		var serr error
		marks, err := tl.Timeline(func() { serr = m.TrainStep(b, bs, stats) }, func() { e.Fill(cursor, 0) }, timelineReplays)
		if err != nil {
			return fmt.Errorf("--timeline: %w", err)
		}
		if serr != nil {
			return fmt.Errorf("--timeline: %w", serr)
		}
		for _, mk := range marks {
			res.Timeline = append(res.Timeline, timelineRow{mk.Stream, mk.Op, float64(mk.At.Nanoseconds()) / 1000})
		}
		res.TimelineStepMS = float64(marks[len(marks)-1].At.Nanoseconds()) / 1e6
	}
	if a, ok := e.(interface{ ConvAlgorithms() string }); ok {
		res.ConvAlgorithms = a.ConvAlgorithms()
	}
	if f, ok := e.(interface{ FusedDense() string }); ok {
		res.FusedDense = f.FusedDense()
	}
	out := c.App.Writer
	if c.Bool("json") {
		if err := json.NewEncoder(out).Encode(res); err != nil {
			return err
		}
		return benchInterrupted(res, steps)
	}
	fmt.Fprintf(out, "engine      %s\n", res.Engine)
	timed := shown.Count(steps, "step")
	if res.Steps < steps {
		timed = fmt.Sprintf("%d of %d steps", res.Steps, steps)
	}
	fmt.Fprintf(out, "batch size  %d (%s, %s timed after %d warm-up)\n", bs, act, timed, res.Warmup)
	noUpd := ""
	if res.NoUpdate {
		noUpd = ", without the optimizer's updates"
	}
	if res.DeferUpdate {
		noUpd = ", the first dense layer's update at the next step's start"
	}
	fmt.Fprintf(out, "training    %8.0f images/s  (%.1f ms/step%s; so %.1f s a 60,000-image epoch)\n", res.TrainImagesSec, res.TrainStepMS, noUpd, res.EpochSeconds)
	switch {
	case res.InferImagesSec == nil:
		fmt.Fprintf(out, "inference   not timed (interrupted)\n")
	case res.InferSteps < steps:
		fmt.Fprintf(out, "inference   %8.0f images/s  (%d of %d steps)\n", *res.InferImagesSec, res.InferSteps, steps)
	default:
		fmt.Fprintf(out, "inference   %8.0f images/s\n", *res.InferImagesSec)
	}
	if res.ConvAlgorithms != "" {
		fmt.Fprintf(out, "convs       %s\n", res.ConvAlgorithms)
	}
	if res.FusedDense != "" {
		fmt.Fprintf(out, "cuBLASLt    %s\n", res.FusedDense)
	}
	if len(res.Timeline) > 0 {
		printTimeline(out, res)
	}
	return benchInterrupted(res, steps)
}

// benchInterrupted is the error (exit 130) of a run a signal stopped
// before all its steps were timed, once what was timed is printed.
func benchInterrupted(res benchResult, steps int) error {
	if !res.Interrupted {
		return nil
	}
	what := fmt.Sprintf("%d of %d training steps timed", res.Steps, steps)
	if res.Steps == steps {
		what = fmt.Sprintf("the training steps timed, %d of %d inference steps", res.InferSteps, steps)
	}
	return withCode(130, fmt.Errorf("interrupted: %s; the figures printed are over those", what))
}

// printTimeline prints --timeline's table: each op's end, the time since
// the previous op on the same stream (for a stream's first op, since the
// step's start): its own time, with any wait for another stream; then
// each stream's last op, with how many timing points its chain carries
// (each adds a little to it).
func printTimeline(out io.Writer, res benchResult) {
	fmt.Fprintf(out, "timeline    the step recorded with a timing point after each op, median of %d replays: %.3f ms from its start to its end\n",
		timelineReplays, res.TimelineStepMS)
	fmt.Fprintf(out, "            (the points are graph nodes, a little time each on their stream; the timed steps above: %.3f ms a step, launches included)\n", res.TrainStepMS)
	fmt.Fprintf(out, "  %10s  %10s  %-8s %s\n", "ends (µs)", "since (µs)", "stream", "op")
	type last struct {
		at     float64
		op     string
		points int
	}
	prev := map[string]*last{}
	var order []string
	for i, r := range res.Timeline {
		p := prev[r.Stream]
		since := r.EndUS
		if p != nil {
			since -= p.at
		}
		fmt.Fprintf(out, "  %10.1f  %10.1f  %-8s %s\n", r.EndUS, since, r.Stream, r.Op)
		if i == 0 || i == len(res.Timeline)-1 {
			continue // the step's start and end, no stream's op
		}
		if p == nil {
			p = &last{}
			prev[r.Stream] = p
			order = append(order, r.Stream)
		}
		p.at, p.op = r.EndUS, r.Op
		p.points++
	}
	var ends []string
	for _, s := range order {
		p := prev[s]
		ends = append(ends, fmt.Sprintf("%s %.1f µs (%s; %s)", s, p.at, p.op, shown.Count(p.points, "point")))
	}
	fmt.Fprintf(out, "  last op of each stream: %s\n", strings.Join(ends, ", "))
}

// randomBatch uploads pool random images and labels to e (the work of a
// step does not depend on its pixels) and returns a Batch over them in
// order, with its cursor (room for the epoch too, for augmentation), and
// the statistics steps add to. The engine's Close frees them.
func randomBatch(e engine.Engine, pool int) (engine.Batch, engine.Tensor, error) {
	r := rand.New(rand.NewPCG(1, 2))
	img := make([]uint8, pool*engine.ImagePixels)
	lab := make([]uint8, pool)
	for i := range img {
		img[i] = uint8(r.IntN(256))
	}
	for i := range lab {
		lab[i] = uint8(r.IntN(engine.Classes))
	}
	ds, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		return engine.Batch{}, nil, err
	}
	perm, err := e.Alloc(engine.Int32, pool)
	if err != nil {
		return engine.Batch{}, nil, err
	}
	cursor, err := e.Alloc(engine.Int32, 2)
	if err != nil {
		return engine.Batch{}, nil, err
	}
	stats, err := e.Alloc(engine.Float32, 3)
	if err != nil {
		return engine.Batch{}, nil, err
	}
	if err := e.Write(perm, 0, engine.AllIndices(pool)); err != nil {
		return engine.Batch{}, nil, err
	}
	return engine.Batch{Images: ds.Images, Labels: ds.Labels, Perm: perm, Cursor: cursor}, stats, nil
}
