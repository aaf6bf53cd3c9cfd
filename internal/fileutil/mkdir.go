// mkdir.go: making an output's folders so that a failed write can take
// them back: nothing a failed command made is left behind.

package fileutil

import (
	"os"
	"path/filepath"
)

// MkdirAll makes dir and the folders above it that are missing, as
// os.MkdirAll does, and returns undo, which removes the folders this call
// made, deepest first, each only while it is empty (a folder that
// something else filled meanwhile stays). On error, what it made is
// removed already.
func MkdirAll(dir string, perm os.FileMode) (undo func(), err error) {
	var made []string // deepest first
	for d := filepath.Clean(dir); ; {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		made = append(made, d)
		up := filepath.Dir(d)
		if up == d {
			break
		}
		d = up
	}
	undo = func() {
		for _, d := range made {
			// One never made (MkdirAll failed at or above it) is
			// passed over; one that is not empty stops the walk up.
			if _, err := os.Lstat(d); err != nil {
				continue
			}
			if os.Remove(d) != nil {
				return
			}
		}
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		undo()
		return func() {}, err
	}
	return undo, nil
}
