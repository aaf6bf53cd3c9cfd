// recipe_test.go: the CLI's recipes and --seeds: the flags' refusals, the
// model line and the checkpoint's metadata naming the schedule and the
// augmentation, --recipe reference repeating the run of a build before
// recipes, and --seeds's per-seed lines and summary.

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

func TestRecipeFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 64, 32)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--recipe", "fast"}, `--recipe "fast": expected default or reference`},
		{[]string{"--schedule", "step"}, `--schedule "step": expected constant or cosine`},
		{[]string{"--augment", "shift:9"}, "the shift must be a whole number of pixels from 1 to 7"},
		{[]string{"--augment", "rotate"}, "the rotation must be a number of degrees above 0 and up to 45"},
		{[]string{"--augment", "shear:5"}, "expected none, or parts joined by commas: shift (±2 pixels) or shift:N"},
		{[]string{"--augment", "shift:2,scale:0.5"}, "the scale must be a fraction above 0 and up to 0.25"},
		{[]string{"--seeds", "3-1"}, `"3-1" is not a range from a smaller seed to a larger one`},
		{[]string{"--seeds", "1,2,1"}, "seed 1 is listed twice"},
		{[]string{"--seeds", "one"}, `"one" is not a seed`},
		{[]string{"--seeds", "18446744073709551616"}, "18446744073709551616 is larger than the largest seed, 18446744073709551615"},
		{[]string{"--seeds", "1-18446744073709551616"}, "18446744073709551616 is larger than the largest seed"},
		{[]string{"--seeds", "1-5000"}, "more than 1000 seeds"},
		{[]string{"--seeds", "1,010"}, "write 010 without the leading zero (10), as --seed takes it"},
		{[]string{"--seeds", "00-3"}, "write 00 without the leading zero (0)"},
		{[]string{"--seeds", "1-3", "--seed", "4"}, "--seeds runs one training per seed: it excludes --seed and --resume"},
	} {
		args := append([]string{"train", "--cpu", "--data", dir}, c.args...)
		_, stderr, code := cnngpu(t, nil, args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("cnngpu %s: exit %d, want 2 with %q; stderr:\n%s", strings.Join(args, " "), code, c.want, stderr)
		}
	}
	// tune takes the same flags.
	_, stderr, code := cnngpu(t, nil, "tune", "--cpu", "--data", dir, "--out", filepath.Join(dir, "s"), "--augment", "shift:0")
	if code != 2 || !strings.Contains(stderr, "--augment") {
		t.Errorf("tune --augment shift:0: exit %d; stderr:\n%s", code, stderr)
	}
}

func TestRecipeInModelLineAndCheckpoint(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 96, 32)
	for _, c := range []struct {
		args      []string
		line      string
		sched     engine.ScheduleKind
		shift     int
		recipe    string
		recipeTag string
		lr        float32 // the recipe's rate, or --lr
	}{
		{nil, "adam lr 0.003, cosine (warm-up 1 step, to 0 at step 6) schedule, augment shift:2", engine.CosineLR, 2, "default", "(recipe default)", 0.003},
		{[]string{"--recipe", "reference"}, "adam lr 0.001, constant schedule, augment none", engine.ConstantLR, 0, "reference", "(recipe reference)", 0.001},
		{[]string{"--augment", "shift:3"}, "augment shift:3", engine.CosineLR, 3, "default", "(recipe default with --augment shift:3)", 0.003},
		{[]string{"--recipe", "reference", "--schedule", "cosine"}, "cosine (warm-up", engine.CosineLR, 0, "reference", "(recipe reference with --schedule cosine)", 0.001},
		{[]string{"--lr", "0.001"}, "adam lr 0.001, cosine", engine.CosineLR, 2, "default", "(recipe default with --lr 0.001)", 0.001},
	} {
		ck := filepath.Join(t.TempDir(), "m.safetensors")
		args := append([]string{"train", "--cpu", "--data", dir, "--epochs", "2", "--batch-size", "32", "--out", ck}, c.args...)
		stdout, stderr, code := cnngpu(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		if !strings.Contains(stdout, c.line) || !strings.Contains(stdout, c.recipeTag) {
			t.Errorf("%v: the model line lacks %q or %q:\n%s", c.args, c.line, c.recipeTag, stdout)
		}
		m, err := engine.LoadCheckpoint(ck)
		if err != nil {
			t.Fatal(err)
		}
		if m.Opt.LR != c.lr {
			t.Errorf("%v: checkpoint trained at lr %v, want %v", c.args, m.Opt.LR, c.lr)
		}
		if m.Opt.Sched.Kind != c.sched || m.Config.Augmentation.Shift != c.shift || m.Config.Recipe != c.recipe {
			t.Errorf("%v: checkpoint has schedule %+v, augment %d, recipe %q; want %v, %d, %q",
				c.args, m.Opt.Sched, m.Config.Augmentation.Shift, m.Config.Recipe, c.sched, c.shift, c.recipe)
		}
		if c.sched == engine.CosineLR && (m.Opt.Sched.Total != 6 || m.Opt.Sched.Warmup != 1) {
			t.Errorf("%v: the schedule is not planned over the run's 6 steps: %+v", c.args, m.Opt.Sched)
		}
		if c.sched == engine.CosineLR {
			// A cosine run cannot be extended: its rate reached 0.
			_, stderr, code := cnngpu(t, nil, "train", "--cpu", "--data", dir, "--resume", ck, "--epochs", "3")
			if code != 2 || !strings.Contains(stderr, "schedule was planned for 2 epochs") {
				t.Errorf("extending a cosine run: exit %d: %s", code, stderr)
			}
		}
	}
}

// TestSeedsSummary: --seeds trains each seed (the same as --seed N alone,
// bit for bit), prints a line per seed and a summary whose mean, std, min
// and max are those of the per-seed accuracies, and writes one checkpoint
// per seed.
func TestSeedsSummary(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 160, 50)
	out := filepath.Join(t.TempDir(), "m-{seed}.safetensors")
	metrics := filepath.Join(t.TempDir(), "m.jsonl")
	common := []string{"train", "--cpu", "--data", dir, "--epochs", "1", "--batch-size", "32"}
	stdout, stderr, code := cnngpu(t, nil, append(common, "--seeds", "2-3,7", "--out", out, "--json", "--metrics", metrics)...)
	if code != 0 {
		t.Fatalf("--seeds --json: exit %d: %s", code, stderr)
	}
	var res struct {
		Runs    []seedResult `json:"runs"`
		Summary seedSummary  `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if len(res.Runs) != 3 || res.Summary.Seeds != 3 {
		t.Fatalf("%d runs, summary of %d; want 3", len(res.Runs), res.Summary.Seeds)
	}
	var accs []float64
	for i, want := range []uint64{2, 3, 7} {
		r := res.Runs[i]
		if r.Seed != want || r.TestImages != 50 || r.Checkpoint != strings.ReplaceAll(out, "{seed}", fmt.Sprint(want)) {
			t.Errorf("run %d: %+v", i, r)
		}
		if _, err := os.Stat(r.Checkpoint); err != nil {
			t.Errorf("seed %d's checkpoint: %v", want, err)
		}
		accs = append(accs, r.TestAcc)
	}
	mean := (accs[0] + accs[1] + accs[2]) / 3
	var ss float64
	for _, a := range accs {
		ss += (a - mean) * (a - mean)
	}
	s := res.Summary
	if math.Abs(s.Mean-mean) > 1e-12 || math.Abs(*s.Std-math.Sqrt(ss/2)) > 1e-12 ||
		s.Min != min(accs[0], accs[1], accs[2]) || s.Max != max(accs[0], accs[1], accs[2]) {
		t.Errorf("summary %+v does not match the runs' accuracies %v", s, accs)
	}
	// The metrics file: each seed's epoch with its seed, each result, the
	// summary.
	lines := strings.Split(strings.TrimSpace(readFile(t, metrics)), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], `{"seed":2,"epoch":1,`) || !strings.HasPrefix(lines[1], `{"result":`) ||
		!strings.HasPrefix(lines[6], `{"summary":`) {
		t.Errorf("--metrics with --seeds:\n%s", strings.Join(lines, "\n"))
	}

	// One seed alone gives the same accuracy as in the list.
	so, stderr, code := cnngpu(t, nil, append(common, "--seed", "3", "--out", filepath.Join(t.TempDir(), "s3.safetensors"), "--json")...)
	var one seedResult
	if code != 0 || json.Unmarshal([]byte(so), &one) != nil || one.TestAcc != accs[1] || one.TestLoss != res.Runs[1].TestLoss {
		t.Errorf("--seed 3 alone: exit %d, %s %s; want accuracy %v as in --seeds", code, so, stderr, accs[1])
	}

	// Text output: a line per seed and the summary line.
	stdout, stderr, code = cnngpu(t, nil, append(common, "--seeds", "2,3", "--quiet", "--out", filepath.Join(t.TempDir(), "q.safetensors"))...)
	if code != 0 {
		t.Fatalf("--seeds text: %d %s", code, stderr)
	}
	want := []string{
		fmt.Sprintf("seed 2: test accuracy %s", percent(accs[0])),
		fmt.Sprintf("seed 3: test accuracy %s", percent(accs[1])),
		fmt.Sprintf("2 seeds: test accuracy mean %.2f%% ± %.2f points (sample std), min %s, max %s", 100*(accs[0]+accs[1])/2,
			100*math.Abs(accs[0]-accs[1])/math.Sqrt2, percent(min(accs[0], accs[1])), percent(max(accs[0], accs[1]))),
		"q-seed2.safetensors",
	}
	for _, w := range want {
		if !strings.Contains(stdout, w) {
			t.Errorf("--seeds output lacks %q:\n%s", w, stdout)
		}
	}
}

// TestOneSeedHasNoSpread: the summary of one seed gives its standard
// deviation as null in JSON, as the text says a spread needs two seeds (it
// was 0, a spread of none to a script).
func TestOneSeedHasNoSpread(t *testing.T) {
	b, err := json.Marshal(summarise([]seedResult{{TestAcc: 0.99}}))
	if err != nil || !strings.Contains(string(b), `"std_test_acc":null`) {
		t.Errorf("one seed's summary: %s, %v", b, err)
	}
	b, _ = json.Marshal(summarise([]seedResult{{TestAcc: 0.99}, {TestAcc: 0.97}}))
	if !strings.Contains(string(b), `"std_test_acc":0.0141`) {
		t.Errorf("two seeds' summary: %s", b)
	}
}

// TestCheckTrainSetSaysWhatToChange: a training set without a digit names
// the flag that left it out, and asks to change that one alone:
// --train-limit where its subset dropped the digit (it asked so of runs
// that gave none, or one above the images there are), --val-split where
// the hold-out did (it asked to lower a split of 0, and to lower one that
// had not dropped the digit).
func TestCheckTrainSetSaysWhatToChange(t *testing.T) {
	labels := make([]uint8, 100)
	for i := range labels {
		labels[i] = uint8(i % 10)
	}
	var all, no5 []int32 // every image; those of every digit but 5
	for i := range labels {
		all = append(all, int32(i))
		if labels[i] != 5 {
			no5 = append(no5, int32(i))
		}
	}
	idx := no5[:9]
	for _, c := range []struct {
		limit int
		all   []int32
		split bool
		want  string
	}{
		{0, idx, true, "(9 images after --val-split) has no image of the digit 5, and cannot train a 10-class model; lower --val-split"},
		{9, all, true, "(9 images after --train-limit) has no image of the digit 5, and cannot train a 10-class model; raise --train-limit"},
		{500, idx, true, "(9 images after --val-split) has no image of the digit 5, and cannot train a 10-class model; lower --val-split"},
		{9, no5, true, "(9 images after --val-split) has no image of the digit 5, and cannot train a 10-class model; lower --val-split"},
		{9, all, false, "(9 images after --train-limit) has no image of the digit 5, and cannot train a 10-class model; raise --train-limit"},
	} {
		err := checkTrainSet(c.limit, c.all, c.split, labels, idx, nil)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("--train-limit %d of %d, split %v: %v; want it to end %q", c.limit, len(c.all), c.split, err, c.want)
		}
	}
}
