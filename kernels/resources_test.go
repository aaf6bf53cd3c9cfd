// resources_test.go: where nvcc is installed, every kernel compiled for
// sm_90 (H100/H200) uses at most 64 registers a thread and spills nothing,
// so that a 256-thread block leaves room for four blocks per SM. (A
// first-layer gradient kernel once took 217 registers, one block per SM,
// and ran 25 times slower than predicted; kernels/NOTES.md.)

package kernels

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestKernelResources(t *testing.T) {
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Skip("no nvcc on this machine: kernel register counts not checked (make kernels prints them)")
	}
	out, err := exec.Command(nvcc, "-cubin", "-arch=sm_90", "-O3", "--resource-usage", "-o", t.TempDir()+"/k.cubin", "kernels.cu").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "Unsupported gpu architecture") {
			t.Skipf("this nvcc cannot compile for sm_90 (CUDA 11.8 or newer can): %s", strings.TrimSpace(string(out)))
		}
		t.Fatalf("nvcc: %v\n%s", err, out)
	}
	entry := regexp.MustCompile(`Compiling entry function '(\w+)'`)
	used := regexp.MustCompile(`Used (\d+) registers`)
	spill := regexp.MustCompile(`(\d+) bytes spill stores, (\d+) bytes spill loads`)
	seen := map[string]bool{}
	var cur string
	for _, line := range strings.Split(string(out), "\n") {
		if m := entry.FindStringSubmatch(line); m != nil {
			cur = m[1]
			seen[cur] = true
		}
		if m := spill.FindStringSubmatch(line); m != nil && (m[1] != "0" || m[2] != "0") {
			t.Errorf("%s spills registers: %s", cur, m[0])
		}
		if m := used.FindStringSubmatch(line); m != nil {
			if n, _ := strconv.Atoi(m[1]); n > 64 {
				t.Errorf("%s uses %d registers a thread (at most 64: four 256-thread blocks per SM)", cur, n)
			}
		}
	}
	for _, n := range Names {
		if !seen[n] {
			t.Errorf("nvcc's report has no kernel %s", n)
		}
	}
}
