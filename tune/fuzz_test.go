// fuzz_test.go: fuzzing what a study folder holds and tune's flags read:
// study.json, run files, final.json, --shard. What is accepted must be
// valid and round-trip through the writer.

package tune

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func FuzzLoadSpec(f *testing.F) {
	for _, s := range []*Spec{defaultSpec(),
		{Version: 2, LRs: []float64{0.001}, BatchSizes: []int{32}, Acts: []string{"tanh"}, Epochs: 3, Optimizer: "sgd", Momentum: 0.9, Seed: 7, Arch: "original",
			Folds: 3, TrainLimit: 500, Recipe: "default", Schedule: "cosine", LabelSmoothing: 0.1, Data: "abc", Precision: "tf32", Shard: newShard(1, 3)}} {
		s.Augmentation.Shift = 2
		b, _ := json.MarshalIndent(s, "", "  ")
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"lrs":[0.001],"batch_sizes":[1],"activations":["relu"],"epochs":1,"val_split":0.5,"shard":{"i":5,"n":1}}`))
	f.Add([]byte(`{"version":1,"lrs":[0.001],"batch_sizes":[1],"activations":["relu"],"epochs":1,"val_split":0.5,"shard":{"i":0,"n":2,"split":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SpecFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSpec(dir)
		if err != nil {
			if !strings.Contains(err.Error(), SpecFile) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		n := len(s.Configs())
		if n < 1 || n > MaxConfigs {
			t.Fatalf("accepted a grid of %d configurations", n)
		}
		if s.Shard.N < 1 || s.Shard.N > MaxConfigs || (s.Shard.N > 1 && (s.Shard.I < 0 || s.Shard.I >= s.Shard.N)) {
			t.Fatalf("accepted shard %+v", s.Shard)
		}
		if s.Shard.N <= 1 && s.Shard.I != 0 || s.Shard.Split != "" && s.Shard.Split != SplitCost {
			t.Fatalf("accepted shard %+v", s.Shard)
		}
		if _, _, _, err := s.CheckpointParts(); err != nil {
			t.Fatalf("accepted a study that cannot train: %v", err)
		}
		for _, c := range s.Configs() {
			if s.Cost(c) < 0 {
				t.Errorf("config %s costs %d (overflow)", c.Label(), s.Cost(c))
				break
			}
		}
		_ = s.Mine()
		_ = s.ShardCost(s.Shard.N)
		_, _ = s.RunKey(), s.SeedsArgs(s.Configs()[0], "cpu")
		// Written again and read back: the same study.
		if err := s.Save(dir); err != nil {
			t.Fatalf("accepted spec does not save: %v", err)
		}
		s2, err := LoadSpec(dir)
		if err != nil {
			t.Fatalf("accepted spec, saved again, is refused: %v", err)
		}
		s.Version = s2.Version
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("spec does not round-trip:\n%+v\n%+v", s, s2)
		}
	})
}

func FuzzLoadRun(f *testing.F) {
	f.Add([]byte(`{"config":{"lr":0.001,"batch_size":64,"activation":"relu"},"fold":0,"recipe":"r","study":"s"}
{"epoch":1,"train_loss":0.5,"train_acc":0.8,"val_loss":0.4,"val_acc":0.85,"seconds":1,"images_per_sec":100,"images":100,"val_seconds":0.1}
{"epoch":2,"train_loss":0.4,"train_acc":0.85,"val_loss":0.3,"val_acc":0.9,"seconds":1,"images_per_sec":100,"images":100,"val_seconds":0.1}
{"done":true,"diverged":false,"seconds":2}
`))
	f.Add([]byte(`{"config":{"lr":10,"batch_size":64,"activation":"relu"},"fold":1}
{"epoch":1,"train_acc":0.1,"seconds":1,"images_per_sec":100,"images":100,"val_seconds":0.1,"diverged":true}
{"done":true,"diverged":true,"diverged_epoch":1,"seconds":1}
`))
	f.Add([]byte(`{"config":{"lr":0.001,"batch_size":64,"activation":"relu"},"fold":0}
{"epoch":1,"train_lo`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "r.jsonl")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := LoadRun(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		for i, m := range r.Epochs {
			if m.Epoch != i+1 {
				t.Fatalf("epoch %d at line %d", m.Epoch, i+1)
			}
		}
		// A run diverged in an epoch it has a line for, or in the one
		// after (stopped before that epoch's end); one that did not
		// names none.
		if r.Done && r.Diverged && (r.DivergedEpoch < 1 || r.DivergedEpoch > len(r.Epochs)+1) ||
			!r.Diverged && r.DivergedEpoch != 0 {
			t.Fatalf("accepted diverged %v in epoch %d of %d epoch lines", r.Diverged, r.DivergedEpoch, len(r.Epochs))
		}
		_ = Summarise(r.Config, []*Run{r})
		p2 := filepath.Join(dir, "again.jsonl")
		if err := r.Save(p2); err != nil {
			t.Fatalf("accepted run does not save: %v", err)
		}
		r2, err := LoadRun(p2)
		if err != nil {
			t.Fatalf("accepted run, saved again, is refused: %v", err)
		}
		if a, b := runText(r), runText(r2); a != b {
			t.Fatalf("run does not round-trip:\n%s\n%s", a, b)
		}
	})
}

func runText(r *Run) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func FuzzLoadFinal(f *testing.F) {
	f.Add([]byte(`{"config":{"lr":0.001,"batch_size":64,"activation":"relu"},"train_images":60000,"test_acc":0.99,"test_loss":0.03,"seconds":10,"engine":"cpu","model":"final.safetensors","model_sha256":"00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FinalFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		fr, err := LoadFinal(dir)
		if err != nil {
			if !strings.Contains(err.Error(), FinalFile) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if fr.Images <= 0 || !(fr.TestAcc >= 0 && fr.TestAcc <= 1) || math.IsNaN(fr.TestLoss) {
			t.Fatalf("accepted %+v", fr)
		}
		if err := writeFinal(dir, *fr); err != nil {
			t.Fatalf("accepted final.json does not write: %v", err)
		}
		fr2, err := LoadFinal(dir)
		if err != nil {
			t.Fatalf("accepted final.json, written again, is refused: %v", err)
		}
		if !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("final.json does not round-trip:\n%+v\n%+v", fr, fr2)
		}
	})
}

func FuzzShard(f *testing.F) {
	for _, s := range []string{"0/4", "3/4", "auto/4", "auto/1", "1/1", "+0/+2", "0/4096", "auto/4097"} {
		f.Add(s, "", "2", "", "", "")
	}
	f.Add("auto/4", "1", "1", "4", "0", "3")
	f.Fuzz(func(t *testing.T, s, k8s, slurm, count, lo, hi string) {
		env := map[string]string{EnvK8sIndex: k8s, EnvSlurmID: slurm, EnvSlurmCount: count, EnvSlurmMin: lo, EnvSlurmMax: hi}
		sh, _, err := ResolveShard(s, func(k string) (string, bool) { v, ok := env[k]; return v, ok && v != "" })
		if err != nil {
			if !strings.Contains(err.Error(), "shard") {
				t.Errorf("error does not name --shard: %v", err)
			}
			return
		}
		if sh.N < 1 || sh.N > MaxConfigs || sh.I < 0 || sh.I >= sh.N {
			t.Fatalf("%q accepted as %+v", s, sh)
		}
		if !strings.HasPrefix(s, "auto/") {
			back, err := ParseShard(sh.String())
			if sh.N > 1 && (err != nil || back != sh) {
				t.Fatalf("%q: %+v does not round-trip through %q: %+v, %v", s, sh, sh.String(), back, err)
			}
		}
	})
}
