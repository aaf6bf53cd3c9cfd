// Package shown writes figures for messages: rounded so that a value under
// a limit is never shown as the limit itself (predict's probabilities under
// even odds, the loader's ink contrast under its minimum), and counted with
// their noun ("1 image", "3 images"); and errors reworded for them.
package shown

import (
	"fmt"
	"math"
)

// Under is v for printing to the nearest step: v itself, but rounded down
// to a step where it lies under limit and rounding would reach it (0.49996
// is printed to four places as 0.4999, not as the 0.5000 it is under).
func Under(v, limit, step float64) float64 {
	if v < limit && v >= limit-step/2 {
		return math.Floor(v/step) * step
	}
	return v
}

// Count is n with its noun, singular for one: "1 image", "3 images" (a
// noun whose plural takes an s).
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// As is err shown as msg, where err's own text would repeat or contradict
// the message (reworded for the flag the user gave): errors.Is and
// errors.As still find err.
func As(msg string, err error) error { return reworded{msg, err} }

type reworded struct {
	msg string
	err error
}

func (r reworded) Error() string { return r.msg }
func (r reworded) Unwrap() error { return r.err }
