// imagecorpus writes a synthetic corpus of MNIST test digits as phones,
// scanners and drawing tools give them (25 families: paper of every
// shade, white ink on grey, chalk, light across the sheet, a lamp, a
// shadow, a camera's noise, JPEG, blur, thick strokes, and all at once)
// and of non-digits that predict should refuse (blank sheets under each
// light, taps, dashes, noise, smudges), with a manifest of each file's
// family and label, for comparing how two builds of cnngpu prepare
// images: scripts/image-corpus.sh runs it and both builds.
//
// Usage: go run ./scripts/imagecorpus DIR (DIR/corpus and DIR/manifest.tsv;
// MNIST's test set from the cache, as cnngpu data fetch leaves it).
package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cnngpu/cnngpu/loader"
)

// N is the number of MNIST test digits, the first of each class in turn.
const N = 150

var (
	mnistImgs   []byte // 28x28 each, ink bright
	mnistLabels []byte
)

func load() {
	dir, err := loader.CacheDir()
	if err != nil {
		fail(err)
	}
	set, err := loader.LoadTestDir(dir)
	if err != nil {
		fail(fmt.Errorf("%v (cnngpu data fetch gets it)", err))
	}
	mnistImgs, mnistLabels = set.Images.Pixels, set.Labels
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "imagecorpus:", err)
	os.Exit(1)
}

func digit(i int) ([]float64, int) {
	m := make([]float64, 784)
	for k := 0; k < 784; k++ {
		m[k] = float64(mnistImgs[i*784+k]) / 255
	}
	return m, int(mnistLabels[i])
}

// choose: first 15 test images of each class.
func choose() []int {
	var out []int
	cnt := make([]int, 10)
	for i := 0; i < len(mnistLabels) && len(out) < N; i++ {
		l := int(mnistLabels[i])
		if cnt[l] < 15 {
			cnt[l]++
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out
}

// bilinear upscale of a 28x28 mask to SxS.
func upscale(m []float64, S int) []float64 {
	out := make([]float64, S*S)
	sc := 28.0 / float64(S)
	at := func(x, y int) float64 {
		if x < 0 {
			x = 0
		}
		if y < 0 {
			y = 0
		}
		if x > 27 {
			x = 27
		}
		if y > 27 {
			y = 27
		}
		return m[y*28+x]
	}
	for y := 0; y < S; y++ {
		fy := (float64(y)+0.5)*sc - 0.5
		y0 := int(math.Floor(fy))
		wy := fy - float64(y0)
		for x := 0; x < S; x++ {
			fx := (float64(x)+0.5)*sc - 0.5
			x0 := int(math.Floor(fx))
			wx := fx - float64(x0)
			v := at(x0, y0)*(1-wx)*(1-wy) + at(x0+1, y0)*wx*(1-wy) + at(x0, y0+1)*(1-wx)*wy + at(x0+1, y0+1)*wx*wy
			out[y*S+x] = v
		}
	}
	return out
}

// threshold with a 1-px antialiased edge, then dilate by r (disc).
func strokes(m []float64, S int, thr float64, r int) []float64 {
	b := make([]bool, S*S)
	for i, v := range m {
		b[i] = v >= thr
	}
	if r > 0 {
		nb := make([]bool, S*S)
		for y := 0; y < S; y++ {
			for x := 0; x < S; x++ {
				if !b[y*S+x] {
					continue
				}
				for dy := -r; dy <= r; dy++ {
					for dx := -r; dx <= r; dx++ {
						if dx*dx+dy*dy > r*r {
							continue
						}
						xx, yy := x+dx, y+dy
						if xx >= 0 && yy >= 0 && xx < S && yy < S {
							nb[yy*S+xx] = true
						}
					}
				}
			}
		}
		b = nb
	}
	out := make([]float64, S*S)
	for i, v := range b {
		if v {
			out[i] = 1
		}
	}
	return blurArr(out, S, S, 0.6)
}

type sheet struct {
	W, H int
	v    []float64 // value 0..255
}

func newSheet(W, H int, bg float64) *sheet {
	s := &sheet{W: W, H: H, v: make([]float64, W*H)}
	for i := range s.v {
		s.v[i] = bg
	}
	return s
}

// paint composites ink of value ink with mask m (SxS) at ox,oy.
func (s *sheet) paint(m []float64, S, ox, oy int, ink float64) {
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			xx, yy := ox+x, oy+y
			if xx < 0 || yy < 0 || xx >= s.W || yy >= s.H {
				continue
			}
			a := m[y*S+x]
			i := yy*s.W + xx
			s.v[i] = s.v[i]*(1-a) + ink*a
		}
	}
}

func blurArr(v []float64, W, H int, sigma float64) []float64 {
	if sigma <= 0 {
		return v
	}
	r := int(math.Ceil(sigma * 3))
	k := make([]float64, 2*r+1)
	sum := 0.0
	for i := -r; i <= r; i++ {
		k[i+r] = math.Exp(-float64(i*i) / (2 * sigma * sigma))
		sum += k[i+r]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float64, W*H)
	out := make([]float64, W*H)
	cl := func(a, n int) int {
		if a < 0 {
			return 0
		}
		if a >= n {
			return n - 1
		}
		return a
	}
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			s := 0.0
			for i := -r; i <= r; i++ {
				s += k[i+r] * v[y*W+cl(x+i, W)]
			}
			tmp[y*W+x] = s
		}
	}
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			s := 0.0
			for i := -r; i <= r; i++ {
				s += k[i+r] * tmp[cl(y+i, H)*W+x]
			}
			out[y*W+x] = s
		}
	}
	return out
}

func (s *sheet) blur(sigma float64) { s.v = blurArr(s.v, s.W, s.H, sigma) }

// illumination multiplier fields
func (s *sheet) mul(f func(x, y float64) float64) {
	for y := 0; y < s.H; y++ {
		for x := 0; x < s.W; x++ {
			s.v[y*s.W+x] *= f(float64(x)/float64(s.W-1), float64(y)/float64(s.H-1))
		}
	}
}

// gradient: paper darker by delta levels (relative to paper) at one side.
func (s *sheet) gradient(r *rand.Rand, paper, delta float64) string {
	dir := r.IntN(6)
	k := delta / paper
	names := []string{"L>R", "R>L", "T>B", "B>T", "diagTL", "diagBR"}
	s.mul(func(x, y float64) float64 { return 1 - k*toward(dir, x, y) })
	return names[dir]
}

// toward is how far (0 to 1) the point (x, y) of the unit square lies
// from side 0 left, 1 right, 2 top, 3 bottom, 4 the top left corner's
// diagonal, 5 the bottom right's.
func toward(side int, x, y float64) float64 {
	switch side {
	case 0:
		return x
	case 1:
		return 1 - x
	case 2:
		return y
	case 3:
		return 1 - y
	case 4:
		return (x + y) / 2
	}
	return 1 - (x+y)/2
}

func (s *sheet) vignette(paper, delta float64) {
	k := delta / paper
	s.mul(func(x, y float64) float64 {
		dx, dy := x-0.5, y-0.5
		r2 := (dx*dx + dy*dy) / 0.5 // 1 at corners
		return 1 - k*r2
	})
}

// shadow: a fraction frac of the sheet from one side darker by delta, soft edge of a few px.
func (s *sheet) shadow(r *rand.Rand, paper, delta, frac float64) string {
	side := r.IntN(4)
	k := delta / paper
	soft := 4.0 / float64(s.W)
	names := []string{"left", "right", "top", "bottom"}
	s.mul(func(x, y float64) float64 {
		// inside shadow where t < frac
		a := 0.5 - (toward(side, x, y)-frac)/soft
		if a < 0 {
			a = 0
		}
		if a > 1 {
			a = 1
		}
		return 1 - k*a
	})
	return names[side]
}

func (s *sheet) noise(r *rand.Rand, sigma float64) {
	for i := range s.v {
		s.v[i] += r.NormFloat64() * sigma
	}
}

type enc struct {
	jpegQ int
	tint  bool
}

func (s *sheet) write(path string, e enc) {
	img := image.NewRGBA(image.Rect(0, 0, s.W, s.H))
	c8 := func(v float64) uint8 {
		v = math.Round(v)
		if v < 0 {
			return 0
		}
		if v > 255 {
			return 255
		}
		return uint8(v)
	}
	for y := 0; y < s.H; y++ {
		for x := 0; x < s.W; x++ {
			v := s.v[y*s.W+x]
			rr, gg, bb := v, v, v
			if e.tint {
				rr, gg, bb = v*1.04, v*1.0, v*0.92
			}
			img.SetRGBA(x, y, color.RGBA{c8(rr), c8(gg), c8(bb), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		fail(err)
	}
	w := bufio.NewWriter(f)
	if e.jpegQ > 0 {
		err = jpeg.Encode(w, img, &jpeg.Options{Quality: e.jpegQ})
	} else {
		err = png.Encode(w, img)
	}
	if err != nil {
		fail(err)
	}
	w.Flush()
	f.Close()
}

func rng(fam string, k int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", fam, k)
	return rand.New(rand.NewPCG(h.Sum64(), 12345))
}

func uni(r *rand.Rand, a, b float64) float64 { return a + r.Float64()*(b-a) }

// spec of a digit variant
type spec struct {
	paper, ink  float64
	sizeMin     int
	sizeMax     int
	sheetMin    int
	sheetMax    int
	draw        bool // 280x280 drawing page
	thick       bool
	chalk       bool
	gradDelta   [2]float64
	vigDelta    [2]float64
	shadowDelta [2]float64
	noise       [2]float64
	jpeg        [2]int
	blur        [2]float64
	tint        bool
}

var manifest *os.File

func place(r *rand.Rand, W, H, S int, centre bool) (int, int) {
	if centre || W-S < 8 || H-S < 8 {
		return (W - S) / 2, (H - S) / 2
	}
	// off-centre: somewhere in the sheet with the box inside, at least 25% of the free room away from centre
	for {
		ox := r.IntN(W - S + 1)
		oy := r.IntN(H - S + 1)
		dx := math.Abs(float64(ox)-float64(W-S)/2) / math.Max(1, float64(W-S)/2)
		dy := math.Abs(float64(oy)-float64(H-S)/2) / math.Max(1, float64(H-S)/2)
		if math.Max(dx, dy) >= 0.5 {
			return ox, oy
		}
	}
}

func makeDigit(fam string, k, idx int, sp spec, desc string, r *rand.Rand, out string) {
	m, label := digit(idx)
	centre := k%2 == 0
	var s *sheet
	var S, W, H int
	if sp.draw {
		W, H = 280, 280
		S = sp.sizeMin + r.IntN(sp.sizeMax-sp.sizeMin+1)
		mm := upscale(m, S)
		rad := 0
		if sp.thick {
			rad = int(math.Round((22 - float64(S)*0.09) / 2)) // ~20-22px brush strokes on a smaller digit
		}
		mm = strokes(mm, S, 0.5, rad)
		s = newSheet(W, H, 255)
		ox, oy := place(r, W, H, S, centre)
		if S >= 270 {
			ox, oy = (W-S)/2, (H-S)/2
		}
		s.paint(mm, S, ox, oy, 0)
		desc += fmt.Sprintf(" box=%d at=%d,%d", S, ox, oy)
	} else {
		S = sp.sizeMin + r.IntN(sp.sizeMax-sp.sizeMin+1)
		W = sp.sheetMin + r.IntN(sp.sheetMax-sp.sheetMin+1)
		H = sp.sheetMin + r.IntN(sp.sheetMax-sp.sheetMin+1)
		if W < S+20 {
			W = S + 20
		}
		if H < S+20 {
			H = S + 20
		}
		mm := upscale(m, S)
		if sp.chalk {
			// spotty chalk: per-pixel coverage 0.45..1 smoothed
			tex := make([]float64, S*S)
			for i := range tex {
				tex[i] = uni(r, 0.3, 1.0)
			}
			tex = blurArr(tex, S, S, 1.0)
			for i := range mm {
				mm[i] *= tex[i]
			}
		}
		s = newSheet(W, H, sp.paper)
		ox, oy := place(r, W, H, S, centre)
		s.paint(mm, S, ox, oy, sp.ink)
		desc += fmt.Sprintf(" S=%d sheet=%dx%d at=%d,%d", S, W, H, ox, oy)
	}
	applyEffects(s, sp, r, &desc)
	ext := ".png"
	if sp.jpeg[0] > 0 {
		ext = ".jpg"
	}
	pos := "centre"
	if !centre {
		pos = "off"
	}
	name := fmt.Sprintf("%03d_i%04d_l%d%s", k, idx, label, ext)
	path := filepath.Join(out, fam, name)
	q := 0
	if sp.jpeg[0] > 0 {
		q = sp.jpeg[0] + r.IntN(sp.jpeg[1]-sp.jpeg[0]+1)
		desc += fmt.Sprintf(" jpegQ=%d", q)
	}
	s.write(path, enc{jpegQ: q, tint: sp.tint})
	fmt.Fprintf(manifest, "%s\t%s\t%d\t%s\t%s\n", path, fam, label, pos, strings.TrimSpace(desc))
}

func applyEffects(s *sheet, sp spec, r *rand.Rand, desc *string) {
	if sp.gradDelta[1] > 0 {
		d := uni(r, sp.gradDelta[0], sp.gradDelta[1])
		dir := s.gradient(r, sp.paper, d)
		*desc += fmt.Sprintf(" grad=%.0f %s", d, dir)
	}
	if sp.vigDelta[1] > 0 {
		d := uni(r, sp.vigDelta[0], sp.vigDelta[1])
		s.vignette(sp.paper, d)
		*desc += fmt.Sprintf(" vignette=%.0f", d)
	}
	if sp.shadowDelta[1] > 0 {
		d := uni(r, sp.shadowDelta[0], sp.shadowDelta[1])
		frac := uni(r, 1.0/6, 0.5)
		side := s.shadow(r, sp.paper, d, frac)
		*desc += fmt.Sprintf(" shadow=%.0f frac=%.2f %s", d, frac, side)
	}
	if sp.blur[1] > 0 {
		b := uni(r, sp.blur[0], sp.blur[1])
		s.blur(b)
		*desc += fmt.Sprintf(" blur=%.1f", b)
	}
	if sp.noise[1] > 0 {
		n := uni(r, sp.noise[0], sp.noise[1])
		s.noise(r, n)
		*desc += fmt.Sprintf(" noise=%.1f", n)
	}
}

func base() spec {
	return spec{sizeMin: 100, sizeMax: 200, sheetMin: 300, sheetMax: 640}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/imagecorpus DIR")
		os.Exit(2)
	}
	load()
	out := filepath.Join(os.Args[1], "corpus")
	os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		fail(err)
	}
	var err error
	manifest, err = os.Create(filepath.Join(os.Args[1], "manifest.tsv"))
	if err != nil {
		fail(err)
	}
	defer manifest.Close()
	idxs := choose()

	type F struct {
		name string
		mk   func(r *rand.Rand) (spec, string)
	}
	darkOn := func(paperLo, paperHi, fLo, fHi float64) func(r *rand.Rand) (spec, string) {
		return func(r *rand.Rand) (spec, string) {
			sp := base()
			sp.paper = uni(r, paperLo, paperHi)
			f := uni(r, fLo, fHi)
			sp.ink = sp.paper * (1 - f)
			return sp, fmt.Sprintf("paper=%.0f ink=%.0f (f=%.2f)", sp.paper, sp.ink, f)
		}
	}
	with := func(g func(r *rand.Rand) (spec, string), mod func(sp *spec)) func(r *rand.Rand) (spec, string) {
		return func(r *rand.Rand) (spec, string) {
			sp, d := g(r)
			mod(&sp)
			return sp, d
		}
	}
	white := func(r *rand.Rand) (spec, string) {
		sp := base()
		sp.paper = uni(r, 220, 255)
		sp.ink = uni(r, 0, 40)
		return sp, fmt.Sprintf("paper=%.0f ink=%.0f", sp.paper, sp.ink)
	}
	photoWhite := func(r *rand.Rand) (spec, string) { // paper a bit below white so lighting fits
		sp := base()
		sp.paper = uni(r, 195, 245)
		sp.ink = uni(r, 10, 50)
		return sp, fmt.Sprintf("paper=%.0f ink=%.0f", sp.paper, sp.ink)
	}
	fams := []F{
		{"white", white},
		{"grey60_faint", darkOn(60, 60, 0.1, 0.4)},
		{"grey60_firm", darkOn(60, 60, 0.4, 0.8)},
		{"grey100_faint", darkOn(100, 100, 0.1, 0.4)},
		{"grey100_firm", darkOn(100, 100, 0.4, 0.8)},
		{"grey140_faint", darkOn(140, 140, 0.1, 0.4)},
		{"grey140_firm", darkOn(140, 140, 0.4, 0.8)},
		{"grey200_faint", darkOn(200, 200, 0.1, 0.4)},
		{"grey200_firm", darkOn(200, 200, 0.4, 0.8)},
		{"white_on_black", func(r *rand.Rand) (spec, string) {
			sp := base()
			sp.paper = uni(r, 0, 25)
			sp.ink = uni(r, 200, 255)
			return sp, fmt.Sprintf("bg=%.0f ink=%.0f", sp.paper, sp.ink)
		}},
		{"white_on_grey", func(r *rand.Rand) (spec, string) {
			sp := base()
			sp.paper = uni(r, 128, 200)
			sp.ink = uni(r, 235, 255)
			return sp, fmt.Sprintf("bg=%.0f ink=%.0f", sp.paper, sp.ink)
		}},
		{"chalk", func(r *rand.Rand) (spec, string) {
			sp := base()
			sp.chalk = true
			sp.paper = uni(r, 25, 60)
			sp.ink = sp.paper + uni(r, 40, 100)
			sp.noise = [2]float64{3, 6}
			sp.blur = [2]float64{0.5, 1.0}
			return sp, fmt.Sprintf("board=%.0f chalk=%.0f", sp.paper, sp.ink)
		}},
		{"gradient", with(photoWhite, func(sp *spec) { sp.gradDelta = [2]float64{20, 60} })},
		{"gradient_dim", with(darkOn(100, 160, 0.45, 0.8), func(sp *spec) { sp.gradDelta = [2]float64{20, 50} })},
		{"vignette", with(photoWhite, func(sp *spec) { sp.vigDelta = [2]float64{30, 80} })},
		{"shadow", with(photoWhite, func(sp *spec) { sp.shadowDelta = [2]float64{20, 40} })},
		{"shadow_dim", with(darkOn(110, 160, 0.45, 0.8), func(sp *spec) { sp.shadowDelta = [2]float64{20, 40} })},
		{"noise", with(photoWhite, func(sp *spec) { sp.noise = [2]float64{3, 15} })},
		{"noise_dim", with(darkOn(90, 140, 0.45, 0.8), func(sp *spec) { sp.noise = [2]float64{3, 10} })},
		{"jpeg", with(photoWhite, func(sp *spec) { sp.jpeg = [2]int{50, 90} })},
		{"jpeg_dim", with(darkOn(90, 160, 0.3, 0.8), func(sp *spec) { sp.jpeg = [2]int{50, 90} })},
		{"blur", with(photoWhite, func(sp *spec) { sp.blur = [2]float64{1, 3} })},
		{"draw_page", func(r *rand.Rand) (spec, string) {
			sp := base()
			sp.draw = true
			sp.sizeMin, sp.sizeMax = 200, 280
			return sp, "drawing page 280x280"
		}},
		{"draw_thick", func(r *rand.Rand) (spec, string) {
			sp := base()
			sp.draw = true
			sp.thick = true
			sp.sizeMin, sp.sizeMax = 110, 190
			return sp, "drawing page thick 280x280"
		}},
		{"phone", func(r *rand.Rand) (spec, string) {
			sp, d := darkOn(130, 230, 0.55, 0.85)(r)
			sp.gradDelta = [2]float64{15, 40}
			sp.noise = [2]float64{3, 8}
			sp.blur = [2]float64{0.5, 1.2}
			sp.jpeg = [2]int{70, 90}
			sp.tint = true
			return sp, d
		}},
	}
	for _, f := range fams {
		os.MkdirAll(filepath.Join(out, f.name), 0o755)
		for k, idx := range idxs {
			r := rng(f.name, k)
			sp, d := f.mk(r)
			makeDigit(f.name, k, idx, sp, d, r, out)
		}
	}
	nonDigits(out)
}

const NN = 25

func nd(fam string, k int, s *sheet, desc string, q int, out string) {
	ext := ".png"
	if q > 0 {
		ext = ".jpg"
		desc += fmt.Sprintf(" jpegQ=%d", q)
	}
	path := filepath.Join(out, fam, fmt.Sprintf("%03d%s", k, ext))
	s.write(path, enc{jpegQ: q})
	fmt.Fprintf(manifest, "%s\t%s\t-1\t-\t%s\n", path, fam, strings.TrimSpace(desc))
}

func randSheet(r *rand.Rand) (int, int) {
	return 300 + r.IntN(341), 300 + r.IntN(341)
}

func maybeNoiseJpeg(r *rand.Rand, s *sheet, desc *string) int {
	if r.IntN(2) == 0 {
		n := uni(r, 2, 8)
		s.noise(r, n)
		*desc += fmt.Sprintf(" noise=%.1f", n)
	}
	if r.IntN(2) == 0 {
		return 60 + r.IntN(31)
	}
	return 0
}

func nonDigits(out string) {
	mk := func(fam string, g func(r *rand.Rand, k int) (*sheet, string, int)) {
		os.MkdirAll(filepath.Join(out, fam), 0o755)
		for k := 0; k < NN; k++ {
			r := rng(fam, k)
			s, d, q := g(r, k)
			nd(fam, k, s, d, q, out)
		}
	}
	// blank is a blank sheet of a random size at the level level draws
	// (what: "paper" or "board"), lit as light says (its description;
	// nil: evenly), with maybeNoiseJpeg's noise or JPEG.
	blank := func(r *rand.Rand, what string, level func() float64, light func(s *sheet, p float64) string) (*sheet, string, int) {
		W, H := randSheet(r)
		p := level()
		s := newSheet(W, H, p)
		d := fmt.Sprintf("%s=%.0f", what, p)
		if light != nil {
			d += " " + light(s, p)
		}
		return s, d, maybeNoiseJpeg(r, s, &d)
	}
	mk("X_blank_white", func(r *rand.Rand, k int) (*sheet, string, int) {
		return blank(r, "paper", func() float64 { return uni(r, 200, 255) }, nil)
	})
	mk("X_blank_dim", func(r *rand.Rand, k int) (*sheet, string, int) {
		return blank(r, "paper", func() float64 { return []float64{60, 100, 140}[k%3] }, nil)
	})
	mk("X_blank_black", func(r *rand.Rand, k int) (*sheet, string, int) {
		return blank(r, "board", func() float64 { return uni(r, 0, 50) }, nil)
	})
	mk("X_blank_gradient", func(r *rand.Rand, k int) (*sheet, string, int) {
		return blank(r, "paper", func() float64 { return uni(r, 120, 245) }, func(s *sheet, p float64) string {
			dd := uni(r, 20, 60)
			return fmt.Sprintf("grad=%.0f %s", dd, s.gradient(r, p, dd))
		})
	})
	mk("X_blank_vignette", func(r *rand.Rand, k int) (*sheet, string, int) {
		return blank(r, "paper", func() float64 { return uni(r, 150, 245) }, func(s *sheet, p float64) string {
			dd := uni(r, 30, 80)
			s.vignette(p, dd)
			return fmt.Sprintf("vignette=%.0f", dd)
		})
	})
	mk("X_blank_shadow", func(r *rand.Rand, k int) (*sheet, string, int) {
		return blank(r, "paper", func() float64 { return uni(r, 120, 245) }, func(s *sheet, p float64) string {
			dd := uni(r, 20, 40)
			fr := uni(r, 1.0/6, 0.5)
			return fmt.Sprintf("shadow=%.0f frac=%.2f %s", dd, fr, s.shadow(r, p, dd, fr))
		})
	})
	// stamp inks the pixels of s within rad of a shape (dist: a pixel
	// centre's distance from it), their edges antialiased.
	stamp := func(s *sheet, rad, ink float64, dist func(px, py float64) float64) {
		for y := 0; y < s.H; y++ {
			for x := 0; x < s.W; x++ {
				a := rad + 0.5 - dist(float64(x)+0.5, float64(y)+0.5)
				if a <= 0 {
					continue
				}
				if a > 1 {
					a = 1
				}
				i := y*s.W + x
				s.v[i] = s.v[i]*(1-a) + ink*a
			}
		}
	}
	disc := func(s *sheet, cx, cy, rad, ink float64) {
		stamp(s, rad, ink, func(px, py float64) float64 { return math.Hypot(px-cx, py-cy) })
	}
	mk("X_dot", func(r *rand.Rand, k int) (*sheet, string, int) {
		if k%2 == 0 { // tap on the drawing page
			s := newSheet(280, 280, 255)
			cx, cy := uni(r, 40, 240), uni(r, 40, 240)
			disc(s, cx, cy, 10, 0)
			return s, fmt.Sprintf("drawpage tap at %.0f,%.0f", cx, cy), 0
		}
		W, H := randSheet(r)
		p := uni(r, 180, 250)
		s := newSheet(W, H, p)
		rad := uni(r, 2.5, 8)
		cx, cy := uni(r, 50, float64(W-50)), uni(r, 50, float64(H-50))
		disc(s, cx, cy, rad, uni(r, 0, 50))
		d := fmt.Sprintf("paper=%.0f dot r=%.1f", p, rad)
		return s, d, maybeNoiseJpeg(r, s, &d)
	})
	capsule := func(s *sheet, x0, y0, x1, y1, rad, ink float64) {
		vx, vy := x1-x0, y1-y0
		stamp(s, rad, ink, func(px, py float64) float64 {
			t := ((px-x0)*vx + (py-y0)*vy) / (vx*vx + vy*vy)
			t = math.Max(0, math.Min(1, t))
			return math.Hypot(px-(x0+t*vx), py-(y0+t*vy))
		})
	}
	mk("X_dash", func(r *rand.Rand, k int) (*sheet, string, int) {
		if k%2 == 0 { // short stroke on the drawing page
			s := newSheet(280, 280, 255)
			L := uni(r, 15, 50)
			ang := uni(r, -0.3, 0.3)
			cx, cy := uni(r, 60, 220), uni(r, 60, 220)
			capsule(s, cx-L/2*math.Cos(ang), cy-L/2*math.Sin(ang), cx+L/2*math.Cos(ang), cy+L/2*math.Sin(ang), 10, 0)
			return s, fmt.Sprintf("drawpage dash L=%.0f", L), 0
		}
		W, H := randSheet(r)
		p := uni(r, 180, 250)
		s := newSheet(W, H, p)
		L := uni(r, 30, 90)
		rad := uni(r, 3, 8)
		ang := uni(r, -0.3, 0.3)
		cx, cy := float64(W)/2+uni(r, -80, 80), float64(H)/2+uni(r, -80, 80)
		capsule(s, cx-L/2*math.Cos(ang), cy-L/2*math.Sin(ang), cx+L/2*math.Cos(ang), cy+L/2*math.Sin(ang), rad, uni(r, 0, 50))
		d := fmt.Sprintf("paper=%.0f dash L=%.0f r=%.1f", p, L, rad)
		return s, d, maybeNoiseJpeg(r, s, &d)
	})
	mk("X_noise", func(r *rand.Rand, k int) (*sheet, string, int) {
		W, H := randSheet(r)
		m := uni(r, 60, 200)
		sg := uni(r, 15, 60)
		s := newSheet(W, H, m)
		s.noise(r, sg)
		d := fmt.Sprintf("mean=%.0f sigma=%.0f", m, sg)
		if k%3 == 0 {
			s.blur(1.0)
			d += " blur=1"
		}
		q := 0
		if k%2 == 1 {
			q = 70
		}
		return s, d, q
	})
	mk("X_smudge", func(r *rand.Rand, k int) (*sheet, string, int) {
		W, H := randSheet(r)
		p := uni(r, 170, 245)
		s := newSheet(W, H, p)
		rad := uni(r, 20, 70)
		depth := uni(r, 15, 45)
		cx, cy := float64(W)/2+uni(r, -60, 60), float64(H)/2+uni(r, -60, 60)
		ex := uni(r, 0.6, 1.6)
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				dx, dy := (float64(x)-cx)/(rad*ex), (float64(y)-cy)/rad
				s.v[y*W+x] -= depth * math.Exp(-(dx*dx+dy*dy)/2)
			}
		}
		d := fmt.Sprintf("paper=%.0f smudge r=%.0f depth=%.0f", p, rad, depth)
		return s, d, maybeNoiseJpeg(r, s, &d)
	})
}
