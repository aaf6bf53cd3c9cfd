// augment_test.go: the augmentation's generator against Random123's
// published known answers, its offsets' range and spread, ShiftImage
// against a shift computed independently, and the learning-rate schedule
// against its closed form.

package engine_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

func TestPhiloxKnownAnswers(t *testing.T) {
	// Random123's kat_vectors for philox4x32_10.
	for _, c := range []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		if got := engine.Philox4x32(c.ctr, c.key); got != c.want {
			t.Errorf("Philox4x32(%#x, %#x) = %#x, want %#x", c.ctr, c.key, got, c.want)
		}
	}
}

func TestShiftOffsetsSpread(t *testing.T) {
	for _, shift := range []int{1, 2, engine.MaxShift} {
		k := 2*shift + 1
		counts := make([]int, k*k)
		const n = 60000
		for idx := int32(0); idx < n; idx++ {
			dx, dy := engine.ShiftOffsets(1, 3, idx, shift)
			if dx < -shift || dx > shift || dy < -shift || dy > shift {
				t.Fatalf("shift %d: offset (%d,%d) out of range", shift, dx, dy)
			}
			counts[(dy+shift)*k+dx+shift]++
		}
		// Uniform: each cell within 5 standard deviations of n/k².
		mean := float64(n) / float64(k*k)
		for i, c := range counts {
			if math.Abs(float64(c)-mean) > 5*math.Sqrt(mean) {
				t.Errorf("shift %d: offset (%d,%d) drawn %d times of %d, expected about %.0f", shift, i%k-shift, i/k-shift, c, n, mean)
			}
		}
	}
	// The key changes the draw: the same image gets other offsets in
	// another epoch or under another seed.
	same := 0
	for idx := int32(0); idx < 1000; idx++ {
		ax, ay := engine.ShiftOffsets(1, 0, idx, 2)
		bx, by := engine.ShiftOffsets(1, 1, idx, 2)
		cx, cy := engine.ShiftOffsets(1<<40, 0, idx, 2)
		if ax == bx && ay == by {
			same++
		}
		if ax == cx && ay == cy {
			same++
		}
	}
	if same > 2*1000*3/25 { // 1/25 expected by chance each; allow 3×
		t.Errorf("offsets repeat across epochs or seeds %d times in 2000 pairs", same)
	}
}

func TestShiftImage(t *testing.T) {
	const side = 28
	src := make([]uint8, side*side)
	for i := range src {
		src[i] = uint8(i*7 + 3)
	}
	dst := make([]float32, side*side)
	for _, d := range [][2]int{{0, 0}, {2, 0}, {0, -2}, {-1, 2}, {7, 7}, {-7, 3}} {
		dx, dy := d[0], d[1]
		engine.ShiftImage(dst, src, side, dx, dy)
		// Independently: move each source pixel to its new place.
		want := make([]float32, side*side)
		for r := 0; r < side; r++ {
			for c := 0; c < side; c++ {
				nr, nc := r+dy, c+dx
				if nr >= 0 && nr < side && nc >= 0 && nc < side {
					want[nr*side+nc] = float32(src[r*side+c]) / 255
				}
			}
		}
		for i := range want {
			if dst[i] != want[i] {
				t.Fatalf("shift (%d,%d): pixel (%d,%d) = %v, want %v", dx, dy, i/side, i%side, dst[i], want[i])
			}
		}
	}
}

func TestParseAugment(t *testing.T) {
	type A = engine.Augmentation
	for in, want := range map[string]A{"none": {}, "shift": {Shift: 2}, "shift:1": {Shift: 1}, "shift:3": {Shift: 3},
		"rotate:10": {Rotate: 10}, "scale:0.1": {Scale: 0.1}, "shift:2,rotate:10,scale:0.1": {2, 10, 0.1},
		"rotate:7.5,shift:1": {1, 7.5, 0}, "rotate:45,scale:0.25": {0, 45, 0.25}, "rotate:.5": {Rotate: 0.5}, "shift:2, rotate: 10": {Shift: 2, Rotate: 10},
		"scale:0.00001": {Scale: 0.00001}, "rotate:0.000001": {Rotate: 0.000001}} {
		if got, err := engine.ParseAugment(in); err != nil || got != want {
			t.Errorf("ParseAugment(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if err := want.Check(); err != nil {
			t.Errorf("%+v: %v", want, err)
		}
		// Its name reads back as itself.
		if back, err := engine.ParseAugment(engine.AugmentName(want)); err != nil || back != want {
			t.Errorf("AugmentName(%+v) = %q, read back as %+v, %v", want, engine.AugmentName(want), back, err)
		}
	}
	for in, want := range map[string]string{"shift:2": "shift:2", "shift": "shift:2", "rotate:7.5,shift:1": "shift:1,rotate:7.5", "none": "none",
		"scale:0.00001": "scale:0.00001"} {
		if a, _ := engine.ParseAugment(in); engine.AugmentName(a) != want {
			t.Errorf("AugmentName of %q: %q, want %q", in, engine.AugmentName(a), want)
		}
	}
	for _, in := range []string{"", "shift:0", "shift:-1", "shift:8", "shift:x", "rotate", "shift:2.5", "rotate:0", "rotate:46", "rotate:-5",
		"rotate:NaN", "scale:0.3", "scale", "scale:0", "shift:2,shift:3", "shift:2,", "none,shift", "shear:5",
		"rotate:0x1p3", "rotate:1_0", "scale:+0.1", "rotate:1e-300", "rotate:inf", "rotate:1e1", "rotate:1 0",
		"rotate:0.00000000000000000000000000000000000000000000001", "shift:+2", "shift:2.", "shift:2e0"} {
		if a, err := engine.ParseAugment(in); err == nil {
			t.Errorf("ParseAugment(%q) accepted: %+v", in, a)
		}
	}
	// Not a plain decimal: said so, not "above 0" alone (1e-30 is).
	if _, err := engine.ParseAugment("rotate:1e-30"); err == nil || !strings.Contains(err.Error(), "written as a plain decimal number (1e-30 is not one)") {
		t.Errorf("ParseAugment(rotate:1e-30): %v; want it asked for in plain decimal", err)
	}
	// A sign: the bound goes both ways already (it was called no plain
	// decimal number); a signed zero is below the bound, no more.
	for in, want := range map[string]string{"rotate:-10": "; written without a sign: it goes both ways (±10)", "scale:+0.1": "; written without a sign: it goes both ways (±0.1)",
		"shift:-2": "from 1 to 7; written without a sign: it goes both ways (±2)",
		// Out of bounds without its sign too, or a zero: the bound said alone.
		"scale:-0": "the scale must be a fraction above 0 and up to 0.25 (scale:0.1 resizes by up to ±10%)\"", "rotate:-100": "up to 45 (rotate:10)\"", "shift:-9": "from 1 to 7\""} {
		if _, err := engine.ParseAugment(in); err == nil || !strings.Contains(err.Error()+"\"", want) || strings.Contains(err.Error(), "plain decimal") {
			t.Errorf("ParseAugment(%s): %v; want %q", in, err, want)
		}
	}
	// Too small to do anything: said so, not "above 0".
	for _, in := range []string{"rotate:0.00000000000000000000000000000000000000000000001", "scale:0.0000000000000000000000000000000000000000000001"} {
		if _, err := engine.ParseAugment(in); err == nil || !strings.Contains(err.Error(), "too small to turn or resize anything") {
			t.Errorf("ParseAugment(%q): %v; want it called too small", in, err)
		}
	}
	for _, a := range []A{{Shift: -1}, {Shift: engine.MaxShift + 1}, {Rotate: -1}, {Rotate: 46}, {Scale: 0.26}, {Scale: math.NaN()}} {
		if a.Check() == nil {
			t.Errorf("%+v: Check accepted it", a)
		}
	}
}

func TestScheduleFactor(t *testing.T) {
	s := engine.Schedule{Kind: engine.CosineLR, Warmup: 10, Total: 110, Final: 0.05}
	for _, c := range []struct {
		t    int
		want float64
	}{
		{1, 0.1}, {5, 0.5}, {10, 1},
		{60, 0.05 + 0.95*0.5},                         // half-way down the cosine
		{35, 0.05 + 0.95*(1+math.Cos(math.Pi/4))/2},   // a quarter
		{85, 0.05 + 0.95*(1+math.Cos(3*math.Pi/4))/2}, // three quarters
		{110, 0.05}, {111, 0.05}, {1000, 0.05},
	} {
		if got := float64(s.Factor(float32(c.t))); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("cosine factor at update %d = %.8f, want %.8f", c.t, got, c.want)
		}
	}
	if f := (engine.Schedule{}).Factor(12345); f != 1 {
		t.Errorf("constant factor %v, want exactly 1", f)
	}
	n := engine.NewSchedule(engine.CosineLR, 4690)
	if n.Warmup != 94 || n.Total != 4690 || n.Final != 0 || n.Validate() != nil {
		t.Errorf("NewSchedule(cosine, 4690) = %+v", n)
	}
	// Short runs: a valid schedule, or none for a single step.
	for total := 1; total <= 60; total++ {
		n := engine.NewSchedule(engine.CosineLR, total)
		if err := n.Validate(); err != nil || (total == 1) != (n.Kind == engine.ConstantLR) {
			t.Errorf("NewSchedule(cosine, %d) = %+v (%v)", total, n, err)
		}
	}
	for _, bad := range []engine.Schedule{
		{Kind: engine.CosineLR, Total: 0}, {Kind: engine.CosineLR, Warmup: 5, Total: 5},
		{Kind: engine.CosineLR, Total: 10, Final: 1.5}, {Kind: 7},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
}

// TestWarpImageGeometry: the warp with no turn and no scaling is the
// translation (ShiftImage, bit for bit); a quarter turn (cos 0, sin 1)
// puts source pixel (27−c, r) at (r, c); a scale of 2 about the centre
// samples halfway between pixels.
func TestWarpImageGeometry(t *testing.T) {
	const side = engine.ImageSide
	src := make([]uint8, side*side)
	for i := range src {
		src[i] = uint8(i*37 + i/side)
	}
	got, want := make([]float32, side*side), make([]float32, side*side)
	for _, d := range [][2]int{{0, 0}, {2, -1}, {-7, 7}} {
		engine.WarpImage(got, src, side, engine.Warp{DX: d[0], DY: d[1], Cos: 1, Inv: 1})
		engine.ShiftImage(want, src, side, d[0], d[1])
		if !slices.Equal(got, want) {
			t.Errorf("the warp of no turn, offset %v: not ShiftImage's", d)
		}
	}
	engine.WarpImage(got, src, side, engine.Warp{Cos: 0, Sin: 1, Inv: 1})
	for r := 0; r < side; r++ {
		for c := 0; c < side; c++ {
			if w := float32(src[(side-1-c)*side+r]) / 255; got[r*side+c] != w {
				t.Fatalf("quarter turn: pixel (%d,%d) = %v, want source (%d,%d) = %v", r, c, got[r*side+c], side-1-c, r, w)
			}
		}
	}
	// Scale 2 (Inv ½): output (r, c) samples (ctr + (r−ctr)/2, ...);
	// at r = c = 0 that is (6.75, 6.75), three quarters of the way from
	// pixel 6 to pixel 7 each way.
	engine.WarpImage(got, src, side, engine.Warp{Cos: 1, Inv: 0.5})
	at := func(r, c int) float64 { return float64(src[r*side+c]) }
	w := (0.25*(0.25*at(6, 6)+0.75*at(6, 7)) + 0.75*(0.25*at(7, 6)+0.75*at(7, 7))) / 255
	if math.Abs(float64(got[0])-w) > 1e-6 {
		t.Errorf("scale 2: pixel (0,0) = %v, want %v (bilinear at (6.75, 6.75))", got[0], w)
	}
}

// TestDrawWarp: no rotation and no scale draw the identity; otherwise the
// angles and scales drawn stay within the bounds and reach near them,
// the same for every call, and the translation is ShiftOffsets'.
func TestDrawWarp(t *testing.T) {
	if w := engine.DrawWarp(engine.Augment{Shift: 2, Seed: 9}, 3, 11); w.Cos != 1 || w.Sin != 0 || w.Inv != 1 {
		t.Errorf("no rotation or scale: %+v, want the identity", w)
	}
	a := engine.Augment{Shift: 2, Rotate: 10, Scale: 0.1, Seed: 0x9e3779b97f4a7c15}
	lo, hi, slo, shi := 0.0, 0.0, 2.0, 0.0
	for idx := int32(0); idx < 2000; idx++ {
		w := engine.DrawWarp(a, 5, idx)
		if w != engine.DrawWarp(a, 5, idx) {
			t.Fatal("DrawWarp differs between two calls")
		}
		if dx, dy := engine.ShiftOffsets(a.Seed, 5, idx, a.Shift); dx != w.DX || dy != w.DY {
			t.Fatalf("image %d: offset (%d,%d), ShiftOffsets' (%d,%d)", idx, w.DX, w.DY, dx, dy)
		}
		deg := math.Atan2(float64(w.Sin), float64(w.Cos)) * 180 / math.Pi
		s := 1 / float64(w.Inv)
		if r := math.Hypot(float64(w.Sin), float64(w.Cos)); math.Abs(r-1) > 1e-6 {
			t.Fatalf("image %d: cos %v, sin %v: not a rotation (norm %v)", idx, w.Cos, w.Sin, r)
		}
		lo, hi, slo, shi = min(lo, deg), max(hi, deg), min(slo, s), max(shi, s)
	}
	if lo < -10.0001 || hi > 10.0001 || lo > -9.8 || hi < 9.8 {
		t.Errorf("angles drawn from %.3f° to %.3f°, want within ±10° and reaching near both ends", lo, hi)
	}
	if slo < 0.89999 || shi > 1.10001 || slo > 0.905 || shi < 1.095 {
		t.Errorf("scales drawn from %.4f to %.4f, want within 0.9 to 1.1 and reaching near both ends", slo, shi)
	}
}
