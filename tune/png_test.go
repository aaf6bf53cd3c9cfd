// png_test.go: the figures' encoding: a chart of few colours is written
// paletted, pixel for pixel where its colours are in the palette and to
// the nearest elsewhere, smaller than RGBA; an image of many colours stays
// RGBA, exact.

package tune

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chart draws a white image with a grey grid and four coloured diagonal
// lines, anti-aliased by a blend at their edges (rare colours), plus
// extra: that many pixels of distinct noise colours.
func chart(w, h, extra int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	grey := color.RGBA{200, 200, 200, 255}
	for x := 0; x < w; x += 40 {
		for y := 0; y < h; y++ {
			img.SetRGBA(x, y, grey)
		}
	}
	cols := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}}
	for k, c := range cols {
		for x := 0; x < w; x++ {
			y := (x*(k+1)/3 + 10*k) % h
			img.SetRGBA(x, y, c)
			// Edge: a blend whose shade depends on x (many rare colours).
			f := uint8(x % 97)
			img.SetRGBA(x, (y+1)%h, color.RGBA{c.R/2 + 127 - f/4, c.G/2 + 127 - f/4, c.B/2 + 127 - f/4, 255})
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range extra {
		img.SetRGBA(r.IntN(w), r.IntN(h), color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
	}
	return img
}

// writeRead writes src with writePNG and returns the file and its image.
func writeRead(t *testing.T, src image.Image) ([]byte, image.Image) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "figure.png")
	if err := writePNG(path, src); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return b, got
}

func TestWritePNGPaletted(t *testing.T) {
	src := chart(600, 300, 1000) // 0.6% of the pixels rare colours
	b, got := writeRead(t, src)
	p, ok := got.(*image.Paletted)
	if !ok {
		t.Fatalf("a chart of few colours was written as %T, want paletted", got)
	}
	inPalette := map[color.RGBA]bool{}
	for _, c := range p.Palette {
		inPalette[color.RGBAModel.Convert(c).(color.RGBA)] = true
	}
	mapped := 0
	for y := 0; y < 300; y++ {
		for x := 0; x < 600; x++ {
			want := src.RGBAAt(x, y)
			g := color.RGBAModel.Convert(got.At(x, y)).(color.RGBA)
			if inPalette[want] {
				if g != want {
					t.Fatalf("pixel (%d,%d): %v, want %v (a palette colour)", x, y, g, want)
				}
				continue
			}
			mapped++
			if !inPalette[g] {
				t.Fatalf("pixel (%d,%d): %v is not in the palette", x, y, g)
			}
		}
	}
	if mapped == 0 {
		t.Error("no pixel was mapped to another colour: the chart does not exercise the mapping")
	}
	var rgba bytes.Buffer
	if err := png.Encode(&rgba, src); err != nil {
		t.Fatal(err)
	}
	if len(b) >= rgba.Len() {
		t.Errorf("paletted file %d bytes, not smaller than the RGBA one's %d", len(b), rgba.Len())
	}
	t.Logf("%d pixels mapped to the nearest palette colour; %d bytes against %d RGBA", mapped, len(b), rgba.Len())
}

func TestWritePNGManyColoursStayRGBA(t *testing.T) {
	src := chart(600, 300, 600*300/10) // a tenth of the pixels distinct colours
	_, got := writeRead(t, src)
	if _, ok := got.(*image.Paletted); ok {
		t.Fatal("an image whose 256 commonest colours cover 90% of it was paletted")
	}
	for y := 0; y < 300; y++ {
		for x := 0; x < 600; x++ {
			if g := color.RGBAModel.Convert(got.At(x, y)).(color.RGBA); g != src.RGBAAt(x, y) {
				t.Fatalf("pixel (%d,%d): %v, want %v", x, y, g, src.RGBAAt(x, y))
			}
		}
	}
}

// TestPalettedEmpty: an empty image gets no palette (the encoder refuses
// an empty one).
func TestPalettedEmpty(t *testing.T) {
	if p := paletted(image.NewRGBA(image.Rect(0, 0, 0, 0))); p != nil {
		t.Errorf("an empty image was given a palette of %d colours", len(p.Palette))
	}
}

// TestPlainTicks: linear axes are labelled at round values ("75", not
// "75.00"; 97.5 and 98, not 97.2 and 98.1), with the decimals the step
// needs, 3 to 7 labels on any range, and none on a degenerate one.
func TestPlainTicks(t *testing.T) {
	labels := func(min, max float64) []string {
		var got []string
		for _, tk := range (plainTicks{}).Ticks(min, max) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		return got
	}
	for _, c := range []struct {
		min, max float64
		want     string
	}{
		{46.2, 100.5, "50 60 70 80 90 100"},
		{97.1, 99.2, "97.5 98.0 98.5 99.0"},
		{-4, 104.5, "0 20 40 60 80 100"},
		{0.3, 9.2, "2 4 6 8"},
		{98.96, 100.04, "99.0 99.2 99.4 99.6 99.8 100.0"},
		{5, 5, ""},
		{98, math.Nextafter(98, 200), ""},
		{math.NaN(), 1, ""},
		{0, math.Inf(1), ""},
	} {
		if got := strings.Join(labels(c.min, c.max), " "); got != c.want {
			t.Errorf("ticks on [%v, %v]: %q, want %q", c.min, c.max, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		min := rng.Float64()*200 - 100
		max := min + math.Pow(10, rng.Float64()*6-3)
		got := labels(min, max)
		if len(got) < 3 || len(got) > 7 {
			t.Fatalf("ticks on [%v, %v]: %q, want 3 to 7 labels", min, max, got)
		}
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				t.Fatalf("ticks on [%v, %v]: %q: a label repeated", min, max, got)
			}
		}
	}
}

// TestFoldBar: a fold chart's ± std bar stays within 0–100%.
func TestFoldBar(t *testing.T) {
	for _, c := range []struct{ mean, std, low, high float64 }{
		{98.83, 0.08, 0.08, 0.08},
		{68.22, 49.36, 49.36, 31.78},
		{39.05, 48.18, 39.05, 48.18},
		{100, 0, 0, 0},
	} {
		if low, high := foldBar(c.mean, c.std); math.Abs(low-c.low) > 1e-9 || math.Abs(high-c.high) > 1e-9 {
			t.Errorf("foldBar(%v, %v) = %v, %v; want %v, %v", c.mean, c.std, low, high, c.low, c.high)
		}
	}
}

// TestHeatScale: the heat map's scale runs from the lowest to the highest
// accuracy of the runs that did not diverge, and spans at least half a
// point (one value, or values a few images apart), within 0–100%.
func TestHeatScale(t *testing.T) {
	res := func(accs ...float64) []Result {
		var rs []Result
		for _, a := range accs {
			rs = append(rs, Result{FinalValAcc: a})
		}
		return rs
	}
	diverged := Result{FinalValAcc: 0.05, Diverged: true}
	for _, c := range []struct {
		name    string
		results []Result
		lo, hi  float64
	}{
		{"a wide range", res(0.0991, 0.9892, 0.5), 0.0991, 0.9892},
		{"one value", res(0.527323), 0.524823, 0.529823},
		{"two a few images apart", res(0.9883, 0.9884), 0.98585, 0.99085},
		{"at the top", res(0.999, 1), 0.995, 1},
		{"at the bottom", res(0, 0.001), 0, 0.005},
		{"a diverged run is left out", append(res(0.2, 0.9), diverged), 0.2, 0.9},
		{"nothing", nil, 0, 1},
	} {
		lo, hi := heatScale(c.results)
		if math.Abs(lo-c.lo) > 1e-12 || math.Abs(hi-c.hi) > 1e-12 {
			t.Errorf("%s: scale %v to %v, want %v to %v", c.name, lo, hi, c.lo, c.hi)
		}
		labels := map[string]bool{}
		for _, tk := range (plainTicks{}).Ticks(lo*100, hi*100) {
			if tk.Label != "" {
				labels[tk.Label] = true
			}
		}
		if len(labels) < 3 {
			t.Errorf("%s: the colour bar from %v to %v gets %d distinct labels", c.name, lo*100, hi*100, len(labels))
		}
	}
}
