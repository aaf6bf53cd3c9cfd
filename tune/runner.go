// runner.go: running a study: the runs of this shard not yet finished, one
// worker per engine, a run file rewritten after every epoch, results.csv
// after every finished run, divergence stopping a run early, and at the end
// plots, report and the final retraining of the best configuration.

package tune

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/loader"
)

// ErrInterrupted is returned when the context is cancelled; finished runs
// are kept and a rerun continues with the others.
var ErrInterrupted = errors.New("study interrupted")

// Runner runs a study.
type Runner struct {
	Spec *Spec
	Dir  string
	Data *loader.MNIST
	// Engines run the study's runs, one concurrent worker per engine.
	// Engines that share (engine.Shares: several on one GPU, or CPU
	// engines) use one upload of the training images.
	Engines []engine.Engine
	// Slots, when set, names each engine of Engines for the progress
	// (e.g. "GPU 0 #2"); by default "#1", "#2"… when there are several.
	Slots []string
	Final bool // retrain the best configuration and test it
	// FinalEngine, when set, runs the final retraining instead of
	// Engines[0] (a CPU engine with all the threads, where Engines split
	// them).
	FinalEngine engine.Engine
	Log         io.Writer
	// Machine describes the hardware for the report: the report keeps
	// its line where this process trains nothing (the engine that
	// trained the runs is not this one).
	Machine string
	trained atomic.Bool // a run or the final retraining, by this process
	// OnRunStart, when set, is called as each run starts (tests use it).
	OnRunStart func(c Config, fold int)
	// OnStatus, when set, is called with the study's progress as runs
	// start, report progress (about once a second) and finish; calls do
	// not overlap.
	OnStatus func(Status)
	// StallAfter and OnStall, when both are set, watch each training (a
	// run's, the final retraining's) as engine.Trainer's do: OnStall is
	// told the engine, what trains ("the run lr 0.001, batch 64, relu",
	// "the final retraining") and how long it has finished nothing.
	StallAfter time.Duration
	OnStall    func(e engine.Engine, what string, since time.Duration)
}

// watchStalls sets tr's stall watch (StallAfter) for what, trained on e.
func (r *Runner) watchStalls(tr *engine.Trainer, e engine.Engine, what string) {
	if r.StallAfter <= 0 || r.OnStall == nil {
		return
	}
	tr.StallAfter = r.StallAfter
	tr.OnStall = func(since time.Duration) { r.OnStall(e, what, since) }
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

// Prepare creates the folder, or checks that an existing one holds the
// same study.
func Prepare(dir string, spec *Spec) error {
	foreign := foreignOutputs(dir) // before the runs folder is made
	old, err := LoadSpec(dir)
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	case old == nil && foreign != nil:
		return foreign
	}
	if err := blockedOutputs(dir); err != nil {
		return err
	}
	if err := fileutil.MakeDirs(filepath.Join(dir, RunsDir), 0o755); err != nil {
		return err
	}
	if old != nil {
		return continues(dir, old, spec, "given now")
	}
	return spec.Save(dir)
}

// checkData records the training set's fingerprint in the study's
// definition on its first training, and refuses to continue a study that
// trained on other data (its results would mix the two). A study made
// before fingerprints were recorded adopts the data given, and says so
// where it holds runs that trained on data it cannot tell.
func (r *Runner) checkData() (adopted bool, err error) {
	fp := r.Data.Train.Fingerprint()
	if adopted, err = recordData(r.Dir, fp, "given now"); err != nil {
		return false, err
	}
	r.Spec.Data = fp
	return adopted, nil
}

// AdoptedData says that the study in dir, which records no training
// data, takes (or, in a dry run, "would take") its done finished runs as
// trained on data: the note tune prints.
func AdoptedData(dir, data string, done int, takes string) string {
	return fmt.Sprintf("%s does not record the data its runs trained on (an earlier cnngpu made it, or merged it from such folders): it %s its %s as trained on %s, and records that data; if they trained on other data, the study mixes the two, which only a new --out folder avoids",
		dir, takes, shown.Count(done, "finished run"), data)
}

// recordData records fp as the training data of the study in dir where
// it records none (adopted), and refuses other data where it records some
// (theirs says where fp comes from).
func recordData(dir, fp, theirs string) (adopted bool, err error) {
	old, err := LoadSpec(dir)
	if err != nil {
		return false, err
	}
	if err := otherData(dir, old, fp, theirs); err != nil || old.Data == fp {
		return false, err
	}
	old.Data = fp
	return true, old.Save(dir)
}

// CheckData is recordData's check alone, for a dry run: an
// *OtherStudyError where the study in dir records training data other
// than fp (theirs says where fp is from); nil where it records fp or
// none.
func CheckData(dir, fp, theirs string) error {
	old, err := LoadSpec(dir)
	if err != nil {
		return err
	}
	return otherData(dir, old, fp, theirs)
}

// otherData is the error for study old in dir, whose recorded training
// data is not fp (nil where it is, or none is recorded).
func otherData(dir string, old *Spec, fp, theirs string) error {
	if old.Data != "" && old.Data != fp {
		return &OtherStudyError{Dir: dir, Diff: fmt.Sprintf("training data %s in the folder, %s %s", old.Data, fp, theirs), Data: true}
	}
	return nil
}

// continues checks that spec can continue the study old that dir holds:
// the same settings, and the same shard of the same split (theirs says
// where spec's settings come from, in the differences: "given now").
func continues(dir string, old, spec *Spec, theirs string) error {
	if old.Shard.N <= 1 && spec.Shard.N <= 1 {
		// A list of the grid's values given in another order is the same
		// list: the study continues in the folder's order, and a study
		// refused for another list is not said to differ in this one.
		// (Not for a shard: which runs are its own follows the order.)
		if sameSet(old.LRs, spec.LRs) {
			spec.LRs = old.LRs
		}
		if sameSet(old.BatchSizes, spec.BatchSizes) {
			spec.BatchSizes = old.BatchSizes
		}
		if sameSet(old.Acts, spec.Acts) {
			spec.Acts = old.Acts
		}
	}
	if d := old.Diff(spec, "in the folder", theirs); d != "" {
		e := &OtherStudyError{Dir: dir, Diff: d, Unstarted: unstarted(dir)}
		if old.RecipeLabel() != spec.RecipeLabel() {
			e.Recipe, e.OldDefault, e.PreRecipe = old.RecipeFlags(), old.oldDefault(), old.Recipe == ""
		}
		return e
	}
	if old.Shard.N > 1 && old.Shard.Split != SplitCost {
		return &BlockedError{fmt.Errorf("%s holds shard %v of this study as an earlier cnngpu split it (in grid order); this version balances shards by cost, so it cannot continue that shard: "+
			"merge the old split's folders into one (%s, with --allow-missing where some runs are unfinished), then finish the study there with this command, --out that folder and no --shard; "+
			"or start a new split, each shard in a new --out folder (a merge takes the folders of one split)", dir, old.Shard, shell.Command("tune merge --out DIR FOLDER..."))}
	}
	switch {
	case old.Shard == spec.Shard:
		return nil
	case old.Shard.N <= 1:
		return &BlockedError{fmt.Errorf("%s holds the whole of this study, not a shard of it: give shard %v its own --out folder, or leave out --shard to continue the whole", dir, spec.Shard)}
	case spec.Shard.N <= 1:
		return &BlockedError{fmt.Errorf("%s holds shard %v of this study, not the whole of it: continue it with --shard %v, or merge the shards' folders into a new one with %s", dir, old.Shard, old.Shard, shell.Command("tune merge --out NEW_DIR SHARD_DIR..."))}
	}
	return &BlockedError{fmt.Errorf("%s holds shard %v of this study, not %v: give each shard its own --out folder", dir, old.Shard, spec.Shard)}
}

// sizeList writes sorted batch sizes, the first and last eight of a long
// list with how many between.
func sizeList(sizes []int) string {
	var parts []string
	for i, b := range sizes {
		if len(sizes) > 16 && i == 8 {
			parts = append(parts, fmt.Sprintf("… (%d more) …", len(sizes)-16))
		}
		if len(sizes) <= 16 || i < 8 || i >= len(sizes)-8 {
			parts = append(parts, strconv.Itoa(b))
		}
	}
	return strings.Join(parts, ", ")
}

// sameSet reports whether a and b hold the same values, in any order.
func sameSet[T cmp.Ordered](a, b []T) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// blockedOutputs refuses a study folder where something the study writes
// could not be written (a file where its plots folder goes, a folder where
// a file goes), before any training rather than after all of it.
// With names, only those outputs are checked (plot writes three).
func blockedOutputs(dir string, names ...string) error {
	elsewhere := "" // plot redraws this folder: it has no other
	if len(names) == 0 {
		names = []string{RunsDir, PlotsDir, ResultsFile, ReportFile, FinalFile, FinalModel, FinalPartial, SpecFile}
		elsewhere = ", or give another --out"
	}
	// The folders it writes in, where they are there: found unwritable
	// now, not after a run has trained (or a merge half written).
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		if err := fileutil.CanWrite(dir); err != nil {
			return &BlockedError{fmt.Errorf("%s is not writable (%v), and the study writes its files there: make it writable%s", dir, err, elsewhere)}
		}
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		st, err := os.Stat(p)
		if err != nil {
			continue // missing: made; a link to nothing is replaced
		}
		what := map[string]string{RunsDir: "run records", PlotsDir: "plots"}[n] // "" for a file
		switch {
		case what != "" && !st.IsDir():
			return &BlockedError{fmt.Errorf("%s is not a folder, and the study writes its %s there: move it away%s", p, what, elsewhere)}
		case what != "":
			if err := fileutil.CanWrite(p); err != nil {
				return &BlockedError{fmt.Errorf("%s is not writable (%v), and the study writes its %s there: make it writable%s", p, err, what, elsewhere)}
			}
			if n == PlotsDir {
				if err := readOnlyFigures(p); err != nil {
					return err
				}
			}
		case what == "" && !st.Mode().IsRegular():
			return &BlockedError{fmt.Errorf("%s is not a regular file, and the study writes that file: move it away%s", p, elsewhere)}
		case what == "" && fileutil.OthersInSticky(p, st):
			return othersFile(p, elsewhere)
		case n == ResultsFile || n == ReportFile:
			if err := readOnly(p, st); err != nil {
				return err
			}
		}
	}
	return nil
}

// readOnlyFigures refuses a plots folder p holding a figure made read-only,
// or something other than a file under a figure's name (a folder: it was
// found only once the study had trained, by the figure's write): the
// figures are rewritten by name; other files there (the user's own) are
// left, and not looked at.
func readOnlyFigures(p string) error {
	ents, _ := os.ReadDir(p)
	for _, e := range ents {
		if !figureName.MatchString(e.Name()) {
			continue
		}
		f := filepath.Join(p, e.Name())
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		if !st.Mode().IsRegular() {
			return &BlockedError{fmt.Errorf("%s is %s, not a figure, and the study draws a figure by that name: move it away", f, fileutil.Kind(st.Mode()))}
		}
		if err := readOnly(f, st); err != nil {
			return err
		}
		if fileutil.OthersInSticky(f, st) {
			return othersFile(f, "")
		}
	}
	return nil
}

// othersFile refuses p, another user's file in a folder with the sticky
// bit, which the study would replace: found before it trains, not by the
// write that fails after (saying the folder was not writable).
func othersFile(p, elsewhere string) error {
	return &BlockedError{fmt.Errorf("%s is another user's, in a folder with the sticky bit (%s) that is not yours either: only its owner or root may replace it, and the study writes it: ask them to move it away%s",
		p, filepath.Dir(p), elsewhere)}
}

// readOnly refuses p, a file the study rewrites from its runs whatever it
// holds, when its mode says no one may write it: the atomic rename would
// replace it without asking.
func readOnly(p string, st os.FileInfo) error {
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o222 != 0 {
		return nil
	}
	return &BlockedError{fmt.Errorf("%s is read-only (mode %04o), and the study rewrites it from its runs: make it writable (%s) or move it away, and run again (the runs are kept)",
		p, st.Mode().Perm(), shell.MakeWritable(p))}
}

// foreignOutputs refuses a folder that holds no study but files a study
// writes (its results, report, plots or final model): they would be
// replaced without the study's own record that they are its; and one
// whose runs folder holds run files (a study that lost its definition:
// BlockedError).
func foreignOutputs(dir string) error {
	if _, err := os.Lstat(filepath.Join(dir, RunsDir)); err == nil {
		// A runs folder with no run files may be a study's whose
		// definition was never written (a process stopped between the
		// two), or the one train's default --out makes: the files a study
		// writes are looked for below as without one. Run files without
		// a definition would be adopted by whatever study is asked for
		// now, with no check of the settings' every part, nor of the data
		// they trained on.
		if n := runFiles(dir); n > 0 {
			return &BlockedError{fmt.Errorf("%s has %s in %s but no study definition (%s), which says what trained them and on which data: restore %s (from a backup, or from the shards' folders this was merged from), or use another --out folder",
				dir, shown.Count(n, "run file"), RunsDir, SpecFile, filepath.Join(dir, SpecFile))}
		}
	}
	var found []string
	for _, n := range []string{ResultsFile, ReportFile, PlotsDir, FinalFile, FinalModel} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			found = append(found, n)
		}
	}
	if len(found) > 0 {
		return &OtherStudyError{Dir: dir, Diff: "no study's definition, but " + strings.Join(found, ", ") +
			", which a study writes: they would be replaced", NoStudy: true}
	}
	return nil
}

// OtherFiles lists what a folder without a study holds beside what a
// study writes there (the current folder, a home, one of checkpoints):
// a new study's files would go among them. Hidden entries (.git, the
// lock, a stopped write's temporary file) and a runs folder (train's
// default --out makes one) are left out; so is a folder with a study.
func OtherFiles(dir string) []string {
	if _, err := os.Lstat(filepath.Join(dir, SpecFile)); err == nil {
		return nil
	}
	ents, _ := os.ReadDir(dir)
	var other []string
	for _, e := range ents {
		if n := e.Name(); n != RunsDir && !strings.HasPrefix(n, ".") {
			other = append(other, n)
		}
	}
	return other
}

// NothingRecorded reports whether the study folder dir's run files, if
// any, record no epoch: each only the header a run writes as it starts.
func NothingRecorded(dir string) bool {
	empty, n := headerOnlyRuns(dir)
	return len(empty) == n
}

// unstarted reports whether the study in dir recorded nothing: no run
// file with an epoch, and none of the files a study writes from them.
func unstarted(dir string) bool {
	for _, n := range []string{ResultsFile, ReportFile, PlotsDir, FinalFile, FinalModel, FinalPartial} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			return false
		}
	}
	return NothingRecorded(dir)
}

// headerOnlyRuns lists dir's run files that hold a run's header alone (no
// epoch, no closing line), and counts its run files.
func headerOnlyRuns(dir string) (empty []string, n int) {
	ents, _ := os.ReadDir(filepath.Join(dir, RunsDir))
	for _, e := range ents {
		if !runFileName.MatchString(e.Name()) {
			continue
		}
		n++
		p := filepath.Join(dir, RunsDir, e.Name())
		if r, err := LoadRun(p); err == nil && r != nil && len(r.Epochs) == 0 && !r.Done {
			empty = append(empty, p)
		}
	}
	return empty, n
}

// runFiles counts the run files in dir's runs folder: files named as
// RunPath names them (a user's own metrics.jsonl there, train's --metrics,
// is not one).
func runFiles(dir string) int {
	ents, _ := os.ReadDir(filepath.Join(dir, RunsDir))
	n := 0
	for _, e := range ents {
		if runFileName.MatchString(e.Name()) {
			n++
		}
	}
	return n
}

// runFileName matches the names RunPath gives run files (Config.Key, a
// fold where there are folds, .jsonl).
var runFileName = regexp.MustCompile(`^lr[0-9.e+-]+_bs[0-9]+_[a-z]+(_fold[0-9]+)?\.jsonl$`)

// OtherStudyError is a study folder that holds a study of other settings
// than those asked for.
type OtherStudyError struct {
	Dir, Diff string
	// Recipe: the flags of the folder's recipe (Spec.RecipeFlags), where
	// the recipe is what differs among other things; OldDefault: that
	// recipe is the default of before 2026-12-05.
	Recipe     string
	OldDefault bool
	PreRecipe  bool // the folder's study was made before recipes (the reference's)
	Data       bool // the same settings, other training data
	// Merge: refused by tune merge --final, whose --data differs from the
	// data the shards trained on.
	Merge bool
	// Into: refused by tune merge, whose shards are of another study (or
	// trained on other data) than the one its --out folder holds.
	Into    bool
	NoStudy bool // a study's outputs without its definition
	// Unstarted: the folder's study recorded no epoch of any run (a
	// process ended in its first run, or killed by a second Ctrl-C), so
	// nothing is lost by starting another there.
	Unstarted bool
}

func (e *OtherStudyError) Error() string {
	if e.NoStudy {
		return fmt.Sprintf("%s holds %s; use another --out folder", e.Dir, e.Diff)
	}
	if e.Data && e.Into {
		return fmt.Sprintf("%s holds a study trained on other data (%s); merge into another --out folder", e.Dir, e.Diff)
	}
	if e.Into && !e.Data {
		return fmt.Sprintf("%s holds a different study than the shards (%s); merge into another --out folder", e.Dir, e.Diff)
	}
	if e.Data && e.Merge {
		return fmt.Sprintf("%s holds a study trained on other data (%s); give --data for the data the shards trained on, or merge without --final", e.Dir, e.Diff)
	}
	if e.Data {
		return fmt.Sprintf("%s holds a study trained on other data (%s); give the --data it trained on to resume it, or another --out folder", e.Dir, e.Diff)
	}
	if e.Unstarted {
		return fmt.Sprintf("%s holds a different study (%s), which recorded no epoch of any run (stopped in its first): remove %s and the run files in %s (lr*.jsonl) to start this one there, or use another --out folder, or the same settings to resume it",
			e.Dir, e.Diff, filepath.Join(e.Dir, SpecFile), filepath.Join(e.Dir, RunsDir))
	}
	if e.Recipe != "" {
		changed := ""
		switch {
		case e.OldDefault:
			changed = "; the default recipe changed on 2026-12-05"
		case e.PreRecipe:
			changed = "; an earlier cnngpu made the folder before it had recipes, and trained what --recipe reference trains now"
		}
		return fmt.Sprintf("%s holds a different study (%s); use another --out folder, or the same settings to resume it (its recipe: %s%s)", e.Dir, e.Diff, e.Recipe, changed)
	}
	return fmt.Sprintf("%s holds a different study (%s); use another --out folder, or the same settings to resume it", e.Dir, e.Diff)
}

// BlockedError is a study that cannot run as asked: something in the
// folder in the way of a file or folder the study writes, or a hold-out
// that leaves a set empty (found before its first run), or a read-only
// final model that the final retraining would replace (found then), or a
// merge of folders that cannot be merged as given (one given twice, one
// that is no study folder, studies of other grids, data or splits, a run
// finished in two of them).
type BlockedError struct{ Err error }

func (e *BlockedError) Error() string { return e.Err.Error() }
func (e *BlockedError) Unwrap() error { return e.Err }

// InUseError is a study folder that another process holds (its lock
// taken).
type InUseError struct{ Err error }

func (e *InUseError) Error() string { return e.Err.Error() }
func (e *InUseError) Unwrap() error { return e.Err }

// CheckFolder reports whether spec can be run in dir, changing nothing
// there (it makes and removes a hidden file in each folder the study
// writes in, to find one it cannot write): an error when dir holds
// another study (OtherStudyError), else the runs of spec's shard already
// finished there (none in a new folder).
func CheckFolder(dir string, spec *Spec) (finished int, err error) {
	old, err := LoadSpec(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := foreignOutputs(dir); err != nil {
			return 0, err
		}
		return 0, blockedOutputs(dir)
	}
	if err != nil {
		return 0, err
	}
	if err := blockedOutputs(dir); err != nil {
		return 0, err
	}
	if err := continues(dir, old, spec, "given now"); err != nil {
		return 0, err // as Prepare refuses it
	}
	for _, c := range spec.Mine() {
		for k := range spec.Rounds() {
			r, err := LoadRunOf(dir, spec, c, k)
			if err != nil {
				return 0, err
			}
			if r != nil && r.Done {
				finished++
			}
		}
	}
	return finished, nil
}

// Claim takes the study folder dir for this process (Lock) and prepares it
// (Prepare) before a command reads its data and starts its engines, so
// that a folder in use or holding another study is refused at once.
// release(failed) releases it; after a failure, what Claim wrote is taken
// back while the folder holds no run yet (the study's definition, the
// runs folder, the lock file, and the folder and its parents where Claim
// made them), so that a mistyped flag or a failed data download leaves no
// empty study behind, nor one a corrected command would refuse as
// different: a command interrupted before any run recorded an epoch is
// released as failed too. Once a run has recorded one, the folder is
// kept, to be continued.
func Claim(dir string, spec *Spec) (release func(failed bool), err error) {
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if _, err := os.Stat(dir); err != nil {
			target, _ := os.Readlink(dir)
			return nil, fmt.Errorf("%s is a symbolic link to %s, which is missing: make that folder, or give another --out", dir, target)
		}
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	// The first folder up from dir that is missing: made by Claim.
	made := ""
	for d := filepath.Clean(dir); !exists(d); d = filepath.Dir(d) {
		made = d
		if filepath.Dir(d) == d {
			break
		}
	}
	hadRuns, hadSpec, hadLock := exists(filepath.Join(dir, RunsDir)), exists(filepath.Join(dir, SpecFile)), exists(filepath.Join(dir, LockFile))
	unlock, err := Lock(dir)
	if err != nil {
		return nil, err
	}
	// The run files there before (under the lock: no other study is
	// writing them), by name alone (not read: a large study has
	// thousands): those this process makes are its own to take back.
	before := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(dir, RunsDir))
	for _, e := range ents {
		before[filepath.Join(dir, RunsDir, e.Name())] = true
	}
	if err := Prepare(dir, spec); err != nil {
		unlock()
		return nil, err
	}
	return func(failed bool) {
		if failed && !removeWhileHeld {
			unlock() // before the lock file is removed (Windows)
		}
		defer unlock() // once: a second call counts for nothing
		if !failed {
			return
		}
		// A run file this process began that recorded no epoch (its run
		// stopped in its first) is nothing to keep, also in a runs
		// folder that was there (another command's checkpoints).
		empty, _ := headerOnlyRuns(dir)
		for _, p := range empty {
			if !before[p] {
				os.Remove(p)
			}
		}
		if !hadRuns && os.Remove(filepath.Join(dir, RunsDir)) != nil || runFiles(dir) > 0 {
			// A run was recorded (or started): keep everything, above all
			// the definition that says what trained it (foreignOutputs
			// refuses run files without it).
			return
		}
		if !hadSpec {
			os.Remove(filepath.Join(dir, SpecFile))
		}
		if !hadLock { // always so in a folder Claim made
			os.Remove(filepath.Join(dir, LockFile))
		}
		if made == "" {
			return
		}
		for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
			if os.Remove(d) != nil || d == made {
				break
			}
		}
	}, nil
}

// splits gives each round's training and validation indices. A fold's
// training indices are made when its run starts, not all at once: K sets
// of nearly every image would take K·N·4 bytes (14 GB at --folds 60000,
// held before the first run began).
type splits struct {
	spec   *Spec
	labels []uint8
	folds  [][]int32  // K-fold: each fold's images, its round's validation
	hold   [2][]int32 // hold-out: the one round's (train, validation)
}

// newSplits makes the study's rounds over a training set of these labels.
func newSplits(spec *Spec, labels []uint8) (*splits, error) {
	s := &splits{spec: spec, labels: labels}
	if spec.Folds > 0 {
		folds, err := loader.KFold(labels, spec.Folds, SplitSeed)
		if err != nil {
			return nil, &BlockedError{fmt.Errorf("--folds: %w (the training set's images): give fewer folds", err)}
		}
		s.folds = folds
		// A round trains on every fold but its own: a digit all of whose
		// images are in one fold is missing from that round's training.
		var total [engine.Classes]int
		for _, l := range labels {
			total[l]++
		}
		for k, f := range folds {
			left := total
			for _, i := range f {
				left[labels[i]]--
			}
			for d, n := range left {
				if n == 0 {
					// (The folds spread each digit's images: only a digit
					// of one image is all in one fold.)
					return nil, &BlockedError{fmt.Errorf("--folds %d: the training set has %s of the digit %d, so round %d, which holds it out, cannot train a 10-class model; K-fold needs at least 2 images of each digit: use a hold-out (--folds 0), or data with more images of %d",
						spec.Folds, shown.Count(total[d], "image"), d, k+1, d)}
				}
			}
			// --train-limit's subset of the round, before any run trains:
			// made and checked where the counts alone cannot tell.
			if spec.TrainLimit > 0 && loader.SubsetMayDrop(left[:], spec.TrainLimit) {
				all := loader.FoldTrain(folds, k)
				tr := loader.Subset(labels, all, spec.TrainLimit, spec.Seed)
				if err := hasEveryDigit(labels, tr, all, fmt.Sprintf("round %d's training set", k+1), ""); err != nil {
					return nil, err
				}
			}
		}
		return s, nil
	}
	tr, va, err := loader.Holdout(labels, spec.ValSplit, SplitSeed)
	if err != nil {
		return nil, &BlockedError{fmt.Errorf("--val-split: %w", err)} // which says what fraction would do
	}
	var before []int32 // the hold-out's training set, where --train-limit cut it
	if spec.TrainLimit > 0 && spec.TrainLimit < len(tr) {
		before, tr = tr, loader.Subset(labels, tr, spec.TrainLimit, spec.Seed)
	}
	if err := hasEveryDigit(labels, tr, before, "the training set", "--val-split"); err != nil {
		return nil, err
	}
	s.hold = [2][]int32{tr, va}
	return s, nil
}

// CheckSplits makes spec's training sets from labels as a run does,
// before any training, and returns what the run would refuse (a round or
// the final retraining without some digit, more folds than the images
// fill); else the number of images the runs train on (the largest
// round's: its steps are the most) and, with final, the final
// retraining's. For a dry run on data of its own.
func CheckSplits(spec *Spec, labels []uint8, final bool) (runImages, finalImages int, err error) {
	rs, finalImages, err := checkedSplits(spec, labels, final)
	if err != nil {
		return 0, 0, err
	}
	return rs.largest(), finalImages, nil
}

// checkedSplits is spec's splits of labels, and with final the final
// retraining's number of images, each checked to hold every digit: what
// a run checks before it trains (Runner.Run, CheckSplits).
func checkedSplits(spec *Spec, labels []uint8, final bool) (*splits, int, error) {
	rs, err := newSplits(spec, labels)
	if err != nil {
		return nil, 0, err
	}
	if err := spec.CheckSteps(rs.largest(), "a run's training set"); err != nil {
		return nil, 0, &BlockedError{err}
	}
	if !final {
		return rs, 0, nil
	}
	idx, err := finalIndices(spec, labels)
	if err != nil {
		return nil, 0, err
	}
	// Any setting may come out best: each batch size's retraining.
	if err := spec.CheckSteps(len(idx), "the final retraining's"); err != nil {
		return nil, 0, &BlockedError{fmt.Errorf("%w (or leave the final retraining out: --final=false)", err)}
	}
	return rs, len(idx), nil
}

// finalIndices is the final retraining's training set: every image of
// labels, or --train-limit's subset of them; an error where it lacks a
// digit.
func finalIndices(spec *Spec, labels []uint8) ([]int32, error) {
	idx := engine.AllIndices(len(labels))
	var before []int32
	if spec.TrainLimit > 0 && spec.TrainLimit < len(idx) {
		before, idx = idx, loader.Subset(labels, idx, spec.TrainLimit, spec.Seed)
	}
	if err := hasEveryDigit(labels, idx, before, "the final retraining's training set", ""); err != nil {
		return nil, fmt.Errorf("%w (or leave the final retraining out: --final=false)", err)
	}
	return idx, nil
}

// hasEveryDigit is loader.EveryDigit, blocking the study.
func hasEveryDigit(labels []uint8, idx, before []int32, what, split string) error {
	if err := loader.EveryDigit(labels, idx, before, what, split); err != nil {
		return &BlockedError{err}
	}
	return nil
}

// largest is the most training images of any round's run.
func (s *splits) largest() int {
	n := 0
	for k := range s.spec.Rounds() {
		n = max(n, s.trainLen(k))
	}
	return n
}

// round returns round k's (train, validation) indices.
func (s *splits) round(k int) [2][]int32 {
	if s.folds == nil {
		return s.hold
	}
	tr := loader.FoldTrain(s.folds, k)
	if s.spec.TrainLimit > 0 {
		tr = loader.Subset(s.labels, tr, s.spec.TrainLimit, s.spec.Seed)
	}
	return [2][]int32{tr, s.folds[k]}
}

// trainLen is the number of training images of round k: len(round(k)[0]).
func (s *splits) trainLen(k int) int {
	if s.folds == nil {
		return len(s.hold[0])
	}
	n := len(s.labels) - len(s.folds[k])
	if s.spec.TrainLimit > 0 {
		n = min(n, s.spec.TrainLimit)
	}
	return n
}

type job struct {
	c    Config
	fold int
}

// Run trains every unfinished run of the shard, then (unsharded) writes
// plots and report and, with Final, retrains and tests the best setting.
func (r *Runner) Run(ctx context.Context) error {
	spec := r.Spec
	if err := spec.Validate(); err != nil {
		return err
	}
	unlock, err := Lock(r.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := Prepare(r.Dir, spec); err != nil {
		return err
	}
	adopted, err := r.checkData()
	if err != nil {
		return err
	}
	if r.Final {
		// Before the runs, not after them (hours): the final retraining
		// would refuse it then.
		if err := FinalDamaged(r.Dir, spec); err != nil {
			return err
		}
	}
	if len(r.Engines) == 0 {
		return errors.New("tune: no engine")
	}
	rs, _, err := checkedSplits(spec, r.Data.Train.Labels, r.Final)
	if err != nil {
		return err
	}
	if n := rs.trainLen(0); spec.TrainLimit > n {
		// As train says it: the limit is not an error, but not what it
		// asked for either.
		r.logf("note: --train-limit %d is more than the %d training images each run has; each trains on all of them", spec.TrainLimit, n)
	}
	mine := spec.Mine()
	if len(mine) == 0 {
		return fmt.Errorf("shard %s gets no configuration of this grid: use fewer shards", spec.Shard)
	}
	var jobs []job
	done := 0
	for _, c := range mine {
		for k := 0; k < spec.Rounds(); k++ {
			run, err := LoadRunOf(r.Dir, spec, c, k)
			if err != nil {
				return err
			}
			if run != nil && run.Done {
				done++
				continue
			}
			if run != nil {
				// Said, since its epochs are not kept: a run trains again
				// from its start (the same initial weights and order).
				path := RunPath(r.Dir, c, k, spec.Folds)
				if run.Config == (Config{}) {
					r.logf("note: %s holds no run (empty or damaged): training %s%s again", path, c.Label(), foldLabel(spec, k))
				} else {
					r.logf("note: %s: a run cut short after %s of %d: training it again from its start", path, shown.Count(len(run.Epochs), "epoch"), spec.Epochs)
				}
			}
			jobs = append(jobs, job{c, k})
		}
	}
	if adopted && done > 0 {
		r.logf("note: %s", AdoptedData(r.Dir, cmp.Or(r.Data.Dir, "the data given")+", "+spec.Data, done, "takes"))
	}
	total := done + len(jobs)
	where := ""
	if spec.Shard.N > 1 {
		where = fmt.Sprintf(" in this shard (%s)", spec.Shard)
	}
	r.logf("study %s: %s x %s%s; %s finished earlier, %d to run",
		r.Dir, shown.Count(len(mine), "configuration"), shown.Count(spec.Rounds(), "round"), where, shown.Count(done, "run"), len(jobs))
	var sizes []int // the rounds' numbers of training images, each once
	for k := 0; k < spec.Rounds(); k++ {
		if n := rs.trainLen(k); !slices.Contains(sizes, n) {
			sizes = append(sizes, n)
		}
	}
	var single []int // batch sizes whose runs, still to train, take one step
	for _, j := range jobs {
		c := j.c
		one := false
		for _, n := range sizes {
			one = one || oneStep(spec, c.BatchSize, n)
		}
		if one && !slices.Contains(single, c.BatchSize) {
			single = append(single, c.BatchSize)
		}
	}
	if len(single) > 0 && len(jobs) > 0 {
		slices.Sort(single) // the jobs' order is the split's, by cost
		r.logf("note: the runs at batch size %s take one step, so they keep a constant rate: %s", sizeList(single), engine.OneStepWhy)
	}

	start := time.Now()
	groups, err := r.upload(len(jobs))
	if err != nil {
		return err
	}
	track := newTracker(spec, done, jobs, len(r.Engines), r.OnStatus)
	track.slots = r.slots()
	var mu sync.Mutex
	next := 0
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for wi, e := range r.Engines {
		if len(jobs) == 0 {
			break
		}
		wg.Add(1)
		go func(wi int, e engine.Engine, ds *engine.Dataset) {
			defer wg.Done()
			var err error
			for err == nil {
				mu.Lock()
				if next >= len(jobs) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				j := jobs[next]
				next++
				mu.Unlock()
				if r.OnRunStart != nil {
					r.OnRunStart(j.c, j.fold)
				}
				track.begin(wi, e.Name(), j)
				var run *Run
				run, err = r.train(ctx, e, ds, j, rs.round(j.fold), func(p engine.Progress) {
					track.progress(wi, p)
				})
				if err != nil {
					track.drop(wi)
					if !errors.Is(err, ErrInterrupted) {
						// Which run failed, and where.
						where := ""
						if len(r.Engines) > 1 {
							where = " on " + track.slots[wi]
						}
						err = fmt.Errorf("the run %s%s%s: %w", j.c.Label(), foldLabel(spec, j.fold), where, err)
					}
					break
				}
				mu.Lock()
				r.trained.Store(true)
				n, eta := track.finish(wi, j, run.Seconds)
				status := fmt.Sprintf("val acc %.2f%%", 100*run.Epochs[len(run.Epochs)-1].ValAcc)
				if run.Diverged {
					status = fmt.Sprintf("diverged at epoch %d", run.DivergedEpoch)
				}
				where := ""
				if len(r.Engines) > 1 {
					where = " on " + track.slots[wi]
				}
				left := ""
				if n < total && eta > 0 {
					left = fmt.Sprintf("; %d to go, ETA %s", total-n, FormatDuration(eta))
				}
				r.logf("[%d/%d] %s%s: %s (%.1fs%s)%s", n, total, j.c.Label(), foldLabel(spec, j.fold), status, run.Seconds, where, left)
				res, cerr := Collect(r.Dir, spec)
				if cerr == nil {
					cerr = WriteResults(r.Dir, r.Spec.RecipeLabel(), res)
				}
				mu.Unlock()
				err = cerr
			}
			if err != nil && !errors.Is(err, ErrInterrupted) {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
			}
		}(wi, e, groups.of[wi].ds)
	}
	wg.Wait()
	if err := groups.release(); firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return firstErr
	}
	if ctx.Err() != nil {
		return ErrInterrupted
	}
	if spec.Shard.N > 1 {
		r.logf("all runs of this shard finished (%.1fs this time)", time.Since(start).Seconds())
	} else {
		r.logf("all runs finished (%.1fs this time)", time.Since(start).Seconds())
	}
	if spec.Shard.N > 1 {
		r.logf("shard %s done: when every shard is, combine their folders with %s (or the folder that holds them)", spec.Shard, shell.Command("tune merge --out DIR SHARD_DIR..."))
		res, err := Collect(r.Dir, spec)
		if err != nil {
			return err
		}
		return WriteResults(r.Dir, r.Spec.RecipeLabel(), res)
	}
	if r.Final {
		fe := r.FinalEngine
		if fe == nil {
			fe = r.Engines[0]
		}
		if err := r.final(ctx, fe); err != nil {
			if errors.Is(err, ErrAllDiverged) || errors.Is(err, ErrFinalDiverged) {
				// The report shows what diverged where.
				if rerr := Render(r.Dir, r.machine()); rerr != nil {
					return rerr
				}
			}
			return err
		}
	}
	return Render(r.Dir, r.machine())
}

// machine is the machine line for the report: Machine where this process
// trained something or the report has none, else "" (Render keeps the
// report's).
func (r *Runner) machine() string {
	if !r.trained.Load() && previousMachine(r.Dir) != "" {
		return ""
	}
	return r.Machine
}

// ErrAllDiverged matches (errors.Is) the error of a study whose every
// configuration diverged: there is no final model to retrain.
var ErrAllDiverged = errors.New("every configuration of the study diverged")

// ErrFinalDiverged matches (errors.Is) the error of a study whose best
// setting diverged when retrained on all training images: final.json
// records it (FinalResult.Diverged), so that a rerun says so again rather
// than retraining what will diverge again.
var ErrFinalDiverged = errors.New("the final retraining diverged")

// finalDivergedError is ErrFinalDiverged's error for setting c of dir,
// with how it diverged (why) and what to do.
func finalDivergedError(dir string, c Config, images, why string) error {
	return fmt.Errorf("%w: the best setting on validation, %s, retrained on %s: %s; the runs and the report (%s) are kept, and %s records the divergence, so a rerun does not retrain it again\nhint: finish the study without a final model with --final=false, or move %s away to try the retraining again (a GPU's sums differ from the CPU's: it may not diverge there)",
		ErrFinalDiverged, c.Label(), images, why, filepath.Join(dir, ReportFile), filepath.Join(dir, FinalFile), filepath.Join(dir, FinalFile))
}

func foldLabel(spec *Spec, fold int) string {
	if spec.Folds > 0 {
		return fmt.Sprintf(", fold %d/%d", fold+1, spec.Folds)
	}
	return ""
}

// optConfig is the optimizer of a run at peak rate lr over n training
// images, with the study's schedule planned over its steps.
func optConfig(spec *Spec, lr float64, batch, n int) engine.OptConfig {
	kind, _ := spec.schedule() // Validate checked it
	sched := engine.NewSchedule(kind, spec.Epochs*((n+batch-1)/batch))
	if spec.Optimizer == "sgd" {
		return engine.OptConfig{Kind: engine.SGD, LR: float32(lr), Momentum: float32(spec.Momentum), Sched: sched}
	}
	return engine.OptConfig{Kind: engine.Adam, LR: float32(lr), Beta1: 0.9, Beta2: 0.999, Eps: 1e-7, Sched: sched}
}

// oneStep reports whether a run of n images at batch size batch asks for
// a cosine schedule and keeps a constant rate, as a run of one step does
// (engine.NewSchedule).
func oneStep(spec *Spec, batch, n int) bool {
	kind, _ := spec.schedule()
	return kind == engine.CosineLR && optConfig(spec, 0, batch, n).Sched.Kind != engine.CosineLR
}

// errDiverged stops a run whose loss is no longer finite.
var errDiverged = errors.New("diverged")

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// train runs one configuration on one round, saving the run file after
// every epoch and at the end.
// tick, when not nil, is told the run's position: epochs finished, and the
// step of steps in the current one with its running loss and accuracy, or
// that its validation runs (Steps is 0 when an epoch has just finished).
func (r *Runner) train(ctx context.Context, e engine.Engine, ds *engine.Dataset, j job, split [2][]int32,
	tick func(engine.Progress)) (*Run, error) {
	spec := r.Spec
	act, err := engine.ParseActivation(j.c.Act)
	if err != nil {
		return nil, err
	}
	arch, err := engine.NewArch(spec.Arch, act)
	if err != nil {
		return nil, err
	}
	m, err := engine.NewModel(e, arch, optConfig(spec, j.c.LR, j.c.BatchSize, len(split[0])), arch.GlorotInit(spec.Seed))
	if err != nil {
		return nil, err
	}
	defer m.Release()
	path := RunPath(r.Dir, j.c, j.fold, spec.Folds)
	run := &Run{Config: j.c, Fold: j.fold, Recipe: spec.RecipeLabel(), Study: spec.RunKey()}
	if err := run.Save(path); err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runStart := time.Now()
	diverged := false
	tr := &engine.Trainer{M: m, Data: ds, TrainIdx: split[0], ValIdx: split[1], Epochs: spec.Epochs, BatchSize: j.c.BatchSize, Seed: spec.Seed,
		Augment:          spec.Augmentation,
		LabelSmoothing:   spec.LabelSmoothing,
		ValInterruptible: true, // an interrupted run is run again whole
		ProgressEvery:    time.Second,
		OnProgress: func(p engine.Progress) {
			// Stop within a second of the loss turning NaN or infinite.
			if !finite(p.Loss) {
				diverged = true
				stop()
			}
			if tick != nil {
				tick(p)
			}
		},
		OnEpoch: func(em engine.EpochMetrics, _ engine.Position) error {
			run.Epochs = append(run.Epochs, em)
			run.Seconds = time.Since(runStart).Seconds() // training and validation
			if !finite(em.TrainLoss) || !finite(em.ValLoss) {
				return errDiverged
			}
			if tick != nil {
				tick(engine.Progress{Epoch: len(run.Epochs), Epochs: spec.Epochs, Loss: em.TrainLoss, Acc: em.TrainAcc})
			}
			return run.Save(path)
		},
	}
	r.watchStalls(tr, e, "the run "+j.c.Label()+foldLabel(spec, j.fold))
	_, err = tr.Run(runCtx, engine.Position{})
	switch {
	case errors.Is(err, errDiverged):
		run.Diverged, run.DivergedEpoch = true, len(run.Epochs)
	case errors.Is(err, engine.ErrDiverged):
		// The trainer found the loss non-finite (within a step or a few of
		// it turning so) and did not finish the epoch.
		run.Diverged, run.DivergedEpoch = true, len(run.Epochs)+1
	case errors.Is(err, engine.ErrInterrupted) && diverged:
		// Stopped mid-epoch: record the partial epoch as where it diverged.
		run.Diverged, run.DivergedEpoch = true, len(run.Epochs)+1
	case errors.Is(err, engine.ErrInterrupted):
		return nil, ErrInterrupted
	case err != nil:
		return nil, err
	}
	if run.Diverged && len(run.Epochs) == 0 {
		// Keep a record of the epoch it reached so the curve can be drawn.
		run.Epochs = append(run.Epochs, engine.EpochMetrics{Epoch: 1, TrainLoss: math.NaN(), TrainAcc: math.NaN(), ValLoss: math.NaN(), ValAcc: math.NaN()})
	}
	run.Done = true
	run.Seconds = time.Since(runStart).Seconds()
	return run, run.Save(path)
}

// FinalResult is the best configuration retrained on all training images
// and evaluated on the test set.
type FinalResult struct {
	Config   Config  `json:"config"`
	Images   int     `json:"train_images"`
	TestAcc  float64 `json:"test_acc"`
	TestLoss float64 `json:"test_loss"`
	Seconds  float64 `json:"seconds"`
	Engine   string  `json:"engine"`
	Model    string  `json:"model"`
	// ModelSHA256 is the SHA-256 of the model file as written (hex), so
	// that another file in its place is not taken for it; empty in the
	// final.json of studies written before it was kept.
	ModelSHA256 string `json:"model_sha256,omitempty"`
	// TestData is the test set's fingerprint (loader.Set.Fingerprint):
	// a study continued on another test set tests its model again. Empty
	// in the final.json of studies written before it was kept.
	TestData string `json:"test_data,omitempty"`
	// Diverged: the retraining's loss became NaN or infinite (in epoch
	// DivergedEpoch); there is no model, TestAcc and TestLoss are 0, and
	// Why says how it was found.
	Diverged      bool   `json:"diverged,omitempty"`
	DivergedEpoch int    `json:"diverged_epoch,omitempty"`
	Why           string `json:"why,omitempty"`
}

// retest tests the final model old describes (checked) on this study's
// test set, which is not the one it was tested on, and records the result
// in final.json.
func (r *Runner) retest(ctx context.Context, e engine.Engine, old *FinalResult) error {
	ck, err := engine.LoadWeights(filepath.Join(r.Dir, FinalModel))
	if err != nil {
		return err
	}
	m, err := engine.NewModelFrom(e, ck)
	if err != nil {
		return err
	}
	defer m.Release()
	ev, err := r.testFinal(ctx, e, m)
	if err != nil {
		return err
	}
	r.logf("final model for %s: tested on another test set (accuracy %.2f%%); tested again on this one: test accuracy %.2f%%, loss %.4f",
		old.Config.Label(), 100*old.TestAcc, 100*ev.Acc, ev.Loss)
	fr := *old
	fr.TestAcc, fr.TestLoss, fr.TestData = ev.Acc, ev.Loss, r.Data.Test.Fingerprint()
	return writeFinal(r.Dir, fr)
}

// testFinal evaluates the final model m on e over the study's test set;
// Ctrl-C is ErrInterrupted.
func (r *Runner) testFinal(ctx context.Context, e engine.Engine, m *engine.Model) (engine.EvalResult, error) {
	test, err := engine.UploadDataset(e, r.Data.Test.Images.Pixels, r.Data.Test.Labels)
	if err != nil {
		return engine.EvalResult{}, err
	}
	defer test.Release(e)
	ev, err := engine.EvaluateContext(ctx, m, test, engine.AllIndices(r.Data.Test.N()), 0, false)
	if errors.Is(err, engine.ErrInterrupted) {
		return ev, ErrInterrupted
	}
	return ev, err
}

// FinalFile and FinalModel are the final retraining's outputs.
const (
	FinalFile  = "final.json"
	FinalModel = "final.safetensors"
	// FinalPartial is the final retraining's checkpoint while it runs
	// (after each epoch, and where it was interrupted), so that an
	// interrupted study resumes the retraining, not restarts it; removed
	// once the final model is tested and saved.
	FinalPartial = "final.partial.safetensors"
)

// Best returns the best finished, non-diverged configuration.
func Best(results []Result) (Result, bool) {
	var best Result
	found := false
	for _, r := range results {
		if r.Diverged || math.IsNaN(r.FinalValAcc) {
			continue
		}
		if !found || Better(r, best) {
			best, found = r, true
		}
	}
	return best, found
}

func (r *Runner) final(ctx context.Context, e engine.Engine) error {
	spec := r.Spec
	res, err := Collect(r.Dir, spec)
	if err != nil {
		return err
	}
	best, ok := Best(res)
	if !ok {
		// The study asked for a final model (the runs' results are
		// kept, with the report): say so, with a failing exit.
		return fmt.Errorf("%w (%s; see %s), so there is no best one to retrain and test: try smaller --lr values",
			ErrAllDiverged, shown.Count(len(res), "run"), filepath.Join(r.Dir, ReportFile))
	}
	images := "all training images"
	if spec.TrainLimit > 0 && spec.TrainLimit < r.Data.Train.N() {
		images = fmt.Sprintf("a stratified subset of %d training images (--train-limit)", spec.TrainLimit)
	}
	idx, err := finalIndices(spec, r.Data.Train.Labels)
	if err != nil {
		return err
	}
	// (A merge's shards did not check it: each setting's runs fit.)
	if err := spec.CheckSteps(len(idx), "the final retraining's", best.Config.BatchSize); err != nil {
		return &BlockedError{fmt.Errorf("%w (or leave the final retraining out: --final=false)", err)}
	}
	if old, err := LoadFinalModel(r.Dir, spec); old != nil && old.Config == best.Config && old.Images == len(idx) {
		switch {
		case errors.Is(err, engine.ErrLaterFormat):
			return laterFormatError(err)
		case err == nil && old.Diverged:
			os.Remove(filepath.Join(r.Dir, FinalPartial))
			return finalDivergedError(r.Dir, best.Config, images, old.Why)
		case err == nil && old.TestData != "" && old.TestData != r.Data.Test.Fingerprint():
			// Tested on another test set (--data's changed): its result
			// would be another data's.
			os.Remove(filepath.Join(r.Dir, FinalPartial))
			return r.retest(ctx, e, old)
		case err == nil:
			os.Remove(filepath.Join(r.Dir, FinalPartial)) // left by a process killed as it finished
			r.logf("final model for %s already trained (test accuracy %.2f%%)", best.Config.Label(), 100*old.TestAcc)
			return nil
		}
		r.logf("final model for %s: %v; training it again", best.Config.Label(), err)
	} else if old != nil && !old.Diverged && old.Config == best.Config && old.Images != len(idx) {
		// The same setting on another number of images (--train-limit,
		// or a final.json edited): said, not retrained unsaid.
		r.logf("final model for %s: %s records %s, the study's retraining takes %d; training it again",
			best.Config.Label(), FinalFile, shown.Count(old.Images, "training image"), len(idx))
	}
	// A final model, or its record, someone made read-only is kept: the
	// retraining would replace it by a rename that does not ask.
	for _, finalPath := range []string{filepath.Join(r.Dir, FinalModel), filepath.Join(r.Dir, FinalFile)} {
		if st, err := os.Stat(finalPath); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o222 == 0 {
			return &BlockedError{fmt.Errorf("%s is read-only (mode %04o), and retraining the best setting (%s) would replace it: move it away, or make it writable (%s), and run the study again (its runs are kept: it goes on from here)",
				finalPath, st.Mode().Perm(), best.Config.Label(), shell.MakeWritable(finalPath))}
		}
	}
	r.logf("retraining the best setting (%s) on %s for %s", best.Config.Label(), images, shown.Count(spec.Epochs, "epoch"))
	r.trained.Store(true)
	arch, opt, cfg, err := finalPlan(spec, best.Config, len(idx))
	if err != nil {
		return err
	}
	if oneStep(spec, best.Config.BatchSize, len(idx)) {
		r.logf("note: the retraining takes one step, so it keeps a constant rate: %s", engine.OneStepWhy)
	}
	partial := filepath.Join(r.Dir, FinalPartial)
	var from engine.Position
	var hist []engine.EpochMetrics
	var m *engine.Model
	steps := engine.StepsPerEpoch(len(idx), best.Config.BatchSize)
	if ck, err := engine.LoadCheckpoint(partial); err == nil && planDiff(ck, arch, opt, cfg) == "" && ck.S1 != nil && ck.StepCountMismatch(steps) == "" {
		if m, err = engine.NewModelFrom(e, ck); err != nil {
			return err
		}
		from, hist = ck.Position, ck.History
		if from.Epoch >= spec.Epochs {
			r.logf("the final retraining trained its %s before it stopped (%s): testing it", shown.Count(spec.Epochs, "epoch"), partial)
		} else {
			r.logf("resuming the final retraining at epoch %d, step %d (%s)", from.Epoch+1, from.Step, partial)
		}
	} else if errors.Is(err, engine.ErrLaterFormat) {
		return laterFormatError(err)
	} else {
		if err == nil && ck.S1 != nil && planDiff(ck, arch, opt, cfg) == "" {
			r.logf("%s: %s: starting over", partial, ck.StepCountMismatch(steps))
		} else if err == nil {
			r.logf("%s is the retraining of another setting: starting over", partial)
		} else if !errors.Is(err, fs.ErrNotExist) {
			r.logf("the final retraining's checkpoint: %v; starting over", err)
		}
		if m, err = engine.NewModel(e, arch, opt, arch.GlorotInit(spec.Seed)); err != nil {
			return err
		}
	}
	defer m.Release()
	// save checkpoints the retraining at pos, where it has trained past
	// from (what the file holds already, or is being written): read back
	// at once, written beside the next epoch (engine.CheckpointWriter),
	// the write before waited for first.
	writer := engine.NewCheckpointWriter()
	defer writer.Close()
	save := func(pos engine.Position) error {
		if pos == from {
			return nil
		}
		if _, err := writer.Wait(); err != nil {
			return err
		}
		ck, err := engine.SnapshotInto(writer.Spare(), m, cfg, pos, slices.Clone(hist))
		if err != nil {
			return err
		}
		if err := ck.CheckFinite(); err != nil {
			return fmt.Errorf("checkpoint not saved: %w", err)
		}
		writer.Start(ck, partial)
		from = pos
		return nil
	}
	ds, err := engine.UploadDataset(e, r.Data.Train.Images.Pixels, r.Data.Train.Labels)
	if err != nil {
		return err
	}
	defer ds.Release(e)
	tr := &engine.Trainer{M: m, Data: ds, TrainIdx: idx, Epochs: spec.Epochs, BatchSize: best.Config.BatchSize, Seed: spec.Seed,
		Augment: spec.Augmentation, LabelSmoothing: spec.LabelSmoothing,
		OnEpoch: func(em engine.EpochMetrics, pos engine.Position) error {
			hist = append(hist, em)
			r.logf("  final epoch %d/%d: train loss %.4f acc %.2f%% (%.1fs)", em.Epoch, spec.Epochs, em.TrainLoss, 100*em.TrainAcc, em.Seconds)
			return save(pos)
		}}
	// The time earlier processes trained, for the retraining's total:
	// their epochs, and the part of the epoch resumed in its middle.
	earlier := from.Sums.Seconds
	for _, em := range hist {
		earlier += em.Seconds
	}
	r.watchStalls(tr, e, "the final retraining")
	start := time.Now()
	pos, err := tr.Run(ctx, from)
	if errors.Is(err, engine.ErrInterrupted) {
		if err := save(pos); err != nil {
			return fmt.Errorf("saving the interrupted final retraining: %w", err)
		}
		if _, err := writer.Wait(); err != nil {
			return fmt.Errorf("saving the interrupted final retraining: %w", err)
		}
		return ErrInterrupted
	}
	if _, werr := writer.Wait(); err == nil && werr != nil {
		return werr
	}
	if de := (*engine.DivergedError)(nil); errors.As(err, &de) {
		// Recorded, so that a rerun says so rather than retraining it
		// to the same end; the partial checkpoint would only lead there.
		fr := FinalResult{Config: best.Config, Images: len(idx), Seconds: earlier + time.Since(start).Seconds(), Engine: e.Name(),
			Diverged: true, DivergedEpoch: de.Epoch, Why: strings.TrimPrefix(de.Error(), engine.ErrDiverged.Error()+": ")}
		if werr := writeFinal(r.Dir, fr); werr != nil {
			return werr
		}
		// A final model of another setting (or one that failed its
		// check) would sit beside a record that says there is none.
		os.Remove(filepath.Join(r.Dir, FinalModel))
		os.Remove(partial)
		return finalDivergedError(r.Dir, best.Config, images, fr.Why)
	}
	if err != nil {
		return err
	}
	ev, err := r.testFinal(ctx, e, m) // interrupted: trained and saved, only the test is run again
	if err != nil {
		return err
	}
	// The weights alone where the schedule has ended, as train's last
	// checkpoint: no training goes on from it, eval, predict, export and
	// serve read the weights alone, and it is a third of the bytes with
	// Adam (12.7 MB, not 38).
	snap := engine.SnapshotInto
	if engine.ScheduleEnded(pos, spec.Epochs, opt.Sched.Kind) {
		snap = engine.SnapshotWeightsInto
	}
	ck, err := snap(nil, m, cfg, pos, hist)
	if err != nil {
		return err
	}
	if err := ck.Save(filepath.Join(r.Dir, FinalModel)); err != nil {
		return err
	}
	sum, err := fileSHA256(filepath.Join(r.Dir, FinalModel))
	if err != nil {
		return err
	}
	fr := FinalResult{Config: best.Config, Images: len(idx), TestAcc: ev.Acc, TestLoss: ev.Loss,
		Seconds: earlier + time.Since(start).Seconds(), Engine: e.Name(), Model: FinalModel, ModelSHA256: sum, TestData: r.Data.Test.Fingerprint()}
	if err := writeFinal(r.Dir, fr); err != nil {
		return err
	}
	os.Remove(partial)
	r.logf("final: %s, test accuracy %.2f%%, loss %.4f; model in %s", best.Config.Label(), 100*ev.Acc, ev.Loss, filepath.Join(r.Dir, FinalModel))
	if engine.BlewUp(ev) {
		r.logf("note: that test accuracy is about chance (10%%) and the test loss far above an untrained model's (2.3): the retraining blew up without turning NaN; its rate (lr %s) is likely too high: try smaller --lr values",
			strconv.FormatFloat(best.Config.LR, 'g', -1, 64))
	}
	r.logf("  (one training, of seed %d; over ten seeds: %s)", spec.Seed, shell.Command(spec.SeedsArgs(best.Config, e.Name())+loader.DataFlag(r.Data.Dir)))
	return nil
}

// FinalDamaged is LoadFinal's error where dir has a final.json that
// cannot be read or holds values cnngpu never writes, or (spec not nil) a
// setting that is not of spec's grid; nil where it has none: the final
// retraining refuses to write over it, as run files with such values are
// refused, not trained again.
func FinalDamaged(dir string, spec *Spec) error {
	f, err := LoadFinal(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err // damaged, as a damaged study.json is: exit 1
	}
	if f != nil && spec != nil && !slices.ContainsFunc(spec.Configs(), func(c Config) bool { return c == f.Config }) {
		return &BlockedError{fmt.Errorf("%s: its setting (%s) is not one of the study's grid: the file was edited, or is another study's; restore it, or move it away (cnngpu tune on the study's folder trains the final model again)",
			filepath.Join(dir, FinalFile), f.Config.Label())}
	}
	return nil
}

// LoadFinal reads dir/final.json.
func LoadFinal(dir string) (*FinalResult, error) {
	b, err := fileutil.ReadFile(filepath.Join(dir, FinalFile), maxStudyFile)
	if err != nil {
		return nil, err
	}
	var f FinalResult
	err = json.Unmarshal(b, &f)
	if err == nil {
		err = f.check()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v; the file is damaged: restore it, or move it away (cnngpu tune on the study's folder trains the final model again)", filepath.Join(dir, FinalFile), err)
	}
	return &f, nil
}

// check refuses values cnngpu never writes: no setting (an empty object,
// {}), no training images, an accuracy outside 0 to 1, a negative or
// non-finite loss or time, a negative count.
func (f *FinalResult) check() error {
	switch {
	case !(f.Config.LR > 0) || math.IsInf(f.Config.LR, 0) || f.Config.BatchSize <= 0 || f.Config.Act == "":
		return fmt.Errorf("config %+v is not a setting of the study (a rate above 0, a batch size, an activation)", f.Config)
	case f.Images == 0:
		return errors.New("train_images is 0 or missing: no retraining trained on no images")
	case !(f.TestAcc >= 0 && f.TestAcc <= 1):
		return fmt.Errorf("test_acc %v is not an accuracy from 0 to 1", f.TestAcc)
	case !(f.TestLoss >= 0) || math.IsInf(f.TestLoss, 0):
		return fmt.Errorf("test_loss %v is not a loss (0 or more, finite)", f.TestLoss)
	case !(f.Seconds >= 0) || math.IsInf(f.Seconds, 0):
		return fmt.Errorf("seconds %v is not a time (0 or more, finite)", f.Seconds)
	case f.Images < 0 || f.DivergedEpoch < 0:
		return fmt.Errorf("train_images %d or diverged_epoch %d below 0", f.Images, f.DivergedEpoch)
	}
	return nil
}

// writeFinal writes dir/final.json.
func writeFinal(dir string, fr FinalResult) error {
	b, err := json.MarshalIndent(fr, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, FinalFile), err) // a value JSON cannot hold (NaN)
	}
	return fileutil.WriteAtomic(filepath.Join(dir, FinalFile), append(b, '\n'), 0o644)
}

// fileSHA256 is the SHA-256 of the file at path, in hex.
func fileSHA256(path string) (string, error) {
	h := sha256.New()
	if err := fileutil.UseFile(path, engine.MaxCheckpointBytes, func(b []byte) error {
		h.Write(b)
		return nil
	}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// finalPlan is the final retraining of setting c on n training images:
// its architecture, optimizer and training configuration, which its
// checkpoints record.
func finalPlan(spec *Spec, c Config, n int) (engine.Arch, engine.OptConfig, engine.TrainConfig, error) {
	act, err := engine.ParseActivation(c.Act)
	if err != nil {
		return engine.Arch{}, engine.OptConfig{}, engine.TrainConfig{}, err
	}
	arch, err := engine.NewArch(spec.Arch, act)
	if err != nil {
		return engine.Arch{}, engine.OptConfig{}, engine.TrainConfig{}, err
	}
	cfg := engine.TrainConfig{Epochs: spec.Epochs, BatchSize: c.BatchSize, Seed: spec.Seed, TrainLimit: spec.TrainLimit,
		Recipe: spec.Recipe, LabelSmoothing: spec.LabelSmoothing}
	cfg.Augmentation = spec.Augmentation
	return arch, optConfig(spec, c.LR, c.BatchSize, n), cfg, nil
}

// laterFormatError stops a study at a final model (or its retraining's
// checkpoint) that a later cnngpu wrote: training it again would replace
// it.
func laterFormatError(err error) error {
	return &BlockedError{fmt.Errorf("%w; this study's final retraining would replace it: finish the study with that cnngpu, or move the file away to retrain the best setting with this one", err)}
}

// LoadFinalModel reads dir/final.json and checks that the model file it
// names is there and is the retraining it describes (final.json alone
// does not make a model): the file's SHA-256 as recorded, and the
// checkpoint's architecture, optimizer and training configuration those
// of final.json's setting in study spec, trained to its last epoch. The
// result is nil where final.json cannot be read, and err says why the
// final model is not there to keep. A recorded divergence has no model
// to check: the result says Diverged, with a nil error.
func LoadFinalModel(dir string, spec *Spec) (*FinalResult, error) {
	f, err := LoadFinal(dir)
	if err != nil || f.Diverged {
		return f, err
	}
	path := filepath.Join(dir, FinalModel)
	if f.ModelSHA256 != "" {
		sum, err := fileSHA256(path)
		if err != nil {
			return f, err
		}
		if sum != f.ModelSHA256 {
			return f, fmt.Errorf("%s is not the model %s describes (its SHA-256 is %.12s…, recorded %.12s…)", path, FinalFile, sum, f.ModelSHA256)
		}
	}
	ck, err := engine.LoadWeights(path) // checked whole, its weights decoded
	if err != nil {
		return f, err
	}
	arch, opt, cfg, err := finalPlan(spec, f.Config, f.Images)
	if err != nil {
		return f, err
	}
	d := planDiff(ck, arch, opt, cfg)
	if d == "" && len(ck.History) != spec.Epochs {
		d = fmt.Sprintf("%d epochs trained in it, %d in the study", len(ck.History), spec.Epochs)
	}
	if d != "" {
		return f, fmt.Errorf("%s is not the retraining of %s on %d images that %s describes (%s)", path, f.Config.Label(), f.Images, FinalFile, d)
	}
	return f, nil
}

// planDiff says how checkpoint ck differs from the retraining arch, opt
// and cfg describe ("" where it is theirs). A recipe recorded as "" (a
// study or checkpoint made before recipes) is the reference recipe, as
// RecipeLabel reads it.
func planDiff(ck *engine.Checkpoint, arch engine.Arch, opt engine.OptConfig, cfg engine.TrainConfig) string {
	recipe := func(c engine.TrainConfig) engine.TrainConfig {
		if c.Recipe == "" {
			c.Recipe = engine.ReferenceRecipe.Name
		}
		return c
	}
	var d []string
	add := func(got, want any) {
		g, w := reflect.ValueOf(got), reflect.ValueOf(want)
		for i := range g.NumField() {
			if a, b := g.Field(i).Interface(), w.Field(i).Interface(); a != b {
				d = append(d, fmt.Sprintf("%s %+v in it, %+v in the study", g.Type().Field(i).Name, a, b))
			}
		}
	}
	add(ck.Arch, arch)
	add(ck.Opt, opt)
	add(recipe(ck.Config), recipe(cfg))
	return strings.Join(d, "; ")
}
