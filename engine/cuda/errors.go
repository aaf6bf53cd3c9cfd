//go:build cgo && !windows

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
	"github.com/cnngpu/cnngpu/internal/nvlib"
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
	// Fault is the driver's sticky error the engine found when it asked
	// the device after Err, a library's failure that a device fault can
	// cause (ambiguous): Err was that fault, seen through the library.
	Fault error
	// Refused is set on an allocation refused for want of memory,
	// before anything was queued (Alloc): it matches
	// engine.ErrOutOfMemory, on which evaluation goes on at a smaller
	// batch. (Out of memory anywhere else, a library's workspace in the
	// middle of a step, is not: what was queued before it ran.)
	Refused bool
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Err.Error() // it says what to do itself
	}
	if e.Fault != nil {
		return e.Err.Error() + "; the device then reported " + e.Fault.Error() + "; " + e.Hint
	}
	return e.Err.Error() + "; " + e.Hint
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches engine.ErrDeviceLost for a device fault (the context is
// unusable from then on), also one seen first through a library, and
// engine.ErrOutOfMemory for an allocation refused (Refused).
func (e *Error) Is(target error) bool {
	switch target {
	case engine.ErrDeviceLost:
		return e.Fault != nil || deviceFault(e.Err)
	case engine.ErrOutOfMemory:
		return e.Refused
	}
	return false
}

// The hints, by kind of failure.
const (
	hintOutOfMemory = "the GPU is out of memory: other processes may hold it (nvidia-smi lists them); a training needs less at a smaller --batch-size, and --cpu runs without the GPU"
	hintFault       = "the GPU reported a fault, after which this process cannot use it, but a new one can (a training resumes from its checkpoint with --resume, a study continues with the same command); " +
		"CNNGPU_DEBUG=1 makes the error name the call that caused it, and --cpu runs without the GPU"
	hintOther = "CNNGPU_DEBUG=1 makes every GPU call wait for the device, so that the error names its cause; --cpu runs without the GPU"
	hintBug   = "this is a bug in cnngpu's GPU engine: please report it with the command that showed it; --cpu runs without the GPU"
)

// stickyStatus are the driver's errors after which a context is unusable:
// every later call fails with the same error (cuda.h).
var stickyStatus = map[int]bool{
	214: true, // CUDA_ERROR_ECC_UNCORRECTABLE
	700: true, // CUDA_ERROR_ILLEGAL_ADDRESS
	220: true, // CUDA_ERROR_NVLINK_UNCORRECTABLE
	702: true, // CUDA_ERROR_LAUNCH_TIMEOUT
	710: true, // CUDA_ERROR_ASSERT: the context must be destroyed
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
	var se *cu.SetupError
	var nf *nvlib.NotFoundError
	switch {
	case errors.As(err, &b):
		hint = hintBug
	case errors.As(err, &se), errors.As(err, &nf):
		hint = "" // no driver, no such GPU, a library not found: the message says what to do
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

// libraryOOM reports whether err is cuBLAS's or cuDNN's out of memory
// (not the driver's: after a fault its allocation gives the sticky error).
func libraryOOM(err error) bool {
	var de *cu.Error
	return outOfMemory(err) && !errors.As(err, &de)
}

// ambiguous reports whether err is a failure that a device fault can
// cause as well as something else: cuBLAS's EXECUTION_FAILED or
// INTERNAL_ERROR, cuDNN's EXECUTION_FAILED or INTERNAL_ERROR (any of
// cuDNN 9's sub-codes), the driver's CUDA_ERROR_UNKNOWN. Only asking the
// device tells which (Engine.explain).
func ambiguous(err error) bool {
	var de *cu.Error
	var be *cu.BLASError
	var ne *cudnn.Error
	switch {
	case errors.As(err, &be):
		return be.Status == 13 || be.Status == 14
	case errors.As(err, &ne):
		return strings.Contains(ne.Desc, "EXECUTION_FAILED") || strings.Contains(ne.Desc, "INTERNAL_ERROR")
	case errors.As(err, &de):
		return de.Status == 999
	}
	return false
}

// explain is explain(err), and where that is an ambiguous failure, the
// device asked (outside a recording, where a wait would end it): a sticky
// error then makes it a device fault, so that the hint says so and serve
// stops (engine.ErrDeviceLost).
func (e *Engine) explain(err error) error {
	err = explain(err)
	var x *Error
	// Only a failure with no kind of its own yet (start-up, a bug, a
	// fault the driver named) can be a fault in disguise, and a library's
	// out of memory: its allocation fails with the sticky error too, which
	// cuBLAS and cuDNN report as theirs.
	if err == nil || e.recording || !errors.As(err, &x) || !(x.Hint == hintOther && ambiguous(x.Err) || x.Hint == hintOutOfMemory && libraryOOM(x.Err)) {
		return err
	}
	if f := e.faulted(); f != nil {
		x.Fault, x.Hint = f, hintFault
	}
	return err
}

// faulted asks the device whether it has faulted: the sticky error every
// call then returns, else nil. Not during a recording.
func (e *Engine) faulted() error {
	if err := e.c.Sync(); deviceFault(err) {
		return err
	}
	return nil
}

// deviceFault reports whether err is a sticky driver error.
func deviceFault(err error) bool {
	var de *cu.Error
	return errors.As(err, &de) && stickyStatus[de.Status]
}
