package cpu

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

// TestAllocRefusedPastAvailableMemory: tensors past the memory there was
// are refused with ErrOutOfMemory (not a crash of the Go runtime), all of
// a process's engines counted together, and freed tensors make room again.
func TestAllocRefusedPastAvailableMemory(t *testing.T) {
	e, e2 := New(1), New(1)
	defer e.Close()
	defer e2.Close()
	if budget.avail <= 0 {
		t.Logf("available memory unknown here: checking with a set bound")
	} else {
		t.Logf("bound here: %s (%s)", bytesText(budget.avail), budget.from)
	}
	// What other tests left allocated is set aside for this one.
	budget.Lock()
	savedAvail, savedLive := budget.avail, budget.live
	budget.avail, budget.live = 10<<20, 0
	budget.Unlock()
	defer func() {
		budget.Lock()
		budget.avail, budget.live = savedAvail, budget.live+savedLive
		budget.Unlock()
	}()
	a, err := e.Alloc(engine.Float32, 2<<20) // 8 MiB
	if err != nil {
		t.Fatal(err)
	}
	_, err = e2.Alloc(engine.Uint8, 3<<20) // 3 MiB more, on another engine: past 10
	if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "a tensor of 3.0 MiB on top of the 8.0 MiB") || !strings.Contains(err.Error(), "--batch-size") {
		t.Fatalf("past the bound: %v; want ErrOutOfMemory naming the sizes", err)
	}
	e.Free(a)
	b, err := e2.Alloc(engine.Uint8, 3<<20)
	if err != nil {
		t.Errorf("after Free: %v", err)
	}
	e2.Free(b)
}

// TestAvailableMemory: where the system says, the bound is positive and
// names its source.
func TestAvailableMemory(t *testing.T) {
	a, from := availableMemory()
	if a < 0 || (a > 0) != (from != "") {
		t.Errorf("availableMemory = %d, %q", a, from)
	}
	if _, ok := meminfo("MemAvailable"); ok && a == 0 {
		t.Error("MemAvailable is there, but no bound")
	}
	t.Logf("%s (%s)", bytesText(a), from)
}

// TestBudgetSetsMemoryLimit: with a bound on the tensors, the garbage
// collector's soft limit is that bound (unless GOMEMLIMIT sets one), so
// that freed tensors waiting for a collection do not take the heap past
// the memory there is (eight engines under ulimit -v had the runtime end
// the process with its crash dump).
func TestBudgetSetsMemoryLimit(t *testing.T) {
	startBudget()
	budget.Lock()
	avail := budget.avail
	budget.Unlock()
	if avail == 0 || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("no bound here, or GOMEMLIMIT set")
	}
	if got := debug.SetMemoryLimit(-1); got != avail {
		t.Errorf("the soft memory limit is %d, want the bound %d", got, avail)
	}
}

// TestEvaluateHalvesTheBatchWhenShort: where the memory bound leaves too
// little for a batch of 500 images' activations, Evaluate goes on at a
// smaller batch instead of failing, with the same accuracy and confusion
// matrix as at 500 and the loss within rounding.
func TestEvaluateHalvesTheBatchWhenShort(t *testing.T) {
	e := New(1)
	defer e.Close()
	arch, err := engine.NewArch("reference", engine.ReLU)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, arch.GlorotInit(3))
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	img, lab := make([]uint8, n*engine.ImagePixels), make([]uint8, n)
	for i := range img {
		img[i] = uint8(i * 7 % 251)
	}
	for i := range lab {
		lab[i] = uint8(i % 10)
	}
	d, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		t.Fatal(err)
	}
	idx := engine.AllIndices(n)
	budget.Lock()
	savedAvail := budget.avail
	budget.avail = budget.live + 100<<20 // room for about 200 images' activations, not 500
	budget.Unlock()
	defer func() {
		budget.Lock()
		budget.avail = savedAvail
		budget.Unlock()
	}()
	// A batch's activations take about 106,000 floats an image (conv1's
	// output alone 25,088): 500 images' would not fit, 200's would.
	if probe, err := e.Alloc(engine.Float32, 500*100_000); !errors.Is(err, ErrOutOfMemory) {
		e.Free(probe)
		t.Fatalf("the bound leaves room for a batch of 500's activations (%v): the test would prove nothing", err)
	}
	short, err := engine.Evaluate(m, d, idx, 500, true)
	if err != nil {
		t.Fatalf("Evaluate short of memory: %v; want it to go on at a smaller batch", err)
	}
	budget.Lock()
	budget.avail = 0
	budget.Unlock()
	full, err := engine.Evaluate(m, d, idx, 500, true)
	if err != nil {
		t.Fatal(err)
	}
	if short.N != n || short.Acc != full.Acc || short.Confusion != full.Confusion || math.Abs(short.Loss-full.Loss) > 1e-5*math.Abs(full.Loss) {
		t.Errorf("at a smaller batch: %d images, accuracy %v, loss %v; at 500: accuracy %v, loss %v (confusion the same: %v)",
			short.N, short.Acc, short.Loss, full.Acc, full.Loss, short.Confusion == full.Confusion)
	}
}
