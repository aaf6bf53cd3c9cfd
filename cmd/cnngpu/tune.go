// tune.go: `cnngpu tune` (the hyperparameter study), `cnngpu tune merge`
// (combine shard folders) and `cnngpu plot` (redraw a study's figures and
// report).

package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/tune"
	"github.com/urfave/cli/v2"
)

func tuneCommand() *cli.Command {
	return &cli.Command{
		Name:  "tune",
		Usage: "run the hyperparameter study (lr × batch size × activation), resumable, with plots and a report",
		Description: "Trains every configuration of the grid with a validation split (or K folds), records every epoch,\n" +
			"picks the best on validation accuracy, retrains it on all training images and tests it.\n" +
			"Rerunning the same command with the same --out continues an interrupted study.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			cpuFlag, deviceFlag, precisionFlag, threadsFlag, dataFlag,
			&cli.StringFlag{Name: "lr", Value: "0.001,0.003,0.01,0.03", Usage: "learning rates, comma-separated"},
			&cli.StringFlag{Name: "batch-size", Value: "64,128,256", Usage: "batch sizes, comma-separated"},
			&cli.StringFlag{Name: "activation", Value: "relu,sigmoid,tanh", Usage: "hidden-layer activations, comma-separated"},
			&cli.IntFlag{Name: "epochs", Value: 10, Usage: "epochs per run"},
			&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "adam or sgd"},
			&cli.Float64Flag{Name: "momentum", Value: 0.9, Usage: "SGD momentum"},
			&cli.StringFlag{Name: "arch", Value: "reference", Usage: "architecture preset: reference or original"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the initial weights and shuffling (the same for every configuration)"},
			&cli.Float64Flag{Name: "val-split", Value: 0.33, Usage: "hold-out fraction for validation (stratified, seed 42), when --folds is 0"},
			&cli.IntFlag{Name: "folds", Value: 0, Usage: "K for stratified K-fold cross-validation (0 = hold-out)"},
			&cli.IntFlag{Name: "train-limit", Value: 0, Usage: "train each run on a stratified subset of this many images (0 = all), for quick trials"},
			&cli.StringFlag{Name: "out", Usage: "study folder (default: runs/tune-<time>); reuse it to resume"},
			&cli.BoolFlag{Name: "final", Value: true, Usage: "retrain the best configuration on all training images and test it (--final=false to skip)"},
			&cli.StringFlag{Name: "devices", Usage: "run configurations concurrently, one per GPU in this comma-separated list (e.g. 0,1,2,3)"},
			&cli.StringFlag{Name: "shard", Usage: "run only slice I of N of the grid, as I/N (0-based), e.g. for a Slurm array; combine with 'tune merge'"},
		},
		Action: tuneAction,
		Subcommands: []*cli.Command{{
			Name:         "merge",
			Usage:        "combine the folders of a sharded study into one folder with results, plots and report",
			ArgsUsage:    "SHARD_DIR...",
			OnUsageError: onUsage,
			Flags:        []cli.Flag{&cli.StringFlag{Name: "out", Usage: "merged study folder (required)"}},
			Action:       mergeAction,
		}},
	}
}

func plotCommand() *cli.Command {
	return &cli.Command{
		Name:         "plot",
		Usage:        "redraw a study's plots, results.csv and report.md from its recorded runs",
		ArgsUsage:    "DIR",
		OnUsageError: onUsage,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("plot takes one study folder, got %d arguments", c.NArg())
			}
			dir := c.Args().First()
			if err := tune.Render(dir, ""); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "redrew %s\n", filepath.Join(dir, tune.ReportFile))
			return nil
		},
	}
}

func parseList[T any](flag, s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := parse(f)
		if err != nil {
			return nil, usageErrorf("--%s: %q is not valid: %v", flag, f, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, usageErrorf("--%s: empty list", flag)
	}
	return out, nil
}

func tuneSpec(c *cli.Context) (*tune.Spec, error) {
	lrs, err := parseList("lr", c.String("lr"), func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	if err != nil {
		return nil, err
	}
	bss, err := parseList("batch-size", c.String("batch-size"), strconv.Atoi)
	if err != nil {
		return nil, err
	}
	acts, err := parseList("activation", c.String("activation"), func(s string) (string, error) { return s, nil })
	if err != nil {
		return nil, err
	}
	spec := &tune.Spec{Version: 1, LRs: lrs, BatchSizes: bss, Acts: acts, Epochs: c.Int("epochs"), Optimizer: c.String("optimizer"),
		Seed: c.Uint64("seed"), Arch: c.String("arch"), Folds: c.Int("folds"), TrainLimit: c.Int("train-limit"), Shard: tune.Shard{N: 1}}
	for _, lr := range lrs {
		if _, err := checkLR(lr); err != nil {
			return nil, err
		}
	}
	if err := checkTuneValues(c, bss, acts); err != nil {
		return nil, err
	}
	switch spec.Optimizer {
	case "adam":
		if _, err := checkMomentum(c); err != nil {
			return nil, err
		}
	case "sgd":
		if spec.Momentum, err = checkMomentum(c); err != nil {
			return nil, err
		}
	default:
		return nil, usageErrorf("--optimizer %q: expected adam or sgd", spec.Optimizer)
	}
	if _, err := engine.NewArch(spec.Arch, engine.ReLU); err != nil {
		return nil, usageErrorf("--arch: %v", err)
	}
	if spec.Folds == 0 {
		spec.ValSplit = c.Float64("val-split")
	} else if c.IsSet("val-split") {
		return nil, usageErrorf("--val-split and --folds exclude each other: choose a hold-out or K folds")
	}
	if err := checkTrainLimit(spec.TrainLimit); err != nil {
		return nil, err
	}
	if s := c.String("shard"); s != "" {
		if spec.Shard, err = tune.ParseShard(s); err != nil {
			return nil, usageErrorf("--shard: %v", err)
		}
	}
	if err := spec.Validate(); err != nil {
		return nil, usageErrorf("%v", err)
	}
	if n := len(spec.Configs()); len(spec.Mine()) == 0 {
		return nil, usageErrorf("--shard %v: the grid has only %s, so this shard would run nothing; use at most %d shards",
			spec.Shard, plural(n, "configuration"), n)
	}
	return spec, nil
}

func tuneAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("tune takes no arguments, got %q (did you mean 'cnngpu tune merge'?)", c.Args().First())
	}
	spec, err := tuneSpec(c)
	if err != nil {
		return err
	}
	out := c.String("out")
	if c.IsSet("out") && out == "" {
		return usageErrorf("--out \"\": expected a folder name (leave --out out for the default, runs/tune-<time>)")
	}
	if out == "" {
		out = filepath.Join("runs", "tune-"+time.Now().Format("20060102-150405"))
	}
	if err := checkOutDir("--out", out); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	data, err := loadMNIST(ctx, c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	var engines []engine.Engine
	defer func() {
		for _, e := range engines {
			e.Close()
		}
	}()
	if d := c.String("devices"); d != "" {
		if c.Bool("cpu") || c.IsSet("device") {
			return usageErrorf("--devices excludes --cpu and --device")
		}
		ids, err := parseList("devices", d, strconv.Atoi)
		if err != nil {
			return err
		}
		for _, id := range ids {
			e, err := openGPU(id, c.String("precision") == "tf32")
			if err != nil {
				return err
			}
			engines = append(engines, e)
		}
	} else {
		e, err := newEngine(c, c.App.ErrWriter)
		if err != nil {
			return err
		}
		engines = append(engines, e)
	}
	names := engines[0].Name()
	for _, e := range engines[1:] {
		names += ", " + e.Name()
	}
	r := &tune.Runner{Spec: spec, Dir: out, Data: data, Engines: engines, Final: c.Bool("final") && spec.Shard.N == 1,
		Log: c.App.Writer, Machine: tune.MachineInfo() + "; engine " + names}
	fmt.Fprintf(c.App.Writer, "engine: %s\n", names)
	err = r.Run(ctx)
	if errors.Is(err, tune.ErrInterrupted) {
		return withCode(130, fmt.Errorf("study interrupted; finished runs are kept in %s\ncontinue with the same command and --out %s", out, out))
	}
	if err != nil {
		return err
	}
	if spec.Shard.N == 1 {
		fmt.Fprintf(c.App.Writer, "report: %s\n", filepath.Join(out, tune.ReportFile))
	}
	return nil
}

func mergeAction(c *cli.Context) error {
	out := c.String("out")
	if out == "" {
		return usageErrorf("tune merge needs --out DIR for the merged study")
	}
	if c.NArg() == 0 {
		return usageErrorf("tune merge needs the shard folders as arguments")
	}
	if err := checkOutDir("--out", out); err != nil {
		return err
	}
	copied, missing, err := tune.Merge(out, c.Args().Slice(), "")
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "merged %s from %s into %s\n", plural(copied, "run"), plural(c.NArg(), "folder"), out)
	if ms := tune.MissingShards(c.Args().Slice()); len(ms) > 0 {
		fmt.Fprintf(c.App.Writer, "no folder given holds shard %s of the study\n", strings.Join(ms, ", "))
	}
	if len(missing) > 0 {
		are := fmt.Sprintf("%d runs are", len(missing))
		if len(missing) == 1 {
			are = "1 run is"
		}
		fmt.Fprintf(c.App.Writer, "%s finished in no folder (%s...); rerun 'cnngpu tune' with the same grid and --out %s to complete them\n",
			are, missing[0], out)
	}
	fmt.Fprintf(c.App.Writer, "report: %s (run 'cnngpu tune' with the same grid and --out %s to retrain and test the best setting)\n",
		filepath.Join(out, tune.ReportFile), out)
	return nil
}
