// ckwriter_test.go: CheckpointWriter writes each checkpoint whole and in
// order, reports a failed write at Wait with the file before it kept,
// hands back the last one written for reuse, and SnapshotInto reuses its
// buffers.

package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
)

func TestCheckpointWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	w := engine.NewCheckpointWriter()
	defer w.Close()
	if ck, err := w.Wait(); ck != nil || err != nil {
		t.Fatalf("Wait with nothing in flight: %v, %v", ck, err)
	}
	c, _ := testCheckpoint(t)
	for epoch := 1; epoch <= 3; epoch++ {
		next := *c
		next.Position = engine.Position{Epoch: epoch}
		w.Start(&next, path)
		if w.Spare() != nil {
			t.Error("Spare handed over a checkpoint while a write is in flight")
		}
		got, err := w.Wait()
		if err != nil || got != &next {
			t.Fatalf("epoch %d: Wait: %v, %v", epoch, got, err)
		}
		back, err := engine.LoadCheckpoint(path)
		if err != nil || back.Position.Epoch != epoch || !slices.Equal(back.Params, c.Params) {
			t.Fatalf("epoch %d: the file holds %+v, %v", epoch, back, err)
		}
	}
	if w.Spare() == nil || w.Spare() != nil {
		t.Error("Spare: want the last checkpoint written once, then nil")
	}
	// A write that cannot be done: the error at Wait, the file before it kept.
	before, _ := os.ReadFile(path)
	bad := engine.NewCheckpointWriter()
	defer bad.Close()
	bad.Start(c, filepath.Join(dir, "m.safetensors", "below"))
	if _, err := bad.Wait(); err == nil || !strings.Contains(err.Error(), "m.safetensors") {
		t.Errorf("a write below a file: %v, want an error naming the path", err)
	}
	if bad.Spare() != nil {
		t.Error("a failed write was handed over as written")
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the file changed")
	}
	// Start with a write in flight is a programmer's error.
	w.Start(c, path)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a second Start with a write in flight did not panic")
			}
		}()
		w.Start(c, path)
	}()
	w.Wait()
}

// TestSnapshotIntoReuses: SnapshotInto reads into the buffers of a
// checkpoint of the same model, and into new ones where their lengths
// differ.
func TestSnapshotIntoReuses(t *testing.T) {
	m, arch := cpuModel(t)
	first, err := engine.SnapshotInto(nil, m, engine.TrainConfig{}, engine.Position{Epoch: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(first.Params)
	first.Params[0], first.S1[0] = 42, 42 // scribbled over: read again
	second, err := engine.SnapshotInto(first, m, engine.TrainConfig{}, engine.Position{Epoch: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if &second.Params[0] != &first.Params[0] || &second.S1[0] != &first.S1[0] || &second.S2[0] != &first.S2[0] {
		t.Error("the buffers were not reused")
	}
	if !slices.Equal(second.Params, want) || second.S1[0] != 0 || second.Position.Epoch != 2 || first.Position.Epoch != 1 {
		t.Errorf("snapshot into reused buffers: params equal %v, s1[0] %v, positions %v %v",
			slices.Equal(second.Params, want), second.S1[0], second.Position, first.Position)
	}
	short := &engine.Checkpoint{Params: make([]float32, 3)}
	third, err := engine.SnapshotInto(short, m, engine.TrainConfig{}, engine.Position{}, nil)
	if err != nil || len(third.Params) != arch.NumParams() || !slices.Equal(third.Params, want) {
		t.Errorf("snapshot into buffers of other lengths: %v", err)
	}
}

// TestCheckpointWriterPrepare: Prepare's buffers are the first Spare,
// of the model's lengths, and the first snapshot reads into them; with a
// checkpoint written before, the writer keeps handing that over instead.
func TestCheckpointWriterPrepare(t *testing.T) {
	m, arch := cpuModel(t)
	w := engine.NewCheckpointWriter()
	defer w.Close()
	w.Prepare(m, true)
	w.Prepare(m, true) // once
	sp := w.Spare()
	if sp == nil || len(sp.Params) != arch.NumParams() || len(sp.S1) != arch.NumParams() || len(sp.S2) != arch.NumParams() {
		t.Fatalf("Spare after Prepare: %+v", sp)
	}
	if w.Spare() != nil {
		t.Error("Prepare's buffers handed over twice")
	}
	ck, err := engine.SnapshotInto(sp, m, engine.TrainConfig{}, engine.Position{Epoch: 1}, nil)
	if err != nil || &ck.Params[0] != &sp.Params[0] || &ck.S2[0] != &sp.S2[0] {
		t.Fatalf("the first snapshot did not read into Prepare's buffers: %v", err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	w.Start(ck, path)
	if _, err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	w.Prepare(m, true) // a checkpoint written before is the spare: nothing new
	if got := w.Spare(); got != ck {
		t.Errorf("Spare after a write and Prepare: %p, want the checkpoint written (%p)", got, ck)
	}
}

// cpuModel is the original model with Adam on a one-thread CPU engine,
// released when the test ends.
func cpuModel(t *testing.T) (*engine.Model, engine.Arch) {
	t.Helper()
	e := cpu.New(1)
	t.Cleanup(func() { e.Close() })
	arch, _ := engine.NewArch("original", engine.ReLU)
	m, err := engine.NewModel(e, arch, adam, arch.GlorotInit(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Release)
	return m, arch
}

// TestWeightsOnlySnapshotKeepsItsBuffers: a weights-only snapshot holds
// no moments, keeps those of the checkpoint it read into, and the next
// full snapshot reads into them; Prepare without moments makes the
// weights' buffers alone.
func TestWeightsOnlySnapshotKeepsItsBuffers(t *testing.T) {
	m, arch := cpuModel(t)
	full, err := engine.SnapshotInto(nil, m, engine.TrainConfig{}, engine.Position{Epoch: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(full.S1)
	weights, err := engine.SnapshotWeightsInto(full, m, engine.TrainConfig{}, engine.Position{Epoch: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if weights.S1 != nil || weights.S2 != nil || &weights.Params[0] != &full.Params[0] {
		t.Fatalf("weights-only snapshot: moments %v %v, params reused %v", weights.S1 != nil, weights.S2 != nil, &weights.Params[0] == &full.Params[0])
	}
	again, err := engine.SnapshotWeightsInto(weights, m, engine.TrainConfig{}, engine.Position{Epoch: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := engine.SnapshotInto(again, m, engine.TrainConfig{}, engine.Position{Epoch: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if &next.S1[0] != &full.S1[0] || &next.S2[0] != &full.S2[0] || !slices.Equal(next.S1, want) {
		t.Error("the full snapshot after two weights-only ones did not read the moments into the first one's buffers")
	}
	w := engine.NewCheckpointWriter()
	defer w.Close()
	w.Prepare(m, false)
	sp := w.Spare()
	if sp == nil || len(sp.Params) != arch.NumParams() || sp.S1 != nil || sp.S2 != nil {
		t.Fatalf("Prepare without moments: %+v", sp)
	}
}

// gatedReader is the CPU engine with engine.LaterReader: ReadLater copies
// at once into buffers of its own, and wait delivers them once release is
// closed (a GPU's copies, landing later), or fails with err.
type gatedReader struct {
	*cpu.Engine
	release chan struct{}
	err     error
	calls   int
}

func (g *gatedReader) ReadLater(srcs []engine.Tensor, dsts [][]float32) (func() error, error) {
	g.calls++
	held := make([][]float32, len(srcs))
	for i, s := range srcs {
		held[i] = make([]float32, s.Len())
		if err := g.Read(s, 0, held[i]); err != nil {
			return nil, err
		}
	}
	return func() error {
		<-g.release
		if g.err != nil {
			return g.err
		}
		for i := range held {
			copy(dsts[i], held[i])
		}
		return nil
	}, nil
}

// TestSnapshotBeside: on an engine that queues its work (LaterReader), a
// SnapshotBeside's checkpoint holds the step count and position at once,
// and its tensors only once they land: Encode (and so Save and a
// CheckpointWriter) waits for them, and the file is SnapshotInto's, with
// the weights only where asked; a copy that fails fails the write with
// its error, leaving the file before. On the CPU engine it is
// SnapshotInto.
func TestSnapshotBeside(t *testing.T) {
	g := &gatedReader{Engine: cpu.New(1), release: make(chan struct{})}
	defer g.Close()
	tr, m := newTrainer(t, g, engine.ReLU, 1, 1, 64)
	if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
		t.Fatal(err)
	}
	cfg := engine.TrainConfig{Epochs: 1, BatchSize: 32}
	pos := engine.Position{Epoch: 1}
	want, err := engine.Snapshot(m, cfg, pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes, _ := want.Encode()
	for _, state := range []bool{true, false} {
		ck, err := engine.SnapshotBeside(nil, m, cfg, pos, nil, state)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Step != want.Step || ck.Position != pos || (ck.S1 != nil) != state {
			t.Errorf("state %v: step %v, position %+v, moments %v; want %v, %+v, %v", state, ck.Step, ck.Position, ck.S1 != nil, want.Step, pos, state)
		}
		encoded := make(chan []byte)
		go func() {
			b, err := ck.Encode()
			if err != nil {
				t.Error(err)
			}
			encoded <- b
		}()
		var got []byte
		if state {
			select {
			case <-encoded:
				t.Fatal("Encode returned before the copies landed")
			case <-time.After(50 * time.Millisecond):
			}
			close(g.release)
		}
		got = <-encoded
		if state && !bytes.Equal(got, wantBytes) {
			t.Error("SnapshotBeside's file differs from Snapshot's")
		}
		if !state {
			w, _ := engine.Snapshot(m, cfg, pos, nil)
			w.S1, w.S2 = nil, nil
			if wb, _ := w.Encode(); !bytes.Equal(got, wb) {
				t.Error("SnapshotBeside without the state differs from Snapshot's weights")
			}
		}
	}
	// A copy that fails: the writer's error, the file before kept.
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := want.Save(path); err != nil {
		t.Fatal(err)
	}
	g.err = errors.New("the copy failed")
	w := engine.NewCheckpointWriter()
	defer w.Close()
	ck, err := engine.SnapshotBeside(nil, m, cfg, engine.Position{Epoch: 2}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	w.Start(ck, path)
	if _, err := w.Wait(); !errors.Is(err, g.err) || !errors.Is(err, engine.ErrReadBack) {
		t.Errorf("the write of a checkpoint whose copy failed: %v, want the copy's error as ErrReadBack", err)
	}
	if back, err := engine.LoadCheckpoint(path); err != nil || back.Position.Epoch != 1 {
		t.Errorf("the file after a failed copy: %+v, %v; want the one before", back, err)
	}
	if g.calls != 3 {
		t.Errorf("ReadLater called %d times, want 3", g.calls)
	}
	// The CPU engine queues nothing: SnapshotBeside reads at once.
	e := cpu.New(1)
	defer e.Close()
	m2, _ := engine.NewModel(e, m.Arch, m.Opt, m.Arch.GlorotInit(1))
	defer m2.Release()
	ck, err = engine.SnapshotBeside(nil, m2, cfg, pos, nil, true)
	if err != nil || ck.Landed() != nil || !slices.Equal(ck.Params, m.Arch.GlorotInit(1)) {
		t.Errorf("SnapshotBeside on the CPU engine: %v; the weights not read", err)
	}
}
