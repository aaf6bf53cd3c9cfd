// kernels_test.go: the embedded PTX is current (every kernel the engine
// launches is in it, with C linkage, for a target from Pascal to Hopper,
// in the pinned nvcc's ISA) and matches kernels.cu's list of entry points;
// and kernels.ptx and kernels.fatbin are what make kernels built from
// this kernels.cu (kernels.sum).

package kernels

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPTXHasEveryKernel(t *testing.T) {
	got := Entries()
	for _, n := range Names {
		if !slices.Contains(got, n) {
			t.Errorf("kernels.ptx lacks %s (run 'make kernels')", n)
		}
	}
	// A target from Pascal (compute_60, what make kernels builds) to
	// Hopper, and the PTX ISA of the pinned nvcc 11.8: a newer nvcc's ISA
	// would raise the driver every user needs (driver 520 for ISA 7.8).
	m := regexp.MustCompile(`(?m)^\.target sm_(\d+)$`).FindStringSubmatch(PTX)
	if m == nil {
		t.Error("kernels.ptx has no .target line")
	} else if sm, _ := strconv.Atoi(m[1]); sm < 60 || sm > 90 {
		t.Errorf("kernels.ptx targets sm_%d, want sm_60 (make kernels) to sm_90", sm)
	}
	if !strings.Contains(PTX, "\n.version 7.8\n") {
		t.Error("kernels.ptx is not PTX ISA 7.8, nvcc 11.8's (make kernels pins it): another ISA changes the driver docs/gpu.md asks for")
	}
	src, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, m := range regexp.MustCompile(`__global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\(`).FindAllStringSubmatch(string(src), -1) {
		defined = append(defined, m[1])
	}
	slices.Sort(defined)
	slices.Sort(got)
	if !slices.Equal(defined, got) {
		t.Errorf("kernels.cu defines %v but kernels.ptx has %v: regenerate with 'make kernels'", defined, got)
	}
}

// checkSums checks sums (kernels.sum, as sha256sum writes it) against the
// files' contents: every file listed, with its SHA-256.
func checkSums(sums string, files map[string][]byte) error {
	listed := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(sums), "\n") {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok {
			return fmt.Errorf("kernels.sum: line %q is not \"SHA-256  file\" (run 'make kernels')", l)
		}
		listed[name] = sum
	}
	var stale []string
	for name, b := range files {
		want, ok := listed[name]
		if !ok {
			return fmt.Errorf("kernels.sum lists no %s (run 'make kernels')", name)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != want {
			stale = append(stale, name)
		}
	}
	if stale != nil {
		slices.Sort(stale)
		return fmt.Errorf("%s changed since 'make kernels' built kernels.ptx and kernels.fatbin from kernels.cu: "+
			"run 'make kernels' (nvcc 11.8) and commit the three files with kernels.sum", strings.Join(stale, ", "))
	}
	return nil
}

// TestGeneratedCurrent: kernels.cu, the embedded PTX and the embedded
// fatbin are the ones make kernels last wrote kernels.sum for, so neither
// output is older than kernels.cu, nor from another make kernels than the
// other.
// TestGatherUnfused: the gather kernel's warp rounds every operation on
// its own (__fmul_rn and its kin), as the CPU engine does: a fused
// multiply-add in its PTX would give the GPU other bits than the CPU
// engine's and the emulator's (which turns contraction off, and so cannot
// tell).
func TestGatherUnfused(t *testing.T) {
	m := regexp.MustCompile(`(?s)\.entry gather\(.*?\n}\n`).FindString(PTX)
	if m == "" {
		t.Fatal("kernels.ptx has no gather entry")
	}
	if n := strings.Count(m, "fma."); n > 0 {
		t.Errorf("the gather entry of kernels.ptx has %d fused multiply-adds: write its warp's operations with __fmul_rn, __fadd_rn and __fsub_rn", n)
	}
}

func TestGeneratedCurrent(t *testing.T) {
	sums, err := os.ReadFile("kernels.sum")
	if err != nil {
		t.Fatalf("%v (run 'make kernels')", err)
	}
	src, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"kernels.cu": src, "kernels.ptx": []byte(PTX), "kernels.fatbin": Fatbin}
	if err := checkSums(string(sums), files); err != nil {
		t.Fatal(err)
	}
	// Each change is caught: kernels.cu edited after make kernels, or an
	// output from another run.
	for _, name := range []string{"kernels.cu", "kernels.ptx", "kernels.fatbin"} {
		changed := map[string][]byte{}
		for n, b := range files {
			changed[n] = b
		}
		changed[name] = append(slices.Clone(files[name]), '\n')
		if err := checkSums(string(sums), changed); err == nil || !strings.Contains(err.Error(), name+" changed") ||
			!strings.Contains(err.Error(), "run 'make kernels'") {
			t.Errorf("%s changed: %v, want an error naming it and asking for make kernels", name, err)
		}
	}
}

// TestDefinesMatch: the engine's limits and grids are the kernels' own
// (dense_xent's registers and shared memory are sized by DENSE_XENT_OUT,
// dense_wgrad_adam's tile and block by DWA_T and DWA_THREADS).
func TestDefinesMatch(t *testing.T) {
	src, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"DENSE_XENT_OUT": DenseXentOut, "DWA_T": DenseUpdateTile, "DWA_THREADS": DenseUpdateThreads} {
		m := regexp.MustCompile(`(?m)^#define ` + name + ` (\d+)$`).FindSubmatch(src)
		if m == nil {
			t.Errorf("kernels.cu has no #define %s", name)
			continue
		}
		if n, _ := strconv.Atoi(string(m[1])); n != want {
			t.Errorf("kernels.cu's %s is %d, the Go constant %d", name, n, want)
		}
	}
}
