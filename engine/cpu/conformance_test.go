// conformance_test.go: runs the engine conformance suite on the CPU engine,
// with each micro-kernel set (AVX-512, AVX2, portable) this processor can
// run, and with 1 and 3 workers.

package cpu

import (
	"fmt"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/enginetest"
)

func TestConformance(t *testing.T) {
	for _, set := range kernelSets {
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", set, workers), func(t *testing.T) {
				if !useKernels(t, set) {
					t.SkipNow()
				}
				enginetest.Run(t, func(t *testing.T) engine.Engine { return New(workers) })
			})
		}
	}
}
