// image.go: turning an arbitrary image file (PNG, JPEG or GIF, any size and
// colour) into a 28x28 MNIST-style input, the way the MNIST digits were
// made: grey, ink bright on dark, cropped to the ink, the longer side scaled
// to 20 pixels, pasted into 28x28 with its centre of mass at the centre.

package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // register decoders
	_ "image/jpeg"
	_ "image/png"
	"math"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/shown"
)

// Limits on an input image (see also MaxImageArea and DecodeBudget in
// budget.go).
const (
	MaxImageBytes  = 20 << 20
	MaxImagePixels = 10000 // per side
)

// ErrNoInk is returned for an image with nothing drawn on it; a
// NoDigitError matches it too (errors.Is).
var ErrNoInk = errors.New("no ink found: the image is blank (a digit must be darker or lighter than its background)")

// NoDigitError is an image whose marks are no digit: too faint, too
// small, a solid blot, scattered specks, a dash. Why says which, as "its
// …".
type NoDigitError struct {
	Why string
	// grey: said of the image's brightness, which differs from its
	// background (no note that it differs in colour alone).
	grey bool
}

func (e *NoDigitError) Error() string { return "no digit found: " + e.Why }

// Is makes errors.Is(err, ErrNoInk) true.
func (e *NoDigitError) Is(target error) bool { return target == ErrNoInk }

// noisyPeak is how far toward full ink an image's strongest mark lies at
// least, where nothing stands out of the noise along its border, for it
// to be called noisy rather than blank: half the way (a blank photo's
// camera noise is a few percent).
const noisyPeak = 0.5

// MinInkContrast is how far of the way from the background's shade to
// black (to white, on a dark background) the strongest mark of a digit
// lies at least: relative to the background, so that a dim photo's
// digit, whose paper is grey, counts as a bright one's does.
const MinInkContrast = 0.1

// scatteredParts is how many parts ink in which none holds a sixteenth of
// it must fall into, spread to the image's edges, to be noise rather than
// a digit: a digit is one to a few strokes with specks far lighter, or a
// dotted one's dots, within its box.
const scatteredParts = 64

// maxBlotFill is how much of its box a mark with no hole, no taller than
// half as much again as it is wide, may fill and still be a digit: a
// round dot fills 79%, a dash nearly all of it, a digit's strokes much
// less (a bold 0 as much, around its hole).
const maxBlotFill = 0.7

// maxDigitWidth is how many times as wide as it is tall a digit's ink
// may be where it is one stroke across (lineAcross): of MNIST's 70,000
// digits the widest is 2.22 times (20x9 pixels), and 2.5 times (20x8)
// counting its pixels of half the strongest ink alone, as lineAcross
// does; a dash, a line or a shadow's edge lying across the sheet is
// wider. (Tall and narrow is a 1; a wide 7 or a flat 2 is two strokes
// over much of its width, and read.)
const maxDigitWidth = 3.0

// minDigitSide is the fewest pixels a digit spans along its longer side
// (more in images whose shorter side is over 800 pixels: a two-hundredth
// of it, 15 pixels in a phone's 4032x3024 photo).
const minDigitSide = 3

// DecodeDigit decodes an image file's bytes and returns 784 values in
// [0,1], MNIST layout (row-major, ink bright), waiting as long as it takes
// for decode memory (see budget.go).
func DecodeDigit(data []byte) ([]float32, error) {
	return DecodeDigitContext(context.Background(), data)
}

// maxJPEGWork is the most blocks (8x8 pixels of one component) a JPEG's
// scans may code in all: 128 scans of one component of a 4096x4096 image
// (about 3 s of decoding on a 2-core EPYC VM), where a progressive
// JPEG of that size has about 10 scans over its 3 components. A file of
// thousands of 26-byte scans costs the decoder a pass over every block
// each (2,000 scans, 70 KB, kept a core busy for minutes).
const maxJPEGWork = 128 * (4096 / 8) * (4096 / 8)

// DecodeDigitContext is DecodeDigit giving up when ctx ends while it
// waits for decode memory.
func DecodeDigitContext(ctx context.Context, data []byte) ([]float32, error) {
	if len(data) == 0 {
		return nil, errors.New("empty file")
	}
	if len(data) > MaxImageBytes {
		return nil, TooLargeError(-1)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if f := sniff(data); f != "" {
			return nil, decodeError(f, data, err)
		}
		if kind := OtherKind(data); kind != nil {
			return nil, kind
		}
		if errors.Is(err, image.ErrFormat) {
			// Not "…: image: unknown format".
			return nil, errors.New("not a PNG, JPEG or GIF image (its first bytes are none of theirs): give an image file, or convert it to PNG")
		}
		return nil, fmt.Errorf("not a PNG, JPEG or GIF image: %v", err)
	}
	if format != "png" && format != "jpeg" && format != "gif" {
		// A decoder another package registered (the plots' libraries
		// bring TIFF's): its memory is not what decodeCost counts (a
		// TIFF's strips expand without a bound the header gives).
		if kind := OtherKind(data); kind != nil {
			return nil, kind
		}
		return nil, &OtherKindError{Kind: "a " + strings.ToUpper(format) + " image", Hint: "convert it to PNG or JPEG first (for example: magick FILE digit.png)"}
	}
	if end, ok := imageEnd(format, data); ok {
		if next := secondImage(data[end:]); next != "" {
			return nil, fmt.Errorf("holds more than one image (a %s image, then a %s image from byte %d): give each image as a file of its own", format, next, end)
		}
	}
	if cfg.Width > MaxImagePixels || cfg.Height > MaxImagePixels || cfg.Width < 1 || cfg.Height < 1 {
		return nil, fmt.Errorf("%s image of %dx%d pixels: expected 1 to %d pixels per side", format, cfg.Width, cfg.Height, MaxImagePixels)
	}
	if area := int64(cfg.Width) * int64(cfg.Height); area > MaxImageArea {
		return nil, fmt.Errorf("%s image of %dx%d = %d pixels: expected at most %d (4096x4096); scale it down (a digit needs only 28x28)",
			format, cfg.Width, cfg.Height, area, MaxImageArea)
	}
	progressive := false
	if format == "jpeg" {
		var scans, components int
		scans, components, progressive = jpegWork(data)
		if blocks := int64((cfg.Width+7)/8) * int64((cfg.Height+7)/8); int64(components)*blocks > maxJPEGWork {
			return nil, fmt.Errorf("jpeg image of %dx%d pixels coded in %d scans (%d of one component each, counted so): more than encoders write (a progressive JPEG has about 10), and minutes or hours to decode at this size: re-save it, or convert it to PNG",
				cfg.Width, cfg.Height, scans, components)
		}
	}
	cost := decodeCost(format, cfg.ColorModel, cfg.Width, cfg.Height, progressive)
	if cost > DecodeBudget {
		return nil, fmt.Errorf("%s image of %dx%d pixels needs about %d MB to decode, more than the %d MB limit; scale it down",
			format, cfg.Width, cfg.Height, cost>>20, DecodeBudget>>20)
	}
	// The speck search's memory (about a megabyte at most) is taken from
	// the budget too, as far as the budget goes: the largest accepted
	// images need all of it for their decode alone.
	reserve := min(cost+speckMemory(cfg.Width, cfg.Height), DecodeBudget)
	return withBudget(ctx, reserve, func() ([]float32, error) {
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil && cutShort(err) {
			// Missing only its last bytes, as viewers show it
			// (damaged.go): decoded again, in the failed decode's
			// memory (collected first: the budget holds one decode).
			if whole := completed(format, data); whole != nil {
				runtime.GC()
				if done, _, err2 := image.Decode(whole); err2 == nil {
					img, err = done, nil
				}
			}
		}
		if err != nil {
			return nil, decodeError(format, data, err)
		}
		if format == "jpeg" {
			// A photo stored sideways, with its EXIF orientation
			// saying how to turn it: read upright (orient.go).
			img = orient(img, jpegOrientation(data))
		}
		x, err := PrepareDigit(img)
		if nd := (*NoDigitError)(nil); errors.Is(err, ErrNoInk) && !(errors.As(err, &nd) && nd.grey) && colourOnly(img) {
			return nil, fmt.Errorf("%w; its marks differ from the background in colour only, not in brightness: draw the digit darker or lighter than its background (black on white), or raise the image's contrast in grey", err)
		}
		if err != nil && format == "gif" {
			if n := gifFrames(data); n > 1 {
				return nil, fmt.Errorf("%w; that is the first of the animated GIF's %d frames, the only one read: save the frame with the digit as an image of its own", err, n)
			}
		}
		return x, err
	})
}

// TooLargeError is the error for an image file past MaxImageBytes, of
// size bytes (size < 0: not known, the data read stopping past the limit).
func TooLargeError(size int64) error {
	of := ""
	if size >= 0 {
		of = fmt.Sprintf(" of %d bytes,", size)
	}
	return fmt.Errorf("file%s larger than the %d MB limit (at most %d bytes): scale the image down or save it compressed (a digit needs only 28x28 pixels)", of, MaxImageBytes>>20, MaxImageBytes)
}

// sniff names the format whose signature data starts with ("" for none).
func sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		return "jpeg"
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return "gif"
	}
	return ""
}

// IsImage tells whether data starts as a PNG, JPEG or GIF image does.
func IsImage(data []byte) bool { return sniff(data) != "" }

// OtherKindError is a file of a kind known not to be a PNG, JPEG or GIF
// image: another image format, an IDX file, an archive.
type OtherKindError struct {
	Kind string // "a WebP image", "an IDX image file", ...
	Hint string // what to do
	IDX  bool   // an IDX image file (predict --idx reads those)
}

func (e *OtherKindError) Error() string {
	return e.Kind + ", not a PNG, JPEG or GIF image: " + e.Hint
}

// OtherKind names the kind of data where its first bytes say it is one
// that cnngpu does not read as an image (nil where they do not tell).
func OtherKind(data []byte) *OtherKindError {
	convert := "convert it to PNG or JPEG first (for example: magick FILE digit.png)"
	has := func(at int, sig string) bool {
		return len(data) >= at+len(sig) && string(data[at:at+len(sig)]) == sig
	}
	switch {
	case has(0, "\x00\x00\x08\x03"):
		return &OtherKindError{Kind: "an IDX image file (MNIST's format)", Hint: "classify all of its images with --idx FILE", IDX: true}
	case has(0, "\x00\x00\x08\x01"):
		return &OtherKindError{Kind: "an IDX label file (MNIST's format)", Hint: "give it as --labels beside --idx IMAGES"}
	case has(0, "\x1f\x8b"):
		return &OtherKindError{Kind: "a gzip file", Hint: "an IDX file compressed (MNIST's .gz) is read by --idx FILE; an image must be given as it is"}
	case has(0, "RIFF") && has(8, "WEBP"):
		return &OtherKindError{Kind: "a WebP image", Hint: convert}
	case has(4, "ftyp") && (has(8, "avif") || has(8, "avis") || bytes.Contains(data[:min(len(data), 64)], []byte("avif"))):
		return &OtherKindError{Kind: "an AVIF image", Hint: convert}
	case has(4, "ftyp") && (has(8, "heic") || has(8, "heix") || has(8, "mif1") || has(8, "msf1") || has(8, "hevc")):
		return &OtherKindError{Kind: "a HEIC image (an iPhone's photo format)", Hint: convert + ", or set the camera to save JPEG ('Most Compatible')"}
	case has(0, "BM") && len(data) >= 18 && slices.Contains([]byte{12, 40, 52, 56, 64, 108, 124}, data[14]) && data[15] == 0 && data[16] == 0 && data[17] == 0:
		// "BM", then the file's header, then the size of the bitmap's
		// own header: one of the sizes its versions have.
		return &OtherKindError{Kind: "a BMP image", Hint: convert}
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return &OtherKindError{Kind: "a TIFF image", Hint: convert}
	case has(0, "%PDF-"):
		return &OtherKindError{Kind: "a PDF document", Hint: "export the page with the digit as PNG first (for example: pdftoppm -png -r 100 FILE digit)"}
	}
	text := bytes.TrimLeft(data[:min(len(data), 512)], "\xef\xbb\xbf \t\r\n")
	if bytes.HasPrefix(text, []byte("<svg")) || bytes.HasPrefix(text, []byte("<?xml")) && bytes.Contains(data[:min(len(data), 4096)], []byte("<svg")) {
		return &OtherKindError{Kind: "an SVG drawing", Hint: "render it to PNG first (for example: rsvg-convert -o digit.png FILE)"}
	}
	return nil
}

// grey returns the image as luminance in [0,1], transparent parts
// composited over the backdrop (see backdrop): the one plane (8 bytes a
// pixel) PrepareDigit works on in place.
func grey(img image.Image) (g []float64, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	g = make([]float64, w*h)
	// Fast paths for the layouts PNG and GIF decoding produce most.
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				g[y*w+x] = float64(v) / 255
			}
		}
		return g, w, h
	case *image.NRGBA:
		px := func(x, y int) (lum, a float64) {
			p := m.Pix[y*m.Stride+4*x:]
			return luma(float64(p[0]), float64(p[1]), float64(p[2])) / 255, float64(p[3]) / 255
		}
		bd := backdrop(w, h, px, g)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				lum, a := px(x, y)
				g[y*w+x] = lum*a + (1-a)*bd
			}
		}
		return g, w, h
	}
	// Every standard image type has RGBA64At, which (unlike At) does not
	// allocate per pixel. Its colours are premultiplied.
	at := func(x, y int) (r, gg, bb, a uint32) { return img.At(x, y).RGBA() }
	if m, ok := img.(image.RGBA64Image); ok {
		at = func(x, y int) (r, gg, bb, a uint32) {
			c := m.RGBA64At(x, y)
			return uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
		}
	}
	px := func(x, y int) (lum, a float64) {
		r, gg, bb, aa := at(b.Min.X+x, b.Min.Y+y)
		if aa == 0 {
			return 0, 0
		}
		return luma(float64(r), float64(gg), float64(bb)) / float64(aa), float64(aa) / 65535
	}
	bd := backdrop(w, h, px, g)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			lum, a := px(x, y)
			g[y*w+x] = min(1, max(0, lum*a+(1-a)*bd))
		}
	}
	return g, w, h
}

// luma is the brightness of a colour, as grey weighs it (ITU-R BT.601).
func luma(r, g, b float64) float64 { return 0.299*r + 0.587*g + 0.114*b }

// backdrop returns the level (0 black, 1 white) that an image's
// transparent parts are composited over, given each pixel's luminance (not
// premultiplied) and opacity: white, as a viewer shows them, unless most
// of the border is transparent, so that the transparent part is the
// background and what is opaque was put on it. Then, a pixel being ink
// under a backdrop where it differs from it by at least 0.4 (opacity
// times the difference in shade):
//   - where one shade's ink is only a rim around the other's (see rim),
//     the rim's shade: the paper a digit was anti-aliased on, before the
//     paper was made transparent;
//   - where the ink is thin strokes (nine tenths of each shade's within
//     two pixels of the transparent part) and one pure shade (black or
//     white) is missing from the opaque part, that shade: the paper of a
//     small digit made transparent, whose strokes are too thin for rim;
//   - where the strokes are thin and neither pure shade is there, the
//     shade their edge (the opaque pixels touching the transparent part)
//     is 0.2 or more nearer to than their core is: what anti-aliasing
//     left of the paper;
//   - else the one under which the opaque part shows the least ink, where
//     it shows any. So white ink drawn on nothing (as a dark-themed
//     drawing tool saves it) gets black, dark ink white, a white sheet
//     with a digit on it inside a transparent margin white (its digit is
//     the smaller ink) and a black sheet black; a bold drawing that covers
//     most of the image is still ink, since under the other backdrop it
//     would show none.
//
// scratch (w*h values) is working memory, overwritten: the grey plane
// before it is filled, so that no more memory is taken than decodeCost
// counts.
func backdrop(w, h int, px func(x, y int) (lum, a float64), scratch []float64) float64 {
	var border, clear int
	edge := func(x, y int) {
		border++
		if _, a := px(x, y); a < 0.5 {
			clear++
		}
	}
	for x := 0; x < w; x++ {
		edge(x, 0)
		if h > 1 {
			edge(x, h-1)
		}
	}
	for y := 1; y < h-1; y++ {
		edge(0, y)
		if w > 1 {
			edge(w-1, y)
		}
	}
	if 2*clear <= border {
		return 1
	}
	// The ink the opaque part shows under each backdrop, counted by its
	// depth inside the opaque part (see rim).
	const differs = 0.4
	depth := opaqueDepth(w, h, px, scratch)
	var onWhite, onBlack [maxDepth + 1]int
	var black, white bool // an opaque pixel of pure black, of pure white
	// The opaque pixels touching the transparent part, and those deeper:
	// how many, and their luminances' sum.
	var edgeN, coreN int
	var edgeLum, coreLum float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			lum, a := px(x, y)
			d := int(depth[y*w+x])
			if a*(1-lum) >= differs {
				onWhite[d]++
			}
			if a*lum >= differs {
				onBlack[d]++
			}
			if a >= 0.99 {
				black = black || lum < 0.5/255
				white = white || lum > 1-0.5/255
			}
			switch {
			case d == 1:
				edgeN++
				edgeLum += lum
			case d > 1:
				coreN++
				coreLum += lum
			}
		}
	}
	switch {
	case rim(onBlack, onWhite):
		return 1
	case rim(onWhite, onBlack):
		return 0
	}
	// Strokes (nine tenths of the ink within two pixels of the transparent
	// part: no sheet) too thin to tell a rim from a core by depth, as a
	// small digit's: where one pure shade is missing, it was made
	// transparent, and it is the backdrop (the other is ink, as ink drawn
	// on nothing is).
	thin := func(c [maxDepth + 1]int) bool { return 10*sum(c[:3]) >= 9*sum(c[:]) }
	if black != white && thin(onWhite) && thin(onBlack) {
		if black {
			return 1
		}
		return 0
	}
	// Thin strokes in neither pure shade (a scanned digit's ink, which
	// MNIST's digits seldom take to the end of the scale): where their
	// edge is clearly nearer one shade than their core is, the edge is
	// what anti-aliasing left of the paper made transparent, and the
	// paper is that shade.
	const edgeContrast = 0.2
	if !black && !white && thin(onWhite) && thin(onBlack) && 20*coreN >= edgeN+coreN {
		switch e, c := edgeLum/float64(edgeN), coreLum/float64(coreN); {
		case e <= c-edgeContrast:
			return 0
		case e >= c+edgeContrast:
			return 1
		}
	}
	if nw, nb := sum(onWhite[:]), sum(onBlack[:]); nb > 0 && (nw == 0 || nb < nw) {
		return 0
	}
	return 1
}

// maxDepth is the depth (pixels from the transparent part) at which
// opaqueDepth stops counting; rimDepth, the deepest a rim reaches (see
// rim).
const (
	maxDepth = 8
	rimDepth = 4
)

// rim reports whether one shade's ink (counted by depth: 1 touches the
// transparent part, 0 is ink on a pixel itself more than half clear) is
// only a rim around the other's: nine tenths of it or more within
// rimDepth pixels of the transparent part, under a hundredth of it
// maxDepth pixels deep or more, and on average a quarter of a pixel or
// more shallower than the other's. That is the edge of what was cut out,
// not the drawing: a dark digit anti-aliased on white keeps light greys
// around its strokes once the white is made transparent (one pixel of
// them, up to four if the image was then scaled up); white lettering may
// be outlined in black. Then the backdrop is the rim's shade. A frame, a
// ring or a sheet's margin is not a rim where the same shade is also
// drawn deep inside (a badge's digit, a sheet's ink).
func rim(layer, other [maxDepth + 1]int) bool {
	n, m := sum(layer[:]), sum(other[:])
	if n == 0 || m == 0 || 10*sum(layer[:rimDepth+1]) < 9*n || 100*layer[maxDepth] > n {
		return false
	}
	mean := func(c [maxDepth + 1]int, n int) float64 {
		s := 0
		for d, k := range c {
			s += d * k
		}
		return float64(s) / float64(n)
	}
	return mean(other, m) >= mean(layer, n)+0.25
}

func sum(c []int) int {
	s := 0
	for _, k := range c {
		s += k
	}
	return s
}

// opaqueDepth sets d (w*h values, row-major) to each pixel's chessboard
// distance from the nearest transparent pixel (opacity under one half;
// outside the image counts as transparent), and returns it: 0 for a
// transparent pixel, 1 for an opaque one touching one, up to maxDepth for
// any deeper.
func opaqueDepth(w, h int, px func(x, y int) (lum, a float64), d []float64) []float64 {
	d = d[:w*h]
	// Two passes of a chamfer transform (forward, then backward), each
	// cell the least of its already-visited neighbours plus one; a pixel
	// on the image's edge touches the outside, so it is 1 when opaque.
	for y := 0; y < h; y++ {
		row := d[y*w : (y+1)*w]
		for x := range row {
			switch _, a := px(x, y); {
			case a < 0.5:
				row[x] = 0
			case x == 0 || y == 0 || x == w-1 || y == h-1:
				row[x] = 1
			default:
				up := d[(y-1)*w : y*w]
				row[x] = min(maxDepth, 1+min(row[x-1], up[x-1], up[x], up[x+1]))
			}
		}
	}
	for y := h - 2; y > 0; y-- {
		row, down := d[y*w:(y+1)*w], d[(y+1)*w:(y+2)*w]
		for x := w - 2; x > 0; x-- {
			if v := row[x]; v > 1 {
				row[x] = min(v, 1+min(row[x+1], down[x+1], down[x], down[x-1]))
			}
		}
	}
	return d
}

// borderOf returns the pixels on the border of the w x h plane g: the top
// and bottom rows' (a pixel of each, column by column), then the left and
// right columns' (row by row), the corners twice.
func borderOf(g []float64, w, h int) []float64 {
	border := make([]float64, 0, 2*(w+h))
	for x := 0; x < w; x++ {
		border = append(border, g[x], g[(h-1)*w+x])
	}
	for y := 0; y < h; y++ {
		border = append(border, g[y*w], g[y*w+w-1])
	}
	return border
}

// flattenLight takes a gradient of light across the w x h image g off
// it, in place, and returns how much it took (the gradients' sizes
// added; 0 for none): paper lit more from one side than the other, whose
// darker edge otherwise stands above the border's noise floor as a
// sliver of "ink" (blank paper read as a 1 at 93%). The gradient is the
// difference between the medians of opposite sides, left against right
// and top against bottom, and is taken off only where it reads as light:
// from 8 levels of 255 to 0.25 (64 levels) across, and changing steadily
// along each of the two other sides, the medians of their four quarters
// each an eighth of it or more past the one before, the same way. A
// shadow over part of the sheet (a hand's, a phone's: a step, flat on
// either side), a scanner's dark margin or a digit crossing a side is no
// gradient, and is left.
func flattenLight(g []float64, w, h int) (taken float64) {
	if w < 8 || h < 8 {
		return 0
	}
	line := func(x0, y0, dx, dy, n int) float64 {
		v := make([]float64, n)
		for i := range n {
			v[i] = g[(y0+i*dy)*w+x0+i*dx]
		}
		return median(v)
	}
	// steady reports whether the line of n pixels from (x0, y0) in steps
	// (dx, dy) changes by d steadily: its quarters' medians each move
	// d/8 or more past the one before, the way d goes.
	steady := func(x0, y0, dx, dy, n int, d float64) bool {
		q := n / 4
		prev := line(x0, y0, dx, dy, q)
		for k := 1; k < 4; k++ {
			m := line(x0+k*q*dx, y0+k*q*dy, dx, dy, q)
			if (m-prev)*math.Copysign(1, d) < math.Abs(d)/8 {
				return false
			}
			prev = m
		}
		return true
	}
	gradient := func(a, b float64, along func(d float64) bool) float64 {
		d := b - a
		if math.Abs(d) < 8.0/255 || math.Abs(d) > 0.25 || !along(d) {
			return 0
		}
		return d
	}
	gx := gradient(line(0, 0, 0, 1, h), line(w-1, 0, 0, 1, h), func(d float64) bool {
		return steady(0, 0, 1, 0, w, d) && steady(0, h-1, 1, 0, w, d)
	})
	gy := gradient(line(0, 0, 1, 0, w), line(0, h-1, 1, 0, w), func(d float64) bool {
		return steady(0, 0, 0, 1, h, d) && steady(w-1, 0, 0, 1, h, d)
	})
	if gx == 0 && gy == 0 {
		return 0
	}
	for y := range h {
		off := gy * (float64(y)/float64(h-1) - 0.5)
		for x := range w {
			g[y*w+x] = max(0, min(1, g[y*w+x]-off-gx*(float64(x)/float64(w-1)-0.5)))
		}
	}
	return math.Abs(gx) + math.Abs(gy)
}

// PrepareDigit turns an image into an MNIST-style 28x28 input.
func PrepareDigit(img image.Image) ([]float32, error) {
	g, w, h := grey(img)
	if w == 0 || h == 0 {
		return nil, ErrNoInk
	}
	// A sheet inside a frame of another shade is what is looked at
	// (frame.go).
	if d := frameDepth(g, w, h); d > 0 {
		w, h = cropFrame(g, w, h, d)
		g = g[:w*h]
	}
	// Light falling across the sheet from one side is taken off first.
	lit := flattenLight(g, w, h)
	// The background is the border's median level; where the ink is
	// darker than it (darkInk: on light paper, and on grey paper in a dim
	// photo), the levels are inverted so that ink is bright.
	bg := median(borderOf(g, w, h))
	dark := darkInk(g, w, h, bg)
	noise := pixelNoise(g, w, h)
	// How far toward black the middle's darkest pixel lies, for a refusal
	// of light ink too faint to be a digit, where the image's marks are
	// dark ones too faint to tell as ink (grey pencil in a dim photo).
	darkest := 0.0
	if !dark && bg > 0 {
		for y := h / 5; y < h-h/5; y++ {
			for _, v := range g[y*w+w/5 : y*w+w-w/5] {
				darkest = max(darkest, (bg-v)/bg)
			}
		}
	}
	// The ink plane replaces the grey one in place: the background level
	// removed and the rest stretched to [0,1].
	ink, ref := g, bg
	if dark {
		ref = 1 - bg
	}
	for i, v := range g {
		if dark {
			v = 1 - v
		}
		if ref < 1 {
			v = (v - ref) / (1 - ref)
		}
		ink[i] = max(0, min(1, v))
	}
	// The noise floor is what remains on the border after removing the
	// background: its 95th percentile (so that a digit touching the edge
	// does not count, nor does a dark band along one side, such as a
	// scanner's margin, which it erases): zero for a clean image, a few
	// percent for a photo or JPEG. Anything at or below it is background;
	// the rest is ink. Where that leaves no ink at all (a digit covering
	// more than 5% of the border: a tight crop of a "1", a large "0"
	// drawn across the page's edges), the floor is taken from the
	// border's pixels that are less than half ink instead.
	edge := borderOf(ink, w, h)
	slices.Sort(edge)
	p95 := edge[len(edge)*95/100]
	thresh := p95
	// A camera's noise puts a twentieth of the paper above that 95th
	// percentile, and so many specks chain across the sheet: the crop
	// took the whole sheet and the digit shrank to a few pixels (about a
	// fifth of noisy photos were read right). The floor is raised to
	// three of the noise's standard deviations above the border's median:
	// the way from that median to its 84th percentile (half the noise
	// lies below the background, no ink), within twice pixelNoise's
	// estimate from differences between nearby pixels (which a shadow or
	// the light's falloff along the border does not raise, as it raises
	// the percentile; but a blur lowers), and where light across the sheet was taken
	// off (flattenLight), to an eighth of the gradient, or 2 levels of
	// 255, whichever is more: what is left of the light is no ink.
	span := max(1e-9, 1-ref) // grey levels from the background to full ink
	med, sd := edge[len(edge)/2], noise/span
	thresh = max(thresh, med+3*max(sd, min(edge[len(edge)*84/100]-med, 2*sd)))
	if lit > 0 {
		thresh = max(thresh, max(lit/8, 2.0/255)/span)
	}
	// (Nothing above the 95th percentile itself is the digit covering
	// the border; nothing above the raised floor alone is noise, no
	// ink.)
	if !slices.ContainsFunc(ink, func(v float64) bool { return v > p95 }) {
		light := edge[:0]
		for _, v := range edge {
			if v < 0.5 {
				light = append(light, v)
			}
		}
		thresh = 0
		if len(light) > 0 {
			thresh = light[len(light)*95/100]
		}
		clearBands(ink, w, h, thresh)
	}
	unfloored := slices.Max(ink) // the strongest mark, before the floor
	for i, v := range ink {
		if v <= thresh {
			ink[i] = 0
		}
	}
	if n := dropSpecks(ink, w, h); n > 0 {
		return nil, &NoDigitError{Why: fmt.Sprintf("its marks are scattered over it in %d specks, none of them a sixteenth of the ink: noise or a texture, not a digit's strokes", n)}
	}
	x0, y0, x1, y1 := w, h, -1, -1
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if ink[y*w+x] > 0 {
				x0, y0 = min(x0, x), min(y0, y)
				x1, y1 = max(x1, x), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		if unfloored >= noisyPeak {
			// Marks as strong as a digit's, and no stronger than the
			// border's: noise over the whole image, not a blank one.
			return nil, &NoDigitError{Why: fmt.Sprintf("its marks, up to %.0f%% of the way from its background's shade to full ink, are no stronger than those along its border: noise or a texture all over it, not a digit on a plain background", 100*unfloored), grey: true}
		}
		return nil, ErrNoInk
	}
	cw, ch := x1-x0+1, y1-y0+1
	// What is left may still be no digit: a mark fainter than any pen's
	// (a level or two off the background, JPEG noise on blank paper), or
	// a dot, which the crop below would blow up to a digit's size.
	strongest := 0.0
	for _, v := range ink {
		strongest = max(strongest, v)
	}
	if strongest < MinInkContrast {
		toward := "its darkest mark is only %.1f%% of the way from the paper's shade to black; a digit's is %.0f%% or more"
		if !dark {
			toward = "its brightest mark is only %.1f%% of the way from the background's shade to white; a digit's is %.0f%% or more"
		}
		// (9.96% is not shown as the 10.0% it is under.)
		why := fmt.Sprintf(toward, shown.Under(100*strongest, 100*MinInkContrast, 0.1), 100*MinInkContrast)
		// (Only where what it says is so: no pixel lies that far below.)
		if !dark && darkest > max(strongest, MinInkContrast) && darkest*bg < darkInkMin {
			why += fmt.Sprintf(", and its darker marks (%.0f%% of the way to black) lie less than %.0f levels of 255 below the background, too little to tell them for ink: "+
				"photograph the digit in more light, or raise the image's contrast", 100*darkest, 255*darkInkMin)
		}
		return nil, &NoDigitError{Why: why}
	}
	// A digit's height is bounded by the image's shorter side.
	if side := max(minDigitSide, min(w, h)/200); max(cw, ch) < side {
		return nil, &NoDigitError{Why: fmt.Sprintf("its only mark is a dot of %dx%d pixels in %dx%d; a digit needs to be %d pixels or more across",
			cw, ch, w, h, side)}
	}
	// Scale the longer side to 20 pixels.
	scale := 20 / float64(max(cw, ch))
	sw := max(1, int(math.Round(float64(cw)*scale)))
	sh := max(1, int(math.Round(float64(ch)*scale)))
	small := resample(ink, w, x0, y0, cw, ch, sw, sh)
	// When the digit was rescaled, stretch so the strongest ink is 1, as
	// in MNIST: thin strokes lose intensity when a large drawing is shrunk.
	// A digit already 20 pixels tall (an MNIST image) is left as it is.
	peak := 0.0
	for _, v := range small {
		peak = max(peak, v)
	}
	if (sw != cw || sh != ch) && peak > 0 && peak < 1 {
		for i := range small {
			small[i] /= peak
		}
	}
	// (A mark of a few pixels, in an image of a few more, shows no
	// strokes to tell: a 7 drawn in 6x6 is a 3x4 box of ink.)
	if (max(cw, ch) >= 8 || max(cw, ch) < min(w, h)/10) && blot(small, sw, sh) {
		return nil, &NoDigitError{Why: fmt.Sprintf("its only mark is a solid blot of %dx%d pixels, not a digit's strokes (a tap, a dot or a dash); draw or photograph the whole digit", cw, ch)}
	}
	// (After the blot: a solid dash is said to be one.)
	if lw, lh, ok := lineAcross(ink, w, x0, y0, x1, y1, strongest); ok {
		// (The ratio rounded up: 3.004 is not shown as the 3.00 it is over.)
		return nil, &NoDigitError{Why: fmt.Sprintf("its only mark is one stroke lying across it, %dx%d pixels, %.2f times as wide as it is tall, where no digit is more than %.0f times (a dash or a line); "+
			"draw or photograph the whole digit, upright", lw, lh, math.Ceil(100*float64(lw)/float64(lh))/100, maxDigitWidth)}
	}
	// Centre of mass of the scaled digit.
	var m, mx, my float64
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			v := small[y*sw+x]
			m += v
			mx += v * float64(x)
			my += v * float64(y)
		}
	}
	if m == 0 {
		return nil, ErrNoInk
	}
	// Place so the centre of mass (in pixel indices) lands on pixel
	// (14, 14), as MNIST's digits were placed.
	ox := int(math.Round(14 - mx/m))
	oy := int(math.Round(14 - my/m))
	out := make([]float32, 28*28)
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			tx, ty := x+ox, y+oy
			if tx >= 0 && tx < 28 && ty >= 0 && ty < 28 {
				out[ty*28+tx] = float32(small[y*sw+x])
			}
		}
	}
	return out, nil
}

// lineAcross reports whether the ink in the box (x0, y0)-(x1, y1) of the
// w-wide plane ink is one straight stroke lying across the image, more
// than maxDigitWidth times as wide as it is tall, and gives that stroke's
// box. Its pixels of at least half the strongest ink (not a JPEG's
// ringing or a camera's specks about it) are looked at: nine in ten of
// their box's columns hold one run of them; the box is no taller than a
// straight line through the runs' middles (fitted by least squares)
// drawn with their median length makes it, and a quarter and 2 pixels
// more; and 97% of all the ink lies within that box and a run's length
// about it. A dash or a line across the image is so; a wide 7 is
// not (its stroke down is a second run below its bar, or where that
// stroke is short, makes the box far taller than the bar, or where it is
// lighter than half the bar's ink, lies outside the bar's box), nor is a
// flat 2 (its curve and its base), nor are digits side by side.
func lineAcross(ink []float64, w, x0, y0, x1, y1 int, strongest float64) (cw, ch int, ok bool) {
	on := func(x, y int) bool { return ink[y*w+x] >= strongest/2 }
	bx0, by0, bx1, by1 := x1+1, y1+1, x0-1, y0-1 // the box of those pixels
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			if on(x, y) {
				bx0, by0, bx1, by1 = min(bx0, x), min(by0, y), max(bx1, x), max(by1, y)
			}
		}
	}
	cw, ch = bx1-bx0+1, by1-by0+1
	if bx1 < bx0 || float64(cw) <= maxDigitWidth*float64(ch) {
		return cw, ch, false
	}
	var xs, mids, lens []float64
	for x := bx0; x <= bx1; x++ {
		runs, in, top, bottom := 0, false, 0, 0
		for y := by0; y <= by1; y++ {
			v := on(x, y)
			if v && !in {
				runs++
				top = y
			}
			if v {
				bottom = y
			}
			in = v
		}
		if runs == 1 {
			xs = append(xs, float64(x))
			mids = append(mids, float64(top+bottom)/2)
			lens = append(lens, float64(bottom-top+1))
		}
	}
	if 10*(cw-len(xs)) > cw || len(xs) < 2 {
		return cw, ch, false
	}
	var mx, my float64
	for i := range xs {
		mx, my = mx+xs[i], my+mids[i]
	}
	mx, my = mx/float64(len(xs)), my/float64(len(xs))
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (mids[i] - my)
	}
	run := median(lens)
	// (2 columns or more: sxx > 0. The 2 pixels: a speck of noise along a
	// thin line.)
	line := math.Abs(sxy/sxx)*float64(cw-1) + run
	if float64(ch) > 1.25*line+2 {
		return cw, ch, false
	}
	// The stroke is the only mark: 97% of all the ink (fainter strokes
	// too: a 7's stem drawn lighter and thinner than its bar, pencil
	// beside a pen's line) lies within its box and a run's length about
	// it. (With nine tenths, a 7 whose stem had a quarter of its bar's
	// width and a third of its ink was refused.)
	pad := int(math.Ceil(run))
	inside, all := 0.0, 0.0 // (all > 0: the strongest pixel is in the box)
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			v := ink[y*w+x]
			all += v
			if x >= bx0-pad && x <= bx1+pad && y >= by0-pad && y <= by1+pad {
				inside += v
			}
		}
	}
	return cw, ch, inside >= 0.97*all
}

// pixelNoise estimates the standard deviation of a camera's noise, pixel
// by pixel, in the w x h image g from its border: the median of the
// differences between pixels 4 apart along its four sides (1 in an image
// under 16 pixels a side), divided
// by 0.954 (that median for the difference of two normal values of that
// deviation). A shadow's or a gradient's change along the border, and a
// digit's strokes crossing it, are a few of those differences, not the
// median. 0 for a clean image.
func pixelNoise(g []float64, w, h int) float64 {
	k := 4 // a blur, or JPEG's smoothing, ties pixels nearer than that
	if w < 4*k || h < 4*k {
		k = 1
	}
	if w <= k || h <= k {
		return 0
	}
	d := make([]float64, 0, 2*(w+h))
	for x := 0; x+k < w; x++ {
		d = append(d, math.Abs(g[x+k]-g[x]), math.Abs(g[(h-1)*w+x+k]-g[(h-1)*w+x]))
	}
	for y := 0; y+k < h; y++ {
		d = append(d, math.Abs(g[(y+k)*w]-g[y*w]), math.Abs(g[(y+k)*w+w-1]-g[y*w+w-1]))
	}
	return median(d) / 0.954
}

// blot reports whether the scaled mark small (w x h, at most 20 a side,
// its strongest ink 1) is a solid blot rather than a digit: not tall and
// narrow (a 1), filling maxBlotFill of its box or more, and without a
// hole (background, below half ink, that the box's edge does not reach).
func blot(small []float64, w, h int) bool {
	if h >= 3*w/2 {
		return false
	}
	peak, fill := 0.0, 0.0
	for _, v := range small {
		peak, fill = max(peak, v), fill+v
	}
	if peak == 0 || fill/(peak*float64(w*h)) < maxBlotFill {
		return false
	}
	// Flood the background from the box's edge; a background pixel not
	// reached is a hole.
	reached := make([]bool, w*h)
	var stack []int
	push := func(x, y int) {
		if x >= 0 && y >= 0 && x < w && y < h && !reached[y*w+x] && small[y*w+x] < peak/2 {
			reached[y*w+x] = true
			stack = append(stack, y*w+x)
		}
	}
	for x := range w {
		push(x, 0)
		push(x, h-1)
	}
	for y := range h {
		push(0, y)
		push(w-1, y)
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x, y := i%w, i/w
		push(x-1, y)
		push(x+1, y)
		push(x, y-1)
		push(x, y+1)
	}
	for i, v := range small {
		if v < peak/2 && !reached[i] {
			return false
		}
	}
	return true
}

// clearBands clears solid bands of ink along the sides, a black margin
// that a scanner or a photo's surroundings leave (a band as dark as the
// digit survives the noise floor): on each side, the lines (rows or
// columns) that are ink from end to end, less than a quarter of the image
// and followed by a line without ink (the paper beside the margin; the
// bar of a tightly cropped 7 is followed by its stroke), unless that
// would leave no ink above thresh.
func clearBands(ink []float64, w, h int, thresh float64) {
	// inked counts the pixels of half strength or more in line i from
	// side s (0 left, 1 right: columns; 2 top, 3 bottom: rows), of n.
	inked := func(s, i int) (k, n int) {
		x, y, dx, dy, n := i, 0, 0, 1, h
		switch s {
		case 1:
			x = w - 1 - i
		case 2, 3:
			x, y, dx, dy, n = 0, i, 1, 0, w
			if s == 3 {
				y = h - 1 - i
			}
		}
		for j := range n {
			if ink[(y+j*dy)*w+x+j*dx] >= 0.5 {
				k++
			}
		}
		return k, n
	}
	// depth[s]: side s's band, the full lines there when a line without
	// ink follows them (the paper beside a margin; a digit's bar along the
	// edge is followed by its strokes).
	var depth [4]int
	for s := range depth {
		limit := w / 4
		if s >= 2 {
			limit = h / 4
		}
		for depth[s] < limit {
			if k, n := inked(s, depth[s]); k < n {
				break
			}
			depth[s]++
		}
		if depth[s] > 0 {
			if k, _ := inked(s, depth[s]); k > 0 {
				depth[s] = 0
			}
		}
	}
	left, right, top, bottom := depth[0], depth[1], depth[2], depth[3]
	if left+right+top+bottom == 0 {
		return
	}
	inside := func(x, y int) bool { return x >= left && x < w-right && y >= top && y < h-bottom }
	rest := false
	for y := 0; y < h && !rest; y++ {
		for x := 0; x < w; x++ {
			if inside(x, y) && ink[y*w+x] > thresh {
				rest = true
				break
			}
		}
	}
	if !rest {
		return
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !inside(x, y) {
				ink[y*w+x] = 0
			}
		}
	}
}

// dropSpecks clears specks of ink away from the digit: dust on a scan,
// a stray tap on the drawing page, a dot of JPEG noise in a corner. The
// digit is fitted to its ink's bounding box, so one such dot far away
// shrank the digit to a fraction of its size. The ink's 8-connected
// parts are weighed (ink summed); those of at least a twentieth of the
// heaviest are the digit's (a "5" whose bar is detached, a "7"'s
// crossbar), and so is every lighter part within an eighth of the
// digit's size (its box's longer side) of a part kept, step by step: a
// stroke broken into dashes by a skipping pen or a light pencil is kept
// to its end. What lies farther out is cleared.
//
// An image larger than speckSide on a side is searched at a coarser
// scale, each cell the strongest ink of a square of pixels (parts less
// than a cell apart count as one). An image of more than maxSpeckParts
// parts (a texture, not specks) is left as it is. Both bound the memory
// the search takes (speckMemory, counted with the decode's in budget.go).
func dropSpecks(ink []float64, w, h int) (scattered int) {
	f, cw, ch := speckScale(w, h)
	if f == 1 {
		return clearSpecks(ink, w, h)
	}
	coarse := make([]float64, cw*ch)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := &coarse[y/f*cw+x/f]
			*c = max(*c, ink[y*w+x])
		}
	}
	scattered = clearSpecks(coarse, cw, ch)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if coarse[y/f*cw+x/f] == 0 {
				ink[y*w+x] = 0
			}
		}
	}
	return scattered
}

const (
	// speckSide is the largest side searched for specks pixel by pixel.
	speckSide = 256
	// maxSpeckParts is the most parts an image may have for its specks
	// to be cleared.
	maxSpeckParts = 4096
)

// speckScale returns the side f of the square of pixels one cell of the
// search for specks covers in an image of w x h (1: pixel by pixel), and
// the plane of cells it searches, cw x ch.
func speckScale(w, h int) (f, cw, ch int) {
	f = max(1, (max(w, h)+speckSide-1)/speckSide) // 1 for an image of no pixels too
	return f, (w + f - 1) / f, (h + f - 1) / f
}

// speckPart is one 8-connected part of the ink: a pixel of it, its
// weight and its box.
type speckPart struct {
	seed           int32
	x0, y0, x1, y1 int32
	mass           float64
}

// speckMemory bounds the bytes dropSpecks takes beyond the ink plane for
// an image of w x h: the coarse plane (8 bytes a cell), the stack of
// pixels to visit (4 bytes each) and the parts.
func speckMemory(w, h int) int64 {
	coarse := int64(0)
	f, w, h := speckScale(w, h)
	if f > 1 {
		coarse = 8 * int64(w) * int64(h)
	}
	cells := int64(w) * int64(h)
	// The parts (no more than one in four cells: 8-connected parts are
	// a cell apart): their list (up to twice its length while it grows),
	// a flag and a place on the list of those to look around, each.
	parts := min(maxSpeckParts, int64((w+1)/2)*int64((h+1)/2))
	return coarse + 4*cells + parts*(2*int64(unsafe.Sizeof(speckPart{}))+1+2*8)
}

// clearSpecks is dropSpecks on a plane of w x h. Visited pixels are marked
// by negating them, so the search needs only its stack (at most one int32
// a pixel, allocated once) and the parts.
func clearSpecks(ink []float64, w, h int) (scattered int) {
	parts := make([]speckPart, 0, 16)
	stack := make([]int32, 0, w*h)
	// fill visits the part holding pixel p, negating its ink (or, with
	// clear, zeroing the negated ink), and returns its weight and box.
	fill := func(p int, clear bool) speckPart {
		pt := speckPart{seed: int32(p), x0: int32(w), y0: int32(h), x1: -1, y1: -1}
		mark := func(q int) {
			if clear {
				ink[q] = 0
			} else {
				ink[q] = -ink[q]
			}
		}
		mark(p)
		stack = append(stack[:0], int32(p))
		for len(stack) > 0 {
			q := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			x, y := q%w, q/w
			if !clear {
				pt.mass -= ink[q]
				pt.x0, pt.y0 = min(pt.x0, int32(x)), min(pt.y0, int32(y))
				pt.x1, pt.y1 = max(pt.x1, int32(x)), max(pt.y1, int32(y))
			}
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || nx >= w || ny < 0 || ny >= h {
						continue
					}
					n := ny*w + nx
					// Unvisited ink is positive; visited, negative.
					if (!clear && ink[n] > 0) || (clear && ink[n] < 0) {
						mark(n)
						stack = append(stack, int32(n))
					}
				}
			}
		}
		return pt
	}
	heaviest, total := 0.0, 0.0
	n, outer := 0, 0 // the parts, and those reaching the outer fifth
	for p, v := range ink {
		if v > 0 {
			pt := fill(p, false)
			n++
			heaviest = max(heaviest, pt.mass)
			total += pt.mass
			if pt.x0 < int32(w/5) || pt.x1 >= int32(w-w/5) || pt.y0 < int32(h/5) || pt.y1 >= int32(h-h/5) {
				outer++
			}
			if n <= maxSpeckParts {
				parts = append(parts, pt)
			}
		}
	}
	if n > maxSpeckParts {
		parts = parts[:0] // a texture: left as it is
	}
	// Ink scattered in many parts, none of them a sixteenth of it or
	// more nor sixteen times the parts' mean, two in five of them or more
	// reaching the outer fifth of the image, is noise (a random image),
	// not a digit among a camera's specks (whose stroke outweighs them
	// hundreds of times) nor a dotted digit (its dots within its box):
	// said to the caller, which refuses it.
	if n >= scatteredParts && heaviest*16 < total && heaviest*float64(n) < 16*total && 5*outer >= 2*n {
		scattered = n
	}
	if len(parts) > 1 {
		keep := make([]bool, len(parts))
		var todo []int
		bx0, by0, bx1, by1 := int32(w), int32(h), int32(-1), int32(-1)
		for i, pt := range parts {
			if pt.mass >= heaviest/20 {
				keep[i] = true
				todo = append(todo, i)
				bx0, by0 = min(bx0, pt.x0), min(by0, pt.y0)
				bx1, by1 = max(bx1, pt.x1), max(by1, pt.y1)
			}
		}
		near := max(bx1-bx0+1, by1-by0+1) / 8
		left := len(parts) - len(todo) // parts not kept yet
		for len(todo) > 0 && left > 0 {
			a := &parts[todo[len(todo)-1]]
			todo = todo[:len(todo)-1]
			for j := range parts {
				if keep[j] {
					continue
				}
				// The gap between the boxes, along the wider axis.
				b := &parts[j]
				if max(a.x0-b.x1, b.x0-a.x1, a.y0-b.y1, b.y0-a.y1) <= near {
					keep[j] = true
					todo = append(todo, j)
					left--
				}
			}
		}
		for i, pt := range parts {
			if !keep[i] {
				fill(int(pt.seed), true)
			}
		}
	}
	for p, v := range ink {
		if v < 0 {
			ink[p] = -v
		}
	}
	return scattered
}

// resample scales the cw x ch region at (x0,y0) of src (width w) to sw x sh
// by area averaging (each output pixel is the mean of the source area it
// covers, fractions included), which suits both shrinking and enlarging.
func resample(src []float64, w, x0, y0, cw, ch, sw, sh int) []float64 {
	if sw == cw && sh == ch {
		out := make([]float64, sw*sh)
		for y := 0; y < sh; y++ {
			copy(out[y*sw:(y+1)*sw], src[(y0+y)*w+x0:])
		}
		return out
	}
	fx := float64(cw) / float64(sw)
	fy := float64(ch) / float64(sh)
	out := make([]float64, sw*sh)
	for oy := 0; oy < sh; oy++ {
		sy0, sy1 := float64(oy)*fy, float64(oy+1)*fy
		for ox := 0; ox < sw; ox++ {
			sx0, sx1 := float64(ox)*fx, float64(ox+1)*fx
			var sum, area float64
			for y := int(sy0); y < ch && float64(y) < sy1; y++ {
				hy := min(sy1, float64(y+1)) - max(sy0, float64(y))
				for x := int(sx0); x < cw && float64(x) < sx1; x++ {
					hx := min(sx1, float64(x+1)) - max(sx0, float64(x))
					a := hx * hy
					sum += a * src[(y0+y)*w+x0+x]
					area += a
				}
			}
			if area > 0 {
				out[oy*sw+ox] = sum / area
			}
		}
	}
	return out
}

func median(v []float64) float64 {
	c := slices.Clone(v)
	slices.Sort(c)
	return c[len(c)/2]
}
