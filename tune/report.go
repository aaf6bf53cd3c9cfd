// report.go: report.md (grid, scheme, table sorted by validation accuracy,
// chosen setting, its test accuracy, the figures, machine and time) and
// Render, which redraws everything from the recorded files.

package tune

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shown"
)

// ReportFile is the study's report.
const ReportFile = "report.md"

// MachineInfo describes this machine: processor model and core count.
func MachineInfo() string {
	model := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s, %d cores", model, runtime.NumCPU())
}

// lostResults lists the configurations results.csv in dir records as
// finished that results (collected from the run files) lacks: rewriting
// the table and report would drop them. A table that is missing or cannot
// be read (or is over maxStudyFile: no study's) loses nothing. Each is
// labelled with what became of its run files: missing, or there but
// unfinished (cut short: one damaged elsewhere fails Collect first).
func lostResults(dir string, spec *Spec, results []Result) []string {
	b, err := fileutil.ReadFile(filepath.Join(dir, ResultsFile), maxStudyFile)
	if err != nil {
		return nil
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) < 1 || len(rows[0]) < 3 || rows[0][0] != "lr" || rows[0][1] != "batch_size" || rows[0][2] != "activation" {
		return nil
	}
	have := map[Config]bool{}
	for _, r := range results {
		have[r.Config] = true
	}
	var lost []string
	for _, row := range rows[1:] {
		lr, err1 := strconv.ParseFloat(row[0], 64)
		bs, err2 := strconv.Atoi(row[1])
		if c := (Config{LR: lr, BatchSize: bs, Act: row[2]}); err1 == nil && err2 == nil && !have[c] {
			what := "unfinished: cut short"
			for k := range spec.Rounds() {
				if st, err := os.Stat(RunPath(dir, c, k, spec.Folds)); err != nil {
					what = "missing"
				} else if st.Size() == 0 && what != "missing" {
					what = "its run file is empty"
				}
			}
			lost = append(lost, c.Label()+", "+what)
		}
	}
	return lost
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", 100*v)
}

// Render rewrites results.csv, the figures and report.md of the study in
// dir from its run files (and final.json when present). machine describes
// where it ran; "" keeps what the last report said.
func Render(dir, machine string) error {
	spec, err := LoadSpec(dir)
	if err != nil {
		return fmt.Errorf("%s is not a study folder: %w", dir, err)
	}
	// Outputs in the way are found before anything is rewritten.
	if err := blockedOutputs(dir, ResultsFile, ReportFile, PlotsDir); err != nil {
		return err
	}
	results, err := Collect(dir, spec)
	if err != nil {
		return err
	}
	if lost := lostResults(dir, spec, results); len(lost) > 0 {
		n := len(lost)
		if n > 3 {
			lost = append(lost[:3], fmt.Sprintf("and %d more", n-3))
		}
		return fmt.Errorf("%s lists %s whose run files are missing or unfinished in %s (%s): nothing redrawn, so that %s and %s, the only record of them left, are kept; "+
			"restore those run files, continue the study (the same tune command, --out %s) to train them again, or move %s away to redraw from the runs there are",
			filepath.Join(dir, ResultsFile), shown.Count(n, "finished configuration"), filepath.Join(dir, RunsDir), strings.Join(lost, "; "), ResultsFile, ReportFile, dir, ResultsFile)
	}
	if err := WriteResults(dir, spec.RecipeLabel(), results); err != nil {
		return err
	}
	best, found := Best(results)
	var chosen *Config
	if found {
		chosen = &best.Config
	}
	figs, err := drawPlots(dir, spec, results, chosen)
	if err != nil {
		return err
	}
	final, ferr := LoadFinal(dir)
	if ferr != nil && !errors.Is(ferr, os.ErrNotExist) {
		return ferr
	}
	// The model final.json describes, checked as a rerun checks it
	// before keeping it (missing, replaced or damaged: retrained).
	modelProblem := ""
	if final != nil && !final.Diverged {
		if _, err := LoadFinalModel(dir, spec); err != nil {
			modelProblem = err.Error()
		}
	}
	if machine == "" {
		machine = previousMachine(dir)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Hyperparameter study\n\n")
	fmt.Fprintf(&b, "- Grid: learning rates %s × batch sizes %s × activations %s (%s)\n",
		joinF(spec.LRs), joinI(spec.BatchSizes), strings.Join(spec.Acts, ", "), shown.Count(len(spec.Configs()), "configuration"))
	fmt.Fprintf(&b, "- Validation: %s of the training images", spec.Scheme())
	images := 0
	for _, r := range results {
		images = max(images, r.Images)
	}
	if images > 0 {
		fmt.Fprintf(&b, "; each run trained on %d images an epoch", images)
	}
	switch {
	case spec.TrainLimit > 0 && images > 0 && spec.TrainLimit > images: // (images: those trained, the limit at most)
		fmt.Fprintf(&b, " (`--train-limit %d`: more than there are, so all the images left after validation)", spec.TrainLimit)
	case spec.TrainLimit > 0:
		fmt.Fprintf(&b, " (`--train-limit %d`: a stratified sample of the images left after validation)", spec.TrainLimit)
	}
	precision := ""
	switch spec.Precision {
	case "fp32":
		precision = ", strict fp32 arithmetic"
	case "tf32":
		precision = ", tf32 arithmetic (tensor cores)"
	}
	fmt.Fprintf(&b, "\n- Training: %s, %s optimizer, %s architecture, seed %d (the same initial weights for every configuration), recipe %s%s\n",
		shown.Count(spec.Epochs, "epoch"), spec.Optimizer, spec.Arch, spec.Seed, spec.RecipeLabel(), precision)
	fmt.Fprintf(&b, "- Selection: highest final mean validation accuracy, ties to the lower validation loss; diverged runs are never chosen\n")
	total := 0.0
	for _, r := range results {
		total += r.Seconds
	}
	if machine != "" {
		fmt.Fprintf(&b, "- Machine: <!--machine-->%s<!--/machine-->\n", machine)
	}
	configs := "configurations"
	if len(results) == 1 {
		configs = "configuration"
	}
	fmt.Fprintf(&b, "- Time: %.1f s of training and validation over %d finished %s", total, len(results), configs)
	if final != nil && found && final.Config == best.Config {
		what := "the final model (its training, test and writing)"
		if final.Diverged {
			what = "the final retraining, which diverged"
		}
		fmt.Fprintf(&b, ", plus %.1f s for %s", final.Seconds, what)
	}
	b.WriteString("\n\n")

	if n := len(spec.Configs()) - len(results); n > 0 {
		fmt.Fprintf(&b, "**%d of %d configurations have not finished**; to complete them, run `cnngpu tune` with this study's settings and `--out` this folder (the command that started the study does; a merged study's folder is finished so too, or by `tune merge --final`).\n\n", n, len(spec.Configs()))
	}

	b.WriteString("## Result\n\n")
	if found {
		fmt.Fprintf(&b, "Chosen setting: **%s**, final validation accuracy %s", best.Config.Label(), pct(best.FinalValAcc))
		if spec.Folds > 0 {
			fmt.Fprintf(&b, " ± %s (sample standard deviation) over %d folds", pct(best.FinalValStd), spec.Folds)
		}
		b.WriteString(".\n\n")
		if final != nil && final.Config == best.Config && final.Diverged {
			fmt.Fprintf(&b, "Retrained on %d training images, it **diverged** in epoch %d (%s): there is no final model. Finish the study without one (`--final=false`), or move `%s` away and run `cnngpu tune` again to retry the retraining.\n\n",
				final.Images, final.DivergedEpoch, final.Why, FinalFile)
		} else if final != nil && final.Config == best.Config && modelProblem != "" {
			fmt.Fprintf(&b, "Retrained on %d training images, it tested at %s (test loss %.4f), but **its model is no longer there as tested**: %s. `cnngpu tune` with this grid and `--out` set to this folder retrains it.\n\n",
				final.Images, pct(final.TestAcc), final.TestLoss, modelProblem)
		} else if final != nil && final.Config == best.Config {
			fmt.Fprintf(&b, "Retrained on %d training images: **test accuracy %s**, test loss %.4f (%s, %.1f s). Model: `%s`.\n\n",
				final.Images, pct(final.TestAcc), final.TestLoss, final.Engine, final.Seconds, final.Model)
			fmt.Fprintf(&b, "That is one training, of seed %d. The setting's test accuracy over ten seeds (mean ± std, lowest and highest; seed %d's training is this one) is what this command prints (add the study's `--data DIR`, where it had one):\n\n    %s\n\n",
				spec.Seed, spec.Seed, "cnngpu "+spec.SeedsArgs(best.Config, final.Engine))
		} else {
			b.WriteString("The chosen setting has not been retrained and tested yet: `cnngpu tune` with this grid and `--out` set to this folder retrains it (without `--final=false`; the finished runs are kept), as does `cnngpu tune merge … --final` for a study merged from shards.\n\n")
		}
	} else {
		diverged := 0
		for _, r := range results {
			if r.Diverged {
				diverged++
			}
		}
		switch {
		case len(results) == 0:
			b.WriteString("No configuration has finished yet.\n\n")
		case diverged == len(results):
			fmt.Fprintf(&b, "Every finished configuration diverged (%d of %d).\n\n", diverged, len(results))
		default:
			b.WriteString("No finished configuration has a validation accuracy to rank it by.\n\n")
		}
	}

	b.WriteString("## All configurations, by validation accuracy\n\n")
	sorted := slices.Clone(results)
	slices.SortStableFunc(sorted, func(x, y Result) int {
		if Better(x, y) {
			return -1
		}
		if Better(y, x) {
			return 1
		}
		return 0
	})
	head := "| rank | lr | batch | activation | final val acc |"
	sep := "|---:|---:|---:|---|---:|"
	if spec.Folds > 0 {
		head += " ± std |"
		sep += "---:|"
	}
	head += " best val acc (epoch) | val loss | train acc | time |\n"
	sep += "---:|---:|---:|---:|\n"
	b.WriteString(head + sep)
	for i, r := range sorted {
		acc := pct(r.FinalValAcc)
		if r.Diverged {
			acc = fmt.Sprintf("diverged (epoch %d)", r.DivergedEpoch)
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %s | %s |", i+1, fmtLR(r.Config.LR), r.Config.BatchSize, r.Config.Act, acc)
		if spec.Folds > 0 {
			fmt.Fprintf(&b, " %s |", pct(r.FinalValStd))
		}
		bestCell := "–"
		if !math.IsNaN(r.BestValAcc) {
			bestCell = fmt.Sprintf("%s (%d)", pct(r.BestValAcc), r.BestEpoch)
		}
		vl := "–"
		if !math.IsNaN(r.FinalValLoss) {
			vl = fmt.Sprintf("%.4f", r.FinalValLoss)
		}
		fmt.Fprintf(&b, " %s | %s | %s | %.1f s |\n", bestCell, vl, pct(r.FinalTrainAcc), r.Seconds)
	}
	if a := engine.AugmentName(spec.Augmentation); a != "none" {
		// Below the validation accuracy where the augmented images are
		// harder than the plain ones validated.
		fmt.Fprintf(&b, "\nTrain acc is the last epoch's, over the training images as they were trained: augmented (%s).\n", a)
	}
	b.WriteString("\n## Figures\n\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "%s\n\n![%s](%s)\n\n", f.Caption, filepath.Base(f.File), filepath.ToSlash(f.File))
	}
	if len(spec.LRs) > maxFigureRows {
		fmt.Fprintf(&b, "The figures with a row per learning rate (`act_bs*.png`) are drawn for grids of up to %d learning rates; this one has %d.\n\n", maxFigureRows, len(spec.LRs))
	}
	b.WriteString("Raw data: `results.csv` (one row per configuration) and `runs/*.jsonl` (one line per epoch of every run). `cnngpu plot DIR` redraws the figures and this report from them.\n")
	return fileutil.WriteAtomic(filepath.Join(dir, ReportFile), []byte(b.String()), 0o644)
}

// previousMachine recovers the machine line of an existing report.
func previousMachine(dir string) string {
	b, err := fileutil.ReadFile(filepath.Join(dir, ReportFile), maxStudyFile)
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.Index(s, "<!--machine-->")
	j := strings.Index(s, "<!--/machine-->")
	if i < 0 || j < i {
		return ""
	}
	return s[i+len("<!--machine-->") : j]
}

func joinF(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmtLR(x)
	}
	return strings.Join(s, ", ")
}

func joinI(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
