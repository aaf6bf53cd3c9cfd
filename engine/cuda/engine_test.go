//go:build cgo

// engine_test.go: on a machine with an NVIDIA GPU, the conformance suite
// (every op against the float64 reference, inputs unchanged) and the golden
// test: 200 training steps from the same initial weights on the CPU and
// the GPU (strict FP32), losses agreeing within 1e-3 relative at every 50th
// step, with the step recorded as a CUDA graph. Elsewhere both skip and
// say why.

package cuda

import (
	"math"
	"math/rand/v2"
	"testing"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/engine/enginetest"
)

func needGPU(t *testing.T) {
	t.Helper()
	if err := cu.Load(); err != nil {
		t.Skipf("no GPU on this machine, GPU test skipped: %v", err)
	}
}

func TestConformance(t *testing.T) {
	needGPU(t)
	enginetest.Run(t, func(t *testing.T) engine.Engine {
		e, err := New(0, false)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

// losses trains steps steps at batch 128 on a fixed synthetic set and
// returns the mean loss of each step.
func losses(t *testing.T, e engine.Engine, steps int) []float64 {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	opt := engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}
	m, err := engine.NewModel(e, arch, opt, arch.GlorotInit(11))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	const pool = 2048
	img := make([]uint8, pool*engine.ImagePixels)
	lab := make([]uint8, pool)
	for i := range lab {
		l := r.IntN(10)
		lab[i] = uint8(l)
		for c := 4; c < 24; c++ {
			img[i*784+(3+2*l)*28+c] = 255
		}
		for k := 0; k < 60; k++ {
			img[i*784+r.IntN(784)] = uint8(r.IntN(256))
		}
	}
	d, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		t.Fatal(err)
	}
	perm, _ := e.Alloc(engine.Int32, steps*128)
	order := make([]int32, steps*128)
	for i := range order {
		order[i] = int32(r.IntN(pool))
	}
	if err := e.Write(perm, 0, order); err != nil {
		t.Fatal(err)
	}
	cursor, _ := e.Alloc(engine.Int32, 1)
	stats, _ := e.Alloc(engine.Float32, 3)
	b := engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}
	var out []float64
	st := make([]float32, 3)
	for s := 0; s < steps; s++ {
		e.Fill(stats, 0)
		var serr error
		if err := engine.Run(e, 128, func() { serr = m.TrainStep(b, 128, stats) }); err != nil || serr != nil {
			t.Fatalf("step %d: %v %v", s, err, serr)
		}
		if err := e.Read(stats, 0, st); err != nil {
			t.Fatal(err)
		}
		out = append(out, float64(st[0]/st[2]))
	}
	return out
}

func TestGoldenCPUvsGPU(t *testing.T) {
	needGPU(t)
	g, err := New(0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c := cpu.New(0)
	defer c.Close()
	const steps = 200
	lg := losses(t, g, steps)
	lc := losses(t, c, steps)
	for s := 0; s < steps; s += 50 {
		rel := math.Abs(lg[s]-lc[s]) / math.Abs(lc[s])
		t.Logf("step %3d: cpu %.6f gpu %.6f (relative difference %.1e)", s, lc[s], lg[s], rel)
		if !(rel <= 1e-3) {
			t.Errorf("step %d: GPU loss %.6f vs CPU %.6f, relative difference %.2e > 1e-3", s, lg[s], lc[s], rel)
		}
	}
	if s := steps - 1; !(lg[s] < lg[0]/2) {
		t.Errorf("GPU training did not learn: loss %.4f -> %.4f", lg[0], lg[s])
	}
}
