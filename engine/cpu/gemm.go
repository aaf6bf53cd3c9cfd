// gemm.go: single-precision matrix multiply for the CPU engine, organised the
// Goto/BLIS way: B is packed into 16-column panels (kc x nc, kept in L2/L3),
// A into 6-row panels (mc x kc, kept in L2), and a 6x16 register-tiled
// micro-kernel (AVX2/FMA assembly where the processor has it, NEON on
// arm64, portable Go otherwise) runs over the tiles; where the processor
// has AVX-512, a 6x32 kernel does two B panels at once, with the same bits.
// Transposed operands are handled by packing, so every layout the network
// needs takes the same fast path.

package cpu

import "runtime"

// Micro-tile and cache-block sizes.
const (
	mr    = 6
	nr    = 16
	kcMax = 384
	mcMax = 120
	ncMax = 2048
)

// useAsm selects the AVX2/FMA assembly of every op (amd64); set at
// start-up from CPU feature detection (and CNNGPU_NOASM=1 forces the
// portable code).
var useAsm bool

// asmKernel is the assembly micro-kernel where one exists for this processor.
var asmKernel func(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// useAsmCore selects the assembly that amd64 and arm64 both have: the
// micro-kernel (asmKernel), max-pooling (pool2Asm), packing lines into
// panels (packT6Asm, packT16Asm) and Adam (asmAdam). AVX2's on amd64, set
// with useAsm; NEON's on arm64, its only assembly, where useAsm stays false
// and the other ops run their portable Go code. CNNGPU_NOASM=1 turns it off
// too.
var useAsmCore bool

// haveNEON reports whether the processor can run the NEON code (the
// *_arm64.s files): every arm64 processor can.
const haveNEON = runtime.GOARCH == "arm64"

// useWide selects wideKernel, the AVX-512 micro-kernel that does two
// 16-column panels at once, where the processor has it (set at start-up
// with useAsm). It gives the same bits as the 6x16 kernel.
var useWide bool

// wideKernel: c (rows rows, stride ldc; the columns set in mask) =
// alpha * a (kc x 6 packed) times b (kc x 16 packed, then the next
// 16-column panel bstep floats on) + beta*c; when beta is 0, c is not read.
var wideKernel func(kc int, a, b *float32, bstep int, c *float32, ldc int, alpha, beta float32, rows int, mask uint32)

// mat is a strided view of a matrix: element (i, j) is d[i*rs+j*cs].
type mat struct {
	d      []float32
	rs, cs int
}

// rowMajor views d as a rows x cols row-major matrix.
func rowMajor(d []float32, cols int) mat { return mat{d: d, rs: cols, cs: 1} }

// t returns the transpose view.
func (m mat) t() mat { return mat{d: m.d, rs: m.cs, cs: m.rs} }

// gemmWS is one worker's packing space.
type gemmWS struct {
	a, b []float32
	tile [mr * nr]float32
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// kernelGo is the portable micro-kernel with the same contract as the
// assembly one: c (6 rows, stride ldc) = alpha*sum_p a[p,:]^T b[p,:] + beta*c;
// when beta is 0, c is not read.
func kernelGo(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	var acc [mr][nr]float32
	a = a[:kc*mr]
	b = b[:kc*nr]
	for p := 0; p < kc; p++ {
		ap := (*[mr]float32)(a[p*mr:])
		bp := (*[nr]float32)(b[p*nr:])
		for i := range ap {
			ai := ap[i]
			row := &acc[i]
			for j := range bp {
				row[j] += ai * bp[j]
			}
		}
	}
	for i := range acc {
		row := (*[nr]float32)(c[i*ldc:])
		for j := range row {
			v := alpha * acc[i][j]
			if beta != 0 {
				v += beta * row[j]
			}
			row[j] = v
		}
	}
}

// kernel runs the selected micro-kernel on packed panels a (kc x 6) and
// b (kc x 16) into c.
func kernel(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	if useAsmCore {
		_ = a[kc*mr-1]
		_ = b[kc*nr-1]
		_ = c[5*ldc+nr-1]
		asmKernel(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
		return
	}
	kernelGo(kc, a, b, c, ldc, alpha, beta)
}

// packA copies rows [i0, i0+mc) x columns [p0, p0+kc) of a into 6-row
// panels: panel r holds, for each p, the 6 values a[i0+6r+0..5, p0+p].
// Missing rows of the last panel are zero.
func packA(dst []float32, a mat, i0, mc, p0, kc int) {
	for ip := 0; ip < mc; ip += mr {
		rows := min(mr, mc-ip)
		panel := dst[ip*kc : ip*kc+mr*kc]
		switch {
		case a.cs == 1:
			// A stored by rows: a transpose.
			packLines(panel, a.d, (i0+ip)*a.rs+p0, a.rs, rows, mr, kc, packT6Asm)
		case a.rs == 1:
			for p := 0; p < kc; p++ {
				base := (p0+p)*a.cs + i0 + ip
				copy(panel[p*mr:p*mr+rows], a.d[base:base+rows])
			}
		default:
			for r := 0; r < rows; r++ {
				for p := 0; p < kc; p++ {
					panel[p*mr+r] = a.d[(i0+ip+r)*a.rs+(p0+p)*a.cs]
				}
			}
		}
		if rows < mr {
			for p := 0; p < kc; p++ {
				clear(panel[p*mr+rows : p*mr+mr])
			}
		}
	}
}

// packB copies rows [p0, p0+kc) x columns [j0, j0+nc) of b into 16-column
// panels: panel c holds, for each p, the 16 values b[p0+p, j0+16c+0..15].
// Missing columns of the last panel are zero.
func packB(dst []float32, b mat, p0, kc, j0, nc int) {
	for jp := 0; jp < nc; jp += nr {
		cols := min(nr, nc-jp)
		panel := dst[jp*kc : jp*kc+nr*kc]
		switch {
		case b.cs == 1 && cols == nr && useAsm:
			packN16Asm(panel, b.d, p0*b.rs+j0+jp, b.rs, kc)
		case b.cs == 1:
			for p := 0; p < kc; p++ {
				base := (p0+p)*b.rs + j0 + jp
				copy(panel[p*nr:p*nr+cols], b.d[base:base+cols])
			}
		case b.rs == 1:
			// B stored by columns: a transpose.
			packLines(panel, b.d, (j0+jp)*b.cs+p0, b.cs, cols, nr, kc, packT16Asm)
		default:
			for p := 0; p < kc; p++ {
				for c := 0; c < cols; c++ {
					panel[p*nr+c] = b.d[(p0+p)*b.rs+(j0+jp+c)*b.cs]
				}
			}
		}
		if cols < nr {
			for p := 0; p < kc; p++ {
				clear(panel[p*nr+cols : p*nr+nr])
			}
		}
	}
}

// packLines interleaves lines of d into a panel of the given width:
// panel[p*width+l] = d[off+l*stride+p] for l < lines, p < kc (each line
// contiguous in p: a row of a row-major A, a column of a column-major B).
// For a whole panel under useAsmCore, asm (packT6Asm or packT16Asm: 8×8
// AVX2 transposes, or NEON's 4×4) does the first kc&^7 values; the rest go
// one at a time.
func packLines(panel, d []float32, off, stride, lines, width, kc int, asm func(panel, d []float32, off, stride, n int)) {
	p8 := 0
	if useAsmCore && lines == width && kc >= 8 {
		p8 = kc &^ 7
		asm(panel, d, off, stride, p8)
	}
	for l := 0; l < lines; l++ {
		src := d[off+l*stride+p8 : off+l*stride+kc]
		for p, v := range src {
			panel[(p8+p)*width+l] = v
		}
	}
}

// kBlock returns the depth of each k block: k itself when it fits, else k
// split into equal blocks of at most kcMax.
func kBlock(k int) int {
	if k <= kcMax {
		return k
	}
	nb := (k + kcMax - 1) / kcMax
	return (k + nb - 1) / nb
}

// sgemm computes C = alpha*A*B + beta*C on one goroutine, where A is m x k,
// B is k x n and C is m x n, each a strided view. When beta is 0, C is not
// read. The order of the additions depends only on m, n and k, never on the
// number of workers, so results repeat bit for bit.
func sgemm(ws *gemmWS, m, n, k int, alpha float32, a, b mat, beta float32, c mat) {
	sgemmPacked(ws, m, n, k, alpha, a, nil, b, beta, c)
}

// packedALen is the length of the buffer packAll fills for an m x k A.
func packedALen(m, k int) int { return (m + mr - 1) / mr * mr * k }

// packAll packs all of A (m x k) the way sgemm would, block by k block, so
// that one A shared by many multiplies (a convolution's weights, used for
// every image) is packed once.
func packAll(dst []float32, a mat, m, k int) {
	mp := (m + mr - 1) / mr * mr
	kb := kBlock(k)
	for pc := 0; pc < k; pc += kb {
		kc := min(kb, k-pc)
		packA(dst[mp*pc:], a, 0, m, pc, kc)
	}
}

// sgemmPacked is sgemm with A optionally already packed by packAll (apk);
// when apk is nil, A is packed here from a.
func sgemmPacked(ws *gemmWS, m, n, k int, alpha float32, a mat, apk []float32, b mat, beta float32, c mat) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				p := &c.d[i*c.rs+j*c.cs]
				if beta == 0 {
					*p = 0
				} else {
					*p *= beta
				}
			}
		}
		return
	}
	kb := kBlock(k)
	for jc := 0; jc < n; jc += ncMax {
		nc := min(ncMax, n-jc)
		ncp := (nc + nr - 1) / nr * nr
		for pc := 0; pc < k; pc += kb {
			kc := min(kb, k-pc)
			ws.b = grow(ws.b, ncp*kc)
			packB(ws.b, b, pc, kc, jc, nc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			for ic := 0; ic < m; ic += mcMax {
				mc := min(mcMax, m-ic)
				mcp := (mc + mr - 1) / mr * mr
				var apanels []float32
				if apk != nil {
					mp := (m + mr - 1) / mr * mr
					apanels = apk[mp*pc+ic*kc : mp*pc+ic*kc+mcp*kc]
				} else {
					ws.a = grow(ws.a, mcp*kc)
					packA(ws.a, a, ic, mc, pc, kc)
					apanels = ws.a
				}
				for jr := 0; jr < nc; jr += nr {
					if useWide && useAsm && c.cs == 1 && nc-jr > nr {
						// Two panels at once: columns jr .. jr+31 (fewer at the edge).
						wideTiles(ws, kc, apanels, ws.b[jr*kc:(jr+2*nr)*kc], c, ic, mc, jc+jr, min(2*nr, nc-jr), alpha, bet)
						jr += nr
						continue
					}
					bp := ws.b[jr*kc : jr*kc+nr*kc]
					cols := min(nr, nc-jr)
					for ir := 0; ir < mc; ir += mr {
						tile16(ws, kc, apanels[ir*kc:ir*kc+mr*kc], bp, c, ic+ir, jc+jr, min(mr, mc-ir), cols, alpha, bet)
					}
				}
			}
		}
	}
}

// tile16 computes one tile of C, rows x cols at (i0, j0), from a 6-row
// panel of A and a 16-column panel of B: straight into C when the tile is
// whole, else through ws.tile.
func tile16(ws *gemmWS, kc int, ap, bp []float32, c mat, i0, j0, rows, cols int, alpha, bet float32) {
	if rows == mr && cols == nr && c.cs == 1 {
		kernel(kc, ap, bp, c.d[i0*c.rs+j0:], c.rs, alpha, bet)
		return
	}
	kernel(kc, ap, bp, ws.tile[:], nr, alpha, 0)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			p := &c.d[(i0+i)*c.rs+(j0+j)*c.cs]
			v := ws.tile[i*nr+j]
			if bet != 0 {
				v += bet * *p
			}
			*p = v
		}
	}
}

// wideTiles computes the tiles of C in columns [j0, j0+cols) (17 to 32
// of them, two packed panels of B in bp2) for each 6-row panel of A, with
// the AVX-512 kernel. C must be stored by rows. The kernel writes partial
// tiles itself, through masks, where that gives the bits tile16 would:
// beta 0 or 1, where its fused C*beta + acc rounds once as tile16's
// separate multiply and add do; other partial tiles go through tile16.
func wideTiles(ws *gemmWS, kc int, apanels, bp2 []float32, c mat, i0, mc, j0, cols int, alpha, bet float32) {
	_ = bp2[2*nr*kc-1]
	mask := ^uint32(0) >> (2*nr - cols)
	for ir := 0; ir < mc; ir += mr {
		ap := apanels[ir*kc : ir*kc+mr*kc]
		rows := min(mr, mc-ir)
		if (rows == mr && cols == 2*nr) || bet == 0 || bet == 1 {
			off := (i0+ir)*c.rs + j0
			_ = c.d[off+(rows-1)*c.rs+cols-1]
			wideKernel(kc, &ap[0], &bp2[0], nr*kc, &c.d[off], c.rs, alpha, bet, rows, mask)
			continue
		}
		tile16(ws, kc, ap, bp2[:nr*kc], c, i0+ir, j0, rows, nr, alpha, bet)
		tile16(ws, kc, ap, bp2[nr*kc:], c, i0+ir, j0+nr, rows, cols-nr, alpha, bet)
	}
}

// gemmTask splits one sgemm across the pool: by 16-column blocks of C when
// C is wide, else by 6-row blocks. Each block is computed exactly as the
// serial sgemm would, so the split does not change any result.
type gemmTask struct {
	ws          []gemmWS
	m, n, k     int
	alpha, beta float32
	a, b, c     mat
	byCols      bool
	step        int
	apk         []float32 // A packed once (packAll's layout) for a split by columns, or nil
	apkBuf      []float32 // apk's space, kept between calls
	packA       packATask
}

// packATask packs A (m x k) as packAll does, by 6-row panels [lo, hi)
// across the pool: the same values in the same places.
type packATask struct {
	dst  []float32
	a    mat
	m, k int
}

func (t *packATask) run(_, lo, hi int) {
	mp := (t.m + mr - 1) / mr * mr
	kb := kBlock(t.k)
	i0 := lo * mr
	mc := min(hi*mr, t.m) - i0
	for pc := 0; pc < t.k; pc += kb {
		kc := min(kb, t.k-pc)
		packA(t.dst[mp*pc+i0*kc:], t.a, i0, mc, pc, kc)
	}
}

func (t *gemmTask) run(w, lo, hi int) {
	ws := &t.ws[w]
	for blk := lo; blk < hi; blk++ {
		s := blk * t.step
		if t.byCols {
			e := min(s+t.step, t.n)
			b := t.b
			b.d = b.d[s*b.cs:]
			c := t.c
			c.d = c.d[s*c.cs:]
			sgemmPacked(ws, t.m, e-s, t.k, t.alpha, t.a, t.apk, b, t.beta, c)
		} else {
			e := min(s+t.step, t.m)
			a := t.a
			a.d = a.d[s*a.rs:]
			c := t.c
			c.d = c.d[s*c.rs:]
			sgemm(ws, e-s, t.n, t.k, t.alpha, a, t.b, t.beta, c)
		}
	}
}

// gemmParallel is sgemm spread over the pool's workers.
func gemmParallel(p *pool, t *gemmTask, m, n, k int, alpha float32, a, b mat, beta float32, c mat) {
	*t = gemmTask{ws: t.ws, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c, apkBuf: t.apkBuf}
	if p.workers == 1 || int64(m)*int64(n)*int64(k) < 1<<18 {
		sgemm(&t.ws[0], m, n, k, alpha, a, b, beta, c)
		return
	}
	// Blocks several per worker, aligned to the micro-tile, so that a slow
	// core does not stall the rest.
	parts := p.workers * 4
	if n >= m {
		t.byCols = true
		t.step = max(nr, (n/parts+nr-1)/nr*nr)
		// Keep the column split inside one ncMax block per piece.
		t.step = min(t.step, ncMax)
		if pieces := (n + t.step - 1) / t.step; pieces > 1 && k > 0 {
			// Every piece multiplies all of A: pack it once, shared,
			// rather than once a piece (the same panels either way).
			t.apkBuf = grow(t.apkBuf, packedALen(m, k))
			t.apk = t.apkBuf
			t.packA = packATask{dst: t.apk, a: a, m: m, k: k}
			p.parallelFor((m+mr-1)/mr, 4, &t.packA)
			t.packA = packATask{}
		}
		p.parallelFor((n+t.step-1)/t.step, 1, t)
	} else {
		t.step = max(mr, (m/parts+mr-1)/mr*mr)
		p.parallelFor((m+t.step-1)/t.step, 1, t)
	}
}
