// kernel512_linux_amd64_test.go: the AVX-512 kernel's masked loads and
// stores touch nothing past a partial tile, checked with C ending right at
// an inaccessible page (a read or write past it would fault).

package cpu

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestWideKernelStopsAtTheEdge(t *testing.T) {
	if !haveAVX512 {
		t.Skip("this processor (or its operating system) lacks AVX-512F: the kernel does not run here")
	}
	if !useKernels(t, "avx512") {
		t.FailNow()
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, m := range []int{1, 5, 6, 7} {
		for _, n := range []int{17, 20, 31, 32} {
			for _, beta := range []float32{0, 1} {
				const k = 9
				a, b := randSlice(r, m*k), randSlice(r, k*n)
				c := atTheEdge(t, m*n) // the last element is the page's last
				c0 := randSlice(r, m*n)
				copy(c, c0)
				var ws gemmWS
				sgemm(&ws, m, n, k, 1, rowMajor(a, k), rowMajor(b, n), beta, rowMajor(c, n))
				want := slices.Clone(c0)
				if !useKernels(t, "avx2") {
					t.FailNow()
				}
				sgemm(&ws, m, n, k, 1, rowMajor(a, k), rowMajor(b, n), beta, rowMajor(want, n))
				useKernels(t, "avx512")
				if !slices.Equal(c, want) {
					t.Errorf("%s: the result at the page's edge differs from the AVX2 kernel's", fmt.Sprintf("m=%d n=%d beta=%g", m, n, beta))
				}
			}
		}
	}
}
