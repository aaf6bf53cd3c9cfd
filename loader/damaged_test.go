// damaged_test.go: image files that fail to decode are named for what
// they are: JPEGs of kinds Go's decoder does not read, files cut short;
// and a file missing only its last bytes is read as viewers show it.

package loader

import (
	"bytes"
	"errors"
	"image/color"
	"math"
	"strings"
	"testing"
)

// sofAt returns the offset of a JPEG's first frame header marker (FF C0 or
// FF C2), walking its segments.
func sofAt(t *testing.T, data []byte) int {
	t.Helper()
	for pos := 2; pos+4 <= len(data); {
		if m := data[pos+1]; m == 0xc0 || m == 0xc2 {
			return pos
		}
		pos += 2 + int(data[pos+2])<<8 + int(data[pos+3])
	}
	t.Fatal("no frame header")
	return 0
}

// TestJPEGKindsNamed: a 12-bit, lossless, arithmetic-coded or
// hierarchical JPEG (its frame header's marker or precision changed) is
// named as such, with what to do, not called damaged.
func TestJPEGKindsNamed(t *testing.T) {
	base := enc(t, drawSeven(40, 40, color.Black, color.White), "jpeg")
	at := sofAt(t, base)
	for _, c := range []struct {
		marker, precision byte
		want              string
	}{
		{0xc0, 12, "a 12-bit JPEG, which cnngpu does not read"},
		{0xc3, 8, "a lossless JPEG, which cnngpu does not read"},
		{0xc9, 8, "an arithmetic-coded JPEG, which cnngpu does not read"},
		{0xca, 8, "an arithmetic-coded JPEG"},
		{0xc5, 8, "a hierarchical JPEG"},
	} {
		d := bytes.Clone(base)
		d[at+1], d[at+4] = c.marker, c.precision
		_, err := DecodeDigit(d)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "convert it to PNG") {
			t.Errorf("frame marker %x, precision %d: %v; want %q and a hint", c.marker, c.precision, err, c.want)
		}
	}
}

// TestJPEGKindBeforeTheFirstScan: only a frame header before the first
// scan names the kind: one after it (in what follows the scan) is not
// the frame's.
func TestJPEGKindBeforeTheFirstScan(t *testing.T) {
	d := []byte{0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0, 0xff, 0xc1, 0, 11, 12, 0, 8, 0, 8, 1, 1, 0x11, 0, 0xff, 0xd9}
	if k := jpegKind(d); k != "" {
		t.Errorf("a 12-bit frame header after the first scan: kind %q, want none", k)
	}
}

// TestCutShortImages: a file missing only its last bytes (a JPEG's end
// marker, part or all of a PNG's IEND chunk, a GIF's trailer) is read as
// the whole file is; one cut inside its pixels is refused as cut short.
func TestCutShortImages(t *testing.T) {
	img := drawSeven(60, 60, color.Black, color.White)
	for _, c := range []struct {
		format string
		lose   []int // bytes cut from the end that still read
	}{
		{"jpeg", []int{1, 2}},
		{"png", []int{1, 4, 12}},
		{"gif", []int{1}},
	} {
		whole := enc(t, img, c.format)
		want, err := DecodeDigit(whole)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range c.lose {
			got, err := DecodeDigit(whole[:len(whole)-n])
			if err != nil {
				t.Errorf("%s without its last %d bytes: %v", c.format, n, err)
				continue
			}
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-6 {
					t.Errorf("%s without its last %d bytes: pixel %d is %v, the whole file's %v", c.format, n, i, got[i], want[i])
					break
				}
			}
		}
		_, err = DecodeDigit(whole[:len(whole)/2])
		if err == nil || !strings.Contains(err.Error(), "the file is cut short") || !strings.Contains(err.Error(), "download it again") {
			t.Errorf("%s cut in half: %v; want it called cut short", c.format, err)
		}
	}
}

// TestColourOnlyDigit: a digit that differs from its background in colour
// alone (red on a grey of the same brightness) is refused as blank, with
// the reason and what to do; a blank image is not said to have colour.
func TestColourOnlyDigit(t *testing.T) {
	// Red's luminance: 0.299 × 255 ≈ 76.
	_, err := DecodeDigit(enc(t, drawSeven(80, 80, color.RGBA{255, 0, 0, 255}, color.RGBA{76, 76, 76, 255}), "png"))
	if !errors.Is(err, ErrNoInk) || !strings.Contains(err.Error(), "in colour only, not in brightness") {
		t.Errorf("red on grey of its brightness: %v", err)
	}
	_, err = DecodeDigit(enc(t, drawSeven(80, 80, color.RGBA{76, 76, 76, 255}, color.RGBA{76, 76, 76, 255}), "png"))
	if !errors.Is(err, ErrNoInk) || strings.Contains(err.Error(), "colour") {
		t.Errorf("a blank grey image: %v", err)
	}
}
