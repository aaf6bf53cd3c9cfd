//go:build cgo && !windows

// later_test.go: a training's checkpoints read back beside the next epoch
// (engine.SnapshotBeside on the engine's ReadLater), on the emulated
// device: each lands, on the writer's goroutine, bit for bit as a
// read-back that waits at the epoch's end; a copy that fails where it is
// waited for fails the checkpoint's write, not the training.

package cuda

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

// TestEmulatedCheckpointsBeside trains three epochs with Adam's moments
// read back as SnapshotBeside queues them and written by a
// CheckpointWriter while the next epoch trains, in the default variant and
// a two-stream one: every file written holds the model as a read-back
// made at its epoch's end (Snapshot, which waits) holds it, and the step
// count of that epoch; the run's steps are recorded and replayed as
// without it; Close leaves nothing alive.
func TestEmulatedCheckpointsBeside(t *testing.T) {
	for _, v := range []variant{variants[0], variants[2]} {
		t.Run(v.name, func(t *testing.T) {
			g, e, m := newEmuModel(t, v)
			d := randomDataset(t, e, 40, 3, 4) // 3 steps of 16 an epoch, the last of 8
			tr := &engine.Trainer{M: m, Data: d, TrainIdx: engine.AllIndices(d.N), Epochs: 3, BatchSize: 16, Seed: 1}
			w := engine.NewCheckpointWriter()
			dir := t.TempDir()
			var refs []*engine.Checkpoint
			cfg := engine.TrainConfig{Epochs: 3, BatchSize: 16, Seed: 1}
			tr.OnEpoch = func(_ engine.EpochMetrics, pos engine.Position) error {
				if _, err := w.Wait(); err != nil {
					return err
				}
				ck, err := engine.SnapshotBeside(w.Spare(), m, cfg, pos, nil, true)
				if err != nil {
					return err
				}
				w.Start(ck, filepath.Join(dir, filepath.Base(t.Name())+string(rune('0'+pos.Epoch))+".safetensors"))
				// The reference: a read-back that waits, queued after
				// the one beside (the same state: nothing ran between).
				ref, err := engine.Snapshot(m, cfg, pos, nil)
				refs = append(refs, ref)
				return err
			}
			if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Wait(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			for i, ref := range refs {
				got, err := engine.LoadCheckpoint(filepath.Join(dir, filepath.Base(t.Name())+string(rune('1'+i))+".safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				if got.Step != ref.Step || got.Step != float32(3*(i+1)) {
					t.Errorf("epoch %d: step count %v, the read-back's %v, want %d", i+1, got.Step, ref.Step, 3*(i+1))
				}
				for _, c := range []struct {
					name      string
					got, want []float32
				}{{"weights", got.Params, ref.Params}, {"first moments", got.S1, ref.S1}, {"second moments", got.S2, ref.S2}} {
					if len(c.got) != len(c.want) {
						t.Fatalf("epoch %d: %d %s, want %d", i+1, len(c.got), c.name, len(c.want))
					}
					for j := range c.got {
						if math.Float32bits(c.got[j]) != math.Float32bits(c.want[j]) {
							t.Errorf("epoch %d: %s[%d] written %v, read back at the epoch's end %v", i+1, c.name, j, c.got[j], c.want[j])
							break
						}
					}
				}
			}
			if g.copyLanes != 1 || len(g.violations) > 0 {
				t.Errorf("%d copy lanes made (want 1), misuse %q", g.copyLanes, g.violations)
			}
			m.Release()
			d.Release(e)
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if l := g.live(); len(l) > 0 {
				t.Errorf("left alive after Close: %v", l)
			}
		})
	}
}

// TestEmulatedCheckpointBesideFails: a copy to the host that fails where
// the writer waits for it fails that checkpoint's write with the
// engine's error, leaving the file as it was, while the engine trains on.
func TestEmulatedCheckpointBesideFails(t *testing.T) {
	tr := newEmuTraining(t, variants[0], 8, 4)
	tr.step()
	tr.g.fetchErr = &Error{Err: errors.New("emulated copy failure"), Hint: hintOther}
	w := engine.NewCheckpointWriter()
	defer w.Close()
	ck, err := engine.SnapshotBeside(nil, tr.m, engine.TrainConfig{Epochs: 1, BatchSize: 8}, engine.Position{Epoch: 1}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	w.Start(ck, path)
	tr.step()
	if _, err := w.Wait(); err == nil || !errors.Is(err, tr.g.fetchErr) {
		t.Errorf("the write of a checkpoint whose copy failed: %v, want the copy's error", err)
	}
	if _, err := engine.LoadCheckpoint(path); err == nil {
		t.Error("a checkpoint whose copy failed was written")
	}
	tr.step()
}
