// ref_test.go: finite-difference gradient checks, in float64, of every
// reference layer and the loss: the analytic gradients the engines are
// compared against are themselves checked here.

package enginetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

func randF64(r *rand.Rand, n int, scale float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = scale * r.NormFloat64()
	}
	return s
}

// gradCheck compares analytic grad of f with respect to v against central
// differences, element by element.
func gradCheck(t *testing.T, what string, v []float64, grad []float64, f func() float64) {
	t.Helper()
	const h = 1e-6
	worst := 0.0
	for i := range v {
		old := v[i]
		v[i] = old + h
		fp := f()
		v[i] = old - h
		fm := f()
		v[i] = old
		num := (fp - fm) / (2 * h)
		// |analytic - numeric| <= atol + rtol*(|analytic|+|numeric|), atol
		// covering the rounding of f in the difference quotient.
		err := math.Abs(num-grad[i]) / (1e-6 + 1e-5*(math.Abs(num)+math.Abs(grad[i])))
		if err > worst {
			worst = err
		}
		if err > 1 {
			t.Errorf("%s: element %d: analytic %.10g, numeric %.10g (%.2g times the tolerance)", what, i, grad[i], num, err)
			return
		}
	}
	t.Logf("%s: worst error %.2g of the tolerance over %d elements", what, worst, len(v))
}

// dot is the scalar the checks differentiate: sum(y * weights).
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Smooth activations only for finite differences: ReLU's kink makes central
// differences wrong exactly at points where an input crosses zero, so it is
// checked with inputs kept away from zero (random data almost never hits it).
var acts = []engine.Activation{engine.Identity, engine.ReLU, engine.Sigmoid, engine.Tanh}

func TestRefConvGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, s := range []engine.ConvShape{
		{N: 2, C: 2, H: 5, W: 4, K: 3, R: 3, S: 3, Pad: 1},
		{N: 1, C: 3, H: 6, W: 6, K: 2, R: 5, S: 5, Pad: 0},
	} {
		for _, act := range acts {
			x := randF64(r, s.N*s.C*s.H*s.W, 1)
			w := randF64(r, s.K*s.C*s.R*s.S, 0.5)
			b := randF64(r, s.K, 0.5)
			y := RefConv(x, w, b, s, act)
			wy := randF64(r, len(y), 1)
			dx, dw, db := RefConvBackward(x, w, y, wy, s, act)
			f := func() float64 { return dot(RefConv(x, w, b, s, act), wy) }
			name := fmt.Sprintf("conv %+v %v", s, act)
			gradCheck(t, name+" dx", x, dx, f)
			gradCheck(t, name+" dw", w, dw, f)
			gradCheck(t, name+" db", b, db, f)
		}
	}
}

func TestRefDenseGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	s := engine.DenseShape{N: 3, In: 7, Out: 5}
	for _, act := range acts {
		x := randF64(r, s.N*s.In, 1)
		w := randF64(r, s.Out*s.In, 0.5)
		b := randF64(r, s.Out, 0.5)
		y := RefDense(x, w, b, s, act)
		wy := randF64(r, len(y), 1)
		dx, dw, db := RefDenseBackward(x, w, y, wy, s, act)
		f := func() float64 { return dot(RefDense(x, w, b, s, act), wy) }
		name := fmt.Sprintf("dense %v", act)
		gradCheck(t, name+" dx", x, dx, f)
		gradCheck(t, name+" dw", w, dw, f)
		gradCheck(t, name+" db", b, db, f)
	}
}

func TestRefMaxPoolGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	s := engine.PoolShape{N: 2, C: 3, H: 6, W: 4, Size: 2}
	x := randF64(r, s.N*s.C*s.H*s.W, 1)
	y, arg := RefMaxPool(x, s)
	wy := randF64(r, len(y), 1)
	dx := RefMaxPoolBackward(wy, arg, len(x))
	gradCheck(t, "maxpool dx", x, dx, func() float64 { y, _ := RefMaxPool(x, s); return dot(y, wy) })
}

func TestRefSoftmaxXentGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	n, classes := 4, 10
	z := randF64(r, n*classes, 2)
	labels := []int32{3, 0, 9, 3}
	_, _, probs, dz := RefSoftmaxXent(z, labels, n, classes, 0)
	gradCheck(t, "softmax-xent dlogits", z, dz, func() float64 {
		l, _, _, _ := RefSoftmaxXent(z, labels, n, classes, 0)
		return l / float64(n)
	})
	// With label smoothing: the gradient of the mean cross-entropy
	// against the targets (1-ls)·onehot + ls/classes, written out here
	// from the probabilities.
	for _, ls := range []float64{0.1, 0.5} {
		_, _, _, dz := RefSoftmaxXent(z, labels, n, classes, ls)
		gradCheck(t, fmt.Sprintf("softmax-xent dlogits, label smoothing %v", ls), z, dz, func() float64 {
			_, _, p, _ := RefSoftmaxXent(z, labels, n, classes, ls)
			var l float64
			for i := 0; i < n; i++ {
				for j := 0; j < classes; j++ {
					target := ls / float64(classes)
					if int32(j) == labels[i] {
						target += 1 - ls
					}
					l -= target * math.Log(p[i*classes+j])
				}
			}
			return l / float64(n)
		})
	}
	for i := 0; i < n; i++ {
		var s float64
		for j := 0; j < classes; j++ {
			s += probs[i*classes+j]
		}
		if math.Abs(s-1) > 1e-12 {
			t.Errorf("row %d probabilities sum to %v", i, s)
		}
	}
}

// TestRefModelGradient checks the composed network's gradient by finite
// differences on a sample of every parameter tensor, for both presets.
func TestRefModelGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for _, preset := range []string{"reference", "original"} {
		for _, act := range []engine.Activation{engine.Tanh, engine.ReLU} {
			arch, err := engine.NewArch(preset, act)
			if err != nil {
				t.Fatal(err)
			}
			// A narrow network keeps the float64 reference fast.
			arch.K1, arch.K2, arch.Hidden = 3, 4, 12
			init := arch.GlorotInit(2)
			p := make([]float64, len(init))
			for i, v := range init {
				p[i] = float64(v) + 0.01*r.NormFloat64() // non-zero biases
			}
			n := 2
			x := make([]float64, n*engine.ImagePixels)
			for i := range x {
				x[i] = r.Float64()
			}
			labels := []int32{3, 8}
			_, g := RefModel(arch, p, x, labels, 0)
			for _, s := range arch.Params() {
				idx := make([]int, 0, 6)
				for k := 0; k < 6; k++ {
					idx = append(idx, s.Off+r.IntN(s.Len()))
				}
				num := make([]float64, len(idx))
				ana := make([]float64, len(idx))
				const h = 1e-6
				for k, i := range idx {
					old := p[i]
					p[i] = old + h
					lp, _ := RefModel(arch, p, x, labels, 0)
					p[i] = old - h
					lm, _ := RefModel(arch, p, x, labels, 0)
					p[i] = old
					num[k] = (lp - lm) / (2 * h)
					ana[k] = g[i]
				}
				for k := range idx {
					if d := math.Abs(num[k] - ana[k]); d > 1e-6+1e-4*math.Abs(num[k]) {
						t.Errorf("%s %v %s[%d]: analytic %.8g, numeric %.8g", preset, act, s.Name, idx[k]-s.Off, ana[k], num[k])
					}
				}
			}
		}
	}
}

// refConvPlain is RefConv as first written (with each product rounded
// before it is added, as there): the specification RefConv's faster loops
// must meet bit for bit.
func refConvPlain(x, w, b []float64, s engine.ConvShape, act engine.Activation) []float64 {
	P, Q := s.P(), s.Q()
	y := make([]float64, s.N*s.K*P*Q)
	for n := 0; n < s.N; n++ {
		for k := 0; k < s.K; k++ {
			for p := 0; p < P; p++ {
				for q := 0; q < Q; q++ {
					sum := b[k]
					for c := 0; c < s.C; c++ {
						for r := 0; r < s.R; r++ {
							for t := 0; t < s.S; t++ {
								ih, iw := p-s.Pad+r, q-s.Pad+t
								if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
									continue
								}
								sum += float64(x[((n*s.C+c)*s.H+ih)*s.W+iw] * w[((k*s.C+c)*s.R+r)*s.S+t])
							}
						}
					}
					y[((n*s.K+k)*P+p)*Q+q] = Act(act, sum)
				}
			}
		}
	}
	return y
}

// refConvBackwardPlain is RefConvBackward as first written.
func refConvBackwardPlain(x, w, y, dy []float64, s engine.ConvShape, act engine.Activation) (dx, dw, db []float64) {
	P, Q := s.P(), s.Q()
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, s.K)
	for n := 0; n < s.N; n++ {
		for k := 0; k < s.K; k++ {
			for p := 0; p < P; p++ {
				for q := 0; q < Q; q++ {
					o := ((n*s.K+k)*P+p)*Q + q
					dz := float64(dy[o] * ActGradFromOutput(act, y[o]))
					db[k] += dz
					for c := 0; c < s.C; c++ {
						for r := 0; r < s.R; r++ {
							for t := 0; t < s.S; t++ {
								ih, iw := p-s.Pad+r, q-s.Pad+t
								if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
									continue
								}
								xi := ((n*s.C+c)*s.H+ih)*s.W + iw
								wi := ((k*s.C+c)*s.R+r)*s.S + t
								dw[wi] += float64(dz * x[xi])
								dx[xi] += float64(dz * w[wi])
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}

// TestRefConvMatchesPlain: RefConv and RefConvBackward give refConvPlain's
// and refConvBackwardPlain's bits, over paddings wider than the filter's
// reach (and wider than the filter), filters wider than the image,
// one-pixel planes and several worker counts.
func TestRefConvMatchesPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	shapes := []engine.ConvShape{
		{N: 3, C: 2, H: 5, W: 4, K: 3, R: 3, S: 3, Pad: 1},
		{N: 2, C: 3, H: 6, W: 7, K: 2, R: 5, S: 5, Pad: 0},
		{N: 2, C: 1, H: 2, W: 3, K: 2, R: 5, S: 5, Pad: 2},
		{N: 1, C: 2, H: 4, W: 1, K: 3, R: 3, S: 1, Pad: 1},
		{N: 5, C: 2, H: 3, W: 4, K: 1, R: 1, S: 3, Pad: 2},
		{N: 4, C: 3, H: 7, W: 5, K: 4, R: 3, S: 2, Pad: 0},
		{N: 2, C: 2, H: 3, W: 3, K: 2, R: 1, S: 1, Pad: 2},
		{N: 3, C: 1, H: 1, W: 1, K: 2, R: 3, S: 3, Pad: 1},
		{N: 2, C: 2, H: 2, W: 2, K: 3, R: 3, S: 3, Pad: 3},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3, 16} {
		runtime.GOMAXPROCS(procs)
		for _, s := range shapes {
			for _, act := range acts {
				x := randF64(r, s.N*s.C*s.H*s.W, 1)
				w := randF64(r, s.K*s.C*s.R*s.S, 0.5)
				b := randF64(r, s.K, 0.5)
				dy := randF64(r, s.N*s.K*s.P()*s.Q(), 1)
				name := fmt.Sprintf("GOMAXPROCS %d conv %+v %v", procs, s, act)
				y := RefConv(x, w, b, s, act)
				sameBits(t, name+" y", y, refConvPlain(x, w, b, s, act))
				dx, dw, db := RefConvBackward(x, w, y, dy, s, act)
				px, pw, pb := refConvBackwardPlain(x, w, y, dy, s, act)
				sameBits(t, name+" dx", dx, px)
				sameBits(t, name+" dw", dw, pw)
				sameBits(t, name+" db", db, pb)
			}
		}
	}
}

func sameBits(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Errorf("%s[%d] = %v, want %v (the same bits)", name, i, got[i], want[i])
			return
		}
	}
}
