//go:build cgo && !windows

// share.go: the GPU engine reads the tensors of another GPU engine on the
// same device (engine.Sharer), so that several trainings on one GPU use
// one upload of the training images.
//
// Why that is safe, op by op:
//   - Every engine of a device in this process retains the device's one
//     primary context (cuda.Open), so a device address from one engine's
//     Alloc is valid in another's kernels, cuBLAS and cuDNN calls; the
//     ops reach a tensor only through *tensor (ptr, regionOf, arg), which
//     is the same type whichever engine made it.
//   - An op declares what it touches (use, toLane) from the tensors'
//     regions, not from a list of its own allocations, so checkDeclared
//     and the second stream's hazards hold for another engine's memory
//     too; a read-only argument never makes the lane wait.
//   - A recording keeps the regions its ops declared (touched), and Free
//     drops the recordings of the freeing engine that use the memory; it
//     cannot drop another engine's. engine.Sharer's second rule covers
//     that: the owner frees only after every reader has synced and dropped
//     its recordings (Trainer.Run resets them when it ends).
//   - Streams are not ordered across engines: engine.Sharer's first rule
//     (the owner syncs after writing, before another engine reads) orders
//     the upload before every reader's work.

package cuda

import "github.com/cnngpu/cnngpu/engine"

var _ engine.Sharer = (*Engine)(nil)

// SharesWith reports whether other is a GPU engine on the same device as
// e: the same device object (the tests' emulated device), or both on the
// real device of the same index, whose primary context they both retain.
func (e *Engine) SharesWith(other engine.Engine) bool {
	o, ok := other.(*Engine)
	if !ok {
		return false
	}
	if e == o || e.device() == o.device() {
		return true
	}
	a, aok := e.device().(*library)
	b, bok := o.device().(*library)
	return aok && bok && a.Device.Index == b.Device.Index
}
