// conformance_test.go: runs the engine conformance suite on the CPU engine,
// with the AVX2 kernel and with the portable one, and with 1 and 3 workers.

package cpu

import (
	"fmt"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/enginetest"
)

func TestConformance(t *testing.T) {
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, asm := range []bool{true, false} {
		if asm && !haveAVX2 {
			t.Log("skipping the AVX2 variant: this processor lacks AVX2/FMA")
			continue
		}
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("asm=%v/workers=%d", asm, workers), func(t *testing.T) {
				useAsm = asm
				enginetest.Run(t, func(t *testing.T) engine.Engine { return New(workers) })
			})
		}
	}
}
