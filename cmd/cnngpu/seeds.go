// seeds.go: `cnngpu train --seeds LIST`: the same recipe trained once per
// seed on one engine (the datasets uploaded once), a line per seed and a
// summary of test accuracy over the seeds (mean ± sample standard
// deviation, min, max), since one seed's accuracy says little: seeds of
// the same recipe spread by a few tenths of a percent.

package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/urfave/cli/v2"
)

// maxSeeds bounds --seeds, so that a typo such as 1-1000000 is refused
// rather than started.
const maxSeeds = 1000

// parseSeeds reads a --seeds list: comma-separated seeds and ranges A-B
// (inclusive), e.g. "1-10" or "1,4,7-9". Repeats are refused.
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	seen := map[uint64]bool{}
	bad := func(why string) error {
		return usageErrorf("--seeds %q: %s; expected a range such as 1-10, a comma list such as 1,4,7, or both", s, why)
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		for _, n := range []string{lo, hi} {
			// As --seed refuses 010 (the flag package would read it
			// as octal), so does --seeds, whose seeds read decimal.
			if len(n) > 1 && n[0] == '0' && strings.Trim(n, "0123456789") == "" {
				return nil, bad(fmt.Sprintf("write %s without the leading zero (%s), as --seed takes it", n, cmp.Or(strings.TrimLeft(n, "0"), "0")))
			}
		}
		a, err := strconv.ParseUint(lo, 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return nil, bad(fmt.Sprintf("%s is larger than the largest seed, %d", lo, uint64(math.MaxUint64)))
		}
		if err != nil {
			return nil, bad(fmt.Sprintf("%q is not a seed (a whole number ≥ 0)", part))
		}
		b := a
		if isRange {
			b, err = strconv.ParseUint(hi, 10, 64)
			if errors.Is(err, strconv.ErrRange) {
				return nil, bad(fmt.Sprintf("%s is larger than the largest seed, %d", hi, uint64(math.MaxUint64)))
			}
			if err != nil || b < a {
				return nil, bad(fmt.Sprintf("%q is not a range from a smaller seed to a larger one", part))
			}
		}
		if b-a >= maxSeeds || len(out)+int(b-a+1) > maxSeeds {
			return nil, bad(fmt.Sprintf("more than %d seeds", maxSeeds))
		}
		for v := a; ; v++ {
			if seen[v] {
				return nil, bad(fmt.Sprintf("seed %d is listed twice", v))
			}
			seen[v] = true
			out = append(out, v)
			if v == b {
				break
			}
		}
	}
	return out, nil
}

// seedRanges lists seeds as --seeds takes them, runs of three or more
// consecutive seeds as ranges: 5-300, not 296 numbers.
func seedRanges(seeds []uint64) string {
	var parts []string
	for i := 0; i < len(seeds); {
		j := i
		for j+1 < len(seeds) && seeds[j] != math.MaxUint64 && seeds[j+1] == seeds[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			parts = append(parts, fmt.Sprintf("%d-%d", seeds[i], seeds[j]))
		case j > i:
			parts = append(parts, strconv.FormatUint(seeds[i], 10), strconv.FormatUint(seeds[j], 10))
		default:
			parts = append(parts, strconv.FormatUint(seeds[i], 10))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// seedPath is where seed's checkpoint goes: out with "{seed}" replaced, or
// with "-seedN" before its extension (after a name without one, as
// .hidden).
func seedPath(out string, seed uint64) string {
	n := strconv.FormatUint(seed, 10)
	if strings.Contains(out, "{seed}") {
		return strings.ReplaceAll(out, "{seed}", n)
	}
	ext := filepath.Ext(out)
	if ext == filepath.Base(out) {
		ext = "" // a name that starts with its only dot (.hidden) has none
	}
	return strings.TrimSuffix(out, ext) + "-seed" + n + ext
}

// seedSummary is the test accuracy over seeds.
type seedSummary struct {
	Seeds  int      `json:"seeds"`
	Mean   float64  `json:"mean_test_acc"`
	Std    *float64 `json:"std_test_acc"` // sample standard deviation (n−1); null for one seed, which has none
	Min    float64  `json:"min_test_acc"`
	Max    float64  `json:"max_test_acc"`
	MeanS  float64  `json:"mean_seconds"`
	Recipe string   `json:"recipe"`
}

func summarise(rs []seedResult) seedSummary {
	s := seedSummary{Seeds: len(rs), Min: math.Inf(1), Max: math.Inf(-1)}
	for _, r := range rs {
		s.Mean += r.TestAcc / float64(len(rs))
		s.MeanS += r.Seconds / float64(len(rs))
		s.Min, s.Max = min(s.Min, r.TestAcc), max(s.Max, r.TestAcc)
	}
	if len(rs) > 1 {
		var ss float64
		for _, r := range rs {
			ss += (r.TestAcc - s.Mean) * (r.TestAcc - s.Mean)
		}
		std := math.Sqrt(ss / float64(len(rs)-1))
		s.Std = &std
	}
	return s
}

// seeds trains once per seed and prints a line per seed and the summary.
func (r *trainRun) seeds(ctx context.Context, dataDir string) error {
	s := r.s
	if err := r.checkEarlier(dataDir); err != nil {
		return err
	}
	var results []seedResult
	for i, seed := range s.seeds {
		if !s.quiet {
			fmt.Fprintf(r.stdout, "— seed %d (%d of %d)\n", seed, i+1, len(s.seeds))
		}
		out := seedPath(s.out, seed)
		var res seedResult
		var err error
		switch e := s.earlierAt(i); {
		case e != nil && e.finished:
			res, err = r.tested(ctx, i, seed, out)
		case e != nil:
			res, err = r.resumed(ctx, i, dataDir, seed, out)
		default:
			res, err = r.one(ctx, dataDir, seed, out)
		}
		if err != nil {
			interrupted := isInterruption(err)
			if len(results) > 0 {
				what := "failure"
				if interrupted {
					what = "interruption"
				}
				fmt.Fprintf(r.stderr, "finished seeds before the %s: %s\n", what, summaryLine(summarise(results)))
			}
			more := ""
			if rest := s.seeds[i+1:]; len(rest) > 0 {
				what := "seeds"
				if len(rest) == 1 {
					what = "seed"
				}
				more += fmt.Sprintf("\nnot started: %s %s", what, seedRanges(rest))
			}
			if errors.As(err, new(earlierKept)) {
				more += "\nrun the same command again to train the seeds (each replaces the earlier run's checkpoint when its first epoch ends), or give --out another name to keep those"
			} else if resume := errors.As(err, new(resumable)); resume || interrupted || errors.As(err, new(trainedKept)) ||
				len(results) > 0 && !isDivergence(err) && !holdEarlier(s.outs[i:]) {
				// The checkpoints kept are the run's own: continuing
				// tests the finished seeds again, resumes this one (or
				// tests it, trained; or trains it from its start, where
				// it kept nothing: after a GPU fault, a full disk) and
				// trains the rest. (A diverged seed diverges again; an
				// earlier run's file at a seed's --out would be taken
				// for this run's.)
				if len(s.seeds) > 1 {
					more += fmt.Sprintf("\ncontinue all %d seeds with: %s (the finished ones are tested again, not retrained)", len(s.seeds), s.continueCommand())
					if holdEarlier(s.outs[i+1:]) {
						more += "\n(the seeds not started have an earlier run's checkpoints at their --out, named above: --continue takes each as this run's where its settings are this command's, and refuses it otherwise; move them aside first to train those seeds)"
					}
				} else {
					more += "\ncontinue with: " + s.continueCommand()
					if errors.As(err, new(trainedKept)) {
						more += " (the trained seed is tested again, not retrained)"
					}
				}
				if s.metric != "" && resume {
					// What the file holds: the finished seeds' results, or
					// only this seed's first epochs, or (stopped in its
					// first epoch) nothing yet.
					kept := "the finished seeds' results"
					if len(results) == 0 {
						kept = fmt.Sprintf("seed %d's finished epochs", seed)
					}
					if len(r.metricsDone)+len(r.metricsEpochs) > 0 { // what this command wrote there
						more += fmt.Sprintf("\n%s keeps %s; a resume of seed %d alone leaves it as it is (add --metrics with a new file to record that seed's epochs)", s.metric, kept, seed)
					}
				}
			} else if len(results) > 0 && !isDivergence(err) {
				// Files of an earlier run at the --out of this seed or a
				// later one, which --continue would take for this run's.
				more += fmt.Sprintf("\nto go on, move aside the earlier run's checkpoints at the --out of seed %d and the seeds after it (named above), then continue all %d seeds with: %s", seed, len(s.seeds), s.continueCommand())
			}
			if s.json {
				// What finished, for a script reading the JSON (the
				// message and the exit code say the rest).
				r.stoppedJSON(results, seed, interrupted, s.seeds[i+1:], err)
			}
			return fmt.Errorf("seed %d: %w%s", seed, err, more)
		}
		results = append(results, res)
		if !s.json {
			how := ""
			switch res.Continued {
			case "tested":
				how = "  (trained earlier, tested again now)"
			case "resumed":
				how = "  (resumed)"
			}
			fmt.Fprintf(r.stdout, "seed %d: test accuracy %s  test loss %.4f  %.1fs  %s%s\n",
				seed, percent(res.TestAcc), res.TestLoss, res.Seconds, res.Checkpoint, how)
		}
		if s.metric != "" {
			if err := r.writeMetricsLine(map[string]any{"seed": seed, "result": res}); err != nil {
				return fmt.Errorf("--metrics: %w", err)
			}
		}
	}
	sum := summarise(results)
	sum.Recipe = recipeLabel(s.cfg, s.sched, s.opt.LR)
	if s.metric != "" {
		if err := r.writeMetricsLine(map[string]any{"summary": sum}); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
	}
	if s.json {
		return json.NewEncoder(r.stdout).Encode(struct {
			Runs    []seedResult `json:"runs"`
			Summary seedSummary  `json:"summary"`
		}{results, sum})
	}
	fmt.Fprintln(r.stdout, summaryLine(sum))
	return nil
}

// seedStop is, in a stopped --seeds run's JSON, the seed that stopped
// and why.
type seedStop struct {
	Seed        uint64 `json:"seed"`
	Interrupted bool   `json:"interrupted"`
	Error       string `json:"error"`
}

// stoppedJSON writes, with --json, the result of a --seeds run that
// stopped at seed: the finished seeds' results and their summary (null
// where no seed finished), the seed that stopped and why, and the seeds
// not started.
func (r *trainRun) stoppedJSON(results []seedResult, seed uint64, interrupted bool, rest []uint64, err error) {
	var sum *seedSummary
	if len(results) > 0 {
		s := summarise(results)
		s.Recipe = recipeLabel(r.s.cfg, r.s.sched, r.s.opt.LR)
		sum = &s
	}
	json.NewEncoder(r.stdout).Encode(struct {
		Runs       []seedResult `json:"runs"`
		Summary    *seedSummary `json:"summary"`
		Stopped    seedStop     `json:"stopped"`
		NotStarted []uint64     `json:"not_started"`
	}{append([]seedResult{}, results...), sum, seedStop{seed, interrupted, err.Error()}, append([]uint64{}, rest...)})
}

// continueCommand is the command that continues this --seeds run
// (--continue) after it stopped.
func (s *trainSetup) continueCommand() string {
	return self() + " train" + s.seedFlags + " --out " + shell.Path(s.out) + " --continue"
}

// seedFlags is the flags given to train but --out and --continue, as the
// shell would read them back: those continueCommand repeats.
func seedFlags(c *cli.Context) string {
	var b strings.Builder
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if name == "out" || name == "continue" || !c.IsSet(name) {
			continue
		}
		if _, ok := f.(*cli.BoolFlag); ok {
			if c.Bool(name) {
				b.WriteString(" --" + name)
			} else {
				b.WriteString(" --" + name + "=false")
			}
			continue
		}
		b.WriteString(valueArg(c, name))
	}
	return b.String()
}

// valueArg is the flag name with the value c has for it, as the shell
// would read it back: " --name value", or " --name=value" where the value
// begins with "-" (which cnngpu would take for a flag).
func valueArg(c *cli.Context, name string) string {
	v := fmt.Sprint(c.Value(name))
	if strings.HasPrefix(v, "-") {
		return fmt.Sprintf(" --%s=%s", name, shell.Quote(v))
	}
	return fmt.Sprintf(" --%s %s", name, shell.Quote(v))
}

// earlierSeed is what --continue found at a seed's checkpoint path: a run
// of this command's settings with that seed, trained by an earlier one.
type earlierSeed struct {
	file     os.FileInfo // as read; it must be the same when its seed's turn comes
	finished bool        // every epoch trained: tested again, not retrained
	pos      engine.Position
	sched    engine.Schedule
	// data and dataDir: the training set's fingerprint and folder (""
	// in checkpoints older than them).
	data, dataDir string
}

// earlierAt is what --continue found for the ith seed (nil: nothing, or
// no --continue).
// holdEarlier reports whether any of outs, the seeds' from one that kept
// nothing of its own, holds a file: an earlier run's, which this run was
// to replace.
func holdEarlier(outs []string) bool {
	return slices.ContainsFunc(outs, func(out string) bool { _, err := os.Lstat(out); return err == nil })
}

func (s *trainSetup) earlierAt(i int) *earlierSeed {
	if s.earlier == nil {
		return nil
	}
	return s.earlier[i]
}

// findEarlier reads, for --continue, each seed's checkpoint at --out's
// names. A file that is not a readable checkpoint, or one of another
// run's settings, is refused before anything is trained: continuing
// would replace it.
func (s *trainSetup) findEarlier() error {
	s.earlier = make([]*earlierSeed, len(s.seeds))
	for i, seed := range s.seeds {
		p := s.outs[i]
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		anew := fmt.Sprintf("move it away to train seed %d anew, or leave out --continue to train every seed anew", seed)
		ck, err := engine.LoadCheckpoint(p) // a finished run's holds its weights alone
		if err != nil {
			return fmt.Errorf("--continue: seed %d: %w\n%s", seed, err, anew)
		}
		if d := s.differs(ck, seed); d != "" {
			return usageErrorf("--continue: %s holds a run of other settings than this command's seed %d (%s): give the flags of the run to continue, or another --out", p, seed, d)
		}
		e := &earlierSeed{file: fi, finished: ck.Position.Epoch >= ck.Config.Epochs, pos: ck.Position, sched: ck.Opt.Sched, data: ck.Config.Data, dataDir: ck.Config.DataDir}
		if !e.finished && ck.S1 == nil {
			return usageErrorf("--continue: %s (seed %d) stopped at epoch %d, step %d but holds its weights without the optimizer's state, so it cannot resume: %s",
				p, seed, ck.Position.Epoch+1, ck.Position.Step, anew)
		}
		s.earlier[i] = e
	}
	return nil
}

// differs lists the settings in which the checkpoint ck is not the run
// this command trains with seed ("" where it is; the schedule, which
// depends on the training set's size, is checked by checkEarlier).
func (s *trainSetup) differs(ck *engine.Checkpoint, seed uint64) string {
	cfg := s.cfg
	cfg.Seed = seed
	here := append(runSettings(s.arch, cfg, s.opt, s.sched), setting{"epochs", fmt.Sprint(cfg.Epochs)})
	there := append(runSettings(ck.Arch, ck.Config, ck.Opt, ck.Opt.Sched.Kind), setting{"epochs", fmt.Sprint(ck.Config.Epochs)})
	var d []string
	for _, t := range there {
		if h, ok := here.lookup(t.flag); ok && h != t.value && t.flag != "schedule" {
			d = append(d, fmt.Sprintf("--%s %s there, %s here", t.flag, t.value, h))
		}
	}
	return strings.Join(d, ", ")
}

// setting is one of a run's settings, as its flag gives it.
type setting struct{ flag, value string }

// settings are a run's settings, in the order they are compared.
type settings []setting

// lookup is the value of flag's setting, if the run has it.
func (ss settings) lookup(flag string) (string, bool) {
	for _, s := range ss {
		if s.flag == flag {
			return s.value, true
		}
	}
	return "", false
}

// runSettings are the settings by which a checkpoint's run and a command's
// are told apart (--resume, --continue), each as its flag gives it, in
// the order --resume checks them; the schedule by its kind, and the
// momentum SGD's alone. The epochs are the callers': --resume may extend
// a constant rate's run, and --continue checks the whole schedule once
// the training set's size is known.
func runSettings(arch engine.Arch, cfg engine.TrainConfig, opt engine.OptConfig, sched engine.ScheduleKind) settings {
	recipe := cfg.Recipe
	if recipe == "" { // a checkpoint from before recipes
		recipe = engine.ReferenceRecipe.Name
	}
	ss := settings{
		{"activation", arch.Act.String()},
		{"arch", arch.Preset},
		{"batch-size", fmt.Sprint(cfg.BatchSize)},
		{"seed", fmt.Sprint(cfg.Seed)},
		{"val-split", fmt.Sprint(cfg.ValSplit)},
		{"train-limit", fmt.Sprint(cfg.TrainLimit)},
		{"optimizer", engine.OptName(opt.Kind)},
		{"lr", fmtLR(opt.LR)},
		{"recipe", recipe},
		{"schedule", sched.String()},
		{"augment", engine.AugmentName(cfg.Augmentation)},
		{"label-smoothing", fmt.Sprint(cfg.LabelSmoothing)},
	}
	if opt.Kind == engine.SGD {
		// After the optimizer's own setting.
		ss = append(ss, setting{"momentum", fmtLR(opt.Momentum)})
	}
	return ss
}

// checkEarlier checks, once the data is read and the outputs locked, what
// findEarlier found: each checkpoint trained on this training set with
// the schedule this command plans for its seed, and still the file read.
func (r *trainRun) checkEarlier(dataDir string) error {
	s := r.s
	for i, e := range s.earlier {
		if e == nil {
			continue
		}
		p, seed := s.outs[i], s.seeds[i]
		if err := e.unchanged(p, "while this run was starting"); err != nil {
			return err
		}
		if e.data != "" && e.data != r.data {
			return usageErrorf("--continue: %s (seed %d) trained on other data (%s, from %s), but %s holds %s: continue with --data %s",
				p, seed, lineName(e.data), lineName(e.dataDir), dataDir, r.data, shell.Path(e.dataDir))
		}
		steps := engine.StepsPerEpoch(len(r.trainIdx(s.cfg.TrainLimit, seed)), s.cfg.BatchSize)
		if want := engine.NewSchedule(s.sched, s.cfg.Epochs*steps); e.sched != want {
			return usageErrorf("--continue: %s (seed %d) was trained with the schedule %s, where this command plans %s: give the flags of the run to continue, or another --out",
				p, seed, e.sched, want)
		}
		if !e.finished && e.pos.Step >= steps {
			// (A checkpoint older than the data's fingerprint, of a
			// constant rate, shows it here first.)
			return usageErrorf("--continue: %s (seed %d) stopped at epoch %d, step %d, past the %d steps of an epoch of this training set: it trained on other data (give the --data it trained on), or the file is damaged",
				p, seed, e.pos.Epoch+1, e.pos.Step, steps)
		}
	}
	return nil
}

// unchanged checks that the checkpoint at p is still the file findEarlier
// read (when: what was going on). The locks keep other trainings out, not
// a copy or a sync tool.
func (e *earlierSeed) unchanged(p, when string) error {
	if !stillFile(p, e.file) {
		return fmt.Errorf("--continue: %s changed %s (written or replaced by something else); it is not taken: run the command again to continue from what it holds now", p, when)
	}
	return nil
}

// earlierCheckpoint loads the ith seed's checkpoint at out (its optimizer
// state too where full), checking that it is still the run findEarlier
// found: the same file, the same settings, as far along.
func (r *trainRun) earlierCheckpoint(i int, out string, full bool) (*engine.Checkpoint, error) {
	e, seed := r.s.earlier[i], r.s.seeds[i]
	if err := e.unchanged(out, "while the seeds before it trained"); err != nil {
		return nil, err
	}
	load := engine.LoadWeights
	if full {
		load = engine.LoadCheckpoint
	}
	ck, err := load(out)
	if err != nil {
		return nil, fmt.Errorf("--continue: %w", err)
	}
	if d := r.s.differs(ck, seed); d != "" || ck.Position != e.pos || ck.Opt.Sched != e.sched {
		return nil, fmt.Errorf("--continue: %s is no longer the checkpoint read at the start (%s): run the command again", out, cmp.Or(d, "another position or schedule"))
	}
	return ck, nil
}

// tested is the ith seed, which --continue found finished at out: its
// checkpoint tested again as after its training, and its epochs put back
// into --metrics.
func (r *trainRun) tested(ctx context.Context, i int, seed uint64, out string) (seedResult, error) {
	ck, err := r.earlierCheckpoint(i, out, false)
	if err != nil {
		return seedResult{}, err
	}
	m, err := engine.NewInferenceModel(r.e, ck.Arch, ck.Params)
	if err != nil {
		return seedResult{}, err
	}
	defer m.Release()
	res, err := r.testModel(ctx, m)
	if errors.Is(err, engine.ErrInterrupted) {
		return seedResult{}, withCode(130, fmt.Errorf("interrupted while testing its checkpoint again (%s is as it was)", out))
	}
	if err != nil {
		return seedResult{}, fmt.Errorf("testing %s: %w", out, err)
	}
	if !engine.IsFinite(res.Loss) {
		return seedResult{}, fmt.Errorf("testing %s: the test loss is %v%s", out, res.Loss, gpuNaNHint(r.e))
	}
	if r.s.metric != "" {
		if err := r.writeMetrics(seed, ck.History); err != nil {
			return seedResult{}, fmt.Errorf("--metrics: %w", err)
		}
	}
	return seedResult{Seed: seed, TestAcc: res.Acc, TestLoss: res.Loss, TestImages: res.N, Seconds: historySeconds(ck.History),
		Checkpoint: out, Continued: "tested"}, nil
}

// resumed is the ith seed, which --continue found stopped at out: resumed
// there, as --resume would.
func (r *trainRun) resumed(ctx context.Context, i int, dataDir string, seed uint64, out string) (seedResult, error) {
	ck, err := r.earlierCheckpoint(i, out, true)
	if err != nil {
		return seedResult{}, err
	}
	base := r.s
	s := *base
	s.arch, s.opt, s.cfg, s.sched = ck.Arch, ck.Opt, ck.Config, ck.Opt.Sched.Kind
	s.pos, s.init, s.hist, s.from, s.saved = ck.Position, ck, ck.History, out, &ck.Position
	r.s = &s
	defer func() { r.s = base }()
	res, err := r.one(ctx, dataDir, seed, out)
	if err != nil {
		return res, err
	}
	res.Continued = "resumed"
	return res, nil
}

// earlierSeconds is the training time checkpoint ck holds: its finished
// epochs' and that of the part of the epoch it stopped in.
func earlierSeconds(ck *engine.Checkpoint) float64 {
	return historySeconds(ck.History) + ck.Position.Sums.Seconds
}

// historySeconds is the time of the epochs in hist, their validation
// included (the time a training took, less its start and its test).
func historySeconds(hist []engine.EpochMetrics) float64 {
	var t float64
	for _, h := range hist {
		t += h.Seconds + h.ValSeconds
	}
	return t
}

func summaryLine(s seedSummary) string {
	if s.Seeds == 1 {
		return fmt.Sprintf("1 seed: test accuracy %s; %.1fs (a spread needs two seeds or more)", percent(s.Mean), s.MeanS)
	}
	return fmt.Sprintf("%d seeds: test accuracy mean %.2f%% ± %.2f points (sample std), min %s, max %s; %.1fs a run",
		s.Seeds, 100*s.Mean, 100**s.Std, percent(s.Min), percent(s.Max), s.MeanS)
}

// writeMetrics rewrites the --metrics file: earlier lines of other seeds
// and results are kept (metricsDone), then this seed's epochs.
func (r *trainRun) writeMetrics(seed uint64, hist []engine.EpochMetrics) error {
	if r.s.seeds == nil {
		return writeMetrics(r.s.metric, hist)
	}
	var b bytes.Buffer
	b.Write(r.metricsDone)
	for _, m := range hist {
		line, err := json.Marshal(m)
		if err != nil {
			return err
		}
		// {"seed":N, ...the epoch's fields}
		fmt.Fprintf(&b, "{\"seed\":%d,%s\n", seed, line[1:])
	}
	r.metricsEpochs = b.Bytes()[len(r.metricsDone):]
	return writeFile(r.s.metric, b.Bytes())
}

// writeMetricsLine appends a line after the lines written so far.
func (r *trainRun) writeMetricsLine(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r.metricsDone = append(append(append(r.metricsDone, r.metricsEpochs...), line...), '\n')
	r.metricsEpochs = nil
	return writeFile(r.s.metric, r.metricsDone)
}
