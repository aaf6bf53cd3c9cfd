// shard_test.go: --shard auto/N from a Kubernetes or Slurm environment
// (and its errors), the cost-balanced split, merge's coverage checks
// (duplicate and missing shards and runs, a folder of shard folders), and
// the progress tracker's estimate of the time left.

package tune

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestResolveShard(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		env  map[string]string
		want Shard
		err  string
	}{
		{"2/4", nil, Shard{2, 4, SplitCost}, ""},
		{"0/1", nil, Shard{0, 1, ""}, ""},
		{"4/4", nil, Shard{}, "expected I/N with 0 <= I < N"},
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": "3"}, Shard{3, 4, SplitCost}, ""},
		// Both set: taken where they agree, refused where they differ.
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": "1", "SLURM_ARRAY_TASK_ID": "1"}, Shard{1, 4, SplitCost}, ""},
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": "1", "SLURM_ARRAY_TASK_ID": "01"}, Shard{1, 4, SplitCost}, ""},
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": "1", "SLURM_ARRAY_TASK_ID": "2"}, Shard{}, `both JOB_COMPLETION_INDEX=1 (Kubernetes Indexed Job) and SLURM_ARRAY_TASK_ID="2" (Slurm array) are set and differ`},
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"}, Shard{2, 4, SplitCost}, ""},
		{"auto/4", nil, Shard{}, "neither is set; outside those give the index yourself, e.g. --shard 0/4"},
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": ""}, Shard{}, "neither is set"},
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": "4"}, Shard{}, "JOB_COMPLETION_INDEX=4 is out of range 0..3: the Indexed Job's completions must equal N (4)"},
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": "x"}, Shard{}, `JOB_COMPLETION_INDEX="x" is not a whole number`},
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "5"}, Shard{}, "SLURM_ARRAY_TASK_ID=5 is out of range 0..3: submit the array as --array=0-3"},
		// The example rerun is a task of the array (was --array=2 whatever N).
		{"auto/2", map[string]string{"SLURM_ARRAY_TASK_ID": "2"}, Shard{}, "SLURM_ARRAY_TASK_ID=2 is out of range 0..1: submit the array as --array=0-1 (or a part of it, e.g. --array=1 to run task 1 again)"},
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "8"}, Shard{}, "the Slurm array has 8 tasks (SLURM_ARRAY_TASK_COUNT=8) but the study is split into 4 shards: submit the array as --array=0-3, or use --shard auto/8"},
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}, Shard{}, "the Slurm array starts at 1"},
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MAX": "6"}, Shard{}, "the Slurm array ends at 6"},
		// A part of the array, resubmitted (sbatch --array=2, --array=1-3):
		// taken; one reaching past N-1 is not.
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_MIN": "2", "SLURM_ARRAY_TASK_MAX": "2"}, Shard{2, 4, SplitCost}, ""},
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3"}, Shard{3, 4, SplitCost}, ""},
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "2"}, Shard{}, "the Slurm array starts at 2 (SLURM_ARRAY_TASK_MIN) with 3 tasks, so it reaches past 3, the last of 4 shards"},
		{"auto/4", map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "x"}, Shard{}, `SLURM_ARRAY_TASK_MIN="x" is not a whole number`},
		{"auto/0", map[string]string{"JOB_COMPLETION_INDEX": "0"}, Shard{}, "expected auto/N"},
		{"auto", nil, Shard{}, "expected I/N"},
	} {
		got, from, err := ResolveShard(tc.arg, envOf(tc.env))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: error %v, want one containing %q", tc.arg, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %v: %+v, %v; want %+v", tc.arg, tc.env, got, err, tc.want)
		}
		if strings.HasPrefix(tc.arg, "auto") && !strings.Contains(from, "=") {
			t.Errorf("%s: source %q does not name the variable", tc.arg, from)
		}
	}
}

func defaultSpec() *Spec {
	return &Spec{Version: 1, LRs: []float64{0.001, 0.003, 0.01, 0.03}, BatchSizes: []int{64, 128, 256}, Acts: []string{"relu", "sigmoid", "tanh"},
		Epochs: 10, Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.33, Shard: Shard{N: 1}}
}

func TestCostModel(t *testing.T) {
	s := defaultSpec()
	c64, c256 := s.Cost(Config{0.001, 64, "relu"}), s.Cost(Config{0.001, 256, "relu"})
	// An epoch at batch 64 costs about twice one at batch 256 (exactly,
	// but for the rounding up of the last step).
	if r := float64(c64) / float64(c256); math.Abs(r-2) > 0.01 {
		t.Errorf("cost at batch 64 / batch 256 = %.3f, want 2", r)
	}
	if s.TrainImages() != 40200 {
		t.Errorf("hold-out of 33%% trains on %d images, want 40200", s.TrainImages())
	}
	s.Folds, s.ValSplit = 3, 0
	if s.TrainImages() != 40000 || s.Cost(Config{0.001, 64, "relu"}) != 3*10*625*192 {
		t.Errorf("3 folds: %d images, cost %d", s.TrainImages(), s.Cost(Config{0.001, 64, "relu"}))
	}
}

func TestCostBalancedSplit(t *testing.T) {
	s := defaultSpec()
	configs := s.Configs()
	var total int64
	for _, c := range configs {
		total += s.Cost(c)
	}
	for n := 1; n <= len(configs); n++ {
		owner := s.ShardOf(n)
		if !slices.Equal(owner, s.ShardOf(n)) {
			t.Fatalf("N=%d: the split is not deterministic", n)
		}
		// Mine over all shards is a partition of the grid.
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			sp := *s
			sp.Shard = newShard(i, n)
			mine := sp.Mine()
			if len(mine) == 0 {
				t.Errorf("N=%d: shard %d gets nothing", n, i)
			}
			for k, c := range mine {
				seen[c.Key()]++
				if k > 0 && s.Cost(c) > s.Cost(mine[k-1]) {
					t.Errorf("N=%d shard %d: %s runs after the cheaper %s", n, i, c.Label(), mine[k-1].Label())
				}
			}
		}
		if len(seen) != len(configs) {
			t.Errorf("N=%d: the shards cover %d of %d configurations", n, len(seen), len(configs))
		}
		for k, v := range seen {
			if v != 1 {
				t.Errorf("N=%d: %s is in %d shards", n, k, v)
			}
		}
		// Longest-processing-time is within 4/3 of the best split; here
		// against a lower bound of it: an even share, the costliest
		// configuration, and (pigeonhole) the N-th and N+1-th costliest
		// together. Up to 12 shards it is within 15% of an even share.
		loads := s.ShardCost(n)
		worst := slices.Max(loads)
		costs := make([]int64, len(configs))
		for i, c := range configs {
			costs[i] = s.Cost(c)
		}
		slices.Sort(costs)
		slices.Reverse(costs)
		lb := math.Max(float64(total)/float64(n), float64(costs[0]))
		if n < len(costs) {
			lb = math.Max(lb, float64(costs[n-1]+costs[n]))
		}
		if float64(worst) > 4.0/3*lb || (n <= 12 && float64(worst) > 1.15*float64(total)/float64(n)) {
			t.Errorf("N=%d: costliest shard %d is %.2f× the lower bound %.0f, %.2f× an even share", n, worst, float64(worst)/lb, lb, float64(worst)*float64(n)/float64(total))
		}
	}
	// Balancing beats the grid-order slicing of earlier versions where the
	// grid's order does not happen to balance it: with 5 shards.
	rr := make([]int64, 5)
	for i, c := range configs {
		rr[i%5] += s.Cost(c)
	}
	if lpt := slices.Max(s.ShardCost(5)); lpt >= slices.Max(rr) {
		t.Errorf("N=5: cost split's costliest shard %d is no better than grid order's %d", lpt, slices.Max(rr))
	}
	// More shards than configurations is refused, naming the limit.
	s.Shard = newShard(36, 37)
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "the grid has only 36 configurations") {
		t.Errorf("37 shards of 36 configurations: %v", err)
	}
}

// fakeShard writes finished runs (with made-up but distinct metrics) for
// the configurations of shard i of n into dir, skipping those in skip.
func fakeShard(t *testing.T, spec *Spec, i, n int, dir string, skip ...string) {
	t.Helper()
	sp := *spec
	sp.Shard = newShard(i, n)
	if err := Prepare(dir, &sp); err != nil {
		t.Fatal(err)
	}
	for _, c := range sp.Mine() {
		if slices.Contains(skip, c.Key()) {
			continue
		}
		for k := 0; k < sp.Rounds(); k++ {
			r := &Run{Config: c, Fold: k, Done: true, Seconds: 1}
			for e := 1; e <= sp.Epochs; e++ {
				a := 0.5 + 0.1*float64(e) + c.LR
				r.Epochs = append(r.Epochs, engine.EpochMetrics{Epoch: e, TrainLoss: 1 / a, TrainAcc: a / 2, ValLoss: 1.1 / a, ValAcc: a / 2.2})
			}
			if err := r.Save(RunPath(dir, c, k, sp.Folds)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestMergeCoverage(t *testing.T) {
	spec := tinySpec()
	spec.BatchSizes = []int{32, 64} // 8 configurations
	root := t.TempDir()
	shards := filepath.Join(root, "shards")
	var dirs []string
	for i := 0; i < 3; i++ {
		d := filepath.Join(shards, string(rune('0'+i)))
		fakeShard(t, spec, i, 3, d)
		dirs = append(dirs, d)
	}
	mustFail := func(what string, args []string, opt MergeOptions, want ...string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "merged")
		_, err := Merge(out, args, opt)
		if err == nil {
			t.Errorf("%s: merge succeeded", what)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", what, err, w)
			}
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: a refused merge wrote %s", what, out)
		}
		// Into a folder of other files: left as it was (the lock's file
		// had been left there).
		os.Mkdir(out, 0o755)
		os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
		if _, err := Merge(out, args, opt); err == nil {
			t.Errorf("%s, into a folder of other files: merge succeeded", what)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 1 {
			t.Errorf("%s: a refused merge into a folder of other files left %d entries there, want its 1", what, len(ents))
		}
	}

	// The folder holding the shards' folders is taken as all of them.
	out := filepath.Join(root, "merged")
	res, err := Merge(out, []string{shards}, MergeOptions{})
	if err != nil || res.Copied != 8 || len(res.Sources) != 3 || len(res.Missing) != 0 {
		t.Fatalf("merge of the shards folder: %+v, %v", res, err)
	}
	if rows := readCSV(t, filepath.Join(out, ResultsFile)); len(rows) != 9 {
		t.Errorf("merged results.csv has %d rows, want 9", len(rows))
	}
	finished := 0
	for _, s := range res.Sources {
		if s.Runs != s.Finished {
			t.Errorf("first merge: %s took %d of its %d runs, want all", s.Dir, s.Runs, s.Finished)
		}
		finished += s.Finished
	}
	if finished != 8 {
		t.Errorf("first merge: the sources hold %d finished runs, want 8", finished)
	}
	// Merging again into the same folder is idempotent: the sources still
	// hold their finished runs, none of them new.
	res2, err := Merge(out, []string{shards}, MergeOptions{})
	if err != nil || res2.Copied != 0 || res2.Present != 8 {
		t.Errorf("second merge: %+v, %v", res2, err)
	}
	for i, s := range res2.Sources {
		if s.Runs != 0 || s.Finished != res.Sources[i].Finished {
			t.Errorf("second merge: %s holds %d finished runs, %d new; want %d, none new", s.Dir, s.Finished, s.Runs, res.Sources[i].Finished)
		}
	}
	if len(res2.Differ) != 0 {
		t.Errorf("second merge: runs said to differ: %q", res2.Differ)
	}
	// A shard's run trained again since (here: its last epoch's
	// validation accuracy changed): kept as merged before, and said.
	var changed string
	for _, c := range spec.Configs() {
		r, err := LoadRunOf(dirs[1], spec, c, 0)
		if err != nil || r == nil || !r.Done {
			continue
		}
		// Trained again to the same results, in other times: not said.
		r.Seconds += 5
		r.Epochs[0].Seconds += 5
		changed = RunPath(dirs[1], c, 0, spec.Folds)
		if err := r.Save(changed); err != nil {
			t.Fatal(err)
		}
		if res, err := Merge(out, []string{shards}, MergeOptions{}); err != nil || len(res.Differ) != 0 {
			t.Errorf("merge after a shard's run was timed otherwise: %+v, %v; want nothing said", res, err)
		}
		r.Epochs[len(r.Epochs)-1].ValAcc += 0.01
		if err := r.Save(changed); err != nil {
			t.Fatal(err)
		}
		break
	}
	before, _ := os.ReadFile(filepath.Join(out, RunsDir, filepath.Base(changed)))
	res3, err := Merge(out, []string{shards}, MergeOptions{})
	if err != nil || res3.Copied != 0 || res3.Present != 8 || len(res3.Differ) != 1 ||
		!strings.HasPrefix(res3.Differ[0], filepath.Base(changed)+" (") || !strings.HasSuffix(res3.Differ[0], " in "+dirs[1]) {
		t.Errorf("merge after a shard's run changed: %+v, %v; want it kept, and listed in Differ", res3, err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, RunsDir, filepath.Base(changed))); !bytes.Equal(after, before) || len(before) == 0 {
		t.Error("the merged run was replaced by the shard's changed one")
	}

	// A shard still held by a study (its lock taken): said.
	unlock, err := Lock(dirs[2])
	if err != nil {
		t.Fatal(err)
	}
	res4, err := Merge(filepath.Join(t.TempDir(), "m4"), dirs, MergeOptions{})
	unlock()
	if err != nil || len(res4.InUse) != 1 || !strings.HasPrefix(res4.InUse[0], dirs[2]+" (by pid ") {
		t.Errorf("merge of a shard in use: %+v, %v; want it listed in InUse", res4, err)
	}
	if len(res2.InUse) != 0 {
		t.Errorf("merge of shards none of which is in use: InUse %q", res2.InUse)
	}

	// A shard given twice.
	dup := filepath.Join(root, "dup")
	fakeShard(t, spec, 1, 3, dup)
	mustFail("duplicate shard", append(slices.Clone(dirs), dup), MergeOptions{}, "shard 1/3 twice: "+dirs[1]+" and "+dup, "is finished in 2 folders")
	// The same folder given twice.
	mustFail("same folder", []string{dirs[0], dirs[1], dirs[2], dirs[0]}, MergeOptions{}, "is given twice")
	// A run finished in an unsharded folder too.
	whole := filepath.Join(root, "whole")
	fakeShard(t, spec, 0, 1, whole)
	mustFail("run twice", append(slices.Clone(dirs), whole), MergeOptions{}, "is finished in 2 folders", whole)
	// A missing shard, and a shard that has not finished a run.
	owner := spec.ShardOf(3)
	var c2 Config
	for i, c := range spec.Configs() {
		if owner[i] == 2 {
			c2 = c
		}
	}
	mustFail("missing shard", dirs[:2], MergeOptions{}, "shard 2/3: no folder given", c2.Key()+".jsonl ("+c2.Label()+"): its shard 2/3 was not given", "--allow-missing")
	part := filepath.Join(root, "part")
	fakeShard(t, spec, 2, 3, part, c2.Key())
	mustFail("unfinished run", []string{dirs[0], dirs[1], part}, MergeOptions{}, c2.Key()+".jsonl", "shard 2/3 ("+part+") has not finished it")
	// Shards of different splits.
	other := filepath.Join(root, "other")
	fakeShard(t, spec, 0, 2, other)
	mustFail("different N", []string{dirs[0], other}, MergeOptions{}, "is shard 0/2 but", "share N")
	// A dry run checks and writes nothing.
	dry := filepath.Join(t.TempDir(), "dry")
	if res, err := Merge(dry, dirs, MergeOptions{DryRun: true}); err != nil || res.Copied != 8 {
		t.Errorf("dry run: %+v, %v", res, err)
	}
	if _, err := os.Stat(dry); err == nil {
		t.Error("a dry run wrote the merged folder")
	}
	// --allow-missing merges what is there and lists the rest.
	some := filepath.Join(t.TempDir(), "some")
	res, err = Merge(some, dirs[:2], MergeOptions{AllowMissing: true})
	if err != nil || len(res.Missing) == 0 || res.Copied == 0 {
		t.Errorf("allow missing: %+v, %v", res, err)
	}
	// The count is of runs: the line for the shard not given is not one.
	if total := len(spec.Configs()) * spec.Rounds(); res.MissingRuns != total-res.Copied || len(res.Missing) != res.MissingRuns+1 {
		t.Errorf("allow missing: %d runs missing of %d, %d copied; problems %q", res.MissingRuns, total, res.Copied, res.Missing)
	}
	// A folder sharded by an earlier version (grid order) is not continued.
	old := filepath.Join(root, "old")
	sp := *spec
	sp.Shard = Shard{I: 1, N: 3}
	if err := Prepare(old, &sp); err != nil {
		t.Fatal(err)
	}
	sp.Shard = newShard(1, 3)
	var be *BlockedError
	if err := Prepare(old, &sp); !errors.As(err, &be) || !strings.Contains(err.Error(), "as an earlier cnngpu split it (in grid order)") ||
		!strings.Contains(err.Error(), "merge the old split's folders into one") {
		t.Errorf("continuing an old shard: %v; want it refused (exit 2), saying how to finish the study", err)
	}
	// Its merge, short of runs, does not say to rerun the old shards.
	if _, err := Merge(filepath.Join(t.TempDir(), "m"), []string{old}, MergeOptions{}); err == nil || strings.Contains(err.Error(), "rerun the missing shards") ||
		!strings.Contains(err.Error(), "merge with --allow-missing and finish the rest") {
		t.Errorf("merging an old split short of runs: %v; want only --allow-missing and tune on the merged folder", err)
	}
}

func TestTrackerETA(t *testing.T) {
	spec := tinySpec() // 4 runs of equal cost
	var jobs []job
	for _, c := range spec.Configs() {
		jobs = append(jobs, job{c: c})
	}
	var last Status
	tr := newTracker(spec, 0, jobs, 2, func(s Status) { last = s })
	tr.start = time.Now().Add(-10 * time.Second)
	tr.begin(0, "cpu", jobs[0])
	tr.begin(1, "cpu", jobs[1])
	tr.progress(1, engine.Progress{Epoch: 1, Loss: 0.5, Acc: 0.9}) // half of a 2-epoch run
	if len(last.Running) != 2 || last.Running[1].Fraction() != 0.5 || last.Running[0].Name() != jobs[0].c.Label() {
		t.Fatalf("status %+v", last)
	}
	// A validation in flight is shown, and ends with its epoch.
	tr.progress(1, engine.Progress{Epoch: 1, Step: 7, Steps: 7, Loss: 0.4, Acc: 0.95, Validating: true})
	if a := last.Running[1]; !a.Validating || a.Steps != 7 || a.Acc != 0.95 {
		t.Errorf("validating: %+v", a)
	}
	tr.progress(1, engine.Progress{Epoch: 2, Loss: 0.4, Acc: 0.95})
	if a := last.Running[1]; a.Validating || a.Epoch != 2 || a.Steps != 7 {
		t.Errorf("after the epoch: %+v", a)
	}
	tr.progress(1, engine.Progress{Epoch: 1, Loss: 0.5, Acc: 0.9})
	tr.active[1].Started = time.Now().Add(-5 * time.Second)
	n, eta := tr.finish(0, jobs[0], 10)
	// A run takes 10 s; on two engines, the one in flight for 5 s has 5 s
	// left, then the next two take 10 s each, one on each engine: 15 s.
	if n != 1 || eta < 14*time.Second || eta > 16*time.Second {
		t.Errorf("one run of 10 s done, one in flight for 5 s, two to go on two engines: done %d, ETA %v, want about 15 s", n, eta)
	}
	if last.Done != 1 || last.Total != 4 || len(last.Running) != 1 {
		t.Errorf("status %+v", last)
	}
	// Measured times correct the cost model per batch size: here batch 64
	// runs take as long as batch 256 ones (as on the CPU), where the model
	// says twice as long.
	spec2 := tinySpec()
	spec2.LRs, spec2.Acts, spec2.BatchSizes = []float64{0.001, 0.003}, []string{"relu"}, []int{64, 256}
	var jobs2 []job
	for _, c := range spec2.Configs() {
		jobs2 = append(jobs2, job{c: c})
	}
	// jobs2: lr 0.001/bs64, lr 0.003/bs64, lr 0.001/bs256, lr 0.003/bs256.
	tr2 := newTracker(spec2, 0, jobs2, 1, nil)
	tr2.start = time.Now().Add(-30 * time.Second)
	tr2.finish(0, jobs2[0], 10)
	tr2.finish(0, jobs2[2], 10)
	_, eta = tr2.finish(0, jobs2[3], 10)
	// 3 runs of 10 s in 30 s, one batch-64 run left: 10 s (the model
	// alone would say 15 s: 3 of 9 cost units left after 6 in 30 s).
	if eta < 9*time.Second || eta > 11*time.Second {
		t.Errorf("three runs of 10 s in 30 s, one left: ETA %v, want about 10 s", eta)
	}
	if FormatDuration(3725*time.Second) != "1h02m" || FormatDuration(185*time.Second) != "3m05s" || FormatDuration(12*time.Second) != "12s" {
		t.Error("FormatDuration")
	}
}

// fingerprint is a MergeOptions.Data giving fp.
func fingerprint(fp string) func() (string, error) { return func() (string, error) { return fp, nil } }

// TestMergeRefusesOtherFinalData: a merge followed by the final retraining
// (MergeOptions.Data, which reads the data it will train on) is
// refused before anything is written where the shards, or the merged
// folder where they record nothing, trained on other data; the same data
// merges.
func TestMergeRefusesOtherFinalData(t *testing.T) {
	spec := tinySpec()
	root := t.TempDir()
	var dirs []string
	for i := 0; i < 2; i++ {
		d := filepath.Join(root, string(rune('a'+i)))
		fakeShard(t, spec, i, 2, d)
		if _, err := recordData(d, "crc32c:1111", "given now"); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	out := filepath.Join(root, "merged")
	_, err := Merge(out, dirs, MergeOptions{Data: fingerprint("crc32c:2222")})
	var oe *OtherStudyError
	if !errors.As(err, &oe) || !oe.Data || oe.Dir != dirs[0] ||
		!strings.Contains(err.Error(), "training data crc32c:1111 in the folder, crc32c:2222 given for the final retraining") {
		t.Errorf("merge for a final retraining on other data: %v; want an OtherStudyError naming both", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Errorf("a merge refused for its data wrote %s", out)
	}
	if _, err := Merge(out, dirs, MergeOptions{Data: fingerprint("crc32c:1111")}); err != nil {
		t.Fatalf("merge for a final retraining on the shards' data: %v", err)
	}
	// Shards that record no data (they trained nothing yet, or before
	// fingerprints) against a merged folder that does.
	bare := filepath.Join(root, "bare")
	fakeShard(t, spec, 0, 1, bare)
	if _, err := Merge(out, []string{bare}, MergeOptions{Data: fingerprint("crc32c:2222")}); !errors.As(err, &oe) || oe.Dir != out {
		t.Errorf("merge into a folder that records other data: %v; want an OtherStudyError naming %s", err, out)
	}
	// Without a final retraining: merge takes no --data, so the way out
	// is another folder.
	other := filepath.Join(root, "other")
	fakeShard(t, spec, 0, 1, other)
	if _, err := recordData(other, "crc32c:3333", "given now"); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(out, []string{other}, MergeOptions{}); !errors.As(err, &oe) || oe.Dir != out || !strings.HasSuffix(err.Error(), "; merge into another --out folder") {
		t.Errorf("merge of shards on other data into a folder: %v; want an OtherStudyError saying to merge into another folder", err)
	}
}

// TestPrecisionRecorded: a study in tf32 records it (version 3, which
// builds that would train it in fp32 refuse), an fp32 one too (version 1:
// earlier builds ignore the field), and their runs are not ranked
// together: shards of the two are not merged, a folder of one is not
// resumed as the other, and a final retraining in the other is refused
// before anything is written. A folder of an earlier cnngpu records none,
// and goes with either.
func TestPrecisionRecorded(t *testing.T) {
	root := t.TempDir()
	fp32, tf32, old := tinySpec(), tinySpec(), tinySpec()
	fp32.Precision, tf32.Precision = "fp32", "tf32"
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	fakeShard(t, fp32, 0, 2, a)
	fakeShard(t, tf32, 1, 2, b)
	fakeShard(t, old, 0, 2, c)
	if s, err := LoadSpec(b); err != nil || s.Version != 3 || s.Precision != "tf32" {
		t.Fatalf("a tf32 shard's spec: %+v, %v; want version 3, precision tf32", s, err)
	}
	if s, err := LoadSpec(a); err != nil || s.Version != 1 || s.Precision != "fp32" {
		t.Fatalf("an fp32 shard's spec: %+v, %v; want version 1, precision fp32", s, err)
	}
	out := filepath.Join(root, "merged")
	_, err := Merge(out, []string{a, b}, MergeOptions{})
	if err == nil || !strings.Contains(err.Error(), "precision fp32 in "+a+", tf32 in "+b) {
		t.Errorf("merging fp32 and tf32 shards: %v; want the precision named", err)
	}
	// An earlier cnngpu's shard (none recorded) between them: the two
	// that record one are still compared.
	_, err = Merge(out, []string{c, b, a}, MergeOptions{})
	if err == nil || !strings.Contains(err.Error(), "precision tf32 in "+b+", fp32 in "+a) {
		t.Errorf("merging an unrecorded, a tf32 and an fp32 shard: %v; want the two precisions named", err)
	}
	sp := *tf32
	sp.Shard = newShard(0, 2)
	if err := Prepare(a, &sp); err == nil || !strings.Contains(err.Error(), "precision fp32 in the folder, tf32 given now") {
		t.Errorf("resuming an fp32 shard in tf32: %v; want the precision named", err)
	}
	// The earlier cnngpu's shard goes with the tf32 one, and is resumed
	// in tf32 too.
	if err := Prepare(c, &sp); err != nil {
		t.Errorf("resuming a shard that records no precision in tf32: %v", err)
	}
	if _, err := Merge(out, []string{c, b}, MergeOptions{Precision: "fp32"}); err == nil || !strings.Contains(err.Error(), "the shards trained in tf32, and the final retraining would train in fp32: give --precision tf32 on a GPU") {
		t.Errorf("a final retraining in fp32 of tf32 shards: %v; want it refused", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Errorf("a refused merge wrote %s", out)
	}
	if _, err := Merge(out, []string{c, b}, MergeOptions{}); err != nil {
		t.Fatalf("merging a shard that records no precision with a tf32 one: %v", err)
	}
	if s, err := LoadSpec(out); err != nil || s.Precision != "tf32" {
		t.Errorf("the merged study: %+v, %v; want precision tf32", s, err)
	}
	bad := filepath.Join(root, "bad")
	fakeShard(t, tf32, 1, 2, bad)
	p := filepath.Join(bad, SpecFile)
	js, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(js), `"tf32"`, `"fp16"`, 1)), 0o644)
	if _, err := LoadSpec(bad); err == nil || !strings.Contains(err.Error(), `precision "fp16": expected fp32 or tf32`) {
		t.Errorf("a spec of precision fp16: %v; want it refused", err)
	}
}

// TestMergeIntoAnotherStudy: a merge whose --out folder holds another
// study, its run files named as the shards' runs are, is refused as a
// different study (OtherStudyError, naming the difference) with nothing
// written; it was refused calling that study's run files edited, and
// advising to move them away.
func TestMergeIntoAnotherStudy(t *testing.T) {
	spec := tinySpec()
	root := t.TempDir()
	shards := filepath.Join(root, "shards")
	for i := 0; i < 2; i++ {
		fakeShard(t, spec, i, 2, filepath.Join(shards, string(rune('0'+i))))
	}
	other := *spec
	other.Epochs++
	out := filepath.Join(root, "other")
	fakeShard(t, &other, 0, 1, out)
	before := dirContents(t, out)
	_, err := Merge(out, []string{shards}, MergeOptions{})
	var oe *OtherStudyError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "holds a different study than the shards (epochs 3 in the folder, 2 in the shards)") || !strings.Contains(err.Error(), "merge into another --out folder") {
		t.Errorf("merge into another study's folder: %v", err)
	}
	if after := dirContents(t, out); !maps.Equal(before, after) {
		t.Errorf("a refused merge changed %s: %d files before, %d after", out, len(before), len(after))
		for p, b := range after {
			if before[p] != b {
				t.Logf("changed or new: %s", p)
			}
		}
	}
}

// dirContents maps each file under dir to its contents, but for the
// lock's file.
func dirContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != LockFile { // a study folder's lock stays
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return nil
	})
	return m
}

// TestMergeOutInsideShardsFolder: a merge into a folder among the shards'
// folders, and later merges of their folder, work: the merged study there
// is not taken for one more shard (the grid was refused as covered twice,
// ever after), and a later merge elsewhere skips it, saying so.
func TestMergeOutInsideShardsFolder(t *testing.T) {
	spec := tinySpec()
	shards := filepath.Join(t.TempDir(), "shards")
	for i := 0; i < 2; i++ {
		fakeShard(t, spec, i, 2, filepath.Join(shards, string(rune('0'+i))))
	}
	out := filepath.Join(shards, "merged")
	for range 2 { // and again
		if res, err := Merge(out, []string{shards}, MergeOptions{}); err != nil || len(res.Skipped) != 0 || len(res.Sources) != 2 {
			t.Fatalf("merge into %s: %+v, %v", out, res, err)
		}
	}
	res, err := Merge(filepath.Join(t.TempDir(), "again"), []string{shards}, MergeOptions{})
	if err != nil || !slices.Equal(res.Skipped, []string{out}) || len(res.Sources) != 2 {
		t.Errorf("merge of the shards' folder holding a merge of them: %+v, %v", res, err)
	}
	// Merged there with the shards named one by one: the same.
	out2 := filepath.Join(shards, "merged2")
	if _, err := Merge(out2, []string{filepath.Join(shards, "0"), filepath.Join(shards, "1")}, MergeOptions{}); err != nil {
		t.Fatalf("merge of the shards named one by one into %s: %v", out2, err)
	}
	res, err = Merge(filepath.Join(t.TempDir(), "again"), []string{shards}, MergeOptions{})
	if err != nil || len(res.Skipped) != 2 || len(res.Sources) != 2 {
		t.Errorf("merge of the shards' folder holding two merges of them: %+v, %v", res, err)
	}
}

// TestMergeFinalRefusesDamagedFinal: tune merge --final (MergeOptions.Data
// set) refuses a final.json in its folder whose setting is not of the
// grid before it writes: it checked it without the grid, and the final
// retraining refused it only after the merge had written.
func TestMergeFinalRefusesDamagedFinal(t *testing.T) {
	spec := tinySpec()
	root := t.TempDir()
	shards := filepath.Join(root, "shards")
	for i := 0; i < 2; i++ {
		fakeShard(t, spec, i, 2, filepath.Join(shards, string(rune('0'+i))))
	}
	out := filepath.Join(root, "merged")
	os.MkdirAll(out, 0o755)
	if err := writeFinal(out, FinalResult{Config: Config{LR: 0.5, BatchSize: 32, Act: "relu"}, Images: 100, TestAcc: 0.9, TestLoss: 0.3, Seconds: 1}); err != nil {
		t.Fatal(err)
	}
	asked := false
	_, err := Merge(out, []string{shards}, MergeOptions{Data: func() (string, error) { asked = true; return "", nil }})
	var be *BlockedError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "is not one of the study's grid") || asked {
		t.Errorf("merge --final into a folder whose final.json names lr 0.5: %v (data asked for: %v)", err, asked)
	}
	if _, err := os.Stat(filepath.Join(out, RunsDir)); err == nil {
		t.Errorf("the refused merge wrote %s", filepath.Join(out, RunsDir))
	}
}
