// frame.go: an image's background level and the polarity of its ink: a
// sheet photographed or screenshotted inside a frame of another shade (a
// dark desk around white paper, a drawing box's border) is taken for what
// is inside the frame, and ink darker than a dim background is taken as
// dark ink, however dim the paper.

package loader

import "math"

// ringLevels is a 256-bin histogram of grey levels (0 black, 255 white).
type ringLevels [256]int

func (r *ringLevels) add(v float64) { r[int(max(0, min(1, v))*255+0.5)]++ }

// median is the histogram's median level in [0,1] (0 for none).
func (r *ringLevels) median() float64 {
	n := 0
	for _, k := range r {
		n += k
	}
	seen := 0
	for i, k := range r {
		if seen += k; 2*seen > n {
			return float64(i) / 255
		}
	}
	return 0
}

// near is the share of the histogram's pixels within tol of level.
func (r *ringLevels) near(level, tol float64) float64 {
	n, in := 0, 0
	for i, k := range r {
		n += k
		if d := float64(i)/255 - level; d <= tol && d >= -tol {
			in += k
		}
	}
	if n == 0 {
		return 0
	}
	return float64(in) / float64(n)
}

// ring is the histogram of the pixels on the boundary of the rectangle d
// pixels in from each side of the w x h grey plane g.
func ring(g []float64, w, h, d int) *ringLevels {
	var r ringLevels
	x0, y0, x1, y1 := d, d, w-1-d, h-1-d
	for x := x0; x <= x1; x++ {
		r.add(g[y0*w+x])
		if y1 != y0 {
			r.add(g[y1*w+x])
		}
	}
	for y := y0 + 1; y < y1; y++ {
		r.add(g[y*w+x0])
		if x1 != x0 {
			r.add(g[y*w+x1])
		}
	}
	return &r
}

// Frame detection's constants: a ring is solid at a level when
// frameSolid of its pixels lie within frameTol of it; a frame and the
// sheet inside it differ by more than frameContrast.
const (
	frameSolid    = 0.9
	frameTol      = 0.15
	frameContrast = 0.4
	// frameInside: the share of the pixels inside the sheet's first ring
	// that lie at its level: a sheet is mostly itself (a digit's strokes,
	// a bold marker's too, cover a fifth of it or less), while a blocky
	// digit's thick strokes cropped tightly (an LCD's 0 or 8), which can
	// make a solid ring, leave holes of the paper's shade: a quarter or
	// more of what they enclose, but for strokes over a fifth of the
	// digit's width.
	frameInside = 0.75
)

// frameDepth returns how many pixels in from each side the sheet inside
// a frame begins (0 for no frame): where the image's outermost rings are
// solid at one level (the frame: a desk, a border) and a ring further in,
// no deeper than a quarter of the shorter side, is solid at a level
// differing from it by more than frameContrast (the sheet), at whose level
// lie frameInside of the pixels inside that ring (the sheet is what the
// inside is mostly made of, the digit's strokes not). At most
// frameBlur(w, h) rings between them may be mixed (a blurred or
// anti-aliased edge): a frame's edge is sharp, while a bold digit cropped
// tightly (a thick 0 filling the image) meets the rings gradually, over
// many rings that are part paper and part stroke, before a ring may lie
// wholly inside its stroke. A sheet lying askew is not a frame of even
// width, and is left to the steps after (clearBands).
func frameDepth(g []float64, w, h int) int {
	if w < 8 || h < 8 {
		return 0
	}
	outer := ring(g, w, h, 0)
	m0 := outer.median()
	if outer.near(m0, frameTol) < frameSolid {
		return 0
	}
	blur, last := frameBlur(w, h), 0 // last: the innermost ring of the frame
	// outside: the rings before d; all: the whole plane, once needed (the
	// inside of ring d is all less outside, a histogram's subtraction).
	outside := *outer
	var all *ringLevels
	for d := 1; d <= min(w, h)/4 && d-last-1 <= blur; d++ {
		r := ring(g, w, h, d)
		if r.near(m0, frameTol) >= frameSolid {
			last = d
		} else if m := r.median(); (m-m0 > frameContrast || m0-m > frameContrast) && r.near(m, frameTol) >= frameSolid {
			if all == nil {
				all = new(ringLevels)
				for _, v := range g {
					all.add(v)
				}
			}
			var inside ringLevels
			for i := range inside {
				inside[i] = all[i] - outside[i]
			}
			if inside.near(m, frameTol) >= frameInside {
				return d
			}
			// Else an edge's line of one shade between frame and
			// sheet, or a stroke: mixed, as are the rings of neither.
		}
		for i, k := range r {
			outside[i] += k
		}
	}
	return 0
}

// frameBlur is how many mixed rings a frame's edge may span in a w x h
// image: 3, or a hundredth of the shorter side in larger images.
func frameBlur(w, h int) int { return max(3, min(w, h)/100) }

// cropFrame moves the part of the w x h plane g inside a frame of depth d
// to the plane's start, row by row (each row lands at or before where it
// was read), and returns the inside's size.
func cropFrame(g []float64, w, h, d int) (int, int) {
	iw, ih := w-2*d, h-2*d
	for y := range ih {
		copy(g[y*iw:(y+1)*iw], g[(y+d)*w+d:(y+d)*w+d+iw])
	}
	return iw, ih
}

// Dark ink on a dim background: a pixel is a strong mark of dark ink when
// it lies at least darkInkShare of the way from the background's level to
// black and darkInkMin below it; a mark of light ink when it lies
// lightInkShare of the way toward white and lightInkMin above it: faint
// chalk's strokes do, while paper lit a little more at its centre than at
// its edges does not.
const (
	darkInkShare  = 0.5
	darkInkMin    = 0.12
	lightInkShare = 0.28
	lightInkMin   = 0.12
	// darkInkMajority: how many times more strong dark marks than light
	// ones make a background at or below one half hold dark ink; and
	// they must be at least a ten-thousandth of the pixels counted (and
	// four), not a few specks.
	darkInkMajority = 5
)

// darkInk reports whether the ink is darker than the w x h image g's
// background bg. Marks are counted in the middle of the image, its outer
// fifth on each side left out (a shadow, a vignette's corners or a ledge
// along an edge lies there, and a digit's strokes cross the middle: a
// digit mostly outside it, near an edge of a photo of dim paper, is not
// found: crop it), and only where a pixel beside one is of its kind too
// (a camera's noise, pixel by pixel, is no mark). A dark mark lies
// darkInkMin below the background, a strong one darkInkShare of the way
// to black too; a light mark lies lightInkMin above it and a share of
// the way to white (lightInkShare on a background at or below one half,
// darkInkShare on paper); a weak light one half of lightInkMin above.
//   - On a background above one half (paper): dark ink, unless there are
//     light marks (not a few specks), no dark ones, and the light ones end
//     sharply (sharpLight: a white digit on grey, not a lamp's light).
//   - At or below one half: dark ink where there are no light marks and
//     the dark ones (not a few specks) outnumber the weak light ones
//     darkInkMajority times (grey ink on dim paper; faint chalk beside a
//     darker smudge is chalk); else where strong dark marks (not a few
//     specks) outnumber the light ones darkInkMajority times, or the
//     light ones do not end sharply (a lamp's light on dim paper, not
//     chalk); else not (a light digit on a dark background, as MNIST's).
func darkInk(g []float64, w, h int, bg float64) bool {
	paper := bg > 0.5
	light := lightInkShare
	if paper {
		light = darkInkShare
	}
	const (
		faintMark = 1 << iota
		darkMark
		lightMark
		weakLightMark
	)
	kind := func(v float64) int {
		if d := bg - v; d >= darkInkMin {
			if d >= darkInkShare*bg {
				return faintMark | darkMark
			}
			return faintMark
		} else if d := v - bg; d >= lightInkMin && d >= light*(1-bg) {
			return lightMark | weakLightMark
		} else if d >= lightInkMin/2 {
			return weakLightMark
		}
		return 0
	}
	// A mark counts where a pixel beside it (in its row or column) is one
	// of its kind too: a stroke's pixels are, a camera sensor's noise,
	// pixel by pixel, is not.
	at := func(x, y int) int {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return kind(g[y*w+x])
	}
	x0, x1, y0, y1 := w/5, w-w/5, h/5, h-h/5
	darker, faint, lighter, weakLight, n := 0, 0, 0, 0, 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			n++
			k := kind(g[y*w+x])
			if k == 0 {
				continue
			}
			k &= at(x-1, y) | at(x+1, y) | at(x, y-1) | at(x, y+1)
			if k&faintMark != 0 {
				faint++
			}
			if k&darkMark != 0 {
				darker++
			}
			if k&lightMark != 0 {
				lighter++
			}
			if k&weakLightMark != 0 {
				weakLight++
			}
		}
	}
	few := max(4, n/10000)
	if paper {
		return lighter < few || faint >= few || !sharpLight(g, w, h, bg, light*(1-bg), few)
	}
	// Light marks that do not end sharply are a lamp's light on dim
	// paper, not chalk: they do not outvote dark ink. Where there are no
	// light marks, dark ones count from faint (0.12 below the paper: grey
	// ink on dim paper, a third of the way to black) where they also
	// outnumber the weakest light ones (half as far above it: faint chalk
	// beside a darker smudge is chalk) darkInkMajority times.
	if lighter < few && faint >= few && faint >= darkInkMajority*weakLight {
		return true
	}
	return darker >= few && (darker >= darkInkMajority*lighter || !sharpLight(g, w, h, bg, light*(1-bg), few))
}

// sharpLight reports whether the strong light marks in the middle of the
// w x h image g (at least rise above the background bg) end sharply, as a
// pen's or chalk's strokes do: at least few of them, and an eighth, have
// a pixel of the background's level (within half of rise of it, either
// way) k pixels away along a row or column, k a twenty-fifth of the
// shorter side. Paper lit more at its centre than at its edges brightens
// over a fifth of the image or more, so its light marks do not.
func sharpLight(g []float64, w, h int, bg, rise float64, few int) bool {
	k := max(2, min(w, h)/25)
	rise = max(lightInkMin, rise)
	tol := rise / 2
	plain := func(x, y int) bool {
		return x >= 0 && y >= 0 && x < w && y < h && math.Abs(g[y*w+x]-bg) < tol
	}
	x0, x1, y0, y1 := w/5, w-w/5, h/5, h-h/5
	marks, sharp := 0, 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			if g[y*w+x]-bg < rise {
				continue
			}
			marks++
			if plain(x-k, y) || plain(x+k, y) || plain(x, y-k) || plain(x, y+k) {
				sharp++
			}
		}
	}
	return sharp >= few && 8*sharp >= marks
}
