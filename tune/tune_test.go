// tune_test.go: a tiny study on generated data: results.csv rows, PNG
// figures of the expected size, report; interruption and resume without
// redoing finished runs; shard + merge equal to one unsharded run; a
// diverging configuration recorded and never chosen; a changed grid refused;
// K folds with their spread.

package tune

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/loader"
)

// synthetic returns a small learnable MNIST-shaped dataset: each digit is
// a bright bar at its own row.
func synthetic(nTrain, nTest int) *loader.MNIST {
	r := rand.New(rand.NewPCG(4, 4))
	set := func(n int) *loader.Set {
		img := make([]byte, n*784)
		lab := make([]byte, n)
		for i := range lab {
			l := i % 10
			lab[i] = byte(l)
			for k := 0; k < 784; k++ {
				img[i*784+k] = byte(r.IntN(30))
			}
			for c := 4; c < 24; c++ {
				img[i*784+(3+2*l)*28+c] = 255
			}
		}
		return &loader.Set{Images: &loader.Images{N: n, Rows: 28, Cols: 28, Pixels: img}, Labels: lab}
	}
	return &loader.MNIST{Train: set(nTrain), Test: set(nTest), Dir: "synthetic"}
}

func tinySpec() *Spec {
	return &Spec{Version: 1, LRs: []float64{0.001, 0.003}, BatchSizes: []int{32}, Acts: []string{"relu", "tanh"},
		Epochs: 2, Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.25, Shard: Shard{N: 1}}
}

func newRunner(t *testing.T, spec *Spec, dir string, data *loader.MNIST, final bool) *Runner {
	e := cpu.New(0)
	t.Cleanup(func() { e.Close() })
	return &Runner{Spec: spec, Dir: dir, Data: data, Engines: []engine.Engine{e}, Final: final, Machine: "test machine"}
}

// runLogged runs a study as newRunner makes it and returns its log with
// Run's error.
func runLogged(t *testing.T, spec *Spec, dir string, data *loader.MNIST, final bool) (string, error) {
	var log strings.Builder
	r := newRunner(t, spec, dir, data, final)
	r.Log = &log
	err := r.Run(context.Background())
	return log.String(), err
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// withoutTime drops the seconds column, the one thing that differs
// between two runs of the same study.
func withoutTime(rows [][]string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = r[:len(r)-1]
	}
	return out
}

func checkPNG(t *testing.T, path string, minW, minH int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Modest files: a report of a few dozen figures stays small.
	if len(b) > 300<<10 {
		t.Errorf("%s is %d KiB, want at most 300", path, len(b)>>10)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w < minW || h < minH {
		t.Errorf("%s is %dx%d, want at least %dx%d", path, w, h, minW, minH)
	}
	// Not blank: more than a handful of distinct colours.
	seen := map[uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y += 7 {
		for x := 0; x < img.Bounds().Dx(); x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			seen[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if len(seen) < 5 {
		t.Errorf("%s looks blank (%d colours)", path, len(seen))
	}
}

func TestTinyStudy(t *testing.T) {
	dir := t.TempDir()
	data := synthetic(400, 100)
	live := cpu.LiveBytes()
	if err := newRunner(t, tinySpec(), dir, data, true).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Every run, the final retraining and the test free what they
	// allocate: a long study's tensors do not pile up against the CPU
	// engine's memory bound.
	if got := cpu.LiveBytes(); got != live {
		t.Errorf("the study left %d bytes of tensors allocated (%d before it)", got-live, live)
	}
	rows := readCSV(t, filepath.Join(dir, ResultsFile))
	if len(rows) != 5 {
		t.Fatalf("results.csv has %d rows, want a header and 4", len(rows))
	}
	want := [][]string{{"0.001", "32", "relu"}, {"0.003", "32", "relu"}, {"0.001", "32", "tanh"}, {"0.003", "32", "tanh"}}
	for i, w := range want {
		if !slices.Equal(rows[i+1][:3], w) || rows[i+1][10] != "false" {
			t.Errorf("row %d = %v, want %v, not diverged", i+1, rows[i+1], w)
		}
	}
	checkPNG(t, filepath.Join(dir, PlotsDir, "heatmap.png"), 1000, 400)
	checkPNG(t, filepath.Join(dir, PlotsDir, "activations.png"), 1200, 500)
	checkPNG(t, filepath.Join(dir, PlotsDir, "curves_relu_bs32.png"), 1200, 500)
	checkPNG(t, filepath.Join(dir, PlotsDir, "curves_tanh_bs32.png"), 1200, 500)
	// The reference's figure set: per batch size, a curve per learning
	// rate (a row per activation) and a curve per activation (a row per
	// learning rate).
	checkPNG(t, filepath.Join(dir, PlotsDir, "lr_bs32.png"), 1400, 500)
	checkPNG(t, filepath.Join(dir, PlotsDir, "act_bs32.png"), 1400, 500)
	rep, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := LoadFinal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fin.TestAcc < 0.5 || fin.Images != 400 {
		t.Errorf("final result %+v", fin)
	}
	for _, s := range []string{"Chosen setting: **" + fin.Config.Label(), "test accuracy", "plots/heatmap.png", "plots/lr_bs32.png", "plots/act_bs32.png", "test machine", "| 4 |",
		// The training set's size and what each run trained on, counted,
		// not MNIST's (it said "of the 60,000 training images").
		"stratified hold-out of 25% (seed 42) of the training images; each run trained on 300 images an epoch\n"} {
		if !strings.Contains(string(rep), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	if _, err := engine.LoadCheckpoint(filepath.Join(dir, FinalModel)); err != nil {
		t.Errorf("final model: %v", err)
	}
	// Redrawing from the files gives the same report.
	before := string(rep)
	if err := Render(dir, ""); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if string(after) != before {
		t.Error("Render from the recorded files changed the report")
	}
	// With the final model gone, the report no longer presents it as
	// there (a rerun retrains it).
	os.Remove(filepath.Join(dir, FinalModel))
	if err := Render(dir, ""); err != nil {
		t.Fatal(err)
	}
	if rep, _ := os.ReadFile(filepath.Join(dir, ReportFile)); !strings.Contains(string(rep), "but **its model is no longer there as tested**: ") ||
		strings.Contains(string(rep), "Model: `"+FinalModel+"`") {
		t.Errorf("the final model removed, the report says:\n%s", rep)
	}
}

func TestInterruptedStudyResumes(t *testing.T) {
	dir := t.TempDir()
	data := synthetic(300, 50)
	ctx, cancel := context.WithCancel(context.Background())
	r := newRunner(t, tinySpec(), dir, data, false)
	var started []string
	r.OnRunStart = func(c Config, _ int) {
		started = append(started, c.Key())
		if len(started) == 3 {
			cancel() // interrupt during the third run
		}
	}
	if err := r.Run(ctx); err != ErrInterrupted {
		t.Fatalf("interrupted study returned %v", err)
	}
	finished := map[string][]byte{}
	for _, k := range started[:2] {
		b, err := os.ReadFile(filepath.Join(dir, RunsDir, k+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		finished[k] = b
	}
	r2 := newRunner(t, tinySpec(), dir, data, false)
	var again []string
	r2.OnRunStart = func(c Config, _ int) { again = append(again, c.Key()) }
	if err := r2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range tinySpec().Configs() {
		if !slices.Contains(started[:2], c.Key()) {
			want = append(want, c.Key())
		}
	}
	if !slices.Equal(again, want) {
		t.Errorf("second run trained %v, want %v (the first finished %v)", again, want, started[:2])
	}
	for k, b := range finished {
		now, _ := os.ReadFile(filepath.Join(dir, RunsDir, k+".jsonl"))
		if !bytes.Equal(now, b) {
			t.Errorf("finished run %s was redone", k)
		}
	}
	if rows := readCSV(t, filepath.Join(dir, ResultsFile)); len(rows) != 5 {
		t.Errorf("results.csv has %d rows after resuming, want 5", len(rows))
	}
}

func TestShardsMergeLikeOneRun(t *testing.T) {
	data := synthetic(300, 50)
	whole := t.TempDir()
	if err := newRunner(t, tinySpec(), whole, data, false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var shards []string
	for i := 0; i < 3; i++ {
		spec := tinySpec()
		spec.Shard = newShard(i, 3)
		d := t.TempDir()
		if err := newRunner(t, spec, d, data, false).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, d)
	}
	merged := filepath.Join(t.TempDir(), "merged")
	res, err := Merge(merged, shards, MergeOptions{})
	if err != nil || res.Copied != 4 || len(res.Missing) != 0 {
		t.Fatalf("merge: %+v, %v", res, err)
	}
	a := withoutTime(readCSV(t, filepath.Join(whole, ResultsFile)))
	b := withoutTime(readCSV(t, filepath.Join(merged, ResultsFile)))
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Errorf("merged results differ from the unsharded run:\n%v\n%v", a, b)
	}
	if _, err := os.Stat(filepath.Join(merged, ReportFile)); err != nil {
		t.Error(err)
	}
	// Shards of another study are refused.
	other := tinySpec()
	other.Epochs = 3
	od := t.TempDir()
	if err := Prepare(od, other); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(filepath.Join(t.TempDir(), "m2"), []string{shards[0], od}, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "epochs 2 in "+shards[0]+", 3 in "+od) {
		t.Errorf("merging different studies: %v", err)
	}
}

func TestDivergedRunIsRecordedAndNeverChosen(t *testing.T) {
	dir := t.TempDir()
	spec := &Spec{Version: 1, LRs: []float64{0.01, 1e6}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 3,
		Optimizer: "sgd", Momentum: 0.9, Seed: 1, Arch: "reference", ValSplit: 0.25, Shard: Shard{N: 1}}
	if err := newRunner(t, spec, dir, synthetic(300, 50), true).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(dir, ResultsFile))
	if rows[2][0] != "1e+06" || rows[2][10] != "true" || rows[2][11] == "" {
		t.Errorf("lr 1e6 row %v: want diverged with an epoch", rows[2])
	}
	if rows[1][10] != "false" {
		t.Errorf("lr 0.01 row %v diverged", rows[1])
	}
	fin, err := LoadFinal(dir)
	if err != nil || fin.Config.LR != 0.01 {
		t.Errorf("final %+v %v: the diverged configuration must not be chosen", fin, err)
	}
	rep, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if !strings.Contains(string(rep), "diverged (epoch") {
		t.Error("report does not show the diverged run")
	}
	checkPNG(t, filepath.Join(dir, PlotsDir, "curves_relu_bs32.png"), 1200, 500)

	// Every configuration diverged: the study ends with an error (no final
	// model for the retraining the study asked for), the report written.
	all := t.TempDir()
	spec.LRs = []float64{1e6}
	err = newRunner(t, spec, all, synthetic(300, 50), true).Run(context.Background())
	if !errors.Is(err, ErrAllDiverged) || !strings.Contains(err.Error(), "--lr") {
		t.Errorf("a study whose every run diverged: %v; want ErrAllDiverged with a hint", err)
	}
	if rep, _ := os.ReadFile(filepath.Join(all, ReportFile)); !strings.Contains(string(rep), "diverged (epoch") || !strings.Contains(string(rep), "Every finished configuration diverged (1 of 1)") {
		t.Errorf("every run diverged: the report is missing or does not say so:\n%s", rep)
	}
	// A study with no finished run does not call its runs diverged.
	none := t.TempDir()
	if err := Prepare(none, spec); err != nil {
		t.Fatal(err)
	}
	if err := Render(none, ""); err != nil {
		t.Fatal(err)
	}
	if rep, _ := os.ReadFile(filepath.Join(none, ReportFile)); !strings.Contains(string(rep), "No configuration has finished yet.") {
		t.Errorf("no run finished: the report says:\n%s", rep)
	}
	if _, err := LoadFinal(all); err == nil {
		t.Error("every run diverged: a final model was recorded")
	}
}

func TestChangedGridIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := Prepare(dir, tinySpec()); err != nil {
		t.Fatal(err)
	}
	s := tinySpec()
	s.LRs = []float64{0.1}
	s.ValSplit = 0.2
	err := Prepare(dir, s)
	if err == nil || !strings.Contains(err.Error(), "learning rates [0.001 0.003] in the folder, [0.1] given now") || !strings.Contains(err.Error(), "validation split") {
		t.Errorf("changed grid: %v", err)
	}
}

// TestRunsOfAnotherStudyRefused: with study.json gone, the folder's run
// files are refused; with another study's study.json in its place, run
// files left by a study of other settings (another seed) are refused, not
// adopted and relabelled as this study's.
func TestRunsOfAnotherStudyRefused(t *testing.T) {
	dir := t.TempDir()
	data := synthetic(200, 20)
	spec := tinySpec()
	spec.LRs, spec.Acts, spec.Epochs = spec.LRs[:1], spec.Acts[:1], 1
	if err := newRunner(t, spec, dir, data, false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, SpecFile)); err != nil {
		t.Fatal(err)
	}
	other := *spec
	other.Seed = 9
	var be *BlockedError
	err := newRunner(t, &other, dir, data, false).Run(context.Background())
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "no study definition") {
		t.Errorf("a study of seed 9 over the runs of seed 1, study.json gone: %v, want the folder refused", err)
	}
	// With a study.json of seed 9 put there, each run file is checked.
	if err := other.Save(dir); err != nil {
		t.Fatal(err)
	}
	err = newRunner(t, &other, dir, data, false).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "it holds a run of another study") || !strings.Contains(err.Error(), "seed 1") {
		t.Errorf("a study of seed 9 over the runs of seed 1: %v, want the run files refused", err)
	}
}

func TestFolds(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec()
	spec.LRs, spec.Acts, spec.Epochs = []float64{0.001}, []string{"relu", "tanh"}, 1
	spec.ValSplit, spec.Folds = 0, 3
	if err := newRunner(t, spec, dir, synthetic(300, 50), false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(dir, ResultsFile))
	if len(rows) != 3 || rows[1][3] != "3" || rows[1][5] == "" {
		t.Errorf("fold results: %v", rows)
	}
	for k := 0; k < 3; k++ {
		if _, err := os.Stat(RunPath(dir, Config{0.001, 32, "relu"}, k, 3)); err != nil {
			t.Error(err)
		}
	}
	checkPNG(t, filepath.Join(dir, PlotsDir, "folds.png"), 700, 400)
	checkPNG(t, filepath.Join(dir, PlotsDir, "folds_curves.png"), 1400, 500)
	checkPNG(t, filepath.Join(dir, PlotsDir, "heatmap.png"), 1000, 400)
}

// TestForeignOutputsRefused: a folder holding no study but a file a study
// writes (a results.csv of the user's) is refused, by the run and by the
// dry run alike, and the file is kept, also beside a runs folder with no
// run files (train's default --out makes one: the files were replaced);
// the dry run also refuses another shard of the study, as the run does.
func TestForeignOutputsRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		runs bool
	}{{ResultsFile, false}, {ReportFile, false}, {PlotsDir, false}, {ResultsFile, true}, {ReportFile, true}} {
		name, dir := c.name, t.TempDir()
		if c.runs {
			os.MkdirAll(filepath.Join(dir, RunsDir), 0o755)
			os.WriteFile(filepath.Join(dir, RunsDir, "model-20261205-100000.safetensors"), []byte("a model"), 0o644)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckFolder(dir, tinySpec()); err == nil || !strings.Contains(err.Error(), name+", which a study writes") {
			t.Errorf("dry run on a folder with %s: %v", name, err)
		}
		if err := Prepare(dir, tinySpec()); err == nil || !strings.Contains(err.Error(), name+", which a study writes") {
			t.Errorf("a study in a folder with %s: %v", name, err)
		}
		if b, _ := os.ReadFile(p); string(b) != "mine\n" {
			t.Errorf("%s was replaced", name)
		}
	}
	// A runs folder holding a user's own JSON lines (train --metrics),
	// with none of a study's files beside: the study starts (it was
	// refused as run files without their study's definition).
	own := t.TempDir()
	os.MkdirAll(filepath.Join(own, RunsDir), 0o755)
	os.WriteFile(filepath.Join(own, RunsDir, "metrics.jsonl"), []byte(`{"epoch":1}`+"\n"), 0o644)
	if err := Prepare(own, tinySpec()); err != nil {
		t.Errorf("a runs folder with a user's metrics.jsonl: %v", err)
	}
	if n := runFiles(own); n != 0 {
		t.Errorf("metrics.jsonl counted as %d run files", n)
	}
	for _, c := range []Config{{LR: 0.001, BatchSize: 64, Act: "relu"}, {LR: 3e-05, BatchSize: 8, Act: "tanh"}} {
		for _, folds := range []int{0, 3} {
			if name := filepath.Base(RunPath(own, c, 1, folds)); !runFileName.MatchString(name) {
				t.Errorf("run file %s not taken for one", name)
			}
		}
	}
	dir := t.TempDir()
	s0 := tinySpec()
	s0.Shard = newShard(0, 2)
	if err := Prepare(dir, s0); err != nil {
		t.Fatal(err)
	}
	s1 := tinySpec()
	s1.Shard = newShard(1, 2)
	if _, err := CheckFolder(dir, s1); err == nil || !strings.Contains(err.Error(), "holds shard 0/2 of this study, not 1/2") {
		t.Errorf("dry run of shard 1/2 on shard 0/2's folder: %v", err)
	}
	// The whole study on a shard's folder (tune merge --out SHARD_DIR
	// too), and a shard on the whole study's: what to do instead, with
	// the folder's shard named as a shard (it read "shard all").
	var be *BlockedError
	if _, err := CheckFolder(dir, tinySpec()); !errors.As(err, &be) || !strings.Contains(err.Error(), "holds shard 0/2 of this study, not the whole of it: continue it with --shard 0/2, or merge") {
		t.Errorf("dry run of the whole study on shard 0/2's folder: %v", err)
	}
	whole := t.TempDir()
	if err := Prepare(whole, tinySpec()); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckFolder(whole, s1); !errors.As(err, &be) || !strings.Contains(err.Error(), "holds the whole of this study, not a shard of it: give shard 1/2 its own --out folder") {
		t.Errorf("dry run of shard 1/2 on the whole study's folder: %v", err)
	}
}

// TestRatesEqualAsFloat32: two rates that differ as typed but are one
// float32 (the optimizer's) are refused, not trained twice; rates that
// differ as float32 pass.
func TestRatesEqualAsFloat32(t *testing.T) {
	s := tinySpec()
	s.LRs = []float64{0.1, 0.100000001}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "lr 0.1 and lr 0.100000001, the same rate as a 32-bit float") {
		t.Errorf("0.1 and 0.100000001: %v", err)
	}
	s.LRs = []float64{0.1, 0.1000001}
	if err := s.Validate(); err != nil {
		t.Errorf("0.1 and 0.1000001 (two float32 values): %v", err)
	}
}

// TestOtherDataRefused: a study records its training data's fingerprint
// when it first trains; continuing it on other data (another --data) is
// refused, not mixed into its results, and so is merging shards trained
// on different data. A study from before fingerprints adopts the data.
func TestOtherDataRefused(t *testing.T) {
	data := synthetic(200, 20)
	other := synthetic(200, 20)
	other.Train.Labels[0] = (other.Train.Labels[0] + 1) % 10
	spec := func() *Spec {
		s := tinySpec()
		s.LRs, s.Epochs = s.LRs[:1], 1
		return s
	}
	dir := t.TempDir()
	r := newRunner(t, spec(), dir, data, false)
	ctx, cancel := context.WithCancel(context.Background())
	r.OnRunStart = func(Config, int) { cancel() }
	if err := r.Run(ctx); err != ErrInterrupted {
		t.Fatalf("interrupted study: %v", err)
	}
	saved, err := LoadSpec(dir)
	if err != nil || saved.Data != data.Train.Fingerprint() {
		t.Fatalf("study.json after the first run started: %+v %v; want the data's fingerprint", saved, err)
	}
	var oe *OtherStudyError
	err = newRunner(t, spec(), dir, other, false).Run(context.Background())
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "training data "+data.Train.Fingerprint()+" in the folder, "+other.Train.Fingerprint()+" given now") {
		t.Fatalf("continuing on other data: %v; want it refused naming both", err)
	}
	if err := newRunner(t, spec(), dir, data, false).Run(context.Background()); err != nil {
		t.Fatalf("continuing on the same data: %v", err)
	}

	// A study folder from before fingerprints (none recorded) adopts the
	// data it continues with: without a word where it holds no run, with
	// a note where its runs trained on data it cannot tell.
	legacy := t.TempDir()
	if err := Prepare(legacy, spec()); err != nil {
		t.Fatal(err)
	}
	const adopted = "does not record the data its runs trained on"
	if log, err := runLogged(t, spec(), legacy, other, false); err != nil || strings.Contains(log, adopted) {
		t.Fatalf("a study without a fingerprint or runs: %v\n%s", err, log)
	}
	s, _ := LoadSpec(legacy)
	if s.Data != other.Train.Fingerprint() {
		t.Errorf("a study without a fingerprint: %q recorded, want the data's", s.Data)
	}
	s.Data = ""
	if err := s.Save(legacy); err != nil {
		t.Fatal(err)
	}
	log, err := runLogged(t, spec(), legacy, data, false)
	if err != nil || !strings.Contains(log, adopted) || !strings.Contains(log, "takes its 2 finished runs as trained on synthetic, "+data.Train.Fingerprint()+", and records that data") {
		t.Errorf("a study without a fingerprint, holding runs: %v, want a note that it takes them as trained on the data given\n%s", err, log)
	}

	// Shards trained on different data do not merge.
	var shards []string
	for i, d := range []*loader.MNIST{data, other} {
		s := spec()
		s.Shard = newShard(i, 2)
		sd := t.TempDir()
		if err := newRunner(t, s, sd, d, false).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, sd)
	}
	if _, err := Merge(filepath.Join(t.TempDir(), "m"), shards, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "training data") {
		t.Errorf("merging shards trained on different data: %v; want it refused", err)
	}
	// A first shard that records no data (it trained nothing) takes the
	// data of the first that does, and the message names that one.
	none := t.TempDir()
	s = spec()
	s.Shard = newShard(0, 2)
	if err := Prepare(none, s); err != nil {
		t.Fatal(err)
	}
	_, err = Merge(filepath.Join(t.TempDir(), "m2"), []string{none, shards[0], shards[1]}, MergeOptions{})
	if want := "training data " + data.Train.Fingerprint() + " in " + shards[0] + ", " + other.Train.Fingerprint() + " in " + shards[1]; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("merging a shard with no data and shards on different data: %v; want %q", err, want)
	}
	// A shard from before fingerprints, holding its finished run, merges
	// with one that records its data, and is named as taken on it.
	s = spec()
	s.Shard = newShard(1, 2)
	recorded := t.TempDir()
	if err := newRunner(t, s, recorded, data, false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := LoadSpec(shards[0])
	before.Data = ""
	if err := before.Save(shards[0]); err != nil {
		t.Fatal(err)
	}
	res, err := Merge(filepath.Join(t.TempDir(), "m3"), []string{shards[0], recorded}, MergeOptions{})
	if err != nil || !slices.Equal(res.Unrecorded, []string{shards[0]}) || res.DataFrom != recorded {
		t.Errorf("merging a shard from before fingerprints: %v, %+v; want it named as taken on %s's data", err, res, recorded)
	}
	// The same where the data is the merged folder's (merged before), or
	// the merged folder's runs are the ones that record none.
	into := filepath.Join(t.TempDir(), "m4")
	if _, err := Merge(into, []string{recorded}, MergeOptions{AllowMissing: true}); err != nil {
		t.Fatal(err)
	}
	res, err = Merge(into, []string{shards[0]}, MergeOptions{})
	if err != nil || !slices.Equal(res.Unrecorded, []string{shards[0]}) || res.DataFrom != into {
		t.Errorf("merging a shard from before fingerprints into a folder that records data: %v, %+v; want it named as taken on %s's data", err, res, into)
	}
	into = filepath.Join(t.TempDir(), "m5")
	if _, err := Merge(into, []string{shards[0]}, MergeOptions{AllowMissing: true}); err != nil {
		t.Fatal(err)
	}
	res, err = Merge(into, []string{recorded}, MergeOptions{})
	if err != nil || !slices.Equal(res.Unrecorded, []string{into}) || res.DataFrom != recorded {
		t.Errorf("merging a shard that records data into a folder that holds runs and records none: %v, %+v; want that folder named as taken on %s's data", err, res, recorded)
	}
}

// logFunc is a Runner.Log that calls f with each line.
type logFunc func(line string)

func (f logFunc) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		f(l)
	}
	return len(p), nil
}

// TestFinalRetrainingResumes: a study interrupted in its final
// retraining resumes it where it stopped (not from its first epoch), to
// the model an uninterrupted study gives; a final model whose file is gone
// or damaged is trained again, not reported as there.
func TestFinalRetrainingResumes(t *testing.T) {
	data := synthetic(200, 50)
	spec := func() *Spec {
		s := tinySpec()
		s.LRs, s.Acts, s.Epochs = s.LRs[:1], s.Acts[:1], 3
		return s
	}
	whole := t.TempDir()
	if err := newRunner(t, spec(), whole, data, true).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want, err := engine.LoadCheckpoint(filepath.Join(whole, FinalModel))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	r := newRunner(t, spec(), dir, data, true)
	r.Log = logFunc(func(l string) {
		if strings.Contains(l, "final epoch 2/3") {
			cancel()
		}
	})
	if err := r.Run(ctx); err != ErrInterrupted {
		t.Fatalf("interrupted in the final retraining: %v", err)
	}
	ck, err := engine.LoadCheckpoint(filepath.Join(dir, FinalPartial))
	if err != nil || ck.Position.Epoch < 2 {
		t.Fatalf("the interrupted retraining's checkpoint: %+v %v; want one past epoch 2", ck, err)
	}
	var lines []string
	r = newRunner(t, spec(), dir, data, true)
	r.Log = logFunc(func(l string) { lines = append(lines, l) })
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := strings.Join(lines, "\n")
	if !strings.Contains(log, "resuming the final retraining at epoch") || strings.Contains(log, "final epoch 1/3") {
		t.Errorf("the resumed study's log:\n%s\nwant the retraining resumed, epoch 1 not trained again", log)
	}
	got, err := engine.LoadCheckpoint(filepath.Join(dir, FinalModel))
	if err != nil || !slices.Equal(got.Params, want.Params) {
		t.Errorf("the resumed final model differs from the uninterrupted study's (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FinalPartial)); !os.IsNotExist(err) {
		t.Errorf("the retraining's checkpoint is left after the final model was saved: %v", err)
	}

	// The model file gone, or damaged: trained again.
	for _, damage := range []func(string) error{os.Remove, func(p string) error { return os.WriteFile(p, []byte("junk"), 0o644) }} {
		if err := damage(filepath.Join(dir, FinalModel)); err != nil {
			t.Fatal(err)
		}
		lines = nil
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if log := strings.Join(lines, "\n"); !strings.Contains(log, "training it again") || strings.Contains(log, "already trained") {
			t.Errorf("final model damaged or gone; the study's log:\n%s", log)
		}
		if got, err := engine.LoadCheckpoint(filepath.Join(dir, FinalModel)); err != nil || !slices.Equal(got.Params, want.Params) {
			t.Errorf("the final model trained again: %v", err)
		}
	}

	// final.json damaged (a value cnngpu never writes): refused, naming
	// it, and left as it is, with the model; it was written over, the
	// model trained again, without a word.
	finalJSON := filepath.Join(dir, FinalFile)
	good, err := os.ReadFile(finalJSON)
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`"test_acc": [0-9.e-]+`).ReplaceAll(good, []byte(`"test_acc": 1.5`))
	if err := os.WriteFile(finalJSON, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	model, _ := os.ReadFile(filepath.Join(dir, FinalModel))
	// A run to train again too: the refusal comes before it, not after.
	runs, _ := filepath.Glob(filepath.Join(dir, RunsDir, "*.jsonl"))
	run, _ := os.ReadFile(runs[0])
	os.Remove(runs[0])
	var be *BlockedError
	if err := r.Run(context.Background()); err == nil || errors.As(err, &be) || !strings.Contains(err.Error(), finalJSON+": test_acc 1.5 is not an accuracy") {
		t.Errorf("a study whose final.json is damaged: %v, want it refused as damaged (an input not as expected, as a damaged study.json: no BlockedError, exit 1)", err)
	}
	if _, err := os.Stat(runs[0]); err == nil {
		t.Errorf("the study trained %s before refusing its damaged final.json", runs[0])
	}
	os.WriteFile(runs[0], run, 0o644)
	if now, _ := os.ReadFile(finalJSON); !bytes.Equal(now, bad) {
		t.Error("the damaged final.json was written over")
	}
	if now, _ := os.ReadFile(filepath.Join(dir, FinalModel)); !bytes.Equal(now, model) {
		t.Error("the final model was written over while final.json was damaged")
	}
	// A setting not of the grid: edited, or another study's.
	other := regexp.MustCompile(`"lr": [0-9.e-]+`).ReplaceAll(good, []byte(`"lr": 0.5`))
	os.WriteFile(finalJSON, other, 0o644)
	if err := r.Run(context.Background()); !errors.As(err, &be) || !strings.Contains(err.Error(), "is not one of the study's grid") {
		t.Errorf("a study whose final.json names lr 0.5: %v, want it refused", err)
	}
	os.WriteFile(finalJSON, good, 0o644)

	// Interrupted in its test, every epoch trained: the rerun says so and
	// tests it, training nothing (it said "resuming at epoch 4" of 3).
	late := t.TempDir()
	ctx, cancel = context.WithCancel(context.Background())
	r = newRunner(t, spec(), late, data, true)
	r.Log = logFunc(func(l string) {
		if strings.Contains(l, "final epoch 3/3") {
			cancel()
		}
	})
	if err := r.Run(ctx); err != ErrInterrupted {
		t.Fatalf("interrupted in the final test: %v", err)
	}
	lines = nil
	r = newRunner(t, spec(), late, data, true)
	r.Log = logFunc(func(l string) { lines = append(lines, l) })
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if log := strings.Join(lines, "\n"); !strings.Contains(log, "the final retraining trained its 3 epochs before it stopped") || strings.Contains(log, "final epoch") || strings.Contains(log, "resuming") {
		t.Errorf("interrupted in the final test, rerun; the study's log:\n%s", log)
	}
}

// TestBlockedOutputsRefusedFirst: in a study's folder, a file where its
// plots folder goes, or a folder where one of its files goes, is refused
// before any training (it would fail after all of it), by a run and a dry
// run alike.
func TestBlockedOutputsRefusedFirst(t *testing.T) {
	for _, block := range []struct {
		name string
		dir  bool
	}{{PlotsDir, false}, {RunsDir, false}, {ResultsFile, true}, {ReportFile, true}, {FinalModel, true},
		// a folder under a figure's name, in the plots folder: found by
		// the figure's write once every run had trained
		{filepath.Join(PlotsDir, "heatmap.png"), true}} {
		dir := t.TempDir()
		if err := Prepare(dir, tinySpec()); err != nil { // a study's folder
			t.Fatal(err)
		}
		p := filepath.Join(dir, block.name)
		os.Remove(p)
		if block.dir {
			os.MkdirAll(p, 0o755)
		} else {
			os.WriteFile(p, nil, 0o644)
		}
		var be *BlockedError
		if _, err := CheckFolder(dir, tinySpec()); !errors.As(err, &be) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s in the way, dry run: %v; want a BlockedError naming it", block.name, err)
		}
		r := newRunner(t, tinySpec(), dir, synthetic(100, 10), true)
		r.OnRunStart = func(Config, int) { t.Errorf("%s in the way: a run started", block.name) }
		if err := r.Run(context.Background()); !errors.As(err, &be) {
			t.Errorf("%s in the way: %v; want a BlockedError", block.name, err)
		}
	}
}

// TestGridInAnotherOrderContinues: the same grid with its values listed in
// another order is the same study (it continues, in the folder's order);
// a shard's is not, as its runs follow the order.
func TestGridInAnotherOrderContinues(t *testing.T) {
	dir := t.TempDir()
	if err := Prepare(dir, tinySpec()); err != nil {
		t.Fatal(err)
	}
	s := tinySpec()
	s.LRs = []float64{0.003, 0.001}
	s.Acts = []string{"tanh", "relu"}
	if err := Prepare(dir, s); err != nil {
		t.Fatalf("the same grid in another order: %v", err)
	}
	if want := tinySpec(); !slices.Equal(s.LRs, want.LRs) || !slices.Equal(s.Acts, want.Acts) {
		t.Errorf("continued with lrs %v, activations %v; want the folder's order %v, %v", s.LRs, s.Acts, want.LRs, want.Acts)
	}
	// Another learning rate and the activations reordered: refused for
	// the rate alone.
	s = tinySpec()
	s.LRs = []float64{0.003, 0.01}
	s.Acts = []string{"tanh", "relu"}
	if err := Prepare(dir, s); err == nil || !strings.Contains(err.Error(), "learning rates") || strings.Contains(err.Error(), "activations") {
		t.Errorf("another rate, the activations reordered: %v; want it refused for the rates only", err)
	}
	shard := t.TempDir()
	s0 := tinySpec()
	s0.Shard = newShard(0, 2)
	if err := Prepare(shard, s0); err != nil {
		t.Fatal(err)
	}
	s1 := tinySpec()
	s1.Shard = newShard(0, 2)
	s1.LRs = []float64{0.003, 0.001}
	if err := Prepare(shard, s1); err == nil || !strings.Contains(err.Error(), "learning rates (the same, in another order, which orders the grid and its split) [0.001 0.003] in the folder, [0.003 0.001] given now") {
		t.Errorf("a shard's grid in another order: %v; want it refused", err)
	}
}

// laterFormat rewrites checkpoint path as a later cnngpu's would be: its
// metadata names format 3, under the metadata's checksum made again as
// the checkpoint format defines it (the SHA-256 of each entry's key, a
// NUL, its value and a NUL).
func laterFormat(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hl := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	var meta map[string]string
	if err := json.Unmarshal(b[8:8+hl], &header); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(header["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	meta["format"] = "cnngpu-checkpoint/3"
	h := sha256.New()
	for _, k := range []string{"format", "arch", "optimizer", "config", "position", "history", "sha256"} {
		h.Write([]byte(k + "\x00" + meta[k] + "\x00"))
	}
	meta["meta_sha256"] = hex.EncodeToString(h.Sum(nil))
	header["__metadata__"], _ = json.Marshal(meta)
	hb, _ := json.Marshal(header)
	for (8+len(hb))%8 != 0 {
		hb = append(hb, ' ')
	}
	out := append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hb))), hb...), b[8+hl:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.LoadCheckpoint(path); !errors.Is(err, engine.ErrLaterFormat) {
		t.Fatalf("the test's format-3 file: %v, want it read as a later cnngpu's", err)
	}
}

// TestLaterFormatFinalModelKept: a final model, or a final retraining's
// checkpoint, that a later cnngpu wrote is not replaced by training it
// again: the study stops, naming it.
func TestLaterFormatFinalModelKept(t *testing.T) {
	dir, data, spec := finishedStudy(t)
	model := filepath.Join(dir, FinalModel)
	laterFormat(t, model)
	fin, err := LoadFinal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fin.ModelSHA256, err = fileSHA256(model); err != nil { // as the later cnngpu recorded it
		t.Fatal(err)
	}
	if err := writeFinal(dir, *fin); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FinalModel, FinalPartial} {
		path := filepath.Join(dir, f)
		if f == FinalPartial {
			// A retraining stopped by the later cnngpu: its checkpoint
			// left, no final model yet.
			if err := os.Rename(model, path); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(dir, FinalFile))
		}
		err := keptBy(t, path, func() error { return newRunner(t, spec, dir, data, true).Run(context.Background()) })
		if !errors.Is(err, engine.ErrLaterFormat) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move the file away") {
			t.Errorf("%s of a later cnngpu: %v, want the study stopped, naming it", f, err)
		}
	}
}

// finishedStudy runs a tiny study of one epoch to its final model.
func finishedStudy(t *testing.T) (dir string, data *loader.MNIST, spec *Spec) {
	t.Helper()
	dir, data, spec = t.TempDir(), synthetic(400, 100), tinySpec()
	spec.Epochs = 1
	if err := newRunner(t, spec, dir, data, true).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir, data, spec
}

// keptBy runs run, which is to stop with a BlockedError and leave path as
// it was, and returns its error.
func keptBy(t *testing.T, path string, run func() error) error {
	t.Helper()
	before, _ := os.ReadFile(path)
	err := run()
	var blocked *BlockedError
	if !errors.As(err, &blocked) {
		t.Errorf("with %s in place: %v, want the study stopped (BlockedError)", path, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Errorf("%s was replaced", path)
	}
	return err
}

// TestReadOnlyFinalModelKept: a final model made read-only is not replaced
// when the study would retrain it (its record gone): the study stops,
// naming it, and goes on once it is writable.
func TestReadOnlyFinalModelKept(t *testing.T) {
	dir, data, spec := finishedStudy(t)
	model := filepath.Join(dir, FinalModel)
	if err := os.Chmod(model, 0o444); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, FinalFile))
	err := keptBy(t, model, func() error { return newRunner(t, spec, dir, data, true).Run(context.Background()) })
	if !strings.Contains(fmt.Sprint(err), model+" is read-only (mode 0444)") {
		t.Fatalf("retraining over a read-only final model: %v, want it refused, naming it", err)
	}
	os.Chmod(model, 0o644)
	if err := newRunner(t, spec, dir, data, true).Run(context.Background()); err != nil {
		t.Fatalf("once writable: %v", err)
	}
	if _, err := LoadFinalModel(dir, spec); err != nil {
		t.Errorf("once writable, no final model: %v", err)
	}
	// Its record made read-only, the model gone: kept too (it was
	// replaced unsaid).
	record := filepath.Join(dir, FinalFile)
	if err := os.Chmod(record, 0o444); err != nil {
		t.Fatal(err)
	}
	os.Remove(model)
	err = keptBy(t, record, func() error { return newRunner(t, spec, dir, data, true).Run(context.Background()) })
	if !strings.Contains(fmt.Sprint(err), record+" is read-only (mode 0444)") {
		t.Fatalf("retraining over a read-only final record: %v, want it refused, naming it", err)
	}
}

// TestReadOnlyOutputsKept: results.csv, report.md or a figure made
// read-only is not replaced by a study run or a redraw: both stop before
// writing anything, naming the file, and go on once it is writable.
func TestReadOnlyOutputsKept(t *testing.T) {
	dir := t.TempDir()
	data := synthetic(400, 100)
	spec := tinySpec()
	spec.Epochs = 1
	if err := newRunner(t, spec, dir, data, false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	plots, _ := filepath.Glob(filepath.Join(dir, PlotsDir, "*.png"))
	if len(plots) == 0 {
		t.Fatal("no figures drawn")
	}
	for _, p := range []string{filepath.Join(dir, ResultsFile), filepath.Join(dir, ReportFile), plots[0]} {
		if err := os.Chmod(p, 0o444); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(p)
		report, _ := os.ReadFile(filepath.Join(dir, ReportFile))
		os.Remove(filepath.Join(dir, ReportFile)) // a run would redraw it
		if p == filepath.Join(dir, ReportFile) {
			os.WriteFile(p, before, 0o444)
		}
		for name, run := range map[string]func() error{
			"a study run": func() error { return newRunner(t, spec, dir, data, false).Run(context.Background()) },
			"a redraw":    func() error { return Render(dir, "") },
		} {
			err := run()
			var blocked *BlockedError
			if !errors.As(err, &blocked) || !strings.Contains(err.Error(), p+" is read-only (mode 0444)") || !strings.Contains(err.Error(), "chmod u+w") {
				t.Errorf("%s over a read-only %s: %v, want it refused, naming it", name, filepath.Base(p), err)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(after, before) {
				t.Errorf("%s replaced the read-only %s", name, filepath.Base(p))
			}
			if _, err := os.Stat(filepath.Join(dir, ReportFile)); p != filepath.Join(dir, ReportFile) && err == nil {
				t.Errorf("%s wrote report.md before refusing", name)
			}
		}
		os.Chmod(p, 0o644)
		if p != filepath.Join(dir, ReportFile) {
			os.WriteFile(filepath.Join(dir, ReportFile), report, 0o644)
		}
		if err := Render(dir, ""); err != nil {
			t.Fatalf("once %s is writable: %v", filepath.Base(p), err)
		}
	}
}

// TestOneStepRunsSayTheirRateIsConstant: under a cosine schedule the runs
// that take a single step (a batch as large as their training images, one
// epoch) keep a constant rate, and the study says which they are; with a
// second epoch they have a schedule and nothing is said.
func TestOneStepRunsSayTheirRateIsConstant(t *testing.T) {
	data := synthetic(400, 100)
	for _, epochs := range []int{1, 2} {
		spec := tinySpec()
		spec.LRs, spec.BatchSizes, spec.Acts, spec.Epochs, spec.Schedule = []float64{0.001}, []int{64, 512}, []string{"relu"}, epochs, "cosine"
		var log bytes.Buffer
		r := newRunner(t, spec, t.TempDir(), data, false)
		r.Log = &log
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		said := strings.Contains(log.String(), "note: the runs at batch size 512 take one step, so they keep a constant rate")
		if said != (epochs == 1) || strings.Contains(log.String(), "batch size 64,") {
			t.Errorf("%d epochs, batch sizes 64 and 512 on 300 images: the note said %v, want %v:\n%s", epochs, said, epochs == 1, log.String())
		}
	}
}

// TestFigureNames: figureName matches every figure a study of the
// default grid draws, with folds, and nothing else.
func TestFigureNames(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec()
	spec.Epochs, spec.Folds, spec.ValSplit = 1, 2, 0
	if err := newRunner(t, spec, dir, synthetic(400, 100), false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	figs, _ := filepath.Glob(filepath.Join(dir, PlotsDir, "*"))
	if len(figs) < 5 {
		t.Fatalf("only %d figures drawn: %v", len(figs), figs)
	}
	for _, f := range figs {
		if !figureName.MatchString(filepath.Base(f)) {
			t.Errorf("figure %s is not matched by figureName", filepath.Base(f))
		}
	}
	for _, n := range []string{"mine.png", "heatmap.png.bak", "notes.txt", "lr_bs.png"} {
		if figureName.MatchString(n) {
			t.Errorf("figureName matches %s", n)
		}
	}
}

// nanLoss is an engine whose training loss turns NaN: the final
// retraining's, where a study's runs trained on another engine.
type nanLoss struct{ engine.Engine }

func (n nanLoss) SoftmaxXent(logits, labels, probs, dlogits, stats engine.Tensor, batch, classes int, ls float64) {
	n.Engine.SoftmaxXent(logits, labels, probs, dlogits, stats, batch, classes, ls)
	if dlogits != nil {
		if err := n.Engine.Write(stats, 0, []float32{float32(math.NaN())}); err != nil {
			panic(err)
		}
	}
}

// TestFinalDiverged: a final retraining that diverges is recorded in
// final.json with the report written, the study ending with
// ErrFinalDiverged and a hint, and the final model it was to replace
// removed; a rerun says so again without retraining; with final.json
// moved away it retrains. The final model is then kept only while it is
// the one final.json describes: its SHA-256, or (a final.json without
// one) its configuration, a recipe recorded as "" being the reference's.
func TestFinalDiverged(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec()
	spec.LRs, spec.Acts = []float64{0.003}, []string{"relu"}
	data := synthetic(200, 40)
	if err := newRunner(t, spec, dir, data, true).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	fin, err := LoadFinalModel(dir, spec)
	if err != nil || fin.Diverged || len(fin.ModelSHA256) != 64 {
		t.Fatalf("the final model: %+v, %v", fin, err)
	}
	// Its record damaged: retrained, on an engine whose loss turns NaN.
	fin.ModelSHA256 = strings.Repeat("0", 64)
	if err := writeFinal(dir, *fin); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, spec, dir, data, true)
	bad := nanLoss{cpu.New(1)}
	defer bad.Close()
	r.FinalEngine = bad
	err = r.Run(context.Background())
	if !errors.Is(err, ErrFinalDiverged) || !strings.Contains(err.Error(), "lr 0.003") || !strings.Contains(err.Error(), "--final=false") {
		t.Fatalf("a diverging final retraining: %v; want ErrFinalDiverged naming the setting, with a hint", err)
	}
	fin, ferr := LoadFinal(dir)
	if ferr != nil || !fin.Diverged || fin.DivergedEpoch != 1 || !strings.HasPrefix(fin.Why, "the training loss became NaN") {
		t.Errorf("final.json after the divergence: %+v, %v", fin, ferr)
	}
	rep, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if !strings.Contains(string(rep), "it **diverged** in epoch 1") {
		t.Errorf("the report does not say the final retraining diverged:\n%s", rep)
	}
	for _, f := range []string{FinalModel, FinalPartial} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s left after the divergence", f)
		}
	}

	if log, err := runLogged(t, spec, dir, data, true); !errors.Is(err, ErrFinalDiverged) || strings.Contains(log, "retraining") {
		t.Errorf("rerun after the divergence: %v, log:\n%s\nwant ErrFinalDiverged again without retraining", err, log)
	}

	os.Remove(filepath.Join(dir, FinalFile))
	if err := newRunner(t, spec, dir, data, true).Run(context.Background()); err != nil {
		t.Fatalf("final.json moved away: %v", err)
	}
	fin, err = LoadFinalModel(dir, spec)
	if err != nil || fin.Diverged || len(fin.ModelSHA256) != 64 {
		t.Fatalf("the retrained final model: %+v, %v", fin, err)
	}
	// A study made before recipes (Recipe "") continued by today's
	// command line (Recipe "reference") keeps it.
	ref := *spec
	ref.Recipe = engine.ReferenceRecipe.Name
	if _, err := LoadFinalModel(dir, &ref); err != nil {
		t.Errorf("recipe \"\" read as the reference's: %v", err)
	}

	// Another checkpoint in the final model's place: refused by its
	// SHA-256, and without one recorded, by its configuration.
	model := filepath.Join(dir, FinalModel)
	ck, err := engine.LoadCheckpoint(model)
	if err != nil {
		t.Fatal(err)
	}
	ck.Config.BatchSize = 64
	if err := ck.Save(model); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFinalModel(dir, spec); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("another model in final.safetensors' place: %v; want its SHA-256 refused", err)
	}
	fin.ModelSHA256 = ""
	if err := writeFinal(dir, *fin); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFinalModel(dir, spec); err == nil || !strings.Contains(err.Error(), "(BatchSize 64 in it, 32 in the study)") {
		t.Errorf("another model, no SHA-256 recorded: %v; want its configuration refused", err)
	}
	if log, err := runLogged(t, spec, dir, data, true); err != nil || !strings.Contains(log, "training it again") {
		t.Errorf("rerun with another model in place: %v, log:\n%s\nwant it retrained", err, log)
	}
	if _, err := LoadFinalModel(dir, spec); err != nil {
		t.Errorf("after the retraining: %v", err)
	}
}

// TestLostDefinitionRefused: a folder whose runs folder holds run files
// but whose study.json is gone is refused, by Prepare and CheckFolder
// alike (the dry run counts as the run would), naming the file to
// restore; an empty runs folder (a process stopped before it wrote
// study.json) is taken.
func TestLostDefinitionRefused(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec()
	spec.LRs, spec.Acts, spec.Epochs = []float64{0.003}, []string{"relu"}, 1
	if err := newRunner(t, spec, dir, synthetic(100, 20), false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, SpecFile))
	var be *BlockedError
	for what, err := range map[string]error{"Prepare": Prepare(dir, tinySpec()), "CheckFolder": func() error { _, err := CheckFolder(dir, tinySpec()); return err }()} {
		if !errors.As(err, &be) || !strings.Contains(err.Error(), "1 run file in runs but no study definition") || !strings.Contains(err.Error(), filepath.Join(dir, SpecFile)) {
			t.Errorf("%s on a folder of runs without study.json: %v; want it refused naming study.json", what, err)
		}
	}
	empty := t.TempDir()
	if err := os.Mkdir(filepath.Join(empty, RunsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Prepare(empty, tinySpec()); err != nil {
		t.Errorf("an empty runs folder without study.json: %v", err)
	}
	// A study claimed there fails after a run was recorded: Claim's
	// cleanup keeps the study.json it wrote, or the folder would be
	// refused from then on.
	os.Remove(filepath.Join(empty, SpecFile))
	release, err := Claim(empty, tinySpec())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(RunPath(empty, tinySpec().Configs()[0], 0, 0), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	release(true)
	if _, err := LoadSpec(empty); err != nil {
		t.Errorf("a failed study with a run file, in a runs folder it found: %v; want its study.json kept", err)
	}
}

// TestDamagedRunSaid: a run file that holds no finished run is trained
// again with a note naming it: empty, or cut short (its closing line
// gone).
func TestDamagedRunSaid(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec()
	spec.LRs, spec.Acts = []float64{0.003}, []string{"relu"}
	data := synthetic(100, 20)
	if err := newRunner(t, spec, dir, data, false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := RunPath(dir, spec.Configs()[0], 0, 0)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(whole, []byte("\n"))
	for _, c := range []struct {
		content []byte
		want    string
	}{
		{nil, path + " holds no run (empty or damaged): training lr 0.003, batch 32, relu again"},
		{[]byte{0, 0, 0}, path + " holds no run (empty or damaged)"},
		{bytes.Join(lines[:2], nil), path + ": a run cut short after 1 epoch of 2: training it again from its start"},
	} {
		if err := os.WriteFile(path, c.content, 0o644); err != nil {
			t.Fatal(err)
		}
		if log, err := runLogged(t, spec, dir, data, false); err != nil || !strings.Contains(log, c.want) {
			t.Errorf("run file %q: %v, log:\n%s\nwant %q", c.content, err, log, c.want)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(withoutSeconds(got), withoutSeconds(whole)) {
			t.Errorf("run file %q: retrained to\n%s\nwant\n%s", c.content, got, whole)
		}
	}
}

// withoutSeconds drops a run file's time fields, the one thing two runs
// of the same configuration differ in.
func withoutSeconds(b []byte) []byte {
	return regexp.MustCompile(`"(seconds|images_per_sec|val_seconds)":[0-9.e+-]+`).ReplaceAll(b, nil)
}

// TestTrainLimitAboveTheImagesSaid: a --train-limit above the images a run
// has is said, as train says it, and the runs train on all of them, which
// the report says (it called them a sample); one below them is a sample.
func TestTrainLimitAboveTheImagesSaid(t *testing.T) {
	for limit, want := range map[int]string{
		1000: "each run trained on 70 images an epoch (`--train-limit 1000`: more than there are, so all the images left after validation)",
		50:   "each run trained on 50 images an epoch (`--train-limit 50`: a stratified sample of the images left after validation)",
	} {
		spec := tinySpec()
		spec.LRs, spec.Acts, spec.Epochs, spec.TrainLimit = []float64{0.003}, []string{"relu"}, 1, limit
		dir := t.TempDir()
		log, err := runLogged(t, spec, dir, synthetic(100, 20), false)
		if said := strings.Contains(log, "note: --train-limit 1000 is more than the 70 training images each run has"); err != nil || said != (limit == 1000) {
			t.Errorf("--train-limit %d over 70 images: %v, log:\n%s", limit, err, log)
		}
		if report, _ := os.ReadFile(filepath.Join(dir, ReportFile)); !strings.Contains(string(report), want) {
			t.Errorf("--train-limit %d over 70 images: no %q in the report:\n%s", limit, want, report)
		}
	}
}

// TestFinalModelWeightsOnly: the final model of a study whose schedule
// ends (cosine) holds the weights alone, as train's last checkpoint does
// (a third of the bytes with Adam), and is kept by a rerun; under a
// constant rate, which a resume may extend, it keeps the optimizer's
// state.
func TestFinalModelWeightsOnly(t *testing.T) {
	data := synthetic(400, 100)
	for _, sched := range []string{"cosine", "constant"} {
		dir := t.TempDir()
		spec := tinySpec()
		spec.LRs, spec.Acts, spec.Schedule = []float64{0.001}, []string{"relu"}, sched
		if err := newRunner(t, spec, dir, data, true).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		ck, err := engine.LoadCheckpoint(filepath.Join(dir, FinalModel))
		if err != nil {
			t.Fatal(err)
		}
		if (ck.S1 == nil) != (sched == "cosine") {
			t.Errorf("%s schedule: the final model holds the optimizer's state: %v; want %v", sched, ck.S1 != nil, sched != "cosine")
		}
		var log bytes.Buffer
		r := newRunner(t, spec, dir, data, true)
		r.Log = &log
		if err := r.Run(context.Background()); err != nil || strings.Contains(log.String(), "final epoch") {
			t.Errorf("%s schedule, rerun: %v; the final model retrained: %v\n%s", sched, err, strings.Contains(log.String(), "final epoch"), log.String())
		}
	}
}

// TestNewerStudyVersionRefused: a study.json of a version this cnngpu does
// not know (a newer cnngpu's) is refused, naming the version.
func TestNewerStudyVersionRefused(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec()
	if err := Prepare(dir, spec); err != nil {
		t.Fatal(err)
	}
	later := *spec
	later.Version = SpecVersion + 6 // as a later cnngpu writes it (Save writes this one's)
	b, _ := json.MarshalIndent(later, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSpec(dir); err == nil || !strings.Contains(err.Error(), "a study of version "+strconv.Itoa(SpecVersion+6)) {
		t.Errorf("a study of a later version: %v; want it refused, naming the version", err)
	}
}

// TestRedrawDropsStaleFigures: redrawn after its runs are gone, a study
// lists no figure drawn from them, and none is left in plots/ to be taken
// for a current one (the curves were kept, and the report linked them).
func TestRedrawDropsStaleFigures(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec()
	spec.Epochs = 1
	if err := newRunner(t, spec, dir, synthetic(400, 100), false).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lr_bs32.png", "activations.png"} {
		if _, err := os.Stat(filepath.Join(dir, PlotsDir, name)); err != nil {
			t.Fatalf("the study drew no %s: %v", name, err)
		}
	}
	mine := filepath.Join(dir, PlotsDir, "notes.txt") // the user's, kept
	os.WriteFile(mine, []byte("mine"), 0o644)
	if err := os.RemoveAll(filepath.Join(dir, RunsDir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, ResultsFile))
	if err := Render(dir, ""); err != nil {
		t.Fatal(err)
	}
	rep, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("a file of the user's in plots/ was removed: %v", err)
	}
	for _, name := range []string{"lr_bs32.png", "activations.png"} {
		if _, err := os.Stat(filepath.Join(dir, PlotsDir, name)); err == nil || strings.Contains(string(rep), name) {
			t.Errorf("redrawn without runs: %s kept (%v) or linked in the report:\n%s", name, err, rep)
		}
	}
}

// TestLabelSmoothingStudy: a study with label smoothing trains its runs
// and its final model with it (other validation losses than one-hot
// targets give, the same seed and data otherwise), names it in its
// recipe, records it in the final model's checkpoint, and is another
// study than one without it; a study without it keeps the recipe label
// (and so the run key) of studies made before it.
func TestLabelSmoothingStudy(t *testing.T) {
	data := synthetic(300, 50)
	spec := func(ls float64) *Spec {
		s := tinySpec()
		s.LRs, s.Acts, s.Epochs = []float64{0.003}, []string{"relu"}, 1
		s.Recipe, s.Schedule, s.Augmentation.Shift, s.LabelSmoothing = "default", "cosine", 2, ls
		return s
	}
	if got := spec(0).RecipeLabel(); got != "default (cosine schedule, augment shift:2)" {
		t.Errorf("without label smoothing the recipe label is %q", got)
	}
	if got := spec(0.1).RecipeLabel(); got != "default (cosine schedule, augment shift:2, label smoothing 0.1)" {
		t.Errorf("with label smoothing 0.1 the recipe label is %q", got)
	}
	if err := spec(0.7).Validate(); err == nil || !strings.Contains(err.Error(), "label smoothing 0.7: expected 0") {
		t.Errorf("label smoothing 0.7: %v", err)
	}
	plain, plainDir := studyValLoss(t, spec(0), data)
	smoothed, dir := studyValLoss(t, spec(0.1), data)
	if plain == smoothed {
		t.Errorf("label smoothing 0.1 gave the validation loss of one-hot targets, %v", plain)
	}
	if finalsEqual(t, plainDir, dir) {
		t.Error("the final model trained with label smoothing equals the one without")
	}
	if back, err := LoadSpec(dir); err != nil || back.Version != 2 {
		t.Errorf("study.json with label smoothing: %+v, %v; want version 2 (which builds before it refuse)", back, err)
	}
	ck, err := engine.LoadCheckpoint(filepath.Join(dir, FinalModel))
	if err != nil || ck.Config.LabelSmoothing != 0.1 {
		t.Errorf("the final model's label smoothing: %+v, %v", ck.Config, err)
	}
	if err := Prepare(dir, spec(0)); err == nil || !strings.Contains(err.Error(), "label smoothing 0.1") ||
		!strings.Contains(err.Error(), "its recipe: --recipe default --schedule cosine --augment shift:2 --label-smoothing 0.1)") {
		t.Errorf("the study without label smoothing in its folder: %v; want it refused naming the folder's recipe as flags", err)
	}
	// The folder of the default recipe before 2026-12-05 (spec(0)): said so.
	if err := Prepare(plainDir, spec(0.1)); err == nil || !strings.Contains(err.Error(), "its recipe: --recipe default --schedule cosine --augment shift:2 --label-smoothing 0; the default recipe changed on 2026-12-05)") {
		t.Errorf("the study of the default before 2026-12-05 in its folder: %v; want its flags and the change named", err)
	}
	// A folder made before recipes: said so.
	before, pre := t.TempDir(), spec(0)
	pre.Recipe, pre.Schedule, pre.Augmentation = "", "", engine.Augmentation{}
	if err := Prepare(before, pre); err != nil {
		t.Fatal(err)
	}
	c := pre.Configs()[0]
	run := &Run{Config: c, Done: true, Seconds: 1, Epochs: []engine.EpochMetrics{{Epoch: 1, TrainLoss: 1, TrainAcc: 0.5, ValLoss: 1, ValAcc: 0.5}}}
	if err := run.Save(RunPath(before, c, 0, pre.Folds)); err != nil {
		t.Fatal(err)
	}
	if err := Prepare(before, spec(0.1)); err == nil || !strings.Contains(err.Error(), "(its recipe: --recipe reference") ||
		!strings.Contains(err.Error(), "; an earlier cnngpu made the folder before it had recipes, and trained what --recipe reference trains now)") {
		t.Errorf("a study made before recipes in its folder: %v; want its flags and that named", err)
	}
	// What differs is not the recipe: no recipe named.
	other := spec(0.1)
	other.Seed++
	if err := Prepare(dir, other); err == nil || !strings.Contains(err.Error(), "seed") || strings.Contains(err.Error(), "its recipe") {
		t.Errorf("another seed in the folder: %v; want it refused naming the seed alone", err)
	}
}

// studyValLoss runs the one-configuration study spec, with its final
// model, in a new folder, and returns its run's validation loss and the
// folder.
func studyValLoss(t *testing.T, spec *Spec, data *loader.MNIST) (float64, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := runLogged(t, spec, dir, data, true); err != nil {
		t.Fatal(err)
	}
	r, err := LoadRunOf(dir, spec, spec.Configs()[0], 0)
	if err != nil || r == nil || !r.Done {
		t.Fatalf("%s: run %+v, %v", spec.RecipeLabel(), r, err)
	}
	return r.Epochs[0].ValLoss, dir
}

// finalsEqual tells whether the final models of studies a and b hold the
// same weights (their checkpoints' configs may say otherwise: this is
// what they trained).
func finalsEqual(t *testing.T, a, b string) bool {
	t.Helper()
	ca, err := engine.LoadCheckpoint(filepath.Join(a, FinalModel))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := engine.LoadCheckpoint(filepath.Join(b, FinalModel))
	if err != nil {
		t.Fatal(err)
	}
	return slices.Equal(ca.Params, cb.Params)
}

// TestWarpStudy: a study with --augment's rotation and scale names them
// in its recipe (so a study without them is another), records them in
// study.json, trains its runs and final model with them, and refuses
// bounds no engine takes.
func TestWarpStudy(t *testing.T) {
	data := synthetic(300, 50)
	spec := func(a engine.Augmentation) *Spec {
		s := tinySpec()
		s.LRs, s.Acts, s.Epochs = []float64{0.003}, []string{"relu"}, 1
		s.Recipe, s.Schedule = "default", "cosine"
		s.Augmentation = a
		return s
	}
	warp := engine.Augmentation{Shift: 2, Rotate: 10, Scale: 0.1}
	if got := spec(warp).RecipeLabel(); got != "default (cosine schedule, augment shift:2,rotate:10,scale:0.1)" {
		t.Errorf("with a warp the recipe label is %q", got)
	}
	if err := spec(engine.Augmentation{Shift: 2, Rotate: 60}).Validate(); err == nil || !strings.Contains(err.Error(), "rotation 60") {
		t.Errorf("rotation 60: %v", err)
	}
	plain, plainDir := studyValLoss(t, spec(engine.Augmentation{Shift: 2}), data)
	warped, dir := studyValLoss(t, spec(warp), data)
	if plain == warped {
		t.Errorf("the warp gave the validation loss of the translation alone, %v", plain)
	}
	if finalsEqual(t, plainDir, dir) {
		t.Error("the final model trained with the warp equals the one without")
	}
	if back, err := LoadSpec(dir); err != nil || back.Augmentation != warp || back.Version != 2 {
		t.Errorf("study.json's augmentation: %+v, %v; want the warp, in version 2 (which builds before it refuse)", back, err)
	}
	if back, err := LoadSpec(plainDir); err != nil || back.Version != 1 {
		t.Errorf("study.json without a warp or label smoothing: %+v, %v; want version 1 (which every build reads)", back, err)
	}
	ck, err := engine.LoadCheckpoint(filepath.Join(dir, FinalModel))
	if err != nil || ck.Config.Augmentation != warp {
		t.Errorf("the final model's augmentation: %+v, %v", ck.Config, err)
	}

	if err := Prepare(dir, spec(engine.Augmentation{Shift: 2})); err == nil || !strings.Contains(err.Error(), "rotate:10") {
		t.Errorf("the study without the warp in its folder: %v", err)
	}
	// The report says its train acc is over the augmented images.
	if b, err := os.ReadFile(filepath.Join(dir, ReportFile)); err != nil || !bytes.Contains(b, []byte("Train acc is the last epoch's, over the training images as they were trained: augmented (shift:2,rotate:10,scale:0.1).")) {
		t.Errorf("the report does not say its train acc is over the augmented images: %v\n%s", err, b)
	}
}

// TestFinalValuesChecked: a final.json holding a value cnngpu never writes
// (an accuracy above 1, a negative loss or time) is refused as damaged,
// naming the value, rather than reported (a test accuracy of 170%).
func TestFinalValuesChecked(t *testing.T) {
	good := FinalResult{Config: Config{LR: 0.001, BatchSize: 64, Act: "relu"}, Images: 60000, TestAcc: 0.9931, TestLoss: 0.02, Seconds: 200}
	for _, c := range []struct {
		edit func(*FinalResult)
		want string
	}{
		{func(f *FinalResult) {}, ""},
		{func(f *FinalResult) { f.TestAcc = 1.7 }, "test_acc 1.7 is not an accuracy from 0 to 1"},
		{func(f *FinalResult) { f.TestAcc = -0.1 }, "test_acc -0.1 is not an accuracy"},
		{func(f *FinalResult) { f.TestLoss = -1 }, "test_loss -1 is not a loss"},
		{func(f *FinalResult) { f.Seconds = -5 }, "seconds -5 is not a time"},
		{func(f *FinalResult) { f.Images = -1 }, "train_images -1"},
		{func(f *FinalResult) { *f = FinalResult{} }, "is not a setting of the study"}, // {}
		{func(f *FinalResult) { f.Config.BatchSize = 0 }, "is not a setting of the study"},
		{func(f *FinalResult) { f.Images = 0 }, "train_images is 0 or missing"},
	} {
		dir := t.TempDir()
		f := good
		c.edit(&f)
		if err := writeFinal(dir, f); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFinal(dir)
		if c.want == "" {
			if err != nil {
				t.Errorf("a final.json cnngpu writes: %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "the file is damaged") {
			t.Errorf("final.json with %s: %v; want it refused as damaged", c.want, err)
		}
	}
}

// TestSizeList: batch sizes in order, a long list cut in its middle with
// how many are left out.
func TestSizeList(t *testing.T) {
	if got := sizeList([]int{64, 128}); got != "64, 128" {
		t.Errorf("sizeList of two: %q", got)
	}
	var many []int
	for b := 1; b <= 40; b++ {
		many = append(many, b)
	}
	if got, want := sizeList(many), "1, 2, 3, 4, 5, 6, 7, 8, … (24 more) …, 33, 34, 35, 36, 37, 38, 39, 40"; got != want {
		t.Errorf("sizeList of 40: %q, want %q", got, want)
	}
}

// TestSeedsArgs: the report's command over seeds names every part of
// the study that the final retraining trains with (the optimizer and its
// momentum, the architecture, the recipe, the subset, the arithmetic, the
// CPU engine where it retrained there), and ten seeds from the study's
// own, which fit in a uint64.
func TestSeedsArgs(t *testing.T) {
	spec := &Spec{Epochs: 3, Optimizer: "sgd", Momentum: 0.9, Seed: 7, Arch: "original", Recipe: "reference", TrainLimit: 500, Precision: "tf32"}
	c := Config{LR: 0.03, BatchSize: 256, Act: "tanh"}
	want := "train --seeds 7-16 --lr 0.03 --batch-size 256 --activation tanh --epochs 3 --optimizer sgd --momentum 0.9 --arch original " +
		"--recipe reference --schedule constant --augment none --label-smoothing 0 --train-limit 500 --precision tf32"
	if got := spec.SeedsArgs(c, "cuda GPU 0 (NVIDIA H100 80GB HBM3, sm_90, tf32, own kernels, 2 streams)"); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	spec = &Spec{Epochs: 10, Optimizer: "adam", Seed: math.MaxUint64, Arch: "reference", Recipe: "default", Schedule: "cosine",
		Augmentation: engine.Augmentation{Shift: 2}, LabelSmoothing: 0.1, Precision: "fp32"}
	want = "train --cpu --seeds 18446744073709551606-18446744073709551615 --lr 0.03 --batch-size 256 --activation tanh --epochs 10 --optimizer adam --arch reference " +
		"--recipe default --schedule cosine --augment shift:2 --label-smoothing 0.1"
	if got := spec.SeedsArgs(c, "cpu (2 threads, AVX-512 kernel)"); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestResumeThatTrainsNothingKeepsTheMachine: a study run again with all
// its runs and its final model done trains nothing, so its report keeps
// the machine that trained them (it named the engine of the command run
// again: a GPU's for runs the CPU trained); one that trains names its own.
func TestResumeThatTrainsNothingKeepsTheMachine(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec()
	spec.LRs, spec.Acts, spec.Epochs = spec.LRs[:1], spec.Acts[:1], 1
	data := synthetic(200, 40)
	if err := newRunner(t, spec, dir, data, true).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	again := newRunner(t, spec, dir, data, true)
	again.Machine = "another machine"
	if err := again.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil || !strings.Contains(string(report), "<!--machine-->test machine<!--/machine-->") {
		t.Errorf("the report after a rerun that trained nothing (%v): want the machine that trained it kept\n%s", err, report)
	}
	os.Remove(filepath.Join(dir, FinalFile))
	if err := again.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if report, _ := os.ReadFile(filepath.Join(dir, ReportFile)); !strings.Contains(string(report), "<!--machine-->another machine<!--/machine-->") {
		t.Errorf("the report after a rerun that retrained the final model: want its machine\n%s", report)
	}
}

// TestSameResultsWithNaN: a diverged epoch's NaN figures are the same
// results in two copies of a run file (merging the same shards again said
// they were other results).
func TestSameResultsWithNaN(t *testing.T) {
	nan := math.NaN()
	run := func(v float64) *Run {
		return &Run{Diverged: true, DivergedEpoch: 1, Epochs: []engine.EpochMetrics{{Epoch: 1, TrainLoss: nan, TrainAcc: 0.1, ValLoss: v, ValAcc: 0.1}}}
	}
	if !sameResults(run(nan), run(nan)) {
		t.Error("two copies of a diverged run: not the same results")
	}
	if sameResults(run(nan), run(0.5)) {
		t.Error("a NaN loss and 0.5: the same results")
	}
}

// TestFinalBlewUpSaid: a final retraining that blew up without turning
// NaN (chance accuracy, a huge loss) is said to have, with the rate to
// lower, as train says it of a run (it was reported as any result).
func TestFinalBlewUpSaid(t *testing.T) {
	spec := tinySpec()
	spec.LRs, spec.Acts, spec.Epochs = []float64{1000}, []string{"sigmoid"}, 2
	log, err := runLogged(t, spec, t.TempDir(), synthetic(200, 40), true)
	if err != nil {
		t.Skipf("the study at lr 1000 diverged as NaN here (%v): nothing blew up finitely", err)
	}
	if !strings.Contains(log, "the retraining blew up without turning NaN; its rate (lr 1000) is likely too high") {
		t.Errorf("a final model at lr 1000 with sigmoid: no note of its blowing up in\n%s", log)
	}
}

// TestFinalOfOtherImagesSaid: a final.json recording another number of
// training images than the study's retraining takes is retrained, saying
// why (it was retrained unsaid).
func TestFinalOfOtherImagesSaid(t *testing.T) {
	dir, data, spec := finishedStudy(t)
	p := filepath.Join(dir, FinalFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edited := regexp.MustCompile(`"train_images": [0-9]+`).ReplaceAll(b, []byte(`"train_images": 60000`))
	if bytes.Equal(edited, b) {
		t.Fatalf("no train_images in %s", b)
	}
	os.WriteFile(p, edited, 0o644)
	log, err := runLogged(t, spec, dir, data, true)
	if err != nil || !strings.Contains(log, FinalFile+" records 60000 training images, the study's retraining takes 400; training it again") {
		t.Errorf("a final.json of 60000 images: %v\n%s", err, log)
	}
}

// TestFinalTestedAgainOnAnotherTestSet: a study continued with another
// test set (the same training data) tests its final model again, without
// retraining it, and records the new result (final.json kept the old
// test set's accuracy, which the report showed).
func TestFinalTestedAgainOnAnotherTestSet(t *testing.T) {
	dir, data, spec := finishedStudy(t)
	before, err := LoadFinal(dir)
	if err != nil || before.TestData != data.Test.Fingerprint() {
		t.Fatalf("the final record: %+v, %v; want the test set's fingerprint", before, err)
	}
	other := synthetic(400, 60) // the same training images, another test set
	if other.Train.Fingerprint() != data.Train.Fingerprint() || other.Test.Fingerprint() == data.Test.Fingerprint() {
		t.Fatal("synthetic(400, 60) is not the same training set with another test set")
	}
	log, err := runLogged(t, spec, dir, other, true)
	after, lerr := LoadFinal(dir)
	if err != nil || lerr != nil || !strings.Contains(log, "tested on another test set") || strings.Contains(log, "retraining the best setting") ||
		after.TestData != other.Test.Fingerprint() || after.ModelSHA256 != before.ModelSHA256 {
		t.Errorf("a study continued on another test set: %v, %v, %+v\n%s", err, lerr, after, log)
	}
	log, err = runLogged(t, spec, dir, other, true)
	if err != nil || !strings.Contains(log, "already trained") {
		t.Errorf("run again on that test set: %v\n%s", err, log)
	}
}
