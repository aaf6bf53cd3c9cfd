// augment.go: training-time data augmentation, drawn on the device inside
// Gather: each image is translated by a random offset (dx, dy) with zero
// fill. The offsets come from Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC'11), a counter-based generator:
// the offsets of an image are a pure function of (seed, epoch, dataset
// index), so the CPU engine and the GPU kernel draw the same ones, a run
// repeats, and a resumed run (even mid-epoch) draws what the uninterrupted
// one would have. kernels/kernels.cu's gather kernel has the same
// generator in C; ShiftOffsets is its Go twin and the reference of the
// tests.

package engine

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Augment configures Gather's augmentation. The zero value turns it off.
type Augment struct {
	// Shift is the largest translation in pixels along each axis: dx and
	// dy are drawn uniformly from [-Shift, Shift]. 0 disables it.
	Shift int
	// Rotate is the largest rotation about the image's centre, in degrees
	// either way (0 to MaxRotate), and Scale the largest change of size,
	// a fraction either way (0 to MaxScale): each image is warped by
	// both (Warp), bilinearly, before its translation. 0 and 0 disable
	// the warp, and Gather is the translation alone, as before either.
	Rotate, Scale float64
	// Seed keys the generator (the run's seed).
	Seed uint64
}

// On reports whether Gather augments.
func (a Augment) On() bool { return a.Shift > 0 || a.Warps() }

// Warps reports whether Gather rotates or scales the images: whether
// either of the bounds the engines draw within (WarpBounds) is above 0.
func (a Augment) Warps() bool {
	tmax, smax := a.WarpBounds()
	return tmax > 0 || smax > 0
}

// The bounds of Augment's warp: a digit turned by more than 45° or
// resized by more than a quarter is a digit MNIST's writers did not write.
const (
	MaxRotate = 45
	MaxScale  = 0.25
)

// MaxShift is the largest --augment shift accepted: beyond a quarter of
// the image, a digit is mostly cut off.
const MaxShift = ImageSide / 4

// Augmentation is what a run's --augment asks for: Augment without the
// seed (the zero value: none). It is comparable, as recipes compare it.
// Checkpoints' config (TrainConfig) and study.json (tune's Spec) embed it:
// its JSON names are theirs, each absent where 0 (files older than the
// warp have no rotation or scale).
type Augmentation struct {
	Shift  int     `json:"augment_shift,omitempty"`  // pixels each way, 0 to MaxShift
	Rotate float64 `json:"augment_rotate,omitempty"` // degrees either way, 0 to MaxRotate
	Scale  float64 `json:"augment_scale,omitempty"`  // a fraction either way, 0 to MaxScale
}

// With is a, keyed by seed: Gather's Augment.
func (a Augmentation) With(seed uint64) Augment {
	return Augment{Shift: a.Shift, Rotate: a.Rotate, Scale: a.Scale, Seed: seed}
}

// Check tells whether a is within the bounds Gather takes.
func (a Augmentation) Check() error {
	switch {
	case a.Shift < 0 || a.Shift > MaxShift:
		return fmt.Errorf("shift %d: expected 0 to %d pixels", a.Shift, MaxShift)
	case !(a.Rotate >= 0 && a.Rotate <= MaxRotate):
		return fmt.Errorf("rotation %v: expected 0 to %d degrees", a.Rotate, MaxRotate)
	case !(a.Scale >= 0 && a.Scale <= MaxScale):
		return fmt.Errorf("scale %v: expected 0 to %g", a.Scale, MaxScale)
	}
	if tmax, smax := a.With(0).WarpBounds(); (a.Rotate > 0 && tmax == 0) || (a.Scale > 0 && smax == 0) {
		return fmt.Errorf("rotation %v, scale %v: too small to turn or resize anything", a.Rotate, a.Scale)
	}
	return nil
}

// augmentForms is ParseAugment's list of what it takes, for its messages.
var augmentForms = fmt.Sprintf("none, or parts joined by commas: shift (±2 pixels) or shift:N (±N pixels, 1 to %d), rotate:D (turned by up to ±D degrees, D up to %d), scale:F (resized by up to ±F, a fraction up to %g); e.g. shift:2,rotate:10,scale:0.1",
	MaxShift, MaxRotate, MaxScale)

// plainDecimal is a number as --augment takes it: digits with an optional
// fraction, no sign, exponent or underscores.
var plainDecimal = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// signed reports whether val is a plain decimal number with a sign before
// it, and that number.
func signed(val string) (string, bool) {
	if val == "" || val[0] != '-' && val[0] != '+' || !plainDecimal.MatchString(val[1:]) {
		return "", false
	}
	return val[1:], true
}

// signNote is the hint for a bound written with a sign (rotate:-10) that
// is taken without it (above 0, up to bound): it goes both ways already.
func signNote(bare string, bound float64) string {
	if v, _ := strconv.ParseFloat(bare, 64); v > 0 && v <= bound {
		return "; written without a sign: it goes both ways (±" + bare + ")"
	}
	return ""
}

// ParseAugment reads an --augment value: "none", or parts joined by
// commas (spaces around them ignored), each at most once: "shift:N" (N pixels, 1 to MaxShift; a bare
// "shift" means ±2), "rotate:D" (degrees, above 0 and up to MaxRotate)
// and "scale:F" (a fraction, above 0 and up to MaxScale).
func ParseAugment(s string) (Augmentation, error) {
	var a Augmentation
	if s == "none" {
		return a, nil
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, val, hasVal := strings.Cut(part, ":")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val) // "shift:2, rotate:10" as written by hand
		if seen[name] {
			return Augmentation{}, fmt.Errorf("augmentation %q: %s given twice", s, name)
		}
		seen[name] = true
		bad := func(what string) (Augmentation, error) {
			return Augmentation{}, fmt.Errorf("augmentation %q: %s", s, what)
		}
		switch name {
		case "shift":
			if !hasVal {
				a.Shift = 2
				continue
			}
			n, err := strconv.Atoi(val)
			if !plainDecimal.MatchString(val) || strings.Contains(val, ".") {
				err = strconv.ErrSyntax // +2: a sign, which rotate and scale refuse too
			}
			if err != nil || n < 1 || n > MaxShift {
				want := fmt.Sprintf("the shift must be a whole number of pixels from 1 to %d", MaxShift)
				if bare, ok := signed(val); ok && !strings.Contains(bare, ".") {
					want += signNote(bare, MaxShift)
				}
				return bad(want)
			}
			a.Shift = n
		case "rotate", "scale":
			f, err := strconv.ParseFloat(val, 64)
			if !plainDecimal.MatchString(val) {
				err = strconv.ErrSyntax // 0x1p3, 1_0, +5, inf: Go's syntax, not a number a user writes
			}
			one, want := Augmentation{Rotate: f}, fmt.Sprintf("the rotation must be a number of degrees above 0 and up to %d (rotate:10)", MaxRotate)
			if name == "scale" {
				one, want = Augmentation{Scale: f}, fmt.Sprintf("the scale must be a fraction above 0 and up to %g (scale:0.1 resizes by up to ±10%%)", MaxScale)
			}
			// Check refuses what is over the bound, and a value so small
			// that its float32 bound is 0 (nothing would turn): said so.
			if hasVal && err != nil && val != "" {
				bound := float64(MaxRotate)
				if name == "scale" {
					bound = MaxScale
				}
				if bare, ok := signed(val); ok {
					want += signNote(bare, bound)
				} else {
					want += "; written as a plain decimal number (" + val + " is not one)"
				}
			}
			if !hasVal || err != nil || !(f > 0) {
				return bad(want)
			}
			if err := one.Check(); err != nil {
				if f <= MaxRotate && (name == "rotate" || f <= MaxScale) {
					return bad(fmt.Sprintf("%s:%s is too small to turn or resize anything (its float32 bound is 0); leave it out", name, val))
				}
				return bad(want)
			}
			a.Rotate, a.Scale = a.Rotate+one.Rotate, a.Scale+one.Scale
		default:
			return bad("expected " + augmentForms)
		}
	}
	return a, nil
}

// AugmentName is the flag spelling of a (the inverse of ParseAugment):
// "none", or its parts in the order shift, rotate, scale, the numbers as
// plain decimals (ParseAugment takes no exponent: 0.00001, not 1e-05).
func AugmentName(a Augmentation) string {
	var parts []string
	if a.Shift > 0 {
		parts = append(parts, fmt.Sprintf("shift:%d", a.Shift))
	}
	if a.Rotate > 0 {
		parts = append(parts, "rotate:"+strconv.FormatFloat(a.Rotate, 'f', -1, 64))
	}
	if a.Scale > 0 {
		parts = append(parts, "scale:"+strconv.FormatFloat(a.Scale, 'f', -1, 64))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Philox4x32-10's multipliers and Weyl key increments.
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox4x32 returns Philox4x32-10 of counter c under key k.
func Philox4x32(c [4]uint32, k [2]uint32) [4]uint32 {
	for r := 0; r < 10; r++ {
		if r > 0 {
			k[0] += philoxW0
			k[1] += philoxW1
		}
		p0 := uint64(philoxM0) * uint64(c[0])
		p1 := uint64(philoxM1) * uint64(c[2])
		c = [4]uint32{uint32(p1>>32) ^ c[1] ^ k[0], uint32(p1), uint32(p0>>32) ^ c[3] ^ k[1], uint32(p0)}
	}
	return c
}

// ShiftOffsets returns the translation of dataset image idx in epoch
// epoch under seed: counter (idx, epoch, 0, 0), key (seed's low and high
// words); dx from the first output word, dy from the second, each modulo
// 2·shift+1, minus shift.
func ShiftOffsets(seed uint64, epoch, idx int32, shift int) (dx, dy int) {
	return offsets(imageDraw(seed, epoch, idx), shift)
}

// imageDraw is Philox4x32-10 of counter (idx, epoch, 0, 0) under key
// (seed's low and high words): the four words every augmentation of
// dataset image idx in epoch epoch comes from.
func imageDraw(seed uint64, epoch, idx int32) [4]uint32 {
	return Philox4x32([4]uint32{uint32(idx), uint32(epoch), 0, 0}, [2]uint32{uint32(seed), uint32(seed >> 32)})
}

// offsets is the translation words o[0] and o[1] give: each modulo
// 2·shift+1, minus shift.
func offsets(o [4]uint32, shift int) (dx, dy int) {
	m := uint32(2*shift + 1)
	return int(o[0]%m) - shift, int(o[1]%m) - shift
}

// ShiftImage writes to dst (side×side) the image src translated by
// (dx, dy) with zero fill: dst[r][c] = src[r-dy][c-dx] where that lies in
// the image, else 0 (a positive dx moves the digit right, a positive dy
// down). It is the reference the engines' Gather is tested against.
func ShiftImage(dst []float32, src []uint8, side, dx, dy int) {
	for r := 0; r < side; r++ {
		for c := 0; c < side; c++ {
			sr, sc := r-dy, c-dx
			v := float32(0)
			if sr >= 0 && sr < side && sc >= 0 && sc < side {
				v = float32(src[sr*side+sc]) / 255
			}
			dst[r*side+c] = v
		}
	}
}

// ImageSideOf returns the side of a square image of pixels pixels, or 0
// when pixels is not a square.
func ImageSideOf(pixels int) int {
	for s := 1; s*s <= pixels; s++ {
		if s*s == pixels {
			return s
		}
	}
	return 0
}

// Warp is one image's draw of the augmentation: the translation (DX, DY)
// and the rotation and scaling, as the cosine and sine of the angle and
// the inverse of the scale. Gather's output pixel (r, c) is the bilinear
// sample of the source image at
//
//	(sy, sx) = R(−θ)·(r−DY−ctr, c−DX−ctr) / scale + (ctr, ctr),
//
// ctr = (side−1)/2: the image turned by θ and scaled about its centre,
// then translated (WarpImage).
type Warp struct {
	DX, DY        int
	Cos, Sin, Inv float32
}

// WarpBounds are the float32 bounds the engines draw a warp within: the
// largest tan(θ/2) (the rotation is drawn as its half-angle tangent, so
// that its cosine and sine need no trigonometry on the device: cos θ =
// (1−t²)/(1+t²), sin θ = 2t/(1+t²)) and the largest change of scale.
func (a Augment) WarpBounds() (tmax, smax float32) {
	return float32(math.Tan(a.Rotate * math.Pi / 360)), float32(a.Scale)
}

// The float32 operations of the warp, each rounded on its own: no
// multiply-add is fused (the explicit conversions forbid it), so the
// CPU engine, the GPU kernel (__fmul_rn and its kin) and the emulator
// (fp-contract off) give the same bits.
func mul32(a, b float32) float32 { return float32(a * b) }
func add32(a, b float32) float32 { return float32(a + b) }
func sub32(a, b float32) float32 { return float32(a - b) }
func div32(a, b float32) float32 { return float32(a / b) }

// twoUnit32 is twice a Philox word's top 24 bits as a float32 in [0, 1):
// a float32 in [0, 2), exactly.
func twoUnit32(w uint32) float32 { return float32(w>>8) * 0x1p-23 }

// DrawWarp returns the warp of dataset image idx in epoch epoch: counter
// (idx, epoch, 0, 0) under the seed, as ShiftOffsets; the first two
// words give the translation (as ShiftOffsets, none without Shift), the
// third the rotation, t = tmax·(2u−1), and the fourth the scale, s =
// 1 + smax·(2u−1), u each word's top 24 bits over 2^24 (2u is
// twoUnit32). kernels.cu's gather draws the same.
func DrawWarp(a Augment, epoch, idx int32) Warp {
	o := imageDraw(a.Seed, epoch, idx)
	var w Warp
	if a.Shift > 0 {
		w.DX, w.DY = offsets(o, a.Shift)
	}
	tmax, smax := a.WarpBounds()
	t := mul32(tmax, sub32(twoUnit32(o[2]), 1))
	t2 := mul32(t, t)
	den := add32(1, t2)
	w.Cos, w.Sin = div32(sub32(1, t2), den), div32(2*t, den)
	w.Inv = div32(1, add32(1, mul32(smax, sub32(twoUnit32(o[3]), 1))))
	return w
}

// WarpImage writes to dst (side×side) the image src warped by w (see
// Warp), scaled to [0, 1]: each pixel the bilinear sample of the source's
// four nearest pixels (0 outside it), in float32 operations each rounded
// on its own. It is the reference the engines' Gather is tested against.
// dst: (side,side) f32, src: (side,side) u8.
func WarpImage(dst []float32, src []uint8, side int, w Warp) {
	ctr := float32(side-1) / 2
	at := func(r, c int) float32 {
		if uint(r) >= uint(side) || uint(c) >= uint(side) {
			return 0
		}
		return float32(src[r*side+c])
	}
	for r := 0; r < side; r++ {
		py := float32(r-w.DY) - ctr
		cy, sy0 := mul32(w.Cos, py), mul32(w.Sin, py) // the row's share, the same for each column
		for c := 0; c < side; c++ {
			px := float32(c-w.DX) - ctr
			sy := add32(mul32(sub32(cy, mul32(w.Sin, px)), w.Inv), ctr)
			sx := add32(mul32(add32(sy0, mul32(w.Cos, px)), w.Inv), ctr)
			y0, x0 := float32(math.Floor(float64(sy))), float32(math.Floor(float64(sx)))
			fy, fx := sub32(sy, y0), sub32(sx, x0)
			iy, ix := int(y0), int(x0)
			gy, gx := sub32(1, fy), sub32(1, fx)
			var p00, p01, p10, p11 float32
			if uint(iy) < uint(side-1) && uint(ix) < uint(side-1) {
				// All four inside: no bounds to test.
				q := src[iy*side+ix : iy*side+ix+side+2]
				p00, p01, p10, p11 = float32(q[0]), float32(q[1]), float32(q[side]), float32(q[side+1])
			} else {
				p00, p01, p10, p11 = at(iy, ix), at(iy, ix+1), at(iy+1, ix), at(iy+1, ix+1)
			}
			top := add32(mul32(gx, p00), mul32(fx, p01))
			bot := add32(mul32(gx, p10), mul32(fx, p11))
			dst[r*side+c] = div32(add32(mul32(gy, top), mul32(fy, bot)), 255)
		}
	}
}
