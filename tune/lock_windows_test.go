//go:build windows

// lock_windows_test.go: the study folder's lock on Windows (LockFileEx,
// and the folder known by its volume and file index): run under Wine by
// make test-windows, for want of a Windows machine.

package tune

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tempDir is t.TempDir whose removal may fail: Wine 8 lacks a call Go's
// RemoveAll makes.
func tempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "cnngpu-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestWindowsStudyLock(t *testing.T) {
	base := tempDir(t)
	dir := filepath.Join(base, "Study")
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Another process's attempt: another open of the lock file.
	if _, err := flockFolder(dir); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("a second lock: %v; want an error naming the holder's pid", err)
	}
	if err := InUse(dir); err == nil {
		t.Error("InUse of a held folder: nil")
	}
	// The same folder under another spelling nests (Windows' names
	// ignore case).
	inner, err := Lock(strings.ToLower(dir))
	if err != nil {
		t.Fatalf("the folder under another spelling: %v", err)
	}
	inner()
	if f, err := flockFolder(dir); err == nil {
		f.Close()
		t.Fatal("free after the inner release while the outer holder held it")
	}
	release()
	f, err := flockFolder(dir)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	f.Close()
}

// TestWindowsClaimTakenBack: a study that fails before any run is
// recorded leaves no folder where Claim made one, though Windows cannot
// remove the lock file while it is held open.
func TestWindowsClaimTakenBack(t *testing.T) {
	base := tempDir(t)
	dir := filepath.Join(base, "new", "study")
	spec := &Spec{LRs: []float64{0.001}, BatchSizes: []int{8}, Acts: []string{"relu"}, Epochs: 1, ValSplit: 0.5, Arch: "reference", Optimizer: "adam"}
	release, err := Claim(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	release(true)
	if _, err := os.Stat(filepath.Join(base, "new")); err == nil {
		ents, _ := os.ReadDir(dir)
		t.Errorf("the folder Claim made is still there after a failure (holding %d entries)", len(ents))
	}
}
