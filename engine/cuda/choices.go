//go:build cgo && !windows

// choices.go: cuDNN's algorithm choices remembered between processes. A
// convolution direction's first use searches cuDNN's algorithms
// (convPlan.Prepare: several timed rounds of cudnnFind…), and a recorded
// step with close alternatives is then timed in place (tune.go): one-time
// work that every process, and every configuration of a study, would
// repeat. The engine keeps both results in a small JSON file in the cache
// folder ($XDG_CACHE_HOME/cnngpu or ~/.cache/cnngpu, choicesFile), one
// entry per direction keyed by what decides the answer: the GPU, driver,
// cuDNN and cuBLAS versions (gpu.Identity), the convolution's shape, the
// precision and the engine's variant (own kernels, with their build;
// second stream). The
// next process restores an entry instead of searching, after cuDNN has
// confirmed that each remembered algorithm still runs this shape with the
// remembered workspace (convPlan.Restore); an entry that fails that, or
// its checksum, or a file that does not parse, is ignored and rewritten
// by a new search. CNNGPU_NO_CACHE=1 turns it off. Engines of one process
// share one store; processes merge their entries when they write, so two
// writing at once lose at most the other's newest entry (searched again).

package cuda

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/cachedir"
	"github.com/cnngpu/cnngpu/internal/envflag"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/cnngpu/cnngpu/kernels"
)

// NoCacheEnv, set to 1, stops the engine from reading or writing the
// remembered choices.
const NoCacheEnv = "CNNGPU_NO_CACHE"

// choicesFile is the store's file name in the cache folder.
const choicesFile = "gpu-choices.json"

// choicesFormat is the file's format; another is ignored (and rewritten).
// 2: an entry says whether our conv3 kernel runs the direction (Own).
// 3: up to three of cuDNN's alternatives within twice the fastest are
// timed in place (cudnn closeTo), where format 2's entries timed those
// within a quarter only, and could keep a choice that made the step 10%
// slower: they are searched and timed again.
const choicesFormat = 3

// maxChoices bounds the entries kept: the least recently written go first.
const maxChoices = 512

// maxChoicesBytes bounds the file read (512 entries take about 300 KB):
// a larger one, or a device, is ignored and rewritten.
const maxChoicesBytes = 16 << 20

// dirChoice is one convolution direction's remembered choice: the search's
// result (the algorithms that worked, fastest first), the algorithm in
// use, and whether that one was settled by timing in place (then no
// recording is timed again).
type dirChoice struct {
	Timed []cudnn.AlgoTime `json:"timed"`
	Algo  int              `json:"algo"`
	Tuned bool             `json:"tuned"`
	// Own: timing in place chose our conv3 kernel over Algo (ConvEnv
	// "timed"); for a dense direction (Timed unused), cuBLASLt's fused
	// product, with its heuristic's algorithm Algo, over the split one.
	Own bool `json:"own,omitempty"`
	// AlgoID names a fused dense product's algorithm (gemmPlan.AlgoID):
	// adopted only where the plan offers that very one.
	AlgoID string `json:"algo_id,omitempty"`
	// Written is when (Unix seconds), for dropping the oldest.
	Written int64 `json:"written"`
	// Sum is a checksum of the key and the fields above: an entry
	// changed by hand or by a torn write is not trusted.
	Sum string `json:"sum"`
}

func (c dirChoice) sum(key string) string {
	b, _ := json.Marshal(struct {
		K string
		T []cudnn.AlgoTime
		A int
		U bool
		O bool
		W int64
		I string `json:",omitempty"` // (entries without it keep their sums)
	}{key, c.Timed, c.Algo, c.Tuned, c.Own, c.Written, c.AlgoID})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

type choicesDoc struct {
	Format  int                  `json:"format"`
	Entries map[string]dirChoice `json:"entries"`
}

// choiceStore is the file's entries in memory, shared by the engines of a
// process that use the same file.
type choiceStore struct {
	path    string
	mu      sync.Mutex
	entries map[string]dirChoice
	// mine is the keys this process put: a write keeps the file's
	// other entries as they are on disk now (another process may have
	// written newer ones since this one read them).
	mine   map[string]bool
	failed bool // a write failed: stop trying (warned once)
}

var (
	storesMu sync.Mutex
	stores   = map[string]*choiceStore{}
	// warnf reports a store that cannot be written (once a process).
	warnf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, "cnngpu: warning: "+format+"\n", a...) }
)

// choicesFromEnv is the store for this process: nil with CNNGPU_NO_CACHE=1
// (or a value CheckEnv refuses) or without a cache folder.
func choicesFromEnv() *choiceStore {
	if off, err := parseNoCache(); off || err != nil {
		return nil
	}
	root, err := cachedir.Root()
	if err != nil {
		rootWarned.Do(func() {
			warnf("cannot remember cuDNN's algorithm choices (each run searches again): %v\nhint: set %s=1 to stop trying", err, NoCacheEnv)
		})
		return nil
	}
	return openChoices(filepath.Join(root, choicesFile))
}

// rootWarned: a cache folder that cannot be found is said once a process.
var rootWarned sync.Once

// openChoices is the store of file path, read on first use.
func openChoices(path string) *choiceStore {
	storesMu.Lock()
	defer storesMu.Unlock()
	if s := stores[path]; s != nil {
		return s
	}
	s := &choiceStore{path: path, entries: readChoices(path), mine: map[string]bool{}}
	stores[path] = s
	return s
}

// readChoices returns the file's entries whose checksum holds; nothing
// when it is missing, unreadable, of another format or does not parse.
func readChoices(path string) map[string]dirChoice {
	out := map[string]dirChoice{}
	b, err := fileutil.ReadFile(path, maxChoicesBytes)
	if err != nil {
		return out
	}
	var doc choicesDoc
	if json.Unmarshal(b, &doc) != nil || doc.Format != choicesFormat {
		return out
	}
	for k, c := range doc.Entries {
		if c.Sum == c.sum(k) {
			out[k] = c
		}
	}
	return out
}

// get returns key's entry.
func (s *choiceStore) get(key string) (dirChoice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.entries[key]
	return c, ok
}

// put remembers c as key's entry and writes the file (putAll).
func (s *choiceStore) put(key string, c dirChoice) { s.putAll(map[string]dirChoice{key: c}) }

// putAll remembers each entry of kv and, when one is new, writes the file
// once: the entries on disk (another process's since this one read it),
// then this process's.
func (s *choiceStore) putAll(kv map[string]dirChoice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for key, c := range kv {
		c.Written = time.Now().Unix()
		c.Sum = c.sum(key)
		if old, ok := s.entries[key]; ok && old.Algo == c.Algo && old.Tuned == c.Tuned && old.Own == c.Own && old.AlgoID == c.AlgoID && slices.Equal(old.Timed, c.Timed) {
			continue // nothing new
		}
		s.entries[key] = c
		s.mine[key] = true
		changed = true
	}
	if !changed || s.failed {
		return
	}
	all := readChoices(s.path)
	for k := range s.mine {
		all[k] = s.entries[k]
	}
	// What other processes wrote is this one's to use too.
	s.entries = maps.Clone(all)
	if len(all) > maxChoices {
		keys := slices.Collect(maps.Keys(all))
		slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(all[b].Written, all[a].Written), cmp.Compare(a, b)) })
		for _, k := range keys[maxChoices:] {
			delete(all, k)
		}
	}
	b, err := json.MarshalIndent(choicesDoc{Format: choicesFormat, Entries: all}, "", "  ")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(s.path), 0o755)
	}
	if err == nil {
		err = fileutil.WriteAtomic(s.path, append(b, '\n'), 0o644)
	}
	if err != nil {
		s.failed = true
		var pe *fs.PathError
		var we *fileutil.WriteError
		if !errors.As(err, &pe) && !errors.As(err, &we) {
			err = fmt.Errorf("%s: %w", s.path, err)
		}
		warnf("cannot remember cuDNN's algorithm choices (each run searches again): %v\nhint: fix what that names (a folder that can be written, a name free for the file), or set %s=1 to stop trying", err, NoCacheEnv)
	}
}

// drop forgets key's entry (in memory: the next put rewrites the file).
func (s *choiceStore) drop(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
}

// choiceKey names direction dir of shape s on this engine's device, in
// its precision and variant.
func (e *Engine) choiceKey(s engine.ConvShape, dir int) string {
	v := e.variant()
	if e.own {
		// Our kernels take part in the timing (conv3, and the step's
		// others): another build of them times anew.
		v += ", kernels " + kernelsID()
	}
	return fmt.Sprintf("%s | %dx%dx%dx%d * %dx%dx%dx%d pad %d | %s | %s", e.identity, s.N, s.C, s.H, s.W, s.K, s.C, s.R, s.S, s.Pad, v, dirNames[dir])
}

// kernelsID names this build of our kernels: the start of the fatbin's
// SHA-256.
var kernelsID = sync.OnceValue(func() string {
	h := sha256.Sum256(kernels.Fatbin)
	return hex.EncodeToString(h[:6])
})

// restore makes direction dir of cv (shape s) the remembered choice,
// without a search, and reports whether it did. An entry cuDNN refuses
// now is forgotten (the search's result replaces it).
func (e *Engine) restore(s engine.ConvShape, cv convPlan, dir int) bool {
	if e.choices == nil {
		return false
	}
	key := e.choiceKey(s, dir)
	c, ok := e.choices.get(key)
	if !ok {
		return false
	}
	sp := trace.Begin(trace.ConvRestore)
	err := cv.Restore(dir, c.Timed, c.Algo)
	sp.End()
	if err != nil {
		e.choices.drop(key)
		if envflag.On(DebugEnv) {
			warnf("remembered cuDNN choice refused, searching again: %s: %v", key, err)
		}
		return false
	}
	if c.Tuned {
		e.settled[planDir{s, dir}] = true
		e.restored[planDir{s, dir}] = true
	}
	if c.Own && e.conv == convTimed && e.conv3Block(s, dir) > 0 {
		e.convOwn[planDir{s, dir}] = true
	}
	return true
}

// restoreDense adopts a dense direction's choice remembered by an
// earlier process's in-place timing (Own: fused on cuBLASLt, with the
// algorithm named AlgoID), settling it, and reports whether there was
// one; an algorithm p does not offer (another cuBLASLt, another layer's
// epilogue or alignment) is not adopted, and the direction is timed again.
func (e *Engine) restoreDense(pd planDir, p gemmPlan) bool {
	if e.choices == nil {
		return false
	}
	key := e.choiceKey(pd.s, pd.dir)
	c, ok := e.choices.get(key)
	if !ok || !c.Tuned {
		return false
	}
	algo := algoIndex(p, c.AlgoID)
	if c.Own && algo < 0 {
		e.choices.drop(key)
		return false
	}
	e.settled[pd] = true
	if c.Own {
		e.fusedOn[pd] = true
		p.Use(algo)
	}
	return true
}

// remember stores the choices of dirs (their plans prepared; a dense
// direction's only once timed); tuned says they were settled by timing in
// place. One write of the file for all.
func (e *Engine) remember(dirs []planDir, tuned bool) {
	if e.choices == nil {
		return
	}
	kv := map[string]dirChoice{}
	for _, pd := range dirs {
		// Settled without an alternative that failed to record
		// (tune.go): its search's result, not the timing's.
		tuned := tuned && !e.lost[pd]
		if isDense(pd.dir) {
			if p := e.gemmDir[pd]; tuned && p != nil {
				fused := e.dense == denseLt || e.fusedOn[pd]
				kv[e.choiceKey(pd.s, pd.dir)] = dirChoice{Tuned: true, Own: fused, Algo: p.Algo(), AlgoID: p.AlgoID(p.Algo())}
			}
			continue
		}
		cv := e.convs[pd.s]
		if cv == nil || !cv.Prepared(pd.dir) || e.trimmed[pd] {
			continue // trimmed: the search's full result stays on disk
		}
		if t := cv.Timings(pd.dir); len(t) > 0 {
			kv[e.choiceKey(pd.s, pd.dir)] = dirChoice{Timed: t, Algo: cv.Algo(pd.dir), Tuned: tuned, Own: e.convOwn[pd]}
		}
	}
	if len(kv) > 0 {
		e.choices.putAll(kv)
	}
}
