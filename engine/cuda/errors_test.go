//go:build cgo && !windows

// errors_test.go: each kind of failure gets its hint, through whatever
// context was added, and once.

package cuda

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/nvlib"
)

func TestExplain(t *testing.T) {
	for _, c := range []struct {
		err  error
		hint string
	}{
		{&cu.Error{Func: "cuMemAlloc_v2", Status: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY"}, hintOutOfMemory},
		{fmt.Errorf("model: allocating: %w", &cu.Error{Func: "cuMemAlloc_v2", Status: 2}), hintOutOfMemory},
		{&cu.BLASError{Func: "cublasCreate_v2", Status: 3}, hintOutOfMemory},
		{&cudnn.Error{Func: "cudnnFindConvolutionForwardAlgorithm", Status: 4001, Desc: "CUDNN_STATUS_ALLOC_FAILED"}, hintOutOfMemory},
		{&cu.Error{Func: "cuStreamSynchronize", Status: 700, Name: "CUDA_ERROR_ILLEGAL_ADDRESS"}, hintFault},
		{&cu.Error{Func: "cuStreamSynchronize", Status: 710, Name: "CUDA_ERROR_ASSERT"}, hintFault},
		{&cu.Error{Func: "cuStreamSynchronize", Status: 220, Name: "CUDA_ERROR_NVLINK_UNCORRECTABLE"}, hintFault},
		{&cu.Error{Func: "cuLaunchKernel(adam)", Status: 701}, hintOther},
		{&cudnn.Error{Func: "cudnnConvolutionForward", Status: 5000, Desc: "CUDNN_STATUS_EXECUTION_FAILED"}, hintOther},
		{bug("a rule broken"), hintBug},
	} {
		got := explain(c.err)
		var e *Error
		if !errors.As(got, &e) || e.Hint != c.hint {
			t.Errorf("explain(%v) = %v, want the hint %q", c.err, got, c.hint)
		}
		if !strings.HasPrefix(got.Error(), c.err.Error()) || !errors.Is(got, c.err) {
			t.Errorf("explain(%v) = %v: the failure is not first, or not wrapped", c.err, got)
		}
		if again := explain(fmt.Errorf("context: %w", got)); strings.Count(again.Error(), c.hint) != 1 {
			t.Errorf("explained twice: %v", again)
		}
		// A device fault, and only that, is the device lost (serve
		// stops on it), also under added context.
		if lost := errors.Is(fmt.Errorf("classifying: %w", got), engine.ErrDeviceLost); lost != (c.hint == hintFault) {
			t.Errorf("explain(%v) matches engine.ErrDeviceLost: %v, want %v", c.err, lost, c.hint == hintFault)
		}
	}
	if explain(nil) != nil {
		t.Error("explain(nil) is not nil")
	}
	// A failure to start that says what to do itself gets no hint.
	for _, err := range []error{
		&cu.SetupError{Err: errors.New("--device 3: no such GPU; this machine has:\n  GPU 0: H200\ngive --device one of these, or use --cpu")},
		fmt.Errorf("opening GPU 0: %w", &cu.SetupError{Err: fmt.Errorf("the NVIDIA driver did not start: %w; use --cpu", &cu.Error{Func: "cuInit", Status: 100})}),
		&nvlib.NotFoundError{Lib: nvlib.CUBLAS},
	} {
		got := explain(err)
		if got.Error() != err.Error() || !errors.Is(got, err) || errors.Is(got, engine.ErrDeviceLost) {
			t.Errorf("explain(%q) = %q, want the message as it was", err, got)
		}
	}
}

// TestAmbiguous: the failures a device fault can hide behind, for which
// the engine asks the device (Engine.explain), and only those.
func TestAmbiguous(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&cu.BLASError{Func: "cublasSgemm_v2", Status: 13}, true},                          // EXECUTION_FAILED
		{fmt.Errorf("dense: %w", &cu.BLASError{Func: "cublasLtMatmul", Status: 14}), true}, // INTERNAL_ERROR
		{&cu.BLASError{Func: "cublasSgemm_v2", Status: 7}, false},                          // INVALID_VALUE
		{&cu.BLASError{Func: "cublasCreate_v2", Status: 3}, false},                         // ALLOC_FAILED
		{&cudnn.Error{Func: "cudnnConvolutionForward", Status: 5000, Desc: "CUDNN_STATUS_EXECUTION_FAILED"}, true},
		{&cudnn.Error{Func: "cudnnConvolutionForward", Status: 5003, Desc: "CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER"}, true},
		{&cudnn.Error{Func: "cudnnConvolutionForward", Status: 8, Desc: "CUDNN_STATUS_EXECUTION_FAILED"}, true}, // cuDNN 8
		{&cudnn.Error{Func: "cudnnConvolutionForward", Status: 4000, Desc: "CUDNN_STATUS_INTERNAL_ERROR"}, true},
		{&cudnn.Error{Func: "cudnnConvolutionForward", Status: 3000, Desc: "CUDNN_STATUS_NOT_SUPPORTED"}, false},
		{&cu.Error{Func: "cuLaunchKernel(adam)", Status: 999, Name: "CUDA_ERROR_UNKNOWN"}, true},
		{&cu.Error{Func: "cuStreamSynchronize", Status: 700, Name: "CUDA_ERROR_ILLEGAL_ADDRESS"}, false}, // a fault by itself
		{&cu.Error{Func: "cuMemAlloc_v2", Status: 2}, false},
		{bug("a rule broken"), false},
	} {
		if got := ambiguous(c.err); got != c.want {
			t.Errorf("ambiguous(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
