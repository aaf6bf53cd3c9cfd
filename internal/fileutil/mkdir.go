// mkdir.go: making an output's folders so that a failed write can take
// them back: nothing a failed command made is left behind.

package fileutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// MakeDirs makes dir and the folders above it that are missing, as
// os.MkdirAll does, and syncs the folder holding each one it made, so
// that a file written into a new folder and synced there (WriteAtomic)
// is not lost with that folder's own entry when the power fails.
func MakeDirs(dir string, perm os.FileMode) error {
	_, err := MkdirAll(dir, perm)
	return err
}

// MkdirAll makes dir and the folders above it that are missing, as
// MakeDirs does, and returns undo, which removes the folders this call
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
	for _, d := range made {
		if err := syncDir(filepath.Dir(d)); err != nil {
			undo()
			return func() {}, fmt.Errorf("making %s: syncing the folder above it: %w", d, err)
		}
	}
	return undo, nil
}
