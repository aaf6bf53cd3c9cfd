// share.go: engines that can read each other's tensors (Sharer), so that
// several trainings running at once, each on its own engine, use one copy
// of the training images instead of one per engine.

package engine

// Sharer is implemented by engines whose ops can read tensors another
// engine allocated. SharesWith(other) reports that this engine's ops may
// take tensors of other as read-only arguments (the images and labels of
// Gather, say) — never as an output, never to Free — under two rules the
// caller keeps, since the engines run on different goroutines:
//
//   - other has written them and its Sync has returned before this engine
//     first queues work that reads them;
//   - other frees them only after this engine's work that reads them is
//     done (its Sync has returned) and it holds no recording that uses
//     them (ResetGraphs; Trainer.Run drops its recordings when it ends).
//
// The CPU engine shares with every CPU engine (its tensors are Go memory);
// the GPU engine with another GPU engine on the same device (one primary
// context, so one address space).
type Sharer interface {
	SharesWith(other Engine) bool
}

// Shares reports whether e's ops may read tensors of other (Sharer): an
// engine always reads its own.
func Shares(e, other Engine) bool {
	if e == other {
		return true
	}
	s, ok := e.(Sharer)
	return ok && s.SharesWith(other)
}
