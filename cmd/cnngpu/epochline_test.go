// epochline_test.go: the epoch line's time, with two decimals under a
// second (a GPU's epoch) and one from there on.

package main

import (
	"math"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

func TestEpochLineSeconds(t *testing.T) {
	for _, c := range []struct {
		secs float64
		want string
	}{{0.118, "  0.12s  "}, {0.31, "  0.31s  "}, {0.949, "  0.95s  "}, {0.96, "  1.0s  "}, {15.24, "  15.2s  "}} {
		m := engine.EpochMetrics{Epoch: 2, TrainLoss: 0.05, TrainAcc: 0.98, Seconds: c.secs, ImagesPerSec: 60000 / c.secs, ValLoss: math.NaN(), ValAcc: math.NaN()}
		if got := epochLine(m, 10); !strings.Contains(got, c.want) {
			t.Errorf("%v s: %q, want it to hold %q", c.secs, got, c.want)
		}
	}
}
