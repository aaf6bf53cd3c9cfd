// Tests of the cache's uncompressed copies (cache.go): made at the first
// read, read instead of the .gz files after, checked by SHA-256 every time,
// and made again when damaged or in the way; a copy that cannot be kept
// costs time, not the command.

package loader

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/internal/fileutil"
)

// cacheWithSet writes a small MNIST-shaped set as .gz files into a new
// folder, with the test checksums made for it, and returns a Fetcher for
// that folder that can fetch nothing (no mirror, no go command): a test
// that needs Ensure to fetch fails.
func cacheWithSet(t *testing.T) (*Fetcher, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	writeSet(t, dir, 30, 20, true)
	contents := map[string][]byte{}
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		contents[f.Name] = b
	}
	withTestChecksums(t, contents)
	var log bytes.Buffer
	return &Fetcher{Dir: dir, GoCmd: "-", Log: &log}, &log
}

// checkCopies fails the test unless every uncompressed copy is the .gz
// file's contents.
func checkCopies(t *testing.T, dir string) {
	t.Helper()
	for _, st := range VerifyRaw(dir) {
		if !st.OK {
			t.Errorf("uncompressed copy %s: %v", st.Path, st.Err)
		}
	}
}

func TestCacheKeepsUncompressedCopies(t *testing.T) {
	f, log := cacheWithSet(t)
	m, err := f.LoadMNIST(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Train.N() != 30 || m.Test.N() != 20 {
		t.Fatalf("first read: %d/%d examples, want 30/20", m.Train.N(), m.Test.N())
	}
	checkCopies(t, f.Dir)
	if !strings.Contains(log.String(), "kept train-images-idx3-ubyte.gz uncompressed") {
		t.Errorf("the log does not say the copy was kept:\n%s", log)
	}
	want := m.Train.Fingerprint() + m.Test.Fingerprint()

	// The next read takes the copies alone: without the .gz files (which
	// this Fetcher could not fetch again) it gives the same sets, quietly.
	for _, file := range Files {
		os.Remove(filepath.Join(f.Dir, file.Name))
	}
	log.Reset()
	m, err = f.LoadMNIST(context.Background())
	if err != nil {
		t.Fatalf("second read, from the copies: %v", err)
	}
	if got := m.Train.Fingerprint() + m.Test.Fingerprint(); got != want {
		t.Errorf("read from the copies: %s, want %s", got, want)
	}
	if log.Len() != 0 {
		t.Errorf("a read from good copies logged:\n%s", log)
	}
	ts, err := f.LoadTest(context.Background())
	if err != nil || ts.Fingerprint() != m.Test.Fingerprint() {
		t.Errorf("LoadTest from the copies: %v, %v", ts, err)
	}

	// A copy damaged, with no .gz file to make it again from: the error
	// says what to do, and nothing is taken from the damaged copy.
	p := filepath.Join(f.Dir, Files[2].RawName())
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	os.WriteFile(p, b, 0o644)
	if _, err := f.LoadTest(context.Background()); err == nil || !strings.Contains(err.Error(), "could not obtain") {
		t.Errorf("a damaged copy and no .gz file: %v; want the fetch's error", err)
	}
	if !strings.Contains(log.String(), p+" is damaged (SHA-256") {
		t.Errorf("the log does not name the damaged copy:\n%s", log)
	}
}

// A copy damaged or in the way is replaced from its .gz file; one that
// cannot be replaced is passed over, the command going on.
func TestCacheCopyDamagedOrInTheWay(t *testing.T) {
	f, log := cacheWithSet(t)
	ctx := context.Background()
	m, err := f.LoadMNIST(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Train.Fingerprint() + m.Test.Fingerprint()
	read := func(what string) {
		t.Helper()
		log.Reset()
		m, err := f.LoadMNIST(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := m.Train.Fingerprint() + m.Test.Fingerprint(); got != want {
			t.Errorf("%s: read %s, want %s", what, got, want)
		}
	}

	// Damaged: one byte changed, and cut short.
	imgs := filepath.Join(f.Dir, Files[0].RawName())
	b, _ := os.ReadFile(imgs)
	good := slices.Clone(b)
	b[100] ^= 0x40
	os.WriteFile(imgs, b, 0o644)
	os.Truncate(filepath.Join(f.Dir, Files[3].RawName()), 9)
	read("damaged copies")
	for _, want := range []string{imgs + " is damaged (SHA-256", "made again from train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte is damaged"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	checkCopies(t, f.Dir)
	if b, _ := os.ReadFile(imgs); !bytes.Equal(b, good) {
		t.Error("the damaged copy was not made again")
	}

	// A named pipe in a copy's place is neither waited on (it would wait
	// for a writer) nor replaced (writes replace files only).
	os.Remove(imgs)
	if err := syscall.Mkfifo(imgs, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	saved := fileutil.FIFOWait
	fileutil.FIFOWait = 5 * time.Second
	t.Cleanup(func() { fileutil.FIFOWait = saved })
	start := time.Now()
	read("a named pipe in a copy's place")
	if d := time.Since(start); d >= fileutil.FIFOWait {
		t.Errorf("a named pipe in a copy's place: the read took %v, waiting on it", d)
	}
	for _, want := range []string{imgs + " cannot be read", "is a named pipe, not a file", "could not keep an uncompressed copy of " + filepath.Join(f.Dir, Files[0].Name), "the next command decompresses it again"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// A folder in its place: the same.
	os.Remove(imgs)
	os.Mkdir(imgs, 0o755)
	read("a folder in a copy's place")
	if !strings.Contains(log.String(), "is a folder, not a file") || !strings.Contains(log.String(), "could not keep") {
		t.Errorf("a folder in a copy's place:\n%s", log)
	}
	os.Remove(imgs)
	read("the folder gone")
	checkCopies(t, f.Dir)
}

// The checksums of the uncompressed files are those of the published .gz
// files' contents (checked against the real files in the cache, which CI
// fetches; elsewhere skipped without them).
func TestRawChecksumsOfRealMNIST(t *testing.T) {
	dir, err := CacheDir()
	if err != nil {
		t.Skip(err)
	}
	for _, st := range Verify(dir) {
		if !st.OK {
			t.Skipf("real MNIST is not in the cache (%v); run 'make data' to enable this test", st.Err)
		}
	}
	for _, f := range Files {
		raw, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		data, err := readAll(f.Name, raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256Hex(data); got != f.RawSHA256 {
			t.Errorf("%s: contents' SHA-256 %s, Files says %s", f.Name, got, f.RawSHA256)
		}
	}
}

// The gzip trailer's length sizes the buffer only as a hint: a trailer that
// says too little or far too much decompresses to the same bytes.
func TestGzipSizeHint(t *testing.T) {
	data := idxImages(50, 28, 28, func(i int) byte { return byte(i * 13 >> 2) })
	for _, isize := range []uint32{uint32(len(data)), 0, 1, uint32(len(data)) - 1, 1 << 31, 0xffffffff} {
		z := gz(data)
		binary.LittleEndian.PutUint32(z[len(z)-4:], isize)
		got, err := readAll("x.gz", z)
		// gzip checks ISIZE at the end: a wrong one is a damaged file,
		// found after the data has been read.
		if isize != uint32(len(data)) {
			if err == nil || !strings.Contains(err.Error(), "bad gzip data") {
				t.Errorf("ISIZE %d: %v, want the damage found", isize, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("ISIZE %d: %d bytes, %v", isize, len(got), err)
		}
	}
	// A stream of two members: the trailer gives the last one's length.
	two := append(gz(data[:1000]), gz(data[1000:])...)
	if got, err := readAll("two.gz", two); err != nil || !bytes.Equal(got, data) {
		t.Errorf("two members: %d bytes, %v", len(got), err)
	}
}

// Reading the test set needs its two files alone: a training file damaged
// (and no source to fetch it from) does not stop it.
func TestLoadTestNeedsTheTestFilesAlone(t *testing.T) {
	f, _ := cacheWithSet(t)
	os.Truncate(filepath.Join(f.Dir, Files[0].Name), 100)
	ts, err := f.LoadTest(context.Background())
	if err != nil || ts.N() != 20 {
		t.Fatalf("LoadTest with a damaged training file: %v", err)
	}
	if _, err := f.LoadMNIST(context.Background()); err == nil || !strings.Contains(err.Error(), "could not obtain "+Files[0].Name) {
		t.Errorf("LoadMNIST with a damaged training file and no source: %v", err)
	}
}
