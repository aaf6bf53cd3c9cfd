// record_test.go: a run file whose last line was cut off (a copy or a
// write killed midway) still loads, without that line.

package tune

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
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
	if _, err := LoadRun(path); err == nil {
		t.Error("a damaged first line was accepted")
	}
}
