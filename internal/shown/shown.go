// Package shown rounds a figure for a message so that a value under a
// limit is never shown as the limit itself: predict's probabilities under
// even odds, the loader's ink contrast under its minimum.
package shown

import "math"

// Under is v for printing to the nearest step: v itself, but rounded down
// to a step where it lies under limit and rounding would reach it (0.49996
// is printed to four places as 0.4999, not as the 0.5000 it is under).
func Under(v, limit, step float64) float64 {
	if v < limit && v >= limit-step/2 {
		return math.Floor(v/step) * step
	}
	return v
}
