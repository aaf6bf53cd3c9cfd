// record.go: what a study writes and reads back: one JSON-lines file per
// training run (a header, one line per epoch, a closing status line), and
// results.csv with one row per finished configuration.

package tune

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shown"
)

// Run is the record of one training run: a configuration on one fold (0
// for the hold-out).
type Run struct {
	Config        Config
	Fold          int
	Recipe        string // Spec.RecipeLabel of the study that ran it
	Study         string // Spec.RunKey of the study that ran it ("" in older files)
	Epochs        []engine.EpochMetrics
	Done          bool
	Diverged      bool
	DivergedEpoch int
	Seconds       float64
}

type runHeader struct {
	Config Config `json:"config"`
	Fold   int    `json:"fold"`
	Recipe string `json:"recipe,omitempty"`
	Study  string `json:"study,omitempty"`
}

type runStatus struct {
	Done          bool    `json:"done"`
	Diverged      bool    `json:"diverged"`
	DivergedEpoch int     `json:"diverged_epoch,omitempty"`
	Seconds       float64 `json:"seconds"`
}

// RunsDir is the folder of run files inside a study folder.
const RunsDir = "runs"

// RunPath is the file of a configuration's run on a fold.
func RunPath(dir string, c Config, fold, folds int) string {
	name := c.Key()
	if folds > 0 {
		name += fmt.Sprintf("_fold%d", fold)
	}
	return filepath.Join(dir, RunsDir, name+".jsonl")
}

// Save writes the run file atomically.
func (r *Run) Save(path string) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if err := enc.Encode(runHeader{r.Config, r.Fold, r.Recipe, r.Study}); err != nil {
		return err
	}
	for _, m := range r.Epochs {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	if r.Done {
		if err := enc.Encode(runStatus{Done: true, Diverged: r.Diverged, DivergedEpoch: r.DivergedEpoch, Seconds: r.Seconds}); err != nil {
			return err
		}
	}
	return fileutil.WriteAtomic(path, b.Bytes(), 0o644)
}

// LoadRun reads a run file; a missing file is (nil, nil). A last line cut
// off before its end (a copy or a write killed midway; cnngpu itself
// replaces run files whole) is ignored: the run then counts as unfinished.
func LoadRun(path string) (*Run, error) {
	b, err := fileutil.ReadFile(path, maxStudyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i < len(b)-1 && !json.Valid(b[i+1:]) {
		b = b[:i+1]
	}
	damaged := func(line int, err error) error {
		return fmt.Errorf("%s:%d: %v; the run file is damaged: restore it, or move it away (cnngpu tune on the study's folder then trains that run again)", path, line, err)
	}
	r := &Run{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	line, status := 0, 0
	for sc.Scan() {
		line++
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &probe); err != nil {
			return nil, damaged(line, err)
		}
		switch {
		case probe["config"] != nil:
			var h runHeader
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
				return nil, damaged(line, err)
			}
			r.Config, r.Fold, r.Recipe, r.Study = h.Config, h.Fold, h.Recipe, h.Study
		case probe["done"] != nil:
			var s runStatus
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				return nil, damaged(line, err)
			}
			if s.Seconds < 0 || s.DivergedEpoch < 0 {
				return nil, damaged(line, fmt.Errorf("seconds %g, diverged_epoch %d: expected neither below 0", s.Seconds, s.DivergedEpoch))
			}
			r.Done, r.Diverged, r.DivergedEpoch, r.Seconds = s.Done, s.Diverged, s.DivergedEpoch, s.Seconds
			status = line
		default:
			// One line an epoch (checkEpoch): no more than a run has,
			// so that a file of short lines cannot take many times its
			// size.
			if len(r.Epochs) == engine.MaxEpochs {
				return nil, damaged(line, fmt.Errorf("more than %d epoch lines, the most a run has", engine.MaxEpochs))
			}
			var m engine.EpochMetrics
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				return nil, damaged(line, err)
			}
			if err := checkEpoch(m, len(r.Epochs)+1); err != nil {
				return nil, damaged(line, err)
			}
			r.Epochs = append(r.Epochs, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, damaged(line+1, err)
	}
	// A run that diverged did so in an epoch it has a line for, or in the
	// one after its last (stopped before that epoch's end); one that did
	// not names none.
	switch n := len(r.Epochs); {
	case r.Diverged && (r.DivergedEpoch < 1 || r.DivergedEpoch > n+1):
		return nil, damaged(status, fmt.Errorf("diverged in epoch %d, of a run of %d epoch lines: expected 1 to %d", r.DivergedEpoch, n, n+1))
	case !r.Diverged && r.DivergedEpoch != 0:
		return nil, damaged(status, fmt.Errorf("diverged_epoch %d in a run that did not diverge", r.DivergedEpoch))
	}
	// A value is left out (NaN) only in the epoch a run diverged in, which
	// its status line names: elsewhere the run file was edited, and the
	// run would drop out of the ranking as if it had diverged.
	for i, m := range r.Epochs {
		if r.Done && r.Diverged && i+1 >= r.DivergedEpoch {
			break
		}
		for _, v := range []struct {
			name string
			v    float64
		}{{"train_loss", m.TrainLoss}, {"train_acc", m.TrainAcc}, {"val_loss", m.ValLoss}, {"val_acc", m.ValAcc}} {
			if math.IsNaN(v.v) {
				return nil, damaged(i+2, fmt.Errorf("epoch %d has no %s, which only the epoch a run diverged in lacks", m.Epoch, v.name))
			}
		}
	}
	return r, nil
}

// checkEpoch returns what is wrong with epoch line m, the want-th of its
// run file, as cnngpu never writes it: epochs numbered from 1 in order,
// accuracies from 0 to 1, losses, times and counts not below 0 (a value
// left out, NaN, is a diverged run's).
func checkEpoch(m engine.EpochMetrics, want int) error {
	if m.Epoch != want {
		return fmt.Errorf("epoch %d where epoch %d comes next", m.Epoch, want)
	}
	type value struct {
		name string
		v    float64
	}
	for _, v := range []value{{"train_acc", m.TrainAcc}, {"val_acc", m.ValAcc}} {
		if v.v < 0 || v.v > 1 {
			return fmt.Errorf("epoch %d's %s is %g: expected 0 to 1", m.Epoch, v.name, v.v)
		}
	}
	for _, v := range []value{{"train_loss", m.TrainLoss}, {"val_loss", m.ValLoss}, {"seconds", m.Seconds}, {"images_per_sec", m.ImagesPerSec}, {"val_seconds", m.ValSeconds}} {
		if v.v < 0 {
			return fmt.Errorf("epoch %d's %s is %g: expected 0 or more", m.Epoch, v.name, v.v)
		}
	}
	if m.Images < 0 {
		return fmt.Errorf("epoch %d's images is %d: expected 0 or more", m.Epoch, m.Images)
	}
	return nil
}

// LoadRunOf reads the run of c on fold k in the study folder dir and
// checks that a finished one is a run of spec: its header names c and k,
// and it has spec's epochs (fewer only when it diverged). A run file that
// is not (edited, copied from another study, or a study.json edited to
// other epochs) is an error rather than a result the study never trained.
func LoadRunOf(dir string, spec *Spec, c Config, k int) (*Run, error) {
	path := RunPath(dir, c, k, spec.Folds)
	r, err := LoadRun(path)
	if err != nil || r == nil || !r.Done {
		return r, err
	}
	var why string
	n := len(r.Epochs)
	switch {
	case r.Config != c || r.Fold != k:
		why = fmt.Sprintf("it holds a run of %s%s, not of %s%s", r.Config.Label(), foldLabel(spec, r.Fold), c.Label(), foldLabel(spec, k))
	case r.Study != "" && r.Study != spec.RunKey():
		why = fmt.Sprintf("it holds a run of another study (%s), not of this one (%s)", r.Study, spec.RunKey())
	case r.Recipe != "" && r.Recipe != spec.RecipeLabel():
		why = fmt.Sprintf("it holds a run of recipe %s, but the study trains recipe %s", r.Recipe, spec.RecipeLabel())
	case !r.Diverged && n != spec.Epochs || r.Diverged && n > spec.Epochs:
		why = fmt.Sprintf("it holds a finished run of %s, but the study (%s) trains %s", shown.Count(n, "epoch"), filepath.Join(dir, SpecFile), shown.Count(spec.Epochs, "epoch"))
	default:
		return r, nil
	}
	return nil, fmt.Errorf("%s: %s; cnngpu does not write such a file: it or %s was edited, or the file comes from another study; "+
		"restore it, or move it away to train that run again", path, why, SpecFile)
}

// Result summarises a configuration over its rounds (folds).
type Result struct {
	Config        Config
	Rounds        int
	FinalValAcc   float64 // mean over rounds of the last epoch's validation accuracy
	FinalValStd   float64 // standard deviation of that over rounds (0 for one round)
	FinalValLoss  float64
	FinalTrainAcc float64
	BestValAcc    float64 // best epoch of the mean validation accuracy curve
	BestEpoch     int
	Diverged      bool
	DivergedEpoch int
	Seconds       float64
	// Mean curves over rounds, one entry per epoch reached by every round.
	TrainAcc, ValAcc, TrainLoss, ValLoss []float64
	// Per-round final validation accuracies.
	RoundValAcc []float64
	// Images is the number of images a run of it trained on in its first
	// epoch (the most over its rounds): the training set less the
	// validation images, or --train-limit's share.
	Images int
}

// Summarise combines the runs of one configuration (all done).
func Summarise(c Config, runs []*Run) Result {
	res := Result{Config: c, Rounds: len(runs)}
	n := math.MaxInt
	for _, r := range runs {
		n = min(n, len(r.Epochs))
		if len(r.Epochs) > 0 {
			res.Images = max(res.Images, r.Epochs[0].Images)
		}
		res.Seconds += r.Seconds
		if r.Diverged {
			if !res.Diverged || r.DivergedEpoch < res.DivergedEpoch {
				res.DivergedEpoch = r.DivergedEpoch
			}
			res.Diverged = true
		}
	}
	if n == math.MaxInt {
		n = 0
	}
	mean := func(get func(engine.EpochMetrics) float64, e int) float64 {
		s := 0.0
		for _, r := range runs {
			s += get(r.Epochs[e])
		}
		return s / float64(len(runs))
	}
	for e := 0; e < n; e++ {
		res.TrainAcc = append(res.TrainAcc, mean(func(m engine.EpochMetrics) float64 { return m.TrainAcc }, e))
		res.ValAcc = append(res.ValAcc, mean(func(m engine.EpochMetrics) float64 { return m.ValAcc }, e))
		res.TrainLoss = append(res.TrainLoss, mean(func(m engine.EpochMetrics) float64 { return m.TrainLoss }, e))
		res.ValLoss = append(res.ValLoss, mean(func(m engine.EpochMetrics) float64 { return m.ValLoss }, e))
	}
	res.FinalValAcc, res.FinalValLoss, res.FinalTrainAcc, res.BestValAcc = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if n > 0 && !res.Diverged {
		res.FinalValAcc = res.ValAcc[n-1]
		res.FinalValLoss = res.ValLoss[n-1]
		res.FinalTrainAcc = res.TrainAcc[n-1]
		for _, r := range runs {
			res.RoundValAcc = append(res.RoundValAcc, r.Epochs[len(r.Epochs)-1].ValAcc)
		}
		if len(runs) > 1 {
			v := 0.0
			for _, a := range res.RoundValAcc {
				v += (a - res.FinalValAcc) * (a - res.FinalValAcc)
			}
			res.FinalValStd = math.Sqrt(v / float64(len(runs)-1))
		}
		for e, a := range res.ValAcc {
			if math.IsNaN(res.BestValAcc) || a > res.BestValAcc {
				res.BestValAcc, res.BestEpoch = a, e+1
			}
		}
	}
	return res
}

// Better reports whether a ranks above b: higher final mean validation
// accuracy, ties broken by lower validation loss; diverged runs rank last.
func Better(a, b Result) bool {
	if a.Diverged != b.Diverged {
		return !a.Diverged
	}
	if a.FinalValAcc != b.FinalValAcc {
		return a.FinalValAcc > b.FinalValAcc || math.IsNaN(b.FinalValAcc)
	}
	return a.FinalValLoss < b.FinalValLoss
}

// Collect reads every finished configuration of spec (all its rounds done)
// from dir, in grid order.
func Collect(dir string, spec *Spec) ([]Result, error) {
	var out []Result
	for _, c := range spec.Configs() {
		var runs []*Run
		for k := 0; k < spec.Rounds(); k++ {
			r, err := LoadRunOf(dir, spec, c, k)
			if err != nil {
				return nil, err
			}
			if r == nil || !r.Done {
				runs = nil
				break
			}
			runs = append(runs, r)
		}
		if runs != nil {
			out = append(out, Summarise(c, runs))
		}
	}
	return out, nil
}

// ResultsFile is the per-configuration table in a study folder.
const ResultsFile = "results.csv"

func fmtF(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 6, 64)
}

// WriteResults writes results.csv atomically.
// recipe (Spec.RecipeLabel) fills the first column of every row.
func WriteResults(dir, recipe string, results []Result) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"lr", "batch_size", "activation", "rounds", "final_val_acc", "final_val_acc_std", "best_val_acc", "best_epoch",
		"final_val_loss", "final_train_acc", "diverged", "diverged_epoch", "recipe", "seconds"})
	for _, r := range results {
		de := ""
		if r.Diverged {
			de = strconv.Itoa(r.DivergedEpoch)
		}
		// A run with no validation accuracy (diverged) has no spread of
		// it and no best epoch either: blank, as its accuracies are; nor
		// has a single round (a hold-out) a spread.
		std, best := fmtF(r.FinalValStd), ""
		if math.IsNaN(r.FinalValAcc) || r.Rounds < 2 {
			std = "" // none, or of one round: no spread to speak of
		}
		if r.BestEpoch > 0 {
			best = strconv.Itoa(r.BestEpoch)
		}
		w.Write([]string{strconv.FormatFloat(r.Config.LR, 'g', -1, 64), strconv.Itoa(r.Config.BatchSize), r.Config.Act,
			strconv.Itoa(r.Rounds), fmtF(r.FinalValAcc), std, fmtF(r.BestValAcc), best,
			fmtF(r.FinalValLoss), fmtF(r.FinalTrainAcc), strconv.FormatBool(r.Diverged), de, recipe, strconv.FormatFloat(r.Seconds, 'f', 1, 64)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return fileutil.WriteAtomic(filepath.Join(dir, ResultsFile), b.Bytes(), 0o644)
}
