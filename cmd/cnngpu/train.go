// train.go: `cnngpu train`: train the network, checkpoint every epoch,
// stop cleanly on Ctrl-C, and report test accuracy.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/urfave/cli/v2"
)

// splitSeed fixes the validation hold-out, as in the reference study.
const splitSeed = 42

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:         "train",
		Usage:        "train the network on MNIST and report test accuracy",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			cpuFlag, deviceFlag, precisionFlag, threadsFlag, dataFlag,
			&cli.IntFlag{Name: "epochs", Value: 10, Usage: "passes over the training set"},
			&cli.IntFlag{Name: "batch-size", Value: 128, Usage: "images per training step"},
			&cli.Float64Flag{Name: "lr", Value: 0.001, Usage: "learning rate"},
			&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "adam (β1 0.9, β2 0.999, ε 1e-7) or sgd (with --momentum)"},
			&cli.Float64Flag{Name: "momentum", Value: 0.9, Usage: "SGD momentum"},
			&cli.StringFlag{Name: "activation", Value: "relu", Usage: "hidden-layer activation: relu, sigmoid or tanh"},
			&cli.StringFlag{Name: "arch", Value: "reference", Usage: "architecture: reference (3x3 same-padded convolutions) or original (5x5 valid, as in the reference's first script)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed for initial weights and shuffling; the same seed repeats a CPU run bit for bit"},
			&cli.Float64Flag{Name: "val-split", Value: 0, Usage: "fraction of the training set held out (stratified, seed 42) for validation; 0 trains on all 60,000"},
			&cli.IntFlag{Name: "train-limit", Value: 0, Usage: "train on a stratified subset of this many images (0 = all), for quick trials"},
			&cli.StringFlag{Name: "out", Usage: "checkpoint path, written after every epoch (default: runs/model-<time>.safetensors)"},
			&cli.StringFlag{Name: "resume", Usage: "continue the run saved in this checkpoint"},
			&cli.StringFlag{Name: "metrics", Usage: "write one JSON object per epoch to this file"},
			&cli.BoolFlag{Name: "quiet", Usage: "print only the final result"},
		},
		Action: trainAction,
	}
}

// trainSetup is the validated form of train's flags.
type trainSetup struct {
	arch   engine.Arch
	opt    engine.OptConfig
	cfg    engine.TrainConfig
	pos    engine.Position
	init   *engine.Checkpoint // when resuming
	out    string
	hist   []engine.EpochMetrics
	quiet  bool
	metric string
	saved  *engine.Position // what s.out holds from this run, when anything
}

func parseOpt(c *cli.Context) (engine.OptConfig, error) {
	lr, err := checkLR(c.Float64("lr"))
	if err != nil {
		return engine.OptConfig{}, err
	}
	m, err := checkMomentum(c)
	if err != nil {
		return engine.OptConfig{}, err
	}
	switch c.String("optimizer") {
	case "adam":
		return engine.OptConfig{Kind: engine.Adam, LR: float32(lr), Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, nil
	case "sgd":
		return engine.OptConfig{Kind: engine.SGD, LR: float32(lr), Momentum: float32(m)}, nil
	}
	return engine.OptConfig{}, usageErrorf("--optimizer %q: expected adam or sgd", c.String("optimizer"))
}

func parseTrainFlags(c *cli.Context) (*trainSetup, error) {
	if c.NArg() > 0 {
		return nil, usageErrorf("train takes no arguments, got %q", c.Args().First())
	}
	s := &trainSetup{quiet: c.Bool("quiet"), metric: c.String("metrics")}
	act, err := engine.ParseActivation(c.String("activation"))
	if err != nil || act == engine.Identity {
		return nil, usageErrorf("--activation %q: expected relu, sigmoid or tanh", c.String("activation"))
	}
	if s.arch, err = engine.NewArch(c.String("arch"), act); err != nil {
		return nil, usageErrorf("--arch: %v", err)
	}
	if s.opt, err = parseOpt(c); err != nil {
		return nil, err
	}
	s.cfg = engine.TrainConfig{Epochs: c.Int("epochs"), BatchSize: c.Int("batch-size"), Seed: c.Uint64("seed"),
		ValSplit: c.Float64("val-split"), TrainLimit: c.Int("train-limit")}
	if s.cfg.Epochs < 1 {
		return nil, usageErrorf("--epochs %d: expected at least 1", s.cfg.Epochs)
	}
	if s.cfg.BatchSize < 1 || s.cfg.BatchSize > 60000 {
		return nil, usageErrorf("--batch-size %d: expected 1 to 60000", s.cfg.BatchSize)
	}
	if v := s.cfg.ValSplit; !(v >= 0 && v < 1) {
		return nil, usageErrorf("--val-split %v: expected a fraction in [0, 1)", v)
	}
	if err := checkTrainLimit(s.cfg.TrainLimit); err != nil {
		return nil, err
	}
	if r := c.String("resume"); r != "" {
		if err := s.resume(c, r); err != nil {
			return nil, err
		}
	}
	s.out = c.String("out")
	if s.out == "" {
		if c.String("resume") != "" {
			s.out = c.String("resume")
			if s.init != nil {
				s.saved = &s.init.Position
			}
		} else {
			s.out = filepath.Join("runs", "model-"+time.Now().Format("20060102-150405")+".safetensors")
		}
	}
	if err := checkTrainOutputs(c, s.out); err != nil {
		return nil, err
	}
	return s, nil
}

// resume loads the checkpoint and takes its settings; a flag given
// explicitly that contradicts it is refused (except --epochs, which may
// extend the run).
func (s *trainSetup) resume(c *cli.Context, path string) error {
	ck, err := engine.LoadCheckpoint(path)
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	type check struct {
		flag      string
		want, got any
	}
	checks := []check{
		{"activation", ck.Arch.Act.String(), s.arch.Act.String()},
		{"arch", ck.Arch.Preset, s.arch.Preset},
		{"batch-size", ck.Config.BatchSize, s.cfg.BatchSize},
		{"seed", ck.Config.Seed, s.cfg.Seed},
		{"val-split", ck.Config.ValSplit, s.cfg.ValSplit},
		{"train-limit", ck.Config.TrainLimit, s.cfg.TrainLimit},
		{"optimizer", engine.OptName(ck.Opt.Kind), engine.OptName(s.opt.Kind)},
		{"lr", fmtLR(ck.Opt.LR), fmtLR(float32(c.Float64("lr")))},
	}
	for _, ch := range checks {
		if c.IsSet(ch.flag) && fmt.Sprint(ch.want) != fmt.Sprint(ch.got) {
			return usageErrorf("--resume %s: the checkpoint was trained with --%s %v, but --%s %v was given; drop the flag to continue that run, or start a new one without --resume",
				path, ch.flag, ch.want, ch.flag, ch.got)
		}
	}
	epochs := s.cfg.Epochs
	s.arch, s.opt, s.cfg = ck.Arch, ck.Opt, ck.Config
	if c.IsSet("epochs") {
		s.cfg.Epochs = epochs
	}
	s.pos, s.init, s.hist = ck.Position, ck, ck.History
	if s.pos.Epoch >= s.cfg.Epochs {
		return usageErrorf("--resume %s: that run already finished %d of %d epochs; pass --epochs N with N > %d to train further",
			path, s.pos.Epoch, s.cfg.Epochs, s.pos.Epoch)
	}
	return nil
}

// writeMetrics rewrites the JSON-lines metrics file atomically.
func writeMetrics(path string, hist []engine.EpochMetrics) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, m := range hist {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return fileutil.WriteAtomic(path, b.Bytes(), 0o644)
}

func epochLine(m engine.EpochMetrics, epochs int) string {
	s := fmt.Sprintf("epoch %d/%d  loss %.4f  acc %s", m.Epoch, epochs, m.TrainLoss, percent(m.TrainAcc))
	if !math.IsNaN(m.ValAcc) {
		s += fmt.Sprintf("  val loss %.4f  val acc %s", m.ValLoss, percent(m.ValAcc))
	}
	s += fmt.Sprintf("  %.1fs  %.0f img/s", m.Seconds, m.ImagesPerSec)
	if m.Partial {
		s += "  (resumed mid-epoch: figures cover the part run now)"
	}
	return s
}

func trainAction(c *cli.Context) error {
	s, err := parseTrainFlags(c)
	if err != nil {
		return err
	}
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if stderr == nil {
		stderr = os.Stderr
	}
	say := func(format string, args ...any) {
		if !s.quiet {
			fmt.Fprintf(stdout, format+"\n", args...)
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var note io.Writer = stderr
	if s.quiet {
		note = nil
	}
	e, err := newEngine(c, note)
	if err != nil {
		return err
	}
	defer e.Close()
	var fetchLog io.Writer = stderr
	if s.quiet {
		fetchLog = nil
	}
	data, err := loadMNIST(ctx, c, fetchLog)
	if err != nil {
		return err
	}
	trainIdx := engine.AllIndices(data.Train.N())
	var valIdx []int32
	if s.cfg.ValSplit > 0 {
		if trainIdx, valIdx, err = loader.Holdout(data.Train.Labels, s.cfg.ValSplit, splitSeed); err != nil {
			return usageErrorf("--val-split: %v", err)
		}
	}
	available := len(trainIdx)
	if s.cfg.TrainLimit > 0 {
		trainIdx = loader.Subset(data.Train.Labels, trainIdx, s.cfg.TrainLimit, s.cfg.Seed)
	}
	if err := checkTrainSet(s.cfg.TrainLimit, available, data.Train.Labels, trainIdx, note); err != nil {
		return err
	}

	var m *engine.Model
	if s.init != nil {
		m, err = engine.NewModelFrom(e, s.init)
	} else {
		m, err = engine.NewModel(e, s.arch, s.opt, s.arch.GlorotInit(s.cfg.Seed))
	}
	if err != nil {
		return err
	}
	ds, err := engine.UploadDataset(e, data.Train.Images.Pixels, data.Train.Labels)
	if err != nil {
		return err
	}
	say("engine: %s", e.Name())
	say("data: %s (%d training images, %d validation, %d test)", data.Dir, len(trainIdx), len(valIdx), data.Test.N())
	say("model: %s, %s, %d parameters; %s lr %g, batch %d, %s, seed %d",
		s.arch.Preset, s.arch.Act, s.arch.NumParams(), engine.OptName(s.opt.Kind), s.opt.LR, s.cfg.BatchSize, plural(s.cfg.Epochs, "epoch"), s.cfg.Seed)
	if s.init != nil {
		say("resuming from epoch %d, step %d", s.pos.Epoch+1, s.pos.Step)
	}

	tr := &engine.Trainer{M: m, Data: ds, TrainIdx: trainIdx, ValIdx: valIdx, Epochs: s.cfg.Epochs, BatchSize: s.cfg.BatchSize, Seed: s.cfg.Seed}
	bar := newProgressBar(stderr, !s.quiet && isTerminal(os.Stderr))
	if bar.enabled {
		tr.ProgressEvery = 200 * time.Millisecond
		tr.OnProgress = bar.update
	}
	tr.OnEpoch = func(em engine.EpochMetrics, pos engine.Position) error {
		bar.clear()
		say("%s", epochLine(em, s.cfg.Epochs))
		s.hist = append(s.hist, em)
		if s.metric != "" {
			if err := writeMetrics(s.metric, s.hist); err != nil {
				return fmt.Errorf("--metrics: %w", err)
			}
		}
		return saveCheckpoint(m, s, pos)
	}
	start := time.Now()
	pos, err := tr.Run(ctx, s.pos)
	bar.clear()
	if errors.Is(err, engine.ErrInterrupted) {
		if serr := saveCheckpoint(m, s, pos); serr != nil {
			return withCode(130, fmt.Errorf("interrupted, and saving the checkpoint failed: %v", serr))
		}
		return withCode(130, fmt.Errorf("interrupted at epoch %d, step %d; checkpoint saved to %s\nresume with: cnngpu train --resume %s",
			pos.Epoch+1, pos.Step, s.out, s.out))
	}
	if isDivergence(err) {
		return divergedError(err, s)
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	test, err := engine.UploadDataset(e, data.Test.Images.Pixels, data.Test.Labels)
	if err != nil {
		return err
	}
	res, err := engine.Evaluate(m, test, engine.AllIndices(data.Test.N()), 0, false)
	if err != nil {
		return err
	}
	if !engine.IsFinite(res.Loss) {
		return divergedError(fmt.Errorf("the test loss is %v: %w", res.Loss, engine.ErrNonFinite), s)
	}
	fmt.Fprintf(stdout, "test accuracy %s  test loss %.4f  (%d images; trained %s in %.1fs)\n",
		percent(res.Acc), res.Loss, res.N, e.Name(), elapsed.Seconds())
	say("checkpoint: %s  (evaluate with: cnngpu eval --model %s)", s.out, s.out)
	return nil
}

func saveCheckpoint(m *engine.Model, s *trainSetup, pos engine.Position) error {
	ck, err := engine.Snapshot(m, s.cfg, pos, s.hist)
	if err != nil {
		return err
	}
	if err := ck.Save(s.out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	s.saved = &pos
	return nil
}
