//go:build cgo && !windows

// alternatives_test.go: which of cudnnFind's algorithms are timed in place
// (Alternatives) and the workspace they are given (Workspace), from the
// search results alone.

package cudnn

import (
	"slices"
	"testing"
)

func TestAlternatives(t *testing.T) {
	// A search as one process on an H200 timed conv2's filter gradient
	// (run 14): FFT (2) at 0.142 ms, twice its time in other processes,
	// and the best of them in place.
	cv := &Conv{}
	cv.prepped[DirFilter] = true
	cv.Timed[DirFilter] = []AlgoTime{{Algo: 0, MS: 0.097, Memory: 100}, {Algo: 3, MS: 0.108, Memory: 300},
		{Algo: 2, MS: 0.142, Memory: 5000}, {Algo: 5, MS: 0.150, Memory: 200}, {Algo: 1, MS: 0.180, Memory: 900000}, {Algo: 4, MS: 0.5, Memory: 1 << 30}}
	cv.algo[DirFilter], cv.ws[DirFilter] = 0, 100
	if got, want := cv.Alternatives(DirFilter), []int{3, 2, 5}; !slices.Equal(got, want) {
		t.Errorf("Alternatives = %v, want %v (within twice the fastest, at most %d, fastest first)", got, want, maxAlternatives)
	}
	// The workspace covers the algorithm in use and those three, not the
	// fourth within reach (1) nor the slow one (4).
	if got := cv.Workspace(DirFilter); got != 5000 {
		t.Errorf("Workspace = %d, want 5000", got)
	}
	// In use: a slower one (timing in place chose it); the fastest is an
	// alternative then.
	cv.algo[DirFilter], cv.ws[DirFilter] = 2, 5000
	if got, want := cv.Alternatives(DirFilter), []int{0, 3, 5}; !slices.Equal(got, want) {
		t.Errorf("with 2 in use: Alternatives = %v, want %v", got, want)
	}
	// Nothing within reach: none.
	cv.Timed[DirForward] = []AlgoTime{{Algo: 1, MS: 0.05, Memory: 0}, {Algo: 0, MS: 0.11, Memory: 64}}
	cv.algo[DirForward] = 1
	if got := cv.Alternatives(DirForward); len(got) != 0 {
		t.Errorf("forward: Alternatives = %v, want none (0.11 ms is over twice 0.05)", got)
	}
	if got := cv.Workspace(DirForward); got != 0 {
		t.Errorf("forward: Workspace = %d, want 0", got)
	}
}
