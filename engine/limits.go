// limits.go: the largest shapes the engines index. The max-pools record
// the position of each window's maximum in their input as an int32 (the
// arg tensors), so a pool's input may hold at most 2^31-1 elements: with
// the reference architecture (32 filters of 28×28 before the first pool),
// a batch of at most 85,598 images. CheckPool refuses a larger shape (a
// programmer's error by then); Arch.CheckBatch says so first, as an error
// for the user.

package engine

import (
	"fmt"
	"math"
)

// poolIndexLimit is the most elements a max-pool's input may have.
const poolIndexLimit = math.MaxInt32

// checkPoolIndex panics when the input of max-pool s has more elements
// than its int32 argmax can index.
func checkPoolIndex(op string, s PoolShape) {
	if n := int64(s.N) * int64(s.C) * int64(s.H) * int64(s.W); n > poolIndexLimit {
		panic(fmt.Sprintf("engine: %s: the pool's input has %d×%d×%d×%d = %d elements, more than its int32 argmax indexes (2^31-1)",
			op, s.N, s.C, s.H, s.W, n))
	}
}

// MaxBatch is the largest batch the architecture's max-pools can index.
func (a Arch) MaxBatch() int {
	_, p1, _, p2, _, _ := a.Shapes(1)
	per := max(p1.C*p1.H*p1.W, p2.C*p2.H*p2.W)
	return poolIndexLimit / per
}

// CheckBatch returns an error, saying what to do, when a batch of n images
// is more than the architecture's max-pools can index.
func (a Arch) CheckBatch(n int) error {
	if m := a.MaxBatch(); n > m {
		return fmt.Errorf("a batch of %d images is more than the %s architecture can run: its max-pools index their input with 32-bit integers, "+
			"which allows at most %d images a batch; use a smaller batch size", n, a.Preset, m)
	}
	return nil
}
