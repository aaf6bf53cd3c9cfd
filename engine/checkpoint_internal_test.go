// checkpoint_internal_test.go: a checkpoint written before the data's
// CRC-32C (SHA-256 only) still loads, and one that lost its CRC is checked
// by its SHA-256; the metadata formats written and read.

package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EditMeta returns checkpoint bytes b with their metadata changed by edit
// (the tensors as they were), re-encoded as the file's writer would; the
// external tests use it too.
func EditMeta(t *testing.T, b []byte, edit func(meta map[string]string)) []byte {
	t.Helper()
	hl := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &header); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(header["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	edit(meta)
	header["__metadata__"], _ = json.Marshal(meta)
	hb, _ := json.Marshal(header)
	for (8+len(hb))%8 != 0 {
		hb = append(hb, ' ')
	}
	return append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hb))), hb...), b[8+hl:]...)
}

// metaOf returns the metadata of checkpoint bytes b.
func metaOf(t *testing.T, b []byte) (meta map[string]string) {
	t.Helper()
	EditMeta(t, b, func(m map[string]string) { meta = m })
	return meta
}

// Label smoothing, which builds before it would ignore on --resume (and
// train with one-hot targets), makes a checkpoint name format 2, which
// those builds refuse; every other checkpoint stays format 1, which every
// build reads. This build reads both, and names a later format as one.
func TestCheckpointFormats(t *testing.T) {
	arch, _ := NewArch("original", ReLU)
	p := arch.GlorotInit(1)
	mk := func(ls float64, warp ...float64) []byte {
		cfg := TrainConfig{Epochs: 2, BatchSize: 32, Seed: 1, Recipe: "default", Augmentation: Augmentation{Shift: 2}, LabelSmoothing: ls}
		if len(warp) == 2 {
			cfg.Rotate, cfg.Scale = warp[0], warp[1]
		}
		c := &Checkpoint{Arch: arch, Opt: OptConfig{Kind: Adam, LR: 0.003, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
			Config:   cfg,
			Position: Position{Epoch: 1}, Params: p, S1: make([]float32, len(p)), S2: make([]float32, len(p)), Step: 10}
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain, smoothed := mk(0), mk(0.1)
	if f := metaOf(t, plain)["format"]; f != "cnngpu-checkpoint/1" {
		t.Errorf("a checkpoint without label smoothing names format %q, want cnngpu-checkpoint/1 (every build reads it)", f)
	}
	if f := metaOf(t, smoothed)["format"]; f != "cnngpu-checkpoint/2" {
		t.Errorf("a checkpoint with label smoothing names format %q, want cnngpu-checkpoint/2 (builds that would ignore it refuse it)", f)
	}
	// So does one of a warp, rotation or scale alone, which builds
	// before it would resume with the translation alone.
	for _, w := range [][2]float64{{10, 0}, {0, 0.1}} {
		if f := metaOf(t, mk(0, w[0], w[1]))["format"]; f != "cnngpu-checkpoint/2" {
			t.Errorf("a checkpoint of rotation %v, scale %v names format %q, want cnngpu-checkpoint/2", w[0], w[1], f)
		}
	}
	for _, b := range [][]byte{plain, smoothed} {
		if !LooksLikeCheckpoint(b) {
			t.Errorf("LooksLikeCheckpoint: false for a checkpoint of format %s", metaOf(t, b)["format"])
		}
	}
	c, err := DecodeCheckpoint(smoothed)
	if err != nil {
		t.Fatalf("format 2: %v", err)
	}
	if c.Config.LabelSmoothing != 0.1 {
		t.Errorf("format 2: label smoothing %v, want 0.1", c.Config.LabelSmoothing)
	}
	// Every writer lays the file out with layout(): Save too, and a
	// checkpoint of label smoothing read from format 1 (the first builds
	// with the flag wrote it so) is written again as format 2.
	old := EditMeta(t, smoothed, func(m map[string]string) { m["format"] = CheckpointFormat; m["meta_sha256"] = metaSum(m) })
	c, err = DecodeCheckpoint(old)
	if err != nil {
		t.Fatalf("label smoothing under format 1: %v", err)
	}
	if c.Config.LabelSmoothing != 0.1 {
		t.Errorf("label smoothing under format 1: %v, want 0.1", c.Config.LabelSmoothing)
	}
	saved := filepath.Join(t.TempDir(), "saved.safetensors")
	if err := c.Save(saved); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(saved); err != nil || metaOf(t, b)["format"] != CheckpointFormat2 {
		t.Errorf("a format-1 checkpoint of label smoothing saved again: %v, format %q, want cnngpu-checkpoint/2", err, metaOf(t, b)["format"])
	}
	later := EditMeta(t, plain, func(m map[string]string) { m["format"] = "cnngpu-checkpoint/3"; m["meta_sha256"] = metaSum(m) })
	if _, err := DecodeCheckpoint(later); !errors.Is(err, ErrLaterFormat) {
		t.Errorf("format 3: %v, want it named a later cnngpu's", err)
	}
	// A format damaged, or edited without the metadata's checksum, into
	// what no build writes is not a later cnngpu's.
	for _, f := range []string{"cnngpu-checkpoint/3", "cnngpu-checkpoint/1x", "cnngpu-checkpoint/-3"} {
		damaged := EditMeta(t, plain, func(m map[string]string) { m["format"] = f })
		if _, err := DecodeCheckpoint(damaged); err == nil || errors.Is(err, ErrLaterFormat) {
			t.Errorf("format %q under the checksum of format 1: %v, want it refused, not as a later cnngpu's", f, err)
		}
	}
	path := filepath.Join(t.TempDir(), "later.safetensors")
	if err := os.WriteFile(path, later, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(path); err == nil || strings.Contains(err.Error(), "damaged") {
		t.Errorf("loading format 3: %v, want it refused as a later cnngpu's, not called damaged", err)
	}
	other := EditMeta(t, plain, func(m map[string]string) { m["format"] = "keras/1"; m["meta_sha256"] = metaSum(m) })
	if _, err := DecodeCheckpoint(other); err == nil || !strings.Contains(err.Error(), `"keras/1"`) {
		t.Errorf("format keras/1: %v, want it refused by name", err)
	}
}

// sgdCheckpoint is the encoded checkpoint of a run of the original
// preset with SGD, stopped after the first of 2 epochs, with history hist.
func sgdCheckpoint(t *testing.T, hist []EpochMetrics) []byte {
	t.Helper()
	arch, _ := NewArch("original", ReLU)
	p := arch.GlorotInit(1)
	c := &Checkpoint{Arch: arch, Opt: OptConfig{Kind: SGD, LR: 0.01, Momentum: 0.9}, Config: TrainConfig{Epochs: 2, BatchSize: 32, Seed: 1},
		Position: Position{Epoch: 1}, History: hist, Params: p, S1: make([]float32, len(p)), Step: 10}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckpointBeforeCRC32C(t *testing.T) {
	b := sgdCheckpoint(t, nil)
	rewrite := func(edit func(meta map[string]string)) []byte { return EditMeta(t, b, edit) }
	before := rewrite(func(meta map[string]string) {
		delete(meta, "crc32c")
		meta["meta_sha256"] = metaSum(meta)
	})
	if _, err := DecodeCheckpoint(before); err != nil {
		t.Errorf("a checkpoint from before the CRC-32C: %v", err)
	}
	// The metadata's sum leaves the CRC out (builds from before it
	// check that sum): a file without its CRC is checked by its SHA-256.
	dropped := rewrite(func(meta map[string]string) { delete(meta, "crc32c") })
	if _, err := DecodeCheckpoint(dropped); err != nil {
		t.Errorf("a checkpoint whose CRC-32C was removed: %v, want it checked by its SHA-256", err)
	}
	damaged := rewrite(func(meta map[string]string) { delete(meta, "crc32c"); meta["sha256"] = meta["sha256"][1:] + "0" })
	if _, err := DecodeCheckpoint(damaged); err == nil {
		t.Error("a checkpoint without its CRC-32C and a wrong SHA-256 loaded")
	}
}

// TestCheckpointMetaConsistent: metadata edited with its checksum made
// again (which anyone can: it is a check against damage, not a seal) is
// still refused where it describes no run: a position past the run's
// epochs, a position in a run of 0 epochs, an accuracy above 1, epochs
// out of order, a record of an epoch the position has not finished. The
// checkpoint as written loads.
func TestCheckpointMetaConsistent(t *testing.T) {
	b := sgdCheckpoint(t, []EpochMetrics{{Epoch: 1, TrainLoss: 0.3, TrainAcc: 0.9, ValLoss: math.NaN(), ValAcc: math.NaN(), Seconds: 10, ImagesPerSec: 6000, Images: 60000, ValSeconds: 2}})
	if ck, err := DecodeCheckpoint(b); err != nil {
		t.Fatalf("the checkpoint as written: %v", err)
	} else if ck.History[0].ValSeconds != 2 {
		t.Fatalf("the checkpoint as written read back history %+v: its validation time lost", ck.History)
	}
	for _, e := range []struct {
		key, from, to, want string
	}{
		{"position", `"epoch":1`, `"epoch":99`, "epoch 99, step 0: past the run's 2 epochs"},
		{"position", `"epoch":1,"step":0`, `"epoch":2,"step":3`, "epoch 2, step 3: past the run's 2 epochs"},
		{"config", `"epochs":2`, `"epochs":0`, "of a run of 0 epochs"},
		{"history", `"train_acc":0.9`, `"train_acc":5`, "history metadata: epoch record 1"},
		{"history", `"epoch":1`, `"epoch":0`, "history metadata: epoch record 1"},
		{"history", `"seconds":10`, `"seconds":-10`, "history metadata: epoch record 1"},
		{"history", `"val_seconds":2`, `"val_seconds":-2`, "history metadata: epoch record 1"},
		// A record of an epoch not yet finished at the position: a run
		// resumed from it appended after it and wrote a file that no
		// cnngpu loads.
		{"history", `"epoch":1`, `"epoch":2`, "a record of epoch 2, but the position is epoch 1 step 0"},
		{"position", `"epoch":1,"step":0`, `"epoch":0,"step":3`, "a record of epoch 1, but the position is epoch 0 step 3"},
	} {
		edited := EditMeta(t, b, func(m map[string]string) {
			if !strings.Contains(m[e.key], e.from) {
				t.Fatalf("%s metadata %s lacks %s", e.key, m[e.key], e.from)
			}
			m[e.key] = strings.Replace(m[e.key], e.from, e.to, 1)
			m["meta_sha256"] = metaSum(m)
		})
		if _, err := DecodeCheckpoint(edited); err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("%s metadata with %s: %v; want it refused (%s)", e.key, e.to, err, e.want)
		}
	}
}

// TestCheckpointDamageNamedAlike: a checkpoint cut short names the same
// tensor each time it is read (the header's entries in name order, not
// a map's), and a shape whose element count overflows is a bad shape, not
// one that "needs 0" bytes.
func TestCheckpointDamageNamedAlike(t *testing.T) {
	b := sgdCheckpoint(t, nil)
	cut := b[:len(b)/2]
	_, first := DecodeCheckpoint(cut)
	if first == nil {
		t.Fatal("a checkpoint cut in half loaded")
	}
	for range 20 {
		if _, err := DecodeCheckpoint(cut); err == nil || err.Error() != first.Error() {
			t.Fatalf("the same damaged file read twice: %v, then %v", first, err)
		}
	}
	hl := binary.LittleEndian.Uint64(b)
	huge := strings.Replace(string(b[8:8+hl]), `"shape":[1000]`, `"shape":[1073741824,1073741824,64]`, 1)
	if huge == string(b[8:8+hl]) {
		t.Fatal("no tensor of shape [1000] in the header")
	}
	hb := []byte(huge)
	for (8+len(hb))%8 != 0 {
		hb = append(hb, ' ')
	}
	bad := append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hb))), hb...), b[8+hl:]...)
	if _, err := DecodeCheckpoint(bad); err == nil || !strings.Contains(err.Error(), "bad shape [1073741824 1073741824 64]") {
		t.Errorf("a shape whose element count overflows: %v; want a bad shape", err)
	}
}

// TestStepCountMismatch: a checkpoint's optimizer step count is checked
// against its position (the steps of the epochs before it and of its
// own), and one without optimizer state is not.
func TestStepCountMismatch(t *testing.T) {
	ck := &Checkpoint{Position: Position{Epoch: 2, Step: 3}, S1: []float32{0}, Step: 2*10 + 3}
	if d := ck.StepCountMismatch(10); d != "" {
		t.Errorf("23 steps at epoch 3, step 3 of 10: %q", d)
	}
	ck.Step = 7
	if d := ck.StepCountMismatch(10); d != "its optimizer has taken 7 steps, but its position (epoch 3, step 3, of 10 steps an epoch) means 23" {
		t.Errorf("7 steps at epoch 3, step 3 of 10: %q", d)
	}
	ck.S1 = nil
	if d := ck.StepCountMismatch(10); d != "" {
		t.Errorf("no optimizer state: %q", d)
	}
}
