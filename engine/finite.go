// finite.go: catching divergence. A learning rate far too high turns the
// loss, then the weights, into NaN or infinity; from then on training
// computes nothing. Trainer.Run stops at the first non-finite running loss
// it reads, a checkpoint is never saved with non-finite values, and one
// with non-finite values (written before these checks) is refused on load,
// so no command answers with NaN.
//
// When the loss is read: the running loss lives in the engine's stats
// tensor, which accumulates a sum over the epoch, so once a step's loss is
// NaN or infinite the sum stays non-finite and any later read sees it. On
// an engine that runs ops as they are called (the CPU engine: a read costs
// nothing) Run reads it after every step and stops after the very step
// whose loss was not finite. On an engine that queues work and replays
// recorded steps (Capturer: a GPU), a read waits for the queue to drain and
// costs the device its lead over the host, so Run reads it every
// DivergenceCheckSteps steps (at batch 128 on an H200, 32 steps are about
// 9 ms of work) and at every progress update and epoch end. Steps run after
// the weights went non-finite change nothing that is kept: the checkpoint
// on disk is the last one saved, and Save refuses non-finite values.

package engine

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// ErrDiverged matches (errors.Is) a *DivergedError.
var ErrDiverged = errors.New("training diverged")

// ErrNonFinite matches (errors.Is) the error of a checkpoint or output
// holding NaN or infinite values.
var ErrNonFinite = errors.New("non-finite values")

// DivergenceCheckSteps is how many steps apart Run reads the running loss
// on an engine that queues work (see the file comment).
const DivergenceCheckSteps = 32

// DivergedError says where training found a non-finite loss.
type DivergedError struct {
	Epoch int     // 1-based epoch in which it was found
	Step  int     // steps of that epoch done when it was found
	Steps int     // steps in the epoch
	Loss  float64 // the running (or validation) loss: NaN or ±Inf
	Val   bool    // the validation loss, not the training loss
}

func (e *DivergedError) Error() string {
	what := "training loss"
	if e.Val {
		what = "validation loss"
	}
	return fmt.Sprintf("training diverged: the %s became %v in epoch %d (found after step %d of %d)", what, e.Loss, e.Epoch, e.Step, e.Steps)
}

// Is makes errors.Is(err, ErrDiverged) true.
func (e *DivergedError) Is(target error) bool { return target == ErrDiverged }

// IsFinite reports whether v is neither NaN nor infinite.
func IsFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// FirstNonFinite returns the index of the first NaN or infinite value in
// v, or -1 when all are finite. A checkpoint's 9.5 M values are checked
// after every epoch, on the training's path: they are scanned for an
// exponent of all ones two at a time, on up to four goroutines (3.3 ms
// → 1.1 on the 2-core VM of docs/performance.md), and only a scan
// that finds one looks for where.
func FirstNonFinite(v []float32) int {
	if allFinite(v) {
		return -1
	}
	for i, x := range v {
		// x-x is 0 for finite x, NaN for NaN and ±Inf.
		if x-x != 0 {
			return i
		}
	}
	return -1
}

// finiteChunk is the least a goroutine of allFinite scans.
const finiteChunk = 1 << 20

// allFinite reports whether no value of v is NaN or infinite, on up to
// four goroutines (the scan is bound by memory bandwidth: more do not
// help) where v is long.
func allFinite(v []float32) bool {
	n := min(4, runtime.GOMAXPROCS(0), len(v)/finiteChunk)
	if n < 2 {
		return finiteScan(v)
	}
	bad := make([]bool, n)
	var wg sync.WaitGroup
	per := (len(v) + n - 1) / n
	for i := range n {
		wg.Go(func() { bad[i] = !finiteScan(v[i*per : min(len(v), (i+1)*per)]) })
	}
	wg.Wait()
	for _, b := range bad {
		if b {
			return false
		}
	}
	return true
}

// finiteScan is allFinite on one goroutine. A float32 is NaN or infinite
// exactly when its exponent bits (0x7f800000) are all ones; adding
// 0x00800000 to them then carries into bit 31, and into no other place
// (the sum is at most 0x80000000), so one OR of the sums over all values,
// two values to a 64-bit word, holds bit 31 or 63 exactly when some
// value is not finite. The words are read where v's data is 8-byte
// aligned (its first value apart where it is not).
func finiteScan(v []float32) bool {
	var acc0, acc1 uint64
	if len(v) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(v)))%8 != 0 {
		acc0 = uint64(math.Float32bits(v[0])&0x7f800000 + 0x00800000)
		v = v[1:]
	}
	if len(v) >= 2 {
		w := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(v))), len(v)/2)
		const exp, one = 0x7f8000007f800000, 0x0080000000800000
		i := 0
		for ; i+1 < len(w); i += 2 {
			acc0 |= w[i]&exp + one
			acc1 |= w[i+1]&exp + one
		}
		if i < len(w) {
			acc0 |= w[i]&exp + one
		}
	}
	if len(v)%2 == 1 {
		acc0 |= uint64(math.Float32bits(v[len(v)-1])&0x7f800000 + 0x00800000)
	}
	return (acc0|acc1)&0x8000000080000000 == 0
}

// checkEvery is how many steps apart Run reads the running loss on e.
func checkEvery(e Engine) int {
	if _, ok := e.(Capturer); ok {
		return DivergenceCheckSteps
	}
	return 1
}

// checkStep reads the running loss after pos.Step steps of an epoch of
// steps when a check is due (the epoch's end is checked by Run), and
// returns a *DivergedError when it is not finite.
func (t *Trainer) checkStep(stats Tensor, pos Position, steps int) error {
	if pos.Step%checkEvery(t.M.E) != 0 || pos.Step == steps {
		return nil
	}
	loss, _, _, err := readStats(t.M.E, stats)
	if err != nil {
		return err
	}
	return divergedAt(loss, false, pos, steps)
}

// divergedAt returns a *DivergedError for a non-finite loss read after
// pos.Step steps of epoch pos.Epoch (0-based), else nil.
func divergedAt(loss float64, val bool, pos Position, steps int) error {
	if IsFinite(loss) {
		return nil
	}
	return &DivergedError{Epoch: pos.Epoch + 1, Step: pos.Step, Steps: steps, Loss: loss, Val: val}
}

// CheckFinite returns an error (matching ErrNonFinite) naming the first
// tensor that holds a NaN or infinite value, or Landed's error.
func (c *Checkpoint) CheckFinite() error {
	if err := c.Landed(); err != nil {
		return err
	}
	if s := c.Position.Sums; !IsFinite(float64(s.Loss)) || !IsFinite(float64(s.Correct)) || !IsFinite(float64(s.Seen)) {
		return fmt.Errorf("%w: the epoch's running sums (loss %v, right %v, seen %v)", ErrNonFinite, s.Loss, s.Correct, s.Seen)
	}
	for _, t := range c.tensors() {
		if i := FirstNonFinite(t.data); i >= 0 {
			return fmt.Errorf("%w: tensor %s holds %v at element %d", ErrNonFinite, t.name, t.data[i], i)
		}
	}
	return nil
}

// CheckOutputs returns an error (matching ErrNonFinite) when a model's
// outputs (probabilities) hold a NaN or infinite value.
func CheckOutputs(probs []float32) error {
	if i := FirstNonFinite(probs); i >= 0 {
		return fmt.Errorf("%w: the model's output for image %d is %v, not a probability (its weights overflow; retrain it with a smaller --lr)",
			ErrNonFinite, i/Classes+1, probs[i])
	}
	return nil
}

// BlewUp reports whether a finished run's test result is that of a
// training that blew up while its loss stayed finite (an extreme learning
// rate): about chance accuracy, and a loss far above an untrained model's
// ln 10 = 2.3, which no run that merely learnt little reaches.
func BlewUp(res EvalResult) bool { return res.Acc < 0.2 && res.Loss > 10 }
