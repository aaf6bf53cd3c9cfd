// augment.go: training-time data augmentation, drawn on the device inside
// Gather: each image is translated by a random offset (dx, dy) with zero
// fill. The offsets come from Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC'11), a counter-based generator:
// the offsets of an image are a pure function of (seed, epoch, dataset
// index), so the CPU engine and the GPU kernel draw the same ones, a run
// repeats, and a resumed run (even mid-epoch) draws what the uninterrupted
// one would have. kernels/kernels.cu's gather kernel has the same
// generator in C; ShiftOffsets is its Go twin and the reference of the
// tests.

package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// Augment configures Gather's augmentation. The zero value turns it off.
type Augment struct {
	// Shift is the largest translation in pixels along each axis: dx and
	// dy are drawn uniformly from [-Shift, Shift]. 0 disables it.
	Shift int
	// Seed keys the generator (the run's seed).
	Seed uint64
}

// On reports whether Gather augments.
func (a Augment) On() bool { return a.Shift > 0 }

// MaxShift is the largest --augment shift accepted: beyond a quarter of
// the image, a digit is mostly cut off.
const MaxShift = ImageSide / 4

// ParseAugment reads an --augment value: "none" or "shift:N" (N pixels,
// 1 to MaxShift); a bare "shift" means ±2 pixels.
func ParseAugment(s string) (shift int, err error) {
	switch {
	case s == "none":
		return 0, nil
	case s == "shift":
		return 2, nil
	case strings.HasPrefix(s, "shift:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "shift:"))
		if err != nil || n < 1 || n > MaxShift {
			return 0, fmt.Errorf("augmentation %q: the shift must be a whole number of pixels from 1 to %d", s, MaxShift)
		}
		return n, nil
	}
	return 0, fmt.Errorf("augmentation %q: expected none, shift (±2 pixels) or shift:N (±N pixels, N from 1 to %d)", s, MaxShift)
}

// AugmentName is the flag spelling of a shift (the inverse of ParseAugment).
func AugmentName(shift int) string {
	if shift <= 0 {
		return "none"
	}
	return fmt.Sprintf("shift:%d", shift)
}

// Philox4x32-10's multipliers and Weyl key increments.
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox4x32 returns Philox4x32-10 of counter c under key k.
func Philox4x32(c [4]uint32, k [2]uint32) [4]uint32 {
	for r := 0; r < 10; r++ {
		if r > 0 {
			k[0] += philoxW0
			k[1] += philoxW1
		}
		p0 := uint64(philoxM0) * uint64(c[0])
		p1 := uint64(philoxM1) * uint64(c[2])
		c = [4]uint32{uint32(p1>>32) ^ c[1] ^ k[0], uint32(p1), uint32(p0>>32) ^ c[3] ^ k[1], uint32(p0)}
	}
	return c
}

// ShiftOffsets returns the translation of dataset image idx in epoch
// epoch under seed: counter (idx, epoch, 0, 0), key (seed's low and high
// words); dx from the first output word, dy from the second, each modulo
// 2·shift+1, minus shift.
func ShiftOffsets(seed uint64, epoch, idx int32, shift int) (dx, dy int) {
	o := Philox4x32([4]uint32{uint32(idx), uint32(epoch), 0, 0}, [2]uint32{uint32(seed), uint32(seed >> 32)})
	m := uint32(2*shift + 1)
	return int(o[0]%m) - shift, int(o[1]%m) - shift
}

// ShiftImage writes to dst (side×side) the image src translated by
// (dx, dy) with zero fill: dst[r][c] = src[r-dy][c-dx] where that lies in
// the image, else 0 (a positive dx moves the digit right, a positive dy
// down). It is the reference the engines' Gather is tested against.
func ShiftImage(dst []float32, src []uint8, side, dx, dy int) {
	for r := 0; r < side; r++ {
		for c := 0; c < side; c++ {
			sr, sc := r-dy, c-dx
			v := float32(0)
			if sr >= 0 && sr < side && sc >= 0 && sc < side {
				v = float32(src[sr*side+sc]) / 255
			}
			dst[r*side+c] = v
		}
	}
}

// ImageSideOf returns the side of a square image of pixels pixels, or 0
// when pixels is not a square.
func ImageSideOf(pixels int) int {
	for s := 1; s*s <= pixels; s++ {
		if s*s == pixels {
			return s
		}
	}
	return 0
}
