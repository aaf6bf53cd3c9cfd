// model.go: the reference CNN on an Engine: its architecture presets, the
// flat parameter layout (one buffer for weights, one for gradients, so the
// optimizer is a single op), Glorot initialisation, and the forward,
// backward and update ops of one training step.

package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/cnngpu/cnngpu/internal/trace"
)

// Image geometry of MNIST.
const (
	ImageSide   = 28
	ImagePixels = ImageSide * ImageSide
	Classes     = 10
)

// Arch describes the network: conv(K1) → pool → conv(K2) → pool → dense
// (Hidden) → dense(Classes), each hidden layer followed by Act.
type Arch struct {
	Preset string     `json:"preset"`
	Kernel int        `json:"kernel"`
	Pad    int        `json:"pad"`
	K1     int        `json:"conv1_filters"`
	K2     int        `json:"conv2_filters"`
	Hidden int        `json:"hidden"`
	Act    Activation `json:"-"`
}

// Presets lists the architecture presets by name.
var Presets = []string{"reference", "original"}

// NewArch returns a preset: "reference" (3×3 kernels, same padding,
// flatten 3136) or "original" (the reference's first script: 5×5 kernels,
// valid padding, flatten 1024).
func NewArch(preset string, act Activation) (Arch, error) {
	a := Arch{Preset: preset, K1: 32, K2: 64, Hidden: 1000, Act: act}
	switch preset {
	case "reference":
		a.Kernel, a.Pad = 3, 1
	case "original":
		a.Kernel, a.Pad = 5, 0
	default:
		return Arch{}, fmt.Errorf("unknown architecture %q: expected one of %s", preset, strings.Join(Presets, ", "))
	}
	return a, nil
}

// Shapes returns the layer shapes for a batch of n images.
func (a Arch) Shapes(n int) (c1 ConvShape, p1 PoolShape, c2 ConvShape, p2 PoolShape, d1, d2 DenseShape) {
	c1 = ConvShape{N: n, C: 1, H: ImageSide, W: ImageSide, K: a.K1, R: a.Kernel, S: a.Kernel, Pad: a.Pad}
	p1 = PoolShape{N: n, C: a.K1, H: c1.P(), W: c1.Q(), Size: 2}
	c2 = ConvShape{N: n, C: a.K1, H: p1.OH(), W: p1.OW(), K: a.K2, R: a.Kernel, S: a.Kernel, Pad: a.Pad}
	p2 = PoolShape{N: n, C: a.K2, H: c2.P(), W: c2.Q(), Size: 2}
	d1 = DenseShape{N: n, In: a.K2 * p2.OH() * p2.OW(), Out: a.Hidden}
	d2 = DenseShape{N: n, In: a.Hidden, Out: Classes}
	return
}

// Flatten is the width of the first dense layer's input.
func (a Arch) Flatten() int { _, _, _, _, d1, _ := a.Shapes(1); return d1.In }

// ParamSpec is one named tensor in the flat parameter buffer.
type ParamSpec struct {
	Name   string
	Shape  []int
	Off    int
	FanIn  int
	FanOut int
	Bias   bool
}

// Len is the number of elements.
func (p ParamSpec) Len() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Params lists the parameters in buffer order, with PyTorch's names and
// layouts (conv weights (K,C,R,S), dense weights (Out,In)).
func (a Arch) Params() []ParamSpec {
	c1, _, c2, _, d1, d2 := a.Shapes(1)
	rs := a.Kernel * a.Kernel
	specs := []ParamSpec{
		{Name: "conv1.weight", Shape: []int{c1.K, c1.C, c1.R, c1.S}, FanIn: c1.C * rs, FanOut: c1.K * rs},
		{Name: "conv1.bias", Shape: []int{c1.K}, Bias: true},
		{Name: "conv2.weight", Shape: []int{c2.K, c2.C, c2.R, c2.S}, FanIn: c2.C * rs, FanOut: c2.K * rs},
		{Name: "conv2.bias", Shape: []int{c2.K}, Bias: true},
		{Name: "fc1.weight", Shape: []int{d1.Out, d1.In}, FanIn: d1.In, FanOut: d1.Out},
		{Name: "fc1.bias", Shape: []int{d1.Out}, Bias: true},
		{Name: "fc2.weight", Shape: []int{d2.Out, d2.In}, FanIn: d2.In, FanOut: d2.Out},
		{Name: "fc2.bias", Shape: []int{d2.Out}, Bias: true},
	}
	off := 0
	for i := range specs {
		specs[i].Off = off
		off += specs[i].Len()
	}
	return specs
}

// Layers is the number of layers with parameters (each a weight and a
// bias, in Params' order).
func (a Arch) Layers() int { return len(a.Params()) / 2 }

// NumParams is the total number of parameters.
func (a Arch) NumParams() int {
	ps := a.Params()
	last := ps[len(ps)-1]
	return last.Off + last.Len()
}

// GlorotInit returns initial parameters: Glorot-uniform weights
// (limit sqrt(6/(fan_in+fan_out)), Keras's default) and zero biases, drawn
// from a generator seeded with seed.
func (a Arch) GlorotInit(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p := make([]float32, a.NumParams())
	for _, s := range a.Params() {
		if s.Bias {
			continue
		}
		lim := math.Sqrt(6 / float64(s.FanIn+s.FanOut))
		for i := s.Off; i < s.Off+s.Len(); i++ {
			p[i] = float32((2*r.Float64() - 1) * lim)
		}
	}
	return p
}

// Model is the network's state on an engine: parameters, gradients and
// optimizer state in flat buffers, and activation buffers for a batch.
// One made by NewInferenceModel has the parameters and the forward pass's
// buffers alone.
type Model struct {
	Arch Arch
	Opt  OptConfig
	E    Engine

	// P, G, S1, S2: the parameters, their gradients (the last step's; an
	// engine that runs a layer's backward op and update as one,
	// DenseUpdater, may leave that layer's part unwritten) and the
	// optimizer's state.
	P, G, S1, S2 Tensor
	// Step holds one optimizer step count per layer (all equal): each
	// layer is updated as soon as its gradients are ready (backwardUpdate).
	Step Tensor
	// NoUpdate is for measuring only (cnngpu bench --no-update): training
	// steps queue no optimizer update, so that a step is its forward and
	// backward passes alone; P, S1, S2 and Step stay as they are.
	NoUpdate bool
	// DeferUpdate is for measuring only (cnngpu bench --defer-update):
	// each training step queues the first dense layer's update of the
	// step before at its start, after the gather (beside the forward
	// pass, which reads those weights only at that layer), instead of
	// after that layer's backward op. The arithmetic is the same (the
	// update reads the gradient and step count the step before left;
	// TestDeferUpdateSameArithmetic), but the last step's update stays
	// unqueued until FlushUpdate, and a recorded step (engine.Capturer)
	// holds the update only if recorded after the first step: the
	// schedule a deferred update would give, for timing, not a way to
	// train.
	DeferUpdate bool
	deferred    bool     // a step's update of the first dense layer is not queued yet
	pv, gv      []Tensor // per-parameter views of P and G
	layers      []layerViews

	capN  int   // batch capacity of the activation buffers
	acts  *acts // at capacity
	views map[int]*acts

	pstats Tensor // Predict's unused loss statistics

	inference bool // NewInferenceModel's: no G, S1, S2, Step or gradient buffers
}

// acts holds the activation and gradient buffers for a batch of n.
type acts struct {
	n                 int
	x, y              Tensor
	a1, p1, a2, p2, h Tensor
	logits, probs     Tensor
	arg1, arg2        Tensor
	dlogits, dh, dp2  Tensor
	da2, dp1, da1     Tensor
	c1, c2            ConvShape
	ps1, ps2          PoolShape
	d1, d2            DenseShape
}

// NewModel allocates a model on e with parameters init (len NumParams).
func NewModel(e Engine, arch Arch, opt OptConfig, init []float32) (*Model, error) {
	return newModel(e, arch, opt, init, false)
}

// NewInferenceModel allocates a model on e with parameters params (len
// NumParams) that runs the forward pass alone (EvalStep, Predict): no
// gradients, optimizer state or backward buffers, about half the memory
// of NewModel's at a batch of 500 (eval's). Its outputs are NewModel's,
// bit for bit; a training op on it is a programmer's error (a panic).
func NewInferenceModel(e Engine, arch Arch, params []float32) (*Model, error) {
	return newModel(e, arch, OptConfig{}, params, true)
}

func newModel(e Engine, arch Arch, opt OptConfig, init []float32, inference bool) (*Model, error) {
	defer trace.Begin(trace.ModelSetup).End()
	n := arch.NumParams()
	if len(init) != n {
		return nil, fmt.Errorf("model: %d initial parameters for an architecture of %d", len(init), n)
	}
	m := &Model{Arch: arch, Opt: opt, E: e, views: map[int]*acts{}, inference: inference}
	var err error
	alloc := func(dt DType, k int) Tensor {
		if err != nil {
			return nil
		}
		var t Tensor
		t, err = e.Alloc(dt, k)
		return t
	}
	m.P = alloc(Float32, n)
	if !inference {
		m.G = alloc(Float32, n)
		m.S1 = alloc(Float32, n)
		if opt.Kind == Adam {
			m.S2 = alloc(Float32, n)
		}
		m.Step = alloc(Float32, arch.Layers())
	}
	if err != nil {
		m.Release()
		return nil, fmt.Errorf("model: allocating %d parameters on %s: %w", n, e.Name(), err)
	}
	if err := e.Write(m.P, 0, init); err != nil {
		m.Release()
		return nil, err
	}
	ps := arch.Params()
	for _, s := range ps {
		m.pv = append(m.pv, e.Slice(m.P, s.Off, s.Len()))
	}
	if inference {
		return m, nil
	}
	for _, s := range ps {
		m.gv = append(m.gv, e.Slice(m.G, s.Off, s.Len()))
	}
	for l := range arch.Layers() {
		// A layer's weight and bias lie next to each other.
		off, k := ps[2*l].Off, ps[2*l].Len()+ps[2*l+1].Len()
		v := layerViews{p: e.Slice(m.P, off, k), g: e.Slice(m.G, off, k), s1: e.Slice(m.S1, off, k), step: e.Slice(m.Step, l, 1)}
		if m.S2 != nil {
			v.s2 = e.Slice(m.S2, off, k)
		}
		m.layers = append(m.layers, v)
	}
	return m, nil
}

// layerViews are one layer's parameters, gradients, optimizer state and
// step count: views of the model's flat buffers.
type layerViews struct{ p, g, s1, s2, step Tensor }

// update queues the optimizer step of layer l.
func (m *Model) update(l int) {
	if m.NoUpdate {
		return
	}
	v := m.layers[l]
	m.E.Update(m.Opt, v.p, v.g, v.s1, v.s2, v.step)
}

// buffers returns the activation buffers for a batch of n, allocating at
// the largest batch seen and slicing views for smaller ones.
func (m *Model) buffers(n int) (*acts, error) {
	if a, ok := m.views[n]; ok {
		return a, nil
	}
	if err := m.Arch.CheckBatch(n); err != nil {
		return nil, err
	}
	if n > m.capN {
		// Recorded steps refer to the old buffers.
		ResetGraphs(m.E)
		a, err := m.allocActs(n)
		if err != nil {
			return nil, err
		}
		m.freeActs()
		m.acts, m.capN = a, n
		m.views = map[int]*acts{n: a}
		return a, nil
	}
	full := m.acts
	a := &acts{n: n}
	a.c1, a.ps1, a.c2, a.ps2, a.d1, a.d2 = m.Arch.Shapes(n)
	// The first n images' part of t (nil where an inference model has none).
	sl := func(t Tensor) Tensor {
		if t == nil {
			return nil
		}
		return m.E.Slice(t, 0, n*(t.Len()/m.capN))
	}
	a.x, a.y = sl(full.x), sl(full.y)
	a.a1, a.p1, a.a2, a.p2 = sl(full.a1), sl(full.p1), sl(full.a2), sl(full.p2)
	a.arg1, a.arg2 = sl(full.arg1), sl(full.arg2)
	a.h, a.logits, a.probs = sl(full.h), sl(full.logits), sl(full.probs)
	a.dlogits, a.dh, a.dp2 = sl(full.dlogits), sl(full.dh), sl(full.dp2)
	a.da2, a.dp1, a.da1 = sl(full.da2), sl(full.dp1), sl(full.da1)
	m.views[n] = a
	return a, nil
}

func (m *Model) allocActs(n int) (*acts, error) {
	a := &acts{n: n}
	a.c1, a.ps1, a.c2, a.ps2, a.d1, a.d2 = m.Arch.Shapes(n)
	var err error
	alloc := func(dt DType, k int) Tensor {
		if err != nil {
			return nil
		}
		var t Tensor
		t, err = m.E.Alloc(dt, k)
		return t
	}
	c1, p1, c2, p2 := a.c1, a.ps1, a.c2, a.ps2
	a1 := n * c1.K * c1.P() * c1.Q()
	po1 := n * p1.C * p1.OH() * p1.OW()
	a2 := n * c2.K * c2.P() * c2.Q()
	po2 := n * p2.C * p2.OH() * p2.OW()
	a.x, a.y = alloc(Float32, n*ImagePixels), alloc(Int32, n)
	a.a1, a.p1, a.arg1 = alloc(Float32, a1), alloc(Float32, po1), alloc(Int32, po1)
	a.a2, a.p2, a.arg2 = alloc(Float32, a2), alloc(Float32, po2), alloc(Int32, po2)
	a.h, a.logits, a.probs = alloc(Float32, n*m.Arch.Hidden), alloc(Float32, n*Classes), alloc(Float32, n*Classes)
	if !m.inference {
		a.dlogits, a.dh, a.dp2 = alloc(Float32, n*Classes), alloc(Float32, n*m.Arch.Hidden), alloc(Float32, po2)
		a.da2, a.dp1, a.da1 = alloc(Float32, a2), alloc(Float32, po1), alloc(Float32, a1)
	}
	if err != nil {
		freeActs(m.E, a)
		return nil, fmt.Errorf("model: allocating activations for a batch of %d on %s: %w", n, m.E.Name(), err)
	}
	return a, nil
}

// forward runs the network on a.x, leaving logits in a.logits.
func (m *Model) forward(a *acts) {
	m.hidden(a)
	m.E.Dense(a.h, m.pv[6], m.pv[7], a.logits, a.d2, Identity)
}

// hidden runs the network on a.x up to the last hidden layer, leaving its
// output in a.h.
func (m *Model) hidden(a *acts) {
	m.convPool(a.x, m.pv[0], m.pv[1], a.a1, a.p1, a.arg1, a.c1, a.ps1)
	m.convPool(a.p1, m.pv[2], m.pv[3], a.a2, a.p2, a.arg2, a.c2, a.ps2)
	m.E.Dense(a.p2, m.pv[4], m.pv[5], a.h, a.d1, m.Arch.Act)
}

// head queues a training step's output layer on a.h, its loss (added to
// stats) and the output layer's gradients (into G, and a.dh) against
// targets of label smoothing ls, as one op where the engine has one
// (HeadStepper).
func (m *Model) head(a *acts, stats Tensor, ls float64) {
	if hs, ok := m.E.(HeadStepper); ok {
		hs.HeadStep(a.h, m.pv[6], m.pv[7], a.logits, a.y, a.dlogits, stats, a.dh, m.gv[6], m.gv[7], a.d2, ls)
		return
	}
	e := m.E
	e.Dense(a.h, m.pv[6], m.pv[7], a.logits, a.d2, Identity)
	e.SoftmaxXent(a.logits, a.y, nil, a.dlogits, stats, a.d2.N, a.d2.Out, ls)
	e.DenseBackward(a.h, m.pv[6], a.logits, a.dlogits, a.dh, m.gv[6], m.gv[7], a.d2, Identity)
}

// convPool runs a convolution and the max-pool after it, as one op where
// the engine has one (ConvPooler).
func (m *Model) convPool(x, w, b, y, p, arg Tensor, s ConvShape, ps PoolShape) {
	if cp, ok := m.E.(ConvPooler); ok {
		cp.ConvPool(x, w, b, y, p, arg, s, ps, m.Arch.Act)
		return
	}
	m.E.Conv(x, w, b, y, s, m.Arch.Act)
	m.E.MaxPool(y, p, arg, ps)
}

// backwardUpdate computes the gradients of the layers below the output
// layer into G from a.dh (head wrote it, and the output layer's) and
// updates each layer's parameters as soon as the layer's backward op has
// queued (its weights are no longer needed then), the output layer first.
// The update of a layer is the same arithmetic as one update over all
// parameters; queued this way, a device engine can run it beside the
// backward ops of the layers below (engine/cuda does, on its second
// stream).
func (m *Model) backwardUpdate(a *acts) {
	e, act := m.E, m.Arch.Act
	m.update(3)
	if !m.denseBackwardUpdate(a) {
		e.DenseBackward(a.p2, m.pv[4], a.h, a.dh, a.dp2, m.gv[4], m.gv[5], a.d1, act)
		if m.DeferUpdate {
			m.deferred = true
		} else {
			m.update(denseLayer)
		}
	}
	m.convPoolBackward(a.p1, m.pv[2], a.a2, a.dp2, a.arg2, a.da2, a.dp1, m.gv[2], m.gv[3], a.c2, a.ps2)
	m.update(1)
	m.convPoolBackward(a.x, m.pv[0], a.a1, a.dp1, a.arg1, a.da1, nil, m.gv[0], m.gv[1], a.c1, a.ps1)
	m.update(0)
}

// denseBackwardUpdate queues the first dense layer's backward op and its
// update as one op where the engine has one (DenseUpdater) and takes
// these arguments, and reports whether it did; never with NoUpdate or
// DeferUpdate, which leave the update out or move it.
func (m *Model) denseBackwardUpdate(a *acts) bool {
	du, ok := m.E.(DenseUpdater)
	if !ok || m.NoUpdate || m.DeferUpdate {
		return false
	}
	v := m.layers[denseLayer]
	return du.DenseBackwardUpdate(m.Opt, a.p2, m.pv[4], a.h, a.dh, a.dp2, a.d1, m.Arch.Act, v.p, v.g, v.s1, v.s2, v.step)
}

// convPoolBackward runs the backward pass of a max-pool and the
// convolution before it, as one op where the engine has one
// (ConvPoolBackwarder). dy is scratch for the pool's input gradient.
func (m *Model) convPoolBackward(x, w, y, dp, arg, dy, dx, dw, db Tensor, s ConvShape, ps PoolShape) {
	if cp, ok := m.E.(ConvPoolBackwarder); ok {
		cp.ConvPoolBackward(x, w, y, dp, arg, dy, dx, dw, db, s, ps, m.Arch.Act)
		return
	}
	m.E.MaxPoolBackward(dp, arg, dy, ps)
	m.E.ConvBackward(x, w, y, dy, dx, dw, db, s, m.Arch.Act)
}

// Batch is where a step's images come from: a dataset on the engine, an
// order over it, and a cursor into that order that Gather advances.
type Batch struct {
	Images, Labels Tensor // (M,784) uint8, (M) int32
	Perm, Cursor   Tensor // (L) int32, (1) int32 or (2) with the epoch
	// Aug is the training steps' augmentation (Cursor holds the epoch
	// when it is on); evaluation never augments.
	Aug Augment
	// LabelSmoothing is the training steps' (SoftmaxXent's ls; 0: one-hot
	// targets).
	LabelSmoothing float64
}

// TrainStep queues one full step on a batch of n from b: gather, forward,
// loss (added to stats), backward, optimizer update. It does not wait.
func (m *Model) TrainStep(b Batch, n int, stats Tensor) error {
	m.mustTrain()
	a, err := m.buffers(n)
	if err != nil {
		return err
	}
	m.E.Gather(b.Images, b.Labels, b.Perm, b.Cursor, a.x, a.y, n, ImagePixels, b.Aug)
	m.FlushUpdate()
	m.hidden(a)
	m.head(a, stats, b.LabelSmoothing)
	m.backwardUpdate(a)
	return nil
}

// FlushUpdate queues the first dense layer's update that a step with
// DeferUpdate left unqueued, if any. On an engine that records steps
// (Capturer), only after the last replay: a recorded step holds the
// update at its start, so steps replayed after a flush would apply one
// update twice (bench never flushes; Trainer.Run refuses DeferUpdate).
func (m *Model) FlushUpdate() {
	if m.deferred {
		m.deferred = false
		m.update(denseLayer)
	}
}

// denseLayer is the first dense layer's index among the layers (Layers):
// the one whose update DeferUpdate moves.
const denseLayer = 2

// mustTrain panics on a model made for inference alone: the training ops
// have no gradients or optimizer state to use there.
func (m *Model) mustTrain() {
	if m.inference {
		panic("engine: a training op on a model made by NewInferenceModel")
	}
}

// EvalStep queues the forward pass and loss on a batch of n from b, adding
// to stats; when probs is not nil the class probabilities (n×10) are read
// back into it, which waits.
func (m *Model) EvalStep(b Batch, n int, stats Tensor, probs []float32, labels []int32) error {
	a, err := m.buffers(n)
	if err != nil {
		return err
	}
	m.E.Gather(b.Images, b.Labels, b.Perm, b.Cursor, a.x, a.y, n, ImagePixels, Augment{})
	m.forward(a)
	var pt Tensor
	if probs != nil {
		pt = a.probs
	}
	m.E.SoftmaxXent(a.logits, a.y, pt, nil, stats, n, Classes, 0)
	if probs != nil {
		if err := m.E.Read(a.probs, 0, probs[:n*Classes]); err != nil {
			return err
		}
		if labels != nil {
			if err := m.E.Read(a.y, 0, labels[:n]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Predict returns class probabilities (n×10) for images x (n×784, already
// scaled to [0,1]).
func (m *Model) Predict(x []float32) ([]float32, error) {
	n := len(x) / ImagePixels
	if n == 0 || len(x)%ImagePixels != 0 {
		return nil, fmt.Errorf("predict: %d values is not a whole number of %d-pixel images", len(x), ImagePixels)
	}
	out := make([]float32, n*Classes)
	const chunk = 256
	for lo := 0; lo < n; lo += chunk {
		k := min(chunk, n-lo)
		a, err := m.buffers(k)
		if err != nil {
			return nil, err
		}
		if err := m.E.Write(a.x, 0, x[lo*ImagePixels:(lo+k)*ImagePixels]); err != nil {
			return nil, err
		}
		m.forward(a)
		// Labels are irrelevant here; zeros keep SoftmaxXent's checks happy.
		m.E.Fill(a.y, 0)
		if m.pstats == nil {
			if m.pstats, err = m.E.Alloc(Float32, 3); err != nil {
				return nil, err
			}
		}
		m.E.SoftmaxXent(a.logits, a.y, a.probs, nil, m.pstats, k, Classes, 0)
		if err := m.E.Read(a.probs, 0, out[lo*Classes:(lo+k)*Classes]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Release frees the model's tensors on its engine.
func (m *Model) Release() {
	ResetGraphs(m.E)
	for _, t := range []Tensor{m.P, m.G, m.S1, m.S2, m.Step, m.pstats} {
		if t != nil {
			m.E.Free(t)
		}
	}
	m.freeActs()
	m.acts, m.views, m.capN = nil, map[int]*acts{}, 0
}

// Params reads the parameters back to the host.
func (m *Model) Params() ([]float32, error) { return m.read(m.P, nil) }

// read reads t back into buf where it has t's length, else into a new
// slice, and returns it.
func (m *Model) read(t Tensor, buf []float32) ([]float32, error) {
	if len(buf) != t.Len() {
		buf = make([]float32, t.Len())
	}
	return buf, m.E.Read(t, 0, buf)
}

// step reads the optimizer's step count back (one per layer, all equal).
func (m *Model) step() (float32, error) {
	m.mustTrain()
	st := make([]float32, m.Step.Len())
	if err := m.E.Read(m.Step, 0, st); err != nil {
		return 0, err
	}
	for _, v := range st[1:] {
		if v != st[0] {
			return 0, fmt.Errorf("model: the layers' optimizer step counts differ (%v)", st)
		}
	}
	return st[0], nil
}

// SetOptState restores the optimizer state.
func (m *Model) SetOptState(s1, s2 []float32, step float32) error {
	m.mustTrain()
	if err := m.E.Write(m.S1, 0, s1); err != nil {
		return err
	}
	if m.S2 != nil && s2 != nil {
		if err := m.E.Write(m.S2, 0, s2); err != nil {
			return err
		}
	}
	st := make([]float32, m.Step.Len())
	for i := range st {
		st[i] = step
	}
	return m.E.Write(m.Step, 0, st)
}

// freeActs frees the activation buffers (the views share their memory).
func (m *Model) freeActs() {
	if m.acts != nil {
		freeActs(m.E, m.acts)
	}
	m.acts = nil
}

// freeActs frees a's buffers that were allocated.
func freeActs(e Engine, a *acts) {
	for _, t := range []Tensor{a.x, a.y, a.a1, a.p1, a.a2, a.p2, a.h, a.logits, a.probs, a.arg1, a.arg2, a.dlogits, a.dh, a.dp2, a.da2, a.dp1, a.da1} {
		if t != nil {
			e.Free(t)
		}
	}
}
