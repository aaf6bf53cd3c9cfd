// engine_test.go: model and training-loop tests on the CPU engine:
// checkpoint round trip and every refused damage, bit-for-bit repeatability
// for a seed, exact resume after an interruption, and learning a small
// synthetic problem.

package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/internal/fileutil"
)

var adam = engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}

// synthetic makes n images whose label is drawn as a bright bar at a
// label-dependent place, learnable in a few steps.
func synthetic(n int, seed uint64) ([]uint8, []uint8) {
	r := rand.New(rand.NewPCG(seed, 1))
	img := make([]uint8, n*engine.ImagePixels)
	lab := make([]uint8, n)
	for i := range lab {
		l := r.IntN(10)
		lab[i] = uint8(l)
		im := img[i*engine.ImagePixels:]
		for k := range engine.ImagePixels {
			im[k] = uint8(r.IntN(40))
		}
		row := 2 + l*2 + r.IntN(2)
		for c := 4 + r.IntN(3); c < 22; c++ {
			im[row*28+c] = 255
		}
	}
	return img, lab
}

func newTrainer(t *testing.T, e engine.Engine, act engine.Activation, seed uint64, epochs, n int) (*engine.Trainer, *engine.Model) {
	t.Helper()
	arch, err := engine.NewArch("reference", act)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.NewModel(e, arch, adam, arch.GlorotInit(seed))
	if err != nil {
		t.Fatal(err)
	}
	img, lab := synthetic(n, 5)
	d, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Trainer{M: m, Data: d, TrainIdx: engine.AllIndices(n), Epochs: epochs, BatchSize: 32, Seed: seed}, m
}

func TestTrainingLearnsAndRepeats(t *testing.T) {
	run := func() ([]float32, []engine.EpochMetrics) {
		e := cpu.New(0)
		defer e.Close()
		tr, m := newTrainer(t, e, engine.ReLU, 3, 3, 200)
		var hist []engine.EpochMetrics
		tr.ValIdx = engine.AllIndices(200)[:50]
		tr.OnEpoch = func(em engine.EpochMetrics, _ engine.Position) error { hist = append(hist, em); return nil }
		if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
			t.Fatal(err)
		}
		p, err := m.Params()
		if err != nil {
			t.Fatal(err)
		}
		return p, hist
	}
	p1, h1 := run()
	p2, _ := run()
	if !slices.Equal(p1, p2) {
		t.Error("two runs with the same seed differ")
	}
	if len(h1) != 3 {
		t.Fatalf("%d epoch records, want 3", len(h1))
	}
	if !(h1[2].TrainLoss < h1[0].TrainLoss) || h1[2].ValAcc < 0.9 {
		t.Errorf("did not learn the synthetic task: %+v", h1)
	}
	for _, m := range h1 {
		if !(m.ValSeconds > 0) || !(m.Seconds > 0) {
			t.Errorf("epoch %d: %v s training, %v s validating: want both timed", m.Epoch, m.Seconds, m.ValSeconds)
		}
	}
	if h1[0].Images != 200 || math.IsNaN(h1[0].ValLoss) {
		t.Errorf("epoch record: %+v", h1[0])
	}
}

// TestInterruptAndResumeIsExact: a run interrupted mid-epoch, saved and
// resumed from its checkpoint ends with the uninterrupted run's parameters
// bit for bit: with the reference recipe, and with the cosine schedule and
// augmentation (whose rate, translations and warps depend on the step
// count and the epoch, both restored, and the warp on the checkpoint's
// record of it).
func TestInterruptAndResumeIsExact(t *testing.T) {
	for _, c := range []struct {
		name string
		sch  engine.ScheduleKind
		aug  engine.Augmentation
	}{{"reference", engine.ConstantLR, engine.Augmentation{}}, {"cosine + shift:2", engine.CosineLR, engine.Augmentation{Shift: 2}},
		{"cosine + shift:2,rotate:10,scale:0.1", engine.CosineLR, engine.Augmentation{Shift: 2, Rotate: 10, Scale: 0.1}}} {
		t.Run(c.name, func(t *testing.T) { testResumeExact(t, c.sch, c.aug) })
	}
}

func testResumeExact(t *testing.T, sched engine.ScheduleKind, aug engine.Augmentation) {
	e := cpu.New(0)
	defer e.Close()
	// 2 epochs of 7 steps (200 images, batch 32).
	opt := adam
	opt.Sched = engine.NewSchedule(sched, 14)
	recipe := func(tr *engine.Trainer, m *engine.Model) (*engine.Trainer, *engine.Model) {
		tr.Augment = aug
		if err := e.Write(m.P, 0, m.Arch.GlorotInit(9)); err != nil {
			t.Fatal(err)
		}
		m.Opt = opt
		return tr, m
	}
	// Uninterrupted.
	tr, m := recipe(newTrainer(t, e, engine.Tanh, 9, 2, 200))
	var wantEpoch engine.EpochMetrics
	tr.OnEpoch = func(em engine.EpochMetrics, _ engine.Position) error { wantEpoch = em; return nil }
	if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
		t.Fatal(err)
	}
	want, _ := m.Params()

	// Interrupted after 10 steps (mid second epoch), checkpointed, resumed.
	tr2, m2 := recipe(newTrainer(t, e, engine.Tanh, 9, 2, 200))
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	tr2.ProgressEvery = 1
	tr2.OnProgress = func(engine.Progress) {
		if steps++; steps == 10 {
			cancel()
		}
	}
	pos, err := tr2.Run(ctx, engine.Position{})
	if err != engine.ErrInterrupted {
		t.Fatalf("interrupted run returned %v", err)
	}
	if pos.Epoch != 1 || pos.Step != 3 || pos.Sums.Seen != 96 || !(pos.Sums.Seconds > 0) {
		t.Fatalf("interrupted at %+v, want epoch 1 step 3 with the sums of 96 images and the time they took", pos)
	}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	cfg := engine.TrainConfig{Epochs: 2, BatchSize: 32, Seed: 9}
	cfg.Augmentation = aug
	ck, err := engine.Snapshot(m2, cfg, pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ck.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := engine.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Opt.Sched != opt.Sched || back.Config.Augmentation != aug {
		t.Fatalf("checkpoint kept schedule %+v and augmentation %+v, want %+v and %+v", back.Opt.Sched, back.Config.Augmentation, opt.Sched, aug)
	}
	// resume trains from p on a model restored from the checkpoint, and
	// returns the last epoch's figures and the model.
	resume := func(p engine.Position) (engine.EpochMetrics, *engine.Model) {
		m, err := engine.NewModelFrom(e, back)
		if err != nil {
			t.Fatal(err)
		}
		tr, _ := newTrainer(t, e, engine.Tanh, 9, 2, 200)
		tr.M, tr.Augment = m, back.Config.Augmentation
		var last engine.EpochMetrics
		tr.OnEpoch = func(em engine.EpochMetrics, _ engine.Position) error { last = em; return nil }
		if _, err := tr.Run(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		return last, m
	}
	gotEpoch, m3 := resume(back.Position)
	got, _ := m3.Params()
	if !slices.Equal(got, want) {
		t.Error("resumed run differs from the uninterrupted one")
	}
	// The resumed epoch reports the whole epoch's figures, as the
	// uninterrupted run does, its time included (the time before the
	// interruption, and this run's).
	if gotEpoch.TrainLoss != wantEpoch.TrainLoss || gotEpoch.TrainAcc != wantEpoch.TrainAcc || gotEpoch.Images != wantEpoch.Images ||
		gotEpoch.Resumed || gotEpoch.Partial {
		t.Errorf("resumed epoch: loss %v acc %v images %d (resumed %v, partial %v); want %v %v %d as uninterrupted, the whole epoch's",
			gotEpoch.TrainLoss, gotEpoch.TrainAcc, gotEpoch.Images, gotEpoch.Resumed, gotEpoch.Partial, wantEpoch.TrainLoss, wantEpoch.TrainAcc, wantEpoch.Images)
	}
	if sec := back.Position.Sums.Seconds; !(gotEpoch.Seconds > sec) || gotEpoch.ImagesPerSec != float64(gotEpoch.Images)/gotEpoch.Seconds {
		t.Errorf("resumed epoch: %v s, %v img/s; want more than the %v s before the interruption, and the whole epoch's rate", gotEpoch.Seconds, gotEpoch.ImagesPerSec, sec)
	}
	// A checkpoint with the sums but not the time before (from before it
	// was kept): the figures are the epoch's, the time the part run now.
	noTime := back.Position
	noTime.Sums.Seconds = 0
	if em, _ := resume(noTime); !em.Resumed || em.Partial || em.Images != wantEpoch.Images {
		t.Errorf("resumed without the time before: resumed %v, partial %v, %d images; want resumed (time of the part run now), %d images", em.Resumed, em.Partial, em.Images, wantEpoch.Images)
	}
	// Interrupted again in that epoch, it does not claim to know the
	// epoch's time: the next checkpoint keeps it unknown.
	{
		m, err := engine.NewModelFrom(e, back)
		if err != nil {
			t.Fatal(err)
		}
		tr, _ := newTrainer(t, e, engine.Tanh, 9, 2, 200)
		tr.M, tr.Augment = m, back.Config.Augmentation
		ctx, cancel := context.WithCancel(context.Background())
		tr.ProgressEvery = 1
		tr.OnProgress = func(engine.Progress) { cancel() }
		p, err := tr.Run(ctx, noTime)
		if err != engine.ErrInterrupted || p.Step <= noTime.Step || p.Sums.Seconds != 0 {
			t.Errorf("interrupted again without the time before: %v at %+v; want interrupted further on, no time kept", err, p)
		}
	}
	// A checkpoint without the sums (from before they were kept), or with
	// sums that do not count the epoch's first steps (saved by a run that
	// resumed without them: they start at its resume): the epoch's figures
	// cover the part run now, and say so.
	old := back.Position
	old.Sums = engine.EpochSums{}
	short := back.Position
	short.Sums.Seen = 32
	for _, p := range []engine.Position{old, short} {
		if em, _ := resume(p); !em.Partial || em.Resumed || em.Images != 200-96 {
			t.Errorf("resumed from %+v: partial %v, resumed %v, %d images; want partial, 104 images", p, em.Partial, em.Resumed, em.Images)
		}
	}
	// Non-finite sums are never saved (JSON cannot hold them: the file
	// would not load).
	ck.Position.Sums.Loss = float32(math.Inf(1))
	if err := ck.Save(path); !errors.Is(err, engine.ErrNonFinite) {
		t.Errorf("saving infinite sums: %v; want ErrNonFinite", err)
	}
	// The recipe changes the training: without it the parameters differ.
	if sched != engine.ConstantLR {
		tr4, m4 := newTrainer(t, e, engine.Tanh, 9, 2, 200)
		if _, err := tr4.Run(context.Background(), engine.Position{}); err != nil {
			t.Fatal(err)
		}
		if plain, _ := m4.Params(); slices.Equal(plain, want) {
			t.Error("the schedule and augmentation changed nothing")
		}
	}
}

func testCheckpoint(t *testing.T) (*engine.Checkpoint, []byte) {
	arch, _ := engine.NewArch("original", engine.Sigmoid)
	p := arch.GlorotInit(1)
	s1 := make([]float32, len(p))
	s2 := make([]float32, len(p))
	for i := range s1 {
		s1[i], s2[i] = float32(i%7), float32(i%5)
	}
	c := &engine.Checkpoint{Arch: arch, Opt: adam, Config: engine.TrainConfig{Epochs: 10, BatchSize: 128, Seed: 4},
		Position: engine.Position{Epoch: 3, Step: 17}, Params: p, S1: s1, S2: s2, Step: 412,
		History: []engine.EpochMetrics{{Epoch: 1, TrainLoss: 0.5, ValLoss: math.NaN()}}}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return c, b
}

// TestCheckpointSaveEqualsEncode: Save writes the header with placeholder
// checksums while it computes the real ones beside, then rewrites it in
// place: the file is byte for byte what Encode returns, for a checkpoint
// with the moments and for one with the weights alone.
func TestCheckpointSaveEqualsEncode(t *testing.T) {
	c, want := testCheckpoint(t)
	weights := *c
	weights.S1, weights.S2 = nil, nil
	wantWeights, err := weights.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for name, x := range map[string]struct {
		c    *engine.Checkpoint
		want []byte
	}{"with moments": {c, want}, "weights alone": {&weights, wantWeights}} {
		p := filepath.Join(t.TempDir(), "m.safetensors")
		if err := x.c.Save(p); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, x.want) {
			n := 0
			for n < min(len(got), len(x.want)) && got[n] == x.want[n] {
				n++
			}
			t.Errorf("%s: Save wrote %d bytes, Encode gives %d; first difference at byte %d", name, len(got), len(x.want), n)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	c, b := testCheckpoint(t)
	got, err := engine.DecodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != c.Arch || got.Opt != c.Opt || got.Config != c.Config || got.Position != c.Position || got.Step != c.Step {
		t.Errorf("metadata changed: %+v vs %+v", got, c)
	}
	if !slices.Equal(got.Params, c.Params) || !slices.Equal(got.S1, c.S1) || !slices.Equal(got.S2, c.S2) {
		t.Error("tensors changed")
	}
	if len(got.History) != 1 || got.History[0].TrainLoss != 0.5 {
		t.Errorf("history: %+v", got.History)
	}
	if s := got.Arch.Params()[4]; s.Name != "fc1.weight" || len(s.Shape) != 2 || s.Shape[0] != 1000 || s.Shape[1] != 1024 {
		t.Errorf("fc1.weight shape %v, want (1000, 1024) for the original preset", s)
	}
	// The data section starts 8-byte aligned, as safetensors readers expect.
	if hl := binary.LittleEndian.Uint64(b); (8+hl)%8 != 0 {
		t.Errorf("header length %d leaves data unaligned", hl)
	}
}

// TestLoadHeader: LoadHeader gives the run a checkpoint holds as
// LoadCheckpoint does, without its tensors, and refuses metadata that is
// damaged; damage in the tensor data is left to what loads the model
// (LoadCheckpoint, LoadWeights), which refuse it.
func TestLoadHeader(t *testing.T) {
	c, b := testCheckpoint(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "c.safetensors")
	os.WriteFile(path, b, 0o644)
	got, err := engine.LoadHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != c.Arch || got.Opt != c.Opt || got.Config != c.Config || got.Position != c.Position ||
		len(got.History) != 1 || got.History[0].TrainLoss != 0.5 || got.Params != nil || got.S1 != nil || got.S2 != nil {
		t.Errorf("LoadHeader: %+v; want the metadata of %+v and no tensors", got, c)
	}
	hl := int(binary.LittleEndian.Uint64(b))
	meta := slices.Clone(b)
	at := bytes.Index(meta[:8+hl], []byte(`\"epoch\":`))
	if at < 0 {
		t.Fatalf("no epoch in the header:\n%s", b[8:8+hl])
	}
	meta[at+len(`\"epoch\":`)] ^= 1 // another digit: the position changed
	data := slices.Clone(b)
	data[len(data)-100] ^= 0x40
	for _, c := range []struct {
		b      []byte
		header string // LoadHeader's error, "" for none
	}{
		{meta, "the metadata (architecture, optimizer, run settings, position, history) was changed after it was written"},
		{data, ""},
	} {
		os.WriteFile(path, c.b, 0o644)
		_, err := engine.LoadHeader(path)
		if (c.header == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.header) {
			t.Errorf("LoadHeader of a damaged file: %v; want %q", err, c.header)
		}
		if _, err := engine.LoadWeights(path); err == nil {
			t.Error("LoadWeights took a damaged file")
		}
	}
}

func TestCheckpointRefusesDamage(t *testing.T) {
	_, b := testCheckpoint(t)
	flip := slices.Clone(b)
	flip[len(flip)-100] ^= 0x40
	hl := binary.LittleEndian.Uint64(b)
	badHeader := slices.Clone(b)
	badHeader[8] = 'x'
	cases := map[string]struct {
		data []byte
		want string
	}{
		"truncated":      {b[:len(b)-1000], "truncated or corrupt"},
		"tiny":           {b[:5], "truncated"},
		"header cut":     {b[:8+hl/2], "truncated"},
		"bit flip":       {flip, "checksum mismatch"},
		"bad header":     {badHeader, "bad safetensors header"},
		"not safetensor": {[]byte("this is some other file, not a checkpoint at all"), "truncated or not safetensors"},
	}
	for name, c := range cases {
		_, err := engine.DecodeCheckpoint(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(path, flip, 0o644)
	if _, err := engine.LoadCheckpoint(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadCheckpoint error does not name the file: %v", err)
	}
	// Damage to the length field that makes it look like another kind of
	// file ('{': JSON, 1f 8b: gzip) is still a damaged checkpoint.
	for _, start := range [][]byte{{'{'}, {0x1f, 0x8b}} {
		bad := slices.Clone(b)
		copy(bad, start)
		os.WriteFile(path, bad, 0o644)
		if _, err := engine.LoadCheckpoint(path); err == nil || strings.Contains(err.Error(), "not a cnngpu checkpoint") || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("a checkpoint starting %x: %v; want it called damaged", start, err)
		}
	}
}

// TestCheckpointRefusesDamagedNames: no checksum covers the header's
// tensor names, so a name damaged in the file (one bit: "optimizer.s2"
// read as "optimizer.s3") must be refused, not the tensor dropped: a
// resume would restart Adam's moments or its step count unnoticed.
func TestCheckpointRefusesDamagedNames(t *testing.T) {
	_, b := testCheckpoint(t)
	hl := int(binary.LittleEndian.Uint64(b))
	for _, name := range []string{"optimizer.s1", "optimizer.s2", "optimizer.step", "fc1.weight"} {
		i := bytes.Index(b[8:8+hl], []byte(`"`+name+`"`))
		if i < 0 {
			t.Fatalf("no %q in the header", name)
		}
		bad := slices.Clone(b)
		bad[8+i+len(name)] ^= 0x02 // the name's last character
		c, err := engine.DecodeCheckpoint(bad)
		if err == nil {
			t.Errorf("%s damaged: loaded (step %v, s1 %d values, s2 %d values); want it refused", name, c.Step, len(c.S1), len(c.S2))
		} else if !strings.Contains(err.Error(), "corrupt: tensor \""+name[:len(name)-1]) {
			t.Errorf("%s damaged: %v; want it called corrupt", name, err)
		}
	}
	// A step count that is not a whole number is no run's.
	c, _ := testCheckpoint(t)
	c.Step = 2.5
	half, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.DecodeCheckpoint(half); err == nil || !strings.Contains(err.Error(), "step count 2.5") {
		t.Errorf("step 2.5: %v; want it refused", err)
	}
}

// TestCheckpointRefusesMissingTensor: a tensor's entry taken out of the
// header leaves its bytes no tensor's, and the error says which bytes and
// that an entry may be missing; two entries over the same bytes are said
// to overlap; an entry without two data offsets is refused.
func TestCheckpointRefusesMissingTensor(t *testing.T) {
	_, b := testCheckpoint(t)
	hl := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &header); err != nil {
		t.Fatal(err)
	}
	rewrite := func(h map[string]json.RawMessage) []byte {
		hb, _ := json.Marshal(h)
		for (8+len(hb))%8 != 0 {
			hb = append(hb, ' ')
		}
		return append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hb))), hb...), b[8+hl:]...)
	}
	missing := maps.Clone(header)
	delete(missing, "conv2.bias")
	if _, err := engine.DecodeCheckpoint(rewrite(missing)); err == nil || !strings.Contains(err.Error(), "of the tensor data are no tensor's (one left out of the header?)") {
		t.Errorf("conv2.bias left out of the header: %v", err)
	}
	twice := maps.Clone(header)
	twice["conv2.copy"] = header["conv2.bias"]
	if _, err := engine.DecodeCheckpoint(rewrite(twice)); err == nil || !strings.Contains(err.Error(), "two tensors' data overlap at byte") {
		t.Errorf("conv2.bias's bytes given twice: %v", err)
	}
	var e map[string]any
	if err := json.Unmarshal(header["conv2.bias"], &e); err != nil {
		t.Fatal(err)
	}
	offs := e["data_offsets"].([]any)
	for name, o := range map[string]any{"three offsets": append(slices.Clone(offs), 5), "no offsets": nil} {
		e["data_offsets"] = o
		odd := maps.Clone(header)
		odd["conv2.bias"], _ = json.Marshal(e)
		if _, err := engine.DecodeCheckpoint(rewrite(odd)); err == nil || !strings.Contains(err.Error(), "tensor conv2.bias: bad header entry: data_offsets") {
			t.Errorf("conv2.bias with %s: %v; want it refused", name, err)
		}
	}
}

// TestCheckpointRefusesEditedMetadata: metadata changed after the file was
// written fails its checksum, and a file written with a CRC-32C or in
// format 2 whose metadata checksum was removed is refused; in a file from before that
// checksum (SHA-256 only), values no run writes (a batch of 0, a negative
// position, a negative rate) are refused by range, and the rest still
// loads.
func TestCheckpointRefusesEditedMetadata(t *testing.T) {
	_, b := testCheckpoint(t)
	setJSON := func(meta map[string]string, key, field string, v any) {
		var m map[string]any
		if err := json.Unmarshal([]byte(meta[key]), &m); err != nil {
			t.Fatal(err)
		}
		m[field] = v
		nb, _ := json.Marshal(m)
		meta[key] = string(nb)
	}
	old := func(edit func(map[string]string)) func(map[string]string) {
		return func(meta map[string]string) {
			delete(meta, "meta_sha256")
			delete(meta, "crc32c") // added after the metadata's sum
			edit(meta)
		}
	}
	for name, c := range map[string]struct {
		edit func(map[string]string)
		want string // "" loads
	}{
		"batch size edited":       {func(m map[string]string) { setJSON(m, "config", "batch_size", 0) }, "metadata (architecture"},
		"old file as written":     {old(func(map[string]string) {}), ""},
		"old file, batch -1":      {old(func(m map[string]string) { setJSON(m, "config", "batch_size", -1) }), "batch size -1"},
		"old file, epoch -5":      {old(func(m map[string]string) { setJSON(m, "position", "epoch", -5) }), "position metadata"},
		"old file, lr -1":         {old(func(m map[string]string) { setJSON(m, "optimizer", "lr", -1) }), "learning rate -1"},
		"old file, val split 1.5": {old(func(m map[string]string) { setJSON(m, "config", "val_split", 1.5) }), "validation split 1.5"},
		"no data checksum":        {old(func(m map[string]string) { delete(m, "sha256") }), "no checksum (SHA-256 or CRC-32C)"},
		"CRC-32C edited":          {func(m map[string]string) { m["crc32c"] = "00000000" }, "checksum mismatch: data CRC-32C"},
		"metadata's sum removed":  {func(m map[string]string) { delete(m, "meta_sha256") }, "no checksum of its own (meta_sha256)"},
		"metadata's sum removed, batch edited": {func(m map[string]string) {
			delete(m, "meta_sha256")
			setJSON(m, "config", "batch_size", 64)
		}, "no checksum of its own (meta_sha256)"},
		"format 2, both sums removed, activation edited": {old(func(m map[string]string) {
			m["format"] = engine.CheckpointFormat2
			setJSON(m, "config", "label_smoothing", 0.1)
			setJSON(m, "arch", "activation", "tanh")
		}), "no checksum of its own (meta_sha256), which every file in format cnngpu-checkpoint/2"},
		"old file, SHA-256 wrong": {old(func(m map[string]string) { m["sha256"] = strings.Repeat("0", 64) }), "checksum mismatch: data SHA-256"},
		"old file, identity":      {old(func(m map[string]string) { setJSON(m, "arch", "activation", "identity") }), `activation "identity" in the architecture metadata: expected relu, sigmoid or tanh`},
		"old file, sums at step 0": {old(func(m map[string]string) {
			setJSON(m, "position", "step", 0)
			setJSON(m, "position", "sums", map[string]float32{"loss": 1, "correct": 1, "seen": 128})
		}), "running sums"},
		"old file, more right than seen": {old(func(m map[string]string) {
			setJSON(m, "position", "sums", map[string]float32{"loss": 1, "correct": 200, "seen": 128})
		}), "running sums"},
		"old file, sums as written": {old(func(m map[string]string) {
			setJSON(m, "position", "sums", map[string]float32{"loss": 30.5, "correct": 100, "seen": 128})
		}), ""},
		"old file, sums with their time": {old(func(m map[string]string) {
			setJSON(m, "position", "sums", map[string]float64{"loss": 30.5, "correct": 100, "seen": 128, "seconds": 2.5})
		}), ""},
		"old file, recipe bogus": {old(func(m map[string]string) { setJSON(m, "config", "recipe", "bogus") }), `recipe "bogus": expected one of default, reference`},
		"old file, 10^9 epochs":  {old(func(m map[string]string) { setJSON(m, "config", "epochs", 1e9) }), "1000000000 epochs: expected at most"},
		"old file, negative time": {old(func(m map[string]string) {
			setJSON(m, "position", "sums", map[string]float64{"loss": 30.5, "correct": 100, "seen": 128, "seconds": -1})
		}), "-1 s at step"},
	} {
		_, err := engine.DecodeCheckpoint(engine.EditMeta(t, b, c.edit))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

// TestCheckpointRefusesNegativeSecondMoment: Adam's second moment is a
// mean of squares; a file holding a negative one, checksums and all, is
// refused where the moments are read (it was taken, and the resumed run
// said to have diverged at too high a rate), and its weights still load.
func TestCheckpointRefusesNegativeSecondMoment(t *testing.T) {
	c, _ := testCheckpoint(t)
	c.S2[5] = -1
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.DecodeCheckpoint(b); err == nil || !strings.Contains(err.Error(), "second moment (optimizer.s2) is -1 at 5: expected none negative") {
		t.Errorf("a negative second moment: %v", err)
	}
	p := filepath.Join(t.TempDir(), "m.safetensors")
	os.WriteFile(p, b, 0o644)
	if _, err := engine.LoadWeights(p); err != nil {
		t.Errorf("its weights: %v", err)
	}
}

// TestCheckConvPoolShapes: the fused ops' checks refuse a pooling shape
// that is not the convolution's output, with a fixed message.
func TestCheckConvPoolShapes(t *testing.T) {
	e := cpu.New(1)
	defer e.Close()
	s := engine.ConvShape{N: 2, C: 1, H: 8, W: 8, K: 4, R: 3, S: 3, Pad: 1}
	f := func(n int) engine.Tensor { x, _ := e.Alloc(engine.Float32, n); return x }
	x, w, b, y := f(2*64), f(4*9), f(4), f(2*4*64)
	p := f(2 * 4 * 16)
	arg, _ := e.Alloc(engine.Int32, 2*4*16)
	good := engine.PoolShape{N: 2, C: 4, H: 8, W: 8, Size: 2}
	engine.CheckConvPool(s, good, x, w, b, y, p, arg)
	engine.CheckConvPoolBackward(s, good, x, w, y, p, arg, y, x, w, b)
	for _, bad := range []engine.PoolShape{{N: 2, C: 2, H: 8, W: 8, Size: 2}, {N: 2, C: 4, H: 4, W: 8, Size: 2}} {
		for op, call := range map[string]func(){
			"ConvPool":         func() { engine.CheckConvPool(s, bad, x, w, b, y, p, arg) },
			"ConvPoolBackward": func() { engine.CheckConvPoolBackward(s, bad, x, w, y, p, arg, y, x, w, b) },
		} {
			func() {
				defer func() {
					want := "engine: " + op + ": the pooling shape is not the convolution's output"
					if r := recover(); r != want {
						t.Errorf("%s with %+v: panic %v, want %q", op, bad, r, want)
					}
				}()
				call()
			}()
		}
	}
}

// TestEvaluateContextStops: an evaluation whose context is cancelled
// stops between batches with ErrInterrupted; one not cancelled gives what
// Evaluate gives.
func TestEvaluateContextStops(t *testing.T) {
	e := cpu.New(0)
	defer e.Close()
	tr, m := newTrainer(t, e, engine.ReLU, 1, 1, 200)
	idx := engine.AllIndices(200)
	want, err := engine.Evaluate(m, tr.Data, idx, 50, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := engine.EvaluateContext(context.Background(), m, tr.Data, idx, 50, false)
	if err != nil || got != want {
		t.Fatalf("EvaluateContext: %+v %v, Evaluate %+v", got, err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := engine.EvaluateContext(ctx, m, tr.Data, idx, 50, false); !errors.Is(err, engine.ErrInterrupted) {
		t.Errorf("a cancelled evaluation: %v, want ErrInterrupted", err)
	}
}

// TestValidatingReported: with a validation set, each epoch reports once,
// after its last step and before the epoch is done, that its validation
// runs; without one, never.
func TestValidatingReported(t *testing.T) {
	for _, val := range []int{40, 0} {
		e := cpu.New(0)
		tr, _ := newTrainer(t, e, engine.ReLU, 1, 2, 100)
		tr.ValIdx = engine.AllIndices(100)[:val]
		tr.ProgressEvery = time.Hour // only the validation's report
		var got []string
		tr.OnProgress = func(p engine.Progress) {
			got = append(got, fmt.Sprintf("validating=%v epoch %d step %d/%d", p.Validating, p.Epoch, p.Step, p.Steps))
		}
		tr.OnEpoch = func(m engine.EpochMetrics, _ engine.Position) error {
			got = append(got, fmt.Sprintf("epoch %d done", m.Epoch))
			return nil
		}
		if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
			t.Fatal(err)
		}
		want := "epoch 1 done, epoch 2 done"
		if val > 0 {
			want = "validating=true epoch 0 step 4/4, epoch 1 done, validating=true epoch 1 step 4/4, epoch 2 done"
		}
		if g := strings.Join(got, ", "); g != want {
			t.Errorf("%d validation images: %s; want %s", val, g, want)
		}
		e.Close()
	}
}

// TestValidationInterruptible: a context cancelled at an epoch's last step
// stops its validation with ErrInterrupted when the trainer allows it (the
// study), and otherwise lets it finish and report the epoch.
func TestValidationInterruptible(t *testing.T) {
	for _, stop := range []bool{true, false} {
		e := cpu.New(0)
		tr, _ := newTrainer(t, e, engine.ReLU, 1, 1, 100)
		tr.ValIdx = engine.AllIndices(100)[:40]
		tr.ValInterruptible = stop
		ctx, cancel := context.WithCancel(context.Background())
		tr.ProgressEvery = time.Nanosecond
		tr.OnProgress = func(p engine.Progress) {
			if p.Step == p.Steps {
				cancel()
			}
		}
		epochs := 0
		tr.OnEpoch = func(engine.EpochMetrics, engine.Position) error { epochs++; return nil }
		_, err := tr.Run(ctx, engine.Position{})
		if stop && (!errors.Is(err, engine.ErrInterrupted) || epochs != 0) {
			t.Errorf("interruptible validation: %v, %d epochs reported; want ErrInterrupted and none", err, epochs)
		}
		if !stop && (err != nil || epochs != 1) {
			t.Errorf("validation left to finish: %v, %d epochs reported; want the epoch", err, epochs)
		}
		cancel()
		e.Close()
	}
}

// TestStallTold: a loop that finishes no step for StallAfter (here an
// OnEpoch that waits, as a step on a GPU that no longer answers does) is
// told to OnStall once for each such stall, however long it lasts.
func TestStallTold(t *testing.T) {
	e := cpu.New(1)
	defer e.Close()
	tr, _ := newTrainer(t, e, engine.ReLU, 1, 2, 64)
	tr.StallAfter = 200 * time.Millisecond
	var stalling atomic.Int32 // the epoch whose OnEpoch waits now, or 0
	var mu sync.Mutex
	told := map[int32]int{} // OnStall calls during each epoch's wait
	tr.OnStall = func(since time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if ep := stalling.Load(); ep > 0 {
			told[ep]++
			if since < tr.StallAfter {
				t.Errorf("told of a stall after %v, before StallAfter (%v)", since, tr.StallAfter)
			}
		}
	}
	tr.OnEpoch = func(m engine.EpochMetrics, _ engine.Position) error {
		stalling.Store(int32(m.Epoch))
		time.Sleep(7 * tr.StallAfter)
		stalling.Store(0)
		return nil
	}
	if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if told[1] != 1 || told[2] != 1 {
		t.Errorf("OnStall told %v times during each epoch's stall (epoch: count), want once each", told)
	}
}

// TestTooManySteps: a run of more optimizer steps than the float32 step
// count holds exactly is refused before its first step, not trained with
// a step count (and schedule) that stops advancing.
func TestTooManySteps(t *testing.T) {
	e := cpu.New(1)
	defer e.Close()
	tr, _ := newTrainer(t, e, engine.ReLU, 1, 1, 100)
	tr.BatchSize = 1
	tr.Epochs = engine.MaxSteps/100 + 1
	tr.OnEpoch = func(engine.EpochMetrics, engine.Position) error {
		t.Fatal("an epoch ran")
		return nil
	}
	_, err := tr.Run(context.Background(), engine.Position{})
	if err == nil || !strings.Contains(err.Error(), "are more than the 16777216 optimizer steps") {
		t.Errorf("%d epochs of 100 steps: %v; want it refused", tr.Epochs, err)
	}
	// A count whose product with the steps overflows is still too many.
	if !engine.TooManySteps(2305843009213693952, 469) || engine.TooManySteps(engine.MaxSteps/469, 469) {
		t.Error("TooManySteps: wrong where epochs × steps overflows, or at the bound")
	}
	tr.Epochs = engine.MaxSteps / 100
	tr.TrainIdx = tr.TrainIdx[:1] // 167,772 one-step epochs: allowed (stopped at once)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Run(ctx, engine.Position{}); !errors.Is(err, engine.ErrInterrupted) {
		t.Errorf("%d steps: %v; want it allowed (here: interrupted)", tr.Epochs, err)
	}
}

// occasionalEngine records the keys an engine.OccasionalSteps is given.
type occasionalEngine struct {
	engine.Engine
	set [][]int
}

func (o *occasionalEngine) SetOccasional(from int, keys ...int) {
	o.set = append(o.set, append([]int{from}, keys...))
}

// TestTrainerMarksOccasionalBatch: Trainer.Run tells an engine that
// times steps in place that an epoch's last, partial batch comes rarely
// and takes the training batch's choices, and clears it when the run
// ends; with no partial batch it says nothing.
func TestTrainerMarksOccasionalBatch(t *testing.T) {
	for _, c := range []struct {
		n    int
		want [][]int
	}{{100, [][]int{{32, 4}, {0}}}, {96, nil}} { // batches of 32
		o := &occasionalEngine{Engine: cpu.New(1)}
		tr, m := newTrainer(t, o, engine.ReLU, 1, 1, c.n)
		if _, err := tr.Run(context.Background(), engine.Position{}); err != nil {
			t.Fatal(err)
		}
		m.Release()
		tr.Data.Release(o)
		if !slices.EqualFunc(o.set, c.want, slices.Equal) {
			t.Errorf("%d images in batches of 32: SetOccasional calls %v, want %v", c.n, o.set, c.want)
		}
		o.Close()
	}
}

// TestCheckpointBoundFromPipe: a pipe that streams on without end (a
// checkpoint read from /dev/stdin, a named pipe) is refused once it passes
// MaxCheckpointBytes, the most a preset's checkpoint holds: not read on to
// gigabytes. The bound holds a full reference checkpoint with its moments.
func TestCheckpointBoundFromPipe(t *testing.T) {
	a, _ := engine.NewArch("reference", engine.ReLU)
	if full := int64(12 * a.NumParams()); engine.MaxCheckpointBytes < full+1<<20 || engine.MaxCheckpointBytes > 256<<20 {
		t.Fatalf("MaxCheckpointBytes %d: want a full reference checkpoint (%d bytes) and a header, and under 256 MiB", engine.MaxCheckpointBytes, full)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		defer w.Close()
		zeros := make([]byte, 1<<20)
		for sent := int64(0); sent < 2*engine.MaxCheckpointBytes; sent += int64(len(zeros)) {
			if _, err := w.Write(zeros); err != nil {
				return // the reader stopped
			}
		}
	}()
	path := fmt.Sprintf("/proc/self/fd/%d", r.Fd())
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s on this system: %v", path, err)
	}
	_, err = engine.LoadCheckpoint(path)
	var tl *fileutil.TooLargeError
	if !errors.As(err, &tl) || tl.Max != engine.MaxCheckpointBytes {
		t.Errorf("LoadCheckpoint of a pipe of zeros without end: %v, want a TooLargeError at %d bytes", err, engine.MaxCheckpointBytes)
	}
}

// TestNoUpdateLeavesTheModel: with NoUpdate (bench --no-update) a training
// step computes the gradients and the loss but changes no parameter, moment
// or step count.
func TestNoUpdateLeavesTheModel(t *testing.T) {
	e := cpu.New(1)
	defer e.Close()
	arch, _ := engine.NewArch("reference", engine.ReLU)
	init := arch.GlorotInit(1)
	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, init)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	m.NoUpdate = true
	const n = 4
	img := make([]uint8, n*engine.ImagePixels)
	for i := range img {
		img[i] = uint8(i * 7)
	}
	d, err := engine.UploadDataset(e, img, []uint8{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	perm, _ := e.Alloc(engine.Int32, n)
	e.Write(perm, 0, []int32{0, 1, 2, 3})
	cursor, _ := e.Alloc(engine.Int32, 1)
	stats, _ := e.Alloc(engine.Float32, 3)
	if err := m.TrainStep(engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}, n, stats); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Params()
	g, st, steps := make([]float32, arch.NumParams()), make([]float32, 3), make([]float32, arch.Layers())
	e.Read(m.G, 0, g)
	e.Read(stats, 0, st)
	e.Read(m.Step, 0, steps)
	if !slices.Equal(p, init) || slices.ContainsFunc(steps, func(v float32) bool { return v != 0 }) {
		t.Errorf("a step with NoUpdate changed the parameters or the step counts %v", steps)
	}
	if !slices.ContainsFunc(g, func(v float32) bool { return v != 0 }) || st[2] != n {
		t.Errorf("a step with NoUpdate: gradients all zero or statistics %v: the passes did not run", st)
	}
}

// TestDeferUpdateSameArithmetic: with DeferUpdate (bench --defer-update)
// the first dense layer's update is queued at the next step's start, and
// the last one by FlushUpdate; the parameters, moments and step counts
// after five steps are those of the usual order, bit for bit (the update
// reads what the step before left), and after the steps alone, before the
// flush, the layer's parameters are one update behind.
func TestDeferUpdateSameArithmetic(t *testing.T) {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	init := arch.GlorotInit(3)
	const n, steps = 4, 5
	img := make([]uint8, 4*n*engine.ImagePixels)
	for i := range img {
		img[i] = uint8(i*7 + i/784)
	}
	train := func(deferred bool) (p, s1, s2, cnt, early []float32) {
		e := cpu.New(1)
		defer e.Close()
		m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7,
			Sched: engine.Schedule{Kind: engine.CosineLR, Warmup: 2, Total: 2 * steps}}, init) // the last step at a rate above 0
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release()
		m.DeferUpdate = deferred
		d, err := engine.UploadDataset(e, img, []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6})
		if err != nil {
			t.Fatal(err)
		}
		perm, _ := e.Alloc(engine.Int32, steps*n)
		e.Write(perm, 0, []int32{3, 1, 4, 15, 9, 2, 6, 5, 13, 8, 7, 10, 0, 11, 12, 14, 5, 9, 2, 6})
		cursor, _ := e.Alloc(engine.Int32, 1)
		stats, _ := e.Alloc(engine.Float32, 3)
		for range steps {
			if err := m.TrainStep(engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor}, n, stats); err != nil {
				t.Fatal(err)
			}
		}
		early, _ = m.Params()
		m.FlushUpdate()
		m.FlushUpdate() // nothing left: no second update
		p, _ = m.Params()
		s1, s2, cnt = make([]float32, arch.NumParams()), make([]float32, arch.NumParams()), make([]float32, arch.Layers())
		e.Read(m.S1, 0, s1)
		e.Read(m.S2, 0, s2)
		e.Read(m.Step, 0, cnt)
		return
	}
	p, s1, s2, cnt, _ := train(false)
	dp, ds1, ds2, dcnt, early := train(true)
	same := func(a, b []float32) bool {
		return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
	}
	if !same(p, dp) || !same(s1, ds1) || !same(s2, ds2) || !same(cnt, dcnt) {
		t.Errorf("deferred updates gave other parameters, moments or step counts (%v against %v)", dcnt, cnt)
	}
	// Training with it is refused: its last update would be left out.
	func() {
		e := cpu.New(1)
		defer e.Close()
		tr, m := newTrainer(t, e, engine.ReLU, 1, 1, 64)
		defer m.Release()
		m.DeferUpdate = true
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "for measuring a step") {
				t.Errorf("Trainer.Run with DeferUpdate: %v; want it refused", r)
			}
		}()
		tr.Run(context.Background(), engine.Position{})
	}()
	if !slices.Equal(cnt, []float32{steps, steps, steps, steps}) {
		t.Errorf("step counts %v, want %d each", cnt, steps)
	}
	ps := arch.Params()
	w := ps[2*2] // the first dense layer's weights
	if same(early[w.Off:w.Off+w.Len()], p[w.Off:w.Off+w.Len()]) || !same(early[:w.Off], p[:w.Off]) {
		t.Error("before the flush, the first dense layer alone should be one update behind")
	}
}
