package cpu

import (
	"errors"
	"math"
	"math/rand/v2"
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
// smaller batch instead of failing (here 250 is refused too, and 125
// taken), with the same images: the same count, accuracy and confusion
// matrix as at 500 (the images' predictions differ, and the labels are
// uneven, so another set of images would show), the loss within rounding.
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
	defer m.Release()
	const n = 600
	img, lab := make([]uint8, n*engine.ImagePixels), make([]uint8, n)
	r := rand.New(rand.NewPCG(15, 16))
	for i := range lab {
		lab[i] = uint8(r.IntN(10) * r.IntN(2)) // label 0 half the time
		// A bright bar whose row and length vary from image to image, so
		// that even an untrained model's predictions differ.
		row, length := r.IntN(28), 4+r.IntN(24)
		for c := 0; c < length; c++ {
			img[i*engine.ImagePixels+row*28+c] = uint8(128 + r.IntN(128))
		}
	}
	d, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release(e)
	idx := engine.AllIndices(n)
	// A batch's activations (gradients' buffers included) take about
	// 106,300 floats an image: 100 MiB more than the tensors made so far
	// holds about 246 images'.
	budget.Lock()
	savedAvail := budget.avail
	budget.avail = budget.live + 100<<20
	budget.Unlock()
	defer func() {
		budget.Lock()
		budget.avail = savedAvail
		budget.Unlock()
	}()
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
	predicted := 0
	for c := 0; c < engine.Classes; c++ {
		col := 0
		for l := 0; l < engine.Classes; l++ {
			col += full.Confusion[l][c]
		}
		if col > 0 {
			predicted++
		}
	}
	if predicted < 3 {
		t.Fatalf("the model predicts %d classes over the images: the accuracy and confusion checks would prove nothing", predicted)
	}
	if short.N != n || short.Acc != full.Acc || short.Confusion != full.Confusion || math.Abs(short.Loss-full.Loss) > 1e-5*math.Abs(full.Loss) {
		t.Errorf("at a smaller batch: %d images, accuracy %v, loss %v; at 500: accuracy %v, loss %v (confusion the same: %v)",
			short.N, short.Acc, short.Loss, full.Acc, full.Loss, short.Confusion == full.Confusion)
	}
}

// TestInferenceModelHoldsLess: a model made for inference alone
// (NewInferenceModel), evaluated at eval's batch of 500, holds under 60%
// of the memory a model for training does (no gradients, no optimizer
// state, no backward buffers), and frees all of it.
func TestInferenceModelHoldsLess(t *testing.T) {
	arch, err := engine.NewArch("reference", engine.ReLU)
	if err != nil {
		t.Fatal(err)
	}
	const n = engine.DefaultEvalBatch
	img, lab := make([]uint8, n*engine.ImagePixels), make([]uint8, n)
	held := func(inference bool) int64 {
		e := New(1)
		defer e.Close()
		before := LiveBytes()
		d, err := engine.UploadDataset(e, img, lab)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Release(e)
		var m *engine.Model
		if inference {
			m, err = engine.NewInferenceModel(e, arch, arch.GlorotInit(1))
		} else {
			m, err = engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}, arch.GlorotInit(1))
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := engine.Evaluate(m, d, engine.AllIndices(n), n, true); err != nil {
			t.Fatal(err)
		}
		b := LiveBytes() - before
		m.Release()
		return b
	}
	before := LiveBytes()
	full, inf := held(false), held(true)
	t.Logf("evaluating at a batch of %d: %s for training, %s for inference alone", n, bytesText(full), bytesText(inf))
	if float64(inf) > 0.6*float64(full) {
		t.Errorf("an inference model holds %s, over 60%% of the %s of a model for training", bytesText(inf), bytesText(full))
	}
	if after := LiveBytes(); after != before {
		t.Errorf("%d bytes of tensors left allocated", after-before)
	}
}
