// orient_test.go: EXIF orientation: the mapping of each of the eight
// orientations against turns and mirrors written here independently, the
// tag read from either byte order, a sideways photo read upright, and
// damaged EXIF left as stored.

package loader

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"slices"
	"testing"
)

// turnCW turns an image 90° clockwise: the source's left column becomes
// the top row.
func turnCW(src *image.Gray) *image.Gray {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewGray(image.Rect(0, 0, h, w))
	for y := range h {
		for x := range w {
			dst.SetGray(h-1-y, x, src.GrayAt(x, y))
		}
	}
	return dst
}

// mirrorLR mirrors an image left to right.
func mirrorLR(src *image.Gray) *image.Gray {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			dst.SetGray(w-1-x, y, src.GrayAt(x, y))
		}
	}
	return dst
}

// storedAs returns how a camera stores the upright image under EXIF
// orientation o: the inverse of what the tag tells a viewer to do.
func storedAs(up *image.Gray, o int) *image.Gray {
	cw := func(img *image.Gray, n int) *image.Gray {
		for range n {
			img = turnCW(img)
		}
		return img
	}
	switch o {
	case 2: // shown mirrored left to right
		return mirrorLR(up)
	case 3: // shown turned 180°
		return cw(up, 2)
	case 4: // shown mirrored top to bottom
		return mirrorLR(cw(up, 2))
	case 5: // shown transposed (its own inverse)
		return mirrorLR(cw(up, 1))
	case 6: // shown turned 90° clockwise: stored turned counter-clockwise
		return cw(up, 3)
	case 7: // shown transposed along the other diagonal (its own inverse)
		return mirrorLR(cw(up, 3))
	case 8: // shown turned 90° counter-clockwise
		return cw(up, 1)
	}
	return up
}

// exifJPEG inserts an APP1 segment with EXIF orientation o, in byte order
// bo, after a JPEG's start marker.
func exifJPEG(jpg []byte, o int, bo binary.ByteOrder) []byte {
	tiff := make([]byte, 8+2+12+4)
	if bo == binary.LittleEndian {
		copy(tiff, "II")
	} else {
		copy(tiff, "MM")
	}
	bo.PutUint16(tiff[2:], 42)
	bo.PutUint32(tiff[4:], 8)
	bo.PutUint16(tiff[8:], 1)
	bo.PutUint16(tiff[10:], 0x0112)
	bo.PutUint16(tiff[12:], 3)
	bo.PutUint32(tiff[14:], 1)
	bo.PutUint16(tiff[18:], uint16(o))
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(append(out, app1...), seg...)
	return append(out, jpg[2:]...)
}

// TestOrientMapping: each orientation shows, pixel for pixel, the upright
// image that storedAs turned for it (a 3x2 image of six levels).
func TestOrientMapping(t *testing.T) {
	up := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(up.Pix, []uint8{10, 20, 30, 40, 50, 60})
	for o := 1; o <= 8; o++ {
		got := orient(storedAs(up, o), o)
		if b := got.Bounds(); b != up.Rect {
			t.Errorf("orientation %d: bounds %v, want %v", o, b, up.Rect)
			continue
		}
		for y := range 2 {
			for x := range 3 {
				c := got.(interface {
					RGBA64At(x, y int) color.RGBA64
				})
				if v := uint8(c.RGBA64At(x, y).R >> 8); o > 1 && v != up.GrayAt(x, y).Y {
					t.Errorf("orientation %d: pixel (%d,%d) %d, want %d", o, x, y, v, up.GrayAt(x, y).Y)
				}
				if v := color.GrayModel.Convert(got.At(x, y)).(color.Gray).Y; v != up.GrayAt(x, y).Y {
					t.Errorf("orientation %d: At(%d,%d) %d, want %d", o, x, y, v, up.GrayAt(x, y).Y)
				}
			}
		}
	}
}

// TestSidewaysPhotoReadUpright: a 7 stored turned or mirrored, with the
// EXIF orientation that says so (either byte order), is read as the
// upright 7 is; without the tag it is not (the test would pass
// otherwise).
func TestSidewaysPhotoReadUpright(t *testing.T) {
	sevenGray := func() *image.Gray {
		src := drawSeven(120, 160, color.Black, color.White)
		g := image.NewGray(src.Rect)
		for y := range 160 {
			for x := range 120 {
				g.Set(x, y, src.At(x, y))
			}
		}
		return g
	}
	jpg := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	up := sevenGray()
	want, err := DecodeDigit(jpg(up))
	if err != nil {
		t.Fatal(err)
	}
	exact, err := PrepareDigit(up)
	if err != nil {
		t.Fatal(err)
	}
	// far: the mean difference per pixel from the upright 7's (the
	// JPEG's rounding differs a little between a turned image and the
	// upright one, and can move a faint pixel across the noise floor).
	far := func(got []float32) float64 {
		d := 0.0
		for i := range got {
			d += math.Abs(float64(got[i] - want[i]))
		}
		return d / float64(len(got))
	}
	for o := 2; o <= 8; o++ {
		// Uncompressed, the turn is exact.
		if got, err := PrepareDigit(orient(storedAs(up, o), o)); err != nil || !slices.Equal(got, exact) {
			t.Errorf("orientation %d, the image itself: not the upright 7's input (%v)", o, err)
		}
		stored := jpg(storedAs(up, o))
		for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
			got, err := DecodeDigit(exifJPEG(stored, o, bo))
			if err != nil {
				t.Fatalf("orientation %d (%v): %v", o, bo, err)
			}
			t.Logf("orientation %d: %.4f", o, far(got))
			if d := far(got); d > 0.01 {
				t.Errorf("orientation %d (%v): pixels differ by %.4f on average from the upright 7's", o, bo, d)
			}
		}
		plain, err := DecodeDigit(stored)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("orientation %d without: %.4f", o, far(plain))
		if d := far(plain); d < 0.03 {
			t.Errorf("orientation %d without its tag: pixels differ by only %.4f on average from the upright 7's", o, d)
		}
	}
}

// TestOrientationDamaged: EXIF that is cut short, of an unknown byte
// order, with the tag of another type or count, an offset past its end,
// or a value outside 1 to 8 leaves the image as stored (1), and a JPEG
// without EXIF is 1; a tag after others in the IFD is found.
func TestOrientationDamaged(t *testing.T) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	plain := b.Bytes()
	if o := jpegOrientation(plain); o != 1 {
		t.Errorf("no EXIF: %d", o)
	}
	good := exifJPEG(plain, 6, binary.BigEndian)
	if o := jpegOrientation(good); o != 6 {
		t.Fatalf("orientation 6: read %d", o)
	}
	const tiffAt = 2 + 4 + 6 // SOI, APP1's marker and length, "Exif\0\0"
	edit := func(f func(d []byte)) []byte {
		d := append([]byte{}, good...)
		f(d)
		return d
	}
	for name, data := range map[string][]byte{
		"cut inside the segment":  good[:tiffAt+12],
		"byte order XX":           edit(func(d []byte) { copy(d[tiffAt:], "XX") }),
		"not 42":                  edit(func(d []byte) { d[tiffAt+3] = 43 }),
		"IFD offset past the end": edit(func(d []byte) { binary.BigEndian.PutUint32(d[tiffAt+4:], 1<<30) }),
		"IFD offset 0":            edit(func(d []byte) { binary.BigEndian.PutUint32(d[tiffAt+4:], 0) }),
		"entry count past the end, no orientation": edit(func(d []byte) {
			binary.BigEndian.PutUint16(d[tiffAt+8:], 0xffff)
			binary.BigEndian.PutUint16(d[tiffAt+10:], 0x0110)
		}),
		"type LONG":                   edit(func(d []byte) { binary.BigEndian.PutUint16(d[tiffAt+12:], 4) }),
		"count 2":                     edit(func(d []byte) { binary.BigEndian.PutUint32(d[tiffAt+14:], 2) }),
		"value 9":                     edit(func(d []byte) { binary.BigEndian.PutUint16(d[tiffAt+18:], 9) }),
		"value 0":                     edit(func(d []byte) { binary.BigEndian.PutUint16(d[tiffAt+18:], 0) }),
		"segment length 1":            edit(func(d []byte) { binary.BigEndian.PutUint16(d[4:], 1) }),
		"segment length past the end": edit(func(d []byte) { binary.BigEndian.PutUint16(d[4:], 0xffff) }),
	} {
		if o := jpegOrientation(data); o != 1 {
			t.Errorf("%s: orientation %d, want 1", name, o)
		}
	}
	// Two entries, the orientation second.
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x02" +
		"\x01\x0f\x00\x02\x00\x00\x00\x04ACME" + // Make, ASCII
		"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x08\x00\x00" +
		"\x00\x00\x00\x00")
	seg := append([]byte("Exif\x00\x00"), tiff...)
	two := append([]byte{0xff, 0xd8, 0xff, 0xe1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	two = append(two, plain[2:]...)
	if o := jpegOrientation(two); o != 8 {
		t.Errorf("orientation after another entry: %d, want 8", o)
	}
}

// FuzzJPEGOrientation: the EXIF reader neither panics nor returns a value
// outside 1 to 8, whatever the bytes.
func FuzzJPEGOrientation(f *testing.F) {
	var b bytes.Buffer
	jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
	f.Add(exifJPEG(b.Bytes(), 6, binary.BigEndian))
	f.Add(exifJPEG(b.Bytes(), 3, binary.LittleEndian))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := jpegOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}
