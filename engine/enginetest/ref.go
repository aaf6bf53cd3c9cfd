// ref.go: plain float64 reference implementations of every engine op,
// written for clarity, not speed, but for the convolution's (most of the
// conformance suite's time), whose plain loops ref_test.go keeps and
// requires the same bits of. The conformance suite compares engines
// against them, and ref_test.go checks their gradients by finite differences.

package enginetest

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cnngpu/cnngpu/engine"
)

// Act applies an activation in float64.
func Act(a engine.Activation, x float64) float64 {
	switch a {
	case engine.ReLU:
		return math.Max(x, 0)
	case engine.Sigmoid:
		return 1 / (1 + math.Exp(-x))
	case engine.Tanh:
		return math.Tanh(x)
	}
	return x
}

// ActGradFromOutput is act'(z) expressed through y = act(z).
func ActGradFromOutput(a engine.Activation, y float64) float64 {
	switch a {
	case engine.ReLU:
		if y > 0 {
			return 1
		}
		return 0
	case engine.Sigmoid:
		return y * (1 - y)
	case engine.Tanh:
		return 1 - y*y
	}
	return 1
}

// RefConv returns y = act(conv(x, w) + b). x: (N,C,H,W), w: (K,C,R,S).
// Each output is b[k] plus its products summed over c, then r, then t,
// the taps outside the image skipped: the order of refConvPlain
// (ref_test.go), which the test requires bit for bit. The loops run over
// an output row at a time (q innermost, each output's sum still taking its
// terms in (c, r, t) order) and share the images among the cores: the
// conformance suite spent most of its time here. Each product is rounded
// before it is added (float64(a*b)): Go may otherwise fuse a multiply and
// add into one FMA in one loop and not in another (GOAMD64=v3, arm64).
func RefConv(x, w, b []float64, s engine.ConvShape, act engine.Activation) []float64 {
	P, Q := s.P(), s.Q()
	y := make([]float64, s.N*s.K*P*Q)
	forEach(s.N, func(n int) {
		for k := 0; k < s.K; k++ {
			for p := 0; p < P; p++ {
				row := y[((n*s.K+k)*P+p)*Q:][:Q]
				for q := range row {
					row[q] = b[k]
				}
				inRows(s, p, func(c, r, ih int) {
					xrow := x[((n*s.C+c)*s.H+ih)*s.W:][:s.W]
					for t := 0; t < s.S; t++ {
						wv := w[((k*s.C+c)*s.R+r)*s.S+t]
						q0, q1 := cols(t, s.Pad, s.W, Q)
						for q := q0; q < q1; q++ {
							row[q] += float64(xrow[q-s.Pad+t] * wv)
						}
					}
				})
				for q := range row {
					row[q] = Act(act, row[q])
				}
			}
		}
	})
	return y
}

// RefConvBackward returns dx, dw, db from dy at the activated output y.
// Every sum takes its terms in refConvBackwardPlain's order (ref_test.go
// requires the same bits): db[k] and each weight's over (n, p, q), an
// output channel at a time; each input's over (k, p, q), an image at a
// time (within one (k, p), the filter columns t from the last, so that q
// ascends), each shared among the cores.
func RefConvBackward(x, w, y, dy []float64, s engine.ConvShape, act engine.Activation) (dx, dw, db []float64) {
	P, Q := s.P(), s.Q()
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, s.K)
	dz := make([]float64, len(dy))
	for o := range dz {
		dz[o] = float64(dy[o] * ActGradFromOutput(act, y[o])) // rounded: arm64 fused it into the plain loop's db sum
	}
	forEach(s.K, func(k int) {
		var sb float64 // db[k], summed here: neighbours' writes share a cache line
		for n := 0; n < s.N; n++ {
			for p := 0; p < P; p++ {
				g := dz[((n*s.K+k)*P+p)*Q:][:Q]
				for _, v := range g {
					sb += v
				}
				inRows(s, p, func(c, r, ih int) {
					xrow := x[((n*s.C+c)*s.H+ih)*s.W:][:s.W]
					for t := 0; t < s.S; t++ {
						wi := ((k*s.C+c)*s.R+r)*s.S + t
						q0, q1 := cols(t, s.Pad, s.W, Q)
						acc := dw[wi]
						for q := q0; q < q1; q++ {
							acc += float64(g[q] * xrow[q-s.Pad+t])
						}
						dw[wi] = acc
					}
				})
			}
		}
		db[k] = sb
	})
	forEach(s.N, func(n int) {
		for k := 0; k < s.K; k++ {
			for p := 0; p < P; p++ {
				g := dz[((n*s.K+k)*P+p)*Q:][:Q]
				inRows(s, p, func(c, r, ih int) {
					dxrow := dx[((n*s.C+c)*s.H+ih)*s.W:][:s.W]
					for t := s.S - 1; t >= 0; t-- {
						wv := w[((k*s.C+c)*s.R+r)*s.S+t]
						q0, q1 := cols(t, s.Pad, s.W, Q)
						for q := q0; q < q1; q++ {
							dxrow[q-s.Pad+t] += float64(g[q] * wv)
						}
					}
				})
			}
		}
	})
	return dx, dw, db
}

// inRows calls f(c, r, ih) for each input channel c, then each filter row
// r, whose input row ih = p-Pad+r for output row p lies in the image: the
// (c, r) order every sum of the convolution's reference keeps.
func inRows(s engine.ConvShape, p int, f func(c, r, ih int)) {
	for c := 0; c < s.C; c++ {
		for r := 0; r < s.R; r++ {
			if ih := p - s.Pad + r; ih >= 0 && ih < s.H {
				f(c, r, ih)
			}
		}
	}
}

// cols returns the output columns [q0, q1) whose filter column t reads
// inside an image w wide (padding pad, Q output columns).
func cols(t, pad, w, Q int) (q0, q1 int) {
	q0, q1 = max(0, pad-t), min(Q, w+pad-t)
	return q0, max(q0, q1)
}

// forEach calls f(i) for i in [0, n), sharing them among GOMAXPROCS
// goroutines; each i is done whole by one of them.
func forEach(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// RefMaxPool returns y and the index in x of each (first) maximum.
func RefMaxPool(x []float64, s engine.PoolShape) ([]float64, []int) {
	oh, ow := s.OH(), s.OW()
	y := make([]float64, s.N*s.C*oh*ow)
	arg := make([]int, len(y))
	for pl := 0; pl < s.N*s.C; pl++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				best := -1
				for a := 0; a < s.Size; a++ {
					for b := 0; b < s.Size; b++ {
						idx := pl*s.H*s.W + (i*s.Size+a)*s.W + j*s.Size + b
						if best < 0 || x[idx] > x[best] {
							best = idx
						}
					}
				}
				o := (pl*oh+i)*ow + j
				y[o], arg[o] = x[best], best
			}
		}
	}
	return y, arg
}

// RefMaxPoolBackward returns dx from dy routed through arg.
func RefMaxPoolBackward(dy []float64, arg []int, xlen int) []float64 {
	dx := make([]float64, xlen)
	for o, g := range dy {
		dx[arg[o]] += g
	}
	return dx
}

// RefDense returns y = act(x·wᵀ + b). x: (N,In), w: (Out,In).
func RefDense(x, w, b []float64, s engine.DenseShape, act engine.Activation) []float64 {
	y := make([]float64, s.N*s.Out)
	for n := 0; n < s.N; n++ {
		for o := 0; o < s.Out; o++ {
			sum := b[o]
			for i := 0; i < s.In; i++ {
				sum += x[n*s.In+i] * w[o*s.In+i]
			}
			y[n*s.Out+o] = Act(act, sum)
		}
	}
	return y
}

// RefDenseBackward returns dx, dw, db from dy at the activated output y.
func RefDenseBackward(x, w, y, dy []float64, s engine.DenseShape, act engine.Activation) (dx, dw, db []float64) {
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, s.Out)
	for n := 0; n < s.N; n++ {
		for o := 0; o < s.Out; o++ {
			dz := dy[n*s.Out+o] * ActGradFromOutput(act, y[n*s.Out+o])
			db[o] += dz
			for i := 0; i < s.In; i++ {
				dw[o*s.In+i] += dz * x[n*s.In+i]
				dx[n*s.In+i] += dz * w[o*s.In+i]
			}
		}
	}
	return dx, dw, db
}

// RefSoftmaxXent returns the summed loss (against the labels), the number
// of correct argmax predictions, the probabilities and the gradient of the
// mean loss against the targets of label smoothing ls: (1-ls)·onehot +
// ls/classes.
func RefSoftmaxXent(z []float64, labels []int32, n, classes int, ls float64) (loss float64, correct int, probs, dz []float64) {
	probs = make([]float64, n*classes)
	dz = make([]float64, n*classes)
	for i := 0; i < n; i++ {
		row := z[i*classes : (i+1)*classes]
		m, arg := row[0], 0
		for j, v := range row {
			if v > m {
				m, arg = v, j
			}
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(v - m)
		}
		l := int(labels[i])
		loss += math.Log(sum) - (row[l] - m)
		if arg == l {
			correct++
		}
		for j, v := range row {
			p := math.Exp(v-m) / sum
			probs[i*classes+j] = p
			target := ls / float64(classes)
			if j == l {
				target += 1 - ls
			}
			dz[i*classes+j] = (p - target) / float64(n)
		}
	}
	return loss, correct, probs, dz
}

// RefUpdate applies one optimizer step (t is the step number, from 1) in
// place to p, s1, s2.
func RefUpdate(c engine.OptConfig, p, g, s1, s2 []float64, t int) {
	lr := float64(c.LR) * RefScheduleFactor(c.Sched, t)
	if c.Kind == engine.SGD {
		for i := range p {
			s1[i] = float64(c.Momentum)*s1[i] - lr*g[i]
			p[i] += s1[i]
		}
		return
	}
	b1, b2 := float64(c.Beta1), float64(c.Beta2)
	alpha := lr * math.Sqrt(1-math.Pow(b2, float64(t))) / (1 - math.Pow(b1, float64(t)))
	for i := range p {
		s1[i] = b1*s1[i] + (1-b1)*g[i]
		s2[i] = b2*s2[i] + (1-b2)*g[i]*g[i]
		p[i] -= alpha * s1[i] / (math.Sqrt(s2[i]) + float64(c.Eps))
	}
}

// RefScheduleFactor is the learning-rate multiplier at update t (from 1)
// in float64, written from the schedule's definition: linear warm-up to 1
// over Warmup updates, then a half cosine from 1 to Final at update Total,
// Final after it.
func RefScheduleFactor(s engine.Schedule, t int) float64 {
	if s.Kind != engine.CosineLR {
		return 1
	}
	if t <= s.Warmup {
		return float64(t) / float64(s.Warmup)
	}
	if t >= s.Total {
		return float64(s.Final)
	}
	frac := float64(t-s.Warmup) / float64(s.Total-s.Warmup)
	return float64(s.Final) + (1-float64(s.Final))*(1+math.Cos(math.Pi*frac))/2
}
