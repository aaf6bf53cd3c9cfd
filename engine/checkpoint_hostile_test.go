// checkpoint_hostile_test.go: checkpoints crafted to cost memory or to
// carry what no run writes, found by fuzzing (fuzz_checkpoint_test.go).

package engine

import (
	"encoding/binary"
	"encoding/json"
	"runtime"
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
