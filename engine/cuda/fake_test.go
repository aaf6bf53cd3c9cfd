//go:build cgo && !windows

// fake_test.go: the engine on the real bindings against a fake driver,
// cuBLAS and cuDNN (internal/fakecuda), in a child process each, where the
// emulated device (emudevice_test.go) cannot reach: the library glue of
// device.go. Closing an engine on one GPU destroys its cuDNN handle with
// that GPU's context current, whatever another context this thread holds;
// and a failure of each call that makes something (a stream, an event, a
// graph, a library handle, a descriptor, a search), walked over every such
// call of a training run and a prediction, comes back as an error naming
// the call and leaves nothing alive after Close.

package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fakecuda"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/cnngpu/cnngpu/kernels"
)

func TestMain(m *testing.M) {
	if s := fakecuda.Scenario(); s != "" {
		os.Exit(fakeScenario(s))
	}
	code := m.Run()
	fakecuda.Cleanup()
	os.Exit(code)
}

// fakeScenario runs scenario s in this child process, printing the first
// error as "error: …".
func fakeScenario(s string) int {
	var err error
	switch s {
	case "close-context":
		err = closeOtherContext()
	case "engine":
		err = fakeEngineRun()
	case "share":
		err = fakeShare()
	case "preload":
		err = fakePreload()
	case "evaluate-oom":
		err = fakeEvaluateOOM()
	default:
		err = fmt.Errorf("unknown scenario %q", s)
	}
	if err != nil {
		fmt.Println("error:", err)
	}
	return 0
}

// closeOtherContext opens the engine's device on GPU 1, then GPU 0's
// context on the same thread (which leaves that one current), and closes
// the first.
func closeOtherContext() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l, err := openLibrary(1, kernels.Fatbin, kernels.PTX, kernels.Names, false, cu.SamePriority)
	if err != nil {
		return err
	}
	c, err := cu.Open(0, kernels.Fatbin, kernels.PTX, kernels.Names)
	if err != nil {
		l.Close()
		return err
	}
	defer c.Close()
	return l.Close()
}

// fakeEngineRun trains three steps (warm-up, recording, replay; or
// $FAKE_ENGINE_STEPS, with conv2's input channels 8) and predicts, on GPU 0 in the default configuration, and releases it all.
func fakeEngineRun() (err error) {
	e, err := New(0, false)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := e.Close(); err == nil {
			err = cerr
		}
	}()
	steps, arch := 3, walkArch // warm-up, recording, replay
	if n, err := strconv.Atoi(os.Getenv("FAKE_ENGINE_STEPS")); err == nil {
		// Enough steps for the in-place timing to settle, and a
		// second layer whose three directions our conv3 kernels take
		// (8 input channels: beside.go's case).
		steps, arch.K1 = n, 8
	}
	m, d, release, err := walkModel(e, arch)
	if err != nil {
		return err
	}
	defer release()
	// The steps by hand: the Trainer would find the loss of a device
	// that runs no kernel not finite.
	var ts []engine.Tensor
	defer func() {
		for _, x := range ts {
			e.Free(x)
		}
	}()
	for i, n := range []int{d.N, 1, 3} {
		dt := engine.Int32
		if i == 2 {
			dt = engine.Float32
		}
		x, err := e.Alloc(dt, n)
		if err != nil {
			return err
		}
		ts = append(ts, x)
	}
	b := engine.Batch{Images: d.Images, Labels: d.Labels, Perm: ts[0], Cursor: ts[1]}
	for range steps {
		var serr error
		if err := engine.Run(e, walkBatch, func() { serr = m.TrainStep(b, walkBatch, ts[2]) }); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
	}
	if err := e.Sync(); err != nil {
		return err
	}
	engine.ResetGraphs(e)
	_, err = m.Predict(make([]float32, 3*engine.ImagePixels))
	return err
}

// fakeEvaluateOOM, under FAKECUDA_MEM_MAX=2500000 once the engine has
// started (its cuBLAS workspace takes 32 MiB): an allocation refused
// for want of memory matches engine.ErrOutOfMemory, with the hint; and an
// evaluation at a batch whose activations are refused (256 images:
// 3,211,264 bytes for the first convolution's) goes on at half of it.
func fakeEvaluateOOM() (err error) {
	e, err := New(0, false)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := e.Close(); err == nil {
			err = cerr
		}
	}()
	os.Setenv("FAKECUDA_MEM_MAX", "2500000")
	if x, err := e.Alloc(engine.Float32, 1<<20); err == nil {
		e.Free(x)
		return errors.New("an allocation of 4 MiB under FAKECUDA_MEM_MAX=2500000 succeeded")
	} else if !errors.Is(err, engine.ErrOutOfMemory) || !strings.Contains(err.Error(), hintOutOfMemory) {
		return fmt.Errorf("an allocation refused for memory: %v, want engine.ErrOutOfMemory with the hint", err)
	}
	m, d, release, err := walkModel(e, walkArch)
	if err != nil {
		return err
	}
	defer release()
	idx := make([]int32, 256)
	for i := range idx {
		idx[i] = int32(i % d.N)
	}
	if _, err := engine.Evaluate(m, d, idx, len(idx), false); err != nil {
		return fmt.Errorf("evaluating %d images in a batch of %d, whose activations do not fit: %v", len(idx), len(idx), err)
	}
	fmt.Println("evaluated")
	return nil
}

// TestFakeEvaluateOutOfMemory: on a GPU without memory for an evaluation
// batch's activations, the evaluation goes on at half the batch, as on the
// CPU (it failed, its hint naming training's --batch-size, which eval does
// not have); the allocation's error matches engine.ErrOutOfMemory.
func TestFakeEvaluateOutOfMemory(t *testing.T) {
	r := fakecuda.Run(t, "evaluate-oom", "")
	r.Clean(t)
	if _, ok := r.Line("evaluated"); !ok {
		t.Errorf("the evaluation did not end\n%s", r.Output)
	}
}

// walkModel makes a model of arch on e, with the walk's first weights,
// and uploads the walk's images; release frees both.
func walkModel(e *Engine, arch engine.Arch) (*engine.Model, *engine.Dataset, func(), error) {
	m, err := engine.NewModel(e, arch, goldenOpts[0], arch.GlorotInit(1))
	if err != nil {
		return nil, nil, nil, err
	}
	img, lab := walkImages()
	d, err := engine.UploadDataset(e, img, lab)
	if err != nil {
		m.Release()
		return nil, nil, nil, err
	}
	return m, d, func() { d.Release(e); m.Release() }, nil
}

// fakePreload opens and closes the engine with the trace on, and prints
// the trace's rows ("row: depth aside name") and the files this process
// mapped whose names are those of cuDNN's sub-libraries ("mapped: path").
func fakePreload() error {
	trace.Enable()
	e, err := New(0, false)
	if err != nil {
		return err
	}
	if err := e.Close(); err != nil {
		return err
	}
	cu.PreloadDone()
	for _, r := range trace.Snapshot().Rows {
		fmt.Printf("row: %d %v %s\n", r.Depth, r.Aside, r.Name)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(string(maps), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || seen[f[5]] {
			continue
		}
		if strings.HasPrefix(filepath.Base(f[5]), "libcudnn_") {
			seen[f[5]] = true
			fmt.Println("mapped:", f[5])
		}
	}
	return nil
}

// TestFakePreload: New opens cuBLAS and cuDNN, and cuDNN 9's
// sub-libraries from the folder of the libcudnn.so.9 it chose, on another
// goroutine while it makes the context: the opening is in the trace's
// rows beside the command's (or, where the main goroutine got to a
// library first, inside its handle's row: both are right), once each; the
// sub-libraries mapped are the chosen folder's, not those of a folder
// earlier on the loader's search path, and not the two a preload leaves
// to cuDNN. With CNNGPU_PRELOAD=0 nothing opens beside, and no
// sub-library is opened.
func TestFakePreload(t *testing.T) {
	decoy := t.TempDir()
	fakecuda.StandIns(t, decoy)
	fake := fakecuda.Dir(t)
	path := "LD_LIBRARY_PATH=" + decoy + ":" + fake
	for _, preload := range []bool{true, false} {
		env := []string{path}
		if !preload {
			env = append(env, PreloadEnv+"=0")
		}
		r := fakecuda.Run(t, "preload", "", env...)
		r.Clean(t)
		rows := map[string][]string{}
		var mapped []string
		for _, l := range strings.Split(r.Output, "\n") {
			if f, ok := strings.CutPrefix(l, "row: "); ok {
				if p := strings.SplitN(f, " ", 3); len(p) == 3 {
					rows[p[2]] = append(rows[p[2]], p[0]+" "+p[1])
				}
			}
			if f, ok := strings.CutPrefix(l, "mapped: "); ok {
				mapped = append(mapped, f)
			}
		}
		where := func(name string, places ...string) {
			t.Helper()
			if len(rows[name]) != 1 || !slices.Contains(places, rows[name][0]) {
				t.Errorf("preload %v: trace row %q at (depth, aside) %q, want once at one of %q", preload, name, rows[name], places)
			}
		}
		if preload {
			where(trace.LoadBLAS, "0 true", "1 false")                // beside, or inside "cuBLAS handle"
			where(trace.LoadDNN, "0 true", "1 false")                 // beside, or inside "cuDNN handle"
			where(trace.LoadDNNParts, "0 true", "1 false", "2 false") // beside, or in the handle's wait
			for _, n := range fakecuda.CUDNNParts {
				if !slices.Contains(mapped, filepath.Join(fake, n)) {
					t.Errorf("%s of the chosen folder %s was not opened (mapped: %q)", n, fake, mapped)
				}
			}
		} else {
			where(trace.LoadBLAS, "1 false")
			where(trace.LoadDNN, "1 false")
			if len(rows[trace.LoadDNNParts])+len(rows[trace.LibWait]) > 0 {
				t.Errorf("CNNGPU_PRELOAD=0: rows %q, %q", rows[trace.LoadDNNParts], rows[trace.LibWait])
			}
			if len(mapped) > 0 {
				t.Errorf("CNNGPU_PRELOAD=0: sub-libraries opened: %q", mapped)
			}
		}
		for _, m := range mapped {
			if strings.HasPrefix(m, decoy) {
				t.Errorf("preload %v: %s mapped, from the folder earlier on LD_LIBRARY_PATH, not the chosen one", preload, m)
			}
			if slices.Contains(fakecuda.CUDNNPartsLeft, filepath.Base(m)) {
				t.Errorf("preload %v: %s mapped: a preload leaves it to cuDNN", preload, m)
			}
		}
		if t.Failed() {
			t.Logf("child output:\n%s", r.Output)
			return
		}
	}
}

// TestFakeCloseInItsContext: cudnnDestroy waits for the device of the
// context current on the thread, so closing an engine must make its own
// current first.
func TestFakeCloseInItsContext(t *testing.T) {
	r := fakecuda.Run(t, "close-context", "")
	r.Clean(t)
}

// makers are the calls of the fake that make something, walked by
// TestFakeEngineReleasesEverything (device memory is walked on the
// emulated device, faults_test.go).
var makers = []string{"cuStreamCreate", "cuEventCreate", "cuStreamEndCapture", "cuGraphInstantiateWithFlags",
	"cublasCreate_v2", "cublasSetStream_v2", "cublasSetWorkspace_v2", "cublasSetMathMode",
	"cudnnCreate", "cudnnSetStream", "cudnnCreateTensorDescriptor", "cudnnCreateFilterDescriptor", "cudnnCreateConvolutionDescriptor",
	"cudnnSetConvolutionMathType", "cudnnFindConvolutionForwardAlgorithm", "cudnnFindConvolutionBackwardDataAlgorithm",
	"cudnnFindConvolutionBackwardFilterAlgorithm"}

func TestFakeEngineReleasesEverything(t *testing.T) {
	// The second algorithm 4× slower than the first, and neither our
	// conv3 kernels timed against cuDNN's nor cuBLASLt's fused dense
	// products against the split ones: no tuning (which the emulated
	// device's walk covers).
	const slow = "FAKECUDA_ALT_MS=2"
	noOwn := ConvEnv + "=cudnn"
	split := DenseEnv + "=cublas"
	clean := fakecuda.Run(t, "engine", "", slow, noOwn, split)
	if clean.Err != nil || strings.Contains(clean.Output, "error:") {
		t.Fatalf("without a failure: %v\n%s", clean.Err, clean.Output)
	}
	if l := clean.Leaks(); len(l) > 0 || len(clean.Violations) > 0 {
		t.Errorf("without a failure: left alive %v, misuse %q", l, clean.Violations)
	}
	// The engine loads the fatbin: on the fake's default GPU (9.0), its
	// sm_90 SASS, with no JIT.
	if clean.Module != "sass 90" {
		t.Errorf("without a failure: the engine's module is %q, want \"sass 90\" (kernels.Fatbin's SASS)", clean.Module)
	}
	points := walkFakeEngine(t, clean, makers, slow, noOwn, split)
	t.Logf("%d failure points walked", points)
}

// TestFakePriorities: with PriorityEnv "main" or "lanes" every stream is
// made with a priority in the device's range (the fake checks): with
// "main" the main stream alone at the greatest and every lane at the
// least, with "lanes" the main stream and the bare lanes (here cuDNN's
// beside the training) at the least and the compute lane at the
// greatest; each graph is instantiated keeping its kernels' priorities
// (the fake records a violation otherwise), nothing is left alive, and a
// failure of either new call comes back as an error naming it.
func TestFakePriorities(t *testing.T) {
	for _, mode := range []string{"main", "lanes"} {
		t.Run(mode, func(t *testing.T) {
			env := []string{"FAKECUDA_ALT_MS=2", ConvEnv + "=cudnn", DenseEnv + "=cublas", PriorityEnv + "=" + mode}
			clean := fakecuda.Run(t, "engine", "", env...)
			if clean.Err != nil || strings.Contains(clean.Output, "error:") {
				t.Fatalf("without a failure: %v\n%s", clean.Err, clean.Output)
			}
			if l := clean.Leaks(); len(l) > 0 || len(clean.Violations) > 0 {
				t.Errorf("left alive %v, misuse %q", l, clean.Violations)
			}
			if n := clean.Counts["cuStreamCreate"]; n != 0 {
				t.Errorf("%d streams made without a priority", n)
			}
			if clean.Counts["cuStreamCreateWithPriority"] < 2 || clean.Counts["cuCtxGetStreamPriorityRange"] != 1 || clean.Counts["cuGraphInstantiateWithFlags"] == 0 {
				t.Errorf("calls %v: want the range asked once, two streams or more made with a priority and a graph instantiated", clean.Counts)
			}
			// The fake's range: 0 the least, -5 the greatest.
			greatest, least := clean.Priorities[-5], clean.Priorities[0]
			wantMain := map[string]int{"main": -5, "lanes": 0}[mode]
			if clean.FirstPriority != wantMain || greatest != 1 || least == 0 || greatest+least != clean.Counts["cuStreamCreateWithPriority"] {
				t.Errorf("the main stream at %d, the streams by priority %v (of %d): want the main stream at %d, one stream at the greatest (%s), the others at the least",
					clean.FirstPriority, clean.Priorities, clean.Counts["cuStreamCreateWithPriority"], wantMain, map[string]string{"main": "the main stream", "lanes": "the compute lane"}[mode])
			}
			points := walkFakeEngine(t, clean, []string{"cuCtxGetStreamPriorityRange", "cuStreamCreateWithPriority"}, env...)
			t.Logf("%d failure points walked", points)
		})
	}
}

// TestFakeThreeStreams: with StreamsEnv 3 and PriorityEnv "lanes" the
// engine on the fake driver makes the updates' stream (NewKernelLane) at
// the compute lanes' priority beside the second stream, leaves nothing
// alive and no misuse, and a failure of any stream's making, or of any
// event recorded or waited for (Fork, Join, After), comes back as an
// error naming the call (or, in the recording, as its warning).
func TestFakeThreeStreams(t *testing.T) {
	env := []string{"FAKECUDA_ALT_MS=2", ConvEnv + "=cudnn", DenseEnv + "=cublas", StreamsEnv + "=3", PriorityEnv + "=lanes"}
	clean := fakecuda.Run(t, "engine", "", env...)
	if clean.Err != nil || strings.Contains(clean.Output, "error:") {
		t.Fatalf("without a failure: %v\n%s", clean.Err, clean.Output)
	}
	if l := clean.Leaks(); len(l) > 0 || len(clean.Violations) > 0 {
		t.Errorf("left alive %v, misuse %q", l, clean.Violations)
	}
	// The fake's range: -5 the greatest. The second stream and the
	// updates' at it; the main stream and the bare lanes at the least.
	if g := clean.Priorities[-5]; g != 2 || clean.FirstPriority != 0 {
		t.Errorf("%d streams at the greatest priority, the main stream at %d: want the two compute lanes at the greatest, the main stream at the least (%v)", g, clean.FirstPriority, clean.Priorities)
	}
	points := walkFakeEngine(t, clean, []string{"cuStreamCreateWithPriority", "cuEventRecord", "cuStreamWaitEvent"}, env...)
	t.Logf("%d failure points walked", points)
}

// walkFakeEngine fails each call of names in turn (as many as the clean
// run made) in the "engine" scenario with env, and checks that each
// comes back as an error that names the call and says what to do (or, in
// the step's recording, as the warning that the step runs without a
// graph, naming it), with nothing left alive and no misuse; it returns
// the points walked.
func walkFakeEngine(t *testing.T, clean fakecuda.Result, names []string, env ...string) int {
	t.Helper()
	points := 0
	for _, name := range names {
		for n := 1; n <= clean.Counts[name]; n++ {
			points++
			r := fakecuda.Run(t, "engine", fmt.Sprintf("%s:%d", name, n), env...)
			what := fmt.Sprintf("failure of %s call %d", name, n)
			if r.Err != nil {
				t.Errorf("%s: the child failed (%v):\n%s", what, r.Err, r.Output)
				continue
			}
			msg, ok := r.Line("error: ")
			// A failure in the step's recording alone is survived: the
			// step runs without a graph, warned with the call named.
			absorbed := !ok && strings.Contains(r.Output, "recording the step as a CUDA graph failed: "+name)
			switch {
			case absorbed:
			case !ok:
				t.Errorf("%s: no error came back:\n%s", what, r.Output)
			case !strings.Contains(msg, name):
				t.Errorf("%s: the error does not name the failing call: %s", what, msg)
			case !slices.ContainsFunc([]string{hintOutOfMemory, hintFault, hintOther, "use --cpu"}, func(h string) bool { return strings.Contains(msg, h) }):
				t.Errorf("%s: the error says nothing of what to do: %s", what, msg)
			}
			if l := r.Leaks(); len(l) > 0 {
				t.Errorf("%s (%s): left alive %v", what, msg, l)
			}
			if len(r.Violations) > 0 {
				t.Errorf("%s (%s): misuse %q", what, msg, r.Violations)
			}
		}
	}
	return points
}

// TestFakeFusedDense: with DenseEnv "cublaslt" the engine trains through
// the real cuBLASLt bindings (the fake checks each product's handle,
// descriptors, workspace, matrices and bias vector), releases everything,
// and fails cleanly at every cuBLASLt call; where cuBLASLt has no
// algorithm (FAKECUDA_LT=none) it runs the split products instead, and
// where it refuses the bias-gradient epilogue (FAKECUDA_LT=old, as a
// release without it) the weight gradient's alone.
func TestFakeFusedDense(t *testing.T) {
	// One cuBLASLt algorithm: nothing to time in place (a failure in a
	// recording of an alternative drops that alternative, by design).
	env := []string{"FAKECUDA_ALT_MS=2", "FAKECUDA_LT_ALGOS=1", ConvEnv + "=cudnn", DenseEnv + "=cublaslt"}
	clean := fakecuda.Run(t, "engine", "", env...)
	clean.Clean(t)
	// The warm-up step and the recording call it twice each (a forward
	// and a weight gradient product; the replay calls nothing), then the
	// prediction's forward.
	if n := clean.Counts["cublasLtMatmul"]; n < 5 {
		t.Errorf("cublasLtMatmul called %d times, want at least 5 (two products in each of the warm-up step and the recording, one for the prediction)", n)
	}
	lt := []string{"cublasLtCreate", "cublasLtMatmulDescCreate", "cublasLtMatmulDescSetAttribute", "cublasLtMatrixLayoutCreate",
		"cublasLtMatmulPreferenceCreate", "cublasLtMatmulPreferenceSetAttribute", "cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul"}
	t.Logf("%d failure points walked", walkFakeEngine(t, clean, lt, env...))

	// Two algorithms: timed in place against each other.
	two := fakecuda.Run(t, "engine", "", "FAKECUDA_ALT_MS=2", ConvEnv+"=cudnn", DenseEnv+"=cublaslt")
	two.Clean(t)
	// In the default "timed" mode the fused product is an alternative:
	// where cuBLASLt fails to plan one, or to run an algorithm the first
	// time, that product runs apart, and the run says so once.
	for _, at := range []string{"cublasLtMatmulAlgoGetHeuristic:1", "cublasLtMatmul:1"} {
		timed := fakecuda.Run(t, "engine", at, "FAKECUDA_ALT_MS=2", ConvEnv+"=cudnn")
		timed.Clean(t)
		if n := strings.Count(timed.Output, "runs on cuBLAS instead"); n != 1 || !strings.Contains(timed.Output, strings.SplitN(at, ":", 2)[0]) {
			t.Errorf("%s failed in the timed mode: %d warnings, want one naming the call:\n%s", at, n, timed.Output)
		}
	}
	none := fakecuda.Run(t, "engine", "", append(env, "FAKECUDA_LT=none")...)
	none.Clean(t)
	if n := none.Counts["cublasLtMatmul"]; n != 0 {
		t.Errorf("without a cuBLASLt algorithm: cublasLtMatmul called %d times, want 0", n)
	}
	old := fakecuda.Run(t, "engine", "", append(env, "FAKECUDA_LT=old")...)
	old.Clean(t)
	lts, sgemms := [3]int{clean.Counts["cublasLtMatmul"], old.Counts["cublasLtMatmul"], none.Counts["cublasLtMatmul"]},
		[3]int{clean.Counts["cublasSgemm_v2"], old.Counts["cublasSgemm_v2"], none.Counts["cublasSgemm_v2"]}
	// Fused, then without the bias-gradient epilogue, then without any:
	// fewer cuBLASLt products each time, more SGEMMs.
	if !(lts[0] > lts[1] && lts[1] > lts[2] && sgemms[0] < sgemms[1] && sgemms[1] < sgemms[2]) {
		t.Errorf("cuBLASLt products %v and SGEMMs %v with every epilogue, without the bias gradient's, without any: want fewer and more each time", lts, sgemms)
	}
}

// TestFakeBeside: a process that has every choice remembered as settled
// makes cuDNN's first calls beside its first steps through the real
// bindings (gpu.WarmDNN: a handle of its own, a plan, each remembered
// algorithm's workspace query, each direction run once), searches
// nothing, and leaves nothing alive, also where one of those calls
// fails; with CNNGPU_CUDNN_BESIDE=0 it makes no such call.
func TestFakeBeside(t *testing.T) {
	dir := t.TempDir()
	env := []string{NoCacheEnv + "=", "XDG_CACHE_HOME=" + dir, "FAKE_ENGINE_STEPS=120"}
	first := fakecuda.Run(t, "engine", "", env...)
	if msg, ok := first.Line("error: "); ok {
		t.Fatal(msg)
	}
	doc := readDoc(t, filepath.Join(dir, "cnngpu", choicesFile))
	settled := 0
	for k, c := range doc.Entries {
		if c.Tuned && strings.Contains(k, fmt.Sprintf(" | %dx", walkBatch)) && len(c.Timed) > 0 {
			settled++
		}
	}
	if settled != 3 {
		t.Fatalf("first process: %d of the training convolution's directions settled by the in-place timing in 120 steps, want 3", settled)
	}
	for _, beside := range []bool{true, false} {
		r := fakecuda.Run(t, "engine", "", append(env, fmt.Sprintf("%s=%d", BesideEnv, map[bool]int{true: 1, false: 0}[beside]))...)
		if msg, ok := r.Line("error: "); ok {
			t.Fatal(msg)
		}
		name := fmt.Sprintf("%s=%v", BesideEnv, map[bool]int{true: 1, false: 0}[beside])
		if r.Finds != [3]int{} {
			t.Errorf("%s: searches %v, want none", name, r.Finds)
		}
		if len(r.Violations) > 0 || len(r.Leaks()) > 0 {
			t.Errorf("%s: misuse %q, left alive %v", name, r.Violations, r.Leaks())
		}
		// cuDNN's handles: the engine's, its second stream's, and
		// WarmDNN's; its workspace queries: restore's and WarmDNN's.
		handles, queries := r.Counts["cudnnCreate"], r.Counts["cudnnGetConvolutionForwardWorkspaceSize"]
		want, wantQ := first.Counts["cudnnCreate"], 1
		if beside {
			want, wantQ = want+1, 2
		}
		if handles != want || queries < wantQ {
			t.Errorf("%s: %d cuDNN handles, %d forward workspace queries; want %d, at least %d", name, handles, queries, want, wantQ)
		}
		t.Logf("%s: %d cuDNN handles, %d forward workspace queries", name, handles, queries)
	}
	// A failure beside (the first of these calls is WarmDNN's: the
	// engine makes none of them before the switch) costs nothing but
	// the head start: the run goes on, restores as it would have,
	// searches nothing and leaves nothing alive.
	for _, fault := range []string{"cudnnGetConvolutionForwardWorkspaceSize:1", "cudnnConvolutionForward:1", "cudnnConvolutionBackwardFilter:1"} {
		r := fakecuda.Run(t, "engine", fault, env...)
		if msg, ok := r.Line("error: "); ok {
			t.Errorf("%s failing beside: the run failed: %s", fault, msg)
		}
		if r.Failed == "" {
			t.Errorf("%s: the fault never fired", fault)
		}
		if r.Finds != [3]int{} || len(r.Violations) > 0 || len(r.Leaks()) > 0 {
			t.Errorf("%s failing beside: searches %v, misuse %q, left alive %v; want none", fault, r.Finds, r.Violations, r.Leaks())
		}
	}
}

// TestFakeRemembersChoices: with the store on, a second process on the
// same cache folder adopts the first one's cuDNN choices through the real
// bindings (cudnnGetConvolution…WorkspaceSize confirms each) and searches
// nothing; the fake checks each algorithm then runs in the math type it
// was confirmed in.
func TestFakeRemembersChoices(t *testing.T) {
	dir := t.TempDir()
	env := []string{NoCacheEnv + "=", "XDG_CACHE_HOME=" + dir}
	first := fakecuda.Run(t, "engine", "", env...)
	if msg, ok := first.Line("error: "); ok {
		t.Fatal(msg)
	}
	if first.Finds == [3]int{} {
		t.Fatal("first process: nothing searched")
	}
	b, err := os.ReadFile(filepath.Join(dir, "cnngpu", choicesFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "cuDNN 9.1.0") || !strings.Contains(string(b), "driver CUDA 12.8") {
		t.Errorf("the entries are not keyed by the library versions:\n%s", b)
	}
	second := fakecuda.Run(t, "engine", "", env...)
	if msg, ok := second.Line("error: "); ok {
		t.Fatal(msg)
	}
	if second.Finds != [3]int{} {
		t.Errorf("second process: cudnnFind calls by direction %v, want none", second.Finds)
	}
	if len(second.Violations) > 0 || len(second.Leaks()) > 0 {
		t.Errorf("second process: misuse %q, left alive %v", second.Violations, second.Leaks())
	}
}
