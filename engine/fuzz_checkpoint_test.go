// fuzz_checkpoint_test.go: fuzzing the checkpoint reader (safetensors
// layout, cnngpu metadata). The checksums (meta_sha256, crc32c) would stop
// nearly every mutation at the first check, so a mode bit recomputes them
// after the mutation, as a hostile writer can (they are checks against
// damage, not a seal): the range checks behind them are then reached.

package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"sync"
	"testing"
)

// fuzzData are the data sections (after the header) of real checkpoints
// of the original preset: weights alone, SGD (one moment), Adam (two).
var fuzzData = sync.OnceValue(func() [3][]byte {
	var out [3][]byte
	for i, b := range fuzzCheckpoints() {
		hl := binary.LittleEndian.Uint64(b)
		out[i] = b[8+hl:]
	}
	return out
})

// fuzzCheckpoints encodes three real checkpoints of the original preset.
var fuzzCheckpoints = sync.OnceValue(func() [3][]byte {
	arch, _ := NewArch("original", ReLU)
	p := arch.GlorotInit(1)
	hist := []EpochMetrics{{Epoch: 1, TrainLoss: 0.3, TrainAcc: 0.9, ValLoss: math.NaN(), ValAcc: math.NaN(), Seconds: 10, ImagesPerSec: 6000, Images: 60000, ValSeconds: 2}}
	cks := []*Checkpoint{
		{Arch: arch, Opt: OptConfig{Kind: Adam, LR: 0.003, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Sched: NewSchedule(CosineLR, 938)},
			Config:   TrainConfig{Epochs: 2, BatchSize: 128, Seed: 1, Recipe: "default", Augmentation: Augmentation{Shift: 2, Rotate: 10, Scale: 0.1}, LabelSmoothing: 0.1, Data: "abc", DataDir: "/x"},
			Position: Position{Epoch: 2}, History: append(hist, EpochMetrics{Epoch: 2, TrainLoss: 0.2, TrainAcc: 0.95, ValLoss: 0.1, ValAcc: 0.97}), Params: p, Step: 938},
		{Arch: arch, Opt: OptConfig{Kind: SGD, LR: 0.01, Momentum: 0.9}, Config: TrainConfig{Epochs: 2, BatchSize: 32, Seed: 1},
			Position: Position{Epoch: 1, Step: 3, Sums: EpochSums{Loss: 20, Correct: 50, Seen: 96, Seconds: 1.5}}, History: hist, Params: p, S1: make([]float32, len(p)), Step: 10},
		{Arch: arch, Opt: OptConfig{Kind: Adam, LR: 0.003, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, Config: TrainConfig{Epochs: 10, BatchSize: 128, Seed: 4},
			Position: Position{Epoch: 1}, History: hist, Params: p, S1: make([]float32, len(p)), S2: make([]float32, len(p)), Step: 469},
	}
	var out [3][]byte
	for i, c := range cks {
		b, err := c.Encode()
		if err != nil {
			panic(err)
		}
		out[i] = b
	}
	return out
})

// fuzzBufs hold, for each data section (0: none), a buffer whose end is
// that data: a file is the header placed right before it, so that the 4 to
// 13 MB of data are not copied for each input.
var fuzzBufs [4][]byte

const fuzzMaxHeader = 1 << 20

// fuzzFile is the checkpoint file of header hb before data (the data
// section k of fuzzData where k > 0); nil where hb is over fuzzMaxHeader.
func fuzzFile(hb, data []byte, k uint8) []byte {
	if len(hb) > fuzzMaxHeader {
		return nil
	}
	if k == 0 {
		b := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+len(hb)+len(data)), uint64(len(hb)))
		return append(append(b, hb...), data...)
	}
	buf := fuzzBufs[k]
	if buf == nil {
		buf = make([]byte, 8+fuzzMaxHeader+len(data))
		copy(buf[8+fuzzMaxHeader:], data)
		fuzzBufs[k] = buf
	}
	off := fuzzMaxHeader - len(hb)
	binary.LittleEndian.PutUint64(buf[off:], uint64(len(hb)))
	copy(buf[off+8:], hb)
	return buf[off:]
}

// fixSums recomputes the metadata's checksums of header hb over data,
// where hb parses; else returns hb as it is.
func fixSums(hb, data []byte) []byte {
	var raw map[string]json.RawMessage
	if json.Unmarshal(hb, &raw) != nil {
		return hb
	}
	var meta map[string]string
	if json.Unmarshal(raw["__metadata__"], &meta) != nil || meta == nil {
		return hb
	}
	if _, ok := meta["crc32c"]; ok {
		meta["crc32c"] = fuzzCRC(data)
	}
	if _, ok := meta["meta_sha256"]; ok {
		meta["meta_sha256"] = metaSum(meta)
	}
	raw["__metadata__"], _ = json.Marshal(meta)
	out, err := json.Marshal(raw)
	if err != nil {
		return hb
	}
	return out
}

var fuzzCRCs = map[*byte]string{}

// fuzzCRC is data's CRC-32C, remembered for the large data sections.
func fuzzCRC(data []byte) string {
	if len(data) < 1<<16 {
		return fmt.Sprintf("%08x", crc32.Checksum(data, castagnoli))
	}
	p := &data[0]
	if c, ok := fuzzCRCs[p]; ok {
		return c
	}
	c := fmt.Sprintf("%08x", crc32.Checksum(data, castagnoli))
	fuzzCRCs[p] = c
	return c
}

// runJSON is a checkpoint's run as JSON, for comparing two checkpoints
// (NaN in the history compares equal this way).
func runJSON(c *Checkpoint) string {
	b, err := json.Marshal(struct {
		A    Arch
		O    OptConfig
		C    TrainConfig
		P    Position
		H    []EpochMetrics
		Step float32
	}{c.Arch, c.Opt, c.Config, c.Position, c.History, c.Step})
	if err != nil {
		return "marshal: " + err.Error()
	}
	return string(b)
}

func FuzzCheckpoint(f *testing.F) {
	for i, b := range fuzzCheckpoints() {
		hl := binary.LittleEndian.Uint64(b)
		f.Add(b[8:8+hl], []byte(nil), uint8(i+1))
		f.Add(b[8:8+hl], []byte(nil), uint8(i+1)|4)
	}
	f.Add([]byte(`{"__metadata__":{"format":"cnngpu-checkpoint/1"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), []byte{0, 0, 0, 0}, uint8(4))
	f.Add([]byte(`{"__metadata__":{"format":"cnngpu-checkpoint/3","meta_sha256":""}}`), []byte{}, uint8(4))
	f.Fuzz(func(t *testing.T, hb, tail []byte, mode uint8) {
		data := tail
		if k := mode & 3; k != 0 {
			data = fuzzData()[k-1]
		}
		if mode&4 != 0 {
			hb = fixSums(hb, data)
		}
		if mode&8 != 0 {
			for len(hb)%8 != 0 {
				hb = append(hb, ' ')
			}
		}
		b := fuzzFile(hb, data, mode&3)
		if b == nil {
			return
		}
		if mode&16 != 0 && len(b) > 0 {
			b = b[:len(b)-1-int(mode>>5)%len(b)] // truncated
		}
		head, errH := decodeCheckpoint(b, decodeHeader)
		weights, errW := decodeCheckpoint(b, decodeWeights)
		all, errAll := decodeCheckpoint(b, decodeAll)
		if errAll == nil && (errW != nil || errH != nil) {
			t.Fatalf("decodeAll accepts what decodeWeights (%v) or decodeHeader (%v) refuses", errW, errH)
		}
		if errW == nil && errH != nil {
			t.Fatalf("decodeWeights accepts what decodeHeader refuses: %v", errH)
		}
		if errH != nil {
			return
		}
		if err := head.Opt.Sched.Validate(); err != nil {
			t.Fatalf("accepted a schedule that does not validate: %v", err)
		}
		if err := head.Config.Augmentation.Check(); err != nil {
			t.Fatalf("accepted an augmentation that does not check: %v", err)
		}
		if head.Config.BatchSize < 0 || head.Config.Epochs < 0 || head.Position.Epoch < 0 || head.Position.Step < 0 {
			t.Fatalf("accepted negative counts: %+v %+v", head.Config, head.Position)
		}
		if errW == nil {
			w := *weights
			w.Step = 0 // decodeHeader reads no step count
			if runJSON(&w) != runJSON(head) {
				t.Fatalf("decodeWeights and decodeHeader read other runs:\n%s\n%s", runJSON(&w), runJSON(head))
			}
		}
		if errAll != nil {
			return
		}
		np := all.Arch.NumParams()
		if len(all.Params) != np || all.S1 != nil && len(all.S1) != np || all.S2 != nil && len(all.S2) != np {
			t.Fatalf("accepted tensors of lengths %d, %d, %d for %d parameters", len(all.Params), len(all.S1), len(all.S2), np)
		}
		if all.S2 != nil && all.Opt.Kind != Adam {
			t.Fatalf("second moment accepted for %v", all.Opt.Kind)
		}
		if all.CheckFinite() != nil {
			return // load refuses it
		}
		// What is accepted round-trips: its header written again, before
		// the same data (its tensors, in the file's order or the
		// writer's: the same length), reads back the same run. (Not the
		// whole file: encoding and decoding megabytes would make each
		// accepted input take a second.)
		hdr, _, err := all.encode()
		if err != nil {
			t.Fatalf("accepted checkpoint does not encode: %v", err)
		}
		d := b[8+binary.LittleEndian.Uint64(b):]
		again, err := decodeCheckpoint(fuzzFile(hdr[8:], d, mode&3), decodeHeader)
		if err != nil {
			t.Fatalf("accepted checkpoint, its header written again, is refused: %v", err)
		}
		want := *all
		want.Step = 0 // decodeHeader reads no step count
		if a, b := runJSON(&want), runJSON(again); a != b {
			t.Fatalf("accepted checkpoint does not round-trip:\n%s\n%s", a, b)
		}
	})
}
