// suite.go: the conformance suite every engine runs (see engine/cpu and
// engine/cuda tests). Each op is compared against the float64 reference in
// ref.go with |got - ref| <= atol + rtol*|ref|, printing the worst elements
// on failure, and every input tensor is checked to be unchanged by the op.

package enginetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

// Tolerances for float32 engines against the float64 reference.
const (
	ATol = 2e-5
	RTol = 2e-4
)

// Close reports whether got matches ref within atol + rtol*|ref| everywhere,
// failing t with the five worst elements otherwise.
func Close(t testing.TB, what string, got []float32, ref []float64, atol, rtol float64) bool {
	t.Helper()
	if len(got) != len(ref) {
		t.Errorf("%s: got %d elements, want %d", what, len(got), len(ref))
		return false
	}
	type bad struct {
		i          int
		g, r, over float64
	}
	var worst []bad
	for i := range ref {
		g, r := float64(got[i]), ref[i]
		lim := atol + rtol*math.Abs(r)
		if d := math.Abs(g - r); !(d <= lim) {
			worst = append(worst, bad{i, g, r, d / lim})
		}
	}
	if len(worst) == 0 {
		return true
	}
	slices.SortFunc(worst, func(a, b bad) int {
		switch {
		case a.over > b.over || math.IsNaN(a.over):
			return -1
		case a.over < b.over:
			return 1
		}
		return 0
	})
	msg := fmt.Sprintf("%s: %d of %d elements out of tolerance (atol %g, rtol %g); worst:", what, len(worst), len(ref), atol, rtol)
	for _, w := range worst[:min(5, len(worst))] {
		msg += fmt.Sprintf("\n  [%d] got %.8g, want %.8g (%.3g x tolerance)", w.i, w.g, w.r, w.over)
	}
	t.Error(msg)
	return false
}

// harness wraps an engine with helpers that upload float64 data as float32
// and snapshot inputs.
type harness struct {
	t *testing.T
	e engine.Engine
	r *rand.Rand
}

func (h *harness) f32(v []float64) engine.Tensor {
	h.t.Helper()
	t, err := h.e.Alloc(engine.Float32, len(v))
	if err != nil {
		h.t.Fatal(err)
	}
	s := make([]float32, len(v))
	for i, x := range v {
		s[i] = float32(x)
	}
	if err := h.e.Write(t, 0, s); err != nil {
		h.t.Fatal(err)
	}
	return t
}

// rounded returns v rounded through float32, what the engine actually sees.
func rounded(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(float32(x))
	}
	return out
}

func (h *harness) zeros(dt engine.DType, n int) engine.Tensor {
	h.t.Helper()
	t, err := h.e.Alloc(dt, n)
	if err != nil {
		h.t.Fatal(err)
	}
	return t
}

func (h *harness) read(t engine.Tensor) []float32 {
	h.t.Helper()
	out := make([]float32, t.Len())
	if err := h.e.Read(t, 0, out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) readI(t engine.Tensor) []int32 {
	h.t.Helper()
	out := make([]int32, t.Len())
	if err := h.e.Read(t, 0, out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) rand(n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * h.r.NormFloat64()
	}
	return rounded(v)
}

// unchanged returns a check that the given float32 tensors still hold what
// they hold now.
func (h *harness) unchanged(op string, names []string, ts ...engine.Tensor) func() {
	before := make([][]float32, len(ts))
	for i, t := range ts {
		before[i] = h.read(t)
	}
	return func() {
		h.t.Helper()
		for i, t := range ts {
			after := h.read(t)
			for j := range after {
				if math.Float32bits(after[j]) != math.Float32bits(before[i][j]) {
					h.t.Errorf("%s modified its input %s at element %d: %v -> %v", op, names[i], j, before[i][j], after[j])
					break
				}
			}
		}
	}
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Run runs the conformance suite against engines made by newEngine.
func Run(t *testing.T, newEngine func(t *testing.T) engine.Engine) {
	cases := []struct {
		name string
		fn   func(*harness)
	}{
		{"Memory", testMemory},
		{"ReadLater", testReadLater},
		{"Gather", testGather},
		{"GatherAugment", testGatherAugment},
		{"Conv", testConv},
		{"MaxPool", testMaxPool},
		{"ConvPool", testConvPool},
		{"ConvPoolBackward", testConvPoolBackward},
		{"Dense", testDense},
		{"SoftmaxXent", testSoftmaxXent},
		{"HeadStep", testHeadStep},
		{"Update", testUpdate},
		{"DenseBackwardUpdate", testDenseBackwardUpdate},
		{"ModelGradient", testModelGradient},
		{"InferenceModel", testInferenceModel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t)
			defer func() {
				if err := e.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			c.fn(&harness{t: t, e: e, r: rand.New(rand.NewPCG(42, uint64(len(c.name))))})
			if err := e.Sync(); err != nil {
				t.Errorf("Sync after %s: %v", c.name, err)
			}
		})
	}
}

func testMemory(h *harness) {
	e, t := h.e, h.t
	f := h.zeros(engine.Float32, 10)
	if got := h.read(f); slices.ContainsFunc(got, func(v float32) bool { return v != 0 }) {
		t.Errorf("Alloc did not zero: %v", got)
	}
	if err := e.Write(f, 2, []float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	v := e.Slice(f, 3, 4)
	if v.Len() != 4 {
		t.Errorf("Slice len %d, want 4", v.Len())
	}
	if err := e.Write(v, 3, []float32{9}); err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 0, 1, 2, 3, 0, 9, 0, 0, 0}
	if got := h.read(f); !slices.Equal(got, want) {
		t.Errorf("after writes through a slice: %v, want %v", got, want)
	}
	e.Fill(v, 5)
	want = []float32{0, 0, 1, 5, 5, 5, 5, 0, 0, 0}
	if got := h.read(f); !slices.Equal(got, want) {
		t.Errorf("after Fill of a slice: %v, want %v", got, want)
	}
	if err := e.Write(f, 8, []float32{1, 2, 3}); err == nil {
		t.Error("Write past the end did not fail")
	}
	if err := e.Write(f, 0, []int32{1}); err == nil {
		t.Error("Write of []int32 into a float32 tensor did not fail")
	}
	if err := e.Read(f, 0, make([]uint8, 2)); err == nil {
		t.Error("Read of a float32 tensor into []uint8 did not fail")
	}
	i := h.zeros(engine.Int32, 3)
	if err := e.Write(i, 0, []int32{-7, 8, 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if got := h.readI(i); !slices.Equal(got, []int32{-7, 8, 1 << 30}) {
		t.Errorf("int32 round trip: %v", got)
	}
	b := h.zeros(engine.Uint8, 5)
	if err := e.Write(b, 1, []uint8{0, 255, 7}); err != nil {
		t.Fatal(err)
	}
	got := make([]uint8, 5)
	if err := e.Read(b, 0, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uint8{0, 0, 255, 7, 0}) {
		t.Errorf("uint8 round trip: %v", got)
	}
}

// testReadLater (engines that implement engine.LaterReader): the copies
// hold the tensors as the work queued before ReadLater left them, not as
// the work queued after changes them, also when wait is called on
// another goroutine; wait returns the same again; the sources are left as
// they are; a second ReadLater (of fewer tensors, into the same buffers)
// reads the tensors as they are then, whether or not the first's wait was
// called (the engine waits for it); and Close waits for the last.
func testReadLater(h *harness) {
	r, ok := h.e.(engine.LaterReader)
	if !ok {
		h.t.Skipf("%s queues no work (no engine.LaterReader)", h.e.Name())
	}
	e, t := h.e, h.t
	a, b := h.zeros(engine.Float32, 1000), h.zeros(engine.Float32, 7)
	va, vb := toF32(h.rand(1000, 1)), toF32(h.rand(7, 1))
	if err := e.Write(a, 0, va); err != nil {
		t.Fatal(err)
	}
	e.Fill(b, 3) // queued work before ReadLater
	if err := e.Write(b, 0, vb[:4]); err != nil {
		t.Fatal(err)
	}
	wantB := append(slices.Clone(vb[:4]), 3, 3, 3)
	da, db := make([]float32, 1000), make([]float32, 7)
	wait, err := r.ReadLater([]engine.Tensor{a, b}, [][]float32{da, db})
	if err != nil {
		t.Fatal(err)
	}
	e.Fill(a, -1) // queued after: not in the copies
	e.Fill(b, -2)
	done := make(chan error)
	go func() { done <- wait() }()
	if err := <-done; err != nil {
		t.Fatalf("ReadLater's wait: %v", err)
	}
	if !slices.Equal(da, va) || !slices.Equal(db, wantB) {
		t.Errorf("ReadLater's copies: %v… and %v; want %v… and %v (before the Fills queued after it)", da[:4], db, va[:4], wantB)
	}
	if err := wait(); err != nil {
		t.Errorf("a second call of wait: %v", err)
	}
	if got := h.read(a); got[0] != -1 || got[999] != -1 {
		t.Errorf("a after ReadLater and Fill(-1): %v…", got[:4])
	}
	// Again, into the same buffers; this wait is left to the next
	// ReadLater, the one after to Close.
	e.Fill(a, 5)
	if _, err := r.ReadLater([]engine.Tensor{a}, [][]float32{da}); err != nil {
		t.Fatal(err)
	}
	e.Fill(a, 6)
	wait, err = r.ReadLater([]engine.Tensor{b}, [][]float32{db})
	if err != nil {
		t.Fatal(err)
	}
	if da[0] != 5 || da[999] != 5 {
		t.Errorf("a ReadLater whose wait nobody called: %v… after the next ReadLater, want 5", da[:4])
	}
	if err := wait(); err != nil || db[0] != -2 {
		t.Errorf("the third ReadLater: %v, %v; want -2", err, db)
	}
	if _, err := r.ReadLater([]engine.Tensor{a}, [][]float32{da}); err != nil {
		t.Fatal(err)
	}
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func testGather(h *harness) {
	e, t := h.e, h.t
	const pixels, m = 6, 5
	img := make([]uint8, m*pixels)
	for i := range img {
		img[i] = uint8(i * 9 % 256)
	}
	lab := []int32{4, 3, 2, 1, 0}
	images := h.zeros(engine.Uint8, len(img))
	labels := h.zeros(engine.Int32, m)
	perm := h.zeros(engine.Int32, 7)
	cursor := h.zeros(engine.Int32, 1)
	if err := e.Write(images, 0, img); err != nil {
		t.Fatal(err)
	}
	if err := e.Write(labels, 0, lab); err != nil {
		t.Fatal(err)
	}
	p := []int32{2, 0, 4, 4, 1, 3, 0}
	if err := e.Write(perm, 0, p); err != nil {
		t.Fatal(err)
	}
	x := h.zeros(engine.Float32, 3*pixels)
	y := h.zeros(engine.Int32, 3)
	for step := 0; step < 2; step++ {
		e.Gather(images, labels, perm, cursor, x, y, 3, pixels, engine.Augment{})
		gx, gy := h.read(x), h.readI(y)
		for k := 0; k < 3; k++ {
			idx := p[step*3+k]
			if gy[k] != lab[idx] {
				t.Errorf("step %d: y[%d] = %d, want %d", step, k, gy[k], lab[idx])
			}
			for j := 0; j < pixels; j++ {
				if want := float32(img[int(idx)*pixels+j]) / 255; gx[k*pixels+j] != want {
					t.Errorf("step %d: x[%d,%d] = %v, want %v", step, k, j, gx[k*pixels+j], want)
				}
			}
		}
	}
	if c := h.readI(cursor); c[0] != 6 {
		t.Errorf("cursor after two batches of 3: %d, want 6", c[0])
	}
	// A partial last batch.
	e.Gather(images, labels, perm, cursor, x, y, 1, pixels, engine.Augment{})
	if gy := h.readI(y); gy[0] != lab[0] {
		t.Errorf("partial batch label %d, want %d", gy[0], lab[0])
	}
	got := make([]uint8, len(img))
	if err := e.Read(images, 0, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, img) {
		t.Error("Gather modified the dataset images")
	}
	if !slices.Equal(h.readI(perm), p) {
		t.Error("Gather modified perm")
	}
}

// testGatherAugment: with augmentation on, each image of a batch is the
// zero-filled translation of its dataset image by the offsets
// engine.ShiftOffsets draws for (seed, epoch in cursor[1], index), as
// engine.ShiftImage makes it, and with a rotation or scale, its warp as
// engine.DrawWarp draws it and engine.WarpImage makes it; the same for
// every engine, bit for bit.
func testGatherAugment(h *harness) {
	e, t := h.e, h.t
	const m, n = 7, 5
	pixels := engine.ImagePixels
	img := make([]uint8, m*pixels)
	for i := range img {
		img[i] = uint8(h.r.IntN(256))
	}
	lab := []int32{6, 5, 4, 3, 2, 1, 0}
	images, labels := h.zeros(engine.Uint8, len(img)), h.zeros(engine.Int32, m)
	perm, cursor := h.zeros(engine.Int32, 2*n), h.zeros(engine.Int32, 2)
	p := []int32{3, 0, 6, 6, 1, 5, 2, 4, 0, 3}
	for _, w := range []struct {
		t engine.Tensor
		v any
	}{{images, img}, {labels, lab}, {perm, p}} {
		if err := e.Write(w.t, 0, w.v); err != nil {
			t.Fatal(err)
		}
	}
	x, y := h.zeros(engine.Float32, n*pixels), h.zeros(engine.Int32, n)
	want := make([]float32, pixels)
	// A seed with both 32-bit halves set; shifts 1 to the largest;
	// warps with and without a shift, rotation or scale alone, and the
	// largest of both.
	for _, c := range []struct {
		shift         int
		rotate, scale float64
		seed          uint64
		epoch         int32
	}{{2, 0, 0, 0x9e3779b97f4a7c15, 0}, {2, 0, 0, 0x9e3779b97f4a7c15, 7}, {1, 0, 0, 3, 1}, {engine.MaxShift, 0, 0, 42, 2},
		{2, 10, 0.1, 0x9e3779b97f4a7c15, 3}, {0, 10, 0.1, 5, 0}, {0, 15, 0, 6, 1}, {2, 0, 0.2, 7, 2},
		{engine.MaxShift, engine.MaxRotate, engine.MaxScale, 8, 4}} {
		aug := engine.Augment{Shift: c.shift, Rotate: c.rotate, Scale: c.scale, Seed: c.seed}
		if err := e.Write(cursor, 0, []int32{0, c.epoch}); err != nil {
			t.Fatal(err)
		}
		shifted := 0
		for step := 0; step < 2; step++ {
			e.Gather(images, labels, perm, cursor, x, y, n, pixels, aug)
			gx, gy := h.read(x), h.readI(y)
			for k := 0; k < n; k++ {
				idx := p[step*n+k]
				src := img[int(idx)*pixels : int(idx+1)*pixels]
				dx, dy := engine.ShiftOffsets(c.seed, c.epoch, idx, c.shift)
				if aug.Warps() {
					w := engine.DrawWarp(aug, c.epoch, idx)
					dx, dy = w.DX, w.DY
					engine.WarpImage(want, src, engine.ImageSide, w)
				} else {
					engine.ShiftImage(want, src, engine.ImageSide, dx, dy)
				}
				for j := range want {
					if want[j] != float32(src[j])/255 {
						shifted++ // moved
						break
					}
				}
				got := gx[k*pixels : (k+1)*pixels]
				if !slices.Equal(got, want) {
					j := 0
					for got[j] == want[j] {
						j++
					}
					t.Errorf("shift %d rotate %g scale %g seed %#x epoch %d step %d: image %d (offset %+d,%+d) differs first at pixel (%d,%d): got %v, want %v",
						c.shift, c.rotate, c.scale, c.seed, c.epoch, step, idx, dx, dy, j/engine.ImageSide, j%engine.ImageSide, got[j], want[j])
				}
				if gy[k] != lab[idx] {
					t.Errorf("shift %d step %d: y[%d] = %d, want %d", c.shift, step, k, gy[k], lab[idx])
				}
			}
		}
		if shifted < n {
			t.Errorf("shift %d rotate %g scale %g seed %#x epoch %d: %d images of ten were moved, want most", c.shift, c.rotate, c.scale, c.seed, c.epoch, shifted)
		}
		if cur := h.readI(cursor); cur[0] != 2*n || cur[1] != c.epoch {
			t.Errorf("cursor after two augmented batches: %v, want [%d %d]", cur, 2*n, c.epoch)
		}
	}
	got := make([]uint8, len(img))
	if err := e.Read(images, 0, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, img) || !slices.Equal(h.readI(perm), p) || !slices.Equal(h.readI(labels), lab) {
		t.Error("augmented Gather modified its inputs (images, perm or labels)")
	}
}

var allActs = []engine.Activation{engine.Identity, engine.ReLU, engine.Sigmoid, engine.Tanh}

func testConv(h *harness) {
	shapes := []engine.ConvShape{
		{N: 3, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1},
		{N: 2, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1},
		{N: 2, C: 1, H: 28, W: 28, K: 8, R: 5, S: 5, Pad: 0},
		{N: 9, C: 3, H: 7, W: 5, K: 5, R: 3, S: 3, Pad: 0},
		{N: 1, C: 2, H: 4, W: 6, K: 7, R: 5, S: 3, Pad: 2},
		// A single channel, not square: rows and columns must not swap.
		{N: 3, C: 1, H: 12, W: 9, K: 5, R: 3, S: 3, Pad: 1},
		{N: 2, C: 1, H: 7, W: 11, K: 4, R: 5, S: 5, Pad: 2},
		// Batches large enough that a GPU splits the gradient reductions
		// over many blocks, with uneven slices.
		{N: 67, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1},
		{N: 37, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1},
	}
	for _, s := range shapes {
		for _, act := range allActs {
			name := fmt.Sprintf("conv N%d C%d %dx%d K%d %dx%d pad%d %v", s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.Pad, act)
			xv := h.rand(s.N*s.C*s.H*s.W, 1)
			fan := float64(s.C * s.R * s.S)
			wv := h.rand(s.K*s.C*s.R*s.S, 1/math.Sqrt(fan))
			bv := h.rand(s.K, 0.1)
			x, w, b := h.f32(xv), h.f32(wv), h.f32(bv)
			y := h.zeros(engine.Float32, s.N*s.K*s.P()*s.Q())
			check := h.unchanged("Conv", []string{"x", "w", "b"}, x, w, b)
			h.e.Conv(x, w, b, y, s, act)
			check()
			ref := RefConv(xv, wv, bv, s, act)
			gotY := h.read(y)
			Close(h.t, name+" y", gotY, ref, ATol, RTol)

			// Backward from the engine's own y, so that ReLU's mask agrees.
			yv := toF64(gotY)
			dyv := h.rand(len(yv), 1)
			dy := h.f32(dyv)
			dx := h.zeros(engine.Float32, len(xv))
			dw := h.zeros(engine.Float32, len(wv))
			db := h.zeros(engine.Float32, s.K)
			h.e.Fill(dw, 7) // must be overwritten, not accumulated
			check = h.unchanged("ConvBackward", []string{"x", "w", "y", "dy"}, x, w, y, dy)
			h.e.ConvBackward(x, w, y, dy, dx, dw, db, s, act)
			check()
			rdx, rdw, rdb := RefConvBackward(xv, wv, yv, dyv, s, act)
			scale := math.Sqrt(float64(s.N * s.P() * s.Q()))
			Close(h.t, name+" dx", h.read(dx), rdx, ATol*10, RTol*10)
			Close(h.t, name+" dw", h.read(dw), rdw, ATol*scale, RTol*10)
			Close(h.t, name+" db", h.read(db), rdb, ATol*scale, RTol*10)
			// Without dx (the first layer).
			h.e.Fill(dw, 7)
			h.e.Fill(db, 7)
			h.e.ConvBackward(x, w, y, dy, nil, dw, db, s, act)
			Close(h.t, name+" dw (no dx)", h.read(dw), rdw, ATol*scale, RTol*10)
			Close(h.t, name+" db (no dx)", h.read(db), rdb, ATol*scale, RTol*10)
		}
	}
}

// convPoolShapes are the convolutions, each followed by a 2×2 max-pool,
// of the fused ops' tests: the reference network's two (one batch small,
// one large enough that a GPU splits the reductions over many blocks),
// a single channel not square with K not a multiple of 8, 5×5 filters,
// and an odd output (the last row and column not pooled).
var convPoolShapes = []engine.ConvShape{
	{N: 3, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1},
	{N: 2, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1},
	{N: 2, C: 1, H: 12, W: 10, K: 11, R: 3, S: 3, Pad: 0},
	{N: 2, C: 1, H: 28, W: 28, K: 8, R: 5, S: 5, Pad: 0},
	{N: 3, C: 2, H: 7, W: 7, K: 3, R: 3, S: 3, Pad: 1},
	{N: 37, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1},
	{N: 67, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1},
}

// convPoolCase is one test case of the fused ops: random x, w and b for
// convolution s, and y, p and arg from the engine's Conv then MaxPool.
type convPoolCase struct {
	ps         engine.PoolShape
	name       string
	xv, wv, bv []float64
	x, w, b    engine.Tensor
	y, p, arg  engine.Tensor
	ny, out    int
}

func (h *harness) convPoolCase(s engine.ConvShape, act engine.Activation) convPoolCase {
	c := convPoolCase{ps: engine.PoolShape{N: s.N, C: s.K, H: s.P(), W: s.Q(), Size: 2}}
	c.name = fmt.Sprintf("N%d C%d %dx%d K%d %dx%d pad%d %v", s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.Pad, act)
	c.xv = h.rand(s.N*s.C*s.H*s.W, 1)
	c.wv = h.rand(s.K*s.C*s.R*s.S, 1/math.Sqrt(float64(s.C*s.R*s.S)))
	c.bv = h.rand(s.K, 0.1)
	c.x, c.w, c.b = h.f32(c.xv), h.f32(c.wv), h.f32(c.bv)
	c.ny, c.out = s.N*s.K*s.P()*s.Q(), s.N*s.K*c.ps.OH()*c.ps.OW()
	c.y, c.p, c.arg = h.zeros(engine.Float32, c.ny), h.zeros(engine.Float32, c.out), h.zeros(engine.Int32, c.out)
	h.e.Conv(c.x, c.w, c.b, c.y, s, act)
	h.e.MaxPool(c.y, c.p, c.arg, c.ps)
	return c
}

// testConvPool: an engine's ConvPool (engine.ConvPooler), where it has
// one, gives the bits of its Conv then MaxPool, on shapes it fuses and on
// ones it may not (5×5 filters, odd outputs); ReLU's zeros make ties.
func testConvPool(h *harness) {
	cp, ok := h.e.(engine.ConvPooler)
	if !ok {
		h.t.Skip("the engine has no ConvPool (engine.ConvPooler); the model runs Conv and MaxPool")
	}
	for _, s := range convPoolShapes {
		for _, act := range allActs {
			c := h.convPoolCase(s, act)
			ps, name, x, w, b, ny, out := c.ps, "convpool "+c.name, c.x, c.w, c.b, c.ny, c.out
			y1, p1, a1 := c.y, c.p, c.arg
			y2, p2, a2 := h.zeros(engine.Float32, ny), h.zeros(engine.Float32, out), h.zeros(engine.Int32, out)
			h.e.Fill(y2, 7)
			h.e.Fill(p2, 7)
			check := h.unchanged("ConvPool", []string{"x", "w", "b"}, x, w, b)
			cp.ConvPool(x, w, b, y2, p2, a2, s, ps, act)
			check()
			gy := h.read(y2)
			Close(h.t, name+" y", gy, RefConv(c.xv, c.wv, c.bv, s, act), ATol, RTol)
			for _, c := range []struct {
				what      string
				got, want []float32
			}{{"y", gy, h.read(y1)}, {"p", h.read(p2), h.read(p1)}} {
				for i := range c.want {
					if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
						h.t.Errorf("%s: %s[%d] = %v, Conv then MaxPool give %v", name, c.what, i, c.got[i], c.want[i])
						break
					}
				}
			}
			ga, wa := h.readI(a2), h.readI(a1)
			for i := range wa {
				if ga[i] != wa[i] {
					h.t.Errorf("%s: arg[%d] = %d, MaxPool gives %d", name, i, ga[i], wa[i])
					break
				}
			}
		}
	}
}

// testConvPoolBackward: an engine's ConvPoolBackward
// (engine.ConvPoolBackwarder), where it has one, gives what its
// MaxPoolBackward then ConvBackward give (the bias gradient's terms may be
// added in another order), and what the reference gives, with and
// without dx.
func testConvPoolBackward(h *harness) {
	cp, ok := h.e.(engine.ConvPoolBackwarder)
	if !ok {
		h.t.Skip("the engine has no ConvPoolBackward (engine.ConvPoolBackwarder); the model runs MaxPoolBackward and ConvBackward")
	}
	for _, s := range convPoolShapes {
		for _, act := range allActs {
			c := h.convPoolCase(s, act)
			ps, name, xv, wv, x, w, ny, out := c.ps, "convpool backward "+c.name, c.xv, c.wv, c.x, c.w, c.ny, c.out
			y, arg := c.y, c.arg
			yv, av := toF64(h.read(y)), h.readI(arg)
			rarg := make([]int, len(av))
			for i, a := range av {
				rarg[i] = int(a)
			}
			dpv := h.rand(out, 1)
			dp := h.f32(dpv)
			rdx, rdw, rdb := RefConvBackward(xv, wv, yv, RefMaxPoolBackward(dpv, rarg, ny), s, act)
			scale := math.Sqrt(float64(s.N * s.P() * s.Q()))
			for _, withDx := range []bool{true, false} {
				dy1, dy2 := h.zeros(engine.Float32, ny), h.zeros(engine.Float32, ny)
				dw1, dw2 := h.zeros(engine.Float32, len(wv)), h.zeros(engine.Float32, len(wv))
				db1, db2 := h.zeros(engine.Float32, s.K), h.zeros(engine.Float32, s.K)
				var dx1, dx2 engine.Tensor
				if withDx {
					dx1, dx2 = h.zeros(engine.Float32, len(xv)), h.zeros(engine.Float32, len(xv))
				}
				h.e.MaxPoolBackward(dp, arg, dy1, ps)
				h.e.ConvBackward(x, w, y, dy1, dx1, dw1, db1, s, act)
				h.e.Fill(dy2, 3)
				h.e.Fill(dw2, 7) // must be overwritten, not accumulated
				h.e.Fill(db2, 7)
				check := h.unchanged("ConvPoolBackward", []string{"x", "w", "y", "dp"}, x, w, y, dp)
				cp.ConvPoolBackward(x, w, y, dp, arg, dy2, dx2, dw2, db2, s, ps, act)
				check()
				if !slices.Equal(h.readI(arg), av) {
					h.t.Errorf("%s: ConvPoolBackward modified arg", name)
				}
				n := name
				if !withDx {
					n += " (no dx)"
				}
				gw, gb := h.read(dw2), h.read(db2)
				// Sums of N·P·Q terms, maybe in another order.
				Close(h.t, n+" dw vs unfused", gw, toF64(h.read(dw1)), 1e-6*scale, 1e-5)
				Close(h.t, n+" db vs unfused", gb, toF64(h.read(db1)), 1e-6*scale, 1e-5)
				Close(h.t, n+" dw", gw, rdw, ATol*scale, RTol*10)
				Close(h.t, n+" db", gb, rdb, ATol*scale, RTol*10)
				if withDx {
					gx := h.read(dx2)
					Close(h.t, n+" dx vs unfused", gx, toF64(h.read(dx1)), 1e-6, 1e-5)
					Close(h.t, n+" dx", gx, rdx, ATol*10, RTol*10)
				}
			}
		}
	}
}

func testMaxPool(h *harness) {
	for _, s := range []engine.PoolShape{
		{N: 2, C: 32, H: 28, W: 28, Size: 2},
		{N: 3, C: 2, H: 7, W: 9, Size: 2}, // odd sizes: last row/column dropped
		{N: 1, C: 1, H: 6, W: 6, Size: 3},
		{N: 2, C: 3, H: 6, W: 42, Size: 2}, // rows of 21 outputs: 8 + 8 + 5
	} {
		name := fmt.Sprintf("maxpool %+v", s)
		xv := h.rand(s.N*s.C*s.H*s.W, 1)
		// Ties: the first maximum must win.
		xv[1] = xv[0]
		for i := 2; i+s.W+1 < len(xv); i += 7 * s.Size {
			// Every kind of tie within a window: right, below, diagonal.
			switch i % 3 {
			case 0:
				xv[i+1] = xv[i]
			case 1:
				xv[i+s.W] = xv[i]
			default:
				xv[i+s.W+1], xv[i+1] = xv[i+s.W], xv[i+s.W]
			}
		}
		x := h.f32(xv)
		out := s.N * s.C * s.OH() * s.OW()
		y := h.zeros(engine.Float32, out)
		arg := h.zeros(engine.Int32, out)
		check := h.unchanged("MaxPool", []string{"x"}, x)
		h.e.MaxPool(x, y, arg, s)
		check()
		ry, rarg := RefMaxPool(xv, s)
		Close(h.t, name+" y", h.read(y), ry, 0, 0)
		gotArg := h.readI(arg)
		for i := range rarg {
			if int(gotArg[i]) != rarg[i] {
				h.t.Errorf("%s: arg[%d] = %d, want %d", name, i, gotArg[i], rarg[i])
				break
			}
		}
		dyv := h.rand(out, 1)
		dy := h.f32(dyv)
		dx := h.zeros(engine.Float32, len(xv))
		h.e.Fill(dx, 3)
		check = h.unchanged("MaxPoolBackward", []string{"dy", "arg"}, dy)
		h.e.MaxPoolBackward(dy, arg, dx, s)
		check()
		Close(h.t, name+" dx", h.read(dx), RefMaxPoolBackward(dyv, rarg, len(xv)), 0, 0)
	}
}

func testDense(h *harness) {
	for _, s := range []engine.DenseShape{
		{N: 5, In: 3136, Out: 100},
		{N: 128, In: 100, Out: 10},
		{N: 1, In: 7, Out: 1},
		{N: 33, In: 50, Out: 19},
		// In = 32·m + 1: a GPU's per-column-panel grid must round up.
		{N: 6, In: 65, Out: 10},
	} {
		for _, act := range allActs {
			name := fmt.Sprintf("dense %+v %v", s, act)
			xv := h.rand(s.N*s.In, 1)
			wv := h.rand(s.Out*s.In, 1/math.Sqrt(float64(s.In)))
			bv := h.rand(s.Out, 0.1)
			x, w, b := h.f32(xv), h.f32(wv), h.f32(bv)
			y := h.zeros(engine.Float32, s.N*s.Out)
			check := h.unchanged("Dense", []string{"x", "w", "b"}, x, w, b)
			h.e.Dense(x, w, b, y, s, act)
			check()
			gotY := h.read(y)
			Close(h.t, name+" y", gotY, RefDense(xv, wv, bv, s, act), ATol, RTol)
			yv := toF64(gotY)
			dyv := h.rand(len(yv), 1)
			dy := h.f32(dyv)
			dx := h.zeros(engine.Float32, len(xv))
			dw := h.zeros(engine.Float32, len(wv))
			db := h.zeros(engine.Float32, s.Out)
			h.e.Fill(db, 7)
			check = h.unchanged("DenseBackward", []string{"x", "w", "y", "dy"}, x, w, y, dy)
			h.e.DenseBackward(x, w, y, dy, dx, dw, db, s, act)
			check()
			rdx, rdw, rdb := RefDenseBackward(xv, wv, yv, dyv, s, act)
			sc := math.Sqrt(float64(max(s.N, s.Out)))
			Close(h.t, name+" dx", h.read(dx), rdx, ATol*sc, RTol*10)
			Close(h.t, name+" dw", h.read(dw), rdw, ATol*sc, RTol*10)
			Close(h.t, name+" db", h.read(db), rdb, ATol*sc, RTol*10)
		}
	}
}

func testSoftmaxXent(h *harness) {
	e, t := h.e, h.t
	n, classes := 37, 10
	zv := h.rand(n*classes, 3)
	zv[0] = 80 // large logits must not overflow
	lab := make([]int32, n)
	for i := range lab {
		lab[i] = int32(h.r.IntN(classes))
	}
	z := h.f32(zv)
	labels := h.zeros(engine.Int32, n)
	if err := e.Write(labels, 0, lab); err != nil {
		t.Fatal(err)
	}
	probs := h.zeros(engine.Float32, n*classes)
	dz := h.zeros(engine.Float32, n*classes)
	stats := h.zeros(engine.Float32, 3)
	check := h.unchanged("SoftmaxXent", []string{"logits"}, z)
	e.SoftmaxXent(z, labels, probs, dz, stats, n, classes, 0)
	check()
	loss, correct, rp, rdz := RefSoftmaxXent(zv, lab, n, classes, 0)
	Close(t, "probs", h.read(probs), rp, 1e-7, 1e-5)
	Close(t, "dlogits", h.read(dz), rdz, 1e-8, 1e-5)
	st := h.read(stats)
	Close(t, "stats after one call", st, []float64{loss, float64(correct), float64(n)}, 1e-4, 1e-5)
	// Stats accumulate; probs and dlogits are optional.
	e.SoftmaxXent(z, labels, nil, nil, stats, n, classes, 0)
	Close(t, "stats after two calls", h.read(stats), []float64{2 * loss, 2 * float64(correct), 2 * float64(n)}, 1e-4, 1e-5)
	// Label smoothing changes the gradient alone (the loss and the
	// probabilities stay against the labels), each value formed as
	// engine.SmoothedGrad forms it.
	for _, ls := range []float64{0.1, 0.5} {
		st2 := h.zeros(engine.Float32, 3)
		e.SoftmaxXent(z, labels, probs, dz, st2, n, classes, ls)
		_, _, _, rdz := RefSoftmaxXent(zv, lab, n, classes, ls)
		name := fmt.Sprintf("label smoothing %v", ls)
		Close(t, name+" dlogits", h.read(dz), rdz, 1e-8, 1e-5)
		Close(t, name+" probs", h.read(probs), rp, 1e-7, 1e-5)
		Close(t, name+" stats", h.read(st2), []float64{loss, float64(correct), float64(n)}, 1e-4, 1e-5)
		off, on := engine.SmoothTargets(ls, classes)
		p, g := h.read(probs), h.read(dz)
		for i := range p {
			want := engine.SmoothedGrad(p[i], off, on, int32(i%classes) == lab[i/classes]) * (1 / float32(n))
			if math.Float32bits(g[i]) != math.Float32bits(want) {
				t.Errorf("%s: dlogits[%d] = %v, engine.SmoothedGrad on its probability gives %v", name, i, g[i], want)
				break
			}
		}
	}
}

// testHeadStep: an engine's HeadStep (engine.HeadStepper), where it has
// one, gives the bits of its Dense (no activation), SoftmaxXent and
// DenseBackward (the statistics within rounding: their sums may be added
// in another order), and what the reference gives, with and without dx;
// it overwrites the gradients, adds to the statistics, and leaves its
// inputs as they were. Shapes an engine may fuse and ones it may not (19
// outputs).
func testHeadStep(h *harness) {
	hs, ok := h.e.(engine.HeadStepper)
	if !ok {
		h.t.Skip("the engine has no HeadStep (engine.HeadStepper); the model runs Dense, SoftmaxXent and DenseBackward")
	}
	e, t := h.e, h.t
	// Label smoothing on all but one shape (one fused, one not).
	for si, s := range []engine.DenseShape{{N: 128, In: 1000, Out: 10}, {N: 300, In: 130, Out: 16}, {N: 3, In: 7, Out: 1}, {N: 37, In: 50, Out: 19}} {
		ls := []float64{0.1, 0, 0.25, 0.1}[si]
		name := fmt.Sprintf("head step %+v, label smoothing %v", s, ls)
		xv := h.rand(s.N*s.In, 1)
		wv := h.rand(s.Out*s.In, 2/math.Sqrt(float64(s.In)))
		bv := h.rand(s.Out, 0.1)
		x, w, b := h.f32(xv), h.f32(wv), h.f32(bv)
		lab := make([]int32, s.N)
		for i := range lab {
			lab[i] = int32(h.r.IntN(s.Out))
		}
		labels := h.zeros(engine.Int32, s.N)
		if err := e.Write(labels, 0, lab); err != nil {
			t.Fatal(err)
		}
		type outs struct{ z, dz, dx, dw, db, st engine.Tensor }
		mk := func(withDx bool) outs {
			o := outs{z: h.zeros(engine.Float32, s.N*s.Out), dz: h.zeros(engine.Float32, s.N*s.Out),
				dw: h.zeros(engine.Float32, s.Out*s.In), db: h.zeros(engine.Float32, s.Out), st: h.f32([]float64{1, 2, 3})}
			if withDx {
				o.dx = h.zeros(engine.Float32, s.N*s.In)
				e.Fill(o.dx, 7)
			}
			e.Fill(o.dw, 7) // must be overwritten, not accumulated
			e.Fill(o.db, 7)
			return o
		}
		u := mk(true)
		e.Dense(x, w, b, u.z, s, engine.Identity)
		e.SoftmaxXent(u.z, labels, nil, u.dz, u.st, s.N, s.Out, ls)
		e.DenseBackward(x, w, u.z, u.dz, u.dx, u.dw, u.db, s, engine.Identity)
		want := map[string][]float32{"logits": h.read(u.z), "dlogits": h.read(u.dz), "dx": h.read(u.dx), "dw": h.read(u.dw), "db": h.read(u.db)}
		wantSt := toF64(h.read(u.st))
		zv := toF64(want["logits"])
		loss, correct, _, rdz := RefSoftmaxXent(zv, lab, s.N, s.Out, ls)
		rdx, rdw, rdb := RefDenseBackward(xv, wv, zv, toF64(want["dlogits"]), s, engine.Identity)
		sc := math.Sqrt(float64(max(s.N, s.Out)))
		for _, withDx := range []bool{true, false} {
			f := mk(withDx)
			check := h.unchanged("HeadStep", []string{"x", "w", "b"}, x, w, b)
			hs.HeadStep(x, w, b, f.z, labels, f.dz, f.st, f.dx, f.dw, f.db, s, ls)
			check()
			if got := h.readI(labels); !slices.Equal(got, lab) {
				t.Errorf("%s: HeadStep modified labels", name)
			}
			got := map[string]engine.Tensor{"logits": f.z, "dlogits": f.dz, "dx": f.dx, "dw": f.dw, "db": f.db}
			for _, what := range []string{"logits", "dlogits", "dx", "dw", "db"} {
				if got[what] == nil {
					continue
				}
				g, wnt := h.read(got[what]), want[what]
				for i := range wnt {
					if math.Float32bits(g[i]) != math.Float32bits(wnt[i]) {
						t.Errorf("%s (dx %v): %s[%d] = %v, Dense, SoftmaxXent and DenseBackward give %v", name, withDx, what, i, g[i], wnt[i])
						break
					}
				}
			}
			st := h.read(f.st)
			Close(t, fmt.Sprintf("%s (dx %v) stats against the three ops", name, withDx), st, wantSt, 1e-4, 1e-6)
			Close(t, fmt.Sprintf("%s (dx %v) stats", name, withDx), st, []float64{1 + loss, 2 + float64(correct), 3 + float64(s.N)}, 1e-3, 1e-5)
			Close(t, name+" logits", h.read(f.z), RefDense(xv, wv, bv, s, engine.Identity), ATol, RTol)
			Close(t, name+" dlogits", h.read(f.dz), rdz, 1e-8, 1e-5)
			if withDx {
				Close(t, name+" dx", h.read(f.dx), rdx, ATol*sc, RTol*10)
			}
			Close(t, name+" dw", h.read(f.dw), rdw, ATol*sc, RTol*10)
			Close(t, name+" db", h.read(f.db), rdb, ATol*sc, RTol*10)
		}
	}
}

// testDenseBackwardUpdate checks, on an engine that has it
// (engine.DenseUpdater), the dense layer's backward op and update in one
// op against DenseBackward then Update: dx against the float64
// reference; the parameters, moments and step count after three updates
// against the float64 reference's Adam over the gradients DenseBackward
// gives on this engine (the same sums in float32: Adam's m/√v makes a
// gradient's rounding near 0 a visible step, so the float64 gradients
// would make the test depend on the sums' order). Inputs unchanged;
// shapes with partial tiles, both activations the engine fuses, and a
// layer whose weights start a buffer with others before them.
func testDenseBackwardUpdate(h *harness) {
	e, t := h.e, h.t
	du, ok := e.(engine.DenseUpdater)
	if !ok {
		t.Skipf("%s has no DenseBackwardUpdate", e.Name())
	}
	c := engine.OptConfig{Kind: engine.Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7,
		Sched: engine.Schedule{Kind: engine.CosineLR, Warmup: 2, Total: 5, Final: 0.1}}
	queued := 0
	for _, tc := range []struct {
		s   engine.DenseShape
		act engine.Activation
		pad int // parameters before the layer's in its buffer
	}{
		{engine.DenseShape{N: 7, In: 200, Out: 40}, engine.ReLU, 0},
		{engine.DenseShape{N: 19, In: 130, Out: 70}, engine.Identity, 4},
		{engine.DenseShape{N: 3, In: 66, Out: 33}, engine.Tanh, 1},
	} {
		s := tc.s
		name := fmt.Sprintf("DenseBackwardUpdate %+v %v", s, tc.act)
		n := s.Out*s.In + s.Out
		pv := h.rand(n, 0.1)
		whole := h.f32(append(make([]float64, tc.pad), pv...))
		p := e.Slice(whole, tc.pad, n)
		w := e.Slice(p, 0, s.Out*s.In)
		g := h.zeros(engine.Float32, n)
		s1, s2, step := h.zeros(engine.Float32, n), h.zeros(engine.Float32, n), h.zeros(engine.Float32, 1)
		r1, r2 := make([]float64, n), make([]float64, n)
		// The split ops' gradients, on a copy of the weights.
		wc := h.zeros(engine.Float32, s.Out*s.In)
		dwc, dbc := h.zeros(engine.Float32, s.Out*s.In), h.zeros(engine.Float32, s.Out)
		for it := 1; it <= 3; it++ {
			xv := h.rand(s.N*s.In, 1)
			yv := h.rand(s.N*s.Out, 1)
			if tc.act == engine.ReLU {
				for i := range yv {
					yv[i] = math.Max(yv[i], 0)
				}
			} else if tc.act == engine.Tanh {
				for i := range yv {
					yv[i] *= 0.9
				}
			}
			dyv := h.rand(s.N*s.Out, 1)
			x, y, dy := h.f32(xv), h.f32(yv), h.f32(dyv)
			dx := h.zeros(engine.Float32, s.N*s.In)
			e.Fill(dx, 7)
			wv := toF64(h.read(w))
			if err := e.Write(wc, 0, h.read(w)); err != nil {
				t.Fatal(err)
			}
			e.DenseBackward(x, wc, y, dy, nil, dwc, dbc, s, tc.act)
			gv := append(toF64(h.read(dwc)), toF64(h.read(dbc))...)
			check := h.unchanged("DenseBackwardUpdate", []string{"x", "y", "dy"}, x, y, dy)
			if !du.DenseBackwardUpdate(c, x, w, y, dy, dx, s, tc.act, p, g, s1, s2, step) {
				if it == 1 {
					t.Logf("%s: not fused on %s (it runs DenseBackward then Update)", name, e.Name())
				}
				e.DenseBackward(x, w, y, dy, dx, e.Slice(g, 0, s.Out*s.In), e.Slice(g, s.Out*s.In, s.Out), s, tc.act)
				e.Update(c, p, g, s1, s2, step)
			} else {
				queued++
			}
			check()
			rdx, _, _ := RefDenseBackward(xv, wv, yv, dyv, s, tc.act)
			Close(t, fmt.Sprintf("%s dx (update %d)", name, it), h.read(dx), rdx, ATol, RTol*10)
			RefUpdate(c, pv, gv, r1, r2, it)
		}
		Close(t, name+" p", h.read(p), pv, 1e-6, 1e-5)
		Close(t, name+" s1", h.read(s1), r1, 1e-6, 1e-5)
		Close(t, name+" s2", h.read(s2), r2, 1e-7, 1e-5)
		Close(t, name+" step", h.read(step), []float64{3}, 0, 0)
		if got := h.read(whole)[:tc.pad]; slices.ContainsFunc(got, func(v float32) bool { return v != 0 }) {
			t.Errorf("%s: the parameters before the layer's changed: %v", name, got)
		}
	}
	t.Logf("%d of 9 updates queued as one op", queued)
}

func testUpdate(h *harness) {
	e := h.e
	const n = 70001 // not a multiple of any block size
	for _, c := range []engine.OptConfig{
		{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7},
		{Kind: engine.Adam, LR: 0.03, Beta1: 0.8, Beta2: 0.99, Eps: 1e-3},
		{Kind: engine.SGD, LR: 0.01, Momentum: 0.9},
		{Kind: engine.SGD, LR: 0.1},
		// Scheduled: updates 1–2 warm up, 3 is on the cosine.
		{Kind: engine.Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7,
			Sched: engine.Schedule{Kind: engine.CosineLR, Warmup: 2, Total: 5, Final: 0.1}},
		{Kind: engine.SGD, LR: 0.1, Momentum: 0.9, Sched: engine.Schedule{Kind: engine.CosineLR, Warmup: 1, Total: 4}},
	} {
		name := fmt.Sprintf("update %+v", c)
		pv := h.rand(n, 0.1)
		p := h.f32(pv)
		s1 := h.zeros(engine.Float32, n)
		s2 := h.zeros(engine.Float32, n)
		step := h.zeros(engine.Float32, 1)
		r1, r2 := make([]float64, n), make([]float64, n)
		for it := 1; it <= 3; it++ {
			gv := h.rand(n, 1)
			g := h.f32(gv)
			check := h.unchanged("Update", []string{"g"}, g)
			e.Update(c, p, g, s1, s2, step)
			check()
			RefUpdate(c, pv, gv, r1, r2, it)
		}
		Close(h.t, name+" p", h.read(p), pv, 1e-6, 1e-5)
		Close(h.t, name+" s1", h.read(s1), r1, 1e-6, 1e-5)
		if c.Kind == engine.Adam {
			Close(h.t, name+" s2", h.read(s2), r2, 1e-7, 1e-5)
		}
		Close(h.t, name+" step", h.read(step), []float64{3}, 0, 0)
	}
	// Two updates in a row with nothing read or written between: the
	// second must see the first's step count (an engine that defers the
	// counts' increments must still order them).
	{
		c := engine.OptConfig{Kind: engine.Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7,
			Sched: engine.Schedule{Kind: engine.CosineLR, Warmup: 1, Total: 4}}
		pv, g1v, g2v := h.rand(n, 0.1), h.rand(n, 1), h.rand(n, 1)
		p, g1, g2 := h.f32(pv), h.f32(g1v), h.f32(g2v)
		s1, s2, step := h.zeros(engine.Float32, n), h.zeros(engine.Float32, n), h.zeros(engine.Float32, 1)
		r1, r2 := make([]float64, n), make([]float64, n)
		e.Update(c, p, g1, s1, s2, step)
		e.Update(c, p, g2, s1, s2, step)
		RefUpdate(c, pv, g1v, r1, r2, 1)
		RefUpdate(c, pv, g2v, r1, r2, 2)
		Close(h.t, "two updates in a row p", h.read(p), pv, 1e-6, 1e-5)
		Close(h.t, "two updates in a row step", h.read(step), []float64{2}, 0, 0)
	}
	// Views that start one element into their buffers (a GPU engine's
	// vectorised path needs aligned starts; this takes the other one).
	c := engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}
	pv := h.rand(n, 0.1)
	p := e.Slice(h.f32(append([]float64{0}, pv...)), 1, n)
	g := e.Slice(h.f32(append([]float64{0}, h.rand(n, 1)...)), 1, n)
	gv := toF64(h.read(g))
	s1 := e.Slice(h.zeros(engine.Float32, n+1), 1, n)
	s2 := e.Slice(h.zeros(engine.Float32, n+1), 1, n)
	step := h.zeros(engine.Float32, 1)
	r1, r2 := make([]float64, n), make([]float64, n)
	e.Update(c, p, g, s1, s2, step)
	RefUpdate(c, pv, gv, r1, r2, 1)
	Close(h.t, "update (unaligned views) p", h.read(p), pv, 1e-6, 1e-5)
	Close(h.t, "update (unaligned views) s2", h.read(s2), r2, 1e-7, 1e-5)
}

// testModelGradient runs one training step of the whole network with a
// zero learning rate and compares the engine's gradients and loss with the
// float64 reference model (refmodel.go), for both presets, full size; with
// sigmoid, with label smoothing 0.1 (the model passes it to the head's op,
// fused or not).
func testModelGradient(h *harness) {
	e, t := h.e, h.t
	for _, preset := range engine.Presets {
		for _, act := range []engine.Activation{engine.ReLU, engine.Sigmoid} {
			arch, err := engine.NewArch(preset, act)
			if err != nil {
				t.Fatal(err)
			}
			ls := 0.0
			if act == engine.Sigmoid {
				ls = 0.1
			}
			name := fmt.Sprintf("%s %v, label smoothing %v", preset, act, ls)
			init := arch.GlorotInit(3)
			for _, s := range arch.Params() {
				if s.Bias {
					for i := s.Off; i < s.Off+s.Len(); i++ {
						init[i] = float32(0.05 * h.r.NormFloat64())
					}
				}
			}
			m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.SGD}, init)
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			img := make([]uint8, n*engine.ImagePixels)
			for i := range img {
				img[i] = uint8(h.r.IntN(256))
			}
			lab := []uint8{7, 0, 7}
			d, err := engine.UploadDataset(e, img, lab)
			if err != nil {
				t.Fatal(err)
			}
			perm := h.zeros(engine.Int32, n)
			if err := e.Write(perm, 0, []int32{2, 0, 1}); err != nil {
				t.Fatal(err)
			}
			cursor := h.zeros(engine.Int32, 1)
			stats := h.zeros(engine.Float32, 3)
			if err := m.TrainStep(engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor, LabelSmoothing: ls}, n, stats); err != nil {
				t.Fatal(err)
			}
			g := h.read(m.G)
			after, err := m.Params()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(after, init) {
				t.Errorf("%s: a step with learning rate 0 changed the parameters", name)
			}
			x := make([]float64, n*engine.ImagePixels)
			order := []int{2, 0, 1}
			labels := make([]int32, n)
			for k, idx := range order {
				for j := 0; j < engine.ImagePixels; j++ {
					x[k*engine.ImagePixels+j] = float64(float32(img[idx*engine.ImagePixels+j]) / 255)
				}
				labels[k] = int32(lab[idx])
			}
			loss, rg := RefModel(arch, toF64(init), x, labels, ls)
			st := h.read(stats)
			Close(t, name+" loss", []float32{st[0] / n}, []float64{loss}, 1e-5, 1e-4)
			for _, s := range arch.Params() {
				ref := rg[s.Off : s.Off+s.Len()]
				scale := 0.0
				for _, v := range ref {
					scale = math.Max(scale, math.Abs(v))
				}
				// Relative to the tensor's largest gradient: float32 sums
				// over thousands of terms.
				Close(t, name+" grad "+s.Name, g[s.Off:s.Off+s.Len()], ref, 1e-4*scale+1e-7, 1e-3)
			}
		}
	}
}

// testInferenceModel checks that a model made for inference alone
// (NewInferenceModel) gives NewModel's probabilities and loss bit for bit,
// at a batch and at a smaller one (views of the first one's buffers), for
// both presets, and that a training step on it is refused with a panic.
func testInferenceModel(h *harness) {
	e, t := h.e, h.t
	for _, preset := range engine.Presets {
		arch, err := engine.NewArch(preset, engine.Tanh)
		if err != nil {
			t.Fatal(err)
		}
		params := arch.GlorotInit(5)
		full, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, params)
		if err != nil {
			t.Fatal(err)
		}
		inf, err := engine.NewInferenceModel(e, arch, params)
		if err != nil {
			t.Fatal(err)
		}
		if inf.G != nil || inf.S1 != nil || inf.S2 != nil || inf.Step != nil {
			t.Errorf("%s: an inference model holds gradients or optimizer state", preset)
		}
		const n = 5
		img := make([]uint8, n*engine.ImagePixels)
		x := make([]float32, len(img))
		for i := range img {
			img[i] = uint8(h.r.IntN(256))
			x[i] = float32(img[i]) / 255
		}
		lab := []uint8{3, 1, 4, 1, 5}
		d, err := engine.UploadDataset(e, img, lab)
		if err != nil {
			t.Fatal(err)
		}
		perm := h.zeros(engine.Int32, n)
		if err := e.Write(perm, 0, []int32{4, 2, 0, 1, 3}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{n, 2} { // the second: views of the first's buffers
			name := fmt.Sprintf("%s, batch %d", preset, k)
			want, err := full.Predict(x[:k*engine.ImagePixels])
			if err != nil {
				t.Fatal(err)
			}
			got, err := inf.Predict(x[:k*engine.ImagePixels])
			if err != nil {
				t.Fatal(err)
			}
			if !equalBits(got, want) {
				t.Errorf("%s: Predict's probabilities differ from NewModel's: %v, not %v", name, got, want)
			}
			var st [2][]float32
			var pr [2][]float32
			for i, m := range []*engine.Model{full, inf} {
				cursor, stats := h.zeros(engine.Int32, 1), h.zeros(engine.Float32, 3)
				pr[i] = make([]float32, k*engine.Classes)
				if err := m.EvalStep(engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}, k, stats, pr[i], nil); err != nil {
					t.Fatal(err)
				}
				st[i] = h.read(stats)
			}
			if !equalBits(st[1], st[0]) || !equalBits(pr[1], pr[0]) {
				t.Errorf("%s: EvalStep's statistics %v and probabilities differ from NewModel's %v", name, st[1], st[0])
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: TrainStep on an inference model did not panic", preset)
				}
			}()
			cursor, stats := h.zeros(engine.Int32, 1), h.zeros(engine.Float32, 3)
			_ = inf.TrainStep(engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}, n, stats)
		}()
		inf.Release()
		full.Release()
		d.Release(e)
	}
}

// equalBits reports whether a and b hold the same float32 values, bit for
// bit (NaNs included).
func equalBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}
