// damaged.go: what an image file that fails to decode is, in words a user
// can act on: a JPEG of a kind Go's decoder does not read (12-bit,
// arithmetic-coded, lossless, hierarchical) is named as such, a file cut
// short says so, and one missing only its last bytes (the end marker, a
// viewer shows it whole) is read as a viewer reads it.

package loader

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"strings"
)

// decodeError words the error err that decoding data, an image in format,
// gave (from image.DecodeConfig or image.Decode).
func decodeError(format string, data []byte, err error) error {
	if format == "jpeg" {
		if kind := jpegKind(data); kind != "" {
			return fmt.Errorf("%s, which cnngpu does not read (it reads 8-bit baseline and progressive JPEGs): convert it to PNG first (for example: magick FILE digit.png)", kind)
		}
		var unsupported jpeg.UnsupportedError
		if errors.As(err, &unsupported) {
			return fmt.Errorf("a JPEG using a feature cnngpu does not read (%v): convert it to PNG first (for example: magick FILE digit.png)", err)
		}
	}
	if cutShort(err) {
		return fmt.Errorf("damaged %s image: the file is cut short (%v): its end is missing; copy or download it again", format, err)
	}
	return fmt.Errorf("damaged %s image: %v", format, err)
}

// cutShort tells whether a decoder's error says its data ended early.
func cutShort(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"unexpected EOF", "short Huffman data", "not enough pixel data", "not enough image data"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// jpegKind names a JPEG's kind from its frame header (SOFn) where Go's
// decoder does not read it ("" for baseline and progressive 8-bit, and
// where no frame header is found before the first scan).
func jpegKind(data []byte) string {
	kind := ""
	jpegSegments(data, func(m byte, seg []byte) bool {
		switch m {
		case 0xc0, 0xc1, 0xc2:
			if len(seg) > 0 && seg[0] != 8 {
				kind = fmt.Sprintf("a %d-bit JPEG", seg[0])
			}
		case 0xc3:
			kind = "a lossless JPEG"
		case 0xc5, 0xc6, 0xc7:
			kind = "a hierarchical JPEG"
		case 0xc9, 0xca:
			kind = "an arithmetic-coded JPEG"
		case 0xcb:
			kind = "a lossless arithmetic-coded JPEG"
		case 0xcd, 0xce, 0xcf:
			kind = "a hierarchical arithmetic-coded JPEG"
		case 0xda:
			return false // the first scan, with no frame header before it
		default:
			return true // not a frame header: on to the next segment
		}
		return false
	})
	return kind
}

// completed returns data with the end its format requires added, where
// data lacks it, so that a file missing only its last bytes (a JPEG's end
// marker, a PNG's IEND chunk or part of it, a GIF's trailer) decodes as
// viewers show it: a reader over data and the end, not a copy; nil where
// data has its end already or nothing can be added. A file cut short
// inside its pixels still fails to decode.
func completed(format string, data []byte) io.Reader {
	switch format {
	case "jpeg":
		if !bytes.HasSuffix(data, []byte{0xff, 0xd9}) {
			return io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte{0xff, 0xd9}))
		}
	case "png":
		// Up to the last whole chunk before IEND, then IEND; nil where a
		// whole IEND is there.
		pos, whole := 8, false
		pngChunks(data, func(typ string, end int) bool {
			if whole = typ == "IEND"; !whole {
				pos = end
			}
			return !whole
		})
		if whole || len(data) < pos {
			return nil
		}
		return io.MultiReader(bytes.NewReader(data[:pos]), strings.NewReader("\x00\x00\x00\x00IEND\xae\x42\x60\x82"))
	case "gif":
		if !bytes.HasSuffix(data, []byte{0x3b}) {
			return io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte{0x00, 0x3b}))
		}
	}
	return nil
}

// colourOnly tells whether an image that holds no digit by brightness
// has marks that differ from its background in colour alone (red on a
// grey of the same brightness): a quarter of the way or more in some
// channel from the border's median colour and less than 0.12 in
// brightness, in at least a five-hundredth of its opaque pixels
// (sampled: at most about a million looked at). Paper lit brighter at its
// centre, with no digit, differs in brightness: that is blank paper.
func colourOnly(img image.Image) bool {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return false
	}
	at := func(x, y int) (r, g, bl float64, opaque bool) {
		cr, cg, cb, ca := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		if ca < 0x8000 {
			return 0, 0, 0, false
		}
		return float64(cr) / float64(ca), float64(cg) / float64(ca), float64(cb) / float64(ca), true
	}
	var border [3][]float64
	add := func(x, y int) {
		if r, g, bl, ok := at(x, y); ok {
			border[0], border[1], border[2] = append(border[0], r), append(border[1], g), append(border[2], bl)
		}
	}
	step := max(1, int(math.Sqrt(float64(w)*float64(h)/1e6)))
	for x := 0; x < w; x += step {
		add(x, 0)
		add(x, h-1)
	}
	for y := 0; y < h; y += step {
		add(0, y)
		add(w-1, y)
	}
	if len(border[0]) == 0 {
		return false
	}
	bg := [3]float64{median(border[0]), median(border[1]), median(border[2])}
	n, far := 0, 0
	for y := 0; y < h; y += step {
		for x := 0; x < w; x += step {
			r, g, bl, ok := at(x, y)
			if !ok {
				continue
			}
			n++
			if (math.Abs(r-bg[0]) >= 0.25 || math.Abs(g-bg[1]) >= 0.25 || math.Abs(bl-bg[2]) >= 0.25) &&
				math.Abs(luma(r, g, bl)-luma(bg[0], bg[1], bg[2])) < 0.12 {
				far++
			}
		}
	}
	return n > 0 && far*500 >= n && far >= 4
}
