// merge.go: combining the folders of a sharded study (or of several
// partial runs of one study) into one folder with results, figures and
// report.

package tune

import (
	"fmt"
	"path/filepath"
)

// Merge copies the finished runs of the study folders dirs into out, which
// becomes an unsharded study folder, and renders it. All folders must hold
// the same study. A run finished in several folders is taken from the
// first. It returns how many run files it copied and the names of runs no
// folder has finished. Rerunning `cnngpu tune` on out then finishes anything missing and
// does the final retraining.
func Merge(out string, dirs []string, machine string) (copied int, missing []string, err error) {
	if len(dirs) == 0 {
		return 0, nil, fmt.Errorf("merge: no shard folders given")
	}
	var spec *Spec
	seen := map[Shard]string{}
	for _, d := range dirs {
		s, err := LoadSpec(d)
		if err != nil {
			return 0, nil, fmt.Errorf("%s is not a study folder: %w", d, err)
		}
		if prev, ok := seen[s.Shard]; ok {
			if s.Shard.N > 1 {
				return 0, nil, fmt.Errorf("%s and %s both hold shard %v of the study: give each shard's folder once", prev, d, s.Shard)
			}
			return 0, nil, fmt.Errorf("%s and %s both hold the whole (unsharded) study: give each folder once", prev, d)
		}
		seen[s.Shard] = d
		if spec == nil {
			spec = s
			continue
		}
		if diff := spec.Diff(s); diff != "" {
			return 0, nil, fmt.Errorf("%s holds a different study than %s: %s", d, dirs[0], diff)
		}
	}
	merged := *spec
	merged.Shard = Shard{I: 0, N: 1}
	if err := Prepare(out, &merged); err != nil {
		return 0, nil, err
	}
	for _, c := range merged.Configs() {
		for k := 0; k < merged.Rounds(); k++ {
			dst := RunPath(out, c, k, merged.Folds)
			if r, err := LoadRun(dst); err != nil {
				return copied, missing, err
			} else if r != nil && r.Done {
				continue
			}
			found := false
			for _, d := range dirs {
				src := RunPath(d, c, k, merged.Folds)
				r, err := LoadRun(src)
				if err != nil {
					return copied, missing, err
				}
				if r == nil || !r.Done {
					continue
				}
				if err := r.Save(dst); err != nil {
					return copied, missing, err
				}
				copied++
				found = true
				break
			}
			if !found {
				missing = append(missing, filepath.Base(dst))
			}
		}
	}
	err = Render(out, machine)
	return copied, missing, err
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
