// npy.go: one NumPy .npy file per parameter tensor, written with
// gorgonia.org/tensor's WriteNpy.

package export

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
)

// NPY writes dir/<name>.npy for every parameter (e.g. conv1.weight.npy,
// shape (32,1,3,3)) and returns the paths.
func NPY(ck *engine.Checkpoint, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w := ck.Weights()
	var paths []string
	for _, s := range ck.Arch.Params() {
		var b bytes.Buffer
		if err := w[s.Name].WriteNpy(&b); err != nil {
			return nil, fmt.Errorf("export: %s: %w", s.Name, err)
		}
		p := filepath.Join(dir, s.Name+".npy")
		if err := fileutil.WriteAtomic(p, b.Bytes(), fileutil.KeepMode(p, 0o644)); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
