// estimate_test.go: a dry run's estimate of a study's time, from runs
// finished in its folder (their recorded step times) and from step times
// given, dealt to the engines.

package tune

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
)

func TestPlanTime(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, RunsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := &Spec{Version: 1, LRs: []float64{0.001, 0.003, 0.01}, BatchSizes: []int{64, 256}, Acts: []string{"relu"},
		Epochs: 2, Optimizer: "adam", Seed: 1, Arch: "reference", ValSplit: 0.25, Shard: Shard{N: 1}}
	n := spec.MNISTCounts()
	if n != (Counts{45000, 15000, 60000, 10000}) {
		t.Fatalf("MNISTCounts = %+v, want 45000 training and 15000 validation images a run, 60000 and 10000 for the final", n)
	}
	if st, runs, err := spec.FinishedTimes(dir, n); st != nil || runs != 0 || err != nil {
		t.Fatalf("FinishedTimes of an empty folder = %v, %d, %v; want nothing", st, runs, err)
	}
	// One run finished: lr 0.001, batch 64. Its 704 steps an epoch took
	// 7.04 s (0.01 s each), its 15,000 validation images 1.5 s (0.1 ms
	// each), and the run 1 s besides.
	c := Config{LR: 0.001, BatchSize: 64, Act: "relu"}
	r := &Run{Config: c, Study: spec.RunKey(), Recipe: spec.RecipeLabel(), Done: true, Seconds: 2*(7.04+1.5) + 1}
	for e := 1; e <= 2; e++ {
		r.Epochs = append(r.Epochs, engine.EpochMetrics{Epoch: e, TrainLoss: 0.5, TrainAcc: 0.9, ValLoss: 0.4, ValAcc: 0.9,
			Seconds: 7.04, ImagesPerSec: 45000 / 7.04, Images: 45000, ValSeconds: 1.5})
	}
	if err := r.Save(RunPath(dir, c, 0, 0)); err != nil {
		t.Fatal(err)
	}
	st, runs, err := spec.FinishedTimes(dir, n)
	if err != nil || runs != 1 {
		t.Fatalf("FinishedTimes = %d runs, %v; want 1", runs, err)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*max(1, math.Abs(want)) {
			t.Errorf("%s = %.9g, want %.9g", what, got, want)
		}
	}
	near("the step at batch 64", st.Train[64], 0.01)
	near("validating an image", st.Eval, 1e-4)
	near("a run's time besides its epochs", st.Run, 1)
	// Batch 256, not finished: by the cost model, (128+256)/(128+64)
	// times batch 64's step.
	near("the step at batch 256", st.step(256), 0.02)

	// Five runs left on two engines, costliest (batch 64) first: 18.08 s
	// a run at batch 64 (1 + 2·(704·0.01 + 1.5)), 11.04 s at batch 256
	// (176 steps: 1 + 2·(176·0.02 + 1.5)). Dealt: 18.08 and 18.08, then 11.04 to each, then
	// 11.04 to the first: 40.16 s.
	p, err := spec.PlanTime(dir, 2, st, st, n)
	if err != nil {
		t.Fatal(err)
	}
	if p.Runs != 5 {
		t.Errorf("runs left = %d, want 5", p.Runs)
	}
	near("the time left", p.Left.Seconds(), 40.16)
	// The final retraining: 60,000 images, no validation, then 10,000
	// test images: at batch 256 1 + 2·235·0.02 + 1 = 11.4 s; at 64, 1 +
	// 2·938·0.01 + 1 = 20.76 s.
	near("the final retraining at best", p.FinalMin.Seconds(), 11.4)
	near("the final retraining at worst", p.FinalMax.Seconds(), 20.76)
	// One engine: every run after the other.
	if p, _ := spec.PlanTime(dir, 1, st, st, n); math.Abs(p.Left.Seconds()-(2*18.08+3*11.04)) > 1e-6 {
		t.Errorf("the time left on one engine = %v, want %v", p.Left, time.Duration((2*18.08+3*11.04)*float64(time.Second)))
	}
	// A record from before val_seconds was kept: what the run took
	// besides its training is its validation, not a cost of every run
	// (nor of the final retraining, which validates nothing).
	old := *r
	old.Epochs = nil
	for _, e := range r.Epochs {
		e.ValSeconds = 0
		old.Epochs = append(old.Epochs, e)
	}
	old.Seconds = 2*7.04 + 3
	if err := old.Save(RunPath(dir, c, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if st, _, err := spec.FinishedTimes(dir, n); err != nil || math.Abs(st.Eval-1e-4) > 1e-12 || st.Run != 0 {
		t.Errorf("FinishedTimes of a record without val_seconds: %+v, %v; want 0.1 ms an image validated and nothing besides", st, err)
	}
	// Records whose times are all 0 give no pace.
	zero := old
	zero.Epochs = nil
	for _, e := range old.Epochs {
		e.Seconds, e.ImagesPerSec = 0, 0
		zero.Epochs = append(zero.Epochs, e)
	}
	zero.Seconds = 0
	if err := zero.Save(RunPath(dir, c, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if st, runs, err := spec.FinishedTimes(dir, n); st != nil || runs != 0 || err != nil {
		t.Errorf("FinishedTimes of a record of 0 seconds = %+v, %d, %v; want no pace", st, runs, err)
	}
	// A run file that is not this study's is refused, as the run would.
	other := *r
	other.Config.LR = 0.003
	if err := other.Save(RunPath(dir, Config{LR: 0.01, BatchSize: 64, Act: "relu"}, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := spec.FinishedTimes(dir, n); err == nil {
		t.Errorf("FinishedTimes took %s, a run of another configuration", filepath.Join(dir, "runs"))
	}
}
