// loss.go: softmax cross-entropy with accuracy counting, and the optimizer
// updates (Adam in the Keras formulation, SGD with momentum).

package cpu

import (
	"math"

	"github.com/cnngpu/cnngpu/engine"
)

// SoftmaxXent adds loss sum, correct count and n to stats, and writes probs
// and dlogits = (softmax - target)/n (label smoothing ls; 0: one-hot)
// when they are not nil.
// logits: (n,classes), labels: (n) int32.
func (e *Engine) SoftmaxXent(logits, labels, probs, dlogits, stats engine.Tensor, n, classes int, ls float64) {
	engine.CheckSoftmaxXent(logits, labels, probs, dlogits, stats, n, classes)
	off, on := engine.SmoothTargets(ls, classes)
	z := t32(logits)
	lab := ti32(labels)
	pr, dl := t32(probs), t32(dlogits)
	var lossSum float64
	var correct int
	inv := 1 / float32(n)
	for i := 0; i < n; i++ {
		row := z[i*classes : (i+1)*classes]
		m := row[0]
		arg := 0
		for j, v := range row {
			if v > m {
				m, arg = v, j
			}
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v - m))
		}
		label := int(lab[i])
		if label < 0 || label >= classes {
			panic("cpu: SoftmaxXent: label out of range")
		}
		lossSum += math.Log(sum) - float64(row[label]-m)
		if arg == label {
			correct++
		}
		for j, v := range row {
			p := float32(math.Exp(float64(v-m)) / sum)
			if pr != nil {
				pr[i*classes+j] = p
			}
			if dl != nil {
				dl[i*classes+j] = engine.SmoothedGrad(p, off, on, j == label) * inv
			}
		}
	}
	st := t32(stats)
	st[0] += float32(lossSum)
	st[1] += float32(correct)
	st[2] += float32(n)
}

// asmAdam is the assembly Adam update where the processor has one: AVX2/FMA
// on amd64, NEON on arm64 (selected with useAsmCore).
var asmAdam func(p, g, m, v *float32, n int, alpha, b1c, b2c, eps float32)

// adamBlock is the number of parameters one chunk of the update handles.
const adamBlock = 1 << 15

type adamTask struct {
	c            engine.OptConfig
	p, g, s1, s2 []float32
	alpha        float32
}

func (t *adamTask) run(_, lo, hi int) {
	c := t.c
	for blk := lo; blk < hi; blk++ {
		a := blk * adamBlock
		b := min(a+adamBlock, len(t.p))
		p, g, m := t.p[a:b], t.g[a:b], t.s1[a:b]
		if c.Kind == engine.SGD {
			for i := range p {
				v := c.Momentum*m[i] - c.LR*g[i]
				m[i] = v
				p[i] += v
			}
			continue
		}
		v := t.s2[a:b]
		g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
		b1, b2 := 1-c.Beta1, 1-c.Beta2
		start := 0
		if useAsmCore && asmAdam != nil && len(p) >= 8 {
			start = len(p) &^ 7
			asmAdam(&p[0], &g[0], &m[0], &v[0], start, t.alpha, b1, b2, c.Eps)
		}
		for i := start; i < len(p); i++ {
			gi := g[i]
			mi := m[i] + (gi-m[i])*b1
			vi := v[i] + (gi*gi-v[i])*b2
			m[i], v[i] = mi, vi
			p[i] -= mi * t.alpha / (float32(math.Sqrt(float64(vi))) + c.Eps)
		}
	}
}

// Update applies one Adam or SGD step to p from g and increments step.
func (e *Engine) Update(c engine.OptConfig, p, g, s1, s2, step engine.Tensor) {
	engine.CheckUpdate(c, p, g, s1, s2, step)
	n := p.Len()
	st := t32(step)
	t := float64(st[0]) + 1
	// The scheduled rate of this update (c.LR itself for the constant
	// schedule, bit for bit: its factor is exactly 1).
	c.LR *= c.Sched.Factor(float32(t))
	e.adam = adamTask{c: c, p: t32(p), g: t32(g), s1: t32(s1)}
	if c.Kind == engine.Adam {
		e.adam.s2 = t32(s2)
		e.adam.alpha = float32(float64(c.LR) * math.Sqrt(1-math.Pow(float64(c.Beta2), t)) / (1 - math.Pow(float64(c.Beta1), t)))
	}
	e.pool.parallelFor((n+adamBlock-1)/adamBlock, 4, &e.adam)
	st[0] = float32(t)
}
