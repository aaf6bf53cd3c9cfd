// image_test.go: the MNIST-style preprocessing of image files: size
// normalisation and centring, either polarity, transparency, every
// accepted format, and the refusals (blank, empty, not an image, too big).

package loader

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// drawSeven draws a thick "7" in an image of w x h with the given ink and
// paper colours.
func drawSeven(w, h int, ink, paper color.Color) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, paper)
		}
	}
	t := max(2, w/25)
	// Top bar from 30% to 70% of the width at 25% height, then a diagonal
	// down to 85% height.
	x0, x1, y0, y1 := w*3/10, w*7/10, h/4, h*85/100
	for y := y0; y < y0+t; y++ {
		for x := x0; x < x1; x++ {
			img.Set(x, y, ink)
		}
	}
	for y := y0; y < y1; y++ {
		xc := x1 - (x1-x0)*(y-y0)/(2*(y1-y0))
		for x := xc - t; x < xc; x++ {
			img.Set(x, y, ink)
		}
	}
	return img
}

func enc(t *testing.T, img image.Image, format string) []byte {
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	case "gif":
		err = gif.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// stats returns the ink bounding box size and centre of mass of a 28x28
// input.
func stats(x []float32) (bw, bh int, cx, cy float64) {
	x0, y0, x1, y1 := 28, 28, -1, -1
	var m float64
	for p, v := range x {
		if v > 0 {
			x0, y0 = min(x0, p%28), min(y0, p/28)
			x1, y1 = max(x1, p%28), max(y1, p/28)
		}
		m += float64(v)
		cx += float64(v) * float64(p%28)
		cy += float64(v) * float64(p/28)
	}
	return x1 - x0 + 1, y1 - y0 + 1, cx / m, cy / m
}

func TestPrepareDigitNormalises(t *testing.T) {
	black, white := color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"large png, dark ink on white", enc(t, drawSeven(400, 300, black, white), "png")},
		{"small jpeg, white ink on black", enc(t, drawSeven(60, 90, white, black), "jpeg")},
		{"gif, blue ink on yellow", enc(t, drawSeven(120, 120, color.RGBA{0, 0, 200, 255}, color.RGBA{250, 240, 120, 255}), "gif")},
	} {
		x, err := DecodeDigit(c.data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		bw, bh, cx, cy := stats(x)
		if max(bw, bh) < 19 || max(bw, bh) > 21 {
			t.Errorf("%s: ink box %dx%d, want the longer side 20", c.name, bw, bh)
		}
		if math.Abs(cx-14) > 1 || math.Abs(cy-14) > 1 {
			t.Errorf("%s: centre of mass (%.2f, %.2f), want (14, 14)", c.name, cx, cy)
		}
		var mx float32
		for _, v := range x {
			mx = max(mx, v)
		}
		if mx < 0.9 || mx > 1 {
			t.Errorf("%s: brightest ink %v, want near 1", c.name, mx)
		}
	}
}

func TestPrepareDigitPolarityAndAlpha(t *testing.T) {
	a, err := DecodeDigit(enc(t, drawSeven(100, 100, color.Black, color.White), "png"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeDigit(enc(t, drawSeven(100, 100, color.White, color.Black), "png"))
	if err != nil {
		t.Fatal(err)
	}
	// Black ink on a transparent background (how many drawing tools save).
	c, err := DecodeDigit(enc(t, drawSeven(100, 100, color.Black, color.Transparent), "png"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 || math.Abs(float64(a[i]-c[i])) > 1e-6 {
			t.Fatalf("pixel %d differs between polarities/transparency: %v %v %v", i, a[i], b[i], c[i])
		}
	}
	// Ink of any shade drawn on nothing, and a sheet of either polarity
	// inside a transparent margin, give the same digit.
	outlined := func() image.Image {
		img := image.NewNRGBA(image.Rect(0, 0, 100, 100))
		inner := drawSeven(100, 100, color.Black, color.Transparent)
		for y := range 100 {
			for x := range 100 {
				if _, _, _, a := inner.At(x, y).RGBA(); a == 0 {
					continue
				}
				for dy := -3; dy <= 3; dy++ {
					for dx := -3; dx <= 3; dx++ {
						if _, _, _, a := img.At(x+dx, y+dy).RGBA(); a == 0 {
							img.Set(x+dx, y+dy, color.White)
						}
					}
				}
			}
		}
		for y := range 100 {
			for x := range 100 {
				if _, _, _, a := inner.At(x, y).RGBA(); a != 0 {
					img.Set(x, y, color.Black)
				}
			}
		}
		return img
	}
	framed := func(ink, paper color.Color) image.Image {
		img := image.NewNRGBA(image.Rect(0, 0, 120, 120))
		draw.Draw(img, image.Rect(10, 10, 110, 110), drawSeven(100, 100, ink, paper), image.Point{}, draw.Src)
		return img
	}
	deep := func(img image.Image) image.Image { // 16-bit PNG: the generic path
		out := image.NewNRGBA64(img.Bounds())
		draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
		return out
	}
	for _, c := range []struct {
		name string
		img  image.Image
	}{
		{"white ink on transparent", drawSeven(100, 100, color.White, color.Transparent)},
		{"white ink on transparent, 16-bit", deep(drawSeven(100, 100, color.White, color.Transparent))},
		{"red ink on transparent", drawSeven(100, 100, color.RGBA{255, 0, 0, 255}, color.Transparent)},
		{"yellow ink on transparent", drawSeven(100, 100, color.RGBA{255, 255, 0, 255}, color.Transparent)},
		{"a white sheet in a transparent margin", framed(color.Black, color.White)},
		{"a black sheet in a transparent margin", framed(color.White, color.Black)},
		{"a black sheet in a transparent margin, 16-bit", deep(framed(color.White, color.Black))},
		// A black 7 with a white outline, as a sticker: the 7 is the ink.
		{"a black 7 outlined in white on transparent", outlined()},
	} {
		got, err := DecodeDigit(enc(t, c.img, "png"))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for i := range a {
			if math.Abs(float64(a[i]-got[i])) > 1e-3 {
				t.Errorf("%s: pixel %d is %v, black ink on white gives %v", c.name, i, got[i], a[i])
				break
			}
		}
	}
}

func TestPrepareDigitKeepsMNISTDigits(t *testing.T) {
	// An MNIST-formatted digit (20-pixel box, centred by mass) comes back
	// unchanged, so predicting a PNG of a test image agrees with eval.
	src := make([]uint8, 784)
	for y := 4; y < 24; y++ {
		for x := 11; x < 17; x++ {
			src[y*28+x] = uint8(100 + 7*x)
		}
	}
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for p, v := range src {
		img.Pix[p] = 255 - v
	}
	x, err := PrepareDigit(img)
	if err != nil {
		t.Fatal(err)
	}
	for p := range x {
		if want := float32(src[p]) / 255; math.Abs(float64(x[p]-want)) > 1e-6 {
			t.Fatalf("pixel %d: %v, want %v", p, x[p], want)
		}
	}
}

func TestDecodeDigitRefuses(t *testing.T) {
	blank := image.NewGray(image.Rect(0, 0, 50, 50))
	for i := range blank.Pix {
		blank.Pix[i] = 255
	}
	// An image of no pixels (only a program can make one) has no ink.
	if _, err := PrepareDigit(image.NewGray(image.Rect(0, 0, 0, 5))); err != ErrNoInk {
		t.Errorf("an image 0 pixels wide: %v, want ErrNoInk", err)
	}
	wide := image.NewGray(image.Rect(0, 0, MaxImagePixels+1, 1))
	dot := image.NewGray(image.Rect(0, 0, 50, 50))
	copy(dot.Pix, blank.Pix)
	dot.Pix[25*50+25] = 0
	bigDot := image.NewGray(image.Rect(0, 0, 800, 600))
	for i := range bigDot.Pix {
		bigDot.Pix[i] = 255
	}
	for _, p := range []int{300*800 + 400, 300*800 + 401, 301*800 + 400, 301*800 + 401} {
		bigDot.Pix[p] = 0
	}
	// Paper: a light grey with a few levels of noise.
	paper := image.NewGray(image.Rect(0, 0, 120, 90))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range paper.Pix {
		paper.Pix[i] = uint8(232 + r.IntN(7))
	}
	// Noise all over: grey, and in colour (whose brightness varies too).
	noise, colourNoise := image.NewGray(image.Rect(0, 0, 64, 64)), image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(r.IntN(256))
	}
	for i := range colourNoise.Pix {
		colourNoise.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			colourNoise.Pix[i] = 255
		}
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"noise", enc(t, noise, "png"), "no digit found: its marks, up to 100% of the way from its background's shade to full ink, are no stronger than those along its border: noise or a texture all over it"},
		{"noise in colour", enc(t, colourNoise, "png"), "are no stronger than those along its border: noise or a texture all over it, not a digit on a plain background"},
		{"text", []byte("hello, not an image"), "not a PNG, JPEG or GIF image (its first bytes are none of theirs): give an image file, or convert it to PNG"},
		{"blank", enc(t, blank, "png"), "no ink found"},
		{"too wide", enc(t, wide, "png"), "10001x1 pixels"},
		{"too large", append([]byte{0x89, 'P', 'N', 'G'}, make([]byte, MaxImageBytes)...), "larger than the 20 MB limit"},
		{"truncated png", enc(t, drawSeven(50, 50, color.Black, color.White), "png")[:60], "image"},
		{"png cut in its header", enc(t, drawSeven(50, 50, color.Black, color.White), "png")[:12], "damaged png image"},
		{"jpeg cut in its header", enc(t, drawSeven(50, 50, color.Black, color.White), "jpeg")[:4], "damaged jpeg image"},
		{"gif cut in its header", []byte("GIF89a\x01"), "damaged gif image"},
		{"a seven one grey level off the paper", enc(t, drawSeven(50, 50, color.Gray{253}, color.Gray{254}), "png"), "its darkest mark is only 0.4% of the way from the paper's shade to black; a digit's is 10% or more"},
		{"a white seven barely off the black", enc(t, drawSeven(50, 50, color.Gray{12}, color.Gray{10}), "png"), "its brightest mark is only 0.8% of the way from the background's shade to white"},
		{"a dot", enc(t, dot, "png"), "its only mark is a dot of 1x1 pixels in 50x50"},
		{"a dot in a large image", enc(t, bigDot, "png"), "a dot of 2x2 pixels in 800x600; a digit needs to be 3 pixels or more across"},
		{"blank paper as a JPEG", enc(t, paper, "jpeg"), "the image is blank"}, // its JPEG noise under the noise floor
		{"an IDX image file", []byte("\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x1c\x00\x00\x00\x1c"), "an IDX image file (MNIST's format), not a PNG, JPEG or GIF image: classify all of its images with --idx FILE"},
		{"a gzip file", []byte("\x1f\x8b\x08\x00rest"), "a gzip file, not a PNG"},
		{"a WebP image", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), "a WebP image, not a PNG, JPEG or GIF image: convert it to PNG or JPEG first"},
		{"a HEIC image", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), "a HEIC image"},
		{"an SVG drawing", []byte("\xef\xbb\xbf<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"), "an SVG drawing, not a PNG"},
		{"a PDF", []byte("%PDF-1.7\n"), "a PDF document"},
	} {
		_, err := DecodeDigit(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if strings.HasPrefix(c.want, "no ") && !errors.Is(err, ErrNoInk) {
			t.Errorf("%s: %v is not ErrNoInk", c.name, err)
		}
		if strings.HasPrefix(c.name, "noise") && (strings.Contains(fmt.Sprint(err), "blank") || strings.Contains(fmt.Sprint(err), "colour only")) {
			t.Errorf("%s: %v, called blank or of colour only", c.name, err)
		}
	}
	// Faint and small, but digits: a seven 30 levels off the paper, and
	// one 4 pixels tall.
	if _, err := DecodeDigit(enc(t, drawSeven(50, 50, color.Gray{220}, color.Gray{250}), "png")); err != nil {
		t.Errorf("a seven 30 grey levels darker than its paper: %v", err)
	}
	if _, err := DecodeDigit(enc(t, drawSeven(6, 6, color.Black, color.White), "png")); err != nil {
		t.Errorf("a seven in 6x6 pixels: %v", err)
	}
	// A small digit in a large scan (17x21 pixels in 2480x2480, an A4
	// page at 300 dpi).
	page := image.NewRGBA(image.Rect(0, 0, 2480, 2480))
	draw.Draw(page, page.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(page, image.Rect(1200, 1200, 1217, 1221), drawSeven(17, 21, color.Black, color.White), image.Point{}, draw.Src)
	if _, err := DecodeDigit(enc(t, page, "png")); err != nil {
		t.Errorf("a seven of 17x21 pixels in a 2480x2480 scan: %v", err)
	}
	// A strip as tall as its digit, however wide; a dim photo's digit.
	strip := image.NewRGBA(image.Rect(0, 0, 3000, 30))
	draw.Draw(strip, strip.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(strip, image.Rect(1500, 0, 1520, 30), drawSeven(20, 30, color.Black, color.White), image.Point{}, draw.Src)
	if _, err := DecodeDigit(enc(t, strip, "png")); err != nil {
		t.Errorf("a seven filling the height of a 3000x30 strip: %v", err)
	}
	if _, err := DecodeDigit(enc(t, drawSeven(50, 50, color.Gray{115}, color.Gray{140}), "png")); err != nil {
		t.Errorf("a seven 25 levels darker than a dim photo's grey paper: %v", err)
	}
}

// TestPrepareDigitTouchingTheEdges: a digit that covers more than a few
// percent of the image's border (a tight crop of a "1", a large "0"
// drawn across the drawing page's edges) is ink, not noise: it was
// reported as a blank image.
func TestPrepareDigitTouchingTheEdges(t *testing.T) {
	one := image.NewRGBA(image.Rect(0, 0, 100, 100))
	draw.Draw(one, one.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(one, image.Rect(38, 0, 63, 100), image.NewUniform(color.Black), image.Point{}, draw.Src)
	ring := image.NewRGBA(image.Rect(0, 0, 280, 280))
	draw.Draw(ring, ring.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	for y := range 280 {
		for x := range 280 {
			// An ellipse of radii 150 and 170 about the centre, 24 wide:
			// it leaves the canvas on all four sides.
			dx, dy := float64(x-140)/150, float64(y-140)/170
			if r := math.Hypot(dx, dy); r > 0.93 && r < 1.07 {
				ring.Set(x, y, color.Black)
			}
		}
	}
	// A "1" beside a dark grey band along the left side (the desk beside
	// a photographed page, a scanner's margin): the band is erased, as it
	// was before, and the digit alone is cropped.
	band := image.NewRGBA(image.Rect(0, 0, 200, 200))
	draw.Draw(band, band.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(band, image.Rect(0, 0, 24, 200), image.NewUniform(color.Gray{60}), image.Point{}, draw.Src)
	draw.Draw(band, image.Rect(110, 40, 122, 160), image.NewUniform(color.Black), image.Point{}, draw.Src)
	if x, err := DecodeDigit(enc(t, band, "png")); err != nil {
		t.Errorf("a digit beside a dark band: %v", err)
	} else if bw, bh, _, _ := stats(x); bh < 19 || bw > 4 {
		t.Errorf("a digit beside a dark band: ink box %dx%d, want the bar alone (about 2x20)", bw, bh)
	}
	// The same with the band and digit both black, the band on the left
	// or along the bottom: it is cleared, not cropped with the digit.
	for _, r := range [][]image.Rectangle{{image.Rect(0, 0, 24, 200)}, {image.Rect(0, 170, 200, 200)}} {
		draw.Draw(band, band.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		for _, b := range r {
			draw.Draw(band, b, image.NewUniform(color.Black), image.Point{}, draw.Src)
		}
		draw.Draw(band, image.Rect(110, 40, 122, 160), image.NewUniform(color.Black), image.Point{}, draw.Src)
		if x, err := DecodeDigit(enc(t, band, "png")); err != nil {
			t.Errorf("a digit beside black bands %v: %v", r, err)
		} else if bw, bh, _, _ := stats(x); bh < 19 || bw > 4 {
			t.Errorf("a digit beside black bands %v: ink box %dx%d, want the bar alone (about 2x20)", r, bw, bh)
		}
	}
	// A 7 cropped to its ink: its bar is the top row, full of ink, but
	// followed by the stroke, not by paper; it is kept.
	seven := drawSeven(200, 200, color.Black, color.White)
	tight := image.NewRGBA(image.Rect(0, 0, 80, 120))
	draw.Draw(tight, tight.Bounds(), seven, image.Point{X: 60, Y: 50}, draw.Src)
	if x, err := DecodeDigit(enc(t, tight, "png")); err != nil {
		t.Errorf("a tightly cropped 7: %v", err)
	} else if bw, bh, _, _ := stats(x); bh < 19 || bw < 10 {
		t.Errorf("a tightly cropped 7: ink box %dx%d, want its bar kept (about 13x20)", bw, bh)
	}
	// A bar along the left edge, the whole of the drawing, is kept.
	edge := image.NewRGBA(image.Rect(0, 0, 100, 100))
	draw.Draw(edge, edge.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(edge, image.Rect(0, 0, 20, 100), image.NewUniform(color.Black), image.Point{}, draw.Src)
	if x, err := DecodeDigit(enc(t, edge, "png")); err != nil {
		t.Errorf("a bar along the edge: %v", err)
	} else if _, bh, _, _ := stats(x); bh < 19 {
		t.Errorf("a bar along the edge: ink box height %d, want 20", bh)
	}
	for name, img := range map[string]image.Image{"a bar from top to bottom": one, "a ring across every edge": ring} {
		x, err := DecodeDigit(enc(t, img, "png"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if bw, bh, _, _ := stats(x); max(bw, bh) < 19 {
			t.Errorf("%s: ink box %dx%d, want the longer side 20", name, bw, bh)
		}
	}
}

// TestPrepareDigitBoldOnTransparent: a bold dark ring that covers most of
// a transparent canvas is a 0, not a sheet of paper (it was "blank").
func TestPrepareDigitBoldOnTransparent(t *testing.T) {
	ring := image.NewNRGBA(image.Rect(0, 0, 100, 100))
	for y := range 100 {
		for x := range 100 {
			if r := math.Hypot(float64(x)-49.5, float64(y)-49.5); r > 12 && r < 49 {
				ring.Set(x, y, color.Black)
			}
		}
	}
	x, err := DecodeDigit(enc(t, ring, "png"))
	if err != nil {
		t.Fatalf("a bold ring on transparent: %v", err)
	}
	if bw, bh, _, _ := stats(x); bw < 19 || bh < 19 || x[14*28+14] != 0 {
		t.Errorf("a bold ring on transparent: ink box %dx%d, centre %v; want a 20x20 ring with a hole", bw, bh, x[14*28+14])
	}
}

// TestPrepareDigitIgnoresSpecks: a speck of dust or a stray tap far from
// the digit made the digit's box span the image, so the digit came out
// shrunk into a corner; it is now cleared, at every image size (large
// images are searched at a coarser scale). Ink near the digit (a broken
// stroke's end) and parts as heavy as the digit's own are kept.
func TestPrepareDigitIgnoresSpecks(t *testing.T) {
	black, white := color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	prep := func(img image.Image) []float32 {
		x, err := PrepareDigit(img)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	same := func(a, b []float32) bool { return slices.Equal(a, b) }
	dot := func(img *image.RGBA, x, y, r int) *image.RGBA {
		c := image.NewRGBA(img.Bounds())
		copy(c.Pix, img.Pix)
		draw.Draw(c, image.Rect(x, y, x+r, y+r), image.NewUniform(black), image.Point{}, draw.Src)
		return c
	}
	blank := func(size int) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
		return img
	}
	for _, size := range []int{60, 100, 1200} {
		seven := drawSeven(size, size, black, white)
		clean := prep(seven)
		r := max(1, size/50)
		// Far from the digit: in a corner, and beside it.
		for _, at := range [][2]int{{size / 20, size * 9 / 10}, {size * 9 / 10, size / 2}} {
			if got := prep(dot(seven, at[0], at[1], r)); !same(got, clean) {
				bw, bh, _, _ := stats(got)
				t.Errorf("%dx%d, a speck of %d px at %v: the digit changed (ink box %dx%d)", size, size, r, at, bw, bh)
			}
		}
		// Just past the end of the diagonal (a broken stroke): kept.
		end := size * 85 / 100
		if got := prep(dot(seven, size*4/10, end+r, r)); same(got, clean) {
			t.Errorf("%dx%d: ink just past the stroke's end was cleared", size, size)
		}
		// A "7" whose stem, a line one pixel wide, is broken into dashes
		// (a skipping pen): every dash is lighter than a twentieth of
		// the thick bar (also on the coarse plane of a large image), and
		// most lie far beyond an eighth of the bar's width from it, but
		// each is near the next: all are kept, and the digit is scaled
		// as the same "7" with a solid stem is.
		dashed, solid := blank(size), blank(size)
		bar := image.Rect(size*3/10, size/4, size*7/10, size*35/100)
		draw.Draw(dashed, bar, image.NewUniform(black), image.Point{}, draw.Src)
		draw.Draw(solid, bar, image.NewUniform(black), image.Point{}, draw.Src)
		dash, gap := size/15, size/30
		y := bar.Max.Y + gap
		for ; y+dash <= size*9/10; y += dash + gap {
			draw.Draw(dashed, image.Rect(size/2, y, size/2+1, y+dash), image.NewUniform(black), image.Point{}, draw.Src)
		}
		draw.Draw(solid, image.Rect(size/2, bar.Max.Y, size/2+1, y-gap), image.NewUniform(black), image.Point{}, draw.Src)
		gotW, gotH, _, _ := stats(prep(dashed))
		wantW, wantH, _, _ := stats(prep(solid))
		if gotW != wantW || gotW > 14 {
			t.Errorf("%dx%d: a dashed stem was cleared (ink box %dx%d; with a solid stem %dx%d)", size, size, gotW, gotH, wantW, wantH)
		}
		// A second part as heavy as the seven, far from it, is part of
		// the drawing: the box spans both.
		two := dot(seven, 0, 0, 0)
		draw.Draw(two, image.Rect(size/20, size/20, size/20+size/10, size/20+size/10), image.NewUniform(black), image.Point{}, draw.Src)
		if bw, bh, _, _ := stats(prep(two)); max(bw, bh) < 19 || (bw < 15 && bh < 15) {
			t.Errorf("%dx%d: a heavy second part was cleared (ink box %dx%d)", size, size, bw, bh)
		}
	}
}

// TestSpecksOnMNIST: MNIST's own digits (real MNIST, where `make test`
// has fetched it) rarely carry ink that the search for specks clears:
// a few stray marks in one image of a hundred or two (the most, 22
// pixels: a faint line beside an "8", image 8759), never a stroke.
// Counted on the thresholded ink plane PrepareDigit works on (MNIST's
// background is 0, so every lit pixel is ink).
func TestSpecksOnMNIST(t *testing.T) {
	test := cachedTestSet(t)
	changed, most := 0, 0
	for i := range test.N() {
		ink := make([]float64, 784)
		for p, v := range test.Images.Pixels[i*784 : (i+1)*784] {
			ink[p] = float64(v) / 255
		}
		was := slices.Clone(ink)
		dropSpecks(ink, 28, 28)
		lost := 0
		for p := range ink {
			if ink[p] != was[p] {
				lost++
			}
		}
		if lost > 0 {
			changed++
			most = max(most, lost)
		}
	}
	t.Logf("%d of %d test images lose ink to the search for specks, at most %d pixels each", changed, test.N(), most)
	if changed > test.N()/100 || most > 30 {
		t.Errorf("%d of %d MNIST test images lose ink (at most %d pixels each): want at most 1%%, a few pixels each", changed, test.N(), most)
	}
}

// TestBackdropLayers: images whose opaque part, on a transparent
// background, shows both shades are read as they look over the backdrop
// they were made on (each against that composition, made opaque): a
// badge (a dark digit on a white disc in a dark ring), a white sheet in a
// thin dark frame, a sheet of either shade with a 0 on it (whose loop
// encloses paper), and a digit anti-aliased on paper whose paper was then
// made transparent, which leaves a rim of the paper's greys around the
// strokes (bold or thin, a rim of one pixel or of up to four where the
// image was scaled up, either shade; before, a bold digit's thinner rim
// was taken for the ink), or lettering outlined thinly in the other shade.
func TestBackdropLayers(t *testing.T) {
	const n = 100
	seven := func(x, y int, bold int) bool { // a bar and a stroke down from its end
		if y >= 20 && y < 20+bold && x >= 20 && x < 80 {
			return true
		}
		if y >= 20 && y < 86 {
			cx := 80 - (y-20)*35/66 // from (80,20) to (45,86)
			return x >= cx-bold && x < cx
		}
		return false
	}
	// coverage is the part of pixel (x, y) that a 7 of the given boldness,
	// drawn at scale s, covers (8x8 samples a pixel): anti-aliasing.
	coverage := func(x, y int, bold, s float64) float64 {
		in := 0
		for j := range 8 {
			for i := range 8 {
				fx, fy := (float64(x)+(float64(i)+0.5)/8)/s, (float64(y)+(float64(j)+0.5)/8)/s
				bar := fy >= 20.3 && fy < 20.3+bold && fx >= 20.3 && fx < 80
				cx := 80 - (fy-20.3)*35/66
				if bar || fy >= 20.3 && fy < 86 && fx >= cx-bold && fx < cx {
					in++
				}
			}
		}
		return float64(in) / 64
	}
	// keyed is a 7 anti-aliased in ink on paper, then every pixel of
	// exactly the paper's shade made transparent (magick -transparent
	// white); scaled up by an integer factor after the anti-aliasing.
	keyed := func(ink, paper uint8, bold float64, up int) func(x, y int) color.NRGBA {
		return func(x, y int) color.NRGBA {
			c := coverage(x/up, y/up, bold, 1/float64(up))
			if c == 0 {
				return color.NRGBA{}
			}
			v := uint8(math.Round(c*float64(ink) + (1-c)*float64(paper)))
			return color.NRGBA{v, v, v, 255}
		}
	}
	zero := func(x, y int) bool { // an oval ring
		e := math.Pow((float64(x)-49.5)/20, 2) + math.Pow((float64(y)-49.5)/30, 2)
		return e >= 0.55 && e <= 1
	}
	clear := color.NRGBA{}
	white, black := color.NRGBA{255, 255, 255, 255}, color.NRGBA{0, 0, 0, 255}
	// sheetWithZero is a sheet of paper with a 0 of ink on it, inside a
	// transparent margin.
	sheetWithZero := func(ink, paper color.NRGBA) func(x, y int) color.NRGBA {
		return func(x, y int) color.NRGBA {
			switch {
			case x < 5 || y < 5 || x >= n-5 || y >= n-5:
				return clear
			case zero(x, y):
				return ink
			}
			return paper
		}
	}
	for _, c := range []struct {
		name     string
		backdrop color.NRGBA
		at       func(x, y int) color.NRGBA
	}{
		{"a badge", white, func(x, y int) color.NRGBA {
			r := math.Hypot(float64(x)-49.5, float64(y)-49.5)
			switch {
			case r >= 46:
				return clear
			case r >= 43:
				return black
			case seven((x-30)*3/2, (y-30)*3/2, 6): // the digit well inside the disc
				return black
			}
			return white
		}},
		{"a white sheet in a thin dark frame", white, func(x, y int) color.NRGBA {
			switch {
			case x < 5 || y < 5 || x >= n-5 || y >= n-5:
				return clear
			case x == 5 || y == 5 || x == n-6 || y == n-6:
				return black
			case seven(x, y, 6):
				return black
			}
			return white
		}},
		{"a white sheet with a dark 0", white, sheetWithZero(black, white)},
		{"a black sheet with a white 0", black, sheetWithZero(white, black)},
		{"a bold dark 7 anti-aliased on white, the white made transparent", white, keyed(0, 255, 12, 1)},
		{"a thin dark 7 anti-aliased on white, the white made transparent", white, keyed(0, 255, 2.5, 1)},
		{"a bold dark 7 anti-aliased on white, scaled up twice, the white made transparent", white, keyed(0, 255, 6, 2)},
		{"a bold dark 7 anti-aliased on white, scaled up four times, the white made transparent", white, keyed(0, 255, 10, 4)},
		{"a grey 7 anti-aliased on white, the white made transparent", white, keyed(60, 255, 10, 1)},
		{"a bold white 7 anti-aliased on black, the black made transparent", black, keyed(255, 0, 12, 1)},
		{"a bold white 7 outlined in black", black, func(x, y int) color.NRGBA {
			switch {
			case seven(x, y, 12):
				return white
			case seven(x-1, y, 12) || seven(x+1, y, 12) || seven(x, y-1, 12) || seven(x, y+1, 12):
				return black
			}
			return clear
		}},
	} {
		cut, ref := image.NewNRGBA(image.Rect(0, 0, n, n)), image.NewNRGBA(image.Rect(0, 0, n, n))
		for y := range n {
			for x := range n {
				v := c.at(x, y)
				cut.SetNRGBA(x, y, v)
				if v.A == 0 {
					v = c.backdrop
				}
				ref.SetNRGBA(x, y, v)
			}
		}
		want, err := DecodeDigit(enc(t, ref, "png"))
		if err != nil {
			t.Fatalf("%s, made opaque: %v", c.name, err)
		}
		got, err := DecodeDigit(enc(t, cut, "png"))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s, on transparent: read otherwise than over the backdrop it was made on (%v)", c.name, c.backdrop)
		}
	}
}

// TestBackdropKeyedMNIST: MNIST's digits, with their paper made
// transparent (every pixel of exactly the paper's shade: black as MNIST
// has it, or white once inverted), keep their anti-aliased greys around
// the strokes, and are read over the paper they were made on.
func TestBackdropKeyedMNIST(t *testing.T) {
	test := cachedTestSet(t)
	var wrong [2]int
	for i := range test.N() {
		img := test.Images.Pixels[i*784 : (i+1)*784]
		for paper := range 2 { // 0: black paper, 1: white
			px := func(x, y int) (lum, a float64) {
				v := float64(img[y*28+x]) / 255
				if paper == 1 {
					v = 1 - v
				}
				if v == float64(paper) {
					return 0, 0
				}
				return v, 1
			}
			if backdrop(28, 28, px, make([]float64, 28*28)) != float64(paper) {
				wrong[paper]++
			}
		}
	}
	t.Logf("MNIST's test digits, paper made transparent: %d of %d read over the wrong backdrop on black paper, %d on white", wrong[0], test.N(), wrong[1])
	// 11 and 10 when written; 64 and 63 before thin strokes whose ink
	// never reaches either pure shade were told by their edge; 155 and
	// 154 with rims of up to two pixels; 9,928 and 9,914 before the rim
	// was told from the core.
	if limit := test.N() / 400; wrong[0] > limit || wrong[1] > limit {
		t.Errorf("%d and %d of %d read over the wrong backdrop: want at most %d each", wrong[0], wrong[1], test.N(), limit)
	}
}

// TestBackdropFramedSheet: a white sheet in a thin dark frame (two
// pixels) inside a transparent margin, with a small thin digit far inside
// it: the frame touches the transparent part and is most of the dark ink,
// as a rim would be, but dark ink lies deep inside the sheet too (the
// digit), so the frame is not a rim and the sheet is paper, as over white.
// (Read as a black block before the depth of that ink counted.)
func TestBackdropFramedSheet(t *testing.T) {
	const n = 600
	cut, ref := image.NewNRGBA(image.Rect(0, 0, n, n)), image.NewNRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			v := color.NRGBA{}
			switch {
			case x < 10 || y < 10 || x >= n-10 || y >= n-10:
			case x < 12 || y < 12 || x >= n-12 || y >= n-12:
				v = color.NRGBA{0, 0, 0, 255}
			case y >= 280 && y < 282 && x >= 280 && x < 320, // a thin 7, 40 by 60
				y >= 280 && y < 340 && x == 319-(y-280)/3:
				v = color.NRGBA{0, 0, 0, 255}
			default:
				v = color.NRGBA{255, 255, 255, 255}
			}
			cut.SetNRGBA(x, y, v)
			if v.A == 0 {
				v = color.NRGBA{255, 255, 255, 255}
			}
			ref.SetNRGBA(x, y, v)
		}
	}
	want, err := DecodeDigit(enc(t, ref, "png"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDigit(enc(t, cut, "png"))
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("a framed white sheet with a small digit, on transparent: read otherwise than over white (%v)", err)
	}
}

// TestOpaqueDepth: opaqueDepth against the plain definition (each opaque
// pixel's least chessboard distance to a transparent pixel or the outside,
// capped at maxDepth) on random masks of every shape up to 24x24.
func TestOpaqueDepth(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		w, h := 1+r.IntN(24), 1+r.IntN(24)
		clear := r.Float64() * 0.3
		a := make([]float64, w*h)
		for i := range a {
			if r.Float64() >= clear {
				a[i] = 1
			}
		}
		px := func(x, y int) (float64, float64) { return 0, a[y*w+x] }
		got := opaqueDepth(w, h, px, make([]float64, w*h))
		for y := range h {
			for x := range w {
				want := 0
				if a[y*w+x] >= 0.5 {
					want = min(maxDepth, x+1, y+1, w-x, h-y)
					for v := range h {
						for u := range w {
							if a[v*w+u] < 0.5 {
								want = min(want, max(abs(u-x), abs(v-y)))
							}
						}
					}
				}
				if got[y*w+x] != float64(want) {
					t.Fatalf("trial %d, %dx%d: pixel (%d,%d) at depth %v, want %d", trial, w, h, x, y, got[y*w+x], want)
				}
			}
		}
	}
}

func abs(v int) int { return max(v, -v) }

// cachedTestSet is MNIST's test set from the cache, where `make test` (or
// `make data`) has fetched it; the test is skipped where it has not.
func cachedTestSet(t *testing.T) *Set {
	dir, err := CacheDir()
	if err != nil {
		t.Skip(err)
	}
	test, err := LoadTestDir(dir)
	if err != nil {
		t.Skipf("no MNIST here (make data fetches it): %v", err)
	}
	return test
}

// TestPrepareDigitInsideAFrame: a sheet inside a frame of another shade
// of even width (white paper on a dark desk, a drawing box's border),
// sharp or with a blurred edge, is read as the sheet alone: the same
// digit as the sheet without the frame. Before, the frame's shade was
// taken for the background, the sheet for ink, and the 7 read as a 0.
func TestPrepareDigitInsideAFrame(t *testing.T) {
	grey := func(v uint8) color.Color { return color.Gray{v} }
	for _, c := range []struct {
		name               string
		ink, paper, border uint8
		widths             []int
	}{
		{"black on white paper on a dark desk", 20, 235, 40, []int{1, 2, 3, 10, 40, 60}},
		{"white on a black sheet in a white border", 240, 10, 250, []int{1, 5, 30}},
	} {
		want, err := DecodeDigit(enc(t, drawSeven(240, 240, grey(c.ink), grey(c.paper)), "png"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range c.widths {
			for _, blur := range []bool{false, true} {
				n := 240 + 2*m
				img := image.NewGray(image.Rect(0, 0, n, n))
				for i := range img.Pix {
					img.Pix[i] = c.border
				}
				draw.Draw(img, image.Rect(m, m, m+240, m+240), drawSeven(240, 240, grey(c.ink), grey(c.paper)), image.Point{}, draw.Src)
				if blur && m >= 2 {
					// The frame's innermost line halfway between it
					// and the sheet: the edge of a photo.
					half := uint8((int(c.border) + int(c.paper)) / 2)
					for i := m - 1; i < n-m+1; i++ {
						img.Pix[(m-1)*n+i], img.Pix[(n-m)*n+i], img.Pix[i*n+m-1], img.Pix[i*n+n-m] = half, half, half, half
					}
				}
				got, err := DecodeDigit(enc(t, img, "png"))
				if err != nil {
					t.Errorf("%s, a frame of %d pixels (blurred %v): %v", c.name, m, blur, err)
					continue
				}
				sameInput(t, fmt.Sprintf("%s, a frame of %d pixels (blurred %v)", c.name, m, blur), got, want, "without the frame")
			}
		}
	}
}

// TestPrepareDigitDimPaper: dark ink on grey paper (a dim photo of a white
// sheet) is dark ink at every level of the paper, below one half too:
// the same digit as black on white. Before, paper at or below one half
// was taken for a dark background, and the ink clipped away ("blank").
// And the rule does not take a light digit on a dark background with
// dark corners (a vignette) for dark ink.
func TestPrepareDigitDimPaper(t *testing.T) {
	want, err := DecodeDigit(enc(t, drawSeven(200, 200, color.Black, color.White), "png"))
	if err != nil {
		t.Fatal(err)
	}
	same := func(name string, got []float32, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		sameInput(t, name, got, want, "black on white gives")
	}
	for _, p := range []struct{ ink, paper uint8 }{{25, 60}, {30, 100}, {30, 127}, {30, 128}, {30, 160}, {0, 250}} {
		got, err := DecodeDigit(enc(t, drawSeven(200, 200, color.Gray{p.ink}, color.Gray{p.paper}), "png"))
		same(fmt.Sprintf("ink %d on paper %d", p.ink, p.paper), got, err)
	}
	// Chalk on a blackboard, its corners darker still (outside the
	// middle that darkInk counts).
	board := drawSeven(200, 200, color.Gray{240}, color.Gray{90})
	for y := range 200 {
		for x := range 200 {
			if math.Hypot(float64(x)-99.5, float64(y)-99.5) > 125 {
				board.Set(x, y, color.Gray{20})
			}
		}
	}
	got, err := DecodeDigit(enc(t, board, "png"))
	same("light ink on a dark board with dark corners", got, err)
}

// TestPrepareDigitDarkBoards: a light digit on a dark-grey board stays
// light ink with what a photo of a board adds (a few dark specks, a dark
// ledge along the bottom, dark corners of a vignette on a larger board):
// the same digit as on the clean board. The first rule for dim paper
// (strong dark marks outnumbering strong light ones three times, over the
// whole image) turned these into dark ink, the faint chalk's strokes not
// counting as light marks.
func TestPrepareDigitDarkBoards(t *testing.T) {
	for _, c := range []struct {
		name         string
		chalk, board uint8
		n            int
		edit         func(img *image.RGBA, n int)
	}{
		{"faint chalk, three dark specks", 150, 77, 200, func(img *image.RGBA, n int) {
			for _, p := range [][2]int{{10, 20}, {180, 30}, {20, 150}} {
				img.Set(p[0], p[1], color.Gray{5})
			}
		}},
		// chalk too faint to count as strong light marks, beside a
		// smear of the eraser darker than the board: the chalk is the
		// digit (the smear was taken for dark ink on dim paper)
		{"faint chalk, a darker smear", 145, 115, 300, func(img *image.RGBA, n int) {
			for y := 200; y < 220; y++ {
				for x := 80 + (y-200)*3; x < 84+(y-200)*3 && x < 144; x++ {
					img.Set(x, y, color.Gray{77})
				}
			}
		}},
		{"chalk, a dark ledge along the bottom", 230, 77, 200, func(img *image.RGBA, n int) {
			for y := n * 88 / 100; y < n; y++ {
				for x := range n {
					img.Set(x, y, color.Gray{13})
				}
			}
		}},
		{"chalk, dark corners on a larger board", 240, 90, 300, func(img *image.RGBA, n int) {
			c := float64(n-1) / 2
			for y := range n {
				for x := range n {
					if math.Hypot(float64(x)-c, float64(y)-c) > 1.1*float64(n)/2 {
						img.Set(x, y, color.Gray{20})
					}
				}
			}
		}},
	} {
		clean := drawSeven(c.n, c.n, color.Gray{c.chalk}, color.Gray{c.board})
		want, err := DecodeDigit(enc(t, clean, "png"))
		if err != nil {
			t.Fatal(err)
		}
		c.edit(clean, c.n)
		got, err := DecodeDigit(enc(t, clean, "png"))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		sameInput(t, c.name, got, want, "on the clean board")
	}
}

// TestPrepareDigitBlockyNotAFrame: a blocky digit (a 0 or an 8 of thick
// rectangles, an LCD's or a pixel font's) cropped with a narrow margin is
// read as with a wide one, in either polarity: its outer stroke makes a
// solid ring, but the holes it encloses keep it from being taken for a
// sheet in a frame.
func TestPrepareDigitBlockyNotAFrame(t *testing.T) {
	blocky := func(eight bool, w, h, m, s int, ink, paper uint8) *image.Gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = paper
		}
		fill := func(x0, y0, x1, y1 int) {
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					g.Pix[y*w+x] = ink
				}
			}
		}
		x0, y0, x1, y1 := m, m, w-m, h-m
		fill(x0, y0, x1, y0+s)
		fill(x0, y1-s, x1, y1)
		fill(x0, y0, x0+s, y1)
		fill(x1-s, y0, x1, y1)
		if eight {
			cy := (y0 + y1) / 2
			fill(x0, cy-s/2, x1, cy+s/2+s%2)
		}
		return g
	}
	for _, eight := range []bool{false, true} {
		for _, pol := range [][2]uint8{{0, 255}, {255, 0}} {
			for _, s := range []int{10, 14, 16} {
				tight := blocky(eight, 70, 110, 4, s, pol[0], pol[1])
				wide := image.NewGray(image.Rect(0, 0, 170, 210))
				for i := range wide.Pix {
					wide.Pix[i] = pol[1]
				}
				draw.Draw(wide, image.Rect(50, 50, 120, 160), tight, image.Point{}, draw.Src)
				want, err := DecodeDigit(enc(t, wide, "png"))
				if err != nil {
					t.Fatal(err)
				}
				got, err := DecodeDigit(enc(t, tight, "png"))
				name := fmt.Sprintf("blocky (8: %v), strokes of %d, ink %d", eight, s, pol[0])
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				sameInput(t, name, got, want, "with a wide margin")
			}
		}
	}
}

// sameInput reports the first pixel where the 28x28 input got differs from
// want (what the same digit gives as wantIs says) by more than 1e-3.
// sqDiff is the sum of the squared differences of two inputs: about 34
// for a digit under a camera's noise of 3 to 15 levels against its clean
// image, 110 or more for the digit read with the wrong polarity.
func sqDiff(got, want []float32) float64 {
	sq := 0.0
	for i := range got {
		sq += float64(got[i]-want[i]) * float64(got[i]-want[i])
	}
	return sq
}

func sameInput(t *testing.T, name string, got, want []float32, wantIs string) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(want[i]-got[i])) > 1e-3 {
			t.Errorf("%s: pixel %d is %v, %s %v", name, i, got[i], wantIs, want[i])
			return
		}
	}
}

// TestPrepareDigitDimPaperPhotos: dark ink on dim paper as photos give it,
// the same digit as the digit's own image: small in a large sheet, off
// the centre, and on paper lit more at its centre (a radial lift of 40
// levels). A second review found the first mend of the dark-ink rule (a
// two-hundredth of the middle's pixels needed, light marks counted from
// a tenth of the way to white) lost each of these.
func TestPrepareDigitDimPaperPhotos(t *testing.T) {
	const ink, paper = 20, 80
	place := func(n, side, x0, y0 int, lift float64) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, n, n))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.Gray{paper}), image.Point{}, draw.Src)
		draw.Draw(img, image.Rect(x0, y0, x0+side, y0+side), drawSeven(side, side, color.Gray{ink}, color.Gray{paper}), image.Point{}, draw.Src)
		if lift > 0 {
			c := float64(n-1) / 2
			for y := range n {
				for x := range n {
					i := img.PixOffset(x, y)
					if v := img.Pix[i]; v >= paper { // the paper, not the ink
						up := uint8(float64(v) + lift*max(0, 1-math.Hypot(float64(x)-c, float64(y)-c)/c))
						img.Pix[i], img.Pix[i+1], img.Pix[i+2] = up, up, up
					}
				}
			}
		}
		return img
	}
	for _, c := range []struct {
		name            string
		n, side, x0, y0 int
		lift            float64
	}{
		{"60 px in 600x600, centred", 600, 60, 270, 270, 0},
		{"80 px in 400x400, off the centre", 400, 80, 60, 160, 0},
	} {
		want, err := DecodeDigit(enc(t, drawSeven(c.side, c.side, color.Gray{ink}, color.Gray{paper}), "png"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeDigit(enc(t, place(c.n, c.side, c.x0, c.y0, c.lift), "png"))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		sameInput(t, c.name, got, want, "the digit alone gives")
	}
	// Lit more at the centre: the polarity holds (dark ink), however the
	// lift changes the levels the input is stretched from.
	lifted := place(200, 200, 0, 0, 40)
	g, w, h := grey(lifted)
	if !darkInk(g, w, h, median(borderOf(g, w, h))) {
		t.Error("dim paper lit 40 levels more at its centre: taken for a light digit on a dark background")
	}
	// Lit 60 levels more or up to 120, brighter than the paper by more
	// than chalk is: the light ends gradually, not as a stroke does, and
	// the digit is the digit (these were taken for a light digit, the
	// lamp's light, on a dark background).
	want, err := DecodeDigit(enc(t, drawSeven(100, 100, color.Black, color.White), "png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lift := range []float64{60, 90, 120} {
		name := fmt.Sprintf("a 100 px digit in 300x300 dim paper lit %v levels more at its centre", lift)
		got, err := DecodeDigit(enc(t, place(300, 100, 100, 100, lift), "png"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		sameInput(t, name, got, want, "black on white gives")
	}
}

// TestPrepareDigitLightInkOnGrey: a white digit on a grey above one half
// (a slide, a drawing tool's grey canvas) is the digit, as on black; it
// was refused as blank, and called colour-only. Paper lit brighter at its
// centre stays paper: with a faint pencil digit the digit is dark, and
// with none it is blank (not colour-only: it differs in brightness).
func TestPrepareDigitLightInkOnGrey(t *testing.T) {
	want, err := DecodeDigit(enc(t, drawSeven(100, 100, color.White, color.Black), "png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []uint8{128, 140, 170, 200} {
		name := fmt.Sprintf("white on grey %d", p)
		got, err := DecodeDigit(enc(t, drawSeven(100, 100, color.White, color.Gray{p}), "png"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		sameInput(t, name, got, want, "white on black gives")
		// The opposite polarity on the same grey stays dark ink.
		dark, err := DecodeDigit(enc(t, drawSeven(100, 100, color.Black, color.Gray{p}), "png"))
		if err != nil {
			t.Errorf("black on grey %d: %v", p, err)
			continue
		}
		sameInput(t, fmt.Sprintf("black on grey %d", p), dark, want, "white on black gives")
	}
	lit := func(paper uint8, lift float64, ink int) *image.RGBA {
		const n = 300
		img := image.NewRGBA(image.Rect(0, 0, n, n))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.Gray{paper}), image.Point{}, draw.Src)
		if ink >= 0 {
			draw.Draw(img, image.Rect(100, 100, 200, 200), drawSeven(100, 100, color.Gray{uint8(ink)}, color.Gray{paper}), image.Point{}, draw.Src)
		}
		c := float64(n-1) / 2
		for y := range n {
			for x := range n {
				i := img.PixOffset(x, y)
				if v := img.Pix[i]; v >= paper {
					up := uint8(min(255, float64(v)+lift*max(0, 1-math.Hypot(float64(x)-c, float64(y)-c)/c)))
					img.Pix[i], img.Pix[i+1], img.Pix[i+2] = up, up, up
				}
			}
		}
		return img
	}
	for _, paper := range []uint8{130, 150} {
		for _, lift := range []float64{40, 80, 110} {
			name := fmt.Sprintf("paper %d lit %v more at its centre", paper, lift)
			img := lit(paper, lift, 90)
			g, w, h := grey(img)
			if !darkInk(g, w, h, median(borderOf(g, w, h))) {
				t.Errorf("%s, a pencil digit of level 90: taken for light ink", name)
			}
			_, err := DecodeDigit(enc(t, lit(paper, lift, -1), "png"))
			if !errors.Is(err, ErrNoInk) || strings.Contains(fmt.Sprint(err), "colour only") {
				t.Errorf("%s, no digit: got %v, want blank (ErrNoInk) and not colour-only", name, err)
			}
		}
	}
}

// TestPrepareDigitSensorNoise: a camera's noise, pixel by pixel, makes no
// marks of either kind: dark ink on dim paper (110 of 255, with noise of
// 15 levels it was taken for a light digit on a dark background), a
// white digit on light grey (noise of 10 levels) and faint chalk on a
// dark board (noise of 10 and 15) keep their polarity and give about the
// digit the noise-free image gives: a sum of squared differences under
// 10 (29 for the noisiest, noise a quarter of the paper's level; the
// wrong polarity gives 110 or more). A noise floor at the border's 95th
// percentile left a twentieth of the paper as specks, which chained
// across the sheet, and the digit shrank: about 34 in each case.
func TestPrepareDigitSensorNoise(t *testing.T) {
	want, err := DecodeDigit(enc(t, drawSeven(100, 100, color.White, color.Black), "png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		paper, ink uint8
		sigma      float64
		dark       bool
		maxSq      float64
	}{
		{110, 27, 15, true, 10},
		{60, 15, 15, true, 40}, // noise a quarter of the paper's level
		{150, 255, 10, false, 10},
		{180, 255, 10, false, 10},
		{77, 150, 10, false, 10}, // faint chalk on a dark board
		{77, 150, 15, false, 10},
	} {
		const n = 400
		img := image.NewRGBA(image.Rect(0, 0, n, n))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.Gray{c.paper}), image.Point{}, draw.Src)
		draw.Draw(img, image.Rect(150, 150, 250, 250), drawSeven(100, 100, color.Gray{c.ink}, color.Gray{c.paper}), image.Point{}, draw.Src)
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < len(img.Pix); i += 4 {
			u := uint8(max(0, min(255, float64(img.Pix[i])+r.NormFloat64()*c.sigma)))
			img.Pix[i], img.Pix[i+1], img.Pix[i+2] = u, u, u
		}
		name := fmt.Sprintf("ink %d on paper %d, noise of %v levels", c.ink, c.paper, c.sigma)
		g, w, h := grey(img)
		if got := darkInk(g, w, h, median(borderOf(g, w, h))); got != c.dark {
			t.Errorf("%s: dark ink %v, want %v", name, got, c.dark)
		}
		got, err := DecodeDigit(enc(t, img, "png"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		sq := sqDiff(got, want)
		if sq > c.maxSq {
			t.Errorf("%s: squared differences from the noise-free digit sum to %.1f, want %v or less", name, sq, c.maxSq)
		}
	}
}

// TestPrepareDigitGreyInkOnDimPaper: grey ink a third of the way to black
// on dim paper (100 of 255, a JPEG) is dark ink, the digit as black on
// white gives it (it was read as a light digit: an 8 at 21%); ink a fifth
// of the way, 20 levels below the paper, is refused saying that its dark
// marks are too faint to tell (it spoke only of the brightest mark).
func TestPrepareDigitGreyInkOnDimPaper(t *testing.T) {
	want, err := DecodeDigit(enc(t, drawSeven(100, 100, color.Black, color.White), "png"))
	if err != nil {
		t.Fatal(err)
	}
	dim := func(ink uint8) []byte {
		const n = 300
		img := image.NewRGBA(image.Rect(0, 0, n, n))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.Gray{100}), image.Point{}, draw.Src)
		draw.Draw(img, image.Rect(100, 100, 200, 200), drawSeven(100, 100, color.Gray{ink}, color.Gray{100}), image.Point{}, draw.Src)
		return enc(t, img, "jpeg")
	}
	got, err := DecodeDigit(dim(65))
	if err != nil {
		t.Fatalf("ink 65 on paper 100: %v", err)
	}
	sq := sqDiff(got, want)
	if sq > 60 {
		t.Errorf("ink 65 on paper 100: squared differences from black on white sum to %.1f, want 60 or less (the wrong polarity gives 110 or more)", sq)
	}
	if _, err := DecodeDigit(dim(80)); !errors.Is(err, ErrNoInk) || !strings.Contains(err.Error(), "and its darker marks (") ||
		!strings.Contains(err.Error(), "too little to tell them for ink") {
		t.Errorf("ink 80 on paper 100: %v, want it refused naming its darker marks", err)
	}
}

// TestPrepareDigitLightAcrossTheSheet: paper lit more from one side (200
// of 255 on average, 40 levels darker at one edge than the other, with a
// camera's noise) is blank when blank (its darker edge was a sliver of
// ink: a 1 at 93%), and gives the digit it holds as the evenly lit sheet
// does, the light falling across or down.
func TestPrepareDigitLightAcrossTheSheet(t *testing.T) {
	sheet := func(across bool, digit bool) []byte {
		const w, h = 640, 480
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		if digit {
			draw.Draw(img, image.Rect(270, 190, 370, 290), drawSeven(100, 100, color.Gray{40}, color.Gray{0}), image.Point{}, draw.Src)
		}
		r := rand.New(rand.NewPCG(3, 4))
		for y := range h {
			for x := range w {
				f := float64(x) / (w - 1)
				if !across {
					f = float64(y) / (h - 1)
				}
				v := 180 + 40*f
				if i := img.PixOffset(x, y); img.Pix[i] == 40 {
					v = 40
				}
				u := uint8(max(0, min(255, v+r.NormFloat64()*3)))
				i := img.PixOffset(x, y)
				img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = u, u, u, 255
			}
		}
		return enc(t, img, "png")
	}
	want, err := DecodeDigit(enc(t, drawSeven(100, 100, color.Black, color.White), "png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, across := range []bool{true, false} {
		name := map[bool]string{true: "lit from the right", false: "lit from below"}[across]
		if _, err := DecodeDigit(sheet(across, false)); !errors.Is(err, ErrNoInk) {
			t.Errorf("blank paper %s: %v, want it refused as blank", name, err)
		}
		got, err := DecodeDigit(sheet(across, true))
		if err != nil {
			t.Errorf("a 7 on paper %s: %v", name, err)
			continue
		}
		sq := sqDiff(got, want)
		if sq > 10 {
			t.Errorf("a 7 on paper %s: squared differences from black on white sum to %.1f, want 10 or less (the noise's specks, taken for ink, gave 34)", name, sq)
		}
	}
	// A shadow over part of the sheet (a step, flat on either side) is
	// no gradient: taken for one, its edge became a band of ink and the
	// digit shrank to a few pixels beside it.
	for _, part := range []int{6, 4, 3} {
		img := image.NewRGBA(image.Rect(0, 0, 400, 300))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.Gray{220}), image.Point{}, draw.Src)
		draw.Draw(img, image.Rect(150, 100, 250, 200), drawSeven(100, 100, color.Gray{30}, color.Gray{220}), image.Point{}, draw.Src)
		for y := range 300 {
			for x := 400 - 400/part; x < 400; x++ {
				i := img.PixOffset(x, y)
				v := img.Pix[i] - min(img.Pix[i], 30)
				img.Pix[i], img.Pix[i+1], img.Pix[i+2] = v, v, v
			}
		}
		got, err := DecodeDigit(enc(t, img, "png"))
		if err != nil {
			t.Errorf("a shadow over 1/%d of the sheet: %v", part, err)
			continue
		}
		sameInput(t, fmt.Sprintf("a shadow over 1/%d of the sheet", part), got, want, "black on white gives")
	}
}

// TestPrepareDigitRefusesBlots: a tap on the drawing page (a round dot of
// its 20-pixel brush in 280x280, or of 7 pixels) and a dash are solid
// blots, refused as no digit (they were a 0 at 88% and a 4 at 76%); a
// thick bar standing upright is a 1, and a bold ring (a 0 around its
// hole, TestPrepareDigitBoldOnTransparent) a digit. Of MNIST's 10,000
// test digits none is a blot (checked when the rule was written).
func TestPrepareDigitRefusesBlots(t *testing.T) {
	page := func(mark func(x, y int) bool) []byte {
		img := image.NewGray(image.Rect(0, 0, 280, 280))
		for y := range 280 {
			for x := range 280 {
				img.Pix[y*280+x] = 255
				if mark(x, y) {
					img.Pix[y*280+x] = 0
				}
			}
		}
		return enc(t, img, "png")
	}
	disc := func(r float64) func(x, y int) bool {
		return func(x, y int) bool { return math.Hypot(float64(x)-140, float64(y)-140) <= r }
	}
	rect := func(w, h int) func(x, y int) bool {
		return func(x, y int) bool { return x >= 140-w/2 && x < 140+w/2 && y >= 140-h/2 && y < 140+h/2 }
	}
	for _, c := range []struct {
		name string
		mark func(x, y int) bool
		blot bool
	}{
		{"a dot of the page's brush", disc(10), true},
		{"a dot of 7 pixels", disc(3.5), true},
		{"a dash of 40x20", rect(40, 20), true},
		{"a square of 30", rect(30, 30), true},
		{"an upright bar of 20x60", rect(20, 60), false},
	} {
		_, err := DecodeDigit(page(c.mark))
		if got := err != nil && strings.Contains(err.Error(), "solid blot"); got != c.blot {
			t.Errorf("%s: %v; want refused as a blot %v", c.name, err, c.blot)
		}
	}
}

// TestPrepareDigitRefusesWideMarks: one straight stroke more than
// maxDigitWidth times as wide as it is tall (a dash, a ruled line, a line
// at a slant) is no digit, refused (a dash was a 2 at 80%); a wide 7 (a
// long bar, a short stroke down) and a wide ring are more than one
// stroke, and read; a solid dash is refused as a blot. Of MNIST's test
// digits, drawn dark on white, none is refused as a stroke.
func TestPrepareDigitRefusesWideMarks(t *testing.T) {
	// inked draws on white the segments given (x0, y0, x1, y1, grey, and
	// how many pixels either side of its line: r where 0), the darkest
	// where they cross; sheet draws them all in grey 20.
	inked := func(r float64, segs ...[6]float64) *image.Gray {
		img := image.NewGray(image.Rect(0, 0, 400, 300))
		for y := range 300 {
			for x := range 400 {
				img.Pix[y*400+x] = 255
				px, py := float64(x)+0.5, float64(y)+0.5
				for _, s := range segs {
					vx, vy := s[2]-s[0], s[3]-s[1]
					u := max(0, min(1, ((px-s[0])*vx+(py-s[1])*vy)/(vx*vx+vy*vy)))
					if math.Hypot(px-s[0]-u*vx, py-s[1]-u*vy) <= cmp.Or(s[5], r) {
						img.Pix[y*400+x] = min(img.Pix[y*400+x], uint8(s[4]))
					}
				}
			}
		}
		return img
	}
	sheet := func(r float64, segs ...[4]float64) *image.Gray {
		var s6 [][6]float64
		for _, s := range segs {
			s6 = append(s6, [6]float64{s[0], s[1], s[2], s[3], 20})
		}
		return inked(r, s6...)
	}
	for _, c := range []struct {
		name    string
		img     *image.Gray
		refused string // "" for read
	}{
		{"a line at a slant, 300x40", sheet(2, [4]float64{50, 120, 350, 160}), "one stroke lying across it"},
		{"a ruled line, 300x4 (a blot too)", sheet(2, [4]float64{50, 100, 350, 100}), "no digit found"},
		{"a solid dash of 90x12", sheet(6, [4]float64{150, 140, 230, 140}), "solid blot"},
		{"a wide 7: a bar of 290 and a short stroke down", sheet(5, [4]float64{50, 60, 330, 60}, [4]float64{330, 60, 300, 150}), ""},
		{"a wide ring, 300x100", sheet(4, [4]float64{50, 100, 350, 100}, [4]float64{350, 100, 350, 200}, [4]float64{350, 200, 50, 200}, [4]float64{50, 200, 50, 100}), ""},
		// Its bar drawn over again, darker than twice the rest's ink: the
		// rest lies outside the bar's box (refused as one stroke, and as a
		// blot, by the first versions of the two rules).
		{"a 7 whose bar is darker than twice its stroke down", inked(5, [6]float64{120, 60, 300, 60, 10}, [6]float64{300, 60, 200, 240, 170}), ""},
		{"a 5 whose top bar is darker than twice the rest", inked(5, [6]float64{150, 50, 280, 50, 10}, [6]float64{150, 50, 140, 140, 170},
			[6]float64{140, 140, 250, 150, 170}, [6]float64{250, 150, 260, 230, 170}, [6]float64{260, 230, 140, 250, 170}), ""},
		// Its stem a quarter of the bar's width and a third of its ink:
		// under a tenth of all the ink (refused by the third version).
		{"a 7 whose stem is thin and faint beside its bar", inked(8, [6]float64{100, 60, 300, 60, 10}, [6]float64{300, 60, 220, 250, 175, 2}), ""},
	} {
		_, err := PrepareDigit(c.img)
		if c.refused == "" && err != nil || c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)) {
			t.Errorf("%s: %v; want %q", c.name, err, c.refused)
		}
	}
}

// TestPrepareDigitReadsMNIST: none of MNIST's 10,000 test digits, drawn
// dark on white, is refused: not as a blot, nor as one stroke across,
// nor otherwise.
func TestPrepareDigitReadsMNIST(t *testing.T) {
	test := cachedTestSet(t)
	for i := range test.N() {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for p, v := range test.Images.Pixels[i*784 : (i+1)*784] {
			img.Pix[p] = 255 - v
		}
		if _, err := PrepareDigit(img); err != nil {
			t.Errorf("MNIST test digit %d: %v", i, err)
		}
	}
}

// TestPrepareDigitRefusesNoise: an image of random grey levels, whose ink
// above the noise floor falls in hundreds of specks none heavier than a
// few times their mean, is noise, refused as no digit (it was an 8 at
// 81%); a digit under a camera's noise keeps its stroke far heavier than
// the specks about it (TestPrepareDigitSensorNoise), and a dotted digit
// (a tracing worksheet's, a stippling pen's) is read, its dots all within
// its box (refused as noise by the rule's first version, which also
// missed images of more than 4,096 specks: 90 to 256 pixels a side).
func TestPrepareDigitRefusesNoise(t *testing.T) {
	for _, n := range []int{64, 90, 100, 200, 256, 300} {
		for _, format := range []string{"png", "jpeg"} {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			img := image.NewGray(image.Rect(0, 0, n, n))
			for i := range img.Pix {
				img.Pix[i] = uint8(r.IntN(256))
			}
			// (As scattered specks, as a blot where the specks are
			// searched in cells, over 256 pixels a side, or as no ink
			// above the noise floor.)
			if _, err := DecodeDigit(enc(t, img, format)); !errors.Is(err, ErrNoInk) {
				t.Errorf("random levels in %dx%d (%s): %v, want it refused as no digit", n, n, format, err)
			}
		}
	}
	for _, c := range []struct{ n, dot, step int }{{200, 3, 4}, {250, 1, 3}, {600, 7, 12}} {
		solid := drawSeven(c.n, c.n, color.Black, color.White)
		want, err := DecodeDigit(enc(t, solid, "png"))
		if err != nil {
			t.Fatal(err)
		}
		dotted := image.NewGray(image.Rect(0, 0, c.n, c.n))
		for y := range c.n {
			for x := range c.n {
				dotted.Pix[y*c.n+x] = 255
				if r, _, _, _ := solid.At(x, y).RGBA(); r == 0 && x%c.step < c.dot && y%c.step < c.dot {
					dotted.Pix[y*c.n+x] = 0
				}
			}
		}
		name := fmt.Sprintf("a 7 of %d-pixel dots every %d in %dx%d", c.dot, c.step, c.n, c.n)
		got, err := DecodeDigit(enc(t, dotted, "png"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if sq := sqDiff(got, want); sq > 40 {
			t.Errorf("%s: squared differences from the solid 7 sum to %.1f, want 40 or less", name, sq)
		}
	}
}

// TestAnimatedGIFFirstFrameBlank: an animated GIF whose first frame is
// blank is refused as blank, saying that only the first of its frames is
// read; one whose first frame holds the digit is read from it.
func TestAnimatedGIFFirstFrameBlank(t *testing.T) {
	pal := color.Palette{color.White, color.Black}
	blank := image.NewPaletted(image.Rect(0, 0, 60, 60), pal)
	seven := image.NewPaletted(blank.Rect, pal)
	draw.Draw(seven, seven.Rect, drawSeven(60, 60, color.Black, color.White), image.Point{}, draw.Src)
	anim := func(frames ...*image.Paletted) []byte {
		var b bytes.Buffer
		if err := gif.EncodeAll(&b, &gif.GIF{Image: frames, Delay: make([]int, len(frames))}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	_, err := DecodeDigit(anim(blank, seven, seven))
	if !errors.Is(err, ErrNoInk) || !strings.Contains(err.Error(), "that is the first of the animated GIF's 3 frames, the only one read") {
		t.Errorf("a blank first frame of 3: %v", err)
	}
	if _, err := DecodeDigit(anim(seven, blank)); err != nil {
		t.Errorf("a digit's first frame of 2: %v", err)
	}
	if _, err := DecodeDigit(anim(blank)); !errors.Is(err, ErrNoInk) || strings.Contains(err.Error(), "frames") {
		t.Errorf("one blank frame: %v", err)
	}
}
