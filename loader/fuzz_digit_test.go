// fuzz_digit_test.go: fuzzing the decoding of a user's image for predict
// and serve (DecodeDigit: the format's checks, the decode, the digit's
// preparation): no panic, and an image accepted gives 784 values in 0..1.

package loader

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

func FuzzDecodeDigit(f *testing.F) {
	mk := func(w, h int) *image.Gray {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = 255
		}
		for y := h / 5; y < h*4/5; y++ {
			img.SetGray(w/2, y, color.Gray{0})
			img.SetGray(w/2+1, y, color.Gray{20})
		}
		return img
	}
	var b bytes.Buffer
	png.Encode(&b, mk(28, 28))
	f.Add(append([]byte(nil), b.Bytes()...))
	b.Reset()
	png.Encode(&b, mk(40, 30))
	f.Add(append([]byte(nil), b.Bytes()...))
	b.Reset()
	jpeg.Encode(&b, mk(32, 32), &jpeg.Options{Quality: 80})
	f.Add(append([]byte(nil), b.Bytes()...))
	b.Reset()
	pal := image.NewPaletted(image.Rect(0, 0, 28, 28), []color.Color{color.White, color.Black})
	for y := 5; y < 23; y++ {
		pal.SetColorIndex(14, y, 1)
	}
	gif.Encode(&b, pal, nil)
	f.Add(append([]byte(nil), b.Bytes()...))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := DecodeDigit(data)
		if err != nil {
			if x != nil {
				t.Fatalf("error %v with %d values", err, len(x))
			}
			return
		}
		if len(x) != 28*28 {
			t.Fatalf("%d values", len(x))
		}
		for i, v := range x {
			if !(v >= 0 && v <= 1) || math.IsNaN(float64(v)) {
				t.Fatalf("value %d is %v", i, v)
			}
		}
	})
}
