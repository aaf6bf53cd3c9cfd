// share.go: the CPU engine reads any CPU engine's tensors (engine.Sharer):
// they are Go slices that every op reaches through the same tensor type,
// whichever engine allocated them.

package cpu

import "github.com/cnngpu/cnngpu/engine"

var _ engine.Sharer = (*Engine)(nil)

// SharesWith reports whether other is a CPU engine: its tensors are Go
// memory that this engine's ops can read while other's goroutine reads
// them too (reading is safe concurrently; the caller keeps writing and
// freeing apart, engine.Sharer).
func (e *Engine) SharesWith(other engine.Engine) bool {
	_, ok := other.(*Engine)
	return ok
}
