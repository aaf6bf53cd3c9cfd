// seeds.go: `cnngpu train --seeds LIST`: the same recipe trained once per
// seed on one engine (the datasets uploaded once), a line per seed and a
// summary of test accuracy over the seeds (mean ± sample standard
// deviation, min, max), since one seed's accuracy says little: seeds of
// the same recipe spread by a few tenths of a percent.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
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

// seedPath is where seed's checkpoint goes: out with "{seed}" replaced, or
// with "-seedN" before its extension.
func seedPath(out string, seed uint64) string {
	n := strconv.FormatUint(seed, 10)
	if strings.Contains(out, "{seed}") {
		return strings.ReplaceAll(out, "{seed}", n)
	}
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + "-seed" + n + ext
}

// seedSummary is the test accuracy over seeds.
type seedSummary struct {
	Seeds  int     `json:"seeds"`
	Mean   float64 `json:"mean_test_acc"`
	Std    float64 `json:"std_test_acc"` // sample standard deviation (n−1); 0 for one seed
	Min    float64 `json:"min_test_acc"`
	Max    float64 `json:"max_test_acc"`
	MeanS  float64 `json:"mean_seconds"`
	Recipe string  `json:"recipe"`
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
		s.Std = math.Sqrt(ss / float64(len(rs)-1))
	}
	return s
}

// seeds trains once per seed and prints a line per seed and the summary.
func (r *trainRun) seeds(ctx context.Context, dataDir string) error {
	s := r.s
	var results []seedResult
	for i, seed := range s.seeds {
		if !s.quiet {
			fmt.Fprintf(r.stdout, "— seed %d (%d of %d)\n", seed, i+1, len(s.seeds))
		}
		res, err := r.one(ctx, dataDir, seed, seedPath(s.out, seed))
		if err != nil {
			if len(results) > 0 {
				what := "failure"
				if ee := (*exitError)(nil); errors.As(err, &ee) && ee.code == 130 {
					what = "interruption"
				}
				fmt.Fprintf(r.stderr, "finished seeds before the %s: %s\n", what, summaryLine(summarise(results)))
			}
			more := ""
			if rest := s.seeds[i+1:]; len(rest) > 0 {
				list := make([]string, len(rest))
				for k, v := range rest {
					list[k] = strconv.FormatUint(v, 10)
				}
				what, them := "seeds", "them"
				if len(rest) == 1 {
					what, them = "seed", "it"
				}
				metrics := ""
				if s.metric != "" {
					metrics = ", another --metrics (this one would be rewritten)"
				}
				more += fmt.Sprintf("\nnot started: %s %s (train %s with --seeds %s%s and this run's other flags)",
					what, strings.Join(list, ", "), them, strings.Join(list, ","), metrics)
			}
			if s.metric != "" && errors.As(err, new(resumable)) {
				more += fmt.Sprintf("\n%s keeps the finished seeds' results; a resume of seed %d leaves it as it is (add --metrics with a new file to record that seed's epochs)", s.metric, seed)
			}
			return fmt.Errorf("seed %d: %w%s", seed, err, more)
		}
		results = append(results, res)
		if !s.json {
			fmt.Fprintf(r.stdout, "seed %d: test accuracy %s  test loss %.4f  %.1fs  %s\n",
				seed, percent(res.TestAcc), res.TestLoss, res.Seconds, res.Checkpoint)
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

func summaryLine(s seedSummary) string {
	if s.Seeds == 1 {
		return fmt.Sprintf("1 seed: test accuracy %s; %.1fs (a spread needs two seeds or more)", percent(s.Mean), s.MeanS)
	}
	return fmt.Sprintf("%d seeds: test accuracy mean %.2f%% ± %.2f (std), min %s, max %s; %.1fs a run",
		s.Seeds, 100*s.Mean, 100*s.Std, percent(s.Min), percent(s.Max), s.MeanS)
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
