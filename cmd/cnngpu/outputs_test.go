// outputs_test.go: the free-space check of train's checkpoints.

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckSpace: checkpoints that do not fit in their file system's free
// space are refused before any training, naming --out, the folder (the
// nearest that exists), the space free and the space needed; those that
// fit are not. A file replaced needs only what the new one outgrows it
// by, plus one checkpoint's room for the write beside it, as does a run
// that writes its file more than once.
func TestCheckSpace(t *testing.T) {
	dir := t.TempDir()
	free, _, ok := freeSpace(dir)
	if !ok {
		t.Skipf("the free space of %s cannot be read here", dir)
	}
	if free > 1<<60 {
		t.Skipf("%s reports %d bytes free", dir, free)
	}
	size := int64(free/2) + 1 // two do not fit
	out := filepath.Join(dir, "new", "folder", "m.safetensors")
	if err := checkSpace([]string{out}, 1<<20, true); err != nil {
		t.Errorf("a 1 MB checkpoint with %d bytes free: %v", free, err)
	}
	if err := checkSpace([]string{out}, size, false); err != nil {
		t.Errorf("one new checkpoint of half the free space, written once: %v", err)
	}
	err := checkSpace([]string{out}, size, true)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--out "+out+": the file system of "+dir+" has ") ||
		!strings.Contains(err.Error(), "free some space there") {
		t.Errorf("one new checkpoint of half the free space, written twice: %v, want it refused with exit 2, naming %s", err, dir)
	}
	outs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
	if err := checkSpace(outs, size, false); err == nil {
		t.Error("two new checkpoints of half the free space each: not refused")
	}
	// Replacing files of the same size needs one checkpoint's room.
	for _, p := range outs {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Skipf("a sparse file of %d bytes: %v", size, err)
		}
		f.Close()
	}
	if free2, _, _ := freeSpace(dir); free2+uint64(size) < free {
		t.Skip("the sparse files took space")
	}
	if err := checkSpace(outs, size, true); err != nil {
		t.Errorf("two checkpoints replacing files of their size: %v", err)
	}
}
