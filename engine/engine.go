// engine.go: the Engine interface, the one boundary between the network
// (model, optimizer, training loop, all in this package) and the hardware
// that runs it (engine/cpu, engine/cuda).
//
// The interface is deliberately small and device-neutral:
//
//   - Memory: Alloc, Slice, Write, Read, Fill. Tensors are opaque engine-owned
//     buffers; the host only sees them through Write and Read.
//   - The few ops the network needs: batch gathering, convolution, max-pool,
//     dense layers (each with fused bias and activation, and its backward),
//     softmax cross-entropy with on-device statistics, and the optimizer
//     update over one flat parameter buffer.
//   - Sync, the only point where the host waits for the device.
//
// Ops are asynchronous on a device engine: they queue work and return at
// once. Errors from queued work (a failed launch, a device fault) are reported
// by the next Sync, Read or Close. A shape or type mismatch between an op's
// arguments is a programmer error and panics with a fixed message.
//
// Everything that changes from one training step to the next lives in
// tensors, not in arguments: the shuffled order of the epoch (perm), the
// position in it (cursor, advanced by Gather), the optimizer's step count.
// So the op sequence of a step, with the same arguments, is identical every
// time, which lets a GPU engine record it once as a CUDA graph and replay it
// (see Capturer) with no host round trip.
package engine

import (
	"errors"
	"fmt"
	"time"
)

// DType is the element type of a Tensor.
type DType int

// The element types the network needs.
const (
	Float32 DType = iota
	Int32
	Uint8
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	case Uint8:
		return "uint8"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	if d == Uint8 {
		return 1
	}
	return 4
}

// Tensor is a buffer owned by an engine: a flat run of Len elements of one
// DType. Its logical shape is given to each op that uses it.
type Tensor interface {
	Len() int
	DType() DType
}

// Activation is the nonlinearity applied after a layer's bias.
type Activation int

// The activations a layer can have.
const (
	Identity Activation = iota
	ReLU
	Sigmoid
	Tanh
)

// ParseActivation maps a flag value to an Activation.
func ParseActivation(s string) (Activation, error) {
	switch s {
	case "relu":
		return ReLU, nil
	case "sigmoid":
		return Sigmoid, nil
	case "tanh":
		return Tanh, nil
	case "identity", "linear", "none":
		return Identity, nil
	}
	return 0, fmt.Errorf("unknown activation %q: expected relu, sigmoid or tanh", s)
}

func (a Activation) String() string {
	switch a {
	case Identity:
		return "identity"
	case ReLU:
		return "relu"
	case Sigmoid:
		return "sigmoid"
	case Tanh:
		return "tanh"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// ConvShape describes a 2-D convolution, stride 1, NCHW layout:
// x: (N,C,H,W), w: (K,C,R,S), b: (K), y: (N,K,P,Q) with
// P = H+2*Pad-R+1, Q = W+2*Pad-S+1.
type ConvShape struct {
	N, C, H, W int
	K, R, S    int
	Pad        int
}

// P is the output height.
func (s ConvShape) P() int { return s.H + 2*s.Pad - s.R + 1 }

// Q is the output width.
func (s ConvShape) Q() int { return s.W + 2*s.Pad - s.S + 1 }

// PoolShape describes a max-pool with a square window of Size and equal
// stride, no padding: x: (N,C,H,W), y: (N,C,H/Size,W/Size).
type PoolShape struct {
	N, C, H, W int
	Size       int
}

// OH is the output height.
func (s PoolShape) OH() int { return s.H / s.Size }

// OW is the output width.
func (s PoolShape) OW() int { return s.W / s.Size }

// DenseShape describes a fully connected layer y = x·Wᵀ + b:
// x: (N,In), w: (Out,In), b: (Out), y: (N,Out).
type DenseShape struct {
	N, In, Out int
}

// OptKind names an optimizer.
type OptKind int

// The optimizers.
const (
	Adam OptKind = iota
	SGD
)

// OptConfig holds an optimizer's hyperparameters. Adam uses LR, Beta1,
// Beta2 and Eps (Keras defaults: 0.001, 0.9, 0.999, 1e-7); SGD uses LR and
// Momentum. LR is the peak rate: update t uses LR·Sched.Factor(t).
type OptConfig struct {
	Kind     OptKind
	LR       float32
	Beta1    float32
	Beta2    float32
	Eps      float32
	Momentum float32
	Sched    Schedule
}

// Engine runs the network's tensors and ops on one device.
type Engine interface {
	// Name identifies the engine and device, e.g. "cpu (2 threads, AVX2)".
	Name() string

	// Alloc returns a zeroed tensor of n elements.
	Alloc(dt DType, n int) (Tensor, error)
	// Free releases a tensor from Alloc (not a Slice view); it must not be
	// used afterwards.
	Free(t Tensor)
	// Slice returns a view of n elements of t starting at off.
	Slice(t Tensor, off, n int) Tensor
	// Write copies src ([]float32, []int32 or []uint8, matching dst's
	// DType) into dst starting at element off.
	Write(dst Tensor, off int, src any) error
	// Read copies elements of src starting at off into dst (a slice of
	// the matching type); it waits for queued work on src.
	Read(src Tensor, off int, dst any) error
	// Fill sets every element of t to v.
	Fill(t Tensor, v float32)

	// Gather assembles a batch from a dataset held by the engine.
	// images: (M,784) uint8, labels: (M) int32, perm: (L) int32 indices
	// into the dataset, cursor: (1) int32 position in perm, or (2) with
	// the epoch after it when aug is on.
	// It writes x: (n,1,28,28) float32 scaled to [0,1] from images
	// perm[cursor..cursor+n) and y: (n) int32 their labels, then advances
	// cursor by n. pixels is the image size (784 for MNIST). With aug on,
	// each image is translated by ShiftOffsets(aug.Seed, epoch, index,
	// aug.Shift) with zero fill, as ShiftImage does.
	Gather(images, labels, perm, cursor, x, y Tensor, n, pixels int, aug Augment)

	// Conv computes y = act(conv(x, w) + b). Shapes as in ConvShape.
	Conv(x, w, b, y Tensor, s ConvShape, act Activation)
	// ConvBackward takes dy, the gradient at Conv's activated output y,
	// and writes dw and db (overwritten, not accumulated) and, when dx is
	// not nil, dx.
	ConvBackward(x, w, y, dy, dx, dw, db Tensor, s ConvShape, act Activation)

	// MaxPool computes y and records in arg (int32, len(y)) the index in
	// x of each maximum.
	MaxPool(x, y, arg Tensor, s PoolShape)
	// MaxPoolBackward writes dx (overwritten) from dy through arg.
	MaxPoolBackward(dy, arg, dx Tensor, s PoolShape)

	// Dense computes y = act(x·wᵀ + b). Shapes as in DenseShape.
	Dense(x, w, b, y Tensor, s DenseShape, act Activation)
	// DenseBackward takes dy at the activated output y and writes dw, db
	// and, when dx is not nil, dx (all overwritten).
	DenseBackward(x, w, y, dy, dx, dw, db Tensor, s DenseShape, act Activation)

	// SoftmaxXent takes logits: (n,classes) and labels: (n) int32. It adds
	// the summed cross-entropy loss, the number of correct argmax
	// predictions and n to stats[0..2] (float32), writes the softmax
	// probabilities to probs when probs is not nil, and when dlogits is not
	// nil writes the gradient of the mean loss against the targets that
	// label smoothing ls (0 ≤ ls < 1) makes, (softmax - target)/n, each
	// value as SmoothedGrad forms it; 0 is one-hot, softmax - onehot. The
	// loss added to stats is against the labels themselves.
	SoftmaxXent(logits, labels, probs, dlogits, stats Tensor, n, classes int, ls float64)

	// Update applies one optimizer step to the flat parameters p with
	// gradients g. s1 and s2 are the optimizer state (Adam: first and
	// second moments; SGD: s1 is the velocity, s2 unused and may be nil).
	// step: (1) float32, the number of updates done so far; Update
	// increments it.
	Update(c OptConfig, p, g, s1, s2, step Tensor)

	// Sync waits for all queued work and returns the first error it met.
	Sync() error
	// Close releases everything the engine allocated.
	Close() error
}

// ConvPooler is implemented by engines that can run a convolution and the
// max-pool over its output as one op, with the results of Conv then
// MaxPool: y as Conv writes it (the backward pass reads it), p and arg as
// MaxPool(y, p, arg, ps) writes them. The model uses it where an engine
// has it.
type ConvPooler interface {
	ConvPool(x, w, b, y, p, arg Tensor, s ConvShape, ps PoolShape, act Activation)
}

// ConvPoolBackwarder is implemented by engines that can run the backward
// pass of a convolution and the max-pool after it as one op, with the
// results of MaxPoolBackward(dp, arg, dy, ps) then ConvBackward(x, w, y,
// dy, dx, dw, db, s, act); dy is the op's scratch (of dy's shape), its
// contents afterwards unspecified. The model uses it where an engine has
// it.
type ConvPoolBackwarder interface {
	ConvPoolBackward(x, w, y, dp, arg, dy, dx, dw, db Tensor, s ConvShape, ps PoolShape, act Activation)
}

// HeadStepper is implemented by engines that can run a training step's
// output layer, its loss and the output layer's backward pass as one op,
// with the results of Dense(x, w, b, logits, s, Identity), then
// SoftmaxXent(logits, labels, nil, dlogits, stats, s.N, s.Out, ls), then
// DenseBackward(x, w, logits, dlogits, dx, dw, db, s, Identity) (dx may
// be nil). The model uses it for its training steps where an engine has
// it.
type HeadStepper interface {
	HeadStep(x, w, b, logits, labels, dlogits, stats, dx, dw, db Tensor, s DenseShape, ls float64)
}

// DenseUpdater is implemented by engines that can run a dense layer's
// backward op and the optimizer's update of its parameters as one op,
// with the results of DenseBackward(x, w, y, dy, dx, dw, db, s, act) then
// Update(c, p, g, s1, s2, step), where p holds the layer's weights w
// (its start) then its bias, and g their gradients dw then db; but g is
// left unspecified (the op need not write the gradients). It reports
// whether it queued the op; where it did not, it queued nothing, and the
// model queues the two ops.
type DenseUpdater interface {
	DenseBackwardUpdate(c OptConfig, x, w, y, dy, dx Tensor, s DenseShape, act Activation, p, g, s1, s2, step Tensor) bool
}

// SmoothTargets returns what SmoothedGrad takes from each probability for
// label smoothing ls over classes: off, ls/classes, from every class's,
// and on, 1 - ls, from the label's besides (its target is on + off). ls
// 0 gives 0 and 1, softmax - onehot bit for bit. Every engine forms the
// gradient from these two float32 values, in this order.
func SmoothTargets(ls float64, classes int) (off, on float32) {
	return float32(ls / float64(classes)), float32(1 - ls)
}

// SmoothedGrad is one value of SoftmaxXent's gradient before the 1/n:
// p - off, less on where the class is the label (SmoothTargets).
func SmoothedGrad(p, off, on float32, label bool) float32 {
	d := p - off
	if label {
		d -= on
	}
	return d
}

// MaxLabelSmoothing bounds --label-smoothing: at 1 every target is
// uniform, and nothing is learnt from the labels.
const MaxLabelSmoothing = 0.5

// CheckLabelSmoothing refuses a label smoothing outside [0,
// MaxLabelSmoothing] (what is named: the flag, or a checkpoint's field).
func CheckLabelSmoothing(what string, ls float64) error {
	if !(ls >= 0 && ls <= MaxLabelSmoothing) {
		return fmt.Errorf("%s %v: expected 0 (one-hot targets) to %g, e.g. 0.1", what, ls, MaxLabelSmoothing)
	}
	return nil
}

// Capturer is implemented by engines that can record the op sequence of
// fn once (per key) and replay the recording on later calls. Engines without
// it run fn directly. A recording holds the tensors fn used: Reset drops
// every recording, and must be called before any of those tensors is freed
// or replaced (Model and Trainer do). An engine may run the fn of an
// earlier call again to record variants of the same step (the GPU
// engine's in-place timing), so fn must queue the same ops on the same
// tensors every time, and what it returns to its caller outside them
// (an error variable it sets) may be set by a later call's recording.
type Capturer interface {
	Replay(key int, fn func()) error
	Reset()
}

// OccasionalSteps is implemented by engines that time a recorded step's
// alternatives in place (the GPU engine): the keys given (batch sizes)
// are of steps that come rarely, such as an epoch's last, partial batch,
// which take the choices settled for batch size from (the training's) of
// the same layers instead of timing their own (which they would not
// finish). Trainer.Run sets its run's and clears them at its end
// (SetOccasional(0)).
type OccasionalSteps interface {
	SetOccasional(from int, keys ...int)
}

// LaterReader is implemented by engines that queue their work (the GPU
// engine): ReadLater queues copies of srcs (Float32 tensors) as the work
// queued so far leaves them, and returns at once; the work queued after
// neither waits for the copies nor changes what they copy. wait, which
// may be called from any goroutine and more than once, blocks until dsts
// (each of its src's length) hold the copies, and returns their error.
// dsts must not be touched before wait returns. A later ReadLater, and
// Close, wait for the copies before it first.
type LaterReader interface {
	ReadLater(srcs []Tensor, dsts [][]float32) (wait func() error, err error)
}

// DeviceTimer is implemented by engines that time queued work on the
// device itself (CUDA events): StartTimer marks the stream, StopTimer waits
// for the work queued since and returns the device time it took.
type DeviceTimer interface {
	StartTimer() error
	StopTimer() (time.Duration, error)
}

// StepTimeline is implemented by engines that run a step's work on
// several streams (the GPU engine): Timeline records step, whose buffers
// and choices must be settled already (it has run as a Replay step until
// the timing in place ended), with a timing point after each kernel or
// library call on the stream that ran it, replays it replays times
// (before queued ahead of each, outside the recording: say, the batch
// cursor reset) and returns each point's median time from the step's
// start, in the order queued: which stream ends last, and after what.
type StepTimeline interface {
	Timeline(step, before func(), replays int) ([]TimelineMark, error)
}

// TimelineMark is one point of a step's timeline: the end of Op on Stream,
// At after the step's start.
type TimelineMark struct {
	Stream, Op string
	At         time.Duration
}

// ResetGraphs drops the engine's recordings, if it makes any.
func ResetGraphs(e Engine) {
	if c, ok := e.(Capturer); ok {
		c.Reset()
	}
}

// Run calls fn directly or through the engine's Capturer.
func Run(e Engine, key int, fn func()) error {
	if c, ok := e.(Capturer); ok {
		return c.Replay(key, fn)
	}
	fn()
	return nil
}

// Must panics with a fixed message when a tensor has the wrong type or too
// few elements for the shape an op was given. Engines call it to check
// their arguments.
func Must(op, name string, t Tensor, dt DType, n int) {
	if t == nil {
		panic(fmt.Sprintf("engine: %s: %s is nil", op, name))
	}
	if t.DType() != dt {
		panic(fmt.Sprintf("engine: %s: %s is %v, want %v", op, name, t.DType(), dt))
	}
	if t.Len() < n {
		panic(fmt.Sprintf("engine: %s: %s has %d elements, shape needs %d", op, name, t.Len(), n))
	}
}

// ErrOutOfMemory matches (errors.Is) an engine's allocation refused for
// want of memory: the CPU engine's past its memory bound. Evaluation then
// goes on at a smaller batch (EvaluateContext).
var ErrOutOfMemory = errors.New("out of memory")

// ErrDeviceLost matches (errors.Is) an engine's error after which the
// engine cannot be used again in this process (a GPU's sticky fault):
// a long-running user (serve) stops rather than answer every request
// with the same error.
var ErrDeviceLost = errors.New("the engine's device can no longer be used")
