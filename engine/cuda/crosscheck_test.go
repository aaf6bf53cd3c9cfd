//go:build cgo && !windows

// crosscheck_test.go: on a GPU, our kernels for pooling, activation, the
// bias gradient and the bias add against cuDNN's own implementations of the
// same operations (package cudnn, ops.go), on the same device buffers: a
// second, independent check beside the float64 reference of the
// conformance suite. Skips without a GPU.

package cuda

import (
	"math/rand/v2"
	"testing"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/enginetest"
)

func TestCuDNNAgreesWithOurKernels(t *testing.T) {
	needGPU(t)
	e, err := New(0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	l := e.device().(*library)
	r := rand.New(rand.NewPCG(7, 7))
	const n, c, h, w = 4, 32, 28, 28
	total := n * c * h * w
	upload := func(v []float32) engine.Tensor {
		t.Helper()
		x, err := e.Alloc(engine.Float32, len(v))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Write(x, 0, v); err != nil {
			t.Fatal(err)
		}
		return x
	}
	read := func(x engine.Tensor) []float32 {
		t.Helper()
		v := make([]float32, x.Len())
		if err := e.Read(x, 0, v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	f64 := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	randv := func(k int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(2*r.Float64() - 1)
		}
		return v
	}
	dnn := func(what string, fn func() error) {
		t.Helper()
		if err := l.Do(fn); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	u := func(x engine.Tensor) uint64 { return uint64(ptr(x)) }
	var xd, pd, bd *cudnn.Tensor
	dnn("tensor descriptors", func() (err error) {
		if xd, err = l.dnn.NewTensor(n, c, h, w); err != nil {
			return err
		}
		if pd, err = l.dnn.NewTensor(n, c, h/2, w/2); err != nil {
			return err
		}
		bd, err = l.dnn.NewTensor(1, c, 1, 1)
		return err
	})
	defer func() {
		for _, d := range []*cudnn.Tensor{xd, pd, bd} {
			d.Close()
		}
	}()

	// Max pooling, forward and backward (random values: no ties, so the
	// two agree exactly).
	xv := randv(total)
	x := upload(xv)
	s := engine.PoolShape{N: n, C: c, H: h, W: w, Size: 2}
	y, _ := e.Alloc(engine.Float32, total/4)
	arg, _ := e.Alloc(engine.Int32, total/4)
	e.MaxPool(x, y, arg, s)
	dyv := randv(total / 4)
	dy := upload(dyv)
	dx, _ := e.Alloc(engine.Float32, total)
	e.MaxPoolBackward(dy, arg, dx, s)
	y2, _ := e.Alloc(engine.Float32, total/4)
	dx2, _ := e.Alloc(engine.Float32, total)
	var pool *cudnn.Pooling
	dnn("cuDNN max pooling", func() (err error) {
		if pool, err = l.dnn.NewMaxPool(2); err != nil {
			return err
		}
		if err = pool.Forward(xd, u(x), pd, u(y2)); err != nil {
			return err
		}
		return pool.Backward(pd, u(y2), u(dy), xd, u(x), u(dx2))
	})
	defer pool.Close()
	enginetest.Close(t, "max pooling forward vs cuDNN", read(y), f64(read(y2)), 0, 0)
	enginetest.Close(t, "max pooling backward vs cuDNN", read(dx), f64(read(dx2)), 0, 0)

	// Bias and activation forward (bias_act) against cudnnAddTensor then
	// cudnnActivationForward; the activation gradient (act_grad) against
	// cudnnActivationBackward; the bias gradient (bias_grad) against
	// cudnnConvolutionBackwardBias.
	bv := randv(c)
	b := upload(bv)
	for _, a := range []struct {
		act  engine.Activation
		mode int
	}{{engine.ReLU, cudnn.ActReLU}, {engine.Sigmoid, cudnn.ActSigmoid}, {engine.Tanh, cudnn.ActTanh}} {
		ours := upload(xv)
		e.biasAct(ours, b, total, h*w, c, a.act)
		z := upload(xv) // x + b, then cuDNN's activation of it
		theirs, _ := e.Alloc(engine.Float32, total)
		var act *cudnn.Activation
		dnn("cuDNN add tensor and activation", func() (err error) {
			if err = l.dnn.AddTensor(bd, u(b), xd, u(z)); err != nil {
				return err
			}
			if act, err = l.dnn.NewActivation(a.mode); err != nil {
				return err
			}
			return act.Forward(xd, u(z), u(theirs))
		})
		enginetest.Close(t, a.act.String()+" bias_act vs cuDNN", read(ours), f64(read(theirs)), 1e-6, 1e-5)

		g := upload(randv(total))
		dz, _ := e.Alloc(engine.Float32, total)
		e.actGrad(regionOf(dz), g, ours, total, a.act)
		dz2, _ := e.Alloc(engine.Float32, total)
		dnn("cuDNN activation backward", func() error { return act.Backward(xd, u(theirs), u(g), u(z), u(dz2)) })
		enginetest.Close(t, a.act.String()+" act_grad vs cuDNN", read(dz), f64(read(dz2)), 1e-6, 1e-5)
		act.Close()
		for _, x := range []engine.Tensor{ours, z, theirs, g, dz, dz2} {
			e.Free(x)
		}
	}
	db, _ := e.Alloc(engine.Float32, c)
	db2, _ := e.Alloc(engine.Float32, c)
	e.fail(e.c.LaunchBlocks("bias_grad", c, block, cu.P(ptr(db)), cu.P(ptr(x)), cu.I(n), cu.I(c), cu.I(h*w)))
	dnn("cuDNN backward bias", func() error { return l.dnn.BackwardBias(xd, u(x), bd, u(db2)) })
	enginetest.Close(t, "bias_grad vs cuDNN", read(db), f64(read(db2)), 1e-5, 1e-5)
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
}
