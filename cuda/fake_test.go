//go:build cgo && !windows

// fake_test.go: the bindings against a fake driver and cuBLAS
// (internal/fakecuda), in a child process each: a failure walked over
// every call of Open and of what a context makes (a lane, events, a graph,
// memory, SGEMMs) must come back as an error naming the call and leave
// nothing alive; each cuBLAS handle runs on a workspace of ours; a GPU
// older than the PTX's target is refused in plain words before a context
// is made; and the fatbin loads SASS where it has the GPU's architecture,
// its PTX elsewhere.

package cuda

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/fakecuda"
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
// error as "error: …" and every error of a release as "close: …".
func fakeScenario(s string) int {
	switch s {
	case "context":
		if err := useContext(); err != nil {
			fmt.Println("error:", err)
		}
		// Another GPU the driver failed to describe: said for it alone,
		// GPU 0 used all the same.
		devs, _ := Devices()
		for _, d := range devs {
			if d.Err != nil {
				fmt.Println("device:", d.Err)
			}
		}
	case "devices":
		devs, err := Devices()
		if err != nil {
			fmt.Println("error:", err)
		}
		for _, d := range devs {
			fmt.Printf("name: %q\n", d.Name)
		}
	case "open":
		c, err := Open(0, kernels.Fatbin, kernels.PTX, kernels.Names)
		if err != nil {
			fmt.Println("error:", err)
			return 0
		}
		fmt.Println("close:", c.Close())
	case "open-damaged":
		// The fatbin with its first entry's payload (sm_70's ELF, right
		// after the 16-byte header and the 64-byte entry header) damaged.
		image := slices.Clone(kernels.Fatbin)
		image[16+64] = 'X'
		c, err := Open(0, image, kernels.PTX, kernels.Names)
		if err != nil {
			fmt.Println("error:", err)
			return 0
		}
		fmt.Println("close:", c.Close())
	default:
		fmt.Println("unknown scenario", s)
		return 2
	}
	return 0
}

// release prints the error of a release, if any.
func release(err error) {
	if err != nil {
		fmt.Println("close:", err)
	}
}

// useContext opens GPU 0 and makes, uses and releases one of everything a
// context offers.
func useContext() (err error) {
	c, err := Open(0, kernels.Fatbin, kernels.PTX, kernels.Names)
	if err != nil {
		return err
	}
	defer func() { release(c.Close()) }()
	l, err := c.NewLane()
	if err != nil {
		return err
	}
	defer func() { release(l.Close()) }()
	k, err := c.NewKernelLane()
	if err != nil {
		return err
	}
	defer func() { release(k.Close()) }()
	const n = 16
	p, err := c.Alloc(n * n * 4)
	if err != nil {
		return err
	}
	defer func() { release(c.Free(p)) }()
	if err := c.Zero(p, n*n*4); err != nil {
		return err
	}
	a, err := c.Record()
	if err != nil {
		return err
	}
	defer func() { release(c.DestroyEvent(a)) }()
	step := func() error {
		if err := c.Launch("fill_f32", n*n, 256, P(p), F(1), L(n*n)); err != nil {
			return err
		}
		if err := c.SgemmRowMajor(false, false, n, n, n, 1, p, n, p, n, 0, p, n); err != nil {
			return err
		}
		if err := c.Fork(l); err != nil {
			return err
		}
		if err := c.SgemmRowMajorOn(l, false, false, n, n, n, 1, p, n, p, n, 0, p, n); err != nil {
			return err
		}
		// A third stream after both (engine/cuda's updates lane).
		if err := c.Fork(k); err != nil {
			return err
		}
		if err := c.After(k, l); err != nil {
			return err
		}
		if err := c.LaunchOn(k, "fill_f32", n, 256, P(p), F(1), L(n)); err != nil {
			return err
		}
		if err := c.Join(l); err != nil {
			return err
		}
		return c.Join(k)
	}
	if err := step(); err != nil {
		return err
	}
	g, err := c.Capture(step)
	if err != nil {
		return err
	}
	defer func() { release(c.Destroy(g)) }()
	if err := c.Replay(g); err != nil {
		return err
	}
	b, err := c.Record()
	if err != nil {
		return err
	}
	defer func() { release(c.DestroyEvent(b)) }()
	if _, err := c.Elapsed(a, b); err != nil {
		return err
	}
	v := make([]float32, n*n)
	if err := c.CopyOut(unsafe.Pointer(&v[0]), p, n*n*4); err != nil {
		return err
	}
	// A snapshot read beside (engine/cuda's ReadLater): a device copy on
	// the main stream, the lane ordered after it, the read to the host on
	// the lane from another goroutine.
	if err := c.CopyDevice(p+n*4, p, n*4); err != nil {
		return err
	}
	if err := c.Fork(l); err != nil {
		return err
	}
	done := make(chan error)
	go func() { done <- c.CopyOutOn(l, unsafe.Pointer(&v[0]), p+n*4, n*4) }()
	return <-done
}

// TestFakeContextReleasesEverything walks a failure over every call of
// the "context" scenario: each must come back as an error that names the
// failing call, and leave no object alive and no misuse recorded.
func TestFakeContextReleasesEverything(t *testing.T) {
	clean := fakecuda.Run(t, "context", "")
	if clean.Err != nil || strings.Contains(clean.Output, "error:") || strings.Contains(clean.Output, "close:") {
		t.Fatalf("without a failure: %v\n%s", clean.Err, clean.Output)
	}
	if l := clean.Leaks(); len(l) > 0 || len(clean.Violations) > 0 {
		t.Errorf("without a failure: left alive %v, misuse %q", l, clean.Violations)
	}
	if clean.Calls < 40 {
		t.Fatalf("the scenario made %d calls that can fail; the fake is not being loaded", clean.Calls)
	}
	for i := 1; i <= clean.Calls; i++ {
		r := fakecuda.Run(t, "context", strconv.Itoa(i))
		what := fmt.Sprintf("failure of call %d (%s)", i, r.Failed)
		if r.Err != nil {
			t.Errorf("%s: the child failed (%v):\n%s", what, r.Err, r.Output)
			continue
		}
		msg, ok := r.Line("error: ")
		if !ok {
			msg, ok = r.Line("close: ")
		}
		if !ok {
			msg, ok = r.Line("device: ") // GPU 1's description
		}
		if !ok {
			t.Errorf("%s: no error came back:\n%s", what, r.Output)
		} else if !strings.Contains(msg, r.Failed) {
			t.Errorf("%s: the error does not name the failing call: %s", what, msg)
		}
		if l := r.Leaks(); len(l) > 0 {
			t.Errorf("%s (%s): left alive %v", what, msg, l)
		}
		if len(r.Violations) > 0 {
			t.Errorf("%s (%s): misuse %q", what, msg, r.Violations)
		}
	}
	t.Logf("%d failure points walked", clean.Calls)
}

// TestFakeOldGPURefused: on a GPU older than the PTX's target, Open says so
// in plain words and makes no context (the JIT would fail with a ptxas
// message, and the context would stay with the process, which falls back
// to the CPU); a GPU at the target opens.
func TestFakeOldGPURefused(t *testing.T) {
	m := ptxTarget.FindStringSubmatch(kernels.PTX)
	if m == nil {
		t.Fatal("kernels.PTX has no .target sm_NN line")
	}
	target, _ := strconv.Atoi(m[1] + m[2])
	r := fakecuda.Run(t, "open", "", fmt.Sprintf("FAKECUDA_CC=%d", target-5))
	msg, _ := r.Line("error: ")
	want := fmt.Sprintf("compute capability %d.%d and they need %s.%s or newer", (target-5)/10, (target-5)%10, m[1], m[2])
	if !strings.Contains(msg, "too old") || !strings.Contains(msg, want) || !strings.Contains(msg, "--cpu") {
		t.Errorf("GPU below the target: error %q, want one containing \"too old\", %q and --cpu", msg, want)
	}
	if l := r.Leaks(); len(l) > 0 || r.Calls > 20 {
		t.Errorf("GPU below the target: left alive %v after %d calls; want nothing made", l, r.Calls)
	}
	r = fakecuda.Run(t, "open", "", fmt.Sprintf("FAKECUDA_CC=%d", target))
	if msg, ok := r.Line("error: "); ok {
		t.Errorf("GPU at the target: %s", msg)
	}
}

// TestFakeFatbinLoadsSASS: the fake driver, which checks the fatbin's
// container to its end and chooses as the real one does, loads SASS with
// no JIT on every architecture from Volta to Hopper (a later minor of the
// same major, sm_87, takes sm_86's), and the compute_60 PTX through the JIT
// on Pascal and on GPUs newer than Hopper.
func TestFakeFatbinLoadsSASS(t *testing.T) {
	for _, c := range []struct {
		cc   int
		want string
	}{{60, "ptx 60"}, {61, "ptx 60"}, {70, "sass 70"}, {72, "sass 70"}, {75, "sass 75"}, {80, "sass 80"}, {86, "sass 86"},
		{87, "sass 86"}, {89, "sass 89"}, {90, "sass 90"}, {100, "ptx 60"}, {120, "ptx 60"}} {
		r := fakecuda.Run(t, "open", "", fmt.Sprintf("FAKECUDA_CC=%d", c.cc))
		if msg, ok := r.Line("error: "); ok || r.Err != nil {
			t.Errorf("compute capability %d.%d: %s %v\n%s", c.cc/10, c.cc%10, msg, r.Err, r.Output)
			continue
		}
		if r.Module != c.want {
			t.Errorf("compute capability %d.%d: loaded %q from the fatbin, want %q", c.cc/10, c.cc%10, r.Module, c.want)
		}
		if l := r.Leaks(); len(l) > 0 || len(r.Violations) > 0 {
			t.Errorf("compute capability %d.%d: left alive %v, misuse %q", c.cc/10, c.cc%10, l, r.Violations)
		}
	}
}

// TestFakeDamagedFatbin: the fake driver refuses a fatbin with a damaged
// SASS entry (so the loads above went through its checks), and Open says
// so, leaving nothing behind.
func TestFakeDamagedFatbin(t *testing.T) {
	r := fakecuda.Run(t, "open-damaged", "", "FAKECUDA_CC=70")
	msg, _ := r.Line("error: ")
	if !strings.Contains(msg, "cuModuleLoadDataEx: CUDA_ERROR_INVALID_IMAGE") || !strings.Contains(msg, "loading our kernels on GPU 0") {
		t.Errorf("a damaged fatbin: error %q, want cuModuleLoadDataEx's CUDA_ERROR_INVALID_IMAGE", msg)
	}
	if l := r.Leaks(); len(l) > 0 || r.Module != "" {
		t.Errorf("a damaged fatbin: left alive %v, module %q", l, r.Module)
	}
}

// TestFakeOldDriver: with a driver whose JIT is older than our PTX's ISA
// (7.7 against 7.8), a GPU the fatbin has SASS for still opens, and one it
// has none for (Pascal) fails in plain words, with the JIT's log, leaving
// nothing behind.
func TestFakeOldDriver(t *testing.T) {
	r := fakecuda.Run(t, "open", "", "FAKECUDA_PTX_ISA=77", "FAKECUDA_CC=80")
	if msg, ok := r.Line("error: "); ok || r.Module != "sass 80" {
		t.Errorf("sm_80 on a driver with PTX ISA 7.7: error %q, loaded %q; want the sm_80 SASS loaded", msg, r.Module)
	}
	r = fakecuda.Run(t, "open", "", "FAKECUDA_PTX_ISA=77", "FAKECUDA_CC=61")
	msg, _ := r.Line("error: ")
	for _, want := range []string{"cuModuleLoadDataEx", "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "GPU 0 (Fake GPU 0, compute capability 6.1)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("sm_61 on a driver with PTX ISA 7.7: error %q does not contain %q", msg, want)
		}
	}
	for _, want := range []string{"too old to compile our kernels' PTX (ISA 7.8)", "--cpu", "JIT log: ptxas application ptx input"} {
		if !strings.Contains(r.Output, want) {
			t.Errorf("sm_61 on a driver with PTX ISA 7.7: output %q does not contain %q", r.Output, want)
		}
	}
	if l := r.Leaks(); len(l) > 0 || r.Module != "" {
		t.Errorf("sm_61 on a driver with PTX ISA 7.7: left alive %v, module %q", l, r.Module)
	}
}

func TestCheckTarget(t *testing.T) {
	ptx := "//\n.version 7.8\n.target sm_60\n.address_size 64\n"
	for _, c := range []struct {
		major, minor int
		ok           bool
	}{{5, 2, false}, {6, 0, true}, {6, 1, true}, {7, 5, true}, {9, 0, true}} {
		err := checkTarget(Device{Index: 1, Name: "GPU X", ComputeMajor: c.major, ComputeMinor: c.minor}, ptx)
		if (err == nil) != c.ok {
			t.Errorf("compute capability %d.%d against sm_60: %v, want ok %v", c.major, c.minor, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "GPU 1 (GPU X)") {
			t.Errorf("the error does not name the GPU: %v", err)
		}
	}
}

// TestFakeDriverOutOfOrder: a driver that reports a GPU count no machine
// has (negative, or billions: a slice made of it panicked, or ran out of
// memory) is refused in a SetupError; a name with control characters and
// bytes that are not UTF-8 (one that could print lines of its own) is
// made printable; cuInit failing as the toolkit's stub library does says
// to take the stubs folder off the search path, and a status the driver
// does not name is not called CUDA_ERROR_UNKNOWN (999).
func TestFakeDriverOutOfOrder(t *testing.T) {
	for _, n := range []string{"-1", "2147483647", "1025"} {
		r := fakecuda.Run(t, "devices", "", "FAKECUDA_NDEV="+n)
		msg, _ := r.Line("error: ")
		if want := "the NVIDIA driver reports " + n + " GPUs (cuDeviceGetCount), where 0 to 1024 were expected"; !strings.Contains(msg, want) || r.Err != nil {
			t.Errorf("%s GPUs: error %q (%v), want %q\n%s", n, msg, r.Err, want, r.Output)
		}
	}
	r := fakecuda.Run(t, "devices", "", "FAKECUDA_NDEV=1", "FAKECUDA_NAME=GPU\nerror: not mine\x1b[31m\xff")
	if name, _ := r.Line("name: "); name != fmt.Sprintf("%q", "GPU\ufffderror: not mine\ufffd[31m\ufffd") {
		t.Errorf("a name with a newline, an escape and a byte that is not UTF-8: %s, want them each U+FFFD\n%s", name, r.Output)
	}
	r = fakecuda.Run(t, "devices", "", "FAKECUDA_INIT=34")
	if msg, _ := r.Line("error: "); !strings.Contains(msg, "CUDA_ERROR_STUB_LIBRARY (34)") || !strings.Contains(msg, "the CUDA toolkit's stub") || !strings.Contains(msg, "libcuda.so.1) did not start") {
		t.Errorf("cuInit as the stub library: %q", msg)
	}
	r = fakecuda.Run(t, "devices", "", "FAKECUDA_INIT=12345")
	if msg, _ := r.Line("error: "); !strings.Contains(msg, "cuInit: a status the driver does not name (12345)") {
		t.Errorf("cuInit failing with a status the driver does not name: %q", msg)
	}
}
