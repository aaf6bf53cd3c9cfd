// atomic_test.go: WriteAtomic replaces content whole, sets the mode,
// leaves no temporary file behind, also when the write fails, and removes
// the temporary files of writers that are gone.

package fileutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	if err := WriteAtomic(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(p, []byte("second, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "second, longer" || st.Mode().Perm() != 0o644 {
		t.Errorf("content %q mode %v", b, st.Mode())
	}
	// A target that is a folder fails, and leaves nothing behind.
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err := WriteAtomic(filepath.Join(dir, "sub"), []byte("x"), 0o644); err == nil {
		t.Error("writing over a folder succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("folder holds %d entries, want 2 (no temporary files)", len(ents))
	}
	if err := WriteAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o644); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

// TestStaleTemporaries: a write removes the temporary files of its target
// left by processes that are gone, and keeps those of a running process
// (a concurrent writer), of other targets and of other names.
func TestStaleTemporaries(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("cannot run a short-lived process: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	gone := fmt.Sprintf(".f.txt.tmp-%d-1", dead.Process.Pid)
	keep := []string{
		fmt.Sprintf(".f.txt.tmp-%d-2", os.Getppid()),     // a running writer
		fmt.Sprintf(".g.txt.tmp-%d-3", dead.Process.Pid), // another target
		"notes.txt",
	}
	for _, n := range append([]string{gone}, keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteAtomic(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
		t.Errorf("%s (its writer is gone) was not removed: %v", gone, err)
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}
}
