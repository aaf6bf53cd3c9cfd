// formats_test.go: image formats other packages register with the image
// package (the plots' libraries bring TIFF's decoder into the binary) are
// refused by DecodeDigit as the formats it knows are: their decoders'
// memory is not what its budget counts.
package loader

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"io"
	"strings"
	"testing"

	"golang.org/x/image/tiff"
)

func TestRegisteredFormatsRefused(t *testing.T) {
	var b bytes.Buffer
	if err := tiff.Encode(&b, drawSeven(50, 50, color.Black, color.White), &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := image.DecodeConfig(bytes.NewReader(b.Bytes())); err != nil {
		t.Fatalf("the test's TIFF does not decode: %v", err)
	}
	_, err := DecodeDigit(b.Bytes())
	var other *OtherKindError
	if !errors.As(err, &other) || !strings.Contains(err.Error(), "a TIFF image, not a PNG, JPEG or GIF image: convert it to PNG or JPEG first") {
		t.Errorf("a TIFF image: %v; want it refused as another kind", err)
	}
	// A format registered that OtherKind does not name.
	image.RegisterFormat("fakefmt", "FAKEFMT", func(io.Reader) (image.Image, error) {
		return drawSeven(50, 50, color.Black, color.White), nil
	}, func(io.Reader) (image.Config, error) {
		return image.Config{ColorModel: color.GrayModel, Width: 50, Height: 50}, nil
	})
	if _, err := DecodeDigit([]byte("FAKEFMT and more")); err == nil || !strings.Contains(err.Error(), "a FAKEFMT image, not a PNG, JPEG or GIF image") {
		t.Errorf("a registered format of its own: %v; want it refused", err)
	}
}
