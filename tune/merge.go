// merge.go: combining the folders of a sharded study (or of several
// partial runs of one study) into one folder with results, figures and
// report, after checking that they cover the grid exactly once.

package tune

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shell"
)

// MergeOptions control Merge.
type MergeOptions struct {
	// Machine describes the hardware for the report ("" keeps what the
	// merged folder's report said).
	Machine string
	// AllowMissing merges what is there when some runs are finished in no
	// folder (a rerun of `cnngpu tune` on the merged folder completes
	// them); without it they are an error and nothing is written.
	AllowMissing bool
	// DryRun checks and reports without writing anything.
	DryRun bool
	// KeepLock leaves the merged folder locked after a merge that wrote
	// it: MergeResult.Release releases it (for the final retraining that
	// follows, so that no other process takes the folder in between).
	KeepLock bool
	// Data reads the training set that the final retraining after the
	// merge will train on and returns its fingerprint (nil: no final
	// retraining). Merge calls it once its own checks have passed and
	// before it writes anything: a study whose folders, or out, record
	// other data is refused then, with nothing written, and so is an
	// error of Data's. A dry run's may return "": the data not there to
	// read without fetching it, and so not checked.
	Data func() (string, error)
	// Precision is the final retraining's arithmetic ("fp32", "tf32"; ""
	// without one): shards that record another are refused before
	// anything is written.
	Precision string
}

// MergeSource is one study folder read by Merge.
type MergeSource struct {
	Dir      string
	Shard    Shard
	Finished int // finished runs it holds
	Runs     int // of those, the runs taken from it (not in the merged folder yet)
}

// MergeResult says what Merge did (or, with DryRun, would do).
type MergeResult struct {
	Sources []MergeSource
	Copied  int // run files copied into the merged folder
	Present int // runs the merged folder already held
	// InUse lists the folders given that another process holds (a study
	// still running there), with the holder: what it finishes from now
	// on is not in this merge.
	InUse []string
	// Differ lists the runs the merged folder already held that a given
	// folder holds otherwise (a shard run again since): the merged
	// folder's are kept.
	Differ  []string
	Missing []string // runs finished in no folder, with the shard that owns them (first the shards not given)
	// MissingRuns is how many runs are finished in no folder.
	MissingRuns int
	// Skipped lists the unsharded studies found beside shards in a folder
	// given (merges of them made there), which are not merged.
	Skipped []string
	// Unrecorded lists the folders given that record no training data
	// (made by an earlier cnngpu) whose finished runs are merged, and out
	// where it records none and holds some, as trained on the data
	// another folder records (DataFrom).
	Unrecorded []string
	DataFrom   string
	// Release releases the merged folder's lock, with KeepLock after a
	// merge that wrote; nil otherwise.
	Release func()
}

// MissingList is Missing as lines under head, as a merge that refuses
// lists them (up to maxListed, then how many more).
func (r *MergeResult) MissingList(head string) string { return listProblems(head, r.Missing) }

// DifferList is Differ as lines under head, as MissingList.
func (r *MergeResult) DifferList(head string) string { return listProblems(head, r.Differ) }

// maxListed bounds the lines of one kind in a merge error.
const maxListed = 12

func listProblems(head string, items []string) string {
	var b strings.Builder
	b.WriteString(head)
	for i, it := range items {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  ... and %d more", len(items)-maxListed)
			break
		}
		b.WriteString("\n  - " + it)
	}
	return b.String()
}

// studyFolders expands the arguments of a merge: each is a study folder
// (it has study.json) or a folder whose subfolders are study folders (the
// shared folder the shards of a cluster job wrote into; an unsharded
// study among shards there, a merge of them, is skipped, added to
// skipped). out is skipped.
func studyFolders(out string, args []string, skipped *[]string) ([]string, error) {
	absOut, _ := filepath.Abs(out)
	var dirs []string
	seen := map[string]string{}
	add := func(d, arg string) error {
		a, _ := filepath.Abs(d)
		if a == absOut {
			return nil
		}
		if prev, ok := seen[a]; ok {
			return &BlockedError{fmt.Errorf("merge: folder %s is given twice (by %s and by %s)", d, prev, arg)}
		}
		seen[a] = arg
		dirs = append(dirs, d)
		return nil
	}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &BlockedError{fmt.Errorf("merge: %s is not a study folder: it does not exist", arg)}
		}
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if !st.IsDir() {
			return nil, &BlockedError{fmt.Errorf("merge: %s is a file, not a study folder", arg)}
		}
		if _, err := os.Stat(filepath.Join(arg, SpecFile)); err == nil {
			if err := add(arg, arg); err != nil {
				return nil, err
			}
			continue
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		var subs []string
		unsharded := map[string]bool{} // of subs, read once
		sharded := false
		for _, e := range entries {
			sub := filepath.Join(arg, e.Name())
			if _, err := os.Stat(filepath.Join(sub, SpecFile)); e.IsDir() && err == nil {
				subs = append(subs, sub)
				if s, err := LoadSpec(sub); err == nil {
					sharded = sharded || s.Shard.N > 1
					unsharded[sub] = s.Shard.N <= 1
				}
			}
		}
		found := 0
		for _, sub := range subs {
			if a, _ := filepath.Abs(sub); a == absOut {
				continue // the merge's own folder, among the shards
			}
			if sharded && unsharded[sub] {
				// An unsharded study among shards: their merge, made
				// there before (with the shards named one by one).
				*skipped = append(*skipped, sub)
				continue
			}
			if err := add(sub, arg); err != nil {
				return nil, err
			}
			found++
		}
		if found == 0 {
			return nil, &BlockedError{fmt.Errorf("merge: %s is not a study folder (it has no %s) and none of its subfolders is one", arg, SpecFile)}
		}
	}
	if len(dirs) == 0 {
		return nil, &BlockedError{fmt.Errorf("merge: no shard folders given (other than the output folder %s)", out)}
	}
	return dirs, nil
}

// Merge copies the finished runs of the study folders args (or of the
// study folders inside them) into out, which becomes an unsharded study
// folder, and renders it. All folders must hold the same study, and
// together they must cover the grid exactly once: a run finished in two
// folders, two folders of one shard, or shards of different splits are
// errors, and so are runs finished nowhere (a missing shard, or one that
// has not finished) unless opt.AllowMissing. Runs out already holds count
// as present. Rerunning `cnngpu tune` on out, or merging with the final
// retraining, then finishes anything missing and retrains the best setting.
func Merge(out string, args []string, opt MergeOptions) (*MergeResult, error) {
	var skipped []string
	dirs, err := studyFolders(out, args, &skipped)
	if err != nil {
		return nil, err
	}
	// The output folder is this process's while it reads and writes it
	// (Lock); one not there yet, or one that holds neither a study (whose
	// runs the checks would read) nor a lock's file (another process's,
	// perhaps, which refuses this merge at once), is made or locked only
	// once the merge is found possible: a refused merge writes nothing,
	// not even the lock's file.
	var unlock func()
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	lock := func() (err error) {
		if unlock == nil && !opt.DryRun {
			unlock, err = Lock(out)
		}
		return err
	}
	_, lerr := os.Lstat(filepath.Join(out, LockFile))
	if fi, err := os.Stat(filepath.Join(out, SpecFile)); lerr == nil || (err == nil && fi.Mode().IsRegular()) {
		if err := lock(); err != nil {
			return nil, err
		}
	}
	lockedEarly := unlock != nil
	res := &MergeResult{Skipped: skipped}
	var spec *Spec
	dataFrom := ""               // the first folder that records the training data
	var unrecorded []int         // the sources that record none
	running := map[string]bool{} // the folders a study holds now
	var precision, precisionFrom string
	for _, d := range dirs {
		s, err := LoadSpec(d)
		if err != nil {
			return nil, &BlockedError{fmt.Errorf("%s is not a study folder: %w", d, err)}
		}
		if spec == nil {
			spec = s
		} else if diff := spec.Diff(s, "in "+dirs[0], "in "+d); diff != "" {
			return nil, &BlockedError{fmt.Errorf("%s holds a different study than %s: %s", d, dirs[0], diff)}
		}
		// The arithmetic, as the folders that record it say (earlier
		// cnngpus' do not).
		switch {
		case s.Precision == "":
		case precisionFrom == "":
			precision, precisionFrom = s.Precision, d
		case s.Precision != precision:
			return nil, &BlockedError{fmt.Errorf("%s holds a different study than %s: precision %s in %s, %s in %s", d, precisionFrom, precision, precisionFrom, s.Precision, d)}
		}
		// The data (which a shard that trained nothing does not record)
		// against the first folder that records it.
		switch {
		case s.Data == "":
		case dataFrom == "":
			spec.Data, dataFrom = s.Data, d
		case s.Data != spec.Data:
			return nil, &BlockedError{fmt.Errorf("%s holds a study trained on other data than %s: training data %s in %s, %s in %s", d, dataFrom, spec.Data, dataFrom, s.Data, d)}
		}
		if s.Data == "" {
			unrecorded = append(unrecorded, len(res.Sources))
		}
		res.Sources = append(res.Sources, MergeSource{Dir: d, Shard: s.Shard})
		if who, ok := fileutil.HeldBy(filepath.Join(d, LockFile)); ok {
			res.InUse = append(res.InUse, fmt.Sprintf("%s (by %s)", d, cmp.Or(who, "another process")))
			running[d] = true
		}
	}

	// The shards: one N, one split, each index at most once.
	var problems, missing []string
	n, split, first := 0, "", -1
	byIndex := map[int]string{}
	for si, src := range res.Sources {
		sh := src.Shard
		if sh.N <= 1 {
			continue
		}
		if first < 0 {
			n, split, first = sh.N, sh.Split, si
		} else if sh.N != n || sh.Split != split {
			f := res.Sources[first]
			why := "the shards of one study share N"
			if sh.N == n {
				why = "one of them was split by an earlier cnngpu (in grid order)"
			}
			return nil, &BlockedError{fmt.Errorf("merge: %s is shard %s but %s is shard %s of another split (%s): give the folders of one split",
				src.Dir, sh, f.Dir, f.Shard, why)}
		}
		if prev, ok := byIndex[sh.I]; ok {
			problems = append(problems, fmt.Sprintf("shard %s twice: %s and %s", sh, prev, src.Dir))
			continue
		}
		byIndex[sh.I] = src.Dir
	}
	var owner []int
	if n > 1 && split == SplitCost {
		owner = spec.ShardOf(n)
	}
	absent := map[int]bool{} // shards not given whose runs are missing

	spec.Precision = precision
	merged := *spec
	merged.Shard = Shard{I: 0, N: 1}
	outData := "" // the training data out records, where it holds a study
	if old, err := LoadSpec(out); err == nil {
		outData = old.Data
		// A study in out is the shards' own, merged before: its run
		// files, read below, are refused as edited where it is another.
		if err := continues(out, old, &merged, "in the shards"); err != nil {
			if oe := (*OtherStudyError)(nil); errors.As(err, &oe) {
				oe.Into = true
			}
			return nil, err
		}
	}
	type copyJob struct{ src, dst string }
	var copies []copyJob
	for ci, c := range merged.Configs() {
		for k := 0; k < merged.Rounds(); k++ {
			name := filepath.Base(RunPath(out, c, k, merged.Folds))
			var from []int
			var found *Run // the finished run of from's last folder
			for si, src := range res.Sources {
				r, err := LoadRunOf(src.Dir, &merged, c, k)
				if err != nil {
					return nil, err
				}
				if r != nil && r.Done {
					from = append(from, si)
					found = r
					res.Sources[si].Finished++
				}
			}
			if len(from) > 1 {
				var where []string
				for _, si := range from {
					where = append(where, res.Sources[si].Dir)
				}
				problems = append(problems, fmt.Sprintf("%s (%s%s) is finished in %d folders: %s", name, c.Label(), foldLabel(&merged, k), len(from), strings.Join(where, ", ")))
				continue
			}
			dst := RunPath(out, c, k, merged.Folds)
			have, err := LoadRunOf(out, &merged, c, k)
			if err != nil {
				return nil, err
			}
			if have != nil && have.Done {
				res.Present++
				if len(from) == 1 && !sameResults(found, have) {
					res.Differ = append(res.Differ, fmt.Sprintf("%s (%s%s) in %s", name, c.Label(), foldLabel(&merged, k), res.Sources[from[0]].Dir))
				}
				continue
			}
			if len(from) == 1 {
				res.Sources[from[0]].Runs++
				copies = append(copies, copyJob{RunPath(res.Sources[from[0]].Dir, c, k, merged.Folds), dst})
				continue
			}
			why := "no folder has finished it"
			if owner != nil {
				o := owner[ci]
				if d, ok := byIndex[o]; ok {
					why = fmt.Sprintf("shard %d/%d (%s) has not finished it", o, n, d)
					if running[d] {
						why += " yet: a study is running there"
					}
				} else {
					why = fmt.Sprintf("its shard %d/%d was not given", o, n)
					absent[o] = true
				}
			}
			missing = append(missing, fmt.Sprintf("%s (%s%s): %s", name, c.Label(), foldLabel(&merged, k), why))
		}
	}
	if len(problems) > 0 {
		return nil, &BlockedError{errors.New(listProblems("merge: the folders cover the grid more than once:", problems) +
			"\ngive each shard's folder once, and only the folders of one split")}
	}
	var shards []string
	for i := 0; i < n; i++ {
		if absent[i] {
			shards = append(shards, fmt.Sprintf("shard %d/%d: no folder given", i, n))
		}
	}
	// The folders whose finished runs are taken as trained on the data
	// a folder given, or out, records; out among them where it records
	// none and a folder given does.
	from := dataFrom
	if from == "" && outData != "" {
		from = out
	}
	if from != "" {
		for _, si := range unrecorded {
			if res.Sources[si].Runs > 0 { // runs copied from it
				res.Unrecorded = append(res.Unrecorded, res.Sources[si].Dir)
			}
		}
		if outData == "" && res.Present > 0 {
			res.Unrecorded = append(res.Unrecorded, out)
		}
		if len(res.Unrecorded) > 0 {
			res.DataFrom = from
		}
	}
	res.MissingRuns = len(missing)
	missing = append(shards, missing...)
	res.Missing = missing
	if len(missing) > 0 && !opt.AllowMissing {
		rerun := "rerun the missing shards (each resumes in its folder) and merge again, or "
		if n > 1 && split != SplitCost {
			rerun = "" // an earlier cnngpu's split, which this one cannot continue
		}
		return res, errors.New(listProblems(fmt.Sprintf("merge: the folders do not cover the grid (%d of %d runs there):", res.Present+len(copies), len(merged.Configs())*merged.Rounds()), missing) +
			"\n" + rerun + "merge with --allow-missing and finish the rest with " + shell.Command("tune") + " on the merged folder")
	}
	if opt.Precision != "" && spec.Precision != "" && opt.Precision != spec.Precision {
		how := ""
		if spec.Precision == "tf32" {
			how = " on a GPU (the CPU engine computes in fp32)"
		}
		return nil, &BlockedError{fmt.Errorf("the shards trained in %s, and the final retraining would train in %s: give --precision %s%s, so that its runs and the final model are ranked with theirs", spec.Precision, opt.Precision, spec.Precision, how)}
	}
	if opt.Data != nil {
		// A final.json in out that the final retraining would refuse,
		// and its data against the shards' (and against what out
		// records, where the shards record none): found now, not after
		// the merge has written out.
		if err := FinalDamaged(out, &merged); err != nil {
			return nil, err
		}
		fp, err := opt.Data()
		if err != nil {
			return nil, err
		}
		have, where := spec.Data, dataFrom
		if have == "" {
			have, where = outData, out
		}
		if fp != "" && have != "" && have != fp {
			return nil, &OtherStudyError{Dir: where, Diff: fmt.Sprintf("training data %s in the folder, %s given for the final retraining", have, fp), Data: true, Merge: true}
		}
	}
	if opt.DryRun {
		res.Copied = len(copies)
		return res, nil
	}
	if err := lock(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(out, SpecFile)); err == nil && !lockedEarly && !opt.DryRun {
		// Another process merged into out between the checks and the
		// lock: the checks are made again, under the lock (which this
		// process may take again), against what out holds now.
		return Merge(out, args, opt)
	}
	if err := Prepare(out, &merged); err != nil {
		return nil, err
	}
	if merged.Data != "" {
		if _, err := recordData(out, merged.Data, "in the shards"); err != nil {
			if oe := (*OtherStudyError)(nil); errors.As(err, &oe) {
				oe.Into = true // not "give the --data it trained on": merge takes none
			}
			return nil, err
		}
	}
	for _, cj := range copies {
		r, err := LoadRun(cj.src)
		if err != nil {
			return nil, err
		}
		if err := r.Save(cj.dst); err != nil {
			return nil, err
		}
		res.Copied++
	}
	if err := Render(out, opt.Machine); err != nil {
		return res, err
	}
	if opt.KeepLock {
		// Nested: the deferred release above leaves this holder's.
		if res.Release, err = Lock(out); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// MissingShards lists the shards (as I/N) of the sharded study in dirs
// that none of dirs holds; nil when dirs are not shards or cannot be read.
func MissingShards(dirs []string) []string {
	have := map[int]bool{}
	n := 0
	for _, d := range dirs {
		s, err := LoadSpec(d)
		if err != nil || s.Shard.N <= 1 || n != 0 && s.Shard.N != n {
			return nil
		}
		n = s.Shard.N
		have[s.Shard.I] = true
	}
	var out []string
	for i := 0; i < n; i++ {
		if !have[i] {
			out = append(out, Shard{I: i, N: n}.String())
		}
	}
	return out
}

// sameResults reports whether two runs of one setting give the same
// results: each epoch's losses and accuracies, and where they diverged
// (not their times, which differ between two trainings of the same bits).
func sameResults(a, b *Run) bool {
	if len(a.Epochs) != len(b.Epochs) || a.Diverged != b.Diverged || a.DivergedEpoch != b.DivergedEpoch {
		return false
	}
	// A diverged epoch's figures are NaN, the same in both copies of a
	// file merged again: compared as equal.
	same := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	for i, x := range a.Epochs {
		y := b.Epochs[i]
		if !same(x.TrainLoss, y.TrainLoss) || !same(x.TrainAcc, y.TrainAcc) || !same(x.ValLoss, y.ValLoss) || !same(x.ValAcc, y.ValAcc) {
			return false
		}
	}
	return true
}
