// checkpoint_hostile_test.go: checkpoints crafted to cost memory or to
// carry what no run writes, found by fuzzing (fuzz_checkpoint_test.go).

package engine

import (
	"encoding/binary"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestHistoryBomb: a header of empty history records, [{},{},...], is
// refused without allocating much more than its size (decoded whole before
// it was checked, a 3 MB one took about 100 times its size, and a 99 MB
// one, under MaxCheckpointHeader, ended the process out of memory).
func TestHistoryBomb(t *testing.T) {
	meta := metaOf(t, fuzzCheckpoints()[0])
	const n = 1 << 20
	meta["history"] = "[" + strings.Repeat("{},", n-1) + "{}]"
	data := []byte{0, 0, 0, 0} // a tensor that does not matter: the history is read first
	meta["crc32c"] = fuzzCRC(data)
	meta["meta_sha256"] = metaSum(meta)
	hb, _ := json.Marshal(map[string]any{"__metadata__": meta, "x": stEntry{Dtype: "F32", Shape: []int{1}, DataOffsets: []int{0, 4}}})
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	file = append(append(file, hb...), data...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := DecodeCheckpoint(file)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 20*uint64(len(file)) {
		t.Errorf("a %d-byte header allocated %d MB to be refused (%v)", len(hb), got>>20, err)
	}
}

// TestScheduleNoRunPlans: a cosine schedule that no run plans (its total
// not a whole number of epochs' steps, its warm-up not NewSchedule's, its
// final rate not 0) is refused; train --resume trained on it. Here a
// cosine of 10^9 steps ending at the full rate, in a run of 2 epochs.
func TestScheduleNoRunPlans(t *testing.T) {
	b := EditMeta(t, fuzzCheckpoints()[0], func(m map[string]string) {
		m["optimizer"] = `{"kind":"adam","lr":0.003,"beta1":0.9,"beta2":0.999,"eps":1e-8,"schedule":{"kind":"cosine","warmup":0,"total":1000000000,"final":1}}`
		m["meta_sha256"] = metaSum(m)
	})
	if c, err := DecodeCheckpoint(b); err == nil {
		t.Errorf("accepted schedule %v in a run of %d epochs (NewSchedule gives %v for %d steps)", c.Opt.Sched, c.Config.Epochs, NewSchedule(CosineLR, 938), 938)
	}
}

// TestOtherFileKind: a file given as a checkpoint by mistake is named for
// what it is, and a checkpoint damaged past its first bytes is not.
func TestOtherFileKind(t *testing.T) {
	ck := append(binary.LittleEndian.AppendUint64(nil, 60), `{"__metadata__":{"format":"`+checkpointFormatPrefix+`2"}}`...)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"a README", []byte("# cnngpu\n\ncnngpu trains a digit classifier… on MNIST\n"), "is a text file"},
		{"a CSV file cut inside a character", []byte("lr,acc\n0.001,99.3 ±\xc2"), "is a text file"},
		{"random bytes", []byte("\x8a\x01\xf3\x00\x17\x9c\x00\x00\x05\xff\xfe"), "is another kind of file"},
		{"a checkpoint, its header length damaged", append([]byte{0xff, 0xff}, ck[2:]...), ""},
		{"a checkpoint cut after its ninth byte", ck[:9], ""},
		{"a checkpoint, its ninth byte damaged", append(append(slices.Clone(ck[:8]), 'X'), ck[9:]...), ""},
		{"a checkpoint, its first block zeroed", append(make([]byte, 4096), "more of its tensors"...), ""},
		{"text with '{' ninth", []byte("results {\"acc\": 99.6}\n"), "is a text file"},
		{"text under nine bytes", []byte("99.6%\n"), "is a text file"},
		{"a checkpoint cut to its first byte", []byte{0xa8}, ""},
		{"a checkpoint cut to two bytes", []byte{0x20, 0x0a}, ""},
		{"Latin-1 text", []byte("r\xe9sultats: 99,6 %\n"), "is a text file"},
		{"UTF-16 text", []byte("\xff\xfer\x00e\x00s\x00"), "is a text file (UTF-16)"},
		{"a checkpoint cut inside its length", ck[:5], ""},
		{"a PNG image", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "is an image"},
	} {
		if got := otherFileKind(c.b); !strings.HasPrefix(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
