// npy.go: one NumPy .npy file per parameter tensor, written with
// gorgonia.org/tensor's WriteNpy.

package export

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
)

// NPY writes dir/<name>.npy for every parameter (e.g. conv1.weight.npy,
// shape (32,1,3,3)) and returns the paths: all of them, or on a failed
// write none (what was there before is as it was, and a folder made for
// them is removed).
func NPY(ck *engine.Checkpoint, dir string) ([]string, error) {
	undo, err := fileutil.MkdirAll(dir, 0o755)
	if err != nil {
		return nil, err
	}
	w := ck.Weights()
	var paths []string
	var files []fileutil.File
	for _, s := range ck.Arch.Params() {
		var b bytes.Buffer
		if err := w[s.Name].WriteNpy(&b); err != nil {
			return nil, fmt.Errorf("export: %s: %w", s.Name, err)
		}
		p := filepath.Join(dir, s.Name+".npy")
		files = append(files, fileutil.File{Path: p, Data: b.Bytes(), Perm: fileutil.KeepMode(p, 0o644)})
		paths = append(paths, p)
	}
	if err := fileutil.WriteAtomicSet(files); err != nil {
		undo() // the folders made for them, empty again
		return nil, err
	}
	return paths, nil
}
