// trace_test.go: the recorder's summing and nesting, the table's format,
// its cost when off, concurrent use, and the process start from /proc.

package trace

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// add records a span with given Begin and End order and time.
func add(name string, begin, end uint64, d time.Duration) {
	spans = append(spans, span{name: name, begin: begin, end: end, d: d})
}

// rowsOf is Rows as "depth name count total first" lines.
func rowsOf(rs []Row) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(strings.Repeat("  ", r.Depth) + r.Name + " " + strconv.Itoa(r.Count) + " " + r.Total.String() + " " + r.First.String() + "\n")
	}
	return b.String()
}

// TestSumAndNest: repeated phases are summed with a count and the first
// one's time; a phase inside another is nested under it, also when they
// begin or end at the same clock reading; phases inside different ones are
// kept apart; and the rows come in the order the phases began.
func TestSumAndNest(t *testing.T) {
	Reset()
	defer Reset()
	ms := time.Millisecond
	add(ReadData, 1, 2, 40*ms)
	add(Upload, 3, 4, 5*ms)
	add(Upload, 5, 6, 2*ms)
	// Epoch 1: a warm-up step holding a Find, a recording, a checkpoint.
	add(Epoch, 7, 16, 300*ms)
	add(WarmUp, 8, 11, 50*ms)
	add(ConvAlgo, 9, 10, 50*ms) // as long as its parent: nested by order
	add(GraphRecord, 12, 13, 4*ms)
	add(Checkpoint, 14, 15, 3*ms)
	// Epoch 2: a checkpoint only.
	add(Epoch, 17, 20, 100*ms)
	add(Checkpoint, 18, 19, 1*ms)
	add(Checkpoint, 21, 22, 7*ms) // outside any epoch (an interrupt)
	add(TestEval, 23, 24, 30*ms)
	got := rowsOf(Snapshot().Rows)
	want := "" +
		ReadData + " 1 40ms 40ms\n" +
		Upload + " 2 7ms 5ms\n" +
		Epoch + " 2 400ms 300ms\n" +
		"  " + WarmUp + " 1 50ms 50ms\n" +
		"    " + ConvAlgo + " 1 50ms 50ms\n" +
		"  " + GraphRecord + " 1 4ms 4ms\n" +
		"  " + Checkpoint + " 2 4ms 3ms\n" +
		Checkpoint + " 1 7ms 7ms\n" +
		TestEval + " 1 30ms 30ms\n"
	if got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
}

// TestOverlapNotNested: a span that began inside another but ended after
// it (another goroutine's) is not nested under it.
func TestOverlapNotNested(t *testing.T) {
	Reset()
	defer Reset()
	add(LoadDriver, 1, 3, time.Millisecond)
	add(ReadData, 2, 5, time.Millisecond)
	add(Upload, 4, 6, time.Millisecond) // inside ReadData's span? no: it ends after
	for _, r := range Snapshot().Rows {
		if r.Depth != 0 {
			t.Errorf("%s nested at depth %d, want every span at the top", r.Name, r.Depth)
		}
	}
}

// TestFormat: the table's columns, the count's "first" only for repeated
// phases, the share of the wall time, the time in no phase and the wall.
func TestFormat(t *testing.T) {
	tb := Table{
		Rows: []Row{
			{Name: StartToMain, Count: 1, Total: 12 * time.Millisecond, First: 12 * time.Millisecond},
			{Name: ReadData, Count: 1, Total: 480200 * time.Microsecond, First: 480200 * time.Microsecond},
			{Name: Epoch, Count: 2, Total: 1500 * time.Millisecond, First: 1000 * time.Millisecond},
			{Name: Checkpoint, Depth: 1, Count: 2, Total: 6 * time.Millisecond, First: 4 * time.Millisecond},
		},
		Wall:          2 * time.Second,
		WallFromStart: true,
	}
	var b strings.Builder
	tb.Write(&b)
	want := `cnngpu trace: wall time by phase (milliseconds; nested phases indented under theirs and included in them)
phase                                 count       total       first   share
process start to main                     1        12.0                0.6%  (/proc/self/stat start time: to a clock tick, 10 ms)
reading and decompressing the data        1       480.2               24.0%
epoch                                     2      1500.0      1000.0   75.0%
  checkpoint: reading the model back      2         6.0         4.0    0.3%
(in no phase above)                                 7.8                0.4%
wall: process start to this table                2000.0
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	// Overlapping top-level phases (concurrent ones) are said to be.
	tb.Rows = append(tb.Rows, Row{Name: Upload, Count: 1, Total: time.Second})
	b.Reset()
	tb.Write(&b)
	if !strings.Contains(b.String(), "(the top-level phases overlap: they sum to 2992.2 ms)") {
		t.Errorf("overlapping phases:\n%s", b.String())
	}
}

// TestOffCostsNothing: with tracing off a hook records nothing and
// allocates nothing; Report prints nothing.
func TestOffCostsNothing(t *testing.T) {
	Reset()
	defer Reset()
	hook := func() { defer Begin(Epoch).End() }
	if n := testing.AllocsPerRun(100, hook); n != 0 {
		t.Errorf("a hook with tracing off allocates %v times", n)
	}
	if len(spans) != 0 {
		t.Errorf("tracing off kept %d spans", len(spans))
	}
	var b strings.Builder
	Report(&b)
	if b.Len() != 0 {
		t.Errorf("Report with tracing off printed %q", b.String())
	}
}

// TestConcurrent: hooks on many goroutines at once are all counted (run
// with -race, as CI does).
func TestConcurrent(t *testing.T) {
	Reset()
	defer Reset()
	Enable()
	const g, n = 8, 200
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			for range n {
				func() { defer Begin(Upload).End() }()
			}
		})
	}
	wg.Wait()
	count := 0
	for _, r := range Snapshot().Rows {
		if r.Name == Upload {
			count += r.Count
		}
	}
	if count != g*n {
		t.Errorf("%d spans counted, want %d", count, g*n)
	}
}

// TestUnendedLeftOut: a span never ended (an early return) is not in the
// table and holds nothing; a real span's time is its wall time.
func TestUnendedLeftOut(t *testing.T) {
	Reset()
	defer Reset()
	Enable()
	Main()
	_ = Begin(Epoch) // never ended
	s := Begin(Checkpoint)
	time.Sleep(20 * time.Millisecond)
	s.End()
	tb := Snapshot()
	var names []string
	for _, r := range tb.Rows {
		names = append(names, r.Name)
		if r.Name == Checkpoint && (r.Depth != 0 || r.Total < 20*time.Millisecond || r.Total > tb.Wall) {
			t.Errorf("%s: depth %d, %v; want the top, at least the 20ms slept, at most the wall %v", r.Name, r.Depth, r.Total, tb.Wall)
		}
	}
	want := []string{Checkpoint}
	if runtime.GOOS == "linux" {
		want = []string{StartToMain, Checkpoint}
	}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("rows %q, want %q", names, want)
	}
}

// TestAside: the spans of a goroutine marked by Aside nest among
// themselves only, even when the command's own spans would hold them by
// order, and come last, flagged, out of the top-level sum; the command's
// own spans nest as before; and once unmarked the goroutine's spans are
// the command's again.
func TestAside(t *testing.T) {
	Reset()
	defer Reset()
	Enable()
	ctx := Begin(Context) // the command's: holds the whole of the aside work by order
	read := make(chan struct{})
	go func() {
		defer close(read)
		done := Aside()
		r := Begin(ReadData)
		Begin(DataCache).End()
		r.End()
		done()
		Begin(Upload).End() // no longer aside
	}()
	<-read
	Begin(LoadKernels).End()
	ctx.End()
	Begin(DataWait).End()
	got := rowsText()
	want := Context + " false\n" +
		"  " + Upload + " false\n" +
		"  " + LoadKernels + " false\n" +
		DataWait + " false\n" +
		ReadData + " true\n" +
		"  " + DataCache + " true\n"
	if got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	var b strings.Builder
	Snapshot().Write(&b)
	out := b.String()
	i := strings.Index(out, "beside the phases above")
	if i < 0 || !strings.Contains(out[i:], "    "+DataCache) || strings.Contains(out[:i], ReadData) {
		t.Errorf("the aside rows are not last, indented under their line:\n%s", out)
	}
}

// rowsText is the table's rows, one a line: indent, name, aside; the
// process start's row left out.
func rowsText() string {
	got := ""
	for _, r := range Snapshot().Rows {
		if r.Name == StartToMain {
			continue
		}
		got += strings.Repeat("  ", r.Depth) + r.Name + " " + strconv.FormatBool(r.Aside) + "\n"
	}
	return got
}

// TestAsideApart: two goroutines' aside spans that overlap in time (the
// data read beside, and the libraries loaded beside) do not nest in each
// other: each goroutine's rows are its own, in the order the goroutines
// began.
func TestAsideApart(t *testing.T) {
	Reset()
	defer Reset()
	Enable()
	readBegun, libsDone, readDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readDone)
		defer Aside()()
		r := Begin(ReadData)
		close(readBegun)
		<-libsDone // the libraries load entirely within the read
		r.End()
	}()
	go func() {
		defer close(libsDone)
		<-readBegun
		defer Aside()()
		b := Begin(LoadBLAS)
		Begin(LoadDNN).End() // nested here: same goroutine, inside its span
		b.End()
	}()
	<-readDone
	got := rowsText()
	want := ReadData + " true\n" +
		LoadBLAS + " true\n" +
		"  " + LoadDNN + " true\n"
	if got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
}

// TestAsideSameWorkSummed: goroutines started one after another for the
// same work (a checkpoint's checksums, each save's own goroutine) make
// one row, counted and summed, with their nested phases summed under it;
// another goroutine's phase keeps its own row.
func TestAsideSameWorkSummed(t *testing.T) {
	Reset()
	defer Reset()
	Enable()
	run := func(name string, nested bool) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer Aside()()
			sp := Begin(name)
			if nested {
				Begin(CheckpointCheck).End()
			}
			sp.End()
		}()
		<-done
	}
	run(CheckpointSums, true)
	run(ReadData, false)
	run(CheckpointSums, false)
	run(CheckpointSums, true)
	var got []string
	for _, r := range Snapshot().Rows {
		got = append(got, fmt.Sprintf("%s %d %d %v", r.Name, r.Depth, r.Count, r.Aside))
	}
	want := []string{CheckpointSums + " 0 3 true", CheckpointCheck + " 1 2 true", ReadData + " 0 1 true"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}

// TestFirst: First times the first call only (its flag set then), nothing
// when tracing is off, and leaves the flag alone then.
func TestFirst(t *testing.T) {
	Reset()
	defer Reset()
	var flag atomic.Bool
	First(&flag, FirstBLAS).End() // off: nothing, and the flag stays clear
	if flag.Load() || len(Snapshot().Rows) != 0 {
		t.Fatal("First while tracing is off recorded a span or set its flag")
	}
	Enable()
	for range 3 {
		First(&flag, FirstBLAS).End()
	}
	if got := rowsOf(Snapshot().Rows); !strings.HasPrefix(got, FirstBLAS+" 1 ") {
		t.Errorf("three calls, rows:\n%s\nwant one span of %q", got, FirstBLAS)
	}
}
