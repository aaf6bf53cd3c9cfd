// probe_test.go: the check of a model's outputs before it is served or
// exported (probeOutputs).

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
)

// TestProbeOutputsFindsOverflowOnInk: a model whose first convolution
// answers edges alone (each filter's weights sum to 0), with the later
// weights huge, gives finite outputs for images of one shade throughout
// (blank, grey, white) and overflows on a digit's strokes: the probe's
// drawn 0 finds it and names it; an initialised model passes.
func TestProbeOutputsFindsOverflowOnInk(t *testing.T) {
	e := cpu.New(1)
	defer e.Close()
	// The original preset's convolutions are unpadded: an image of one
	// shade gives its first one's output 0 at every position.
	arch, err := engine.NewArch("original", engine.ReLU)
	if err != nil {
		t.Fatal(err)
	}
	edges := make([]float32, arch.NumParams())
	ps := arch.Params()
	for _, s := range ps[2:] {
		if !s.Bias {
			for i := s.Off; i < s.Off+s.Len(); i++ {
				edges[i] = 1e30
			}
		}
	}
	for f := 0; f < ps[0].Len()/25; f++ { // conv1.weight: (32,1,5,5)
		edges[ps[0].Off+25*f+2], edges[ps[0].Off+25*f+22] = 1, -1 // above less below
	}
	for name, c := range map[string]struct {
		params []float32
		want   string // "" passes
	}{
		"edges": {edges, "the model's output for a drawn 0 is NaN"},
		"init":  {arch.GlorotInit(1), ""},
	} {
		m, err := engine.NewInferenceModel(e, arch, c.params)
		if err != nil {
			t.Fatal(err)
		}
		err = probeOutputs(m)
		m.Release()
		if c.want == "" && err != nil || c.want != "" && (!errors.Is(err, engine.ErrNonFinite) || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v; want %q", name, err, c.want)
		}
	}
}
