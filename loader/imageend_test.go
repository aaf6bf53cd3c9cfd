// imageend_test.go: finding where an image ends, and refusing a file (or
// standard input) that holds two images one after the other.

package loader

import (
	"bytes"
	"encoding/binary"
	"image/color"
	"strings"
	"testing"
)

// withThumbnail returns a JPEG with an APP1 segment after its SOI that
// holds a whole JPEG (as EXIF thumbnails do: its EOI must not be taken
// for the image's).
func withThumbnail(jpg, thumb []byte) []byte {
	seg := append([]byte("Exif\x00\x00"), thumb...)
	var out bytes.Buffer
	out.Write(jpg[:2])
	out.Write([]byte{0xff, 0xe1})
	binary.Write(&out, binary.BigEndian, uint16(len(seg)+2))
	out.Write(seg)
	out.Write(jpg[2:])
	return out.Bytes()
}

func TestImageEnd(t *testing.T) {
	black, white := color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	small := drawSeven(40, 40, black, white)
	large := drawSeven(300, 200, black, white)
	jpg := enc(t, large, "jpeg")
	for _, c := range []struct {
		name, format string
		data         []byte
	}{
		{"png", "png", enc(t, large, "png")},
		{"jpeg", "jpeg", jpg},
		{"jpeg with a thumbnail", "jpeg", withThumbnail(jpg, enc(t, small, "jpeg"))},
		{"gif", "gif", enc(t, large, "gif")},
	} {
		end, ok := imageEnd(c.format, c.data)
		if !ok || end != len(c.data) {
			t.Errorf("%s: end %d, %v; want %d (the whole file)", c.name, end, ok, len(c.data))
		}
		// Cut short, the end cannot be told.
		if end, ok := imageEnd(c.format, c.data[:len(c.data)-3]); ok {
			t.Errorf("%s cut short: end %d", c.name, end)
		}
		x, err := DecodeDigit(c.data)
		if err != nil || x == nil {
			t.Errorf("%s: %v", c.name, err)
		}
		// Bytes after the image that are not an image (a camera's
		// trailer) are no reason to refuse it.
		if _, err := DecodeDigit(append(bytes.Clone(c.data), "trailing bytes, not an image"...)); err != nil {
			t.Errorf("%s with trailing bytes: %v", c.name, err)
		}
		for _, second := range []string{"png", "jpeg", "gif"} {
			two := append(bytes.Clone(c.data), enc(t, small, second)...)
			_, err := DecodeDigit(two)
			want := "holds more than one image (a " + c.format + " image, then a " + second + " image from byte "
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s then %s: error %v, want one containing %q", c.name, second, err, want)
			}
		}
	}
}
