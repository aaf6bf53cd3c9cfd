// abi_test.go: runs scripts/abi-check.sh (our own declarations of the CUDA
// driver, cuBLAS, cuBLASLt and cuDNN functions, enums and structs against the real
// headers) where a C compiler and cuda.h are found; elsewhere it skips,
// and the device check runs the same script on the GPU machine.

package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestABIAgainstHeaders(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s): ABI check skipped", cc)
	}
	found := false
	for _, d := range []string{os.Getenv("CUDA_INCLUDE"), "/usr/local/cuda/include", "/usr/include"} {
		if _, err := os.Stat(filepath.Join(d, "cuda.h")); d != "" && err == nil {
			found = true
		}
	}
	if !found {
		t.Skip("no cuda.h (CUDA_INCLUDE, /usr/local/cuda/include, /usr/include): ABI check skipped; the device check runs it")
	}
	// From the package folder (go test) or the repository root (a test
	// binary run by the device check).
	script := ""
	for _, p := range []string{"../scripts/abi-check.sh", "scripts/abi-check.sh"} {
		if _, err := os.Stat(p); err == nil {
			script = p
			break
		}
	}
	if script == "" {
		t.Skip("scripts/abi-check.sh not found from here: ABI check skipped")
	}
	out, err := exec.Command(script).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/abi-check.sh: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
