// Tests of rounding under a limit.
package shown

import (
	"fmt"
	"testing"
)

// TestUnder: printed to its step, a value just under the limit shows the
// step below the limit, one at or over it and one farther under round as
// usual.
func TestUnder(t *testing.T) {
	for _, c := range []struct {
		v, limit, step float64
		format, want   string
	}{
		{49.96, 50, 0.1, "%.1f", "49.9"},
		{49.94, 50, 0.1, "%.1f", "49.9"},
		{50, 50, 0.1, "%.1f", "50.0"},
		{50.04, 50, 0.1, "%.1f", "50.0"},
		{0.49996, 0.5, 1e-4, "%.4f", "0.4999"},
		{0.49994, 0.5, 1e-4, "%.4f", "0.4999"},
		{0.41237, 0.5, 1e-4, "%.4f", "0.4124"},
		{9.96, 10, 0.1, "%.1f", "9.9"},
		{9.93, 10, 0.1, "%.1f", "9.9"},
		{10.02, 10, 0.1, "%.1f", "10.0"},
	} {
		if got := fmt.Sprintf(c.format, Under(c.v, c.limit, c.step)); got != c.want {
			t.Errorf("Under(%v, %v, %v) prints %s, want %s", c.v, c.limit, c.step, got, c.want)
		}
	}
}

// TestCount: one is singular, every other count plural (none too).
func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 images", 1: "1 image", 2: "2 images", -1: "-1 images"} {
		if got := Count(n, "image"); got != want {
			t.Errorf("Count(%d, image) = %q, want %q", n, got, want)
		}
	}
}
