package fileutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMkdirAllUndo: undo removes the folders MkdirAll made and no others,
// and keeps one that was filled meanwhile.
func TestMkdirAllUndo(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "a"), 0o755)
	deep := filepath.Join(root, "a", "b", "c", "d")
	undo, err := MkdirAll(deep, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(deep); err != nil || !st.IsDir() {
		t.Fatalf("not made: %v", err)
	}
	undo()
	if _, err := os.Stat(filepath.Join(root, "a", "b")); !os.IsNotExist(err) {
		t.Errorf("undo left a/b: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "a")); err != nil {
		t.Errorf("undo removed a, which was there before: %v", err)
	}
	// A folder filled meanwhile stays, and so do those above it.
	undo, _ = MkdirAll(deep, 0o755)
	os.WriteFile(filepath.Join(root, "a", "b", "keep"), nil, 0o644)
	undo()
	if _, err := os.Stat(filepath.Join(root, "a", "b", "keep")); err != nil {
		t.Errorf("undo removed a filled folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "a", "b", "c")); !os.IsNotExist(err) {
		t.Errorf("undo left the empty a/b/c: %v", err)
	}
	// Failing partway (a name too long for the file system, below new
	// folders): those made are taken back.
	long := filepath.Join(root, "n1", "n2", strings.Repeat("x", 300), "m")
	if _, err := MkdirAll(long, 0o755); err == nil {
		t.Fatal("made a folder with a 300-byte name")
	}
	if _, err := os.Stat(filepath.Join(root, "n1")); !os.IsNotExist(err) {
		t.Errorf("a failed MkdirAll left n1: %v", err)
	}
	// Below a file: an error, nothing made.
	f := filepath.Join(root, "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := MkdirAll(filepath.Join(f, "x", "y"), 0o755); err == nil {
		t.Error("made folders below a file")
	}
}
