// resources_test.go: where nvcc is installed, every kernel compiled for
// sm_90 (H100/H200) spills nothing and uses at most 64 registers a thread,
// so that a 256-thread block leaves room for four blocks per SM (those
// with smaller blocks: ownRegisterLimit). (A first-layer gradient kernel
// once took 217 registers, one block per SM, and ran 25 times slower than
// predicted; kernels/NOTES.md.)

package kernels

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// ownRegisterLimit is the register budget of kernels whose blocks are
// not 256 threads, or that launch about one block an SM: conv3_pool and
// conv3_data launch at most 280 threads a block (Conv3Block: 70 windows
// × 4 channel groups; 196 for the reference network's 14×14) and hold 32
// sums a thread; at 128 registers two blocks of 196 threads, or one of
// 280, fit an SM (65,536 registers), as many as a batch of 128 gives each
// (256 blocks on 132 SMs). conv3_filter holds 72 sums a
// thread and launches one block an SM (Conv3FilterSplits), of at most 256
// threads.
var ownRegisterLimit = map[string]int{"conv3_pool": 128, "conv3_data": 128, "conv3_filter": 128}

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
			n, _ := strconv.Atoi(m[1])
			if limit, ok := ownRegisterLimit[cur]; ok {
				if n > limit {
					t.Errorf("%s uses %d registers a thread (at most %d)", cur, n, limit)
				}
			} else if n > 64 {
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

// TestStagingLoadsInFlight: in the SASS of the kernels that stage shared
// memory in batches of STAGE loads (conv3_pool, conv3_data,
// conv3_filter), every run of global loads that a shared-memory store
// follows is at least 4 long: ptxas has not moved a store, which waits
// for its load, in between the batch's loads (with 8 a batch it did, in
// conv3_data: more round trips to L2, not fewer).
func TestStagingLoadsInFlight(t *testing.T) {
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Skip("no nvcc on this machine: the staging's SASS not checked")
	}
	objdump, err := exec.LookPath("cuobjdump")
	if err != nil {
		t.Skip("no cuobjdump on this machine: the staging's SASS not checked")
	}
	cubin := t.TempDir() + "/k.cubin"
	if out, err := exec.Command(nvcc, "-cubin", "-arch=sm_90", "-O3", "-o", cubin, "kernels.cu").CombinedOutput(); err != nil {
		if strings.Contains(string(out), "Unsupported gpu architecture") {
			t.Skipf("this nvcc cannot compile for sm_90: %s", strings.TrimSpace(string(out)))
		}
		t.Fatalf("nvcc: %v\n%s", err, out)
	}
	op := regexp.MustCompile(`\b(LDG|STS|BAR)\b`)
	for _, k := range []string{"conv3_pool", "conv3_data", "conv3_filter"} {
		out, err := exec.Command(objdump, "-sass", "-fun", k, cubin).CombinedOutput()
		if err != nil {
			t.Fatalf("cuobjdump %s: %v\n%s", k, err, out)
		}
		seq := op.FindAllString(string(out), -1)
		if len(seq) == 0 {
			t.Fatalf("%s: no loads or stores found in cuobjdump's output", k)
		}
		run := 0
		for _, o := range seq {
			if o == "STS" && run > 0 && run < 4 {
				t.Errorf("%s: a shared store after only %d global loads in flight (load/store order %s)", k, run, strings.Join(seq, " "))
				break
			}
			if o == "LDG" {
				run++
			} else {
				run = 0
			}
		}
	}
}
