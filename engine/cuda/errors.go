//go:build cgo

// errors.go: what the engine's errors say to do. Every error the engine
// returns from the device or a library (the driver's cu.Error, cuBLAS's
// cu.BLASError, cuDNN's cudnn.Error, under whatever context was added) is
// an *Error: the failure, which names the failing call, and a hint for the
// kind of failure: out of memory, a device fault that leaves the context
// unusable, a broken rule of the engine's own (bug), or any other.

package cuda

import (
	"errors"
	"fmt"
	"strings"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
)

// bugError is a rule of the engine's broken: its own bug, not the device's.
type bugError struct{ msg string }

func (e *bugError) Error() string { return "cuda engine: " + e.msg }

// bug is the error of a broken rule of the engine.
func bug(format string, args ...any) error { return &bugError{fmt.Sprintf(format, args...)} }

// Error is a failure of the GPU or one of its libraries, with what to do.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() + "; " + e.Hint }
func (e *Error) Unwrap() error { return e.Err }

// Is matches engine.ErrDeviceLost for a device fault (the context is
// unusable from then on).
func (e *Error) Is(target error) bool { return target == engine.ErrDeviceLost && deviceFault(e.Err) }

// The hints, by kind of failure.
const (
	hintOutOfMemory = "the GPU is out of memory: use a smaller --batch-size, or free GPU memory (nvidia-smi lists the processes holding it)"
	hintFault       = "the GPU reported a fault, after which this process cannot use it: run the command again; " +
		"CNNGPU_DEBUG=1 makes the error name the call that caused it, and --cpu runs without the GPU"
	hintOther = "CNNGPU_DEBUG=1 makes every GPU call wait for the device, so that the error names its cause; --cpu runs without the GPU"
	hintBug   = "this is a bug in cnngpu's GPU engine: please report it with the command that showed it; --cpu runs without the GPU"
)

// stickyStatus are the driver's errors after which a context is unusable:
// every later call fails with the same error (cuda.h).
var stickyStatus = map[int]bool{
	214: true, // CUDA_ERROR_ECC_UNCORRECTABLE
	700: true, // CUDA_ERROR_ILLEGAL_ADDRESS
	702: true, // CUDA_ERROR_LAUNCH_TIMEOUT
	714: true, // CUDA_ERROR_HARDWARE_STACK_ERROR
	715: true, // CUDA_ERROR_ILLEGAL_INSTRUCTION
	716: true, // CUDA_ERROR_MISALIGNED_ADDRESS
	717: true, // CUDA_ERROR_INVALID_ADDRESS_SPACE
	718: true, // CUDA_ERROR_INVALID_PC
	719: true, // CUDA_ERROR_LAUNCH_FAILED
}

// explain returns err as an *Error with the hint for its kind (err
// itself when it already is one, nil for nil).
func explain(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	hint := hintOther
	var b *bugError
	switch {
	case errors.As(err, &b):
		hint = hintBug
	case outOfMemory(err):
		hint = hintOutOfMemory
	case deviceFault(err):
		hint = hintFault
	}
	return &Error{Err: err, Hint: hint}
}

// outOfMemory reports whether err is the driver's, cuBLAS's or cuDNN's
// out-of-memory error.
func outOfMemory(err error) bool {
	var de *cu.Error
	var be *cu.BLASError
	var ne *cudnn.Error
	switch {
	case errors.As(err, &de):
		return de.Status == 2 // CUDA_ERROR_OUT_OF_MEMORY
	case errors.As(err, &be):
		return be.Status == 3 // CUBLAS_STATUS_ALLOC_FAILED
	case errors.As(err, &ne):
		// CUDNN_STATUS_ALLOC_FAILED, …_ALLOCATION_FAILED (the numbers
		// differ between cuDNN 8 and 9; the names do not).
		return strings.Contains(ne.Desc, "ALLOC")
	}
	return false
}

// deviceFault reports whether err is a sticky driver error.
func deviceFault(err error) bool {
	var de *cu.Error
	return errors.As(err, &de) && stickyStatus[de.Status]
}
