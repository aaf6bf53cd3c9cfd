// outputs_test.go: the free-space check of train's checkpoints.

package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckSpace: checkpoints that do not fit in their file system's free
// space are refused before any training, naming --out, the folder (the
// nearest that exists), the space free and the space needed; those that
// fit are not.
func TestCheckSpace(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Skipf("statfs %s: %v", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	out := filepath.Join(dir, "new", "folder", "m.safetensors")
	if err := checkSpace([]string{out}, 1<<20); err != nil {
		t.Errorf("a 1 MB checkpoint with %d bytes free: %v", free, err)
	}
	err := checkSpace([]string{out}, free+1<<30)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--out "+out+": the file system of "+dir+" has ") || !strings.Contains(err.Error(), "free some space there") {
		t.Errorf("a checkpoint larger than the free space: %v, want it refused with exit 2, naming %s", err, dir)
	}
	// Three seeds' checkpoints, each fitting alone, together too large.
	third := free/2 + 1
	outs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")}
	if err := checkSpace(outs, third); err == nil || !strings.Contains(err.Error(), "the 3 checkpoints take") {
		t.Errorf("three checkpoints of half the free space each: %v, want them refused", err)
	}
}
