// record_test.go: a run file whose last line was cut off (a copy or a
// write killed midway) still loads, without that line; a study.json or a
// finished run file edited into what cnngpu never writes is refused.

package tune

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"gonum.org/v1/plot/vg"
)

func TestCutOffLastLineIsIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	r := &Run{Config: Config{LR: 0.001, BatchSize: 32, Act: "relu"},
		Epochs: []engine.EpochMetrics{{Epoch: 1, TrainLoss: 0.5, TrainAcc: 0.8, ValLoss: 0.4, ValAcc: 0.85}, {Epoch: 2, TrainLoss: 0.3, TrainAcc: 0.9, ValLoss: 0.3, ValAcc: 0.9}},
		Done:   true}
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	// Cut inside the status line: the run is then unfinished, with both epochs.
	os.WriteFile(path, b[:len(b)-10], 0o644)
	got, err := LoadRun(path)
	if err != nil || got.Done || len(got.Epochs) != 2 {
		t.Fatalf("cut-off status line: %+v %v, want two epochs, unfinished", got, err)
	}
	// A damaged line that is not the last is still an error.
	os.WriteFile(path, append([]byte("{oops\n"), b...), 0o644)
	if _, err := LoadRun(path); err == nil || !strings.Contains(err.Error(), path+":1: ") || !strings.Contains(err.Error(), "move it away (cnngpu tune on the study's folder then trains that run again)") {
		t.Errorf("a damaged first line: %v; want it refused, naming the file and line, with what to do", err)
	}
}

// TestImpossibleEpochRefused: a run file's epoch line with a value cnngpu
// never writes (an accuracy outside 0 to 1, a negative loss or time,
// epochs out of order) is refused, naming the file, line and value,
// rather than ranked; a diverged epoch's left-out values are fine.
func TestImpossibleEpochRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	r := &Run{Config: Config{LR: 0.001, BatchSize: 32, Act: "relu"},
		Epochs: []engine.EpochMetrics{{Epoch: 1, TrainLoss: 0.5, TrainAcc: 0.8, ValLoss: 0.4, ValAcc: 0.85, Seconds: 2},
			{Epoch: 2, TrainLoss: math.NaN(), TrainAcc: math.NaN(), ValLoss: math.NaN(), ValAcc: math.NaN(), Seconds: 2}},
		Done: true, Diverged: true, DivergedEpoch: 2, Seconds: 4}
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	if got, err := LoadRun(path); err != nil || len(got.Epochs) != 2 {
		t.Fatalf("a diverged run: %+v %v", got, err)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"val_acc":0.85`, `"val_acc":7.5`, "val_acc is 7.5: expected 0 to 1"},
		{`"train_acc":0.8`, `"train_acc":-3`, "train_acc is -3: expected 0 to 1"},
		{`"val_loss":0.4`, `"val_loss":-0.4`, "val_loss is -0.4: expected 0 or more"},
		{`"epoch":1,`, `"epoch":5,`, "epoch 5 where epoch 1 comes next"},
		{`"epoch":2,`, `"epoch":1,`, "epoch 1 where epoch 2 comes next"},
		{`"seconds":2,`, `"seconds":-1e300,`, "seconds is -1e+300: expected 0 or more"},
		{`"seconds":4}`, `"seconds":-4}`, "seconds -4"},
		// A value left out before the epoch the run diverged in, or in a
		// run that did not diverge: that run would drop out of the
		// ranking as a diverged one (its rank went to the next; a study
		// of one configuration said that every one diverged).
		{`"val_acc":0.85`, `"val_acc":null`, ":2: epoch 1 has no val_acc"},
		{`"val_loss":0.4,`, ``, ":2: epoch 1 has no val_loss"},
		{`"train_loss":0.5,`, `"train_loss":null,`, ":2: epoch 1 has no train_loss"},
		{`"diverged":true,"diverged_epoch":2`, `"diverged":false`, ":3: epoch 2 has no train_loss"},
	} {
		b := bytes.Replace(good, []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(b, good) {
			t.Fatalf("%s not in the run file:\n%s", c.from, good)
		}
		os.WriteFile(path, b, 0o644)
		if _, err := LoadRun(path); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path+":") {
			t.Errorf("%s edited to %s: %v; want it refused with %q and the file's line", c.from, c.to, err, c.want)
		}
	}
}

// TestEditedStudyRefused: a study.json that cnngpu would not write (edited
// to no grid, to 0 epochs, to an impossible shard), or a finished run file
// that does not belong to the study (study.json edited to other epochs, a
// run of another configuration under this one's name, a finished run with
// no epoch), is an error naming the file for plot (Render), merge and a
// resumed study (Runner.Run), rather than a report of runs never trained
// so.
func TestEditedStudyRefused(t *testing.T) {
	spec := tinySpec()
	fresh := func() string {
		dir := filepath.Join(t.TempDir(), "study")
		fakeShard(t, spec, 0, 1, dir)
		if err := Render(dir, "test"); err != nil {
			t.Fatalf("an untouched study: %v", err)
		}
		return dir
	}
	edit := func(path string, f func(string) string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(f(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("%q not found in %s", old, s)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	run := func(dir string) string { return RunPath(dir, spec.Configs()[1], 0, 0) }
	cases := []struct {
		name   string
		damage func(dir string)
		want   []string
	}{
		{"null study", func(d string) { os.WriteFile(filepath.Join(d, SpecFile), []byte("null\n"), 0o644) }, []string{SpecFile, "empty grid", "edited or damaged"}},
		{"epochs 0", func(d string) { edit(filepath.Join(d, SpecFile), replace(`"epochs": 2`, `"epochs": 0`)) }, []string{SpecFile, "epochs 0", "edited or damaged"}},
		{"shard 5/2", func(d string) { edit(filepath.Join(d, SpecFile), replace(`"n": 1`, `"i": 5, "n": 2`)) }, []string{SpecFile, "shard 5/2"}},
		{"epochs 2 to 3", func(d string) { edit(filepath.Join(d, SpecFile), replace(`"epochs": 2`, `"epochs": 3`)) },
			[]string{"lr0.001_bs32_relu.jsonl", "finished run of 2 epochs", "trains 3 epochs", "move it away"}},
		{"another config's run", func(d string) { edit(run(d), replace(`"lr":0.003`, `"lr":0.03`)) },
			[]string{filepath.Base(run("")), "run of lr 0.03, batch 32, relu, not of lr 0.003, batch 32, relu"}},
		{"no epochs", func(d string) {
			edit(run(d), func(s string) string { l := strings.Split(s, "\n"); return l[0] + "\n" + l[3] + "\n" })
		}, []string{filepath.Base(run("")), "finished run of 0 epochs", "trains 2 epochs"}},
	}
	for _, c := range cases {
		dir := fresh()
		c.damage(dir)
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s: %s accepted", c.name, what)
				return
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %s: %q does not say %q", c.name, what, err, w)
				}
			}
		}
		check("Render", Render(dir, ""))
		_, err := Merge(filepath.Join(t.TempDir(), "merged"), []string{dir}, MergeOptions{})
		check("Merge", err)
		check("LoadSpec+Collect", func() error {
			s, err := LoadSpec(dir)
			if err != nil {
				return err
			}
			_, err = Collect(dir, s)
			return err
		}())
		// Resuming it with the settings study.json now holds: refused
		// before anything is trained.
		if s, err := LoadSpec(dir); err == nil {
			r := newRunner(t, s, dir, synthetic(200, 50), false)
			name := c.name
			r.OnRunStart = func(cfg Config, _ int) { t.Errorf("%s: the resumed study trained %s", name, cfg.Label()) }
			check("Runner.Run", r.Run(context.Background()))
		}
	}
}

// TestRenderKeepsRecordOfLostRuns: plot on a study whose run files are
// gone (runs/ deleted or moved, a run file removed) does not rewrite
// results.csv and report.md without them, the only record left; with the
// table moved away it redraws from the runs there are.
func TestRenderKeepsRecordOfLostRuns(t *testing.T) {
	spec := tinySpec()
	dir := filepath.Join(t.TempDir(), "study")
	fakeShard(t, spec, 0, 1, dir)
	if err := Render(dir, "test"); err != nil {
		t.Fatal(err)
	}
	table, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
	report, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	kept := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(filepath.Join(dir, ResultsFile)); !bytes.Equal(b, table) {
			t.Errorf("%s: results.csv rewritten", what)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, ReportFile)); !bytes.Equal(b, report) {
			t.Errorf("%s: report.md rewritten", what)
		}
	}
	runs := filepath.Join(dir, RunsDir)
	os.Rename(runs, runs+".away")
	err := Render(dir, "")
	if err == nil || !strings.Contains(err.Error(), "lists 4 finished configurations whose run files are missing or unfinished in "+runs) || !strings.Contains(err.Error(), "nothing redrawn") ||
		!strings.Contains(err.Error(), ", missing;") {
		t.Errorf("runs/ gone: %v; want it refused", err)
	}
	kept("runs/ gone")
	os.Rename(runs+".away", runs)
	c := spec.Configs()[1]
	ents, _ := os.ReadDir(runs)
	for _, e := range ents {
		if strings.Contains(e.Name(), c.Key()) {
			os.Rename(filepath.Join(runs, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	if err := Render(dir, ""); err == nil || !strings.Contains(err.Error(), "lists 1 finished configuration whose run files are missing") || !strings.Contains(err.Error(), c.Label()+", missing") {
		t.Errorf("a run file gone: %v; want it refused, naming %s", err, c.Label())
	}
	kept("a run file gone")
	// Back, but cut short: said to be unfinished, not missing.
	for _, e := range ents {
		if strings.Contains(e.Name(), c.Key()) {
			os.Rename(filepath.Join(dir, e.Name()), filepath.Join(runs, e.Name()))
			b, _ := os.ReadFile(filepath.Join(runs, e.Name()))
			os.WriteFile(filepath.Join(runs, e.Name()), b[:len(b)-20], 0o644)
		}
	}
	if err := Render(dir, ""); err == nil || !strings.Contains(err.Error(), c.Label()+", unfinished: cut short") || !strings.Contains(err.Error(), "continue the study") {
		t.Errorf("a run file cut short: %v; want it refused, saying %s's run is unfinished", err, c.Label())
	}
	kept("a run file cut short")
	// Emptied: said so (it was called cut short).
	for _, e := range ents {
		if strings.Contains(e.Name(), c.Key()) {
			os.WriteFile(filepath.Join(runs, e.Name()), nil, 0o644)
		}
	}
	if err := Render(dir, ""); err == nil || !strings.Contains(err.Error(), c.Label()+", its run file is empty") {
		t.Errorf("a run file emptied: %v; want it refused, saying %s's run file is empty", err, c.Label())
	}
	kept("a run file emptied")
	// An output in the way (a file where the plots go) is found before
	// anything is rewritten.
	os.Rename(filepath.Join(dir, PlotsDir), filepath.Join(dir, "plots.away"))
	os.WriteFile(filepath.Join(dir, PlotsDir), []byte("x"), 0o644)
	if err := Render(dir, ""); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("a file where the plots go: %v; want it refused first", err)
	}
	kept("a file where the plots go")
	os.Remove(filepath.Join(dir, PlotsDir))
	os.Rename(filepath.Join(dir, "plots.away"), filepath.Join(dir, PlotsDir))
	os.Rename(filepath.Join(dir, ResultsFile), filepath.Join(dir, "old-results.csv"))
	if err := Render(dir, ""); err != nil {
		t.Errorf("with results.csv moved away: %v", err)
	}
	if rows := readCSV(t, filepath.Join(dir, ResultsFile)); len(rows) != 4 {
		t.Errorf("redrawn from 3 configurations' runs: %d rows, want a header and 3", len(rows))
	}
}

// TestLostResultsBoundsTheTable: a results.csv larger than any study's
// (a sparse file of 300 MB) is not read whole to be compared with the
// runs (it was: 1.85 GB of memory for plot), and loses nothing: no study
// writes such a table.
func TestLostResultsBoundsTheTable(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("lr,batch_size,activation\n0.001,32,relu\n")
	f.Truncate(300 << 20)
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	lost := lostResults(dir, &Spec{Version: 1, LRs: []float64{0.001}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 1}, nil)
	runtime.ReadMemStats(&after)
	if lost != nil {
		t.Errorf("a 300 MB table: %v lost", lost)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 100<<20 {
		t.Errorf("a 300 MB table: %d MB allocated reading it", got>>20)
	}
}

// TestFigureRowsBounded: a grid of more learning rates than maxFigureRows
// draws no figure with a row per rate (300 rates made one of 1488x73483
// pixels, and plot took 1.7 GB); the others are drawn.
func TestFigureRowsBounded(t *testing.T) {
	spec := &Spec{Version: 1, BatchSizes: []int{64}, Acts: []string{"relu"}, Epochs: 2, Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.25, Shard: Shard{N: 1}}
	var results []Result
	for i := range maxFigureRows + 1 {
		lr := 0.001 * float64(i+1)
		spec.LRs = append(spec.LRs, lr)
		results = append(results, Result{Config: Config{LR: lr, BatchSize: 64, Act: "relu"}, Rounds: 1, FinalValAcc: 0.9, BestEpoch: 2,
			TrainAcc: []float64{0.8, 0.9}, ValAcc: []float64{0.8, 0.9}, TrainLoss: []float64{0.5, 0.3}, ValLoss: []float64{0.5, 0.3}, RoundValAcc: []float64{0.9}})
	}
	dir := t.TempDir()
	figs, err := drawPlots(dir, spec, results, &results[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, filepath.Base(f.File))
	}
	if slices.Contains(names, "act_bs64.png") || !slices.Contains(names, "lr_bs64.png") || !slices.Contains(names, "heatmap.png") {
		t.Errorf("%d learning rates: figures %v; want no act_bs64.png, and the others", len(spec.LRs), names)
	}
	if _, err := os.Stat(filepath.Join(dir, PlotsDir, "act_bs64.png")); err == nil {
		t.Error("act_bs64.png drawn")
	}
	// lr_bs64.png's legend of 17 rates fits: the figure grows to hold it
	// (it was cut off at the panels' height), so the strip's last rows are
	// white, not the middle of a name.
	f, err := os.Open(filepath.Join(dir, PlotsDir, "lr_bs64.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	for y := b.Max.Y - 12; y < b.Max.Y; y++ {
		for x := b.Max.X - int(legendWidth.Dots(dpi)); x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r&g&bl < 0xf000 {
				t.Fatalf("lr_bs64.png (%dx%d): the legend reaches its bottom edge at (%d, %d): cut off", b.Dx(), b.Dy(), x, y)
			}
		}
	}
}

// TestLegendBounded: a grid of 300 rates lists every kth in its
// legends, and its figures keep their height (4,096 rates drew one
// 134,815 pixels tall, in 2.5 GB).
func TestLegendBounded(t *testing.T) {
	spec := &Spec{Version: 1, BatchSizes: []int{64}, Acts: []string{"relu"}, Epochs: 2, Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.25, Shard: Shard{N: 1}}
	var results []Result
	for i := range 300 {
		lr := 0.0001 * float64(i+1)
		spec.LRs = append(spec.LRs, lr)
		results = append(results, Result{Config: Config{LR: lr, BatchSize: 64, Act: "relu"}, Rounds: 1, FinalValAcc: 0.9, BestEpoch: 2,
			TrainAcc: []float64{0.8, 0.9}, ValAcc: []float64{0.8, 0.9}, TrainLoss: []float64{0.5, 0.3}, ValLoss: []float64{0.5, 0.3}, RoundValAcc: []float64{0.9}})
	}
	dir := t.TempDir()
	if _, err := drawPlots(dir, spec, results, &results[0].Config); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lr_bs64.png", "curves_relu_bs64.png"} {
		f, err := os.Open(filepath.Join(dir, PlotsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Height > 800 {
			t.Errorf("%s of 300 rates is %dx%d: want its legend bounded, the figure at most 800 pixels tall", name, cfg.Width, cfg.Height)
		}
	}
}

// TestManySeriesColours: past Tableau's ten colours, each of a figure's
// series (learning rates, folds) still gets one of its own (they
// repeated: the 1st and 11th rates were drawn alike), and up to ten keep
// Tableau's.
func TestManySeriesColours(t *testing.T) {
	for _, n := range []int{3, 10, 11, 24, 300} {
		seen := map[color.RGBA]int{}
		for i := range n {
			r, g, b, a := colour(i, n).RGBA()
			c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
			if j, ok := seen[c]; ok && n <= 24 {
				t.Errorf("%d series: %d and %d drawn alike (%v)", n, j, i, c)
			}
			seen[c] = i
			if n <= len(series) && colour(i, n) != series[i] {
				t.Errorf("%d series: the %dth is %v, want Tableau's %v", n, i, colour(i, n), series[i])
			}
		}
	}
}

// TestHeatCells: the reference's grid keeps its 5 x 4.5 inch panels; up
// to 12 rates (and 40 batch sizes) the cells hold their values; beyond, they shrink to
// squares, and 4,096 rates stay within 40 inches.
func TestHeatCells(t *testing.T) {
	for _, c := range []struct {
		nc, nr   int
		folds    bool
		labelled bool
		w, h     vg.Length // the panel's, 0 for at most 40 inches
	}{
		{4, 3, false, true, 5 * vg.Inch, 4.5 * vg.Inch},
		{4, 3, true, true, 5.6 * vg.Inch, 4.5 * vg.Inch},
		{12, 3, false, true, 10.04 * vg.Inch, 4.5 * vg.Inch},
		{13, 3, false, false, 5 * vg.Inch, 4.5 * vg.Inch},
		{4096, 4096, false, false, 0, 0},
	} {
		got := newHeatCells(c.nc, c.nr, c.folds)
		near := func(a, b vg.Length) bool { return math.Abs(float64(a-b)) < 0.01 }
		bad := got.labelled != c.labelled || got.panelW > 40*vg.Inch || got.panelH > 40*vg.Inch ||
			(c.w > 0 && (!near(got.panelW, c.w) || !near(got.panelH, c.h)))
		if got.labelled && (got.cellW < 0.72*vg.Inch || got.cellH < 0.42*vg.Inch) {
			bad = true
		}
		if bad {
			t.Errorf("%d rates x %d batch sizes (folds %v): %+v, want labelled %v and a panel of %v x %v", c.nc, c.nr, c.folds, got, c.labelled, c.w, c.h)
		}
	}
}

// TestTooManyFoldsNamed: more folds than the training set has images is
// refused naming --folds (it said "50 folds: expected 2 to 40", exit 1),
// as a BlockedError (exit 2: the flags must change).
func TestTooManyFoldsNamed(t *testing.T) {
	spec := &Spec{Folds: 50}
	_, err := newSplits(spec, make([]uint8, 40))
	var be *BlockedError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "--folds: 50 folds: expected 2 to 40") {
		t.Errorf("50 folds of 40 images: %v", err)
	}
}

// TestLoadSpecRefusesEditedFields: a study.json whose optimizer,
// architecture, recipe, train limit, version, grid size or shard count no
// cnngpu writes is refused as edited (plot drew "rmsprop optimizer" and
// "resnet architecture" into a report; a grid or shard count of millions
// ran out of memory).
func TestLoadSpecRefusesEditedFields(t *testing.T) {
	// many is n distinct numbers, from on, step apart, as a JSON list.
	many := func(n int, from float64, step float64) string {
		var vs []string
		for i := range n {
			vs = append(vs, strconv.FormatFloat(from+float64(i)*step, 'g', -1, 64))
		}
		return "[" + strings.Join(vs, ",") + "]"
	}
	for field, value := range map[string]string{"optimizer": `"rmsprop"`, "arch": `"resnet"`, "recipe": `"bogus"`, "train_limit": `-5`, "version": `-1`,
		// A grid or a shard count no study has: it was built whole
		// (here 5,000 configurations; an edit of a few KB made
		// millions, gigabytes) or looped over, and the process died
		// out of memory.
		"lrs": many(5000, 0.001, 0.0001), "batch_sizes": many(5000, 1, 1), "shard": `{"i":0,"n":1099511627776,"split":"cost"}`} {
		dir := t.TempDir()
		spec := &Spec{LRs: []float64{0.001}, BatchSizes: []int{32}, Acts: []string{"relu"}, Epochs: 1, Optimizer: "adam", Arch: "reference", ValSplit: 0.1, Shard: Shard{N: 1}}
		if err := spec.Save(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadSpec(dir); err != nil {
			t.Fatalf("as saved: %v", err)
		}
		var m map[string]json.RawMessage
		b, _ := os.ReadFile(filepath.Join(dir, SpecFile))
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m[field] = json.RawMessage(value)
		b, _ = json.Marshal(m)
		os.WriteFile(filepath.Join(dir, SpecFile), b, 0o644)
		if _, err := LoadSpec(dir); err == nil || !strings.Contains(err.Error(), "edited or damaged") {
			t.Errorf("%s %s: %v; want it refused as edited", field, value, err)
		}
	}
}

// TestDivergedRowIsBlank: results.csv's row of a configuration whose runs
// diverged leaves every validation figure blank, its spread and best epoch
// too (they read 0.000000 and 0, a perfect agreement at no epoch), beside
// a finished one's; a single round's spread is blank too.
func TestDivergedRowIsBlank(t *testing.T) {
	ep := func(e int, acc float64) engine.EpochMetrics {
		return engine.EpochMetrics{Epoch: e, TrainLoss: 0.5, TrainAcc: acc, ValLoss: 0.4, ValAcc: acc, Seconds: 1}
	}
	nan := engine.EpochMetrics{Epoch: 2, TrainLoss: math.NaN(), TrainAcc: math.NaN(), ValLoss: math.NaN(), ValAcc: math.NaN(), Seconds: 1}
	good, bad, one := Config{LR: 0.001, BatchSize: 32, Act: "relu"}, Config{LR: 0.03, BatchSize: 32, Act: "relu"}, Config{LR: 0.003, BatchSize: 32, Act: "relu"}
	results := []Result{
		Summarise(good, []*Run{{Config: good, Epochs: []engine.EpochMetrics{ep(1, 0.8), ep(2, 0.9)}, Done: true, Seconds: 2},
			{Config: good, Epochs: []engine.EpochMetrics{ep(1, 0.8), ep(2, 0.7)}, Done: true, Seconds: 2}}),
		Summarise(bad, []*Run{{Config: bad, Epochs: []engine.EpochMetrics{ep(1, 0.3), nan}, Done: true, Diverged: true, DivergedEpoch: 2, Seconds: 2},
			{Config: bad, Epochs: []engine.EpochMetrics{ep(1, 0.3), nan}, Done: true, Diverged: true, DivergedEpoch: 2, Seconds: 2}}),
		Summarise(one, []*Run{{Config: one, Epochs: []engine.EpochMetrics{ep(1, 0.8), ep(2, 0.9)}, Done: true, Seconds: 2}}),
	}
	dir := t.TempDir()
	if err := WriteResults(dir, "default", results); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(dir, ResultsFile))
	want := [][]string{
		{"0.001", "32", "relu", "2", "0.800000", "0.141421", "0.800000", "1", "0.400000", "0.800000", "false", "", "default", "4.0"},
		{"0.03", "32", "relu", "2", "", "", "", "", "", "", "true", "2", "default", "4.0"},
		{"0.003", "32", "relu", "1", "0.900000", "", "0.900000", "2", "0.400000", "0.900000", "false", "", "default", "2.0"},
	}
	if len(rows) != 4 || !slices.Equal(rows[1], want[0]) || !slices.Equal(rows[2], want[1]) || !slices.Equal(rows[3], want[2]) {
		t.Errorf("results.csv:\n%q\nwant rows\n%q", rows, want)
	}
}
