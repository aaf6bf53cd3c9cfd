// cache_linux_test.go: the cache on a file system with no room left (a
// tmpfs of its own, where the test may mount one).

package loader

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestCacheNoRoomForCopies: a cache whose disk is full reads its .gz
// files and says once, for all the copies, that they are not kept and
// why, without asking to run the command again (it goes on).
func TestCacheNoRoomForCopies(t *testing.T) {
	f, log := cacheWithSet(t)
	small := t.TempDir()
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(small, 0) })
	for _, file := range Files {
		b, err := os.ReadFile(filepath.Join(f.Dir, file.Name))
		if err == nil {
			err = os.WriteFile(filepath.Join(small, file.Name), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fill, err := os.Create(filepath.Join(small, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 4096); err == nil; {
		_, err = fill.Write(chunk)
	}
	fill.Close()
	noRoomOnce = sync.Once{}
	f.Dir = small
	m, err := f.LoadMNIST(context.Background())
	if err != nil || m.Train.N() != 30 {
		t.Fatalf("reading a full cache: %v", err)
	}
	want := "note: no room to keep the uncompressed copies in " + small + " (no space left on device), so its .gz files are decompressed at each command"
	if got := log.String(); strings.Count(got, want) != 1 || strings.Contains(got, "run again") || strings.Contains(got, "could not keep") {
		t.Errorf("the log of a full cache: want %q once, and nothing else of the copies:\n%s", want, got)
	}
}
