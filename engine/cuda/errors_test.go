//go:build cgo

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
}
