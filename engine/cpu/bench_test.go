// bench_test.go: benchmarks of each layer of the reference network and of
// one full training step at batch 128 on the CPU engine, plus a check that a
// warm training step allocates nothing.

package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

func benchModel(tb testing.TB, act engine.Activation, n int) (*Engine, *engine.Model, engine.Batch, engine.Tensor) {
	e := New(0)
	arch, err := engine.NewArch("reference", act)
	if err != nil {
		tb.Fatal(err)
	}
	opt := engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}
	m, err := engine.NewModel(e, arch, opt, arch.GlorotInit(1))
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const pool = 1024
	img := make([]uint8, pool*engine.ImagePixels)
	lab := make([]uint8, pool)
	for i := range img {
		if r.IntN(5) == 0 {
			img[i] = uint8(r.IntN(256))
		}
	}
	for i := range lab {
		lab[i] = uint8(r.IntN(10))
	}
	d, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		tb.Fatal(err)
	}
	perm, _ := e.Alloc(engine.Int32, pool)
	_ = e.Write(perm, 0, engine.AllIndices(pool))
	cursor, _ := e.Alloc(engine.Int32, 2) // position, epoch
	stats, _ := e.Alloc(engine.Float32, 3)
	return e, m, engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}, stats
}

func BenchmarkTrainStep128(b *testing.B) {
	for _, act := range []engine.Activation{engine.ReLU, engine.Sigmoid, engine.Tanh} {
		b.Run(act.String(), func(b *testing.B) { benchStep(b, act) })
	}
}

// benchStep times training steps at batch 128 with act.
func benchStep(b *testing.B, act engine.Activation) {
	e, m, batch, stats := benchModel(b, act, 128)
	defer e.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Fill(batch.Cursor, 0)
		if err := m.TrainStep(batch, 128, stats); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(128*float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkTrainStepKernels times the ReLU step at batch 128 with each
// kernel set this processor can run (the portable code, AVX2 6x16 alone,
// AVX-512 6x32, NEON, and AVX2 in arm64's configuration: see kernelSets),
// for ratios measured in one sitting.
func BenchmarkTrainStepKernels(b *testing.B) {
	for _, set := range kernelSets {
		b.Run(set, func(b *testing.B) {
			if !useKernels(b, set) {
				b.SkipNow()
			}
			benchStep(b, engine.ReLU)
		})
	}
}

func TestTrainStepDoesNotAllocate(t *testing.T) {
	for _, act := range []engine.Activation{engine.ReLU, engine.Sigmoid, engine.Tanh} {
		for _, shift := range []int{0, 2} { // the reference recipe, and augmented
			e, m, batch, stats := benchModel(t, act, 16)
			batch.Aug = engine.Augment{Shift: shift, Seed: 7}
			m.Opt.Sched = engine.NewSchedule(engine.CosineLR, 1000)
			step := func() {
				e.Fill(batch.Cursor, 0)
				if err := m.TrainStep(batch, 16, stats); err != nil {
					t.Fatal(err)
				}
			}
			step()
			// AllocsPerRun's average is whole: an allocation every step
			// shows as 1 or more, while the runtime's own occasional
			// allocations (a parked worker's sudog under a loaded
			// machine) average out over 20 steps.
			if a := testing.AllocsPerRun(20, step); a > 0 {
				t.Errorf("%v, shift %d: a warm training step allocates %v times, want 0", act, shift, a)
			}
			e.Close()
		}
	}
}

// layerBench times one op of the reference network at batch 128.
func layerBench(b *testing.B, fn func(e *Engine, t map[string]engine.Tensor)) {
	e := New(0)
	defer e.Close()
	arch, _ := engine.NewArch("reference", engine.ReLU)
	c1, p1, c2, p2, d1, _ := arch.Shapes(128)
	r := rand.New(rand.NewPCG(5, 5))
	mk := func(n int) engine.Tensor {
		t, _ := e.Alloc(engine.Float32, n)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64()) * 0.1
		}
		_ = e.Write(t, 0, v)
		return t
	}
	ts := map[string]engine.Tensor{
		"x": mk(128 * 784), "w1": mk(32 * 9), "b1": mk(32), "a1": mk(128 * 32 * 784),
		"p1": mk(128 * 32 * 196), "w2": mk(64 * 32 * 9), "b2": mk(64), "a2": mk(128 * 64 * 196),
		"p2": mk(128 * 3136), "w3": mk(1000 * 3136), "b3": mk(1000), "h": mk(128 * 1000),
		"d1": mk(128 * 32 * 784), "d2": mk(128 * 64 * 196), "dp1": mk(128 * 32 * 196), "dp2": mk(128 * 3136),
		"dh": mk(128 * 1000), "gw1": mk(32 * 9), "gb1": mk(32), "gw2": mk(64 * 32 * 9), "gb2": mk(64),
		"gw3": mk(1000 * 3136), "gb3": mk(1000),
	}
	arg1, _ := e.Alloc(engine.Int32, 128*32*196)
	arg2, _ := e.Alloc(engine.Int32, 128*3136)
	ts["arg1"], ts["arg2"] = arg1, arg2
	e.MaxPool(ts["a1"], ts["p1"], arg1, p1)
	e.MaxPool(ts["a2"], ts["p2"], arg2, p2)
	_, _, _ = c1, c2, d1
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fn(e, ts)
	}
	b.ReportMetric(128*float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkLayers128(b *testing.B) {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	c1, p1, c2, p2, d1, _ := arch.Shapes(128)
	act := engine.ReLU
	b.Run("conv1/forward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) { e.Conv(t["x"], t["w1"], t["b1"], t["a1"], c1, act) })
	})
	b.Run("conv1/backward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) {
			e.ConvBackward(t["x"], t["w1"], t["a1"], t["d1"], nil, t["gw1"], t["gb1"], c1, act)
		})
	})
	b.Run("pool1/forward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) { e.MaxPool(t["a1"], t["p1"], t["arg1"], p1) })
	})
	b.Run("pool1/backward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) { e.MaxPoolBackward(t["dp1"], t["arg1"], t["d1"], p1) })
	})
	b.Run("conv2/forward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) { e.Conv(t["p1"], t["w2"], t["b2"], t["a2"], c2, act) })
	})
	b.Run("conv2/backward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) {
			e.ConvBackward(t["p1"], t["w2"], t["a2"], t["d2"], t["dp1"], t["gw2"], t["gb2"], c2, act)
		})
	})
	b.Run("pool2/forward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) { e.MaxPool(t["a2"], t["p2"], t["arg2"], p2) })
	})
	// The fused ops the model uses in their place.
	b.Run("conv1+pool1/forward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) {
			e.ConvPool(t["x"], t["w1"], t["b1"], t["a1"], t["p1"], t["arg1"], c1, p1, act)
		})
	})
	b.Run("conv1+pool1/backward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) {
			e.ConvPoolBackward(t["x"], t["w1"], t["a1"], t["dp1"], t["arg1"], t["d1"], nil, t["gw1"], t["gb1"], c1, p1, act)
		})
	})
	b.Run("conv2+pool2/forward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) {
			e.ConvPool(t["p1"], t["w2"], t["b2"], t["a2"], t["p2"], t["arg2"], c2, p2, act)
		})
	})
	b.Run("conv2+pool2/backward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) {
			e.ConvPoolBackward(t["p1"], t["w2"], t["a2"], t["dp2"], t["arg2"], t["d2"], t["dp1"], t["gw2"], t["gb2"], c2, p2, act)
		})
	})
	b.Run("pool2/backward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) { e.MaxPoolBackward(t["dp2"], t["arg2"], t["d2"], p2) })
	})
	b.Run("fc1/forward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) { e.Dense(t["p2"], t["w3"], t["b3"], t["h"], d1, act) })
	})
	b.Run("fc1/backward", func(b *testing.B) {
		layerBench(b, func(e *Engine, t map[string]engine.Tensor) {
			e.DenseBackward(t["p2"], t["w3"], t["h"], t["dh"], t["dp2"], t["gw3"], t["gb3"], d1, act)
		})
	})
}

// BenchmarkAdam times one Adam update of the reference network's 3.2M
// parameters, with the assembly (AVX2's, or NEON's on arm64) and the
// portable loop.
func BenchmarkAdam(b *testing.B) {
	for _, asm := range []bool{false, true} {
		b.Run(fmt.Sprintf("asm=%v", asm), func(b *testing.B) {
			if asm && asmAdam == nil {
				b.Skip("no Adam in assembly on this processor")
			}
			saved := useAsmCore
			useAsmCore = asm
			defer func() { useAsmCore = saved }()
			e := New(0)
			defer e.Close()
			const n = 3165826
			p, _ := e.Alloc(engine.Float32, n)
			g, _ := e.Alloc(engine.Float32, n)
			m, _ := e.Alloc(engine.Float32, n)
			v, _ := e.Alloc(engine.Float32, n)
			st, _ := e.Alloc(engine.Float32, 1)
			e.Fill(g, 0.01)
			c := engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.Update(c, p, g, m, v, st)
			}
		})
	}
}

// BenchmarkGather128 times batch assembly at batch 128, plain, with
// translations alone and with the default recipe's warp too (the
// augmentation's whole cost on the CPU: a training step is about 30 to 40
// ms).
func BenchmarkGather128(b *testing.B) {
	for _, a := range []engine.Augmentation{{}, {Shift: 2}, {Shift: 2, Rotate: 10, Scale: 0.1}} {
		b.Run(engine.AugmentName(a), func(b *testing.B) {
			e, _, batch, _ := benchModel(b, engine.ReLU, 128)
			defer e.Close()
			batch.Aug = a.With(1)
			x, _ := e.Alloc(engine.Float32, 128*engine.ImagePixels)
			y, _ := e.Alloc(engine.Int32, 128)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.Fill(batch.Cursor, 0)
				e.Gather(batch.Images, batch.Labels, batch.Perm, batch.Cursor, x, y, 128, engine.ImagePixels, batch.Aug)
			}
		})
	}
}
