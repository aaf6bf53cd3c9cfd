// checkpoint_internal_test.go: a checkpoint written before the data's
// CRC-32C (SHA-256 only) still loads, and one that lost its CRC is checked
// by its SHA-256.

package engine

import (
	"encoding/binary"
	"encoding/json"
	"testing"
)

func TestCheckpointBeforeCRC32C(t *testing.T) {
	arch, _ := NewArch("original", ReLU)
	p := arch.GlorotInit(1)
	c := &Checkpoint{Arch: arch, Opt: OptConfig{Kind: SGD, LR: 0.01, Momentum: 0.9}, Config: TrainConfig{Epochs: 2, BatchSize: 32, Seed: 1},
		Position: Position{Epoch: 1}, Params: p, S1: make([]float32, len(p)), Step: 10}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(edit func(meta map[string]string)) []byte {
		hl := binary.LittleEndian.Uint64(b)
		var header map[string]json.RawMessage
		if err := json.Unmarshal(b[8:8+hl], &header); err != nil {
			t.Fatal(err)
		}
		var meta map[string]string
		json.Unmarshal(header["__metadata__"], &meta)
		edit(meta)
		header["__metadata__"], _ = json.Marshal(meta)
		hb, _ := json.Marshal(header)
		for (8+len(hb))%8 != 0 {
			hb = append(hb, ' ')
		}
		return append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hb))), hb...), b[8+hl:]...)
	}
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
