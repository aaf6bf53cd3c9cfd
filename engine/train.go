// train.go: the training loop and evaluation, engine-neutral. The dataset
// is uploaded once; each epoch writes only a shuffled order and resets a
// cursor, and each step is queued without waiting, so loss and accuracy are
// read back only at progress updates and epoch ends.

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/cnngpu/cnngpu/internal/trace"
)

// ErrInterrupted is returned by Trainer.Run when its context is cancelled;
// the returned Position says where to resume.
var ErrInterrupted = errors.New("training interrupted")

// Release frees the dataset's tensors.
func (d *Dataset) Release(e Engine) {
	e.Free(d.Images)
	e.Free(d.Labels)
}

// Dataset is a labelled image set held by an engine.
type Dataset struct {
	Images, Labels Tensor
	N              int
}

// UploadDataset copies images (N×784 uint8) and labels (N, 0–9) to e.
func UploadDataset(e Engine, images, labels []uint8) (*Dataset, error) {
	defer trace.Begin(trace.Upload).End()
	n := len(labels)
	if len(images)%ImagePixels != 0 || len(images)/ImagePixels != n { // no n*ImagePixels: it can overflow a 32-bit int
		return nil, fmt.Errorf("dataset: %d image bytes for %d labels (want %d per image)", len(images), n, ImagePixels)
	}
	img, err := e.Alloc(Uint8, len(images))
	if err != nil {
		return nil, fmt.Errorf("dataset: allocating %d images on %s: %w", n, e.Name(), err)
	}
	lab, err := e.Alloc(Int32, n)
	if err != nil {
		e.Free(img)
		return nil, fmt.Errorf("dataset: allocating %d labels on %s: %w", n, e.Name(), err)
	}
	d := &Dataset{Images: img, Labels: lab, N: n}
	if err := e.Write(img, 0, images); err != nil {
		d.Release(e)
		return nil, err
	}
	l32 := make([]int32, n)
	for i, v := range labels {
		l32[i] = int32(v)
	}
	if err := e.Write(lab, 0, l32); err != nil {
		d.Release(e)
		return nil, err
	}
	return d, nil
}

// AllIndices returns 0..n-1.
func AllIndices(n int) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	return idx
}

// EpochOrder returns idx shuffled for an epoch: the same seed and epoch
// always give the same order.
func EpochOrder(seed uint64, epoch int, idx []int32) []int32 {
	p := append([]int32(nil), idx...)
	r := rand.New(rand.NewPCG(seed, uint64(epoch)+1))
	r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// Position is a point in training: the next step to run, as an epoch
// (0-based) and a step within it.
type Position struct {
	Epoch int `json:"epoch"`
	Step  int `json:"step"`
	// Sums are the epoch's running training statistics at Step (zero at
	// an epoch's start, and in checkpoints from before they were kept),
	// so that an epoch resumed in its middle reports the same loss and
	// accuracy as the run that was not interrupted.
	Sums EpochSums `json:"sums,omitzero"`
}

// EpochSums are an epoch's running training statistics, as the engine
// accumulates them (float32, restored exactly): the loss summed over the
// images seen, the images classified right, the images seen.
type EpochSums struct {
	Loss    float32 `json:"loss"`
	Correct float32 `json:"correct"`
	Seen    float32 `json:"seen"`
	// Seconds is the wall time the epoch has trained up to Step, over
	// every process that trained part of it (zero in checkpoints from
	// before it was kept), so that a resumed epoch's time and img/s are
	// the whole epoch's.
	Seconds float64 `json:"seconds,omitzero"`
}

// EpochMetrics summarises one epoch. Val fields are NaN when there is no
// validation set; JSON leaves them out then.
type EpochMetrics struct {
	Epoch        int     `json:"epoch"`
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_acc"`
	ValLoss      float64 `json:"val_loss"`
	ValAcc       float64 `json:"val_acc"`
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_sec"`
	Images       int     `json:"images"`
	// ValSeconds is the wall time of the epoch's validation pass, after
	// Seconds (0 without validation, and in records from before it was
	// kept): Seconds + ValSeconds is the epoch's time.
	ValSeconds float64 `json:"val_seconds,omitzero"`
	// Partial: the epoch was resumed in its middle from a checkpoint
	// without its running statistics (an older one), so the loss,
	// accuracy and Images cover the part run now. Resumed: resumed in
	// its middle with them but without the time trained before (a
	// checkpoint from before EpochSums.Seconds was kept), so only Seconds
	// and ImagesPerSec cover the part run now. Neither: the figures are
	// the whole epoch's, resumed or not.
	Partial bool `json:"partial,omitempty"`
	Resumed bool `json:"resumed,omitempty"`
}

type epochMetricsJSON struct {
	Epoch        int      `json:"epoch"`
	TrainLoss    *float64 `json:"train_loss,omitempty"`
	TrainAcc     *float64 `json:"train_acc,omitempty"`
	ValLoss      *float64 `json:"val_loss,omitempty"`
	ValAcc       *float64 `json:"val_acc,omitempty"`
	Seconds      float64  `json:"seconds"`
	ImagesPerSec float64  `json:"images_per_sec"`
	Images       int      `json:"images"`
	ValSeconds   float64  `json:"val_seconds,omitzero"`
	Partial      bool     `json:"partial,omitempty"`
	Resumed      bool     `json:"resumed,omitempty"`
	Diverged     bool     `json:"diverged,omitempty"`
}

// finite returns &v, or nil for NaN and ±Inf (which JSON cannot hold).
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON leaves out values that are not finite; a non-finite training
// loss is recorded as "diverged": true.
func (m EpochMetrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(epochMetricsJSON{Epoch: m.Epoch, TrainLoss: finite(m.TrainLoss), TrainAcc: finite(m.TrainAcc),
		ValLoss: finite(m.ValLoss), ValAcc: finite(m.ValAcc), Seconds: m.Seconds, ImagesPerSec: m.ImagesPerSec,
		Images: m.Images, ValSeconds: m.ValSeconds, Partial: m.Partial, Resumed: m.Resumed, Diverged: math.IsNaN(m.TrainLoss) || math.IsInf(m.TrainLoss, 0)})
}

// UnmarshalJSON reads what MarshalJSON writes; missing values become NaN.
func (m *EpochMetrics) UnmarshalJSON(b []byte) error {
	var j epochMetricsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = EpochMetrics{Epoch: j.Epoch, TrainLoss: orNaN(j.TrainLoss), TrainAcc: orNaN(j.TrainAcc), ValLoss: orNaN(j.ValLoss),
		ValAcc: orNaN(j.ValAcc), Seconds: j.Seconds, ImagesPerSec: j.ImagesPerSec, Images: j.Images, ValSeconds: j.ValSeconds, Partial: j.Partial, Resumed: j.Resumed}
	return nil
}

// Progress is a snapshot during an epoch.
type Progress struct {
	Epoch, Epochs int
	Step, Steps   int
	// FromStep is the step Elapsed counts from: 0, or where a run
	// resumed in the middle of the epoch.
	FromStep     int
	Loss, Acc    float64
	ImagesPerSec float64
	Elapsed      time.Duration
	// Validating: the epoch's steps are done and its validation has
	// begun (Loss and Acc are the epoch's training figures); reported
	// once, as the validation starts.
	Validating bool
}

// Trainer runs the training loop.
type Trainer struct {
	M         *Model
	Data      *Dataset
	TrainIdx  []int32 // dataset indices to train on
	ValIdx    []int32 // dataset indices to validate on after each epoch; may be empty
	Epochs    int
	BatchSize int
	Seed      uint64
	// Augment is the training batches' augmentation (the zero value:
	// none), drawn from Seed, the epoch and each image's index.
	Augment Augmentation
	// LabelSmoothing is the training steps' label smoothing (0: one-hot
	// targets; Batch.LabelSmoothing).
	LabelSmoothing float64

	// ProgressEvery is how often OnProgress is called (reading stats back
	// from the engine); 0 disables it.
	ProgressEvery time.Duration
	OnProgress    func(Progress)
	// OnEpoch is called after each epoch with its metrics and the position
	// of the next step; an error stops training.
	OnEpoch func(EpochMetrics, Position) error
	// StallAfter, when above 0, is how long the loop may go without
	// finishing a step, an epoch's validation or OnEpoch before OnStall
	// is told, once for each stall: on a GPU whose driver no longer
	// answers, a step waits without an error. OnStall runs on another
	// goroutine, with the time since the last of those finished. Of
	// the time a process is stopped (Ctrl-Z), at most a quarter of
	// StallAfter (and 20 ms) counts.
	StallAfter time.Duration
	OnStall    func(since time.Duration)
	// ValInterruptible: a cancelled context also stops the validation
	// after an epoch, between its batches, returning ErrInterrupted with
	// a position no run can resume from (the epoch's steps done, its
	// validation not): for callers that discard an interrupted run, as
	// the study does. Otherwise the validation finishes first.
	ValInterruptible bool
}

// watchStalls calls OnStall when beat has not been called for
// StallAfter, once for each stall (see StallAfter); end ends the watch.
// Without both, it watches nothing.
//
// It wakes at least every quarter of StallAfter: a wake later than
// asked finds the process stopped (Ctrl-Z, SIGSTOP) or not run for that
// long, time in which no step could finish, and moves the last beat on
// by it. Of a stop, at most the quarter of StallAfter before the wake
// it delayed counts (and 20 ms), however it falls.
func (t *Trainer) watchStalls() (beat, end func()) {
	if t.StallAfter <= 0 || t.OnStall == nil {
		return func() {}, func() {}
	}
	// Times are on the monotonic clock, as durations since base: a step
	// of the wall clock (NTP, a VM's clock set) is no stall.
	base := time.Now()
	var last atomic.Int64 // the time of the last beat
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		tick := max(t.StallAfter/4, time.Millisecond)
		// A wake this much later than asked is a stop (a timer's wake is
		// late by well under a millisecond in a process that runs).
		const stopped = 20 * time.Millisecond
		timer := time.NewTimer(tick)
		defer timer.Stop()
		set, want := time.Duration(0), tick // when the timer was set, for how long
		told := time.Duration(-1)           // the last beat before the stall told
		for {
			select {
			case <-done:
				return
			case <-timer.C:
			}
			now := time.Since(base)
			l := time.Duration(last.Load())
			if late := now - set - want; late > stopped {
				// The stopped time is no stall; a beat since the
				// process went on (after l) is kept, and a stall
				// told before the stop is not told again.
				if moved := min(l+late, now); last.CompareAndSwap(int64(l), int64(moved)) {
					if told == l {
						told = moved
					}
					l = moved
				} else {
					l = time.Duration(last.Load())
				}
			}
			since := now - l
			if since >= t.StallAfter && l != told {
				told = l
				t.OnStall(since)
			}
			// Woken when the last beat is StallAfter old, if no other
			// comes first: told then, not up to a tick later.
			wait := tick
			if rest := t.StallAfter - since; rest > 0 && rest < wait {
				wait = rest
			}
			set, want = now, wait
			timer.Reset(wait)
		}
	}()
	return func() { last.Store(int64(time.Since(base))) }, func() { close(done); <-ended }
}

// Steps is the number of steps in one epoch (the last batch may be short).
func (t *Trainer) Steps() int { return StepsPerEpoch(len(t.TrainIdx), t.BatchSize) }

// StepsPerEpoch is the number of steps an epoch of n training images takes
// at batch size batch: the last batch may be short.
func StepsPerEpoch(n, batch int) int { return (n + batch - 1) / batch }

func (t *Trainer) alloc() (perm, cursor, stats Tensor, err error) {
	// The cursor and, after it, the epoch (augmentation's key).
	return allocLoop(t.M.E, max(1, len(t.TrainIdx)), 2)
}

// allocLoop allocates a loop's order (n), cursor (cursorLen) and
// statistics, or none.
func allocLoop(e Engine, n, cursorLen int) (perm, cursor, stats Tensor, err error) {
	if perm, err = e.Alloc(Int32, n); err != nil {
		return
	}
	if cursor, err = e.Alloc(Int32, cursorLen); err != nil {
		e.Free(perm)
		return nil, nil, nil, err
	}
	if stats, err = e.Alloc(Float32, 3); err != nil {
		e.Free(perm)
		e.Free(cursor)
		return nil, nil, nil, err
	}
	return
}

func readStats(e Engine, stats Tensor) (loss, acc float64, n int, err error) {
	s := make([]float32, 3)
	if err = e.Read(stats, 0, s); err != nil {
		return
	}
	n = int(s[2])
	if n == 0 {
		return math.NaN(), math.NaN(), 0, nil
	}
	return float64(s[0]) / float64(s[2]), float64(s[1]) / float64(s[2]), n, nil
}

// MaxSteps bounds a run's optimizer steps: the step count (Adam's bias
// correction, the schedule's position) is a float32 on the device, exact
// up to 2^24.
const MaxSteps = 1 << 24

// MaxEpochs bounds a run's epochs: every checkpoint records each epoch's
// metrics (about 220 bytes; 512 allowed) in a header of at most
// MaxCheckpointHeader.
const MaxEpochs = MaxCheckpointHeader / 512

// TooManySteps reports whether epochs of steps each exceed MaxSteps
// (without multiplying them: a huge --epochs would overflow).
func TooManySteps(epochs, steps int) bool { return steps > 0 && epochs > MaxSteps/steps }

// Run trains from position from until t.Epochs epochs are done or ctx is
// cancelled (then it finishes the current step and returns ErrInterrupted
// with the position to resume from), or until the loss is no longer finite
// (then it returns a *DivergedError, see finite.go, without calling
// OnEpoch for that epoch).
func (t *Trainer) Run(ctx context.Context, from Position) (Position, error) {
	if t.BatchSize <= 0 {
		return from, fmt.Errorf("batch size %d: must be positive", t.BatchSize)
	}
	if len(t.TrainIdx) == 0 {
		return from, errors.New("no training images")
	}
	if t.M.DeferUpdate {
		// Its last update is left unqueued, and a flush between
		// recorded steps would apply one twice (Model.DeferUpdate).
		panic("engine: Trainer.Run with Model.DeferUpdate, which is for measuring a step (bench --defer-update), not for training")
	}
	if TooManySteps(t.Epochs, t.Steps()) {
		return from, fmt.Errorf("%d epochs of %d steps are more than the %d optimizer steps the optimizer counts exactly (in float32): use a larger batch size or fewer epochs",
			t.Epochs, t.Steps(), MaxSteps)
	}
	e := t.M.E
	perm, cursor, stats, err := t.alloc()
	if err != nil {
		return from, err
	}
	beat, endWatch := t.watchStalls()
	defer endWatch()
	// Steps recorded by a device engine refer to perm, cursor and stats.
	ResetGraphs(e)
	defer func() {
		ResetGraphs(e)
		e.Free(perm)
		e.Free(cursor)
		e.Free(stats)
	}()
	b := Batch{Images: t.Data.Images, Labels: t.Data.Labels, Perm: perm, Cursor: cursor,
		Aug: t.Augment.With(t.Seed), LabelSmoothing: t.LabelSmoothing}
	steps := t.Steps()
	if o, ok := e.(OccasionalSteps); ok {
		// The last batch of an epoch, where it is partial, runs once
		// an epoch.
		if n := len(t.TrainIdx) % t.BatchSize; n != 0 {
			o.SetOccasional(t.BatchSize, n)
			defer o.SetOccasional(0)
		}
	}
	// Each epoch's order is shuffled on another goroutine while the
	// epoch before trains (60,000 indices: about half a millisecond
	// between a GPU's epochs otherwise, the GPU idle).
	shuffle := func(epoch int) <-chan []int32 {
		c := make(chan []int32, 1)
		go func() { c <- EpochOrder(t.Seed, epoch, t.TrainIdx) }()
		return c
	}
	next := shuffle(from.Epoch)
	pos := from
	for pos.Epoch < t.Epochs {
		if ctx.Err() != nil {
			return pos, ErrInterrupted
		}
		ep := trace.Begin(trace.Epoch) // ended with the epoch, after OnEpoch
		ord := trace.Begin(trace.EpochOrder)
		order := <-next // this epoch's: epochs follow one another
		if pos.Epoch+1 < t.Epochs {
			next = shuffle(pos.Epoch + 1)
		}
		if err := e.Write(perm, 0, order); err != nil {
			return pos, err
		}
		if err := e.Write(cursor, 0, []int32{int32(pos.Step * t.BatchSize), int32(pos.Epoch)}); err != nil {
			return pos, err
		}
		e.Fill(stats, 0)
		ord.End()
		resumed := pos.Step > 0
		// The sums are the epoch's so far only where they count every
		// image of its first Step steps (all full batches): not in a
		// checkpoint from before sums were kept, nor in one saved by a run
		// that resumed from such a checkpoint (its sums start at the
		// resume). Then the figures cover the part run now (partial).
		partial := resumed && pos.Sums.Seen != float32(pos.Step*t.BatchSize)
		fromSeen := 0
		before := 0.0 // the epoch's seconds before this run, where known
		if resumed && !partial {
			if err := e.Write(stats, 0, []float32{pos.Sums.Loss, pos.Sums.Correct, pos.Sums.Seen}); err != nil {
				return pos, err
			}
			fromSeen = int(pos.Sums.Seen)
			before = pos.Sums.Seconds
		}
		// wholeTime: the epoch's time is known from its start (it starts
		// here, or the checkpoint kept the time before).
		wholeTime := !resumed || before > 0
		start := time.Now()
		lastReport := start
		fromStep := pos.Step
		// interrupted is pos with the epoch's running statistics, for a
		// checkpoint to resume from.
		interrupted := func() (Position, error) {
			if err := e.Sync(); err != nil {
				return pos, err
			}
			if pos.Step > 0 {
				st := make([]float32, 3)
				if err := e.Read(stats, 0, st); err != nil {
					return pos, err
				}
				// A loss gone non-finite since the last check (a GPU
				// checks every 32 steps) is a divergence, not a position
				// to resume from.
				if err := divergedAt(float64(st[0]), false, pos, steps); err != nil {
					return pos, err
				}
				pos.Sums = EpochSums{Loss: st[0], Correct: st[1], Seen: st[2]}
				if wholeTime { // else the time before stays unknown
					pos.Sums.Seconds = before + time.Since(start).Seconds()
				}
			}
			return pos, ErrInterrupted
		}
		for pos.Step < steps {
			if ctx.Err() != nil {
				return interrupted()
			}
			n := min(t.BatchSize, len(order)-pos.Step*t.BatchSize)
			var stepErr error
			if err := Run(e, n, func() { stepErr = t.M.TrainStep(b, n, stats) }); err != nil {
				return pos, err
			}
			if stepErr != nil {
				return pos, stepErr
			}
			beat()
			pos.Step++
			if err := t.checkStep(stats, pos, steps); err != nil {
				return pos, err
			}
			if t.OnProgress != nil && t.ProgressEvery > 0 && time.Since(lastReport) >= t.ProgressEvery {
				loss, acc, seen, err := readStats(e, stats)
				if err != nil {
					return pos, err
				}
				if err := divergedAt(loss, false, pos, steps); err != nil {
					return pos, err
				}
				lastReport = time.Now()
				el := lastReport.Sub(start)
				t.OnProgress(Progress{Epoch: pos.Epoch, Epochs: t.Epochs, Step: pos.Step, Steps: steps, FromStep: fromStep,
					Loss: loss, Acc: acc, ImagesPerSec: float64(seen-fromSeen) / el.Seconds(), Elapsed: el})
			}
		}
		rs := trace.Begin(trace.EpochStats)
		loss, acc, seen, err := readStats(e, stats)
		rs.End()
		if err != nil {
			return pos, err
		}
		beat() // the epoch's steps have finished: their statistics are read
		if err := divergedAt(loss, false, pos, steps); err != nil {
			return pos, err
		}
		el := time.Since(start)
		m := EpochMetrics{Epoch: pos.Epoch + 1, TrainLoss: loss, TrainAcc: acc, Seconds: el.Seconds(),
			ImagesPerSec: float64(seen-fromSeen) / el.Seconds(), Images: seen, Partial: partial, Resumed: resumed && !partial && !wholeTime,
			ValLoss: math.NaN(), ValAcc: math.NaN()}
		if wholeTime {
			m.Seconds = before + el.Seconds()
			m.ImagesPerSec = float64(seen) / m.Seconds
		}
		if len(t.ValIdx) > 0 {
			if t.OnProgress != nil && t.ProgressEvery > 0 {
				t.OnProgress(Progress{Epoch: pos.Epoch, Epochs: t.Epochs, Step: steps, Steps: steps,
					Loss: loss, Acc: acc, ImagesPerSec: m.ImagesPerSec, Elapsed: el, Validating: true})
			}
			vctx := context.Background()
			if t.ValInterruptible {
				vctx = ctx
			}
			vstart := time.Now()
			r, err := EvaluateContext(vctx, t.M, t.Data, t.ValIdx, 0, false)
			if err != nil {
				return pos, err
			}
			m.ValLoss, m.ValAcc, m.ValSeconds = r.Loss, r.Acc, time.Since(vstart).Seconds()
			beat()
			if err := divergedAt(r.Loss, true, pos, steps); err != nil {
				return pos, err
			}
		}
		pos = Position{Epoch: pos.Epoch + 1}
		if t.OnEpoch != nil {
			if err := t.OnEpoch(m, pos); err != nil {
				return pos, err
			}
			beat()
		}
		ep.End()
	}
	return pos, nil
}

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Loss, Acc float64
	N         int
	// Confusion[true][predicted] counts, filled when asked for.
	Confusion [Classes][Classes]int
}

// DefaultEvalBatch is the batch size Evaluate uses when given 0.
const DefaultEvalBatch = 500

// Evaluate runs the model over the dataset images idx in order and returns
// mean loss and accuracy, and the confusion matrix when confusion is set.
func Evaluate(m *Model, d *Dataset, idx []int32, batch int, confusion bool) (EvalResult, error) {
	return EvaluateContext(context.Background(), m, d, idx, batch, confusion)
}

// EvaluateContext is Evaluate, stopping between batches with
// ErrInterrupted once ctx is cancelled. Where the engine has no memory for
// a batch's activations (ErrOutOfMemory), it goes on at half the batch,
// and so on down to one image.
func EvaluateContext(ctx context.Context, m *Model, d *Dataset, idx []int32, batch int, confusion bool) (EvalResult, error) {
	var r EvalResult
	if len(idx) == 0 {
		return r, errors.New("evaluate: no images")
	}
	if batch <= 0 {
		batch = DefaultEvalBatch
	}
	e := m.E
	perm, cursor, stats, err := allocLoop(e, len(idx), 1)
	if err != nil {
		return r, err
	}
	defer func() {
		e.Free(perm)
		e.Free(cursor)
		e.Free(stats)
	}()
	if err := e.Write(perm, 0, idx); err != nil {
		return r, err
	}
	b := Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}
	var probs []float32
	var labels []int32
	if confusion {
		probs = make([]float32, batch*Classes)
		labels = make([]int32, batch)
	}
	for lo := 0; lo < len(idx); lo += batch {
		if ctx.Err() != nil {
			if err := e.Sync(); err != nil {
				return r, err
			}
			return r, ErrInterrupted
		}
		n := min(batch, len(idx)-lo)
		err := m.EvalStep(b, n, stats, probs, labels)
		for errors.Is(err, ErrOutOfMemory) && n > 1 {
			// No memory for this batch's activations (refused before
			// anything was queued): go on at half the batch, the same
			// images in the same order. The accuracy is the same; the
			// loss may differ in its last bits, summed in other groups.
			batch = (n + 1) / 2
			n = batch
			err = m.EvalStep(b, n, stats, probs, labels)
		}
		if err != nil {
			return r, err
		}
		if confusion {
			for i := 0; i < n; i++ {
				r.Confusion[labels[i]][Argmax(probs[i*Classes:(i+1)*Classes])]++
			}
		}
	}
	r.Loss, r.Acc, r.N, err = readStats(e, stats)
	return r, err
}

// Argmax returns the index of the first largest value.
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
