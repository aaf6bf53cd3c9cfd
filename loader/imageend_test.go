// imageend_test.go: finding where an image ends, and refusing a file (or
// standard input) that holds two images one after the other.

package loader

import (
	"bytes"
	"encoding/binary"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

// withSegment returns jpg with a segment of the given marker (E1: APP1,
// E2: APP2) holding payload inserted after its SOI. An APP1 segment
// holding "Exif" and a whole JPEG is an EXIF thumbnail (its EOI must not
// be taken for the image's); an APP2 segment starting "MPF" marks a
// multi-picture file, as cameras write with a preview and phones with an
// HDR gain map after the photo.
func withSegment(jpg []byte, marker byte, payload []byte) []byte {
	var out bytes.Buffer
	out.Write(jpg[:2])
	out.Write([]byte{0xff, marker})
	binary.Write(&out, binary.BigEndian, uint16(len(payload)+2))
	out.Write(payload)
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
		{"jpeg with a thumbnail", "jpeg", withSegment(jpg, 0xe1, append([]byte("Exif\x00\x00"), enc(t, small, "jpeg")...))},
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
		// Two bytes that only look like a JPEG's start are no image.
		if _, err := DecodeDigit(append(bytes.Clone(c.data), 0xff, 0xd8, 'x', 'y')); err != nil {
			t.Errorf("%s with trailing FF D8: %v", c.name, err)
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
	// A multi-picture JPEG is one file: not refused. Another APP2
	// segment (a colour profile) does not make it one.
	if _, err := DecodeDigit(append(withSegment(jpg, 0xe2, []byte("MPF\x00MM\x00\x2a")), enc(t, small, "jpeg")...)); err != nil {
		t.Errorf("a multi-picture JPEG: %v", err)
	}
	if _, err := DecodeDigit(append(withSegment(jpg, 0xe2, []byte("ICC_PROFILE\x00\x01\x01")), enc(t, small, "jpeg")...)); err == nil {
		t.Error("a JPEG with a colour profile, then another JPEG: accepted")
	}
	// A container photo (a phone's portrait photo: its depth map
	// appended, listed in its XMP) is one file too; XMP that lists no
	// container does not make it one.
	xmp := func(body string) []byte {
		return []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF><rdf:Description " + body + "/></rdf:RDF></x:xmpmeta>")
	}
	container := xmp(`xmlns:Container="http://ns.google.com/photos/1.0/container/" xmlns:Item="http://ns.google.com/photos/1.0/container/item/"`)
	if _, err := DecodeDigit(append(withSegment(jpg, 0xe1, container), enc(t, small, "jpeg")...)); err != nil {
		t.Errorf("a container JPEG with its depth map: %v", err)
	}
	if _, err := DecodeDigit(append(withSegment(jpg, 0xe1, xmp(`xmlns:dc="http://purl.org/dc/elements/1.1/"`)), enc(t, small, "jpeg")...)); err == nil {
		t.Error("a JPEG with XMP listing no container, then another JPEG: accepted")
	}
	// A segment length too short for its own field is no end, and no panic.
	for _, n := range []byte{0, 1} {
		if end, ok := imageEnd("jpeg", []byte{0xff, 0xd8, 0xff, 0xe1, 0, n, 0xff, 0xd9}); ok && end != 8 {
			t.Errorf("APP1 of length %d: end %d", n, end)
		}
	}
}

// FuzzImageEnd: imageEnd neither panics nor returns an end outside the
// data, whatever the bytes and the format they are taken for.
func FuzzImageEnd(f *testing.F) {
	img := drawSeven(30, 20, color.Black, color.White)
	for _, format := range []string{"png", "jpeg", "gif"} {
		var b bytes.Buffer
		switch format {
		case "png":
			png.Encode(&b, img)
		case "jpeg":
			jpeg.Encode(&b, img, nil)
		case "gif":
			gif.Encode(&b, img, nil)
		}
		f.Add(format, b.Bytes())
	}
	// APP1 segments whose length is shorter than the length field itself.
	f.Add("jpeg", []byte{0xff, 0xd8, 0xff, 0xe1, 0, 0, 0xff, 0xd9})
	f.Add("jpeg", []byte{0xff, 0xd8, 0xff, 0xe1, 0, 1, 0xff, 0xd9})
	f.Fuzz(func(t *testing.T, format string, data []byte) {
		for _, as := range []string{"png", "jpeg", "gif", format} {
			if end, ok := imageEnd(as, data); ok && (end < 0 || end > len(data)) {
				t.Fatalf("as %s: end %d of %d bytes", as, end, len(data))
			}
		}
	})
}
