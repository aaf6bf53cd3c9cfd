// kernels_test.go: the embedded PTX is current (every kernel the engine
// launches is in it, with C linkage, for a target the H100/H200 driver
// can compile) and matches kernels.cu's list of entry points.

package kernels

import (
	"os"
	"regexp"
	"slices"
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
	if !strings.Contains(PTX, ".target sm_80") && !strings.Contains(PTX, ".target sm_90") {
		t.Errorf("kernels.ptx targets something other than sm_80/sm_90")
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
