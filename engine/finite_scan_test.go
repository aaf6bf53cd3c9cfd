// finite_scan_test.go: FirstNonFinite's word-wise scan against the plain
// one on every placement of a NaN or infinity, aligned or not, short and
// long (the parallel path).

package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFirstNonFiniteScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7f800001), math.Float32frombits(0xffffffff)}
	good := []float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 0, float32(math.Copysign(0, -1)), 1, -2.5e-38}
	plain := func(v []float32) int {
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return i
			}
		}
		return -1
	}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 4*finiteChunk + 3} {
		base := make([]float32, n+1)
		for i := range base {
			base[i] = good[r.IntN(len(good))] * r.Float32()
		}
		for off := 0; off <= 1 && off <= n; off++ { // aligned to 8 bytes, then not
			v := base[off : off+n]
			if got := FirstNonFinite(v); got != -1 {
				t.Fatalf("n=%d off=%d: all finite, got %d", n, off, got)
			}
			places := []int{0, n / 2, n - 1, n - 2}
			if n > 10 {
				places = append(places, r.IntN(n), finiteChunk, 3*finiteChunk+1)
			}
			for _, at := range places {
				if at < 0 || at >= n {
					continue
				}
				for _, b := range bad {
					old := v[at]
					v[at] = b
					if got, want := FirstNonFinite(v), plain(v); got != want || got != at {
						t.Fatalf("n=%d off=%d: %v at %d: got %d, want %d", n, off, b, at, got, want)
					}
					v[at] = old
				}
			}
		}
	}
}
