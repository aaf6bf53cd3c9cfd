// Tests of `cnngpu data` with the cache's uncompressed copies: fetch makes
// them, verify checks them by SHA-256 (a damaged copy beside a good .gz
// file is reported without failing, since it is not what is read; one
// without its .gz file fails), and a command reads from them.

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/loader"
)

// realMNISTCopy copies the cache's four .gz files into a new folder (the
// test skips when the cache lacks them; CI fetches them first).
func realMNISTCopy(t *testing.T) string {
	t.Helper()
	cache, err := loader.CacheDir()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	for _, st := range loader.Verify(cache) {
		if !st.OK {
			if os.Getenv("CI") != "" {
				t.Fatalf("real MNIST is not in the cache (%v); .ci/run must run 'make data' first", st.Err)
			}
			t.Skipf("real MNIST is not in the cache (%v); run 'make data' to enable this test", st.Err)
		}
		b, err := os.ReadFile(st.Path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, st.File.Name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDataUncompressedCopies(t *testing.T) {
	dir := realMNISTCopy(t)
	stdout, stderr, code := cnngpu(t, nil, "data", "fetch", "--dir", dir)
	if code != 0 || !strings.Contains(stdout, "60000 training and 10000 test images") || !strings.Contains(stderr, "kept train-images-idx3-ubyte.gz uncompressed (47040016 bytes, SHA-256 ok)") {
		t.Fatalf("data fetch into a folder with the .gz files: exit %d\n%s%s", code, stdout, stderr)
	}
	verify := func(what string, wantCode int, want ...string) {
		t.Helper()
		stdout, stderr, code := cnngpu(t, nil, "data", "verify", "--dir", dir)
		if code != wantCode {
			t.Errorf("%s: data verify exit %d, want %d\n%s%s", what, code, wantCode, stdout, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stdout+stderr, w) {
				t.Errorf("%s: data verify lacks %q:\n%s%s", what, w, stdout, stderr)
			}
		}
	}
	imgs := filepath.Join(dir, "t10k-images-idx3-ubyte")
	verify("after fetch", 0, "ok    "+imgs+".gz\n", "ok    "+imgs+" (uncompressed copy)\n")

	// A damaged copy beside its good .gz file: reported, not failed.
	b, _ := os.ReadFile(imgs)
	b[5000] ^= 1
	os.WriteFile(imgs, b, 0o644)
	verify("a damaged copy", 0, "stale "+imgs+": SHA-256 ", "the .gz file is read in its place")

	// Reading the folder as the cache makes the copy again.
	stdout, stderr, code = cnngpu(t, nil, "data", "fetch", "--dir", dir)
	if code != 0 || !strings.Contains(stderr, imgs+" is damaged (SHA-256") || !strings.Contains(stderr, "kept t10k-images-idx3-ubyte.gz uncompressed") {
		t.Errorf("data fetch with a damaged copy: exit %d\n%s%s", code, stdout, stderr)
	}
	verify("the copy made again", 0, "ok    "+imgs+" (uncompressed copy)\n")

	// The copies without the .gz files: checked by SHA-256 alone.
	for _, f := range loader.Files {
		os.Remove(filepath.Join(dir, f.Name))
	}
	verify("copies alone", 0, "ok    "+imgs+" (uncompressed)\n")
	b, _ = os.ReadFile(imgs)
	b[len(b)-1] ^= 1
	os.WriteFile(imgs, b, 0o644)
	verify("a damaged copy alone", 1, "BAD   "+imgs+": SHA-256 ", "1 of 4 files failed verification", "data fetch --dir "+dir)
}
