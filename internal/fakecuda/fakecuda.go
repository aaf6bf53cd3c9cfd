// Package fakecuda is for tests: it builds csrc/fakecuda.c, a fake NVIDIA
// driver, cuBLAS and cuDNN in one library that counts the objects made
// through it, fails the call asked for and records misuse, and runs a
// scenario of the calling test binary in a child process that loads it in
// place of the real libraries (dlopen finds it first on LD_LIBRARY_PATH,
// which only a new process reads). Tests of packages cuda, cudnn and
// engine/cuda use it to walk a failure over every call of a constructor
// and check that nothing is left behind.
package fakecuda

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

//go:embed csrc/fakecuda.c
var source string

// The names the fake answers to: the driver, and the cuBLAS (with its
// cuBLASLt) and cuDNN that match the CUDA version it reports (12.8), which
// the bindings' library search (internal/nvlib) takes from
// LD_LIBRARY_PATH first.
var sonames = []string{"libcuda.so.1", "libcublas.so.12", "libcublasLt.so.12", "libcudnn.so.9"}

// CUDNNParts are stand-ins for cuDNN 9's sub-libraries beside the fake
// libcudnn.so.9: empty libraries with their sonames, each its own file,
// that a preload of them (cudnn.Preload) opens and /proc/self/maps then
// shows; CUDNNPartsLeft are two more that a preload leaves to cuDNN.
var (
	CUDNNParts = []string{"libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
		"libcudnn_engines_precompiled.so.9", "libcudnn_heuristic.so.9"}
	CUDNNPartsLeft = []string{"libcudnn_adv.so.9", "libcudnn_engines_runtime_compiled.so.9"}
)

// StandIns builds the stand-ins for cuDNN's sub-libraries (CUDNNParts and
// CUDNNPartsLeft) into folder dir, with the C compiler the fake was built
// with.
func StandIns(t testing.TB, dir string) {
	t.Helper()
	if err := standIns(dir); err != nil {
		t.Fatal(err)
	}
}

func standIns(dir string) error {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	part := filepath.Join(dir, "part.c")
	if err := os.WriteFile(part, []byte("int fakecuda_cudnn_part = 1;\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(part)
	for _, n := range append(slices.Clone(CUDNNParts), CUDNNPartsLeft...) {
		out, err := exec.Command(cc, "-shared", "-fPIC", "-Wl,-soname,"+n, "-o", filepath.Join(dir, n), part).CombinedOutput()
		if err != nil {
			return fmt.Errorf("building a stand-in for %s: %v\n%s", n, err, out)
		}
	}
	return nil
}

// Dir is the folder of the fake libraries (built on first use), which
// Run puts on the children's LD_LIBRARY_PATH.
func Dir(t testing.TB) string { return dir(t) }

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// dir builds the fake once per process and returns its folder.
func dir(t testing.TB) string {
	buildOnce.Do(func() {
		cc := os.Getenv("CC")
		if cc == "" {
			cc = "cc"
		}
		if _, err := exec.LookPath(cc); err != nil {
			buildErr = fmt.Errorf("no C compiler (%s)", cc)
			return
		}
		d, err := os.MkdirTemp("", "fakecuda-")
		if err != nil {
			buildErr = err
			return
		}
		src := filepath.Join(d, "fakecuda.c")
		if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
			buildErr = err
			return
		}
		lib := filepath.Join(d, "libfakecuda.so")
		out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", lib, src).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building the fake CUDA libraries: %v\n%s", err, out)
			return
		}
		for _, n := range sonames {
			if err := os.Symlink("libfakecuda.so", filepath.Join(d, n)); err != nil {
				buildErr = err
				return
			}
		}
		if err := standIns(d); err != nil {
			buildErr = err
			return
		}
		buildDir = d
	})
	if buildErr != nil {
		if strings.HasPrefix(buildErr.Error(), "no C compiler") {
			t.Skipf("%v: tests against the fake CUDA libraries skipped", buildErr)
		}
		t.Fatal(buildErr)
	}
	return buildDir
}

// Cleanup removes the built libraries; TestMain calls it after the tests.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Scenario is the scenario this process runs as a child of Run, or "".
// A test binary's TestMain runs it instead of the tests.
func Scenario() string { return os.Getenv("FAKECUDA_SCENARIO") }

// Result is what a child run left: its output and exit error, and the fake
// libraries' state after its last call.
type Result struct {
	Output string
	Err    error
	// Calls is the number of calls that could have failed; Failed the
	// function made to fail ("" for none), FailedAt its number among them.
	Calls    int
	Failed   string
	FailedAt int
	// Live counts the objects not released, by kind ("context" counts
	// primary-context retains).
	Live map[string]int
	// Finds counts cudnnFind…Algorithm calls: forward, data, filter.
	Finds [3]int
	// Counts counts the calls that could have failed, by function.
	Counts map[string]int
	// Violations are the misuses the fake recorded.
	Violations []string
	// Priorities counts the streams made with a priority, by priority
	// (0 the least, -5 the greatest, as an H200's range).
	Priorities map[int]int
	// FirstPriority is the first stream's priority (the main stream's;
	// 1 where no stream was made with one).
	FirstPriority int
	// Module is what the last module load took from its image: "sass 90"
	// (SASS for sm_90, no JIT) or "ptx 60" (PTX for compute_60 through the
	// JIT); "" when none loaded.
	Module string
}

// Leaks lists the kinds of object left alive, with their counts.
func (r Result) Leaks() []string {
	var out []string
	for k, n := range r.Live {
		if n != 0 {
			out = append(out, fmt.Sprintf("%d %s", n, k))
		}
	}
	return out
}

// Clean fails t when the child printed an error ("error: …", fatal),
// misused the libraries or left something alive.
func (r Result) Clean(t testing.TB) {
	t.Helper()
	if msg, ok := r.Line("error: "); ok {
		t.Fatal(msg)
	}
	if len(r.Violations) > 0 {
		t.Errorf("misuse: %q", r.Violations)
	}
	if l := r.Leaks(); len(l) > 0 {
		t.Errorf("left alive: %v", l)
	}
}

// Line returns the text after prefix on the first line of the child's
// output that starts with it, and whether there was one.
func (r Result) Line(prefix string) (string, bool) {
	for _, l := range strings.Split(r.Output, "\n") {
		if s, ok := strings.CutPrefix(l, prefix); ok {
			return s, true
		}
	}
	return "", false
}

// Run runs scenario in a child process of this test binary against the
// fake libraries, with fault (FAKECUDA_FAIL: "N" or "name:N"; "" for
// none) and env (more NAME=value settings).
func Run(t testing.TB, scenario, fault string, env ...string) Result {
	t.Helper()
	d := dir(t)
	stats, err := os.CreateTemp(d, "stats-")
	if err != nil {
		t.Fatal(err)
	}
	stats.Close()
	defer os.Remove(stats.Name())
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+d, "FAKECUDA_SCENARIO="+scenario, "FAKECUDA_FAIL="+fault,
		"FAKECUDA_STATS="+stats.Name(), "CNNGPU_DEBUG=",
		// The engine's remembered cuDNN choices stay out of the user's
		// cache (a test that wants them sets both again).
		"CNNGPU_NO_CACHE=1", "XDG_CACHE_HOME="+d)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	r := Result{Output: string(out), Err: err, Live: map[string]int{}, Counts: map[string]int{}, Priorities: map[int]int{}, FirstPriority: 1}
	b, rerr := os.ReadFile(stats.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "calls":
			r.Calls, _ = strconv.Atoi(f[1])
		case len(f) == 3 && f[0] == "failed":
			r.Failed = f[1]
			r.FailedAt, _ = strconv.Atoi(f[2])
		case len(f) == 3 && f[0] == "live":
			r.Live[f[1]], _ = strconv.Atoi(f[2])
		case len(f) == 4 && f[0] == "finds":
			for i := range r.Finds {
				r.Finds[i], _ = strconv.Atoi(f[i+1])
			}
		case len(f) == 2 && f[0] == "first-priority":
			r.FirstPriority, _ = strconv.Atoi(f[1])
		case len(f) == 3 && f[0] == "priority":
			p, _ := strconv.Atoi(f[1])
			r.Priorities[p], _ = strconv.Atoi(f[2])
		case len(f) == 3 && f[0] == "module":
			r.Module = f[1] + " " + f[2]
		case len(f) == 3 && f[0] == "count":
			r.Counts[f[1]], _ = strconv.Atoi(f[2])
		case len(f) > 0 && f[0] == "violation":
			r.Violations = append(r.Violations, strings.TrimPrefix(l, "violation "))
		}
	}
	return r
}
