// act.go: activation functions in float32 (a fast exp keeps sigmoid and
// tanh from dominating the step), forward and backward from the output.

package cpu

import (
	"math"

	"github.com/cnngpu/cnngpu/engine"
)

// exp32 is exp(x) in float32 with relative error below 3e-7 on [-87, 88]:
// x = k·ln2 + r, |r| <= ln2/2, exp(r) by a degree-7 Taylor polynomial.
func exp32(x float32) float32 {
	if x > 88 {
		return float32(math.Inf(1))
	}
	if x < -87 {
		return 0
	}
	const ln2hi, ln2lo = 0.693359375, -2.12194440e-4
	const log2e = 1.44269504088896341
	k := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - k*ln2hi - k*ln2lo
	p := float32(1.0 / 5040)
	p = p*r + 1.0/720
	p = p*r + 1.0/120
	p = p*r + 1.0/24
	p = p*r + 1.0/6
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
	return p * math.Float32frombits(uint32(int32(k)+127)<<23)
}

func sigmoid32(x float32) float32 {
	if x >= 0 {
		return 1 / (1 + exp32(-x))
	}
	e := exp32(x)
	return e / (1 + e)
}

func tanh32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	var t float32
	if a < 0.0625 {
		a2 := a * a
		// tanh(a) = a - a^3/3 + 2a^5/15 - 17a^7/315
		t = a * (1 + a2*(-1.0/3+a2*(2.0/15-a2*17.0/315)))
	} else {
		e := exp32(-2 * a)
		t = (1 - e) / (1 + e)
	}
	if x < 0 {
		return -t
	}
	return t
}

// relu32 is max(x, 0) without a branch (random signs defeat the branch
// predictor): the sign bit, spread to a mask, clears negative values; NaN
// with the sign bit clear passes through.
func relu32(x float32) float32 {
	b := math.Float32bits(x)
	return math.Float32frombits(b &^ uint32(int32(b)>>31))
}

// reluMask is g where the ReLU output y is positive and 0 elsewhere,
// without a branch. y comes from ReLU, so it is +0 or positive.
func reluMask(g, y float32) float32 {
	yb := math.Float32bits(y)
	// (yb | -yb) has the top bit set exactly when yb != 0.
	mask := uint32(int32(yb|-yb) >> 31)
	return math.Float32frombits(math.Float32bits(g) & mask)
}

// biasAct sets v[i] = act(v[i] + b) for a run of values sharing bias b.
func biasAct(v []float32, b float32, act engine.Activation) {
	switch act {
	case engine.ReLU:
		j0 := 0
		if n8 := len(v) &^ 7; useAsm && n8 > 0 {
			biasReluAsm(v, n8, b)
			j0 = n8
		}
		for i, x := range v[j0:] {
			v[j0+i] = relu32(x + b)
		}
	case engine.Sigmoid, engine.Tanh:
		biasSigmTanh(v, []float32{b}, act)
	default:
		if b != 0 {
			for i := range v {
				v[i] += b
			}
		}
	}
}

// biasSigmTanh sets v[i] = act(v[i] + b[i]) for act sigmoid or tanh; b
// holds one bias per value, or a single bias for them all.
func biasSigmTanh(v, b []float32, act engine.Activation) {
	if len(b) != 1 {
		b = b[:len(v)]
	}
	j0 := 0
	if n8 := len(v) &^ 7; useAsm && n8 > 0 {
		biasActAsm(v, b, n8, act)
		j0 = n8
	}
	f := sigmoid32
	if act == engine.Tanh {
		f = tanh32
	}
	for i := j0; i < len(v); i++ {
		bi := b[0]
		if len(b) != 1 {
			bi = b[i]
		}
		v[i] = f(v[i] + bi)
	}
}

// actGrad sets dz[i] = dy[i] * act'(·) expressed through the output y.
func actGrad(dz, dy, y []float32, act engine.Activation) {
	dy = dy[:len(dz)]
	y = y[:len(dz)]
	switch act {
	case engine.ReLU:
		j0 := 0
		if n8 := len(dz) &^ 7; useAsm && n8 > 0 {
			reluMaskAsm(dz, dy, y, n8)
			j0 = n8
		}
		for i := j0; i < len(dz); i++ {
			dz[i] = reluMask(dy[i], y[i])
		}
	case engine.Sigmoid, engine.Tanh:
		j0 := 0
		if n8 := len(dz) &^ 7; useAsm && n8 > 0 {
			actGradAsm(dz, dy, y, n8, act)
			j0 = n8
		}
		if act == engine.Tanh {
			for i := j0; i < len(dz); i++ {
				dz[i] = dy[i] * (1 - y[i]*y[i])
			}
		} else {
			for i := j0; i < len(dz); i++ {
				dz[i] = dy[i] * y[i] * (1 - y[i])
			}
		}
	default:
		copy(dz, dy)
	}
}

// sum32 returns the sum of v in eight running partial sums (independent
// additions pipeline; the order is fixed, so results repeat), eight at a
// time with AVX2 where the processor has it, in the same order.
func sum32(v []float32) float32 {
	n8 := len(v) &^ 7
	if useAsm && n8 > 0 {
		t := sumAsm(v, n8)
		for _, x := range v[n8:] {
			t += x
		}
		return t
	}
	var s [8]float32
	for i := 0; i < n8; i += 8 {
		w := (*[8]float32)(v[i:])
		s[0] += w[0]
		s[1] += w[1]
		s[2] += w[2]
		s[3] += w[3]
		s[4] += w[4]
		s[5] += w[5]
		s[6] += w[6]
		s[7] += w[7]
	}
	t := ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
	for _, x := range v[n8:] {
		t += x
	}
	return t
}

// dot32 returns the sum of a[i]·b[i] over len(a) values: eight at a time
// (with AVX2 where the processor has it, else in eight running sums, whose
// independent additions pipeline where one sum would wait on each), then
// the rest in order.
func dot32(a, b []float32) float32 {
	b = b[:len(a)]
	n8 := len(a) &^ 7
	var t float32
	if useAsm && n8 > 0 {
		t = dotAsm(a, b, n8)
	} else if n8 > 0 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for i := 0; i < n8; i += 8 {
			x, y := (*[8]float32)(a[i:]), (*[8]float32)(b[i:])
			s0 += x[0] * y[0]
			s1 += x[1] * y[1]
			s2 += x[2] * y[2]
			s3 += x[3] * y[3]
			s4 += x[4] * y[4]
			s5 += x[5] * y[5]
			s6 += x[6] * y[6]
			s7 += x[7] * y[7]
		}
		t = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
	}
	for i := n8; i < len(a); i++ {
		t += a[i] * b[i]
	}
	return t
}
