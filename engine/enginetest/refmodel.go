// refmodel.go: the whole network in float64 from the reference ops: the
// mean loss of a batch and its gradient with respect to every parameter, in
// the flat layout of engine.Arch.Params. Tests use it to check that an
// engine's model composes the layers correctly.

package enginetest

import "github.com/cnngpu/cnngpu/engine"

// RefModel returns the mean cross-entropy loss of images x (n×784, scaled)
// with labels, and the gradient for the flat parameters p of that loss
// against the targets of label smoothing ls (0: the labels' one-hot).
func RefModel(arch engine.Arch, p, x []float64, labels []int32, ls float64) (float64, []float64) {
	n := len(labels)
	c1, p1, c2, p2, d1, d2 := arch.Shapes(n)
	ps := arch.Params()
	w := func(i int) []float64 { return p[ps[i].Off : ps[i].Off+ps[i].Len()] }
	act := arch.Act
	a1 := RefConv(x, w(0), w(1), c1, act)
	q1, arg1 := RefMaxPool(a1, p1)
	a2 := RefConv(q1, w(2), w(3), c2, act)
	q2, arg2 := RefMaxPool(a2, p2)
	h := RefDense(q2, w(4), w(5), d1, act)
	z := RefDense(h, w(6), w(7), d2, engine.Identity)
	loss, _, _, dz := RefSoftmaxXent(z, labels, n, engine.Classes, ls)

	g := make([]float64, len(p))
	put := func(i int, v []float64) { copy(g[ps[i].Off:], v) }
	dh, gw, gb := RefDenseBackward(h, w(6), z, dz, d2, engine.Identity)
	put(6, gw)
	put(7, gb)
	dq2, gw, gb := RefDenseBackward(q2, w(4), h, dh, d1, act)
	put(4, gw)
	put(5, gb)
	da2 := RefMaxPoolBackward(dq2, arg2, len(a2))
	dq1, gw, gb := RefConvBackward(q1, w(2), a2, da2, c2, act)
	put(2, gw)
	put(3, gb)
	da1 := RefMaxPoolBackward(dq1, arg1, len(a1))
	_, gw, gb = RefConvBackward(x, w(0), a1, da1, c1, act)
	put(0, gw)
	put(1, gb)
	return loss / float64(n), g
}
