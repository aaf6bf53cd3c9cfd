// kernels_test.go: the embedded PTX is current (every kernel the engine
// launches is in it, with C linkage, for a target from Pascal to Hopper,
// in the pinned nvcc's ISA) and matches kernels.cu's list of entry points.

package kernels

import (
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
		t.Error("kernels.ptx is not PTX ISA 7.8, nvcc 11.8's (make kernels pins it): another ISA changes the driver the README asks for")
	}
	src, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, m := range regexp.MustCompile(`__global__ void (\w+)\(`).FindAllStringSubmatch(string(src), -1) {
		defined = append(defined, m[1])
	}
	slices.Sort(defined)
	slices.Sort(got)
	if !slices.Equal(defined, got) {
		t.Errorf("kernels.cu defines %v but kernels.ptx has %v: regenerate with 'make kernels'", defined, got)
	}
}
