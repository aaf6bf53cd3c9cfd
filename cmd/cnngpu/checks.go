// checks.go: value checks that train and tune share (learning rate,
// momentum), and what train says when a run diverges.

package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/cnngpu/cnngpu/tune"
	"github.com/urfave/cli/v2"
)

// checkLR refuses a learning rate that is not a positive finite number.
func checkLR(lr float64) (float64, error) {
	// The optimizer and the checkpoint keep it as a float32: one that
	// rounds to 0 or overflows there would train on nothing and write a
	// checkpoint that no command loads.
	if f := float32(lr); !(f > 0) || math.IsInf(float64(f), 0) {
		return 0, usageErrorf("--lr %v: expected a positive finite number (as a 32-bit float: about 1.4e-45 to 3.4e38), e.g. 0.001", lr)
	}
	return lr, nil
}

// checkMomentum refuses a --momentum outside [0, 1) (NaN included),
// whichever optimizer is chosen.
func checkMomentum(c *cli.Context) (float64, error) {
	m := c.Float64("momentum")
	if !(m >= 0 && m < 1) {
		return 0, usageErrorf("--momentum %v: expected a number in [0, 1), e.g. 0.9", m)
	}
	// The optimizer and the checkpoint keep it as a float32, where one
	// this close to 1 is 1: a checkpoint that no command loads.
	if float32(m) >= 1 {
		return 0, usageErrorf("--momentum %v: is 1 as a 32-bit float, as the optimizer keeps it: expected at most %v", m, float32(math.Nextafter32(1, 0)))
	}
	return m, nil
}

// fmtLR writes a learning rate as it was typed: float32 values (as stored
// in a checkpoint) with the fewest digits that read back the same.
func fmtLR(lr float32) string { return strconv.FormatFloat(float64(lr), 'g', -1, 32) }

// isDivergence reports whether err says the training went non-finite: the
// trainer's own check, or a checkpoint refused for non-finite weights.
func isDivergence(err error) bool {
	return errors.Is(err, engine.ErrDiverged) || errors.Is(err, engine.ErrNonFinite)
}

// divergedError is train's message for a diverged run (exit code 1): what
// happened, the likely cause, and what is kept on disk.
// poisoned: the saved checkpoint's own weights give non-finite outputs
// (the updates that ended its epoch diverged; its values are finite, but
// too large).
func divergedError(err error, e engine.Engine, opt engine.OptConfig, out string, saved *engine.Position, poisoned bool) error {
	msg := err.Error() + fmt.Sprintf("\nthe learning rate is likely too high for this model (--lr %s with %s): try a smaller --lr (the default recipe's is 0.003, the reference recipe's 0.001)",
		fmtLR(opt.LR), engine.OptName(opt.Kind)) + gpuNaNHint(e)
	if saved == nil {
		msg += "\n" + nothingWritten(out)
		return withCode(1, errors.New(msg))
	}
	at := fmt.Sprintf("after epoch %d", saved.Epoch)
	if saved.Step > 0 {
		at = fmt.Sprintf("at epoch %d, step %d", saved.Epoch+1, saved.Step)
	}
	if poisoned {
		msg += fmt.Sprintf("\nthe checkpoint %s in %s cannot be used either: its weights, finite but too large, already give non-finite outputs (the steps before it diverged); train again from the start with a smaller --lr", at, out)
	} else {
		msg += fmt.Sprintf("\nthe last finite checkpoint, %s, is kept in %s", at, out)
	}
	return withCode(1, errors.New(msg))
}

// minTrainImages is the smallest --train-limit: one image of each digit.
const minTrainImages = engine.Classes

// checkTrainLimit refuses a --train-limit that cannot hold every digit.
func checkTrainLimit(n int) error {
	if n < 0 || n > 0 && n < minTrainImages {
		return usageErrorf("--train-limit %d: expected 0 (all images) or at least %d (one image of each digit)", n, minTrainImages)
	}
	return nil
}

// checkTrainSet says on note when --train-limit asked for more images
// than the training set has (all, after --val-split: split says it held
// some out), and refuses a training set idx (--train-limit's subset of
// all) that lacks a digit: it cannot train a 10-class model.
func checkTrainSet(limit int, all []int32, split bool, labels []uint8, idx []int32, note io.Writer) error {
	if available := len(all); limit > available && note != nil {
		fmt.Fprintf(note, "note: --train-limit %d is more than the %d training images there are; training on all %d\n", limit, available, available)
	}
	flag := ""
	if split {
		flag = "--val-split"
	}
	var before []int32
	if 0 < limit && limit < len(all) {
		before = all
	}
	if err := loader.EveryDigit(labels, idx, before, "the training set", flag); err != nil {
		return usageErrorf("%v", err)
	}
	return nil
}

// checkEpochs checks --epochs n: each epoch takes a step at least, and
// adds its metrics to the header of every checkpoint the run writes (what
// names it: "a checkpoint", "the final model's checkpoint").
func checkEpochs(n int, what string) error {
	if n < 1 {
		return usageErrorf("--epochs %d: expected at least 1", n)
	}
	if n > engine.MaxEpochs {
		return usageErrorf("--epochs %d: expected at most %d (%s records every epoch's metrics, in a header of at most %d MB)", n, engine.MaxEpochs, what, engine.MaxCheckpointHeader>>20)
	}
	return nil
}

// checkTuneValues checks tune's grid and counts, naming the flag.
func checkTuneValues(c *cli.Context, batchSizes []int, acts []string) error {
	for _, b := range batchSizes {
		if b < 1 || b > 60000 {
			return usageErrorf("--batch-size %d: expected 1 to 60000", b)
		}
	}
	for _, a := range acts {
		if a != "relu" && a != "sigmoid" && a != "tanh" {
			return usageErrorf("--activation %q: expected relu, sigmoid or tanh", a)
		}
	}
	if err := checkEpochs(c.Int("epochs"), "the final model's checkpoint"); err != nil {
		return err
	}
	if k := c.Int("folds"); k < 0 || k == 1 || k > tune.MNISTTrain {
		return usageErrorf("--folds %d: expected 0 (a hold-out) or 2 to %d", k, tune.MNISTTrain)
	}
	if v := c.Float64("val-split"); c.Int("folds") == 0 && !(v > 0 && v < 1) {
		return usageErrorf("--val-split %v: expected a fraction above 0 and below 1 (the study ranks its configurations on the validation set; --folds K cross-validates instead)", v)
	}
	return nil
}

// digitCounts counts the images of each digit among labels[idx].
func digitCounts(labels []uint8, idx []int32) [engine.Classes]int {
	var count [engine.Classes]int
	for _, i := range idx {
		if l := int(labels[i]); l < engine.Classes {
			count[l]++
		}
	}
	return count
}
