// ckwriter.go: a training's checkpoints written beside it. Encoding a
// checkpoint (its SHA-256 over the 38 MB of the reference model with
// Adam's moments) and writing, syncing and renaming its file take tens to
// hundreds of milliseconds, as long as a GPU's epoch: CheckpointWriter
// does that on a goroutine of its own while the next epoch trains, one
// checkpoint at a time. The model's state is read back before (Snapshot,
// at the epoch's end), so training on does not change what is written;
// on a GPU that read-back is only queued there (SnapshotBeside), and its
// copies land on this goroutine, as do the checks Save makes (the values
// finite), while the next epoch trains.

package engine

import "github.com/cnngpu/cnngpu/internal/trace"

// CheckpointWriter writes checkpoints on its own goroutine, one at a
// time. Its methods are for one goroutine (the training's).
type CheckpointWriter struct {
	jobs    chan ckJob
	done    chan error
	pending *Checkpoint // being written; nil: none
	spare   *Checkpoint // the last one written, no longer used
	// preparing delivers the buffers Prepare allocates beside the
	// training; nil: none being prepared.
	preparing chan *Checkpoint
}

type ckJob struct {
	ck   *Checkpoint
	path string
}

// NewCheckpointWriter starts a writer of checkpoints; Close stops it.
func NewCheckpointWriter() *CheckpointWriter {
	w := &CheckpointWriter{jobs: make(chan ckJob), done: make(chan error, 1)}
	go func() {
		defer trace.Aside()()
		for j := range w.jobs {
			// A snapshot queued on a GPU (SnapshotBeside) lands
			// here, while the next epoch's steps run.
			var err error
			if j.ck.land != nil {
				ls := trace.Begin(trace.CheckpointLand)
				err = j.ck.Landed()
				ls.End()
			}
			if err == nil {
				sp := trace.Begin(trace.CheckpointWrite)
				err = j.ck.Save(j.path)
				sp.End()
			}
			w.done <- err
		}
	}()
	return w
}

// Start begins writing ck to path; ck's tensors must not change until the
// write is done. The write before must have been waited for.
func (w *CheckpointWriter) Start(ck *Checkpoint, path string) {
	if w.pending != nil {
		panic("engine: CheckpointWriter.Start with a write in flight")
	}
	w.pending = ck
	w.jobs <- ckJob{ck, path}
}

// Wait waits for the write in flight and returns its checkpoint (nil when
// none was in flight) and its error: the file at the path is then the new
// checkpoint, or, on an error, as it was.
func (w *CheckpointWriter) Wait() (*Checkpoint, error) {
	ck := w.pending
	if ck == nil {
		return nil, nil
	}
	sp := trace.Begin(trace.CheckpointWait)
	err := <-w.done
	sp.End()
	w.pending = nil
	if err != nil {
		return ck, err
	}
	w.spare = ck
	return ck, nil
}

// Prepare allocates, on another goroutine, the tensors of a checkpoint
// of m for the first SnapshotInto, where the writer has none to hand
// over yet, and touches every page of them: a snapshot then copies into
// memory the system has already mapped (the first epoch's read-back took
// 24 ms on an H200 machine, the next ones 3) while the first epoch
// trains. Spare hands them over. moments: the optimizer's state too
// (false where the only snapshot to come is SnapshotWeightsInto's).
func (w *CheckpointWriter) Prepare(m *Model, moments bool) {
	if w.spare != nil || w.pending != nil || w.preparing != nil {
		return
	}
	np, ns1, ns2 := m.P.Len(), 0, 0
	if moments {
		ns1 = m.S1.Len()
		if m.S2 != nil {
			ns2 = m.S2.Len()
		}
	}
	w.preparing = make(chan *Checkpoint, 1)
	go func(c chan<- *Checkpoint) {
		ck := &Checkpoint{Params: touched(np)}
		if ns1 > 0 {
			ck.S1 = touched(ns1)
		}
		if ns2 > 0 {
			ck.S2 = touched(ns2)
		}
		c <- ck
	}(w.preparing)
}

// touched returns n zero floats whose every page has been written.
func touched(n int) []float32 {
	v := make([]float32, n)
	for i := 0; i < n; i += 1024 { // 4 KB pages
		v[i] = 0
	}
	return v
}

// Spare hands over the last checkpoint written, or the tensors Prepare
// made, for SnapshotInto to reuse (nil when there is none, or a write is
// in flight); the writer keeps no hold on it.
func (w *CheckpointWriter) Spare() *Checkpoint {
	if w.preparing != nil {
		ck := <-w.preparing
		w.preparing = nil
		if w.spare == nil {
			w.spare = ck
		}
	}
	if w.pending != nil {
		return nil
	}
	ck := w.spare
	w.spare = nil
	return ck
}

// Close waits for the write in flight (its error is Wait's to report;
// Close drops it) and stops the writer's goroutine.
func (w *CheckpointWriter) Close() {
	w.Wait()
	close(w.jobs)
}
