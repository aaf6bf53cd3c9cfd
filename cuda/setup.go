// setup.go: the failures to start on a GPU that say in their own words
// what to do (no driver, no such GPU, a GPU older than our kernels): the
// engine passes them on without a hint of its own.

package cuda

import "fmt"

// SetupError is a failure to start on a GPU whose message already says
// what to do: in Err's own words, or in Hint, added to them (so that a
// caller that has done it already, the CPU fall-back, can leave it out).
type SetupError struct {
	Err  error
	Hint string
}

func (e *SetupError) Error() string { return e.Err.Error() + e.Hint }
func (e *SetupError) Unwrap() error { return e.Err }

// NoSuchDeviceError is --device naming a GPU this machine does not have
// (a SetupError: its message lists those it has).
type NoSuchDeviceError struct {
	Index int
	// Has lists the GPUs this machine has, a line each ("\n  GPU 0:
	// NAME"); empty for none.
	Has string
}

func (e *NoSuchDeviceError) Error() string {
	return e.Said(fmt.Sprintf("--device %d: no such GPU", e.Index), "give --device one of these")
}

// Said is the error's message for another flag: named says what was
// asked for ("--device 5: no such GPU"), give how to choose among the
// GPUs listed ("give --device one of these").
func (e *NoSuchDeviceError) Said(named, give string) string {
	if e.Has == "" {
		return named + "; this machine has: none\nuse --cpu"
	}
	return fmt.Sprintf("%s; this machine has:%s\n%s, or use --cpu", named, e.Has, give)
}

// setup marks err (nil stays nil) as a SetupError.
func setup(err error) error {
	if err == nil {
		return nil
	}
	return &SetupError{Err: err}
}

// UseCPU is the hint of the driver's failures to start, and of a library
// without what the engine calls (cuBLAS, cuDNN): the machine has no GPU
// this program can use.
const UseCPU = "; on this machine use --cpu"

// noDriver follows UseCPU where the driver's library is not found: what a
// machine with a GPU lacks.
const noDriver = " (with an NVIDIA GPU: install its driver, or give a container the GPU, e.g. docker run --gpus all; docs/gpu.md lists what the GPU engine needs)"

// otherOrCPU is the hint of a GPU the engine cannot use, after the advice
// to use another.
const otherOrCPU = ", or --cpu"
