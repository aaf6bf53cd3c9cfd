// hostile_files_test.go: run files and study definitions that no cnngpu
// writes, found by fuzzing (fuzz_test.go), refused as damaged.

package tune

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDivergedEpochZero: a run file's status line of a run that diverged
// names the epoch (from 1); one without it (epoch 0) was accepted, the
// report said "diverged (epoch 0)", and the check of values left out was
// skipped for every epoch.
func TestDivergedEpochZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(path, []byte(`{"config":{"lr":0.001,"batch_size":64,"activation":"relu"},"fold":0}
{"epoch":1,"seconds":1,"images_per_sec":100,"images":100,"val_seconds":0.1}
{"epoch":2,"seconds":1,"images_per_sec":100,"images":100,"val_seconds":0.1}
{"done":true,"diverged":true,"seconds":2}
`), 0o644)
	if r, err := LoadRun(path); err == nil {
		t.Errorf("accepted a run that diverged in epoch %d, with no values in any of its %d epochs", r.DivergedEpoch, len(r.Epochs))
	}
}

// TestSpecWithoutArch: study.json without "arch" was accepted, though no
// cnngpu writes one and no run of it can train (engine.NewArch("") fails).
func TestSpecWithoutArch(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, SpecFile), []byte(`{"version":1,"lrs":[0.001],"batch_sizes":[64],"activations":["relu"],"epochs":1,"val_split":0.5,"shard":{"i":0,"n":1}}`), 0o644)
	if s, err := LoadSpec(dir); err == nil {
		if _, _, _, err := s.CheckpointParts(); err != nil {
			t.Errorf("accepted a study that cannot train: %v", err)
		}
	}
}

// TestSpecShardRefused: a study.json whose shard no cnngpu writes (an
// index out of its range, a split of another name, or a split in a study
// of one shard), or one larger than maxSpecFile, is refused as damaged,
// naming the file; what cnngpu writes is read.
func TestSpecShardRefused(t *testing.T) {
	for _, c := range []struct {
		shard Shard
		pad   int    // spaces added to the file
		want  string // "" where it is read
	}{
		{Shard{I: 0, N: 1}, 0, ""},
		{Shard{I: 1, N: 2, Split: SplitCost}, 0, ""},
		{Shard{I: 0, N: 2}, 0, ""}, // an earlier version's, in grid order
		{Shard{I: 5, N: 1}, 0, "shard 5/1: expected 0 <= I < N"},
		{Shard{I: -1, N: 2, Split: SplitCost}, 0, "shard -1/2"},
		{Shard{I: 0, N: MaxConfigs + 1, Split: SplitCost}, 0, "expected 0 <= I < N <="},
		{Shard{I: 0, N: 2, Split: "grid"}, 0, `split "grid": expected "cost"`},
		{Shard{I: 0, N: 1, Split: SplitCost}, 0, "in a shard of two or more"},
		{Shard{I: 0, N: 1}, maxSpecFile, "more than the 1048576 a file of this kind can have: cnngpu writes"},
	} {
		dir := t.TempDir()
		s := tinySpec()
		s.Shard = c.shard
		if err := s.Save(dir); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, SpecFile)
		if c.pad > 0 {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, append(b, make([]byte, c.pad)...), 0o644)
			b, _ = os.ReadFile(path)
			for i := len(b) - c.pad; i < len(b); i++ {
				b[i] = ' '
			}
			os.WriteFile(path, b, 0o644)
		}
		got, err := LoadSpec(dir)
		sh := fmt.Sprintf("%d/%d split %q", c.shard.I, c.shard.N, c.shard.Split)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("shard %s: refused: %v", sh, err)
		case c.want == "" && got.Shard != c.shard:
			t.Errorf("shard %s: read as %+v", sh, got.Shard)
		case c.want != "" && err == nil:
			t.Errorf("shard %s, %d bytes of padding: accepted", sh, c.pad)
		case c.want != "" && (!strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path)):
			t.Errorf("shard %s, %d bytes of padding: %v\nwant the file's name and %q", sh, c.pad, err, c.want)
		}
	}
}
