// orient.go: a JPEG's EXIF orientation (how a camera or phone that stored
// the photo sideways says to turn it), so that a photo is read upright,
// as every viewer shows it, rather than lying on its side.

package loader

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
)

// jpegOrientation returns the EXIF Orientation tag (1 to 8) of a JPEG's
// first APP1 "Exif" segment before its first scan, or 1 (as stored) where
// there is none or it cannot be read: a damaged or absent tag leaves the
// image as it is, as viewers do.
func jpegOrientation(data []byte) int {
	o := 1
	jpegSegments(data, func(m byte, seg []byte) bool {
		if m == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			o = tiffOrientation(seg[6:])
			return false
		}
		return m != 0xda // the first scan: no EXIF after it counts
	})
	return o
}

// tiffOrientation reads tag 0x0112 (Orientation, one SHORT) from the
// first IFD of a TIFF structure (EXIF's): 1 where absent or not 1 to 8.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[ifd:]))
	for i := int64(0); i < count; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		// Type 3 (SHORT), count 1: the value in the entry's first two
		// bytes of its value field.
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) != 1 {
			return 1
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// oriented is img as displayed under EXIF orientation o (2 to 8): each
// pixel read from where the stored image holds it, nothing copied.
type oriented struct {
	img    image.Image
	rgba   image.RGBA64Image // img, where it has RGBA64At (every standard type)
	min    image.Point       // img's bounds' corner
	o      int
	sw, sh int // the stored image's size
}

// orient returns img turned and mirrored as EXIF orientation o says (1:
// as stored; 2: mirrored left to right; 3: turned 180°; 4: mirrored top
// to bottom; 5: mirrored along the diagonal from the top left; 6: turned
// 90° clockwise; 7: mirrored along the other diagonal; 8: turned 90°
// counter-clockwise).
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	rgba, _ := img.(image.RGBA64Image)
	return &oriented{img: img, rgba: rgba, min: b.Min, o: o, sw: b.Dx(), sh: b.Dy()}
}

func (m *oriented) ColorModel() color.Model { return m.img.ColorModel() }

func (m *oriented) Bounds() image.Rectangle {
	if m.o >= 5 {
		return image.Rect(0, 0, m.sh, m.sw)
	}
	return image.Rect(0, 0, m.sw, m.sh)
}

// stored maps a displayed pixel (x, y) to the stored image's.
func (m *oriented) stored(x, y int) (int, int) {
	w, h := m.sw, m.sh
	switch m.o {
	case 2:
		x = w - 1 - x
	case 3:
		x, y = w-1-x, h-1-y
	case 4:
		y = h - 1 - y
	case 5:
		x, y = y, x
	case 6:
		x, y = y, h-1-x
	case 7:
		x, y = w-1-y, h-1-x
	case 8:
		x, y = w-1-y, x
	}
	return m.min.X + x, m.min.Y + y
}

func (m *oriented) At(x, y int) color.Color { return m.img.At(m.stored(x, y)) }

func (m *oriented) RGBA64At(x, y int) color.RGBA64 {
	sx, sy := m.stored(x, y)
	if m.rgba != nil {
		return m.rgba.RGBA64At(sx, sy)
	}
	r, g, b, a := m.img.At(sx, sy).RGBA()
	return color.RGBA64{uint16(r), uint16(g), uint16(b), uint16(a)}
}
