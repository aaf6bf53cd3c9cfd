//go:build cgo && !windows

// invariants_test.go: the engine's rules that used to be held by
// convention, checked on the emulated device: Free drops the recordings
// that use the memory it frees (and only those); scratch never grows
// during a recording (refused with an error, not allocated); cuDNN
// searches a direction of a convolution when it is first used, so that
// inference never searches the backward ones, and serving requests of
// many sizes searches the forward direction once a size; events and
// recordings are released once.

package cuda

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

// TestFreeDropsRecordings: freeing a tensor a recorded step uses drops
// that recording (a replay would read freed memory: the emulated device
// reports it), freeing another keeps it.
func TestFreeDropsRecordings(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			w := newWalkRun(t, v, emuFault{}, false)
			defer func() {
				if err := w.release(); err != nil {
					t.Error(err)
				}
			}()
			if err := w.setup(); err != nil {
				t.Fatal(err)
			}
			e := w.e
			perm, cursor, stats, other := mustAlloc(t, e, engine.Int32, w.d.N), mustAlloc(t, e, engine.Int32, 1), mustAlloc(t, e, engine.Float32, 3), mustAlloc(t, e, engine.Float32, 3)
			if err := e.Write(perm, 0, engine.AllIndices(w.d.N)); err != nil {
				t.Fatal(err)
			}
			step := func(stats engine.Tensor) error {
				b := engine.Batch{Images: w.d.Images, Labels: w.d.Labels, Perm: perm, Cursor: cursor}
				if err := e.Write(cursor, 0, []int32{0}); err != nil {
					return err
				}
				var serr error
				err := engine.Run(e, 2, func() { serr = w.m.TrainStep(b, 2, stats) })
				return errors.Join(err, serr, e.Sync())
			}
			for range 3 { // warm-up, recording, replay
				if err := step(stats); err != nil {
					t.Fatal(err)
				}
			}
			if _, ok := e.graphs[2]; !ok {
				t.Fatal("no recording after three steps")
			}
			e.Free(other)
			if _, ok := e.graphs[2]; !ok {
				t.Error("Free of a tensor the recording does not use dropped it")
			}
			e.Free(stats)
			if _, ok := e.graphs[2]; ok {
				t.Fatal("Free of a tensor the recording uses kept it")
			}
			stats = mustAlloc(t, e, engine.Float32, 3)
			for range 3 {
				if err := step(stats); err != nil {
					t.Fatal(err)
				}
			}
			if len(w.g.violations) > 0 {
				t.Errorf("the emulated device saw: %q", w.g.violations)
			}
			for _, x := range []engine.Tensor{perm, cursor, stats} {
				e.Free(x)
			}
		})
	}
}

func mustAlloc(t *testing.T, e *Engine, dt engine.DType, n int) engine.Tensor {
	t.Helper()
	x, err := e.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestNoGrowthDuringRecording: a step whose recording would need more
// scratch than its warm-up sized (a step that differs between calls, which
// the engine's callers never make) fails with an error that says so, and
// allocates nothing while recording.
func TestNoGrowthDuringRecording(t *testing.T) {
	w := newWalkRun(t, variants[0], emuFault{}, false)
	defer w.release()
	e := w.e
	const n, in, out = 2, 40, 40
	ts := make([]engine.Tensor, 7)
	for i, k := range []int{n * in, out * in, n * out, n * out, n * in, out * in, out} {
		ts[i] = mustAlloc(t, e, engine.Float32, k)
	}
	defer func() {
		for _, x := range ts {
			e.Free(x)
		}
	}()
	// The first two calls (a warm-up that allocates dz, which drops what
	// the engine knew of the key, and a second warm-up) use one shape;
	// the third, the recording, another, whose dz the warm-ups did not
	// allocate.
	calls := 0
	fn := func() {
		s := engine.DenseShape{N: n, In: in, Out: out}
		if calls++; calls == 3 {
			s.In = in / 2
		}
		e.DenseBackward(ts[0], ts[1], ts[2], ts[3], ts[4], ts[5], ts[6], s, engine.ReLU)
	}
	for i := range 2 {
		if err := e.Replay(1, fn); err != nil {
			t.Fatalf("warm-up %d: %v", i+1, err)
		}
	}
	if _, ok := e.graphs[1]; ok {
		t.Fatal("recorded before the third call")
	}
	err := e.Replay(1, fn)
	if err == nil || !strings.Contains(err.Error(), "scratch grown during a graph recording") {
		t.Errorf("recording a step that grows scratch: %v, want an error saying scratch grew during a recording", err)
	}
	if len(w.g.violations) > 0 {
		t.Errorf("the emulated device saw: %q", w.g.violations)
	}
	// The failed recording is not kept: the next calls warm up and
	// record again.
	for i := range 3 {
		if err := e.Replay(1, fn); err != nil {
			t.Errorf("call %d after the failed recording: %v", i+1, err)
		}
	}
	if _, ok := e.graphs[1]; !ok {
		t.Error("no recording after the failed one")
	}
}

// TestSearchOnFirstUse: evaluation and prediction search the forward
// direction of each convolution shape they use and never the backward
// ones; training then searches those, once a shape; serving requests of
// 1 to 8 images searches the forward direction once a batch size.
func TestSearchOnFirstUse(t *testing.T) {
	for _, v := range variants[:2] { // library: both convolutions on cuDNN; own: conv2
		t.Run(v.name, func(t *testing.T) {
			w := newWalkRun(t, v, emuFault{}, false)
			defer w.release()
			if err := w.setup(); err != nil {
				t.Fatal(err)
			}
			convs := 2 // on cuDNN, per batch size
			if v.own {
				convs = 1
			}
			if _, err := engine.Evaluate(w.m, w.d, engine.AllIndices(walkBatch), walkBatch, false); err != nil {
				t.Fatal(err)
			}
			if want := [3]int{convs, 0, 0}; w.g.finds != want {
				t.Errorf("after an evaluation at one batch size: searches by direction %v, want %v", w.g.finds, want)
			}
			img, _ := walkImages()
			for n := 1; n <= 8; n++ {
				x := make([]float32, n*engine.ImagePixels)
				for i := range x {
					x[i] = float32(img[i]) / 255
				}
				if _, err := w.m.Predict(x); err != nil {
					t.Fatal(err)
				}
			}
			// Batch size 4 was searched by the evaluation.
			if want := [3]int{8 * convs, 0, 0}; w.g.finds != want {
				t.Errorf("after requests of 1 to 8 images: searches by direction %v, want %v", w.g.finds, want)
			}
			if got := strings.Count(w.e.ConvAlgorithms(), "|") + 1; got != 8*convs {
				t.Errorf("%d plans, want %d (one a shape)", got, 8*convs)
			}
			tr := &engine.Trainer{M: w.m, Data: w.d, TrainIdx: engine.AllIndices(3 * walkBatch), Epochs: 1, BatchSize: walkBatch, Seed: 1}
			if _, err := tr.Run(t.Context(), engine.Position{}); err != nil {
				t.Fatal(err)
			}
			// conv2 at batch 4: filter and data gradients; conv1 (library
			// only): the filter gradient (no data gradient for the input).
			want := [3]int{8 * convs, 1, convs}
			if w.g.finds != want {
				t.Errorf("after training at batch %d: searches by direction %v, want %v", walkBatch, w.g.finds, want)
			}
		})
	}
}
