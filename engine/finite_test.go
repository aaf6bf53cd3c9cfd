// finite_test.go: a diverging run stops within a step of its loss turning
// non-finite (CPU engine), without recording the epoch; a later epoch's
// divergence leaves the earlier epochs' records; checkpoints with NaN or
// infinite values are neither saved nor loaded.

package engine_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
)

func TestDivergenceStopsWithinAStep(t *testing.T) {
	e := cpu.New(0)
	defer e.Close()
	tr, m := newTrainer(t, e, engine.ReLU, 1, 3, 320) // 10 steps an epoch
	m.Opt.LR = 1e9
	steps := 0
	tr.ProgressEvery, tr.OnProgress = 1, func(engine.Progress) { steps++ }
	epochs := 0
	tr.OnEpoch = func(engine.EpochMetrics, engine.Position) error { epochs++; return nil }
	_, err := tr.Run(context.Background(), engine.Position{})
	var de *engine.DivergedError
	if !errors.As(err, &de) || !errors.Is(err, engine.ErrDiverged) {
		t.Fatalf("Run with lr 1e9: %v, want a *DivergedError", err)
	}
	// Step 1's loss is finite (the initial weights); its update blows the
	// weights up, so step 2's loss is the first non-finite one.
	if de.Epoch != 1 || de.Step > 2 || epochs != 0 || steps > 1 || !strings.Contains(err.Error(), "epoch 1") {
		t.Errorf("stopped at epoch %d step %d after %d progress reports and %d epochs (%v); want epoch 1, step 2 at most, no epoch recorded",
			de.Epoch, de.Step, steps, epochs, err)
	}
}

func TestDivergenceInALaterEpoch(t *testing.T) {
	e := cpu.New(0)
	defer e.Close()
	tr, m := newTrainer(t, e, engine.ReLU, 1, 3, 320)
	var kept *engine.Checkpoint
	tr.OnEpoch = func(em engine.EpochMetrics, pos engine.Position) error {
		ck, err := engine.Snapshot(m, engine.TrainConfig{Epochs: 3, BatchSize: 32}, pos, nil)
		if err != nil {
			return err
		}
		kept = ck
		m.Opt.LR = 1e9 // epoch 2 diverges
		return nil
	}
	_, err := tr.Run(context.Background(), engine.Position{})
	var de *engine.DivergedError
	if !errors.As(err, &de) || de.Epoch != 2 || de.Step > 2 {
		t.Fatalf("Run: %v, want divergence at epoch 2, step 2 at most", err)
	}
	if kept == nil || kept.Position.Epoch != 1 || kept.CheckFinite() != nil {
		t.Fatalf("the epoch-1 snapshot: %+v", kept)
	}
	// The model itself is now non-finite: its snapshot is refused by Save.
	bad, err := engine.Snapshot(m, engine.TrainConfig{Epochs: 3, BatchSize: 32}, engine.Position{Epoch: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := kept.Save(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := bad.Save(path); !errors.Is(err, engine.ErrNonFinite) {
		t.Errorf("Save of a diverged model: %v, want ErrNonFinite", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a refused Save changed the file")
	}
}

func TestNonFiniteCheckpointIsRefusedOnLoad(t *testing.T) {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		ck := &engine.Checkpoint{Arch: arch, Opt: adam, Params: arch.GlorotInit(1)}
		ck.Params[12345] = v
		b, err := ck.Encode()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "nan.safetensors")
		os.WriteFile(path, b, 0o644)
		_, err = engine.LoadCheckpoint(path)
		if !errors.Is(err, engine.ErrNonFinite) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "conv2.weight holds") {
			t.Errorf("loading a checkpoint holding %v: %v", v, err)
		}
	}
}
