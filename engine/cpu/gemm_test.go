// gemm_test.go: checks sgemm (both micro-kernels, every operand layout, edge
// sizes) against a float64 reference, and benchmarks it in GFLOP/s.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// view lays out an r x c matrix either row-major or column-major (transposed
// storage) so the same logical matrix can be fed through every pack path.
func view(d []float32, r, c int, trans bool) mat {
	if trans {
		return mat{d: d, rs: 1, cs: r}
	}
	return mat{d: d, rs: c, cs: 1}
}

func refGemm(m, n, k int, alpha float64, a, b mat, beta float64, c []float64) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a.d[i*a.rs+p*a.cs]) * float64(b.d[p*b.rs+j*b.cs])
			}
			c[i*n+j] = alpha*s + beta*c[i*n+j]
		}
	}
}

// checkClose fails when |got-ref| > atol + rtol*|ref| anywhere, printing the
// worst elements.
func checkClose(t *testing.T, what string, got []float32, ref []float64, atol, rtol float64) {
	t.Helper()
	type bad struct {
		i        int
		g, r, ex float64
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
		return
	}
	for a := 0; a < len(worst); a++ {
		for b := a + 1; b < len(worst); b++ {
			if worst[b].ex > worst[a].ex {
				worst[a], worst[b] = worst[b], worst[a]
			}
		}
		if a == 4 {
			break
		}
	}
	msg := fmt.Sprintf("%s: %d of %d elements out of tolerance (atol %g rtol %g); worst:", what, len(worst), len(ref), atol, rtol)
	for _, w := range worst[:min(5, len(worst))] {
		msg += fmt.Sprintf("\n  [%d] got %.7g want %.7g (%.1fx the tolerance)", w.i, w.g, w.r, w.ex)
	}
	t.Error(msg)
}

// kernelSets names the kernel sets a test can choose: "go", every op's
// portable code; "avx2", every op's AVX2 assembly with the 6x16 kernel;
// "avx512", the same with the AVX-512 6x32 kernel for pairs of panels;
// "neon", arm64's NEON micro-kernel, packing, max-pooling and Adam with the
// other ops portable; and "avx2-core", the same configuration with AVX2's
// versions of those four (useAsmCore without useAsm), so that arm64's
// paths are tested and timed on machines without an arm64 processor.
var kernelSets = []string{"go", "avx2", "avx512", "neon", "avx2-core"}

// useKernels selects one of kernelSets until the test ends; it reports
// false, having logged why, when this processor cannot run it.
func useKernels(t testing.TB, set string) bool {
	t.Helper()
	switch {
	case (set == "avx2" || set == "avx2-core") && !haveAVX2:
		t.Logf("skipping the AVX2 kernels: this processor lacks AVX2/FMA")
		return false
	case set == "avx512" && !haveAVX512:
		t.Logf("skipping the AVX-512 kernel: this processor (or its operating system) lacks AVX-512F")
		return false
	case set == "neon" && !haveNEON:
		t.Logf("skipping the NEON kernel: it runs on arm64 alone")
		return false
	}
	asm, wide, core := useAsm, useWide, useAsmCore
	t.Cleanup(func() { useAsm, useWide, useAsmCore = asm, wide, core })
	useAsm, useWide = set == "avx2" || set == "avx512", set == "avx512"
	useAsmCore = set != "go"
	return true
}

func TestSgemmMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {6, 16, 5}, {7, 17, 3}, {64, 196, 288}, {13, 40, 800}, {128, 100, 3136 / 4}, {5, 3, 0}, {100, 33, 1},
		{6, 32, 9}, {12, 64, 7}, {11, 31, 13}, {64, 121, 288}, {288, 121, 64}}
	for _, set := range kernelSets {
		if !useKernels(t, set) {
			continue
		}
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, beta := range []float32{0, 0.5, 1} {
						a := view(randSlice(r, m*k), m, k, ta)
						b := view(randSlice(r, k*n), k, n, tb)
						c := randSlice(r, m*n)
						ref := make([]float64, m*n)
						for i := range c {
							ref[i] = float64(c[i])
						}
						refGemm(m, n, k, 1.5, a, b, float64(beta), ref)
						var ws gemmWS
						sgemm(&ws, m, n, k, 1.5, a, b, beta, rowMajor(c, n))
						checkClose(t, fmt.Sprintf("%s m=%d n=%d k=%d ta=%v tb=%v beta=%g", set, m, n, k, ta, tb, beta), c, ref, 1e-4, 1e-4*math.Sqrt(float64(k)+1))
					}
				}
			}
		}
	}
}

// TestWideKernelSameBits: sgemm with the AVX-512 kernel gives the AVX2
// kernel's bits exactly (for every value but NaN, whose payload may
// differ), so which of them a processor has never changes a result (a
// run, a checkpoint, a golden loss). The shapes cover whole and
// partial pairs of panels, a single panel left over, partial rows, k
// blocks (beta 1 inside), every beta path, strided and transposed C; C
// sits in a wider buffer whose padding, filled with NaN, must stay as it
// was (the kernel's masked loads and stores touch nothing else).
func TestWideKernelSameBits(t *testing.T) {
	if !haveAVX512 {
		t.Skip("this processor (or its operating system) lacks AVX-512F: only the AVX2 kernel runs here")
	}
	r := rand.New(rand.NewPCG(5, 6))
	shapes := [][3]int{{6, 32, 1}, {6, 17, 4}, {7, 33, 9}, {12, 48, 40}, {5, 31, 3}, {64, 121, 288}, {288, 121, 64},
		{64, 288, 121}, {128, 1000, 1600}, {13, 100, 800}, {1, 20, 5}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, beta := range []float32{0, 1, 0.5, -2, 0.3} { // 0.3: C*beta rounds, so a fused multiply-add differs
			for _, ct := range []bool{false, true} {
				a, b := randSlice(r, m*k), randSlice(r, k*n)
				const pad = 5
				ldc := n + pad
				c0 := randSlice(r, m*ldc)
				for i := 0; i < m; i++ {
					for j := n; j < ldc; j++ {
						c0[i*ldc+j] = float32(math.NaN())
					}
				}
				cv := mat{d: nil, rs: ldc, cs: 1}
				if ct { // C stored by columns: element (i, j) at j*ldc'+i
					cv = mat{rs: 1, cs: m + pad}
					c0 = randSlice(r, n*(m+pad))
				}
				run := func(set string) []float32 {
					if !useKernels(t, set) {
						t.FailNow()
					}
					c := slices.Clone(c0)
					v := cv
					v.d = c
					var ws gemmWS
					sgemm(&ws, m, n, k, 1.5, rowMajor(a, k), rowMajor(b, n), beta, v)
					return c
				}
				want, got := run("avx2"), run("avx512")
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("m=%d n=%d k=%d beta=%g C by columns %v: element %d is %v with AVX-512, %v with AVX2 (bits %08x, %08x)",
							m, n, k, beta, ct, i, got[i], want[i], math.Float32bits(got[i]), math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

func TestSgemmBetaZeroIgnoresNaN(t *testing.T) {
	var ws gemmWS
	a := []float32{1, 2}
	b := []float32{3, 4}
	c := []float32{float32(math.NaN())}
	sgemm(&ws, 1, 1, 2, 1, rowMajor(a, 2), rowMajor(b, 1), 0, rowMajor(c, 1))
	if c[0] != 11 {
		t.Fatalf("C with beta 0 read stale NaN: got %v want 11", c[0])
	}
}

func TestGemmParallelMatchesSerialBitForBit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	p := newPool(3)
	defer p.close()
	for _, s := range [][3]int{{128, 1000, 3136}, {1000, 64, 128}, {300, 20, 50}} {
		m, n, k := s[0], s[1], s[2]
		a := randSlice(r, m*k)
		b := randSlice(r, k*n)
		c1 := make([]float32, m*n)
		c2 := make([]float32, m*n)
		var ws gemmWS
		sgemm(&ws, m, n, k, 1, rowMajor(a, k), rowMajor(b, n), 0, rowMajor(c1, n))
		task := &gemmTask{ws: make([]gemmWS, 3)}
		gemmParallel(p, task, m, n, k, 1, rowMajor(a, k), rowMajor(b, n), 0, rowMajor(c2, n))
		for i := range c1 {
			if c1[i] != c2[i] {
				t.Fatalf("m=%d n=%d k=%d: parallel result differs at %d: %v vs %v", m, n, k, i, c2[i], c1[i])
			}
		}
	}
}

func benchGemm(bm *testing.B, m, n, k int, set string, workers int) {
	if !useKernels(bm, set) {
		bm.SkipNow()
	}
	r := rand.New(rand.NewPCG(1, 1))
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	p := newPool(workers)
	defer p.close()
	task := &gemmTask{ws: make([]gemmWS, workers)}
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		gemmParallel(p, task, m, n, k, 1, rowMajor(a, k), rowMajor(b, n), 0, rowMajor(c, n))
	}
	bm.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm(b *testing.B) {
	for _, s := range [][3]int{{128, 1000, 3136}, {512, 512, 512}, {64, 196, 288}} {
		for _, set := range kernelSets {
			for _, w := range []int{1, 2} {
				name := fmt.Sprintf("%dx%dx%d/%s/workers=%d", s[0], s[1], s[2], set, w)
				b.Run(name, func(b *testing.B) { benchGemm(b, s[0], s[1], s[2], set, w) })
			}
		}
	}
}

// TestPackBTransposedAsm: packing B with AVX2 (column-major: 8×8
// transposes; row-major: 16-wide row moves), or NEON on arm64 (column-major:
// 4×4 transposes), gives the same panels, bit for bit, as the portable
// loops, for depths with and without a tail of fewer
// than 8, whole and partial panels and offsets into B.
func TestPackBTransposedAsm(t *testing.T) {
	if !haveAVX2 && !haveNEON {
		t.Skip("this processor lacks AVX2/FMA and NEON: only the portable packing exists")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range []struct{ k, n, p0, kc, j0, nc int }{
		{8, 16, 0, 8, 0, 16}, {196, 288, 0, 196, 0, 288}, {349, 40, 0, 349, 3, 37},
		{800, 64, 400, 400, 16, 48}, {7, 32, 0, 7, 0, 32}, {23, 21, 5, 17, 2, 19},
	} {
		for _, trans := range []bool{true, false} {
			b := view(randSlice(r, s.k*s.n), s.k, s.n, trans)
			ncp := (s.nc + nr - 1) / nr * nr
			packBoth(t, fmt.Sprintf("%+v column-major %v", s, trans), ncp*s.kc, nr, s.kc, func(dst []float32) {
				packB(dst, b, s.p0, s.kc, s.j0, s.nc)
			})
		}
	}
}

// TestPackATransposedAsm: packing a row-major A with the AVX2 transposes,
// or NEON's on arm64, gives the same panels, bit for bit, as the portable loop (whole and
// partial panels, depths with a tail, offsets into A).
func TestPackATransposedAsm(t *testing.T) {
	if !haveAVX2 && !haveNEON {
		t.Skip("this processor lacks AVX2/FMA and NEON: only the portable packing exists")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range []struct{ m, k, i0, mc, p0, kc int }{
		{6, 8, 0, 6, 0, 8}, {64, 196, 0, 64, 0, 196}, {128, 3136, 6, 120, 349, 349},
		{13, 40, 1, 12, 3, 37}, {7, 7, 0, 7, 0, 7}, {20, 24, 2, 17, 0, 16},
	} {
		a := view(randSlice(r, s.m*s.k), s.m, s.k, false)
		mcp := (s.mc + mr - 1) / mr * mr
		packBoth(t, fmt.Sprintf("%+v", s), mcp*s.kc, mr, s.kc, func(dst []float32) {
			packA(dst, a, s.i0, s.mc, s.p0, s.kc)
		})
	}
}

// packBoth runs pack into two buffers of n values, first filled with
// values no packing writes, with the portable code and then with the
// assembly (AVX2's, or NEON's on arm64),
// and fails at the first value whose bits differ; width is the panel
// width (mr or nr) and kc its depth, for the message.
func packBoth(t *testing.T, what string, n, width, kc int, pack func(dst []float32)) {
	t.Helper()
	saved, savedCore := useAsm, useAsmCore
	defer func() { useAsm, useAsmCore = saved, savedCore }()
	got, want := make([]float32, n), make([]float32, n)
	for i := range got {
		got[i], want[i] = float32(i), -float32(i) // every element must be written
	}
	useAsm, useAsmCore = false, false
	pack(want)
	useAsm, useAsmCore = haveAVX2, true // useAsm: AVX2's row-major B panels too
	pack(got)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: panel element %d (row %d, column %d of its panel): %v with the assembly, %v portable", what, i, (i%(width*kc))/width, i%width, got[i], want[i])
		}
	}
}

// TestSgemmRowMajor: the exported product, with row strides wider than the
// rows, each operand stored as is or transposed, against the float64
// reference; values outside the strided matrices stay as they were.
func TestSgemmRowMajor(t *testing.T) {
	e := New(2)
	defer e.Close()
	r := rand.New(rand.NewPCG(3, 4))
	const m, n, k, pad = 37, 70, 300, 3 // m·n·k above the parallel threshold
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, beta := range []float32{0, 0.5} {
				ar, ac := m, k
				if ta {
					ar, ac = k, m
				}
				br, bc := k, n
				if tb {
					br, bc = n, k
				}
				lda, ldb, ldc := ac+pad, bc+pad, n+pad
				a, b, c := randSlice(r, ar*lda), randSlice(r, br*ldb), randSlice(r, m*ldc)
				ref := make([]float64, m*n)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						ref[i*n+j] = float64(c[i*ldc+j])
					}
				}
				av, bv := mat{d: a, rs: lda, cs: 1}, mat{d: b, rs: ldb, cs: 1}
				if ta {
					av = av.t()
				}
				if tb {
					bv = bv.t()
				}
				refGemm(m, n, k, 1.5, av, bv, float64(beta), ref)
				before := slices.Clone(c)
				e.SgemmRowMajor(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, c, ldc)
				got := make([]float32, m*n)
				for i := 0; i < m; i++ {
					copy(got[i*n:(i+1)*n], c[i*ldc:i*ldc+n])
					if !slices.Equal(c[i*ldc+n:i*ldc+ldc], before[i*ldc+n:i*ldc+ldc]) {
						t.Errorf("ta=%v tb=%v: row %d's padding changed", ta, tb, i)
					}
				}
				checkClose(t, fmt.Sprintf("SgemmRowMajor ta=%v tb=%v beta=%g", ta, tb, beta), got, ref, 1e-4, 1e-4*math.Sqrt(k+1))
			}
		}
	}
}
