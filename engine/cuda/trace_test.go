//go:build cgo && !windows

// trace_test.go: the GPU engine's phases in the trace table (package
// internal/trace), on the emulated device: a two-epoch training records
// its first steps (with the convolution plans made inside them), the step's
// graph and its alternatives, and the in-place timing, all nested in the
// first epoch; closing the engine is its own phase.

package cuda

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/trace"
)

func TestEmulatedTrace(t *testing.T) {
	trace.Reset()
	defer trace.Reset()
	trace.Enable()
	const bs, n = 4, 256 // 64 steps an epoch: two warm-ups, then 3 + 2 + 4 + 3 + 3 recordings timed 8 steps each
	v := variants[2]     // own kernels, 2 streams: conv2 on cuDNN, dense1 split, 1 + 6 + 4 alternatives (TestEmulatedTuning)
	g := newEmuGPU(t)
	e := newEngine(g, false, v.own)
	e.setStreams(v.streams)
	arch, _ := engine.NewArch("reference", engine.ReLU)
	m, err := engine.NewModel(e, arch, goldenOpts[0], arch.GlorotInit(1))
	if err != nil {
		t.Fatal(err)
	}
	d := randomDataset(t, e, n, 4, 4)
	tr := &engine.Trainer{M: m, Data: d, TrainIdx: engine.AllIndices(n), Epochs: 2, BatchSize: bs, Seed: 5}
	if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
		t.Fatal(err)
	}
	d.Release(e)
	m.Release()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	tb := trace.Snapshot()
	got := map[string]trace.Row{}
	var lines []string
	for _, r := range tb.Rows {
		// A phase under several parents (the plans, under the first
		// step's ConvPool and ConvPoolBackward): its rows summed, at the
		// first one's depth.
		if was, ok := got[r.Name]; ok {
			r.Depth, r.Count, r.Total = was.Depth, was.Count+r.Count, was.Total+r.Total
		}
		got[r.Name] = r
		lines = append(lines, fmt.Sprintf("%s%s %d", strings.Repeat("  ", r.Depth), r.Name, r.Count))
	}
	table := strings.Join(lines, "\n")
	for _, w := range []struct {
		name       string
		depth      int
		count, max int // the count, or a range
	}{
		{trace.ModelSetup, 0, 1, 1},
		{trace.Upload, 0, 1, 1},
		{trace.Epoch, 0, 2, 2},
		{trace.WarmUp, 1, 1, 2}, // the model's first step allocates, which drops what the engine knew of the key
		// Each op of the first step, under it (ConvPool and
		// ConvPoolBackward twice a step, Update four times).
		{trace.WarmUpOp + "Gather", 2, 1, 2},
		{trace.WarmUpOp + "ConvPool", 2, 2, 4},
		{trace.WarmUpOp + "Dense", 2, 1, 2},
		{trace.WarmUpOp + "HeadStep", 2, 1, 2},
		{trace.WarmUpOp + "DenseBackward", 2, 1, 2},
		{trace.WarmUpOp + "ConvPoolBackward", 2, 2, 4},
		{trace.WarmUpOp + "Update", 2, 4, 8},
		{trace.ConvAlgo, 3, 3, 3},      // conv2's three directions, each searched on its first use, in the first step's op
		{trace.ConvDescs, 4, 1, 1},     // conv2's descriptors, made once
		{trace.ConvSearch, 4, 3, 3},    // nothing remembered: each direction searched
		{trace.GraphRecord, 1, 11, 11}, // the step and its 10 alternatives
		{trace.InPlaceTiming, 1, 15 * tuneRounds, 15 * tuneRounds},
		{trace.EngineClose, 0, 1, 1},
	} {
		r, ok := got[w.name]
		if !ok || r.Depth != w.depth || r.Count < w.count || r.Count > w.max || r.Total <= 0 {
			t.Errorf("%s: %+v (found %v); want depth %d, count %d to %d, some time", w.name, r, ok, w.depth, w.count, w.max)
		}
	}
	if t.Failed() {
		t.Logf("rows:\n%s", table)
	}
	if w := got[trace.WarmUp]; got[trace.ConvAlgo].Total > w.Total {
		t.Errorf("the plans took %v, more than the first steps that hold them, %v", got[trace.ConvAlgo].Total, w.Total)
	}
	var b strings.Builder
	tb.Write(&b)
	if testing.Verbose() {
		t.Logf("the table:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "      "+trace.ConvAlgo) {
		t.Errorf("the table does not show the plans three levels in:\n%s", b.String())
	}
	if _, ok := got[trace.WarmUpOp+"DenseBackwardUpdate"]; ok {
		t.Errorf("the split path's first step has a DenseBackwardUpdate row:\n%s", b.String())
	}
}
