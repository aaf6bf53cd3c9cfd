//go:build cgo && !windows

// diverge_test.go: on the GPU engine (here on the emulated device, with
// the step recorded as a graph), Trainer.Run reads the running loss every
// engine.DivergenceCheckSteps steps rather than after each one (a read
// waits for the device), and still stops a diverging run at the first
// check after its loss turns non-finite, saving nothing.

package cuda

import (
	"context"
	"errors"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

func TestEmulatedDivergenceStopsAtTheFirstCheck(t *testing.T) {
	e := newEmulated(t, variants[0])
	defer e.Close()
	tk := trainingTask(t)
	const bs = 4
	n := (engine.DivergenceCheckSteps + 8) * bs // an epoch longer than one check
	arch, _ := engine.NewArch("reference", engine.ReLU)
	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam, LR: 1e9, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, arch.GlorotInit(1))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := engine.UploadDataset(e, tk.img[:n*engine.ImagePixels], tk.lab[:n])
	if err != nil {
		t.Fatal(err)
	}
	epochs := 0
	tr := &engine.Trainer{M: m, Data: ds, TrainIdx: engine.AllIndices(n), Epochs: 3, BatchSize: bs, Seed: 1,
		OnEpoch: func(engine.EpochMetrics, engine.Position) error { epochs++; return nil }}
	_, err = tr.Run(context.Background(), engine.Position{})
	var de *engine.DivergedError
	if !errors.As(err, &de) {
		t.Fatalf("Run with lr 1e9: %v, want a *DivergedError", err)
	}
	if de.Epoch != 1 || de.Step != engine.DivergenceCheckSteps || epochs != 0 {
		t.Errorf("stopped at epoch %d, step %d, after %d epochs; want epoch 1, step %d (the first check), none recorded",
			de.Epoch, de.Step, epochs, engine.DivergenceCheckSteps)
	}
}
