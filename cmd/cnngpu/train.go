// train.go: `cnngpu train`: train the network, checkpoint every epoch,
// stop cleanly on Ctrl-C, and report test accuracy.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
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
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/cnngpu/cnngpu/tune"
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
			&cli.IntFlag{Name: "epochs", Value: 10, Usage: "`N` passes over the training set"},
			&cli.IntFlag{Name: "batch-size", Value: 128, Usage: "`N` images per training step"},
			&cli.Float64Flag{Name: "lr", Usage: "learning rate `RATE` (its peak, with a schedule), overriding the recipe's", DefaultText: "0.003 with --recipe default, 0.001 with --recipe reference"},
			&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "adam (β1 0.9, β2 0.999, ε 1e-7) or sgd (with --momentum)"},
			&cli.Float64Flag{Name: "momentum", Value: 0.9, Usage: "SGD momentum `M`, from 0 to below 1, with --optimizer sgd (Adam refuses it)"},
			&cli.StringFlag{Name: "activation", Value: "relu", Usage: "hidden-layer activation: relu, sigmoid or tanh"},
			&cli.StringFlag{Name: "arch", Value: "reference", Usage: "architecture: reference (3x3 same-padded convolutions) or original (5x5 valid, as in the reference's first script)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed `N` for initial weights, shuffling and augmentation; the same seed repeats a CPU run bit for bit"},
			&cli.StringFlag{Name: "seeds", Usage: "train once per seed of `LIST` (a range 1-10, a comma list 1,4,7, or both) and summarise test accuracy: mean ± std, min, max"},
			recipeFlag, scheduleFlag, augmentFlag, labelSmoothingFlag,
			&cli.Float64Flag{Name: "val-split", Value: 0, Usage: "`FRACTION` of the training set held out (stratified, seed 42) for validation, from 0 to below 1; 0 trains on all 60,000"},
			&cli.IntFlag{Name: "train-limit", Value: 0, Usage: "train on a stratified subset of `N` images (0 = all, else 10 or more), for quick trials"},
			&cli.StringFlag{Name: "out", Usage: "checkpoint `FILE`, written after every epoch (default: runs/model-<time>.safetensors); \"{seed}\" in it is replaced by the seed, and with --seeds a path without it gets -seedN before its extension"},
			&cli.StringFlag{Name: "resume", Usage: "continue the run saved in checkpoint `FILE`"},
			&cli.StringFlag{Name: "metrics", Usage: "write one JSON object per epoch to `FILE` (with --seeds: each epoch with its seed, each seed's result and the summary)"},
			&cli.BoolFlag{Name: "quiet", Usage: "print only the final result (with --seeds: a line per seed and the summary), and on standard error a fall-back to the CPU engine and, without --out or --resume, the checkpoint's name"},
			&cli.BoolFlag{Name: "json", Usage: "print the result (each seed's with --seeds, and the summary) as JSON on standard output"},
			&cli.BoolFlag{Name: "continue", Usage: "with --seeds and the --out of a --seeds run that stopped: each seed whose checkpoint there is a finished run of these settings is tested again, not retrained; one stopped mid-run resumes; the others train"},
		},
		Action: trainAction,
	}
}

// trainSetup is the validated form of train's flags.
type trainSetup struct {
	arch  engine.Arch
	opt   engine.OptConfig
	cfg   engine.TrainConfig
	sched engine.ScheduleKind // planned over the run's steps once the data is known
	pos   engine.Position
	init  *engine.Checkpoint // when resuming
	from  string             // the checkpoint resumed (--resume)
	// fromFile is that file as it was before it was read (unchanged
	// checks it once the outputs are locked).
	fromFile os.FileInfo
	out      string
	outs     []string // the checkpoints written: out, or one per seed
	hist     []engine.EpochMetrics
	quiet    bool
	json     bool
	metric   string
	// outAt and outN: where --out is the default, the time in its name
	// and which of that time's names it is (defaultOut); outN is 0 where
	// the user named --out.
	outAt time.Time
	outN  int
	seeds []uint64 // --seeds; nil for one run
	// earlier (--continue): per seed, the run its checkpoint at --out
	// holds (nil: none there); seedFlags: the command's flags but --out
	// and --continue, for the hint that continues the seeds.
	earlier []*earlierSeed
	// kept: the --out paths that hold an earlier run's checkpoint, which a
	// stop in this run's first epoch keeps rather than replace
	// (warnReplaced), each with the command that resumes that run where
	// it is unfinished ("" where it is not).
	kept      map[string]string
	seedFlags string
	saved     *engine.Position // what s.out holds from a resumed run's checkpoint
	// again is the flags a resume must repeat, for the hint an
	// interruption prints: those of the invocation that the checkpoint
	// does not keep (--data, --metrics, the engine's).
	again string
}

// parseOpt returns the optimizer the flags ask for, at the learning rate
// lr (--lr, else the recipe's).
func parseOpt(c *cli.Context, lr float64) (engine.OptConfig, error) {
	lr, err := checkLR(lr)
	if err != nil {
		return engine.OptConfig{}, err
	}
	m, err := checkMomentum(c)
	if err != nil {
		return engine.OptConfig{}, err
	}
	switch c.String("optimizer") {
	case "adam":
		if c.IsSet("momentum") && c.String("resume") == "" { // a resume compares it with its checkpoint's
			return engine.OptConfig{}, adamMomentumError(m)
		}
		return engine.OptConfig{Kind: engine.Adam, LR: float32(lr), Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, nil
	case "sgd":
		return engine.OptConfig{Kind: engine.SGD, LR: float32(lr), Momentum: float32(m)}, nil
	}
	return engine.OptConfig{}, usageErrorf("--optimizer %q: expected adam or sgd", c.String("optimizer"))
}

// adamMomentumError refuses --momentum m given with Adam (train's and
// tune's).
func adamMomentumError(m float64) error {
	return usageErrorf("--momentum %v is SGD's: Adam keeps moments of its own (β1 0.9, β2 0.999); give --optimizer sgd with it, or leave it out", m)
}

func parseTrainFlags(c *cli.Context) (*trainSetup, error) {
	if c.NArg() > 0 {
		return nil, usageErrorf("train takes no arguments, got %q", c.Args().First())
	}
	s := &trainSetup{quiet: c.Bool("quiet") || c.Bool("json"), json: c.Bool("json"), metric: c.String("metrics")}
	act, err := engine.ParseActivation(c.String("activation"))
	if err != nil || act == engine.Identity {
		return nil, usageErrorf("--activation %q: expected relu, sigmoid or tanh", c.String("activation"))
	}
	if s.arch, err = engine.NewArch(c.String("arch"), act); err != nil {
		return nil, usageErrorf("--arch %q: expected %s", c.String("arch"), strings.Join(engine.Presets, " or "))
	}
	r, err := parseRecipe(c)
	if err != nil {
		return nil, err
	}
	lr := r.LR
	if c.IsSet("lr") {
		lr = c.Float64("lr")
	}
	if s.opt, err = parseOpt(c, lr); err != nil {
		return nil, err
	}
	s.cfg = engine.TrainConfig{Epochs: c.Int("epochs"), BatchSize: c.Int("batch-size"), Seed: c.Uint64("seed"),
		ValSplit: c.Float64("val-split"), TrainLimit: c.Int("train-limit")}
	// Refused before the space check counts the epochs.
	if err := checkEpochs(s.cfg.Epochs, "a checkpoint"); err != nil {
		return nil, err
	}
	if s.cfg.BatchSize < 1 || s.cfg.BatchSize > 60000 {
		return nil, usageErrorf("--batch-size %d: expected 1 to 60000", s.cfg.BatchSize)
	}
	if v := s.cfg.ValSplit; !(v >= 0 && v < 1) {
		return nil, usageErrorf("--val-split %v: expected a fraction from 0 (no validation set) to below 1", v)
	}
	if err := checkTrainLimit(s.cfg.TrainLimit); err != nil {
		return nil, err
	}
	s.cfg.Recipe, s.cfg.LabelSmoothing, s.sched = r.Name, r.LabelSmoothing, r.Schedule
	s.cfg.Augmentation = r.Augment
	if c.IsSet("seeds") {
		if c.IsSet("seed") || c.IsSet("resume") {
			return nil, usageErrorf("--seeds runs one training per seed: it excludes --seed and --resume")
		}
		if s.seeds, err = parseSeeds(c.String("seeds")); err != nil {
			return nil, err
		}
	}
	if c.Bool("continue") {
		switch {
		case s.seeds == nil:
			return nil, usageErrorf("--continue continues a --seeds run; a single run continues with --resume CHECKPOINT (a job that may be stopped and started again unchanged: --seeds N --continue, which trains seed N, goes on with it where it stopped, or tests it again once finished)")
		case !c.IsSet("out"):
			return nil, usageErrorf("--continue finds the seeds' checkpoints through --out: give the --out of the --seeds run to continue (its interruption message names it)")
		}
	}
	if s.seeds != nil {
		s.seedFlags = seedFlags(c)
	}
	if m := c.String("metrics"); strings.Contains(m, "{seed}") {
		return nil, usageErrorf("--metrics %s: \"{seed}\" is replaced in --out only; one metrics file takes all the seeds of a --seeds run (each line names its seed): give a plain file name", m)
	}
	if c.IsSet("resume") && c.String("resume") == "" {
		return nil, usageErrorf("--resume was given an empty path: it needs the checkpoint of the run to continue")
	}
	for _, f := range []string{"data", "metrics", "device", "threads", "precision"} {
		// A seed of a --seeds run resumes on its own: the --metrics file
		// holds the finished seeds' results, which its resumed run would
		// replace with its own epochs.
		if c.IsSet(f) && (f != "metrics" || s.seeds == nil) {
			s.again += valueArg(c, f)
		}
	}
	// The output's form too: a script that read --json gets JSON again.
	for _, f := range []string{"cpu", "json", "quiet"} {
		if c.Bool(f) {
			s.again += " --" + f
		}
	}
	if r := c.String("resume"); r != "" {
		// Before its contents are judged: a checkpoint another training
		// is writing holds that run's state of the moment (an earlier
		// finished run, or nothing yet), and was said to be finished or
		// missing.
		// (Resumed into an --out of its own, it continues from that
		// moment's state, read whole as every checkpoint is written.)
		_, lock := outputLock(r)
		if _, outLock := outputLock(c.String("out")); resumesInPlace(c) || outLock == lock {
			if holder, held := fileutil.HeldBy(lock); held {
				return nil, withCode(2, fmt.Errorf("--resume %s: %s is training into that file now; wait for it to finish, or give this run an --out of its own (a resumed run writes back into its checkpoint unless --out names another file)", r, fileutil.AnotherProcess(holder)))
			}
		}
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
			s.outAt, s.outN = time.Now(), 1
			s.out = defaultOut(s.outAt, s.outN)
		}
	} else if r := c.String("resume"); r != "" && s.init != nil && samePath(s.out, r) {
		s.saved = &s.init.Position // --out is the checkpoint resumed
	}
	if s.seeds == nil && c.String("out") != "" {
		// In --out only: a --resume path is the file given, braces and all.
		s.out = strings.ReplaceAll(s.out, "{seed}", strconv.FormatUint(s.cfg.Seed, 10))
	}
	s.skipTakenOut()
	outs := s.outsOf(s.out)
	// Two seeds writing one file (a "{seed}" in a folder that ".." leaves)
	// would find the file locked by this very run.
	seen := map[string]int{}
	for i, out := range outs {
		if a, err := filepath.Abs(out); err == nil {
			if j, ok := seen[a]; ok {
				return nil, usageErrorf("--out %s: seeds %d and %d would both write %s: put {seed} in the file's name (e.g. %s)",
					c.String("out"), s.seeds[j], s.seeds[i], filepath.Clean(out), filepath.Join(filepath.Dir(out), "m-{seed}.safetensors"))
			}
			seen[a] = i
		}
	}
	// With --continue, a finished seed's checkpoint is tested again, not
	// written: one made read-only to keep it is no reason to refuse. Which
	// seeds those are is read (findEarlier) once the outputs are found
	// fit to read (not a pipe, a folder or a file of another kind).
	cont := c.Bool("continue") && s.seeds != nil
	for _, out := range outs {
		if err := checkTrainOutputs(c, out, !cont); err != nil {
			return nil, err
		}
	}
	s.outs = outs
	if c.Bool("continue") {
		if err := s.findEarlier(); err != nil {
			return nil, err
		}
		// Nothing to continue is no error (a job restarted by a cluster
		// continues whether or not it ran before), but a mistyped --out
		// would train every seed anew unsaid.
		if len(s.outs) > 0 && !slices.ContainsFunc(s.earlier, func(e *earlierSeed) bool { return e != nil }) {
			more := ""
			if len(s.outs) > 1 {
				more = fmt.Sprintf(", and %d more", len(s.outs)-1)
			}
			fmt.Fprintf(c.App.ErrWriter, "note: --continue found no checkpoint at --out's names (%s for seed %d%s): every seed trains from the start\n", s.outs[0], s.seeds[0], more)
		}
	}
	// The checkpoints this run writes: a --continue's finished seeds are
	// only tested again.
	var writes []string
	for i, out := range outs {
		if e := s.earlierAt(i); cont && e != nil && e.finished {
			continue
		}
		if cont {
			if err := refuseReadOnly("--out", out); err != nil {
				return nil, err
			}
		}
		writes = append(writes, out)
	}
	if len(writes) > 0 {
		dir, _ := dataFolder(c, nil)
		size, last := checkpointBytes(s.arch, s.opt, s.sched, s.cfg.Epochs, dir)
		if err := checkSpace("--out "+writes[0], writes, size, last, s.cfg.Epochs-s.pos.Epoch); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// timedName is the nth (from 1) default output of kind for a run started
// at t: runs/<kind>-<time>, then runs/<kind>-<time>-2, ….
func timedName(kind string, t time.Time, n int) string {
	name := filepath.Join("runs", kind+"-"+t.Format("20060102-150405"))
	if n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	return name
}

// defaultOut is the nth default --out for a run started at t:
// runs/model-<time>.safetensors, then …-2.safetensors, ….
func defaultOut(t time.Time, n int) string { return timedName("model", t, n) + ".safetensors" }

// outsOf is the checkpoints written for --out out: out, or one per seed.
func (s *trainSetup) outsOf(out string) []string {
	if s.seeds == nil {
		return []string{out}
	}
	var outs []string
	for _, seed := range s.seeds {
		outs = append(outs, seedPath(out, seed))
	}
	return outs
}

// skipTakenOut moves a default --out past the names another run has
// written (in the same second), any seed's file counting; a name the
// user gave (outN 0) stays.
func (s *trainSetup) skipTakenOut() {
	for s.outN > 0 && slices.ContainsFunc(s.outsOf(s.out), pathTaken) {
		s.outN++
		s.out = defaultOut(s.outAt, s.outN)
	}
}

// pathTaken reports whether anything is at path p.
func pathTaken(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// lockDefaultOut takes lockOutputs' locks where --out is the default
// name: a name another run started in the same second holds now, or has
// written since the flags were checked (a run that ended meanwhile), is
// passed for the next one (the user gave none), up to 100 names. A
// --metrics file another run holds is refused at once, as without it.
func lockDefaultOut(c *cli.Context, s *trainSetup, stderr io.Writer) (func(), error) {
	for {
		release, err := lockOutputs(c, s.outs, stderr)
		switch {
		case s.outN == 0 || s.outN >= 100, err != nil && !errors.Is(err, errOutLocked):
			return release, err
		case err == nil && !slices.ContainsFunc(s.outs, pathTaken):
			return release, nil
		case err == nil:
			release() // a run that ended meanwhile wrote it
		}
		s.outN++
		s.out = defaultOut(s.outAt, s.outN)
		s.skipTakenOut()
		s.outs = s.outsOf(s.out)
	}
}

// errOutLocked: another process is training into a checkpoint of --out
// (lockOutputs's lockedError for one is; for --metrics it is not).
var errOutLocked = errors.New("locked by another training")

// lockedError is a checkpoint path another process holds (errOutLocked).
type lockedError struct{ error }

func (e *lockedError) Unwrap() error        { return e.error }
func (e *lockedError) Is(target error) bool { return target == errOutLocked }

// checkpointBytes is about the size of a checkpoint of arch trained with
// opt for epochs on the data in folder dataDir: the weights and the
// optimizer's state (one moment for SGD, two for Adam) as float32s, and a
// header of about 2 KB and 200 bytes an epoch of history (allowed 4 KB and
// 512) besides the data folder's name (JSON in a JSON string: escaped
// twice; a long one took the header past the estimate); last is the run's
// last one's, the weights alone where its schedule (sched) ends (not at
// a constant rate: the training's weightsOnly).
func checkpointBytes(arch engine.Arch, opt engine.OptConfig, sched engine.ScheduleKind, epochs int, dataDir string) (size, last int64) {
	tensors := int64(2)
	if opt.Kind == engine.Adam {
		tensors = 3
	}
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	once, _ := json.Marshal(dataDir)
	twice, _ := json.Marshal(string(once))
	header := int64(4<<10+512*epochs) + int64(len(twice))
	size = tensors*4*int64(arch.NumParams()) + header
	if engine.ScheduleEnded(engine.Position{Epoch: epochs}, epochs, sched) {
		return size, 4*int64(arch.NumParams()) + header
	}
	return size, size
}

// dataFolder is the folder the command reads MNIST from: --data, or the
// cache's (cacheDir, with its note on note).
func dataFolder(c *cli.Context, note io.Writer) (string, error) {
	if dir := c.String("data"); dir != "" {
		return dir, nil
	}
	return cacheDir(note)
}

// lockOutputs takes, for the whole run, a lock on each checkpoint path in
// outs and on --metrics (a hidden ".NAME.lock" beside each, removed when
// released), so that a second training writing the same file is refused
// at once instead of each replacing the other's file every epoch. Where
// the file system has no locks, it says so and goes on unlocked.
func lockOutputs(c *cli.Context, outs []string, stderr io.Writer) (release func(), err error) {
	type held struct {
		path string
		f    *os.File
	}
	var hs []held
	// undos take back the folders made here for the outputs, the last
	// made first; those still empty once the locks are gone (a run that
	// wrote nothing: refused, interrupted before its first step,
	// diverged) are removed.
	var undos []func()
	release = func() {
		for _, h := range hs {
			fileutil.Unlock(h.path, h.f)
		}
		for _, undo := range slices.Backward(undos) {
			undo()
		}
	}
	paths := slices.Clone(outs)
	if m := c.String("metrics"); m != "" {
		paths = append(paths, m)
	}
	warned := false
	locked := map[string]string{} // lock file: the output that took it, with its flag
	for i, p := range paths {
		flag, another := "--out", "another --out"
		if i == len(outs) {
			flag, another = "--metrics", "another --metrics"
		} else if resumesInPlace(c) {
			flag, another = "--resume", "an --out of its own (a resumed run writes back into its checkpoint unless --out names another file)"
		}
		undo, err := fileutil.MkdirAll(filepath.Dir(p), 0o755)
		if err != nil {
			release()
			return nil, fmt.Errorf("%s %s: making its folder: %w", flag, p, err)
		}
		undos = append(undos, undo)
		var lock string
		given := p
		p, lock = outputLock(p)
		if first, ok := locked[lock]; ok {
			// Two of this run's outputs are one file (links): not
			// "another process", which is this one.
			release()
			return nil, usageErrorf("%s and %s %s are one file, %s (through a symbolic link): this run would write both into it; give each a file of its own", first, flag, given, p)
		}
		f, holder, err := fileutil.TryLock(lock)
		switch {
		case err == nil:
			hs = append(hs, held{lock, f})
			locked[lock] = flag + " " + given
			// A study writes its files there (final.safetensors, its
			// runs/ and plots/), and would write over this run's, or
			// this run over its.
			for _, study := range []string{filepath.Dir(p), filepath.Dir(filepath.Dir(p))} {
				if holder, held := fileutil.HeldBy(filepath.Join(study, tune.LockFile)); held {
					release()
					return nil, withCode(2, fmt.Errorf("%s %s: %s is a study that %s is running (a cnngpu tune, tune merge or plot on it), which writes its files there: wait for it to finish, or give this run %s",
						flag, given, study, fileutil.AnotherProcess(holder), another))
				}
			}
			continue
		case errors.Is(err, fileutil.ErrLocked):
			release()
			err := fmt.Errorf("%s %s: %s is training into that file now; wait for it to finish, or give this run %s", flag, p, fileutil.AnotherProcess(holder), another)
			if i < len(outs) {
				err = &lockedError{err}
			}
			return nil, withCode(2, err)
		case errors.Is(err, fileutil.ErrNoLocks):
			if !warned {
				fmt.Fprintf(stderr, "warning: %s cannot be locked here (%v): run one training at a time on it\n", p, err)
				warned = true
			}
			continue
		}
		release()
		return nil, fmt.Errorf("%s %s: %w", flag, p, err)
	}
	return release, nil
}

// outputLock returns the file that writing p writes (a link's target) and
// the lock beside it: two names of one file are one lock.
func outputLock(p string) (target, lock string) {
	if t, err := fileutil.WriteTarget(p); err == nil {
		p = t
	}
	return p, filepath.Join(filepath.Dir(p), "."+fileutil.ShortName(filepath.Base(p))+".lock")
}

// warnReplaced says which files of an earlier run this one will replace
// (the checks let an earlier checkpoint or metrics file be replaced, as a
// rerun does): each --out holding a checkpoint not resumed here, and
// --metrics holding lines of a run not resumed. Said even with --quiet.
func warnReplaced(w io.Writer, s *trainSetup) {
	held := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.Mode().IsRegular() && st.Size() > 0
	}
	for i, out := range s.outs {
		if s.earlier != nil && s.earlier[i] != nil {
			continue // continued, not replaced
		}
		if !held(out) || s.from != "" && samePath(out, s.from) {
			continue
		}
		// An earlier run's checkpoint is kept until this run's first
		// epoch ends, Ctrl-C included: a stop in the first seconds (the
		// note read, --out forgotten) costs nothing. A run stopped before
		// its end (make run interrupted, then run again) is one the user
		// may have meant to resume: the note says how. (Not one left
		// with weights gone NaN: a diverged run, which --resume refuses.)
		if s.kept == nil {
			s.kept = map[string]string{}
		}
		// Its header says whether the run finished (most often it did: a
		// second make run), in a millisecond; only an unfinished one's
		// file is read whole, to tell a diverged run.
		if ck, err := engine.LoadHeader(out); err == nil && ck.Position.Epoch < ck.Config.Epochs && loadsWhole(out) {
			again := self() + " train --resume " + shell.Path(out) + loader.DataFlag(ck.Config.DataDir)
			how := "stop this one (Ctrl-C) before then and run: " + again
			if s.seeds != nil {
				again = s.continueCommand()
				how = "stop this one (Ctrl-C) before then and continue the seeds with: " + again
			}
			s.kept[out] = again
			fmt.Fprintf(w, "note: %s holds the checkpoint of an earlier run of %s, stopped %s; this run replaces it when its first epoch ends (give --out another name, or move the file aside, to keep it); to go on with that run instead, %s\n",
				out, shown.Count(ck.Config.Epochs, "epoch"), stoppedWhere(ck.Position), how)
			continue
		}
		// A finished run's, where the stop finds nothing of this run
		// written: not after a seed of this run finished (a stop then
		// saves, for --continue to go on from), nor in a run resumed from
		// another checkpoint (whose resume command a stop prints).
		if s.from != "" || s.seeds != nil && i > 0 {
			fmt.Fprintf(w, "note: %s holds an earlier run's checkpoint; this run replaces it when its first epoch ends, or when it is interrupted after its first step (give --out another name, or move the file aside, to keep it)\n", out)
			continue
		}
		s.kept[out] = ""
		fmt.Fprintf(w, "note: %s holds an earlier run's checkpoint; this run replaces it when its first epoch ends (give --out another name, or move the file aside, to keep it; a Ctrl-C before then keeps it)\n", out)
	}
	switch m := s.metric; {
	case m == "" || !held(m):
	case s.earlier != nil:
		fmt.Fprintf(w, "note: --continue writes %s anew: each continued seed's epochs and result from its checkpoint, then the seeds trained now\n", m)
	case s.from == "":
		fmt.Fprintf(w, "note: %s holds an earlier run's metrics; this run writes its own there when its first epoch ends\n", m)
	case seedsMetrics(m):
		fmt.Fprintf(w, "note: %s holds the metrics of a --seeds run; this resumed run replaces them with its own epochs when its first epoch ends (give --metrics another name to keep them)\n", m)
	case !metricsOf(m, s.hist):
		fmt.Fprintf(w, "note: %s holds metrics that are not the epochs of %s; this resumed run replaces them with its own when its first epoch ends (give --metrics another name to keep them)\n", m, s.from)
	}
}

// loadsWhole tells whether the checkpoint at p loads as a model: read and
// checked whole, its values finite (a diverged run's are not).
func loadsWhole(p string) bool {
	_, err := engine.LoadWeights(p)
	return err == nil
}

// metricsOf reports whether the metrics file p begins with the lines a run
// with history hist wrote (writeMetrics): the metrics of the run resumed,
// perhaps with epochs past its checkpoint's, which it trains again.
func metricsOf(p string, hist []engine.EpochMetrics) bool {
	want, err := encodeMetrics(hist)
	if err != nil || len(want) == 0 {
		return false
	}
	got, err := fileutil.ReadFile(p, maxMetricsKept)
	return err == nil && bytes.HasPrefix(got, want)
}

// seedsMetrics reports whether the metrics file p holds lines of a
// --seeds run (a seed's epochs, results or the summary), which a resumed
// run, rewriting the file with its own history, would replace.
func seedsMetrics(p string) bool {
	// Such a file starts with its first seed's first epoch: {"seed":N,...
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(`{"seed":`))
	_, err = io.ReadFull(f, head)
	return err == nil && string(head) == `{"seed":`
}

// unchanged checks that the checkpoint resumed is still the file read
// (was, its state before): another training may have written it between
// the read and the lock that now keeps others out, and resuming from the
// older state would then write over a later one.
func unchanged(path string, was os.FileInfo) error {
	if stillFile(path, was) {
		return nil
	}
	return fmt.Errorf("--resume %s: the checkpoint changed while this run was starting (another training wrote it, or it was replaced); nothing was written: run the command again to resume from what it holds now", path)
}

// stillFile reports whether path is still the file was described when it
// was read: the same file, size and modification time.
func stillFile(path string, was os.FileInfo) bool {
	now, err := os.Stat(path)
	return err == nil && was != nil && os.SameFile(was, now) && now.Size() == was.Size() && now.ModTime().Equal(was.ModTime())
}

// resume loads the checkpoint and takes its settings; a flag given
// explicitly that contradicts it is refused (except --epochs, which may
// extend the run).
func (s *trainSetup) resume(c *cli.Context, path string) error {
	if err := checkpointNotFolder("--resume", path); err != nil {
		return err
	}
	s.fromFile, _ = os.Stat(path) // LoadCheckpoint names a missing file
	ck, err := engine.LoadCheckpoint(path)
	if err != nil {
		return fmt.Errorf("--resume: %w", missingCheckpoint(path, err))
	}
	if ck.Config.BatchSize < 1 || ck.Config.Epochs < 1 {
		return usageErrorf("--resume %s: the checkpoint holds weights with no training run recorded (batch size %d, %d epochs): it can be evaluated, exported or served, not resumed; start a new run",
			path, ck.Config.BatchSize, ck.Config.Epochs)
	}
	// A finished run's last checkpoint keeps no optimizer state where its
	// schedule has ended: that is said below, as for one that keeps it.
	if ck.S1 == nil && !engine.ScheduleEnded(ck.Position, ck.Config.Epochs, ck.Opt.Sched.Kind) {
		return usageErrorf("--resume %s: the checkpoint holds weights without the optimizer's state: it can be evaluated, exported or served, not resumed; start a new run",
			path)
	}
	// The flags given that contradict the checkpoint (the schedule by
	// its kind: the rest of it is the checkpoint's).
	here := runSettings(s.arch, s.cfg, s.opt, s.sched)
	if c.IsSet("momentum") {
		// Compared with an SGD run's without --optimizer sgd too (this
		// command's optimizer is then Adam's default, which has none).
		here = append(here, setting{"momentum", fmtLR(float32(c.Float64("momentum")))})
	}
	for _, t := range runSettings(ck.Arch, ck.Config, ck.Opt, ck.Opt.Sched.Kind) {
		if h, ok := here.lookup(t.flag); ok && c.IsSet(t.flag) && h != t.value {
			return usageErrorf("--resume %s: the checkpoint was trained with --%s %v, but --%s %v was given; drop the flag to continue that run, or start a new one without --resume",
				path, t.flag, t.value, t.flag, h)
		}
	}
	if ck.Opt.Kind == engine.Adam && c.IsSet("momentum") {
		// Refused as in a new Adam run (an --optimizer sgd was refused
		// above).
		return usageErrorf("--resume %s: the checkpoint was trained with Adam, which takes no --momentum (it keeps moments of its own); drop --momentum to continue that run", path)
	}
	epochs := s.cfg.Epochs
	s.arch, s.opt, s.cfg, s.sched = ck.Arch, ck.Opt, ck.Config, ck.Opt.Sched.Kind
	if c.IsSet("epochs") && epochs != s.cfg.Epochs {
		if s.opt.Sched.Kind != engine.ConstantLR {
			return usageErrorf("--resume %s: that run's %s schedule was planned for %s; --epochs %d cannot change it: train a new run with --epochs %d instead (a run with --schedule constant can be extended later)",
				path, s.opt.Sched.Kind, shown.Count(s.cfg.Epochs, "epoch"), epochs, epochs)
		}
		s.cfg.Epochs = epochs
	}
	s.pos, s.init, s.hist, s.from = ck.Position, ck, ck.History, path
	if s.pos.Epoch >= s.cfg.Epochs {
		// Its model is whole (a run stopped after its last checkpoint,
		// before its test result, is one): eval gives that result.
		test := shell.Command("eval --model " + shell.Path(path) + loader.DataFlag(s.cfg.DataDir))
		if engine.ScheduleEnded(s.pos, s.cfg.Epochs, s.opt.Sched.Kind) {
			return usageErrorf("--resume %s: that run already finished its %s, and its %s schedule has brought the rate to its end: its test result comes from %s; to train further, train a new run (with more --epochs)",
				path, shown.Count(s.cfg.Epochs, "epoch"), s.opt.Sched.Kind, test)
		}
		if c.IsSet("epochs") {
			return usageErrorf("--resume %s: that run has trained %s; --epochs %d is not more than that: its test result comes from %s; give a larger --epochs to train further",
				path, shown.Count(s.pos.Epoch, "epoch"), s.cfg.Epochs, test)
		}
		return usageErrorf("--resume %s: that run already finished its %s: its test result comes from %s; give --epochs N with N larger than %d to train further",
			path, shown.Count(s.pos.Epoch, "epoch"), test, s.pos.Epoch)
	}
	return nil
}

// maxMetricsKept is the largest --metrics file restoreMetrics can put
// back (a run of 10 epochs writes about 2 KB).
const maxMetricsKept = 64 << 20

// restoreMetrics puts --metrics back as the command found it: its earlier
// contents, or no file (where it is a link, the file it leads to is
// removed, not the link); a failure is said on stderr.
func (r *trainRun) restoreMetrics() {
	m := r.s.metric
	var err error
	if r.metricsRead == nil {
		err = writeFile(m, r.metricsBefore)
	} else {
		if t, terr := fileutil.WriteTarget(m); terr == nil {
			m = t
		}
		if err = os.Remove(m); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	if err != nil {
		fmt.Fprintf(r.stderr, "warning: --metrics %s: putting back what it held before this run failed (%v): its last lines may name epochs of a checkpoint that was not written\n", r.s.metric, err)
	}
}

// writeMetrics rewrites the JSON-lines metrics file atomically.
func writeMetrics(path string, hist []engine.EpochMetrics) error {
	b, err := encodeMetrics(hist)
	if err != nil {
		return err
	}
	return writeFile(path, b)
}

// encodeMetrics is the metrics file of a run with history hist: one JSON
// line per epoch.
func encodeMetrics(hist []engine.EpochMetrics) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, m := range hist {
		if err := enc.Encode(m); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// writeFile writes b to path atomically, making its folder.
func writeFile(path string, b []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := fileutil.MakeDirs(dir, 0o755); err != nil {
			return err
		}
	}
	return fileutil.WriteAtomic(path, b, 0o644)
}

func epochLine(m engine.EpochMetrics, epochs int) string {
	// "train": the training images' figures, as trained (augmented), not
	// the test set's, which the last line gives.
	s := fmt.Sprintf("epoch %d/%d  train loss %.4f  acc %s", m.Epoch, epochs, m.TrainLoss, percent(m.TrainAcc))
	if !math.IsNaN(m.ValAcc) {
		s += fmt.Sprintf("  val loss %.4f  val acc %s", m.ValLoss, percent(m.ValAcc))
	}
	// Two decimals under a second (a GPU's epoch: 0.12s, not 0.1s).
	secs := fmt.Sprintf("%.1fs", m.Seconds)
	if m.Seconds < 0.95 {
		secs = fmt.Sprintf("%.2fs", m.Seconds)
	}
	s += fmt.Sprintf("  %s  %.0f img/s", secs, m.ImagesPerSec)
	switch {
	case m.Partial:
		s += "  (resumed mid-epoch: figures cover the part run now)"
	case m.Resumed:
		s += "  (resumed mid-epoch: time and img/s cover the part run now)"
	}
	return s
}

func trainAction(c *cli.Context) (err error) {
	s, err := parseTrainFlags(c)
	if err != nil {
		return err
	}
	// (Refused before the GPU is looked for: its note would come first.)
	if err := checkDataFlag(c); err != nil {
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
	ctx, stop := interruptContext(c.Context, c.App.ErrWriter)
	defer stop()

	var note io.Writer = stderr
	if s.quiet {
		note = nil
	}
	var fetchLog io.Writer = stderr
	if s.quiet {
		fetchLog = nil
	}
	reading := loadAside(ctx, c, fetchLog)
	defer reading.cancel()
	var initial *weightsAside
	if s.init == nil {
		first := s.cfg.Seed
		if s.seeds != nil {
			first = s.seeds[0]
		}
		initial = drawAside(s.arch, first)
	}
	e, err := newEngine(c, stderr, s.quiet)
	if err != nil {
		return err
	}
	defer closeEngine(e, c.App.ErrWriter, &err)
	data, fp, err := reading.wait()
	if err != nil {
		return err
	}
	if ck := s.init; ck != nil && ck.Config.Data != "" && ck.Config.Data != fp {
		return usageErrorf("--resume %s: that run trained on other data (%s, from %s), but %s holds %s: resume with --data %s, or start a new run",
			s.from, lineName(ck.Config.Data), lineName(ck.Config.DataDir), data.Dir, fp, shell.Path(ck.Config.DataDir))
	} else if ck != nil && ck.Config.Data == "" {
		// Said even with --quiet: nothing else could tell.
		fmt.Fprintf(stderr, "note: %s does not record the data it trained on (written by an earlier cnngpu, or a study's final model): it resumes on %s (%s), and records that from now on; cnngpu cannot tell whether it is the same data\n",
			s.from, data.Dir, fp)
	}
	allIdx := engine.AllIndices(data.Train.N())
	var valIdx []int32
	if s.cfg.ValSplit > 0 {
		if allIdx, valIdx, err = loader.Holdout(data.Train.Labels, s.cfg.ValSplit, splitSeed); err != nil {
			return usageErrorf("--val-split: %v", err)
		}
	}
	ds, err := engine.UploadDataset(e, data.Train.Images.Pixels, data.Train.Labels)
	if err != nil {
		return err
	}
	test, err := engine.UploadDataset(e, data.Test.Images.Pixels, data.Test.Labels)
	if err != nil {
		return err
	}
	// The outputs are this run's from here (the checks that could refuse
	// the run, made: nothing is created for a run that does not start).
	release, err := lockDefaultOut(c, s, stderr)
	if err != nil {
		return err
	}
	defer release()
	if s.from != "" {
		if err := unchanged(s.from, s.fromFile); err != nil {
			return err
		}
	}
	warnReplaced(stderr, s)
	say("engine: %s", e.Name())
	run := &trainRun{s: s, e: e, train: ds, test: test, allIdx: allIdx, valIdx: valIdx, labels: data.Train.Labels, data: fp, say: say,
		stdout: stdout, stderr: stderr, note: note, writer: engine.NewCheckpointWriter(), initial: initial}
	defer run.writer.Close()
	if s.metric != "" {
		// Written by this build, one line an epoch: a file larger is
		// not kept to be put back (a failed first checkpoint then
		// leaves the file emptied, as before).
		run.metricsBefore, run.metricsRead = fileutil.ReadFile(s.metric, maxMetricsKept)
	}
	if s.seeds != nil {
		return run.seeds(ctx, data.Dir)
	}
	r, err := run.one(ctx, data.Dir, s.cfg.Seed, s.out)
	if err != nil {
		if s.json {
			// What stopped, for a script reading the JSON (the message
			// and the exit code say the rest), as a --seeds run writes.
			stopped := struct {
				Stopped    seedStop `json:"stopped"`
				Checkpoint string   `json:"checkpoint,omitempty"`
			}{Stopped: seedStop{s.cfg.Seed, isInterruption(err), err.Error()}}
			if errors.As(err, new(resumable)) {
				stopped.Checkpoint = s.out // the run goes on from it
			}
			json.NewEncoder(stdout).Encode(stopped)
		}
		return err
	}
	if s.json {
		return json.NewEncoder(stdout).Encode(r)
	}
	// r.Seconds is the whole training's, as its epoch lines add up:
	// those before a resume too, and the part of the one it resumed in.
	now, before := r.Seconds, ""
	if s.init != nil {
		if earlier := earlierSeconds(s.init); earlier > 0 {
			now = max(0, now-earlier)
			before = fmt.Sprintf("; %.1fs with the training before it stopped", r.Seconds)
		}
	}
	if len(valIdx) > 0 {
		before = ", validation included" + before
	}
	fmt.Fprintf(stdout, "test accuracy %s  test loss %.4f  (%d images; trained %s in %.1fs%s)\n",
		percent(r.TestAcc), r.TestLoss, r.TestImages, e.Name(), now, before)
	if s.quiet && !c.IsSet("out") && c.String("resume") == "" {
		// The name was made up here: say it even when quiet.
		fmt.Fprintf(stderr, "checkpoint: %s\n", r.Checkpoint)
	}
	say("checkpoint: %s  (evaluate with: %s)", r.Checkpoint, evalHint(r.Checkpoint, data.Dir))
	return nil
}

// trainRun is what the runs of one `cnngpu train` share: the engine and the
// datasets on it, uploaded once for all seeds.
type trainRun struct {
	s              *trainSetup
	e              engine.Engine
	train, test    *engine.Dataset
	allIdx, valIdx []int32
	labels         []uint8 // the training labels on the host (subsets)
	data           string  // the training set's fingerprint
	// --metrics with --seeds: the lines of finished seeds, and the
	// current seed's epochs.
	metricsDone, metricsEpochs []byte
	// metricsBefore: what --metrics held before this command wrote it,
	// put back where the run's first checkpoint fails and --out keeps the
	// earlier run's; metricsRead: reading it then failed (fs.ErrNotExist:
	// there was no file, none is left; another error: not put back).
	metricsBefore  []byte
	metricsRead    error
	say            func(string, ...any)
	stdout, stderr io.Writer
	note           io.Writer // notes on stderr; nil with --quiet
	sizesSaid      bool      // the notes on --train-limit, --batch-size and a one-step schedule: once, not per seed
	// writer writes each epoch's checkpoint beside the next epoch, for
	// all seeds (one row of writes in the trace).
	writer *engine.CheckpointWriter
	// initial: the first seed's initial weights, drawn while the engine
	// started (nil for a resumed run).
	initial *weightsAside
}

// weightsAside is a seed's initial weights drawn on another goroutine
// (drawAside): the reference model's 3.2 M draws take 10–20 ms, which
// overlap the engine's start instead of following it.
type weightsAside struct {
	seed uint64
	done chan struct{}
	w    []float32 // set before done is closed
	used bool      // taken (by the one goroutine that takes)
}

// drawAside starts drawing arch's initial weights for seed.
func drawAside(arch engine.Arch, seed uint64) *weightsAside {
	d := &weightsAside{seed: seed, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		defer trace.Aside()()
		defer trace.Begin(trace.InitWeights).End()
		d.w = arch.GlorotInit(seed)
	}()
	return d
}

// take returns seed's initial weights for arch: those drawn beside
// (waiting for them) the first time they are asked for, else drawn
// here. Only one goroutine calls it.
func (d *weightsAside) take(arch engine.Arch, seed uint64) []float32 {
	if d == nil || d.used || d.seed != seed {
		return arch.GlorotInit(seed)
	}
	d.used = true
	sp := trace.Begin(trace.InitWait)
	<-d.done
	sp.End()
	w := d.w
	d.w = nil // the run keeps d: not the weights too
	return w
}

// seedResult is one training's outcome, as --json prints it.
type seedResult struct {
	Seed       uint64  `json:"seed"`
	TestAcc    float64 `json:"test_acc"`
	TestLoss   float64 `json:"test_loss"`
	TestImages int     `json:"test_images"`
	Seconds    float64 `json:"seconds"`
	Checkpoint string  `json:"checkpoint"`
	// Continued (--continue): "tested", a seed an earlier command
	// trained, tested again now; "resumed", one it stopped, finished
	// now. Seconds then add the earlier command's epochs.
	Continued string `json:"continued,omitempty"`
}

// MarshalJSON adds checkpoint_base64 where the checkpoint's name is not
// UTF-8 (JSON's string holds U+FFFD for its bad bytes), as predict
// gives file_base64.
func (r seedResult) MarshalJSON() ([]byte, error) {
	type plain seedResult
	return json.Marshal(struct {
		plain
		CheckpointBase64 string `json:"checkpoint_base64,omitempty"`
	}{plain(r), nameBase64(r.Checkpoint)})
}

// one trains the setup with seed, saving to out, and tests the result.
func (r *trainRun) one(ctx context.Context, dataDir string, seed uint64, out string) (seedResult, error) {
	s, e := r.s, r.e
	cfg := s.cfg
	cfg.Seed = seed
	trainIdx := r.trainIdx(cfg.TrainLimit, seed)
	first := !r.sizesSaid // of the seeds: the notes on the sizes once
	r.sizesSaid = true
	note := r.note
	if !first {
		note = nil
	}
	if err := checkTrainSet(cfg.TrainLimit, r.allIdx, cfg.ValSplit > 0, r.labels, trainIdx, note); err != nil {
		return seedResult{}, err
	}
	steps := engine.StepsPerEpoch(len(trainIdx), cfg.BatchSize)
	if cfg.BatchSize > len(trainIdx) && s.init == nil && note != nil {
		fmt.Fprintf(note, "note: --batch-size %d is more than the %d training images; each step takes all %d, one step an epoch\n", cfg.BatchSize, len(trainIdx), len(trainIdx))
	}
	if engine.TooManySteps(cfg.Epochs, steps) {
		return seedResult{}, usageErrorf("--epochs %d of %d steps (%d images, --batch-size %d) are more than the %d optimizer steps its step count holds exactly: use a larger --batch-size or fewer --epochs",
			cfg.Epochs, steps, len(trainIdx), cfg.BatchSize, engine.MaxSteps)
	}
	flag, anew := "--resume", "start a new run"
	if s.earlier != nil {
		flag, anew = "--continue", "move it away to train that seed anew"
	}
	if s.init != nil && s.pos.Step >= steps {
		return seedResult{}, usageErrorf("%s %s: its position (epoch %d, step %d) lies past the %d steps of an epoch of this training set: the run trained on other data (give the --data it trained on), or the file is damaged; %s",
			flag, s.from, s.pos.Epoch+1, s.pos.Step, steps, anew)
	}
	if s.init != nil {
		if d := s.init.StepCountMismatch(steps); d != "" {
			return seedResult{}, usageErrorf("%s %s: %s: the run trained on other data (give the --data it trained on), or the file is damaged; %s", flag, s.from, d, anew)
		}
		if got, want := s.init.Opt.Sched, engine.NewSchedule(s.init.Opt.Sched.Kind, cfg.Epochs*steps); got != want {
			return seedResult{}, usageErrorf("%s %s: its schedule (%s) is not the one its %s of %d steps plan (%s): the run trained on other data (give the --data it trained on), or the file is damaged; %s",
				flag, s.from, got, shown.Count(cfg.Epochs, "epoch"), steps, want, anew)
		}
	}
	if cfg.Data == "" {
		// Absolute: the resume hint names it from any folder.
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			abs = dataDir
		}
		cfg.Data, cfg.DataDir = r.data, abs
	}
	opt := s.opt
	if s.init == nil {
		opt.Sched = engine.NewSchedule(s.sched, cfg.Epochs*steps)
	}
	var m *engine.Model
	var err error
	if s.init != nil {
		m, err = engine.NewModelFrom(e, s.init)
	} else {
		m, err = engine.NewModel(e, s.arch, opt, r.initial.take(s.arch, seed))
	}
	if err != nil {
		return seedResult{}, err
	}
	defer m.Release()
	r.say("data: %s (%d training images, %d validation, %d test)", dataDir, len(trainIdx), len(r.valIdx), r.test.N)
	smoothing := ""
	if cfg.LabelSmoothing > 0 {
		smoothing = fmt.Sprintf(", label smoothing %g", cfg.LabelSmoothing)
	}
	optimizer := engine.OptName(opt.Kind)
	if opt.Kind == engine.SGD {
		optimizer += " momentum " + fmtLR(opt.Momentum)
	}
	r.say("model: %s, %s, %d parameters; %s lr %g, %s schedule, augment %s%s, batch %d, %s, seed %d (recipe %s)",
		s.arch.Preset, s.arch.Act, s.arch.NumParams(), optimizer, opt.LR, opt.Sched, engine.AugmentName(cfg.Augmentation), smoothing,
		cfg.BatchSize, shown.Count(cfg.Epochs, "epoch"), seed, recipeLabel(cfg, s.sched, opt.LR))
	if first && s.init == nil && s.sched == engine.CosineLR && opt.Sched.Kind != engine.CosineLR {
		r.say("note: this run takes one step, so it keeps a constant rate: %s", engine.OneStepWhy)
	}
	if s.init != nil {
		r.say("resuming from epoch %d, step %d", s.pos.Epoch+1, s.pos.Step)
	}
	hist := append([]engine.EpochMetrics(nil), s.hist...)
	saved := s.saved // what out holds from this run, when anything
	// again is the flags a resume of out repeats: --epochs too while out
	// holds the checkpoint this run resumed and the run went past its
	// epochs (the file records its own, which a resume would keep to, or
	// refuse as finished).
	again := func() string {
		if saved != nil && saved == s.saved && s.init.Config.Epochs != cfg.Epochs {
			return s.again + " --epochs " + strconv.Itoa(cfg.Epochs)
		}
		return s.again
	}
	// hookFailed: writing --out or --metrics failed, with its own message
	// of what is kept (an engine error is the run's, below).
	hookFailed := false
	// An epoch's checkpoint is read back from the engine at once, and
	// encoded and written on the writer's goroutine while the next epoch
	// trains; the next save waits for it first, and reports its failure as
	// a failed save. Until a write is done, saved names the checkpoint
	// before it, which is what out holds.
	writer := r.writer
	defer writer.Wait() // no write outlives the run (one() waits on every way out)
	// weightsOnly: the checkpoint at pos is the run's last, where its
	// schedule has ended (any but the constant rate, which --resume can
	// extend): it holds the weights without the optimizer's moments, for
	// no training can go on from it (--resume refuses a finished run),
	// eval, predict, export and serve read the weights alone, and it is
	// the fewer bytes to write while the user waits (a third with Adam).
	weightsOnly := func(pos engine.Position) bool {
		return pos.Step == 0 && engine.ScheduleEnded(pos, cfg.Epochs, opt.Sched.Kind)
	}
	// The first checkpoint's buffers, made beside the first epoch.
	writer.Prepare(m, !weightsOnly(engine.Position{Epoch: s.pos.Epoch + 1}))
	wait := func() error {
		ck, err := writer.Wait()
		if ck != nil && err == nil {
			saved = &ck.Position
		}
		return err
	}
	// unsaved: a write failed; the metrics go back to the epochs out
	// holds (the metrics of an epoch are written as its checkpoint's
	// write starts, beside it: a process killed outright during that
	// write leaves them an epoch ahead of out, which a resume writes
	// again, from the checkpoint's history, as its first epoch ends).
	unsaved := func() {
		// (A resumed run's metrics held its checkpoint's epochs before;
		// a checkpoint may hold fewer epochs' metrics than it trained.)
		done := 0
		for done < len(hist) && (done < len(s.hist) || hist[done].Epoch <= savedEpochs(saved)) {
			done++
		}
		switch {
		case s.metric == "" || done == len(hist):
		case done == 0 && len(r.metricsDone) == 0 && (r.metricsRead == nil || errors.Is(r.metricsRead, fs.ErrNotExist)):
			// Nothing of this command is kept: the file goes back to
			// what it held (an earlier run's metrics, beside the
			// checkpoint --out still holds), or away.
			r.restoreMetrics()
		default:
			r.writeMetrics(seed, hist[:done])
		}
	}
	// failed is a save that failed with err: what out holds, and how to go
	// on. A checkpoint refused for values gone non-finite is a divergence,
	// whose message (divergedError) says what out holds.
	failed := func(err error) error {
		unsaved()
		if errors.Is(err, engine.ErrReadBack) {
			return err // the engine's: the run's error path says what is kept
		}
		hookFailed = true
		if isDivergence(err) {
			return err
		}
		if _, serr := os.Stat(out); saved != nil && errors.Is(serr, fs.ErrNotExist) {
			// Removed from outside the run (its folder deleted): nothing
			// to resume.
			return fmt.Errorf("--out: %w\nthe checkpoint written before (it would have resumed at epoch %d, step %d) is gone too, removed from outside this run: nothing of the run is kept", err, saved.Epoch+1, saved.Step)
		}
		if saved != nil {
			return resumable{fmt.Errorf("--out: %w\nthe checkpoint there is intact (it resumes at epoch %d, step %d): once that is fixed, resume with: %s",
				err, saved.Epoch+1, saved.Step, resumeCommand(out, again()))}
		}
		return fmt.Errorf("--out: %w\n%s", err, nothingWritten(out))
	}
	// flush waits for the write in flight; its failure is a failed save.
	flush := func() error {
		if err := wait(); err != nil {
			return failed(err)
		}
		return nil
	}
	save := func(pos engine.Position) error {
		if err := flush(); err != nil {
			return err
		}
		// On a GPU the read-back is only queued here: its copies land on
		// the writer's goroutine while the next epoch trains, and Save
		// checks them there (finite values), reporting at the next save
		// or the run's end; weights gone non-finite stop the training
		// before that at the next loss check (every 32 steps on a GPU).
		sp := trace.Begin(trace.Checkpoint)
		ck, err := engine.SnapshotBeside(writer.Spare(), m, cfg, pos, slices.Clone(hist), !weightsOnly(pos))
		sp.End()
		if err != nil {
			return err // the engine's: the run's error path says what is kept
		}
		writer.Start(ck, out)
		return nil
	}
	tr := &engine.Trainer{M: m, Data: r.train, TrainIdx: trainIdx, ValIdx: r.valIdx, Epochs: cfg.Epochs, BatchSize: cfg.BatchSize,
		Seed: seed, Augment: cfg.Augmentation, LabelSmoothing: cfg.LabelSmoothing}
	bar := newProgressBar(r.stderr, os.Stderr, !s.quiet && isTerminal(os.Stderr))
	if bar.enabled {
		tr.ProgressEvery = 200 * time.Millisecond
		tr.OnProgress = bar.update
	}
	if isGPU(r.e) {
		what := ""
		if s.seeds != nil {
			what = fmt.Sprintf("seed %d: ", seed)
		}
		tr.StallAfter = stallPatience
		tr.OnStall = func(since time.Duration) { bar.note(stallNote(what, r.e, since)) }
	}
	tr.OnEpoch = func(em engine.EpochMetrics, pos engine.Position) error {
		bar.clear()
		r.say("%s", epochLine(em, cfg.Epochs))
		hist = append(hist, em)
		if _, kept := s.kept[out]; kept && saved == nil && ctx.Err() != nil && pos.Epoch < cfg.Epochs {
			// A stop asked before this run's first epoch ended (in its
			// validation): the earlier run's checkpoint is kept, as the
			// note said, and the training stops here (the next epoch's
			// start sees the stop). The last epoch's is saved: the run
			// has finished.
			return nil
		}
		// The checkpoint first: a metrics file that cannot be written
		// does not cost the epoch.
		if err := save(pos); err != nil {
			return err
		}
		if s.metric != "" {
			if err := r.writeMetrics(seed, hist); err != nil {
				if werr := flush(); werr != nil {
					return werr
				}
				hookFailed = true
				return keptCheckpoint(fmt.Errorf("--metrics: %w", err), out, saved, cfg.Epochs, again(), dataDir)
			}
		}
		return nil
	}
	pos, err := tr.Run(ctx, s.pos)
	bar.clear()
	if errors.Is(err, engine.ErrInterrupted) {
		if pos == s.pos {
			// Nothing trained: a checkpoint would only replace what
			// --out holds (an earlier run's model) with the start.
			if s.from != "" {
				return seedResult{}, withCode(130, fmt.Errorf("interrupted before the first step: nothing was trained or written (%s is as it was); run the same command again to resume it", s.from))
			}
			if _, err := os.Lstat(out); err != nil {
				return seedResult{}, withCode(130, fmt.Errorf("interrupted before the first step: nothing was trained or written (no %s was made)", out))
			}
			return seedResult{}, withCode(130, fmt.Errorf("interrupted before the first step: nothing was trained or written (%s is as it was)", out))
		}
		serr := flush() // a first epoch's checkpoint in flight lands: saved says so
		if again, kept := s.kept[out]; kept && saved == nil && serr == nil {
			// In this run's first epoch, over an earlier run's
			// checkpoint: kept, as the note said.
			unsaved()
			goOn := ""
			if again != "" && s.seeds == nil { // else the seeds' continue command follows
				goOn = "; go on with that run with: " + again
			}
			when := stoppedWhere(pos) + ", in this run's first epoch"
			if pos.Step == 0 {
				when = "as this run's first epoch ended" // in its validation
			}
			err := withCode(130, fmt.Errorf("interrupted %s: %s is as it was, with the earlier run, and nothing of this run was written%s",
				when, out, goOn))
			if again == "" {
				// A finished run's, in the first seed: --continue would
				// take it for this run's (or refuse it, of other
				// settings), and nothing of this run is there to go on.
				return seedResult{}, earlierKept{err}
			}
			return seedResult{}, err
		}
		if serr == nil && (saved == nil || *saved != pos) { // else stopped at an epoch's end: saved already
			if serr = save(pos); serr == nil {
				serr = flush()
			}
		}
		if isDivergence(serr) {
			// The epoch that ended as the interrupt came left weights
			// gone non-finite: a divergence, as without the interrupt.
			return seedResult{}, divergedError(serr, e, opt, out, saved, saved != nil && r.unusable(out, trainIdx))
		}
		if serr != nil {
			return seedResult{}, withCode(130, fmt.Errorf("interrupted, and saving the checkpoint failed: %v", serr))
		}
		return seedResult{}, withCode(130, resumable{fmt.Errorf("interrupted %s; checkpoint saved to %s\nresume with: %s",
			stoppedWhere(pos), out, resumeCommand(out, again()))})
	}
	var lost error // the last finished epoch's checkpoint, not written
	if err != nil && !hookFailed {
		// The last finished epoch's checkpoint lands (or fails) before
		// the error says what out holds. One refused as non-finite when
		// the training diverged is that divergence, which says so.
		if werr := wait(); werr != nil {
			unsaved()
			if !isDivergence(err) || !isDivergence(werr) {
				lost = werr
			}
		}
	}
	if isDivergence(err) {
		if lost != nil {
			fmt.Fprintf(r.stderr, "cnngpu: train: writing the last checkpoint: %v\n", lost)
		}
		return seedResult{}, divergedError(err, e, opt, out, saved, saved != nil && r.unusable(out, trainIdx))
	}
	if err != nil {
		if hookFailed {
			return seedResult{}, err
		}
		if lost != nil {
			// After the failure, not before it: said with what out holds.
			which := "the last epoch that ended"
			if len(hist) > 0 {
				which = fmt.Sprintf("epoch %d", hist[len(hist)-1].Epoch)
			}
			if errors.Is(err, engine.ErrDeviceLost) && errors.Is(lost, engine.ErrDeviceLost) {
				err = fmt.Errorf("%w\nthe checkpoint of %s was not written: its copy from the GPU failed with the fault", err, which)
			} else {
				err = fmt.Errorf("%w\nthe checkpoint of %s was not written: %v", err, which, lost)
			}
		}
		return seedResult{}, keptCheckpoint(err, out, saved, cfg.Epochs, again(), dataDir)
	}
	res, err := r.testModel(ctx, m)
	// The last epoch's checkpoint was written beside the test.
	if werr := flush(); werr != nil {
		if isDivergence(werr) {
			return seedResult{}, divergedError(werr, e, opt, out, saved, saved != nil && r.unusable(out, trainIdx))
		}
		if errors.Is(werr, engine.ErrReadBack) {
			return seedResult{}, keptCheckpoint(werr, out, saved, cfg.Epochs, again(), dataDir)
		}
		if err == nil && engine.IsFinite(res.Loss) {
			// The model trained and was tested: its result is not lost
			// with it.
			fmt.Fprintf(r.stderr, "note: the trained model (seed %d), not saved, had test accuracy %s, test loss %.4f (%d images)\n",
				seed, percent(res.Acc), res.Loss, res.N)
		}
		return seedResult{}, werr
	}
	if errors.Is(err, engine.ErrInterrupted) {
		return seedResult{}, withCode(130, fmt.Errorf("interrupted during the test evaluation; the training finished, and %s holds it: test it with: %s",
			out, evalHint(out, dataDir)))
	}
	if err != nil {
		return seedResult{}, keptCheckpoint(fmt.Errorf("testing the trained model: %w", err), out, saved, cfg.Epochs, again(), dataDir)
	}
	if !engine.IsFinite(res.Loss) {
		return seedResult{}, divergedError(fmt.Errorf("the test loss is %v: %w", res.Loss, engine.ErrNonFinite), e, opt, out, saved, true)
	}
	if ctx.Err() != nil && s.seeds == nil {
		// Ctrl-C while the last checkpoint was being written: taken
		// once it was, with nothing left to stop (a --seeds run says
		// what it kept itself).
		fmt.Fprintf(r.stderr, "note: interrupted as the run ended: it had finished and been tested, and %s holds it\n", out)
	}
	if engine.BlewUp(res) {
		whose := "the" // one run
		if s.seeds != nil {
			whose = fmt.Sprintf("seed %d's", seed)
		}
		fmt.Fprintf(r.stderr, "note: %s test accuracy %s is about chance (10%%) and its test loss %.3g far above an untrained model's (2.3): the training blew up without turning NaN; "+
			"the learning rate is likely too high for this model (--lr %s with %s): try a smaller --lr (the default recipe's is 0.003, the reference recipe's 0.001)\n",
			whose, percent(res.Acc), res.Loss, fmtLR(opt.LR), engine.OptName(opt.Kind))
	}
	// The time its epochs record, as a seed tested again by --continue
	// counts it from its checkpoint: the same figure either way.
	return seedResult{Seed: seed, TestAcc: res.Acc, TestLoss: res.Loss, TestImages: res.N, Seconds: historySeconds(hist), Checkpoint: out}, nil
}

// testModel evaluates m on the test set (a row of the trace).
func (r *trainRun) testModel(ctx context.Context, m *engine.Model) (engine.EvalResult, error) {
	defer trace.Begin(trace.TestEval).End()
	defer watchGPU(r.stderr, r.e, "testing the model")()
	return engine.EvaluateContext(ctx, m, r.test, engine.AllIndices(r.test.N), 0, false)
}

// trainIdx is the training images of a run with seed: all of them, or
// a stratified subset of limit (--train-limit).
func (r *trainRun) trainIdx(limit int, seed uint64) []int32 {
	if limit > 0 {
		return loader.Subset(r.labels, r.allIdx, limit, seed)
	}
	return r.allIdx
}

// unusable reports whether the checkpoint at out, that of a run which has
// since diverged, gives non-finite outputs itself: the updates that ended
// its epoch can leave finite weights too large for any forward pass (an
// extreme --lr). It is judged on the first training images; false where
// that cannot be done.
func (r *trainRun) unusable(out string, trainIdx []int32) bool {
	ck, err := engine.LoadWeights(out) // only evaluated
	if err != nil {
		return false
	}
	m, err := engine.NewInferenceModel(r.e, ck.Arch, ck.Params)
	if err != nil {
		return false
	}
	defer m.Release()
	res, err := engine.EvaluateContext(context.Background(), m, r.train, trainIdx[:min(len(trainIdx), engine.DefaultEvalBatch)], 0, false)
	return err == nil && !engine.IsFinite(res.Loss)
}

// savedEpochs is how many whole epochs the checkpoint at saved holds (0
// for none).
func savedEpochs(saved *engine.Position) int {
	if saved == nil {
		return 0
	}
	return saved.Epoch
}

// keptCheckpoint adds to err, a failure of the engine during training or
// the test that follows it, what the run has kept: the checkpoint of its
// last finished epoch at out (saved; nil when none was written), and how
// to go on from it: resume it (with the same flags; a resumed run keeps
// its batch size), or, when every one of the epochs was trained, evaluate
// it.
func keptCheckpoint(err error, out string, saved *engine.Position, epochs int, again, dataDir string) error {
	if saved == nil {
		return fmt.Errorf("%w\n%s", err, nothingWritten(out))
	}
	if saved.Epoch >= epochs {
		return trainedKept{fmt.Errorf("%w\nthe trained model is saved in %s (all %s): test it with: %s",
			err, out, shown.Count(epochs, "epoch"), evalHint(out, dataDir))}
	}
	return resumable{fmt.Errorf("%w\nthe checkpoint %s is intact (it resumes at epoch %d, step %d): once that is fixed, resume with: %s (a resumed run keeps its --batch-size)",
		err, out, saved.Epoch+1, saved.Step, resumeCommand(out, again))}
}

// nothingWritten says what out holds where no checkpoint of the run was
// written to it: a file there (an earlier run's) is untouched, for a write
// goes through a temporary file.
func nothingWritten(out string) string {
	if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
		return "no checkpoint of this run was written: the file " + out + " is untouched by it"
	}
	return "no checkpoint was written to " + out
}

// evalHint is the command that tests the checkpoint at out on the data in
// folder dataDir (named with --data where it is not the cache).
func evalHint(out, dataDir string) string {
	return self() + " eval --model " + shell.Path(out) + loader.DataFlag(dataDir)
}

// resumeCommand is the command that resumes the checkpoint at out, with
// the flags a resume must repeat (again).
func resumeCommand(out, again string) string {
	return self() + " train --resume " + shell.Path(out) + again
}

// isInterruption tells whether err stopped a training as Ctrl-C does
// (exit code 130).
func isInterruption(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.code == 130
}

// resumable marks an error whose message says how to resume the run from
// its checkpoint (resumeCommand).
type resumable struct{ error }

func (r resumable) Unwrap() error { return r.error }

// earlierKept marks a stop in the first seed's first epoch that kept an
// earlier, finished run's checkpoint at its --out: nothing of this run
// is there for --continue to go on from.
type earlierKept struct{ error }

func (e earlierKept) Unwrap() error { return e.error }

// trainedKept marks an error after every epoch of the run was trained and
// saved (its test failed): a --seeds run's --continue tests it again.
type trainedKept struct{ error }

func (t trainedKept) Unwrap() error { return t.error }

// stoppedWhere says where a run stopped at pos: in an epoch, between two
// (not "at epoch 3, step 0"), or before it took a step.
func stoppedWhere(pos engine.Position) string {
	switch {
	case pos.Step > 0:
		return fmt.Sprintf("at epoch %d, step %d", pos.Epoch+1, pos.Step)
	case pos.Epoch > 0:
		return fmt.Sprintf("after epoch %d", pos.Epoch)
	}
	return "before its first step"
}
