// Package trace records where a command's wall time goes: named phases
// (loading the NVIDIA libraries, reading the data, each epoch, ...) timed
// where they happen, and at the end a table of them (CNNGPU_TRACE=1 or
// `cnngpu --trace`). A hook is one line at the call site:
//
//	defer trace.Begin(trace.Upload).End()
//
// When tracing is off, Begin is one atomic load and returns a zero Span
// whose End does nothing. When it is on, End keeps the span (under a
// mutex: hooks may run on any goroutine); a span that is never ended (an
// early error return) is left out.
//
// The table sums the spans of one phase (a count and the first one's
// time beside the total) and nests a phase under the one whose span holds
// it: a span begun after and ended before another one is inside it (by
// the order of Begin and End calls, not by clock readings, so that equal
// times nest right). Spans of other goroutines that overlap in time nest
// the same way. Work a command starts beside its own on another goroutine
// (reading MNIST, loading cuBLAS and cuDNN while the GPU starts) calls
// Aside there first: its spans nest among themselves only (each such
// goroutine's apart from another's, which it overlaps too), and their rows
// follow the others' under a line that says they overlap them.
package trace

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The phases cnngpu's hooks record, in the order a GPU training meets
// them.
const (
	StartToMain     = "process start to main"
	DataCache       = "data cache check (SHA-256; fetch if missing)"
	ReadData        = "reading and decompressing the data"
	LoadDriver      = "loading libcuda"
	CUInit          = "cuInit"
	Context         = "CUDA context and stream"
	LoadKernels     = "loading our kernels (module)"
	BLASHandle      = "cuBLAS handle"
	LoadBLAS        = "loading cuBLAS"
	DNNHandle       = "cuDNN handle"
	LoadDNN         = "loading cuDNN"
	LoadDNNParts    = "loading cuDNN's sub-libraries"
	LibWait         = "waiting for the libraries loaded beside"
	Upload          = "uploading the data"
	ModelSetup      = "building the model"
	Epoch           = "epoch"
	EpochOrder      = "shuffling and uploading the epoch's order"
	EpochStats      = "reading the epoch's statistics (waits for its steps)"
	WarmUp          = "first step of a batch size (run directly)"
	ConvAlgo        = "cuDNN plan and algorithm choice"
	ConvDescs       = "cuDNN convolution descriptors"
	ConvRestore     = "cuDNN remembered choice checked"
	ConvSearch      = "cuDNN algorithm search (Find)"
	DNNBeside       = "cuDNN's first calls, beside the first steps on our convolutions"
	BesideSteps     = "steps on our convolutions while cuDNN loads beside"
	BesideAdopt     = "switching to cuDNN's convolutions once loaded"
	BesideWait      = "waiting for cuDNN's first calls made beside"
	FirstDNN        = "first cuDNN convolution queued"
	FirstBLAS       = "first cuBLAS product queued"
	FirstBLASLt     = "first cuBLASLt product queued"
	LtHandle        = "cuBLASLt handle"
	LtPlan          = "cuBLASLt plan and algorithm heuristic"
	FirstLaunch     = "first launch of our kernels"
	GraphRecord     = "graph recording"
	InPlaceTiming   = "in-place timing of alternatives"
	Checkpoint      = "checkpoint: reading the model back"
	CheckpointLand  = "checkpoint: its copy to the host, landing beside"
	CheckpointWrite = "checkpoint: encoding and writing the file"
	CheckpointWait  = "waiting for the checkpoint written beside"
	TestEval        = "test evaluation"
	ReadImages      = "reading and preparing the image files"
	Classify        = "classifying (the model's forward pass)"
	ReadCheckpoint  = "reading and checking the checkpoint"
	DataWait        = "waiting for the data read beside"
	Fingerprint     = "fingerprinting the training set (CRC-32C)"
	InitWeights     = "drawing the initial weights"
	InitWait        = "waiting for the initial weights drawn beside"
	CheckpointCheck = "checking the values are finite"
	CheckpointSums  = "checksums of the data (SHA-256, CRC-32C)"
	CheckpointFile  = "writing, syncing and renaming the file"
	EngineClose     = "closing the engine"
	DeviceAlloc     = "device memory allocated (cuMemAlloc)"
	DeviceFree      = "device memory freed (cuMemFree)"
)

// WarmUpOp and an engine op's name (ConvPool, HeadStep, …) is that op's
// queuing in a first step (WarmUp), so that the table splits the first
// step's one-time work by op.
const WarmUpOp = "first step, queuing "

// maxSpans bounds what a long command keeps (a span is about 64 bytes);
// later spans are counted as dropped.
const maxSpans = 1 << 16

var (
	on  atomic.Bool
	seq atomic.Uint64 // orders Begin and End calls

	mu      sync.Mutex
	spans   []span
	dropped int
	mainAt  time.Time // when Main was called; zero if it was not

	// The goroutines marked by Aside, and how many.
	asideGs sync.Map
	asideN  atomic.Int32
)

// span is one ended Span.
type span struct {
	name       string
	begin, end uint64 // seq at Begin and End
	d          time.Duration
	aside      bool
	g          uint64 // the goroutine of an aside span
}

// Span is a phase being timed; the zero Span (tracing off) does nothing.
type Span struct {
	name  string
	seq   uint64
	start time.Time
	aside bool
	g     uint64
}

// Enable turns recording on.
func Enable() { on.Store(true) }

// Enabled reports whether recording is on.
func Enabled() bool { return on.Load() }

// Main notes the time main started (the end of StartToMain); cheap
// enough to call whether or not tracing is on.
func Main() {
	mu.Lock()
	mainAt = time.Now()
	mu.Unlock()
}

// Reset turns recording off and forgets every span (for tests).
func Reset() {
	on.Store(false)
	mu.Lock()
	spans, dropped, mainAt = nil, 0, time.Time{}
	mu.Unlock()
}

// Begin starts timing phase name.
func Begin(name string) Span {
	if !on.Load() {
		return Span{}
	}
	sp := Span{name: name, seq: seq.Add(1), start: time.Now()}
	if asideN.Load() > 0 {
		g := goid()
		if _, sp.aside = asideGs.Load(g); sp.aside {
			sp.g = g
		}
	}
	return sp
}

// First begins timing phase name if first is not yet set, and sets it:
// a process's first call of a library (where its lazy loading lands), not
// the calls after. With tracing off it returns a zero Span at once, and
// leaves first clear. first is the caller's: Reset does not clear it.
func First(first *atomic.Bool, name string) Span {
	if !on.Load() || first.Swap(true) {
		return Span{}
	}
	return Begin(name)
}

// IsAside reports whether the calling goroutine's spans are marked aside
// (Aside): a goroutine it starts for its own work calls Aside too.
func IsAside() bool {
	if asideN.Load() == 0 {
		return false
	}
	_, ok := asideGs.Load(goid())
	return ok
}

// Aside marks the calling goroutine's spans, until the returned function
// is called, as work beside the command's own: they overlap the other
// spans in time, so they nest among themselves only and their rows come
// last (Row.Aside).
func Aside() (done func()) {
	if !on.Load() {
		return func() {}
	}
	id := goid()
	asideGs.Store(id, true)
	asideN.Add(1)
	return func() {
		asideGs.Delete(id)
		asideN.Add(-1)
	}
}

// goid is the calling goroutine's number, from the first line of its
// stack ("goroutine 18 [running]:"); only asked while tracing.
func goid() uint64 {
	var b [64]byte
	f := strings.Fields(string(b[:runtime.Stack(b[:], false)]))
	if len(f) < 2 {
		return 0
	}
	id, _ := strconv.ParseUint(f[1], 10, 64)
	return id
}

// End records the span s began.
func (s Span) End() {
	if s.seq == 0 {
		return
	}
	d := time.Since(s.start)
	mu.Lock()
	defer mu.Unlock()
	if len(spans) >= maxSpans {
		dropped++
		return
	}
	spans = append(spans, span{name: s.name, begin: s.seq, end: seq.Add(1), d: d, aside: s.aside, g: s.g})
}

// Row is one line of the table: a phase at a place in the nesting, with
// its spans summed.
type Row struct {
	Name  string
	Depth int // 0 for a phase inside no other
	Count int
	Total time.Duration
	First time.Duration // the first span's time
	// Aside: a phase of work beside the others (Aside), overlapping
	// them in time; these rows come after the others.
	Aside bool
	kids  []*Row
}

// Table is what the recorder holds, ready to print.
type Table struct {
	Rows []Row // depth first, each level in the order the phases began
	// Wall is the time from the process's start (from main where the
	// start is unknown) to the table; WallFromStart says which.
	Wall          time.Duration
	WallFromStart bool
	Dropped       int // spans past maxSpans, not in Rows
}

// Snapshot builds the table of the spans ended so far, with the process
// start to main as the first row where both are known.
func Snapshot() Table {
	mu.Lock()
	ss := slices.Clone(spans)
	dropped, main := dropped, mainAt
	mu.Unlock()
	now := time.Now()
	t := Table{Dropped: dropped}
	age, ageOK := processAge()
	switch {
	case ageOK:
		t.Wall, t.WallFromStart = age, true
	case !main.IsZero():
		t.Wall = now.Sub(main)
	}
	var top []*Row
	if ageOK && !main.IsZero() {
		if d := age - now.Sub(main); d >= 0 {
			top = append(top, &Row{Name: StartToMain, Count: 1, Total: d, First: d})
		}
	}
	own := slices.DeleteFunc(slices.Clone(ss), func(s span) bool { return s.aside })
	beside := slices.DeleteFunc(ss, func(s span) bool { return !s.aside })
	top = append(top, build(own)...)
	var walk func(rs []*Row, depth int, aside bool)
	walk = func(rs []*Row, depth int, aside bool) {
		for _, r := range rs {
			r.Depth, r.Aside = depth, aside
			t.Rows = append(t.Rows, *r)
			walk(r.kids, depth+1, aside)
		}
	}
	walk(top, 0, false)
	// Each aside goroutine's spans nested apart, in the order the
	// goroutines began their first; the top-level phases of the same name
	// (goroutines started for the same work, one after another) summed
	// into one row.
	slices.SortStableFunc(beside, func(a, b span) int { return cmp.Compare(a.begin, b.begin) })
	var gs []uint64
	byG := map[uint64][]span{}
	for _, s := range beside {
		if _, ok := byG[s.g]; !ok {
			gs = append(gs, s.g)
		}
		byG[s.g] = append(byG[s.g], s)
	}
	var asideTop []*Row
	for _, g := range gs {
		for _, r := range build(byG[g]) {
			if i := slices.IndexFunc(asideTop, func(x *Row) bool { return x.Name == r.Name }); i >= 0 {
				merge(asideTop[i], r)
			} else {
				asideTop = append(asideTop, r)
			}
		}
	}
	walk(asideTop, 0, true)
	for i := range t.Rows {
		t.Rows[i].kids = nil
	}
	return t
}

// merge adds src's spans, and its nested rows', to dst, a row of the
// same phase at the same place (First stays dst's: the earlier).
func merge(dst, src *Row) {
	dst.Count += src.Count
	dst.Total += src.Total
	for _, k := range src.kids {
		if i := slices.IndexFunc(dst.kids, func(x *Row) bool { return x.Name == k.Name }); i >= 0 {
			merge(dst.kids[i], k)
		} else {
			dst.kids = append(dst.kids, k)
		}
	}
}

// build nests the spans and sums those of one phase at one place.
func build(ss []span) []*Row {
	slices.SortFunc(ss, func(a, b span) int { return cmp.Compare(a.begin, b.begin) })
	type node struct {
		s   span
		row *Row
	}
	var top []*Row
	topByName := map[string]*Row{}
	kidsByName := map[*Row]map[string]*Row{}
	var open []node // spans that may hold the next ones, outermost first
	for _, s := range ss {
		// The innermost open span that holds s (begun before it, ended
		// after it); spans ended before s began are closed for good.
		for len(open) > 0 && open[len(open)-1].s.end < s.begin {
			open = open[:len(open)-1]
		}
		var parent *Row
		for i := len(open) - 1; i >= 0; i-- {
			if open[i].s.end > s.end {
				parent = open[i].row
				break
			}
		}
		var r *Row
		if parent == nil {
			if r = topByName[s.name]; r == nil {
				r = &Row{Name: s.name, First: s.d}
				topByName[s.name] = r
				top = append(top, r)
			}
		} else {
			m := kidsByName[parent]
			if m == nil {
				m = map[string]*Row{}
				kidsByName[parent] = m
			}
			if r = m[s.name]; r == nil {
				r = &Row{Name: s.name, First: s.d}
				m[s.name] = r
				parent.kids = append(parent.kids, r)
			}
		}
		r.Count++
		r.Total += s.d
		open = append(open, node{s, r})
	}
	return top
}

// Report prints the table to w when tracing is on.
func Report(w io.Writer) {
	if Enabled() {
		Snapshot().Write(w)
	}
}

// Write prints the table: one row a phase, nested ones indented under
// theirs, times in milliseconds, each phase's share of the wall time; then
// the wall time the top-level phases leave out, and the wall time.
func (t Table) Write(w io.Writer) {
	width := len("phase")
	for _, r := range t.Rows {
		d := r.Depth
		if r.Aside {
			d++
		}
		width = max(width, 2*d+len(r.Name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cnngpu trace: wall time by phase (milliseconds; nested phases indented under theirs and included in them)\n")
	fmt.Fprintf(&b, "%-*s  %5s  %10s  %10s  %6s\n", width, "phase", "count", "total", "first", "share")
	var top time.Duration
	asideShown := false
	for _, r := range t.Rows {
		if r.Aside && !asideShown {
			asideShown = true
			b.WriteString("beside the phases above, on other goroutines (overlapping them; not in their sum):\n")
		}
		if r.Depth == 0 && !r.Aside {
			top += r.Total
		}
		first := ""
		if r.Count > 1 {
			first = ms(r.First)
		}
		depth := r.Depth
		if r.Aside {
			depth++
		}
		name := strings.Repeat("  ", depth) + r.Name
		fmt.Fprintf(&b, "%-*s  %5d  %10s  %10s  %6s", width, name, r.Count, ms(r.Total), first, share(r.Total, t.Wall))
		if r.Name == StartToMain {
			b.WriteString("  (/proc/self/stat start time: to a clock tick, 10 ms)")
		}
		b.WriteString("\n")
	}
	if t.Wall > 0 {
		if rest := t.Wall - top; rest >= 0 {
			fmt.Fprintf(&b, "%-*s  %5s  %10s  %10s  %6s\n", width, "(in no phase above)", "", ms(rest), "", share(rest, t.Wall))
		} else {
			fmt.Fprintf(&b, "(the top-level phases overlap: they sum to %s ms)\n", ms(top))
		}
		from := "process start"
		if !t.WallFromStart {
			from = "main (the process start is unknown here)"
		}
		fmt.Fprintf(&b, "%-*s  %5s  %10s\n", width, "wall: "+from+" to this table", "", ms(t.Wall))
	}
	if t.Dropped > 0 {
		fmt.Fprintf(&b, "(%d later spans were not kept: the first %d are)\n", t.Dropped, maxSpans)
	}
	io.WriteString(w, b.String())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func share(d, wall time.Duration) string {
	if wall <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f%%", 100*float64(d)/float64(wall))
}
