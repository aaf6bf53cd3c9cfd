//go:build cgo && !windows

// config.go: the engine's configuration from the environment: which
// kernel set it runs (KernelsEnv) and how many streams (StreamsEnv), and
// switching either at run time (which drops the recorded steps).

package cuda

import (
	"fmt"
	"os"
	"strings"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/envflag"
)

// KernelsEnv is the environment variable that picks the engine's kernel
// set: "own" (the default) or "library".
//
// With "own", these ops run on kernels of ours (checked on the CPU by
// kernels/emu_test.go and by this engine on an emulated device,
// emulated_test.go, and on an H200 by the conformance suite and the
// golden test): a first layer (one input channel, 3×3 or 5×5 filters)
// forward in one kernel with its bias and activation (instead of cuDNN's
// convolution and a bias kernel), and its filter and bias gradients in one
// pass over dy, y and x (instead of a bias kernel and cuDNN's filter
// gradient); a convolution's bias, activation and 2×2 max-pool in one
// pass over its output (ConvPool: first_conv_pool3 for a first layer with
// 3×3 filters, with its convolution too; bias_act_pool after cuDNN's
// convolution otherwise); dense layers of at most 32 outputs in one kernel each way
// (instead of cuBLAS's split-K product plus a bias kernel). "library" runs
// every convolution on cuDNN and every product on cuBLAS. The step times
// of both sets are in kernels/NOTES.md (run 13).
const KernelsEnv = "CNNGPU_KERNELS"

// parseKernels reads KernelsEnv: true for "own".
func parseKernels() (bool, error) {
	return parseEnv(KernelsEnv, `"own" (the default) or "library"; unset it to use the default`, map[string]bool{"": true, "own": true, "library": false})
}

// ConvEnv is the environment variable that says where a 3×3, padding-1
// convolution after the first layer (the reference network's second)
// runs its forward pass (with its bias, activation and 2×2 max-pool), its
// data gradient and its filter gradient, with the own kernel set: "timed"
// (the default) times our kernels (conv3_pool, conv3_data, conv3_filter:
// checked on the CPU by kernels/emu_test.go and through the engine on an
// emulated device) in place against cuDNN's choice, direction by
// direction, as tune.go times cuDNN's close alternatives, and keeps the
// faster (remembered with cuDNN's choices); "own" always runs ours where
// the shape fits them (no search of cuDNN's algorithms for those
// directions); "cudnn" never does. Other shapes, and the library kernel
// set, run on cuDNN whatever it says.
const ConvEnv = "CNNGPU_CONV"

// convMode is ConvEnv's value.
type convMode int

const (
	convTimed convMode = iota
	convOwn
	convCUDNN
)

// parseConv reads ConvEnv.
func parseConv() (convMode, error) {
	return parseEnv(ConvEnv, `"timed" (our convolution kernels where they time faster than cuDNN's; the default), "own" or "cudnn"; unset it to use the default`,
		map[string]convMode{"": convTimed, "timed": convTimed, "own": convOwn, "cudnn": convCUDNN})
}

// DenseEnv is the environment variable that says how a dense layer of
// more than 32 outputs (the reference network's first; with the library
// kernel set, every dense layer) runs its products' epilogues: apart, as
// cuBLAS's SGEMM followed by our kernels for the bias and activation
// forward and for the bias gradient backward ("cublas"), or fused into the
// products on cuBLASLt (bias and ReLU into the forward product, the bias
// gradient into the weight gradient's: "cublaslt"); "timed" (the default)
// times, product by product, the training step recorded with each in
// place (fused with each of up to cuda.LtAlgorithms of the algorithms
// cuBLASLt's heuristic offers), as tune.go times the convolutions'
// alternatives, and keeps the fastest (remembered with cuDNN's choices);
// "cublaslt" times the heuristic's algorithms alone. Where cuBLASLt has no
// algorithm for a product (a sigmoid or tanh layer, a release without the
// epilogue, a bias vector less than 16-byte aligned), it runs apart
// whatever this says; so it does in "timed" mode where cuBLASLt fails to
// plan it or to run an algorithm the first time (fused.go: warnFused).
const DenseEnv = "CNNGPU_DENSE"

// denseMode is DenseEnv's value.
type denseMode int

const (
	denseTimed denseMode = iota
	denseCUBLAS
	denseLt
)

// parseDense reads DenseEnv.
func parseDense() (denseMode, error) {
	return parseEnv(DenseEnv, `"timed" (cuBLASLt's fused products where they time faster in the training step; the default), "cublas" or "cublaslt"; unset it to use the default`,
		map[string]denseMode{"": denseTimed, "timed": denseTimed, "cublas": denseCUBLAS, "cublaslt": denseLt})
}

// StreamsEnv is the environment variable that sets how many streams the
// engine uses: 2 (the default), 1 or 3. With 2, a second stream takes a
// convolution's filter gradient (with its own cuDNN handle and workspace)
// and a dense layer's weight gradient (with a second cuBLAS handle) beside
// the input gradient, and every optimizer update (engine.Model updates
// each layer as soon as its gradients are queued); the main stream goes on
// with the layers below and joins the second stream only where it would
// touch memory that work queued there touches, and at the end of a step
// (toLane, use, settle). Checked on an emulated device (emulated_test.go,
// which also checks that no two streams touch the same memory unordered,
// and that a training step joins once) and on an H200; what the second
// stream gained, first joined at each op's end and then left to run on,
// is in kernels/NOTES.md (runs 7 and 10). With 3, the updates and the
// step counts' increments go to a third stream (toUpdates), so that the
// second stream's weight gradients no longer wait behind them: not the
// default until a GPU has timed it (kernels/NOTES.md, "The updates on a
// third stream").
const StreamsEnv = "CNNGPU_STREAMS"

// parseStreams reads StreamsEnv: 1, 2 or 3.
func parseStreams() (int, error) {
	return parseEnv(StreamsEnv, "the number of streams: 2 (the default), 1, or 3 (the optimizer's updates on a third stream); unset it to use the default",
		map[string]int{"": 2, "2": 2, "1": 1, "3": 3})
}

// PreloadEnv is the environment variable that turns off opening cuBLAS and
// cuDNN beside the context's making (cuda.Preload): 1 (the default) or 0,
// for measuring what the preload gains (scripts/device-check.sh) and as a
// way out should a driver not bear it.
const PreloadEnv = "CNNGPU_PRELOAD"

// parsePreload reads PreloadEnv: true for 1.
func parsePreload() (bool, error) {
	return envflag.Bool(PreloadEnv, true, "open cuBLAS and cuDNN while the GPU starts", "open them after")
}

// HeadEnv is the environment variable that says whether a training
// step's output layer and loss run as dense_xent and head_grads (1, the
// default, with the own kernel set) or as the three kernels each way
// before them (0: dense_small, softmax_xent, then dense_small_dw,
// bias_grad and dense_small_dx; the same bits), for measuring what the
// fused pair gains (scripts/device-check.sh: run 19 timed dense_xent at
// 26 µs in the step's timeline, where 5–7 were predicted).
const HeadEnv = "CNNGPU_HEAD"

// parseHead reads HeadEnv: true for 1.
func parseHead() (bool, error) {
	return envflag.Bool(HeadEnv, true, "run the output layer and loss as dense_xent and head_grads", "run them as the three kernels each way")
}

// DenseUpdateEnv is the environment variable that says how the own kernel
// set runs the first dense layer's weight and bias gradients and Adam's
// update of them: "split" (the default: the weight gradient's product,
// on cuBLAS or cuBLASLt as DenseEnv says, writes dw and db, and adam4
// reads them back) or "fused" (dense_wgrad_adam: the gradients computed
// tile by tile and applied in the same kernel, never written, in FP32
// whatever the precision, in place of DenseEnv's choice for that product;
// checked on the CPU by kernels/emu_test.go and on the emulated device,
// not yet timed on a GPU). For measuring (scripts/device-check.sh, side
// "fusedupd") before it can be a default or a timed alternative.
const DenseUpdateEnv = "CNNGPU_DENSE_UPDATE"

// parseDenseUpdate reads DenseUpdateEnv: true for "fused".
func parseDenseUpdate() (bool, error) {
	return parseEnv(DenseUpdateEnv, `"split" (the weight gradient written, then Adam's update; the default) or "fused" (both in one kernel); unset it to use the default`,
		map[string]bool{"": false, "split": false, "fused": true})
}

// BesideEnv is the environment variable that says when cuDNN is loaded
// beside the first steps (beside.go): "1" (the default, or "early": at
// the first use of a convolution's gradient, inside the first training
// step), "recorded" (once the first training step is recorded: build
// 3d535c5's default, 50 ms slower to a warm run's final line on an H100
// in run 19, medians of five, with 430–550 steps on our convolutions
// where the earlier start had 0–180) or "0" (not
// beside: the first step waits for cuDNN), for measuring what each gains
// (scripts/device-check.sh) and as a way out should a driver not bear it.
const BesideEnv = "CNNGPU_CUDNN_BESIDE"

// besideMode is BesideEnv's value.
type besideMode int

const (
	besideEarly besideMode = iota
	besideAfterRecording
	besideOff
)

// parseBeside reads BesideEnv.
func parseBeside() (besideMode, error) {
	v := os.Getenv(BesideEnv)
	switch envValue(v) {
	case "early":
		return besideEarly, nil
	case "recorded":
		return besideAfterRecording, nil
	}
	if on, ok := envflag.Parse(v, true); ok {
		if on {
			return besideEarly, nil
		}
		return besideOff, nil
	}
	return besideEarly, fmt.Errorf(`%s=%q: expected 1 (or true, yes, on, early: where cuDNN's choices are remembered, the first steps run our convolution kernels while cuDNN loads on another thread, started at the first use of a convolution's gradient, in the first training step; the default), "recorded" (that thread started once the first step is recorded) or 0 (or false, no, off: wait for cuDNN)`+"\nhint: set it to one of those, or unset it for the default", BesideEnv, v)
}

// PriorityEnv is the environment variable that gives one stream's work
// the first claim on the multiprocessors where both streams' kernels wait
// for them: "main" (the forward pass and the input gradients), "lanes"
// (the second stream's weight gradients and updates), or "same" (the
// default: both alike). The chosen side's streams get the device's
// greatest stream priority, the other's the least, and the recorded
// steps keep them (cuda.Options.Priorities). Measured against "same" by
// scripts/device-check.sh (PRIORITY_AB) before either becomes a default:
// "main" made the step 4% slower on an H200 (kernels/NOTES.md, run 18).
const PriorityEnv = "CNNGPU_PRIORITY"

// parsePriority reads PriorityEnv.
func parsePriority() (cu.Priority, error) {
	return parseEnv(PriorityEnv, `"main" (the main stream's work first), "lanes" (the second stream's first) or "same" (both alike; the default); unset it to use the default`,
		map[string]cu.Priority{"": cu.SamePriority, "same": cu.SamePriority, "main": cu.MainFirst, "lanes": cu.LanesFirst})
}

// DebugEnv is the environment variable that makes the engine wait after
// every kernel and library call (cuda.Context), so that an error names
// the call that caused it: 1, or 0 (the default).
const DebugEnv = "CNNGPU_DEBUG"

// parseDebug reads DebugEnv: true for 1.
func parseDebug() (bool, error) {
	return envflag.Bool(DebugEnv, false, "wait after every GPU call, so that an error names its cause", "run at full speed")
}

// parseNoCache reads NoCacheEnv: true for 1 (no remembered choices).
func parseNoCache() (bool, error) {
	return envflag.Bool(NoCacheEnv, false, "search cuDNN's algorithms in every process, remembering nothing", "remember them in the cache folder")
}

// parseEnv reads environment variable name: its value in values ("" for
// unset; any case, spaces around it ignored, as the switches take them),
// or an error naming the variable and its value, then expected.
func parseEnv[T any](name, expected string, values map[string]T) (T, error) {
	v := os.Getenv(name)
	if t, ok := values[envValue(v)]; ok {
		return t, nil
	}
	var zero T
	return zero, fmt.Errorf("%s=%q: expected %s", name, v, expected)
}

// envValue is a variable's value as compared: lower case, without the
// spaces around it.
func envValue(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// envConfig is the engine's configuration from the environment (New).
type envConfig struct {
	own, preload bool
	head         bool
	fusedUpdate  bool
	streams      int
	beside       besideMode
	priority     cu.Priority
	conv         convMode
	dense        denseMode
}

// readEnv reads KernelsEnv, ConvEnv, DenseEnv, PreloadEnv, HeadEnv,
// DenseUpdateEnv, BesideEnv, PriorityEnv and StreamsEnv; the error is the
// first bad value's.
func readEnv() (c envConfig, err error) {
	if c.own, err = parseKernels(); err != nil {
		return c, err
	}
	if c.conv, err = parseConv(); err != nil {
		return c, err
	}
	if c.dense, err = parseDense(); err != nil {
		return c, err
	}
	if c.preload, err = parsePreload(); err != nil {
		return c, err
	}
	if c.head, err = parseHead(); err != nil {
		return c, err
	}
	if c.fusedUpdate, err = parseDenseUpdate(); err != nil {
		return c, err
	}
	if c.beside, err = parseBeside(); err != nil {
		return c, err
	}
	if c.priority, err = parsePriority(); err != nil {
		return c, err
	}
	c.streams, err = parseStreams()
	return c, err
}

// CheckEnv reports a bad value of DebugEnv, of those readEnv reads, or of
// NoCacheEnv, so that a command refuses it before choosing an engine.
func CheckEnv() error {
	if _, err := parseDebug(); err != nil {
		return err
	}
	if _, err := readEnv(); err != nil {
		return err
	}
	_, err := parseNoCache()
	return err
}

// SetOwnKernels switches between the two kernel sets (KernelsEnv) and drops
// the recorded steps.
func (e *Engine) SetOwnKernels(on bool) {
	e.Reset()
	e.own = on
}

// SetConv sets where the convolutions our kernels take run (ConvEnv) and
// drops the recorded steps.
func (e *Engine) SetConv(m convMode) {
	e.Reset()
	e.conv = m
}

// SetDense sets how dense layers run their products' epilogues
// (DenseEnv) and drops the recorded steps.
func (e *Engine) SetDense(m denseMode) {
	e.Reset()
	e.dense = m
}

// SetDenseUpdate sets whether the first dense layer's weight gradient and
// update run as one kernel (DenseUpdateEnv) and drops the recorded steps.
func (e *Engine) SetDenseUpdate(fused bool) {
	e.Reset()
	e.fusedUpdate = fused
}

// SetStreams sets how many streams the engine uses (StreamsEnv: 1, 2 or
// 3) and drops the recorded steps.
func (e *Engine) SetStreams(n int) {
	e.Reset()
	e.setStreams(n)
}

// setStreams is SetStreams without the Reset, for an engine with nothing
// recorded yet.
func (e *Engine) setStreams(n int) {
	e.streams, e.updates = n >= 2, n >= 3
}
