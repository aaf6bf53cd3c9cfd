// png.go: the figures' PNG encoding, small enough to commit: a line chart
// is a few colours (white, grey grid, black text, the curves' ten) and
// their anti-aliased edges, so where the 256 commonest colours cover
// nearly every pixel the image is written with that palette (the rest
// mapped to the nearest of them: edge pixels) at best compression, about
// a third of the RGBA file; an image with many colours in large areas (a
// heat map's cells under their text) stays RGBA.

package tune

import (
	"bytes"
	"cmp"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"slices"

	"github.com/cnngpu/cnngpu/internal/fileutil"
)

// paletteCover is the share of pixels the 256 commonest colours must hold
// for the palette: line charts measured 97.8–98.9%, a heat map 92%.
const paletteCover = 0.975

// writePNG writes img to path atomically, paletted where it can be
// (paletted).
func writePNG(path string, img image.Image) error {
	var out image.Image = img
	if p := paletted(img); p != nil {
		out = p
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		return fmt.Errorf("drawing %s: %w", path, err)
	}
	return fileutil.WriteAtomic(path, buf.Bytes(), 0o644)
}

// paletted returns img with the palette of its 256 commonest colours, each
// other colour mapped to the nearest of them, or nil when those cover
// less than paletteCover of the pixels.
func paletted(img image.Image) *image.Paletted {
	r := img.Bounds()
	if r.Empty() {
		return nil
	}
	rgba, ok := img.(*image.RGBA)
	if !ok {
		rgba = image.NewRGBA(r)
		draw.Draw(rgba, r, img, r.Min, draw.Src)
	}
	counts := map[color.RGBA]int{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := rgba.Pix[rgba.PixOffset(r.Min.X, y):]
		for x := 0; x < r.Dx(); x++ {
			counts[color.RGBA{row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]}]++
		}
	}
	type kv struct {
		c color.RGBA
		n int
	}
	all := make([]kv, 0, len(counts))
	for c, n := range counts {
		all = append(all, kv{c, n})
	}
	// Commonest first; ties by colour, so that the file does not depend
	// on map order.
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(uint32(a.c.R)<<24|uint32(a.c.G)<<16|uint32(a.c.B)<<8|uint32(a.c.A),
			uint32(b.c.R)<<24|uint32(b.c.G)<<16|uint32(b.c.B)<<8|uint32(b.c.A))
	})
	pal := make(color.Palette, 0, 256)
	covered := 0
	for _, e := range all[:min(256, len(all))] {
		pal = append(pal, e.c)
		covered += e.n
	}
	if float64(covered) < paletteCover*float64(r.Dx()*r.Dy()) {
		return nil
	}
	index := make(map[color.RGBA]uint8, len(counts))
	for i, c := range pal {
		index[c.(color.RGBA)] = uint8(i)
	}
	p := image.NewPaletted(r, pal)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := rgba.Pix[rgba.PixOffset(r.Min.X, y):]
		for x := 0; x < r.Dx(); x++ {
			c := color.RGBA{row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]}
			i, ok := index[c]
			if !ok {
				i = uint8(pal.Index(c))
				index[c] = i
			}
			p.Pix[p.PixOffset(r.Min.X+x, y)] = i
		}
	}
	return p
}
