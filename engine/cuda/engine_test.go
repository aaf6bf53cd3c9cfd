//go:build cgo && !windows

// engine_test.go: on a machine with an NVIDIA GPU, the conformance suite
// (every op against the float64 reference, inputs unchanged) and the golden
// test: 200 training steps on real MNIST from the same initial weights on
// the CPU and the GPU (strict FP32, the step recorded as a CUDA graph),
// losses compared at every 50th step against the CPU's own sensitivity to
// a one-ulp change of its initial weights. Elsewhere both skip and say why.

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	cu "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/engine/enginetest"
	"github.com/cnngpu/cnngpu/loader"
)

func needGPU(t *testing.T) {
	t.Helper()
	if err := cu.Load(); err != nil {
		t.Skipf("no GPU on this machine, GPU test skipped: %v", err)
	}
}

// variant is a configuration of the engine: its kernel set (KernelsEnv),
// whether it uses a second stream (StreamsEnv), where the convolutions
// our kernels take run (ConvEnv) and how dense layers run their products'
// epilogues (DenseEnv).
type variant struct {
	name        string
	own         bool
	streams     int
	conv        convMode
	dense       denseMode
	fusedUpdate bool
}

// variants are the configurations the GPU tests run: both kernel sets on
// one and two streams (the default, "own, 2 streams", times our
// convolution kernels against cuDNN's, and cuBLASLt's fused dense
// products against the split ones, in a recorded step, which the
// conformance suite's ops are not: they run cuDNN's and the split
// products), the own set with our convolution kernels wherever they fit,
// the own set with cuBLASLt's fused dense products wherever they fit, and
// the default with the optimizer's updates on a third stream, and the
// default with the first dense layer's weight gradient and update in one
// kernel (DenseUpdateEnv "fused").
var variants = []variant{{"library", false, 1, convTimed, denseTimed, false}, {"own", true, 1, convTimed, denseTimed, false},
	{"own, 2 streams", true, 2, convTimed, denseTimed, false}, {"library, 2 streams", false, 2, convTimed, denseTimed, false},
	{"own convolutions, 2 streams", true, 2, convOwn, denseTimed, false}, {"cuBLASLt dense, 2 streams", true, 2, convTimed, denseLt, false},
	{"own, 3 streams", true, 3, convTimed, denseTimed, false}, {"fused update, 2 streams", true, 2, convTimed, denseTimed, true}}

// gpuVariants are the variants the tests on a GPU run: all, or those named
// in $CNNGPU_TEST_VARIANTS (names separated by "|"). The device check runs
// each variant in a process of its own, so that a kernel fault, which
// leaves the process's CUDA context unusable, costs only that variant's
// results.
func gpuVariants(t *testing.T) []variant {
	vs, err := selectVariants(os.Getenv("CNNGPU_TEST_VARIANTS"))
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// selectVariants returns the variants named in sel ("|" between names), or
// all of them for "".
func selectVariants(sel string) ([]variant, error) {
	if sel == "" {
		return variants, nil
	}
	var out []variant
	for _, name := range strings.Split(sel, "|") {
		i := slices.IndexFunc(variants, func(v variant) bool { return v.name == name })
		if i < 0 {
			var names []string
			for _, v := range variants {
				names = append(names, strconv.Quote(v.name))
			}
			return nil, fmt.Errorf("CNNGPU_TEST_VARIANTS=%q: no variant %q; the variants are %s", sel, name, strings.Join(names, ", "))
		}
		out = append(out, variants[i])
	}
	return out, nil
}

func TestSelectVariants(t *testing.T) {
	for sel, want := range map[string]int{"": len(variants), "library": 1, "own|own, 2 streams": 2} {
		if vs, err := selectVariants(sel); err != nil || len(vs) != want {
			t.Errorf("selectVariants(%q) = %v, %v; want %d variants", sel, vs, err, want)
		}
	}
	if _, err := selectVariants("own2"); err == nil || !strings.Contains(err.Error(), `"own2"`) {
		t.Errorf("selectVariants(own2): %v, want an error naming it", err)
	}
}

// set puts e in variant v.
func (v variant) set(e *Engine) {
	e.SetOwnKernels(v.own)
	e.SetStreams(v.streams)
	e.SetConv(v.conv)
	e.SetDense(v.dense)
	e.SetDenseUpdate(v.fusedUpdate)
}

// configure puts a new engine (its kernel set already v's) in variant v
// and has it check what each kernel touches (checkDeclared).
func (v variant) configure(e *Engine) {
	e.setStreams(v.streams)
	e.conv, e.dense, e.fusedUpdate, e.checkDeclared = v.conv, v.dense, v.fusedUpdate, true
}

func TestConformance(t *testing.T) {
	needGPU(t)
	for _, v := range gpuVariants(t) {
		t.Run(v.name, func(t *testing.T) {
			enginetest.Run(t, func(t *testing.T) engine.Engine {
				e, err := New(0, false)
				if err != nil {
					t.Fatal(err)
				}
				v.set(e)
				return e
			})
		})
	}
}

// mnistDir is where the tests look for real MNIST: $CNNGPU_MNIST, else
// the cache.
func mnistDir() string {
	if dir := os.Getenv("CNNGPU_MNIST"); dir != "" {
		return dir
	}
	dir, _ := loader.CacheDir()
	return dir
}

// task is a training set for the golden tests.
type task struct {
	name     string
	img, lab []uint8
}

// mnistTask is the first 25,600 real MNIST training images, from
// $CNNGPU_MNIST or the cache; the test skips when neither has them.
func mnistTask(t *testing.T) task {
	m, err := loader.LoadDir(mnistDir())
	if err != nil {
		t.Skipf("the golden tests train on real MNIST: %v (run 'cnngpu data fetch' or set CNNGPU_MNIST)", err)
	}
	const n = 25600
	return task{"mnist", m.Train.Images.Pixels[:n*engine.ImagePixels], m.Train.Labels[:n]}
}

// losses trains steps steps at batch bs from Glorot weights (seed 11;
// each weight nudged up by one ulp with probability 1/2 when nudge is set)
// on tk, in a fixed random order, and returns the mean loss of each step.
func losses(t *testing.T, e engine.Engine, tk task, opt engine.OptConfig, steps, bs int, nudge bool) []float64 {
	var aug engine.Augment
	if opt.Sched.Kind != engine.ConstantLR {
		opt.Sched = engine.NewSchedule(opt.Sched.Kind, steps)
		aug = engine.Augment{Shift: 2, Seed: 11}
	}
	arch, _ := engine.NewArch("reference", engine.ReLU)
	init := arch.GlorotInit(11)
	if nudge {
		r := rand.New(rand.NewPCG(9, 9))
		for i := range init {
			if r.IntN(2) == 0 {
				init[i] = math.Nextafter32(init[i], 10)
			}
		}
	}
	m, err := engine.NewModel(e, arch, opt, init)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	d, err := engine.UploadDataset(e, tk.img, tk.lab)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	perm, _ := e.Alloc(engine.Int32, steps*bs)
	order := make([]int32, steps*bs)
	for i := range order {
		order[i] = int32(r.IntN(len(tk.lab)))
	}
	if err := e.Write(perm, 0, order); err != nil {
		t.Fatal(err)
	}
	cursor, _ := e.Alloc(engine.Int32, 2) // position, epoch 0
	stats, _ := e.Alloc(engine.Float32, 3)
	defer func() {
		engine.ResetGraphs(e)
		for _, x := range []engine.Tensor{perm, cursor, stats, d.Images, d.Labels} {
			e.Free(x)
		}
	}()
	b := engine.Batch{Images: d.Images, Labels: d.Labels, Perm: perm, Cursor: cursor, Aug: aug}
	var out []float64
	st := make([]float32, 3)
	for s := 0; s < steps; s++ {
		e.Fill(stats, 0)
		var serr error
		if err := engine.Run(e, bs, func() { serr = m.TrainStep(b, bs, stats) }); err != nil || serr != nil {
			t.Fatalf("step %d: %v %v", s, err, serr)
		}
		if err := e.Read(stats, 0, st); err != nil {
			t.Fatal(err)
		}
		out = append(out, float64(st[0]/st[2]))
	}
	return out
}

// worst logs the losses of a and b every every/2 steps and returns their
// largest relative difference at every every-th step.
func worst(t *testing.T, what string, a, b []float64, every int) float64 {
	w := 0.0
	for s := 0; s < len(a); s += every / 2 {
		rel := math.Abs(a[s]-b[s]) / math.Abs(b[s])
		t.Logf("%s: step %3d: %.6f vs %.6f (relative difference %.1e)", what, s, a[s], b[s], rel)
		if s%every == 0 && !(rel <= w) {
			w = rel
		}
	}
	return w
}

// goldenOpts are the optimizers the golden tests train with: Adam (the
// reference recipe), SGD with momentum, and Adam with the cosine
// schedule, with which losses also augments the batches (the default
// recipe: the scheduled rate and the drawn translations on the device).
var goldenOpts = []engine.OptConfig{
	{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7},
	{Kind: engine.SGD, LR: 0.01, Momentum: 0.9},
	{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7, Sched: engine.Schedule{Kind: engine.CosineLR}},
}

// optName names a golden optimizer in test output.
func optName(opt engine.OptConfig) string {
	if opt.Sched.Kind != engine.ConstantLR {
		return engine.OptName(opt.Kind) + " + " + opt.Sched.Kind.String() + " + shift:2"
	}
	return engine.OptName(opt.Kind)
}

// cpuDrift trains steps steps at batch bs with opt on the CPU engine c,
// as is and with its initial weights nudged by one ulp, and returns the
// losses and their largest relative difference at every every-th step.
func cpuDrift(t *testing.T, c engine.Engine, tk task, opt engine.OptConfig, steps, bs, every int) ([]float64, float64) {
	lc := losses(t, c, tk, opt, steps, bs, false)
	ln := losses(t, c, tk, opt, steps, bs, true)
	return lc, worst(t, optName(opt)+", cpu nudged one ulp vs cpu", ln, lc, every)
}

// agrees checks losses lg (engine gname) against the CPU's lc: the first
// step within 1e-6 relative, every every-th step within four times the
// CPU's own one-ulp drift wn plus 1e-3, and the last loss below learn
// times the first.
func agrees(t *testing.T, gname string, lg, lc []float64, wn float64, every int, learn float64) {
	t.Helper()
	wg := worst(t, gname+" vs cpu", lg, lc, every)
	t.Logf("%s: largest relative difference at every %dth step: %.1e (cpu one ulp apart %.1e)", gname, every, wg, wn)
	if rel := math.Abs(lg[0]-lc[0]) / lc[0]; !(rel <= 1e-6) {
		t.Errorf("%s: first-step losses differ by %.1e relative (> 1e-6)", gname, rel)
	}
	if !(wg <= 4*wn+1e-3) {
		t.Errorf("%s: drifts from the CPU by %.1e relative, more than 4 × the CPU's own one-ulp drift %.1e + 1e-3", gname, wg, wn)
	}
	if n := len(lg); !(lg[n-1] < lg[0]*learn) {
		t.Errorf("%s: did not learn: loss %.4f -> %.4f", gname, lg[0], lg[n-1])
	}
}

func engines(t *testing.T) (*Engine, engine.Engine) {
	needGPU(t)
	g, err := New(0, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	c := cpu.New(0)
	t.Cleanup(func() { c.Close() })
	return g, c
}

// TestGoldenCPUvsGPU trains 200 steps at batch 128 on real MNIST from the
// same initial weights on the CPU and the GPU (strict FP32, the step
// recorded as a CUDA graph), with Adam (the default) and with SGD with
// momentum, and compares the losses at every 50th step; the GPU runs with
// each variant (variants: library kernels, own kernels, own with 2 streams).
//
// Bit-level agreement cannot last: the engines add in different orders,
// and training amplifies a last-bit difference. The CPU engine against
// itself, with each initial weight moved by one ulp, drifts by 1e-3 to
// 1e-2 relative within 50 to 100 steps (Adam's normalised step turns
// rounding in tiny gradients into full-size steps), so the bound is that
// drift: the first step's losses agree within 1e-6, and the GPU's losses
// stay within four times the CPU's own one-ulp drift, plus 1e-3, of the
// CPU's at every 50th step. An engine bug moves losses by far more.
func TestGoldenCPUvsGPU(t *testing.T) {
	g, c := engines(t)
	tk := mnistTask(t)
	for _, opt := range goldenOpts {
		lc, wn := cpuDrift(t, c, tk, opt, 200, 128, 50)
		for _, v := range gpuVariants(t) {
			v.set(g)
			lg := losses(t, g, tk, opt, 200, 128, false)
			agrees(t, optName(opt)+", "+v.name+" on the GPU", lg, lc, wn, 50, 0.5)
		}
	}
}

// TestEnvVars: each of the engine's environment variables takes its
// values (in any case, spaces around them ignored) and refuses others with an error naming the variable, the value
// and what is expected; New refuses a bad value before it looks for a GPU.
func TestEnvVars(t *testing.T) {
	for _, v := range []struct {
		name  string
		parse func() (bool, error)
		on    []string // values that switch it on (the default, "", among them)
		off   []string // values that switch it off
		bad   []string
		want  string // in the error
	}{
		// Any case, spaces around ignored, as the on/off switches take them.
		{KernelsEnv, parseKernels, []string{"", "own", "Own", " OWN "}, []string{"library", "Library"}, []string{"fast", "ow n"}, `"library"`},
		{StreamsEnv, func() (bool, error) { n, err := parseStreams(); return n >= 2, err }, []string{"", "2", "3", " 2"}, []string{"1"}, []string{"4", "two", "0"}, "the number of streams: 2 (the default), 1, or 3"},
	} {
		for _, val := range append(append(slices.Clone(v.on), v.off...), v.bad...) {
			t.Setenv(v.name, val)
			on, err := v.parse()
			if slices.Contains(v.bad, val) {
				if err == nil || !strings.Contains(err.Error(), v.name+`="`+val+`"`) || !strings.Contains(err.Error(), v.want) {
					t.Errorf("%s=%q: error %v, want one naming the variable, the value and what is expected", v.name, val, err)
				}
				if _, err := New(0, false); err == nil || !strings.Contains(err.Error(), v.name) {
					t.Errorf("New with %s=%q: %v, want the variable's error", v.name, val, err)
				}
				if err := CheckEnv(); err == nil || !strings.Contains(err.Error(), v.name) {
					t.Errorf("CheckEnv with %s=%q: %v, want the variable's error", v.name, val, err)
				}
				continue
			}
			if err != nil || on != slices.Contains(v.on, val) {
				t.Errorf("%s=%q: on %v, error %v; want on %v", v.name, val, on, err, slices.Contains(v.on, val))
			}
		}
		t.Setenv(v.name, "")
	}
}

// TestStreamsEnv: StreamsEnv's three counts, and what each sets.
func TestStreamsEnv(t *testing.T) {
	for val, want := range map[string]int{"": 2, "1": 1, "2": 2, "3": 3} {
		t.Setenv(StreamsEnv, val)
		n, err := parseStreams()
		if err != nil || n != want {
			t.Errorf("%s=%q: %d, %v; want %d", StreamsEnv, val, n, err, want)
			continue
		}
		var e Engine
		e.setStreams(n)
		if e.streams != (n >= 2) || e.updates != (n == 3) {
			t.Errorf("%s=%q: second stream %v, updates' stream %v", StreamsEnv, val, e.streams, e.updates)
		}
	}
}

// TestPriorityEnv: PriorityEnv's values, and a bad one refused by
// CheckEnv and New naming the variable, the value and what is expected.
func TestPriorityEnv(t *testing.T) {
	for val, want := range map[string]cu.Priority{"": cu.SamePriority, "same": cu.SamePriority, "main": cu.MainFirst, "Main": cu.MainFirst, "lanes ": cu.LanesFirst} {
		t.Setenv(PriorityEnv, val)
		if got, err := parsePriority(); err != nil || got != want {
			t.Errorf("%s=%q: %v, %v; want %v", PriorityEnv, val, got, err, want)
		}
	}
	for _, val := range []string{"1", "mainly", "lane"} {
		t.Setenv(PriorityEnv, val)
		for what, err := range map[string]error{"CheckEnv": CheckEnv(), "parse": func() error { _, err := parsePriority(); return err }()} {
			if err == nil || !strings.Contains(err.Error(), PriorityEnv+`="`+val+`"`) || !strings.Contains(err.Error(), `"lanes"`) {
				t.Errorf("%s with %s=%q: %v, want the variable's error", what, PriorityEnv, val, err)
			}
		}
		if _, err := New(0, false); err == nil || !strings.Contains(err.Error(), PriorityEnv) {
			t.Errorf("New with %s=%q: %v, want the variable's error", PriorityEnv, val, err)
		}
	}
}

// TestBesideEnv: BesideEnv's values, and a bad one refused naming the
// variable, the value and what is expected.
func TestBesideEnv(t *testing.T) {
	for val, want := range map[string]besideMode{"": besideEarly, "1": besideEarly, "True": besideEarly, "recorded": besideAfterRecording, " Recorded": besideAfterRecording, "early": besideEarly, "Early": besideEarly, " EARLY": besideEarly, "0": besideOff, "off": besideOff} {
		t.Setenv(BesideEnv, val)
		if got, err := parseBeside(); err != nil || got != want {
			t.Errorf("%s=%q: %v, %v; want %v", BesideEnv, val, got, err, want)
		}
	}
	for _, val := range []string{"2", "earlier", "late"} {
		t.Setenv(BesideEnv, val)
		if err := CheckEnv(); err == nil || !strings.Contains(err.Error(), BesideEnv+`="`+val+`"`) || !strings.Contains(err.Error(), `"recorded"`) {
			t.Errorf("CheckEnv with %s=%q: %v, want the variable's error", BesideEnv, val, err)
		}
	}
}

// TestHeadEnv: HeadEnv's values, and a bad one refused naming the
// variable and the value.
func TestHeadEnv(t *testing.T) {
	for val, want := range map[string]bool{"": true, "1": true, "on": true, "0": false, " Off": false} {
		t.Setenv(HeadEnv, val)
		if c, err := readEnv(); err != nil || c.head != want {
			t.Errorf("%s=%q: %v, %v; want %v", HeadEnv, val, c.head, err, want)
		}
	}
	t.Setenv(HeadEnv, "fused")
	if err := CheckEnv(); err == nil || !strings.Contains(err.Error(), HeadEnv+`="fused"`) {
		t.Errorf("CheckEnv with %s=\"fused\": %v, want the variable's error", HeadEnv, err)
	}
}
