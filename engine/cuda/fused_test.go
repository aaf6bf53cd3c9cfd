//go:build cgo

// fused_test.go: dense layers' products with fused epilogues (DenseEnv
// "cublaslt", fused.go) on the emulated device: which products fuse, the
// fallback where cuBLASLt has no algorithm, and the plans released.

package cuda

import (
	"strings"
	"testing"

	cu "github.com/cnngpu/cnngpu/cuda"
)

// TestEmulatedFusedDense trains a few recorded steps of the reference
// network in the variant "cuBLASLt dense, 2 streams": the first dense
// layer's forward product runs with its bias and ReLU fused, its weight
// gradient's with the bias gradient (so one bias_grad kernel a step, the
// second layer's, where the split products run two); where emulated
// cuBLASLt has no algorithm for an epilogue, that product runs apart and
// the step is unchanged but for the summation order of the bias gradient.
// TestEmulatedTraining compares the variant's losses with the CPU engine's.
func TestEmulatedFusedDense(t *testing.T) {
	const bs, steps = 8, 5
	v := variants[5]
	if !v.fused {
		t.Fatalf("variants[5] is %q, not the cuBLASLt one", v.name)
	}
	split := newEmuTraining(t, variants[2], bs, steps)
	for range steps {
		split.step()
	}
	splitGrads := split.g.launched["bias_grad"]
	for _, c := range []struct {
		name     string
		none     []cu.Epilogue
		forward  bool
		backward bool
		fused    string
	}{
		{"both fused", nil, true, true, "3136→1000: forward + bias + ReLU, weight + bias gradient"},
		{"no bias gradient epilogue", []cu.Epilogue{cu.EpilogueBiasGradA}, true, false, "3136→1000: forward + bias + ReLU"},
		{"none", []cu.Epilogue{cu.EpilogueReLUBias, cu.EpilogueBiasGradA}, false, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newEmuTraining(t, v, bs, steps)
			tr.g.noFused = map[cu.Epilogue]bool{}
			for _, ep := range c.none {
				tr.g.noFused[ep] = true
			}
			for range steps {
				tr.step()
			}
			if got := tr.g.fusedRan[cu.EpilogueReLUBias] == steps; got != c.forward {
				t.Errorf("forward products with bias and ReLU fused: %d in %d steps; want fused: %v", tr.g.fusedRan[cu.EpilogueReLUBias], steps, c.forward)
			}
			if got := tr.g.fusedRan[cu.EpilogueBiasGradA] == steps; got != c.backward {
				t.Errorf("weight gradients with the bias gradient fused: %d in %d steps; want fused: %v", tr.g.fusedRan[cu.EpilogueBiasGradA], steps, c.backward)
			}
			want := splitGrads
			if c.backward {
				want = splitGrads / 2
			}
			if got := tr.g.launched["bias_grad"]; got != want {
				t.Errorf("bias_grad ran %d times, want %d (the split variant: %d)", got, want, splitGrads)
			}
			if got := tr.e.FusedDense(); got != c.fused {
				t.Errorf("FusedDense() = %q, want %q", got, c.fused)
			}
			if !strings.Contains(tr.e.Name(), "cuBLASLt dense") {
				t.Errorf("Name() = %q, want it to name cuBLASLt dense", tr.e.Name())
			}
		})
	}
}
