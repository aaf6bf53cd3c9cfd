// hostile_files_test.go: run files and study definitions that no cnngpu
// writes, found by fuzzing (fuzz_test.go), refused as damaged.

package tune

import (
	"os"
	"path/filepath"
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
