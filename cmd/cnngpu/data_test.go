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

// realMNISTCopy copies the cache's four .gz files into a new cache folder
// (the test skips when the cache lacks them; CI fetches them first), and
// returns it with the environment that makes it the cache.
func realMNISTCopy(t *testing.T) (string, []string) {
	t.Helper()
	cache, err := loader.CacheDir()
	if err != nil {
		t.Skip(err)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "cnngpu", "mnist")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
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
	return dir, []string{"XDG_CACHE_HOME=" + root}
}

func TestDataUncompressedCopies(t *testing.T) {
	dir, env := realMNISTCopy(t)
	// Another folder than the cache is left with the four files.
	other := t.TempDir()
	for _, f := range loader.Files {
		b, _ := os.ReadFile(filepath.Join(dir, f.Name))
		os.WriteFile(filepath.Join(other, f.Name), b, 0o644)
	}
	stdout, stderr, code := cnngpu(t, env, "data", "fetch", "--dir", other)
	if ents, _ := os.ReadDir(other); code != 0 || len(ents) != 4 || !strings.Contains(stdout, "60000 training and 10000 test images") {
		t.Errorf("data fetch --dir into a folder with the .gz files: exit %d, %d files there\n%s%s", code, len(ents), stdout, stderr)
	}
	// The cache is given its uncompressed copies.
	stdout, stderr, code = cnngpu(t, env, "data", "fetch")
	if code != 0 || !strings.Contains(stdout, "60000 training and 10000 test images") || !strings.Contains(stderr, "kept train-images-idx3-ubyte.gz uncompressed (47040016 bytes, SHA-256 ok)") {
		t.Fatalf("data fetch into the cache with the .gz files: exit %d\n%s%s", code, stdout, stderr)
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
	stdout, stderr, code = cnngpu(t, env, "data", "fetch")
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

// data verify on a --dir that is no folder, on a cache not made yet, and
// on a folder of another dataset under MNIST's names.
func TestDataVerifyFolders(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "notes.txt")
	os.WriteFile(file, []byte("notes"), 0o644)
	other := filepath.Join(tmp, "fashion")
	os.Mkdir(other, 0o755)
	for i, f := range loader.Files {
		// Well-formed IDX (labels-shaped) files: not MNIST's.
		os.WriteFile(filepath.Join(other, f.Name), []byte{0, 0, 8, 1, 0, 0, 0, 2, byte(i), 1}, 0o644)
	}
	for _, c := range []struct {
		args []string
		env  []string
		code int
		want []string
	}{
		{[]string{"--dir", file}, nil, 2, []string{"--dir " + file + ": is a file, not a folder"}},
		{[]string{"--dir", filepath.Join(tmp, "nope")}, nil, 2, []string{"--dir " + filepath.Join(tmp, "nope") + ": does not exist"}},
		{nil, []string{"XDG_CACHE_HOME=" + filepath.Join(tmp, "fresh")}, 1, []string{"the MNIST cache " + filepath.Join(tmp, "fresh", "cnngpu", "mnist") + " does not exist yet", "data fetch"}},
		{[]string{"--dir", other}, nil, 1, []string{"a well-formed IDX file, but not the published MNIST one", "4 of 4 files failed verification, 4 of them well-formed IDX files of another dataset", "data fetch does not replace"}},
	} {
		stdout, stderr, code := cnngpu(t, c.env, append([]string{"data", "verify"}, c.args...)...)
		if code != c.code {
			t.Errorf("data verify %q: exit %d, want %d\n%s%s", c.args, code, c.code, stdout, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stdout+stderr, w) {
				t.Errorf("data verify %q: output lacks %q:\n%s%s", c.args, w, stdout, stderr)
			}
		}
	}
}
