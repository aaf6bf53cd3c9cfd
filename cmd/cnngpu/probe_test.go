// probe_test.go: the check of a model's outputs before it is served or
// exported (probeOutputs).

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/engine/enginetest"
)

// TestProbeOutputsFindsOverflowOnInk: a model that gives finite outputs
// for images of one shade throughout (blank, grey, white) and overflows
// on a digit's strokes (enginetest.OverflowsOnStrokes): the probe's drawn
// 0 finds it and names it; an initialised model passes.
func TestProbeOutputsFindsOverflowOnInk(t *testing.T) {
	e := cpu.New(1)
	defer e.Close()
	edgesArch, edges := enginetest.OverflowsOnStrokes()
	ref, _ := engine.NewArch("reference", engine.ReLU)
	for name, c := range map[string]struct {
		arch   engine.Arch
		params []float32
		want   string // "" passes
	}{
		"edges": {edgesArch, edges, "the model's output for a drawn 0 is NaN"},
		"init":  {ref, ref.GlorotInit(1), ""},
	} {
		m, err := engine.NewInferenceModel(e, c.arch, c.params)
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
