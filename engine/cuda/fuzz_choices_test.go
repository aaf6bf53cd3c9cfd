//go:build cgo && !windows

// fuzz_choices_test.go: fuzzing the remembered choices' file: whatever it
// holds, reading it keeps only entries whose checksum holds for their key,
// and the next write leaves a file of this format that holds the new
// entry (a stale or damaged file is ignored and rewritten, never trusted).

package cuda

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cnngpu/cnngpu/cudnn"
)

func FuzzChoicesFile(f *testing.F) {
	good := dirChoice{Timed: []cudnn.AlgoTime{{Algo: 1, MS: 0.5, Memory: 1024}, {Algo: 0, MS: 0.7}}, Algo: 1, Tuned: true, Written: 1700000000}
	good.Sum = good.sum("k1")
	dense := dirChoice{Algo: 3, Tuned: true, Own: true, AlgoID: "abc", Written: 1700000001}
	dense.Sum = dense.sum("k2")
	for _, doc := range []choicesDoc{
		{Format: choicesFormat, Entries: map[string]dirChoice{"k1": good, "k2": dense}},
		{Format: 2, Entries: map[string]dirChoice{"k1": good}},
		{Format: choicesFormat},
	} {
		b, _ := json.MarshalIndent(doc, "", "  ")
		f.Add(b)
	}
	f.Add([]byte(`{"format":3,"entries":{"k1":{"timed":null,"algo":0,"tuned":false,"written":0,"sum":""}}}`))
	f.Add([]byte(`{"format":3,"entries":null}`))
	f.Add([]byte(`[]`))
	defer func(w func(string, ...any)) { warnf = w }(warnf)
	f.Fuzz(func(t *testing.T, b []byte) {
		warnf = func(format string, a ...any) { t.Errorf("warned: "+format, a...) }
		path := filepath.Join(t.TempDir(), choicesFile)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got := readChoices(path)
		for k, c := range got {
			if c.Sum != c.sum(k) {
				t.Fatalf("entry %q kept with sum %q, want %q", k, c.Sum, c.sum(k))
			}
		}
		s := &choiceStore{path: path, entries: got, mine: map[string]bool{}}
		mineKey := "fuzz | new entry"
		s.put(mineKey, dirChoice{Timed: []cudnn.AlgoTime{{Algo: 2, MS: 1}}, Algo: 2})
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc choicesDoc
		if err := json.Unmarshal(after, &doc); err != nil || doc.Format != choicesFormat {
			t.Fatalf("after a write the file is not of format %d: %v", choicesFormat, err)
		}
		again := readChoices(path)
		if c, ok := again[mineKey]; !ok || c.Algo != 2 {
			t.Fatalf("the entry written is not read back: %+v", again)
		}
		if len(again) > maxChoices {
			t.Fatalf("%d entries kept, more than %d", len(again), maxChoices)
		}
		for k, c := range got {
			if c2, ok := again[k]; ok && c2.Sum != c.Sum {
				t.Fatalf("entry %q changed by the write", k)
			}
		}
	})
}
