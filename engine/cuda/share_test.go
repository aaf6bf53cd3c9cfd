//go:build cgo && !windows

// share_test.go: one engine's upload of the training images read by
// another engine on the same device (engine.Sharer), as the study does
// with several trainings per GPU. On the emulated device, in each variant
// and with every kernel's buffers checked against what its op declared: a
// training (warm-up, recording, replays) and its validation on engine b
// over engine a's upload give the same figures, to the bit, as on an
// engine with its own upload; b's recordings note a's memory, and go with
// the training. The emulated device has one stream, so what orders the
// upload before b's work (a's Sync) is the caller's, which only a GPU can
// show: there, two engines train at once over a third's upload and agree
// with a training over its own. With the fake driver: the real device's
// engines share on one GPU only.

package cuda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/internal/fakecuda"
)

// borrowed is an emulated device that several engines use and the test
// closes (an engine's Close would close it).
type borrowed struct{ *emuGPU }

func (borrowed) Close() error { return nil }

func TestEmulatedSharedDataset(t *testing.T) {
	const n = 64
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			g := newEmuGPU(t)
			open := func(dev gpu) *Engine {
				e := newEngine(dev, false, v.own)
				v.configure(e)
				return e
			}
			a, b := open(borrowed{g}), open(borrowed{g})
			other := newEmulated(t, v)
			c := cpu.New(1)
			defer c.Close()
			if !a.SharesWith(b) || !b.SharesWith(a) || !a.SharesWith(a) || a.SharesWith(other) || other.SharesWith(a) || a.SharesWith(c) {
				t.Fatal("SharesWith: want true on one device only")
			}
			d := randomDataset(t, a, n, 1, 2)
			if err := a.Sync(); err != nil {
				t.Fatal(err)
			}
			shared := train(t, b, d)
			// What b recorded notes a's images (so that b's Free of memory
			// reusing them would drop it), and went when the training ended.
			if len(b.touched) != 0 || len(b.graphs) != 0 {
				t.Errorf("b holds %d recordings after training", len(b.graphs))
			}
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			d.Release(a)
			own := randomDataset(t, other, n, 1, 2)
			alone := train(t, other, own)
			own.Release(other)
			if !slices.Equal(shared, alone) {
				t.Errorf("training on another engine's upload: %v; on its own: %v", shared, alone)
			}
			for _, e := range []*Engine{a, b, other} {
				if err := e.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if len(g.violations) > 0 || len(g.leaks) > 0 {
				t.Errorf("emulated device: misuse %q, left alive %v", g.violations, g.leaks)
			}
		})
	}
}

// train runs an epoch at batch 16 (warm-up, recording, replay) on e over
// d's first 48 images, validating on the other 16 (one batch of the same
// size, so that the buffers do not grow, which drops the recordings),
// checks that a recording made in the epoch notes d's images, and returns
// the epoch's figures.
func train(t *testing.T, e *Engine, d *engine.Dataset) []float64 {
	t.Helper()
	arch, _ := engine.NewArch("reference", engine.ReLU)
	m, err := engine.NewModel(e, arch, goldenOpts[0], arch.GlorotInit(3))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	all := engine.AllIndices(d.N)
	images := regionOf(d.Images)
	var out []float64
	tr := &engine.Trainer{M: m, Data: d, TrainIdx: all[:48], ValIdx: all[48:], Epochs: 1, BatchSize: 16, Seed: 5,
		OnEpoch: func(em engine.EpochMetrics, _ engine.Position) error {
			if em.Epoch == 1 {
				notes := false
				for _, rs := range e.touched {
					notes = notes || slices.ContainsFunc(rs, func(r region) bool { return r.lo < images.hi && images.lo < r.hi })
				}
				if len(e.graphs) == 0 || !notes {
					t.Errorf("after an epoch: %d recordings, noting the images: %v", len(e.graphs), notes)
				}
			}
			out = append(out, em.TrainLoss, em.TrainAcc, em.ValLoss, em.ValAcc)
			return nil
		}}
	if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFakeShareOneGPU: on the real bindings, engines share on one GPU and
// not across two.
func TestFakeShareOneGPU(t *testing.T) {
	r := fakecuda.Run(t, "share", "")
	r.Clean(t)
}

// fakeShare opens two engines on GPU 0 and one on GPU 1 and checks which
// share.
func fakeShare() (err error) {
	var es []*Engine
	defer func() {
		for _, e := range es {
			if cerr := e.Close(); err == nil {
				err = cerr
			}
		}
	}()
	for _, id := range []int{0, 0, 1} {
		e, err := New(id, false)
		if err != nil {
			return err
		}
		es = append(es, e)
	}
	if !es[0].SharesWith(es[1]) || !es[1].SharesWith(es[0]) {
		return errors.New("two engines on GPU 0 do not share")
	}
	if es[0].SharesWith(es[2]) || es[2].SharesWith(es[1]) {
		return errors.New("engines on GPUs 0 and 1 share")
	}
	return nil
}

// TestGPUSharedDataset: on GPU 0, engines b and c train at once, each on
// its own goroutine, over engine a's upload (synced before they start);
// each agrees with the same training on an engine with its own upload
// (within 0.01: cuDNN's choices, timed in place, may differ between
// engines), and every engine syncs and closes without an error.
func TestGPUSharedDataset(t *testing.T) {
	needGPU(t)
	tk := trainingTask(t)
	open := func() *Engine {
		e, err := New(0, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return e
	}
	a, b, c := open(), open(), open()
	if !b.SharesWith(a) || !c.SharesWith(a) {
		t.Fatal("engines on GPU 0 do not share")
	}
	d, err := engine.UploadDataset(a, tk.img, tk.lab)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([][]float64, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, e := range []*Engine{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = trainGPU(e, d)
			if err := e.Sync(); errs[i] == nil {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	d.Release(a)
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	alone := open()
	own, err := engine.UploadDataset(alone, tk.img, tk.lab)
	if err != nil {
		t.Fatal(err)
	}
	want, err := trainGPU(alone, own)
	own.Release(alone)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if errs[i] != nil {
			t.Errorf("engine %d over another's upload: %v", i+1, errs[i])
			continue
		}
		for k := range want {
			if math.IsNaN(got[i][k]) || math.Abs(got[i][k]-want[k]) > 0.01 {
				t.Errorf("engine %d over another's upload: %v; over its own: %v", i+1, got[i], want)
				break
			}
		}
	}
}

// trainGPU runs two epochs at batch 128 on e over d's first 2,048 images,
// validating on the next 512, and returns each epoch's figures.
func trainGPU(e *Engine, d *engine.Dataset) ([]float64, error) {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	m, err := engine.NewModel(e, arch, goldenOpts[0], arch.GlorotInit(3))
	if err != nil {
		return nil, err
	}
	defer m.Release()
	all := engine.AllIndices(d.N)
	if d.N < 2560 {
		return nil, fmt.Errorf("%d images, want 2,560", d.N)
	}
	var out []float64
	tr := &engine.Trainer{M: m, Data: d, TrainIdx: all[:2048], ValIdx: all[2048:2560], Epochs: 2, BatchSize: 128, Seed: 5,
		OnEpoch: func(em engine.EpochMetrics, _ engine.Position) error {
			out = append(out, em.TrainLoss, em.TrainAcc, em.ValLoss, em.ValAcc)
			return nil
		}}
	_, err = tr.Run(context.Background(), engine.Position{})
	return out, err
}
