// tune.go: `cnngpu tune` (the hyperparameter study), `cnngpu tune merge`
// (combine shard folders, check they cover the grid, optionally retrain
// the best setting) and `cnngpu plot` (redraw a study's figures and
// report).

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/cnngpu/cnngpu/tune"
	"github.com/urfave/cli/v2"
)

func tuneCommand() *cli.Command {
	return &cli.Command{
		Name:  "tune",
		Usage: "run the hyperparameter study (lr × batch size × activation), resumable, with plots and a report",
		Description: "Trains every configuration of the grid with a validation split (or K folds), records every epoch, " +
			"picks the best on validation accuracy, retrains it on all training images (or --train-limit's subset) and tests it. " +
			"Rerunning the same command with the same --out continues an interrupted study.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			cpuFlag, deviceFlag, precisionFlag, threadsFlag, dataFlag, recipeFlag, scheduleFlag, augmentFlag, labelSmoothingFlag,
			&cli.StringFlag{Name: "lr", Value: "0.001,0.003,0.01,0.03", Usage: "learning rates, a comma-separated `LIST`"},
			&cli.StringFlag{Name: "batch-size", Value: "64,128,256", Usage: "batch sizes, a comma-separated `LIST`"},
			&cli.StringFlag{Name: "activation", Value: "relu,sigmoid,tanh", Usage: "hidden-layer activations, a comma-separated `LIST` of relu, sigmoid and tanh"},
			&cli.IntFlag{Name: "epochs", Value: 10, Usage: "`N` epochs per run"},
			&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "adam or sgd"},
			&cli.Float64Flag{Name: "momentum", Value: 0.9, Usage: "SGD momentum `M`, from 0 to below 1, with --optimizer sgd (Adam refuses it)"},
			&cli.StringFlag{Name: "arch", Value: "reference", Usage: "architecture preset: reference or original"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed `N` of the initial weights, shuffling and augmentation (the same for every configuration)"},
			&cli.Float64Flag{Name: "val-split", Value: 0.33, Usage: "hold-out `FRACTION` for validation (stratified, seed 42), above 0 and below 1, when --folds is 0"},
			&cli.IntFlag{Name: "folds", Value: 0, Usage: "`K` for stratified K-fold cross-validation, 2 or more (0 = a hold-out, --val-split)"},
			&cli.IntFlag{Name: "train-limit", Value: 0, Usage: "train each run, and the final retraining, on a stratified subset of `N` images (0 = all, else 10 or more), for quick trials"},
			&cli.StringFlag{Name: "out", Usage: "study folder `DIR` (default: runs/tune-<time>); reuse it to resume"},
			&cli.BoolFlag{Name: "final", Value: true, Usage: "retrain the best configuration on all training images and test it (--final=false to skip)"},
			&cli.StringFlag{Name: "devices", Usage: "run configurations concurrently on the GPUs of `LIST`, comma-separated (e.g. 0,1,2,3), --jobs-per-device at once on each"},
			jobsPerDeviceFlag,
			&cli.StringFlag{Name: "shard", Usage: "run only slice `I/N` of the grid (balanced by expected cost), as I/N (0-based), or auto/N to take I from " +
				"JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array); give each shard its own --out and combine them with 'tune merge'"},
			&cli.BoolFlag{Name: "dry-run", Usage: "check the flags, the --out folder (and, where it holds a study, the data against the data it trained on), --data where it can be read (as the run would: every digit in each round's training set and the final retraining's) and print the configurations this shard would train, with their steps an epoch and expected cost, and the time it expects (at the pace of the runs finished in --out, else with --cpu from a few steps timed now), then exit; it starts no GPU (--device and --devices are checked as flags only), so a cluster's shards can be planned on a machine without one"},
		},
		Action: tuneAction,
		Subcommands: []*cli.Command{{
			Name:      "merge",
			Usage:     "combine the folders of a sharded study into one folder with results, plots and report",
			ArgsUsage: "SHARD_DIR... (study folders, or folders holding them)",
			Description: "Checks that the folders hold one study and cover its grid exactly once (each shard once, each run finished in one folder), " +
				"copies their runs into --out and writes results, plots and report there. With --final it then retrains the best setting " +
				"on all training images and tests it, as an unsharded 'cnngpu tune' does (that needs the data; it runs on GPU 0 when one works, else the CPU).",
			OnUsageError: onUsage,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Usage: "merged study folder `DIR` (required)"},
				&cli.BoolFlag{Name: "allow-missing", Usage: "merge even when some runs are finished in no folder (a rerun of 'cnngpu tune' on --out, or --final, trains them)"},
				&cli.BoolFlag{Name: "dry-run", Usage: "check the folders and say what would be merged, writing nothing"},
				&cli.BoolFlag{Name: "final", Usage: "then retrain the best configuration on all training images and test it"},
				cpuFlag, deviceFlag, precisionFlag, threadsFlag, dataFlag,
			},
			Action: mergeAction,
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
				return usageErrorf("plot takes one study folder, got %d arguments\nusage: %s plot DIR (a folder cnngpu tune --out DIR wrote)", c.NArg(), self())
			}
			if err := emptyArg(c, "plot", "the --out folder of a 'cnngpu tune'"); err != nil {
				return err
			}
			dir := c.Args().First()
			// A study folder first: nothing (not even the lock) is
			// written into one that is not.
			if st, err := os.Stat(dir); err == nil && !st.IsDir() {
				return usageErrorf("plot %s: is %s, not a study folder (the --out folder of a 'cnngpu tune')", dir, fileutil.Kind(st.Mode()))
			} else if errors.Is(err, fs.ErrNotExist) {
				return usageErrorf("plot %s: does not exist; give the --out folder of a 'cnngpu tune'", dir)
			}
			spec, err := tune.LoadSpec(dir)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return usageErrorf("plot %s: not a study folder: it has no %s (a 'cnngpu tune --out DIR' makes one)", dir, tune.SpecFile)
				}
				return fmt.Errorf("plot %s: %w", dir, err)
			}
			// A shard holds part of the grid: a report of it would
			// rank and advise as if it were the whole study.
			if spec.Shard.N > 1 {
				return usageErrorf("plot %s: holds shard %v of a study, and a report covers the whole grid: merge the shards' folders first with %s (--allow-missing: the runs finished so far), then plot NEW_DIR",
					dir, spec.Shard, shell.Command("tune merge --out NEW_DIR SHARD_DIR..."))
			}
			// Not beside a tune writing the same folder (the study's
			// lock; it would redraw half-written runs and race the
			// study's own report).
			release, err := tune.Lock(dir)
			if err != nil {
				return studyError(err)
			}
			defer release()
			if err := tune.Render(dir, ""); err != nil {
				return studyError(err) // exit 2 when an output is in the way
			}
			fmt.Fprintf(c.App.Writer, "redrew %s, %s and the figures in %s\n", filepath.Join(dir, tune.ReportFile), filepath.Join(dir, tune.ResultsFile), filepath.Join(dir, tune.PlotsDir))
			return nil
		},
	}
}

func parseList[T any](flag, s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			if strings.TrimSpace(s) == "" {
				break // "--lr ''": the empty list below
			}
			return nil, usageErrorf("--%s %q: an empty item (two commas in a row, or one at an end); expected values separated by commas", flag, s)
		}
		v, err := parse(f)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) {
				err = fmt.Errorf("not a number (%v)", ne.Err)
				if errors.Is(ne.Err, strconv.ErrRange) {
					err = errors.New("out of range: too large a number")
				}
			}
			return nil, usageErrorf("--%s: %q is not valid: %v", flag, f, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, usageErrorf("--%s: empty list", flag)
	}
	return out, nil
}

// tuneSpec reads the study's flags; shardFrom says where --shard auto/N
// found its index.
func tuneSpec(c *cli.Context) (spec *tune.Spec, shardFrom string, err error) {
	lrs, err := parseList("lr", c.String("lr"), parseDecimal)
	if err != nil {
		return nil, "", err
	}
	bss, err := parseList("batch-size", c.String("batch-size"), strconv.Atoi)
	if err != nil {
		return nil, "", err
	}
	acts, err := parseList("activation", c.String("activation"), func(s string) (string, error) { return s, nil })
	if err != nil {
		return nil, "", err
	}
	spec = &tune.Spec{Version: tune.SpecVersion, LRs: lrs, BatchSizes: bss, Acts: acts, Epochs: c.Int("epochs"), Optimizer: c.String("optimizer"),
		Seed: c.Uint64("seed"), Arch: c.String("arch"), Folds: c.Int("folds"), TrainLimit: c.Int("train-limit"), Shard: tune.Shard{N: 1}}
	spec.Precision = "fp32"
	if c.String("precision") == "tf32" {
		spec.Precision = "tf32"
	}
	for _, lr := range lrs {
		if _, err := checkLR(lr); err != nil {
			return nil, "", err
		}
	}
	if err := checkTuneValues(c, bss, acts); err != nil {
		return nil, "", err
	}
	if n := len(lrs) * len(bss) * len(acts); n > tune.MaxConfigs {
		return nil, "", usageErrorf("--lr, --batch-size and --activation make a grid of %d configurations (%d × %d × %d); a study takes at most %d: give fewer values, or split the values over several studies",
			n, len(lrs), len(bss), len(acts), tune.MaxConfigs)
	}
	switch spec.Optimizer {
	case "adam":
		m, err := checkMomentum(c)
		if err != nil {
			return nil, "", err
		}
		if c.IsSet("momentum") {
			return nil, "", adamMomentumError(m)
		}
	case "sgd":
		if spec.Momentum, err = checkMomentum(c); err != nil {
			return nil, "", err
		}
	default:
		return nil, "", usageErrorf("--optimizer %q: expected adam or sgd", spec.Optimizer)
	}
	if _, err := engine.NewArch(spec.Arch, engine.ReLU); err != nil {
		return nil, "", usageErrorf("--arch %q: expected %s", spec.Arch, strings.Join(engine.Presets, " or "))
	}
	r, err := parseRecipe(c)
	if err != nil {
		return nil, "", err
	}
	spec.Recipe, spec.LabelSmoothing = r.Name, r.LabelSmoothing
	spec.Augmentation = r.Augment
	if r.Schedule != engine.ConstantLR {
		spec.Schedule = r.Schedule.String()
	}
	if spec.Folds == 0 {
		spec.ValSplit = c.Float64("val-split")
	} else if c.IsSet("val-split") {
		return nil, "", usageErrorf("--val-split and --folds exclude each other: choose a hold-out or K folds")
	}
	if err := checkTrainLimit(spec.TrainLimit); err != nil {
		return nil, "", err
	}
	// A job script's "$SHARD" unset: not the whole grid in every task.
	if err := emptyFlag(c, "shard", "I/N (this process's part of the grid, e.g. 0/4) or auto/N", "to train the whole grid"); err != nil {
		return nil, "", err
	}
	if s := c.String("shard"); s != "" {
		if spec.Shard, shardFrom, err = tune.ResolveShard(s, os.LookupEnv); err != nil {
			return nil, "", usageErrorf("--%v", err) // "--shard auto/4: ..."
		}
	}
	if err := spec.Validate(); err != nil {
		return nil, "", usageErrorf("%v", err)
	}
	return spec, shardFrom, nil
}

// tuneOut is the study folder: --out, which a shard must give, or a new
// runs/tune-<time> (defaultStudy; at is then its time, else zero).
func tuneOut(c *cli.Context, spec *tune.Spec) (out string, at time.Time, err error) {
	out = c.String("out")
	if c.IsSet("out") && out == "" {
		return "", at, usageErrorf("--out \"\": expected a folder name (leave --out out for the default, runs/tune-<time>)")
	}
	if out == "" {
		if spec.Shard.N > 1 {
			return "", at, usageErrorf("--shard needs --out DIR: give each shard its own folder (e.g. study/shards/%d) and merge them with %s", spec.Shard.I, shell.Command("tune merge"))
		}
		at = time.Now()
		out = defaultStudy(at)
	}
	return out, at, nil
}

// defaultStudy is the first free default study folder for a study started
// at t: runs/tune-<time>, then …-2, …: a folder another study made in the
// same second is not continued as this one's.
func defaultStudy(t time.Time) string {
	for n := 1; ; n++ {
		if out := timedName("tune", t, n); !pathTaken(out) {
			return out
		}
	}
}

// tuneArgError refuses tune's arguments, with what was likely meant: a
// folder holding shards' folders is merged (tune merge), any other folder
// (there, or a path), a study's to continue or a new one, is given as
// --out, and a word is a list's value given apart.
func tuneArgError(c *cli.Context) error {
	a := c.Args().First()
	if err := likelyArgError(c, a); err != nil {
		return err
	}
	shards := false
	if ents, err := os.ReadDir(a); err == nil {
		shards = slices.ContainsFunc(ents, func(e fs.DirEntry) bool {
			_, err := os.Stat(filepath.Join(a, e.Name(), tune.SpecFile))
			return e.IsDir() && err == nil
		})
	}
	if _, err := os.Stat(filepath.Join(a, tune.SpecFile)); err != nil && shards {
		return usageErrorf("tune takes no arguments, got %q: it holds studies' folders; to merge them, %s", a, shell.Command("tune merge --out DIR "+shell.Path(a)))
	}
	st, err := os.Stat(a)
	if !c.IsSet("out") && (err == nil && st.IsDir() || strings.ContainsRune(a, '/') || strings.ContainsRune(a, filepath.Separator)) {
		return usageErrorf("tune takes no arguments, got %q: the study's folder is given as --out %s (to continue a study, with the flags it was started with)", a, shell.Path(a))
	}
	// A list's second value, most likely (--lr 0.001 0.003).
	return usageErrorf("tune takes no arguments, got %q (flags start with --, and a list's values are joined by commas: --lr 0.001,0.003; a study's folder is given as --out NAME; see %s)", a, shell.Command("tune --help"))
}

func tuneAction(c *cli.Context) (err error) {
	if c.NArg() > 0 {
		return tuneArgError(c)
	}
	spec, shardFrom, err := tuneSpec(c)
	if err != nil {
		return err
	}
	out, at, err := tuneOut(c, spec)
	if err != nil {
		return err
	}
	jobs, err := jobsPerDevice(c)
	if err != nil {
		return err
	}
	if shardFrom != "" {
		fmt.Fprintf(c.App.Writer, "shard %s from %s\n", spec.Shard, shardFrom)
	}
	if err := checkEngineFlags(c); err != nil {
		return err
	}
	if err := checkEngineEnv(); err != nil { // before --dry-run too
		return err
	}
	if _, err := tuneDevices(c); err != nil {
		return err // before --dry-run, which checks the flags
	}
	// --dry-run checks what the run would check first: the folder.
	if err := checkOutDir("--out", out); err != nil {
		return err
	}
	if err := studyPlace(c, out); err != nil {
		return err
	}
	if err := emptyData(c); err != nil { // before a dry run, which reads no data
		return err
	}
	if !c.IsSet("data") {
		// The default data is MNIST: a hold-out that leaves one of its
		// sets empty, or runs of more steps than the optimizer counts, are
		// refused now, not once the data is read and the engines run (a
		// dry run with --data checks that data's own).
		if err := spec.CheckMNISTSplit(); err != nil {
			return usageErrorf("%v", err)
		}
		if err := spec.CheckSteps(spec.TrainImages(), "a run's training set, of MNIST's"); err != nil {
			return usageErrorf("%v", err)
		}
		// A shard's final retraining is the merge's (tune merge --final).
		if c.Bool("final") && spec.Shard.N == 1 {
			if err := spec.CheckSteps(spec.FinalImages(), "the final retraining's, of MNIST's"); err != nil {
				return usageErrorf("%v (or leave the final retraining out: --final=false)", err)
			}
		}
	}
	if c.Bool("final") && spec.Shard.N == 1 {
		dir, _ := dataFolder(c, nil)
		if err := finalSpace(spec, out, dir); err != nil {
			return err
		}
	}
	others := tune.OtherFiles(out)
	if c.Bool("dry-run") {
		if err := tune.InUse(out); err != nil {
			return studyError(err) // the real run is refused so
		}
		if err := trainingInStudy(out); err != nil {
			return err
		}
		finished, err := tune.CheckFolder(out, spec)
		if err != nil {
			return studyError(err)
		}
		final := c.Bool("final") && spec.Shard.N == 1
		own, err := dryRunData(c, spec, out, final)
		if err != nil {
			return err
		}
		if final {
			if err := tune.FinalDamaged(out, spec); err != nil {
				return studyError(err)
			}
		}
		if old, _ := tune.LoadSpec(out); old != nil && old.Data == "" && finished > 0 {
			data := "the data the run is given"
			if c.IsSet("data") {
				data = c.String("data")
			}
			fmt.Fprintf(c.App.ErrWriter, "note: %s\n", tune.AdoptedData(out, data, finished, "would take"))
		}
		otherFilesNote(c.App.ErrWriter, out, others)
		printPlan(c.App.Writer, spec, out, finished, final, c.IsSet("data"), own)
		n := spec.MNISTCounts()
		if own != nil {
			n = tune.Counts{Train: own.runImages, Val: spec.ValImages(own.images), Final: own.finalImages, Test: own.testImages}
		}
		if err := printPlanTime(c.App.Writer, c, spec, out, jobs, final, n); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "nothing trained (--dry-run)\n")
		return nil
	}
	ctx, stop := interruptContext(c.Context, c.App.ErrWriter)
	defer stop()
	// The folder is this process's before the data is read and the
	// engines start, so that a second study on it, or one of another grid,
	// is refused at once (the runner takes the lock again inside).
	release, err := tune.Claim(out, spec)
	var inUse *tune.InUseError
	var other *tune.OtherStudyError
	for tries := 1; err != nil && !at.IsZero() && (errors.As(err, &inUse) || errors.As(err, &other)) && tries < 100; tries++ {
		// The default folder, made by another study started in the same
		// second (so there now: passed): the next free name is this one's.
		out = defaultStudy(at)
		release, err = tune.Claim(out, spec)
	}
	if err != nil {
		return studyError(err)
	}
	// After the claim: a training that locks one of the study's files
	// from now on finds the study's lock (lockOutputs), one that did
	// before is found here.
	if err := trainingInStudy(out); err != nil {
		release(true)
		return err
	}
	if at.IsZero() {
		otherFilesNote(c.App.ErrWriter, out, others)
	}
	// A failed study takes back what Claim wrote while no run is
	// recorded; so does one interrupted before its first run finished
	// (Ctrl-C on a mistyped command: the corrected one was refused as
	// another study). Once a run is recorded the folder is kept, to be
	// continued.
	defer func() { release(err != nil) }()
	data, err := loadMNIST(ctx, c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	engines, slots, finalEngine, err := tuneEngines(c, jobs, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer func() {
		for _, e := range engines {
			e.Close()
		}
		if finalEngine != nil {
			finalEngine.Close()
		}
	}()
	names := engineNames(engines)
	view := newStudyView(c.App.Writer, os.Stderr, isTerminal(os.Stderr))
	defer view.close()
	r := &tune.Runner{Spec: spec, Dir: out, Data: data, Engines: engines, Slots: slots, FinalEngine: finalEngine,
		Final: c.Bool("final") && spec.Shard.N == 1, Log: view, OnStatus: view.update, Machine: tune.MachineInfo() + "; engine " + names}
	watchStudyStalls(r, view)
	fmt.Fprintf(view, "engine: %s\n", names)
	err = r.Run(ctx)
	view.close()
	if errors.Is(err, tune.ErrInterrupted) {
		if tune.NothingRecorded(out) {
			// Taken back now, to say what is left: a folder whose
			// definition was there before this command keeps it.
			release(true)
			release = func(bool) {}
			if _, serr := os.Stat(filepath.Join(out, tune.SpecFile)); serr == nil {
				return withCode(130, fmt.Errorf("study interrupted before its first run recorded an epoch: nothing new is kept; %s holds the study's settings from before this command: continue it with the same command, or give another --out for other settings", out))
			}
			return withCode(130, fmt.Errorf("study interrupted before its first run recorded an epoch: nothing is kept, and %s's settings are not fixed; run the command again (with other flags if need be)", out))
		}
		return withCode(130, fmt.Errorf("study interrupted; %s\ncontinue with the same command and --out %s", studyKept(out, spec, r.Final), shell.Path(out)))
	}
	if err != nil {
		// Exit 2 for a folder that trained on other data.
		err = studyError(err)
		// The same command would not mend a divergence: its hint says
		// what to change.
		diverged := errors.Is(err, tune.ErrAllDiverged) || errors.Is(err, tune.ErrFinalDiverged)
		if ee := (*exitError)(nil); !errors.As(err, &ee) && !diverged && !tune.NothingRecorded(out) {
			// A failure of the engine, the disk: what the study keeps.
			err = fmt.Errorf("%w\n%s\nonce that is fixed, continue with the same command and --out %s", err, studyKept(out, spec, r.Final), shell.Path(out))
		}
		return err
	}
	if ctx.Err() != nil {
		endedNote(c.App.ErrWriter, out, spec.Shard.N > 1)
	}
	if spec.Shard.N == 1 {
		fmt.Fprintf(c.App.Writer, "report: %s\n", filepath.Join(out, tune.ReportFile))
	}
	return nil
}

// endedNote says that a study (shard: a shard of one) was interrupted
// once every run (and the final retraining) had ended: what was left,
// the figures and the report, was written whole.
func endedNote(w io.Writer, out string, shard bool) {
	holds := "its results, figures and report"
	if shard {
		holds = "the shard's runs, for tune merge"
	}
	fmt.Fprintf(w, "note: interrupted as the study ended: every run had finished, and %s holds %s\n", out, holds)
}

// studyKept says what the study in out keeps after it stopped before its
// end, and what the same command does with it (final: the study retrains
// its best setting).
func studyKept(out string, spec *tune.Spec, final bool) string {
	kept := "finished runs are kept"
	if n, err := tune.CheckFolder(out, spec); err == nil {
		kept = fmt.Sprintf("%d of %d runs finished, kept", n, len(spec.Mine())*spec.Rounds())
	}
	again := "a run cut short trains again from its start"
	if final {
		again += ", the final retraining from its last checkpoint, where it saved one"
	}
	return fmt.Sprintf("%s in %s (%s)", kept, out, again)
}

// studyPlace refuses a new study folder out inside another study's folder
// (its runs/ or plots/, which that study's files would be mixed with and
// whose report would not list it), and out as the data folder the study
// reads (--data, else the cache): an output that is one of the inputs.
func studyPlace(c *cli.Context, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(abs, tune.SpecFile)); err != nil {
		// (A study there already, made so by an earlier cnngpu or a
		// merge, goes on where it is.)
		for d := filepath.Dir(abs); d != filepath.Dir(d); d = filepath.Dir(d) {
			if st, err := os.Stat(filepath.Join(d, tune.SpecFile)); err == nil && st.Mode().IsRegular() {
				return usageErrorf("--out %s lies inside the study folder %s: give this study a folder of its own, outside it", out, d)
			}
		}
	}
	if c.Command.Name == "merge" && !c.Bool("final") {
		return nil // reads no data
	}
	data := c.String("data")
	if data == "" {
		if data, err = loader.CacheDir(); err != nil {
			return nil
		}
	}
	if samePath(out, data) {
		return usageErrorf("--out %s is the data folder the study reads (%s): give the study a folder of its own", out, data)
	}
	return nil
}

// ownData is what a dry run read of --data: its training images, and
// those its runs (the largest round's) and its final retraining would
// train on.
type ownData struct{ images, runImages, finalImages, testImages int }

// dryRunData reads, for a dry run, the training data the run would read
// (--data, else the cache, never fetched), where it needs it: --data
// given, or a study in out that records its data. It refuses what the
// run would: data dataAtHand refuses, data other than the study's, and
// (--data) a hold-out, folds or
// --train-limit subset that leave a round or the final retraining
// without a digit. With --data read, it returns the counts to plan with.
func dryRunData(c *cli.Context, spec *tune.Spec, out string, final bool) (*ownData, error) {
	old, _ := tune.LoadSpec(out)
	recorded := old != nil && old.Data != ""
	if !c.IsSet("data") && !recorded {
		return nil, nil
	}
	why := "to plan with: the steps below are planned for MNIST, and the run checks it once it has the data"
	if recorded {
		why = fmt.Sprintf("to check it against %s's (%s): the run checks it once it has the data", out, old.Data)
	}
	m, dir, err := dataAtHand(c, why)
	if err != nil || m == nil {
		return nil, err
	}
	if recorded {
		if err := tune.CheckData(out, m.Train.Fingerprint(), "in "+dir); err != nil {
			return nil, studyError(err)
		}
	}
	if !c.IsSet("data") {
		return nil, nil
	}
	runs, finals, err := tune.CheckSplits(spec, m.Train.Labels, final)
	if err != nil {
		return nil, studyError(err)
	}
	return &ownData{m.Train.N(), runs, finals, m.Test.N()}, nil
}

// dataAtHand reads the data a command would read (--data, else the
// cache) for a dry run's checks, without fetching it: nil where its files
// are not there or not readable (yet: a cluster's data, planned from a
// login node; or the cache's, which the run fetches again where they are
// damaged), said on standard error with why it was to be read; an error
// where --data's are there but the run would refuse them, as loadFrom
// does: not IDX files, a set without images, a training set without some
// digit (checkSets).
func dataAtHand(c *cli.Context, why string) (*loader.MNIST, string, error) {
	if err := checkDataFlag(c); err != nil {
		return nil, "", err
	}
	dir, err := dataFolder(c, c.App.ErrWriter)
	if err != nil {
		return nil, "", nil
	}
	m, err := loader.LoadDir(dir)
	if err != nil && c.IsSet("data") && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		return nil, dir, dataError(dir, err)
	}
	if err != nil {
		// (A damaged cache is fetched again by the run.)
		fmt.Fprintf(c.App.ErrWriter, "note: the training data in %s could not be read %s (%v)\n", dir, why, err)
		return nil, dir, nil
	}
	if err := checkSets(dir, m); err != nil {
		return nil, dir, err
	}
	return m, dir, nil
}

// finalSpace refuses a study whose final retraining's checkpoints would
// not fit in the free space of out's file system, before any training
// (the study trained every configuration and then failed at the
// retraining's first write); nothing where the retraining is done.
func finalSpace(spec *tune.Spec, out, dataDir string) error {
	if _, err := os.Stat(filepath.Join(out, tune.FinalFile)); err == nil {
		return nil
	}
	arch, opt, sched, err := spec.CheckpointParts()
	if err != nil {
		return nil // the run says so
	}
	// Its checkpoint every epoch (tune.FinalPartial, each beside the one
	// before), then its model beside the last of them: as a train run of
	// one epoch more.
	size, last := checkpointBytes(arch, opt, sched, spec.Epochs, dataDir)
	return checkSpace("--out "+out+" (its final retraining)", []string{filepath.Join(out, tune.FinalModel)}, size, last, spec.Epochs+1)
}

// studyError is err, with exit code 2 when the folder holds another
// study, is in use or has something in the way of the study's outputs
// (the flags or --out must change).
func studyError(err error) error {
	var oe *tune.OtherStudyError
	var ue *tune.InUseError
	var be *tune.BlockedError
	if errors.As(err, &oe) || errors.As(err, &ue) || errors.As(err, &be) {
		return withCode(2, err)
	}
	return err
}

// trainingInStudy refuses a study folder dir, or its runs/ or plots/,
// where a cnngpu train is writing a file (its lock, .NAME.lock, held:
// train --out dir/final.safetensors): each would write over the other's.
// (A train started once the study runs is refused by the study's lock.)
func trainingInStudy(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, tune.RunsDir), filepath.Join(dir, tune.PlotsDir)} {
		ents, _ := os.ReadDir(d) // none there: nothing written there
		for _, e := range ents {
			name, dot := strings.CutPrefix(e.Name(), ".")
			name, lock := strings.CutSuffix(name, ".lock")
			if !dot || !lock || name == "" {
				continue
			}
			if holder, held := fileutil.HeldBy(filepath.Join(d, e.Name())); held {
				return withCode(2, fmt.Errorf("%s: %s is training into %s, in the study's folder: wait for it to finish, or give the study another --out folder",
					dir, fileutil.AnotherProcess(holder), filepath.Join(d, name)))
			}
		}
	}
	return nil
}

// printPlan writes what a dry run would train: the shard's configurations
// with their share of the study's expected cost, less the runs finished
// in out already, and (final) the retraining of the best setting. The
// steps are those of own, --data's images, where it was read; else
// MNIST's (said where --data was given).
func printPlan(w io.Writer, spec *tune.Spec, out string, finished int, final, dataGiven bool, own *ownData) {
	all := spec.Configs()
	var total int64
	for _, c := range all {
		total += spec.Cost(c)
	}
	mine := spec.Mine()
	var cost int64
	for _, c := range mine {
		cost += spec.Cost(c)
	}
	share := func(v int64) string { return fmt.Sprintf("%.1f%%", 100*float64(v)/float64(total)) }
	runs := len(mine) * spec.Rounds()
	if spec.Shard.N > 1 {
		fmt.Fprintf(w, "dry run: shard %s holds %d of %s x %s (%s of the study's expected cost), into %s: %s to train\n",
			spec.Shard, len(mine), shown.Count(len(all), "configuration"), shown.Count(spec.Rounds(), "round"), share(cost), out, shown.Count(runs-finished, "run"))
	} else {
		fmt.Fprintf(w, "dry run: %s x %s into %s: %s to train\n",
			shown.Count(len(all), "configuration"), shown.Count(spec.Rounds(), "round"), out, shown.Count(runs-finished, "run"))
	}
	if finished > 0 {
		fmt.Fprintf(w, "  %d of its %d runs finished in %s already: kept, not trained again\n", finished, runs, out)
	}
	// done[i]: the rounds of mine[i] finished in out (CheckFolder has
	// checked the runs there).
	done := make([]int, len(mine))
	for i, c := range mine {
		for k := 0; finished > 0 && k < spec.Rounds(); k++ {
			if r, err := tune.LoadRunOf(out, spec, c, k); err == nil && r != nil && r.Done {
				done[i]++
			}
		}
	}
	if spec.Shard.N > 1 {
		var shares []string
		for _, v := range spec.ShardCost(spec.Shard.N) {
			shares = append(shares, share(v))
		}
		fmt.Fprintf(w, "  shares of the %d shards: %s\n", spec.Shard.N, strings.Join(shares, ", "))
	}
	n, finalN, have := spec.TrainImages(), spec.FinalImages(), tune.MNISTTrain
	if own != nil {
		n, finalN, have = own.runImages, own.finalImages, own.images
	}
	width, digits := 28, 4 // the columns: the default grid's widest, or wider
	for _, c := range mine {
		width = max(width, len(c.Label()))
		digits = max(digits, len(strconv.Itoa(engine.StepsPerEpoch(n, c.BatchSize))))
	}
	fmt.Fprintf(w, "  each configuration, its steps an epoch and its share of the study's expected cost:\n")
	for i, c := range mine {
		state := ""
		switch {
		case done[i] == spec.Rounds():
			state = "  finished"
		case done[i] > 0:
			state = fmt.Sprintf("  %d of %d rounds finished", done[i], spec.Rounds())
		}
		steps := engine.StepsPerEpoch(n, c.BatchSize)
		per := "steps/epoch"
		if steps == 1 {
			per = "step/epoch "
		}
		fmt.Fprintf(w, "  %-*s %*d %s  %5s%s\n", width, c.Label(), digits, steps, per, share(spec.Cost(c)), state)
	}
	if final {
		images := "all training images"
		if own != nil {
			images = fmt.Sprintf("all %d training images", have)
		}
		if finalN < have {
			images = fmt.Sprintf("a stratified subset of %d training images (--train-limit)", finalN)
		}
		old, err := tune.LoadFinalModel(out, spec) // as the run decides
		switch {
		case errors.Is(err, engine.ErrLaterFormat):
			fmt.Fprintf(w, "then the final model: %v; a run stops there, since the retraining would replace it\n", err)
		case err == nil && old.Diverged:
			fmt.Fprintf(w, "then the final model: the retraining of %s diverged (%s records it): not tried again while that is still the best setting (move %s away to retry, or --final=false)\n", old.Config.Label(), tune.FinalFile, tune.FinalFile)
		case err == nil:
			fmt.Fprintf(w, "then the final model: the one trained for %s is kept if that is still the best setting, else the best is retrained and tested (--final=false skips this)\n", old.Config.Label())
		case fileExists(filepath.Join(out, tune.FinalPartial)):
			fmt.Fprintf(w, "then the best setting is retrained on %s and tested, resuming the retraining in %s where it is that setting's (--final=false skips this)\n", images, tune.FinalPartial)
		default:
			fmt.Fprintf(w, "then the best setting is retrained on %s and tested (--final=false skips this)\n", images)
		}
	}
	switch {
	case own != nil:
		upTo := ""
		if spec.Folds > 0 {
			upTo = "up to " // the largest round's
		}
		fmt.Fprintf(w, "(the steps an epoch are --data's: %s%d training images a run; the expected cost's shares are MNIST's, as the shards are split)\n", upTo, n)
	case dataGiven:
		fmt.Fprintf(w, "(the steps an epoch are planned for MNIST's %d training images; the run counts --data's own)\n", tune.MNISTTrain)
	}
}

// mergeFlags reads and checks the merge command's flags and arguments.
func mergeFlags(c *cli.Context) (out string, dirs []string, opt tune.MergeOptions, err error) {
	out = c.String("out")
	if out == "" {
		return "", nil, opt, usageErrorf("tune merge needs --out DIR for the merged study")
	}
	if c.NArg() == 0 {
		return "", nil, opt, usageErrorf("tune merge needs the shard folders (or the folder holding them) as arguments")
	}
	if err := checkOutDir("--out", out); err != nil {
		return "", nil, opt, err
	}
	if err := studyPlace(c, out); err != nil {
		return "", nil, opt, err
	}
	if !c.Bool("final") {
		for _, f := range []string{"cpu", "device", "precision", "threads", "data"} {
			if c.IsSet(f) {
				return "", nil, opt, usageErrorf("--%s is for the final retraining: add --final, or leave it out", f)
			}
		}
	}
	if err := emptyArg(c, "tune merge", "the studies' folders to merge (each a 'cnngpu tune --shard' --out)"); err != nil {
		return "", nil, opt, err
	}
	for _, a := range c.Args().Slice() {
		// `--final true`: a switch's value taken as a folder.
		if _, err := os.Stat(a); err != nil {
			if hint := switchHint(c, a); hint != "" {
				return "", nil, opt, usageErrorf("tune merge: %q is not a folder: %s", a, hint)
			}
		}
	}
	opt = tune.MergeOptions{AllowMissing: c.Bool("allow-missing"), DryRun: c.Bool("dry-run")}
	return out, c.Args().Slice(), opt, nil
}

// otherFilesNote says that a new study's folder, out, holds other files
// (tune.OtherFiles), among which its own go: where --out was mistyped (.,
// a home, a folder of checkpoints) the user can stop it at once.
func otherFilesNote(w io.Writer, out string, others []string) {
	if len(others) == 0 {
		return
	}
	some := strings.Join(others[:min(3, len(others))], ", ")
	if len(others) > 3 {
		some += fmt.Sprintf(" and %d more", len(others)-3)
	}
	fmt.Fprintf(w, "note: --out %s already holds other files (%s): the study's %s, %s/, %s, %s and %s/ go among them (a new folder keeps them apart)\n",
		out, some, tune.SpecFile, tune.RunsDir, tune.ResultsFile, tune.ReportFile, tune.PlotsDir)
}

func mergeAction(c *cli.Context) error {
	out, dirs, opt, err := mergeFlags(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	// With --final the merged folder stays this process's until the best
	// setting is retrained.
	opt.KeepLock = c.Bool("final") && !opt.DryRun
	if c.Bool("final") {
		opt.Precision = c.String("precision")
	}
	var data *loader.MNIST
	var e engine.Engine // the final retraining's
	if c.Bool("final") && opt.DryRun {
		// The data checked against the shards' where it is there to
		// read, without fetching it (as tune --dry-run does).
		opt.Data = func() (string, error) {
			m, _, err := dataAtHand(c, "to check it against the shards': --final checks it once it has the data")
			if err != nil || m == nil {
				return "", err
			}
			return m.Train.Fingerprint(), nil
		}
	} else if c.Bool("final") {
		// The final retraining's engine and data, opened and read by
		// Merge once its own checks have passed and before it writes
		// anything, so that shards trained on other data (or a --data
		// that cannot be read, or tf32 where no GPU can be used) are
		// refused with nothing written.
		opt.Data = func() (string, error) {
			if e == nil { // (Merge may check again, under its lock)
				var err error
				if e, err = studyEngine(c, c.App.ErrWriter); err != nil {
					return "", err
				}
			}
			ctx, stop := interruptContext(c.Context, c.App.ErrWriter)
			defer stop()
			m, err := loadMNIST(ctx, c, c.App.ErrWriter)
			if err != nil {
				return "", err
			}
			data = m
			return m.Train.Fingerprint(), nil
		}
	}
	defer func() {
		if e != nil {
			e.Close()
		}
	}()
	others := tune.OtherFiles(out)
	if err := trainingInStudy(out); err != nil {
		return err
	}
	res, err := tune.Merge(out, dirs, opt)
	if err == nil {
		otherFilesNote(c.App.ErrWriter, out, others)
	}
	if res != nil && res.Release != nil {
		defer res.Release()
	}
	if res != nil {
		for _, d := range res.Skipped {
			fmt.Fprintf(c.App.ErrWriter, "note: %s holds an unsharded study beside the shards (a merge of them made there?): not merged\n", d)
		}
		for _, d := range res.InUse {
			fmt.Fprintf(c.App.ErrWriter, "note: %s is in use (a study still running there?): the runs it finishes from now on are not in this merge; merge again once it ends\n", d)
		}
	}
	if res != nil && err == nil {
		are, mixes := "are", "mixes"
		if opt.DryRun {
			are, mixes = "would be", "would mix"
		}
		for _, d := range res.Unrecorded {
			fmt.Fprintf(c.App.ErrWriter, "note: %s does not record the data its runs trained on (an earlier cnngpu made it, or merged it from such folders): its finished runs %s taken as trained on the data %s records; if they trained on other data, the merge %s the two\n", d, are, res.DataFrom, mixes)
		}
	}
	if res != nil && (err == nil || len(res.Missing) > 0) {
		for _, src := range res.Sources {
			fmt.Fprintf(w, "  %s: shard %s, %s", src.Dir, src.Shard, shown.Count(src.Finished, "finished run"))
			if src.Runs != src.Finished {
				fmt.Fprintf(w, ", %d new to %s", src.Runs, out)
			}
			fmt.Fprintln(w)
		}
	}
	if err != nil {
		return studyError(err)
	}
	verb := "merged"
	if opt.DryRun {
		verb = "would merge"
	}
	fmt.Fprintf(w, "%s %s from %s into %s", verb, shown.Count(res.Copied, "run"), shown.Count(len(res.Sources), "folder"), out)
	if res.Present > 0 {
		fmt.Fprintf(w, " (%d there already)", res.Present)
	}
	fmt.Fprintln(w)
	if len(res.Differ) > 0 {
		// A shard run again since the last merge: its new runs are not
		// taken over the ones merged before, and not without a word.
		fmt.Fprintln(c.App.ErrWriter, res.DifferList(fmt.Sprintf("note: %s already held %s that a folder given holds with other results (trained again since, or elsewhere); %s kept its own, as merged before (move them out of %s, and merge again, to take the new ones):",
			out, shown.Count(len(res.Differ), "finished run"), out, filepath.Join(out, tune.RunsDir))))
	}
	if res.MissingRuns > 0 {
		are := "runs are"
		if res.MissingRuns == 1 {
			are = "run is"
		}
		fmt.Fprintln(w, res.MissingList(fmt.Sprintf("%d %s finished in no folder; --final, or %s with the same grid and --out %s, trains them:",
			res.MissingRuns, are, shell.Command("tune"), shell.Path(out))))
	}
	if opt.DryRun {
		if c.Bool("final") {
			missing := ""
			if res.MissingRuns > 0 {
				missing = fmt.Sprintf("train the %s finished in no folder, then ", shown.Count(res.MissingRuns, "run"))
			}
			fmt.Fprintf(w, "--final would then %sretrain and test the best setting\n", missing)
		}
		fmt.Fprintln(w, "nothing written (--dry-run)")
		return nil
	}
	if !c.Bool("final") {
		report := filepath.Join(out, tune.ReportFile)
		_, ferr := os.Stat(filepath.Join(out, tune.FinalFile))
		if (ferr == nil && res.Copied == 0) || res.Copied+res.Present == 0 {
			// Retrained and tested already (the same merge again after
			// --final), or nothing finished to choose from.
			fmt.Fprintf(w, "report: %s\n", report)
			return nil
		}
		fmt.Fprintf(w, "report: %s (add --final, or run %s with the same grid and --out %s, to retrain and test the best setting)\n",
			report, shell.Command("tune"), shell.Path(out))
		return nil
	}
	return finishMerged(c, out, e, data)
}

// finishMerged trains what the merged folder lacks and retrains and tests
// the best setting on data (read by the merge: MergeOptions.Data), like an unsharded
// `cnngpu tune` on it.
func finishMerged(c *cli.Context, out string, e engine.Engine, data *loader.MNIST) error {
	spec, err := tune.LoadSpec(out)
	if err != nil {
		return err
	}
	ctx, stop := interruptContext(c.Context, c.App.ErrWriter)
	defer stop()
	view := newStudyView(c.App.Writer, os.Stderr, isTerminal(os.Stderr))
	defer view.close()
	r := &tune.Runner{Spec: spec, Dir: out, Data: data, Engines: []engine.Engine{e}, Final: true,
		Log: view, OnStatus: view.update, Machine: tune.MachineInfo() + "; final retraining on " + e.Name()}
	watchStudyStalls(r, view)
	fmt.Fprintf(view, "engine: %s\n", e.Name())
	err = r.Run(ctx)
	view.close()
	if errors.Is(err, tune.ErrInterrupted) {
		return withCode(130, fmt.Errorf("interrupted; the merged runs are kept in %s\ncontinue with the same command", out))
	}
	if err != nil {
		return studyError(err)
	}
	if ctx.Err() != nil {
		endedNote(c.App.ErrWriter, out, false)
	}
	fmt.Fprintf(c.App.Writer, "report: %s\n", filepath.Join(out, tune.ReportFile))
	return nil
}

// watchStudyStalls has r say on view a training on a GPU that has finished
// nothing for stallPatience (stallNote; a study on the CPU engine is not
// watched).
func watchStudyStalls(r *tune.Runner, view io.Writer) {
	if !isGPU(r.Engines[0]) {
		return
	}
	r.StallAfter = stallPatience
	r.OnStall = func(e engine.Engine, what string, since time.Duration) {
		fmt.Fprintln(view, stallNote(what+": ", e, since))
	}
}
