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

	// A copy changed, with no .gz file to read instead: nothing is taken
	// from it, and nothing is fetched over it (it may be a file of the
	// user's); the error says to move it away.
	p := filepath.Join(f.Dir, Files[2].RawName())
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	os.WriteFile(p, b, 0o644)
	if _, err := f.LoadTest(context.Background()); err == nil || !strings.Contains(err.Error(), p+": well-formed IDX file") || !strings.Contains(err.Error(), "move it away first") {
		t.Errorf("a changed copy and no .gz file: %v; want it refused, named", err)
	}
	if strings.Contains(log.String(), "read instead") {
		t.Errorf("the log says a .gz file that is not there is read instead:\n%s", log)
	}
}

// A copy cut short or garbled (not an IDX file) is replaced from its .gz
// file; anything else in a copy's place (an IDX file of other contents, a
// link to another file, a named pipe, a folder) is left as it is, the .gz
// file read instead: the cache cannot tell a damaged copy from a file a
// user put there, and must not lose the latter.
func TestCacheCopyDamagedOrInTheWay(t *testing.T) {
	f, log := cacheWithSet(t)
	ctx := context.Background()
	m, err := f.LoadMNIST(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Train.Fingerprint() + m.Test.Fingerprint()
	read := func(what string, wantLog ...string) {
		t.Helper()
		log.Reset()
		m, err := f.LoadMNIST(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := m.Train.Fingerprint() + m.Test.Fingerprint(); got != want {
			t.Errorf("%s: read %s, want %s", what, got, want)
		}
		for _, w := range wantLog {
			if !strings.Contains(log.String(), w) {
				t.Errorf("%s: log lacks %q:\n%s", what, w, log)
			}
		}
	}
	imgs := filepath.Join(f.Dir, Files[0].RawName())
	labels := filepath.Join(f.Dir, Files[3].RawName())
	good, _ := os.ReadFile(labels)

	// Cut short: not an IDX file, made again.
	os.Truncate(labels, 9)
	read("a copy cut short", labels+" is damaged (SHA-256", "not an IDX file): made again from t10k-labels-idx1-ubyte.gz")
	if b, _ := os.ReadFile(labels); !bytes.Equal(b, good) {
		t.Error("the copy cut short was not made again")
	}

	// One byte changed: a well-formed IDX file of other contents, kept.
	b, _ := os.ReadFile(imgs)
	b[100] ^= 0x40
	os.WriteFile(imgs, b, 0o644)
	read("an IDX file of other contents", imgs+" is a well-formed IDX file, but not MNIST's contents", "left as it is, and train-images-idx3-ubyte.gz read instead", "remove it")
	if got, _ := os.ReadFile(imgs); !bytes.Equal(got, b) {
		t.Error("an IDX file of other contents was replaced")
	}

	// A link to a file of the user's: neither replaced nor written through.
	mine := filepath.Join(t.TempDir(), "mine")
	os.WriteFile(mine, []byte("my notes"), 0o644)
	os.Remove(imgs)
	if err := os.Symlink(mine, imgs); err != nil {
		t.Fatal(err)
	}
	read("a link to another file", imgs+" is a link to a file that is not MNIST's contents")
	if got, _ := os.ReadFile(mine); string(got) != "my notes" {
		t.Errorf("the linked file was written: %q", got)
	}
	if st, err := os.Lstat(imgs); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced")
	}

	// A named pipe in a copy's place is not waited on (it would wait for
	// a writer), nor replaced.
	os.Remove(imgs)
	if err := syscall.Mkfifo(imgs, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	saved := fileutil.FIFOWait
	fileutil.FIFOWait = 5 * time.Second
	t.Cleanup(func() { fileutil.FIFOWait = saved })
	start := time.Now()
	read("a named pipe in a copy's place", imgs+" is a named pipe, not a file: left as it is")
	if d := time.Since(start); d >= fileutil.FIFOWait {
		t.Errorf("a named pipe in a copy's place: the read took %v, waiting on it", d)
	}

	// A folder in its place: the same.
	os.Remove(imgs)
	os.Mkdir(imgs, 0o755)
	read("a folder in a copy's place", imgs+" is a folder, not a file: left as it is")
	if st, err := os.Stat(imgs); err != nil || !st.IsDir() {
		t.Error("the folder was replaced")
	}
	os.Remove(imgs)
	read("the folder gone", "kept train-images-idx3-ubyte.gz uncompressed")
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

// TestVerifyRawJudgesAsTheCache: VerifyRaw's Copy, which data verify
// reports, is what readCopy decides for each thing in a copy's place.
func TestVerifyRawJudgesAsTheCache(t *testing.T) {
	f, _ := cacheWithSet(t)
	if _, err := f.LoadMNIST(context.Background()); err != nil {
		t.Fatal(err)
	}
	imgs := filepath.Join(f.Dir, Files[0].RawName())
	good, _ := os.ReadFile(imgs)
	other := bytes.Clone(good)
	other[100] ^= 0x40
	goodElsewhere := filepath.Join(t.TempDir(), "good")
	os.WriteFile(goodElsewhere, good, 0o644)
	mine := filepath.Join(t.TempDir(), "mine")
	os.WriteFile(mine, []byte("my notes"), 0o644)
	for _, c := range []struct {
		what  string
		place func()
		want  CopyState
	}{
		{"missing", func() {}, CopyMissing},
		{"good", func() { os.WriteFile(imgs, good, 0o644) }, CopyGood},
		{"a link to good contents", func() { os.Symlink(goodElsewhere, imgs) }, CopyGood},
		{"cut short", func() { os.WriteFile(imgs, good[:9], 0o644) }, CopyDamaged},
		{"an IDX file of other contents", func() { os.WriteFile(imgs, other, 0o644) }, CopyOther},
		{"a link to another file", func() { os.Symlink(mine, imgs) }, CopyOther},
		{"a link to nothing", func() { os.Symlink(filepath.Join(t.TempDir(), "gone"), imgs) }, CopyOther},
		{"a folder", func() { os.Mkdir(imgs, 0o755) }, CopyOther},
	} {
		if err := os.RemoveAll(imgs); err != nil {
			t.Fatal(err)
		}
		c.place()
		_, cache := f.readCopy(Files[0])
		verify := VerifyRaw(f.Dir)[0].Copy
		if cache != c.want || verify != c.want {
			t.Errorf("%s: the cache decides %d, VerifyRaw says %d; want %d", c.what, cache, verify, c.want)
		}
	}
}

// TestCacheThatIsAFile: a cache path that is a file, or lies below one,
// is said at once with what to do, and nothing is fetched or written;
// so by Ensure (data fetch) too.
func TestCacheThatIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mnist")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{file: "the MNIST cache " + file + " is a file, not a folder: move it away", filepath.Join(file, "below"): "cannot be used (stat " + filepath.Join(file, "below") + ": not a directory): a folder above it may be a file"} {
		f := &Fetcher{Dir: dir, GoCmd: "-", Log: &strings.Builder{}}
		if _, err := f.LoadMNIST(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("cache %s: %v; want %q", dir, err, want)
		}
	}
	// data fetch's way in (Ensure), as LoadMNIST's, not "mkdir …: not a
	// directory".
	f := &Fetcher{Dir: file, GoCmd: "-", Log: &strings.Builder{}}
	if _, err := f.Ensure(context.Background()); err == nil || !strings.Contains(err.Error(), "the MNIST cache "+file+" is a file, not a folder: move it away") {
		t.Errorf("Ensure of cache %s: %v; want it called a file", file, err)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Error("the file in the cache's place was changed")
	}
}

// TestCacheThatIsABrokenLink: a cache folder that is a symbolic link to
// nothing, or one that leads back to itself, is said to be one, with where
// it leads (MkdirAll said "file exists"), and is left as it is.
func TestCacheThatIsABrokenLink(t *testing.T) {
	root := t.TempDir()
	nothing, loop := filepath.Join(root, "nothing"), filepath.Join(root, "loop")
	os.Symlink(filepath.Join(root, "gone"), nothing)
	os.Symlink("loop", loop)
	for dir, want := range map[string]string{
		nothing: "the data folder " + nothing + " cannot be made: " + nothing + " is a symbolic link to " + filepath.Join(root, "gone") + ", which does not exist: make that folder, or remove the link",
		loop:    "the data folder " + loop + " cannot be made: " + loop + " is a symbolic link that leads into a loop of links (or a chain of more than the system follows; to " + loop + "): remove it",
	} {
		f := &Fetcher{Dir: dir, GoCmd: "-", Log: &strings.Builder{}}
		if _, err := f.Ensure(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Ensure of cache %s: %v; want %q", dir, err, want)
		}
		if st, err := os.Lstat(dir); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the link %s was changed: %v", dir, err)
		}
	}
}

// TestDataFlag: the flag that reads a folder again is its absolute path,
// and none for the cache (nor for no folder).
func TestDataFlag(t *testing.T) {
	root := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", root)
	t.Chdir(root)
	cache := filepath.Join(root, "cnngpu", "mnist")
	for dir, want := range map[string]string{
		"":                       "",
		cache:                    "",
		cache + "/":              "",
		"cnngpu/mnist":           "",
		filepath.Join(root, "d"): " --data " + filepath.Join(root, "d"),
		"d":                      " --data " + filepath.Join(root, "d"),
	} {
		if got := DataFlag(dir); got != want {
			t.Errorf("DataFlag(%q) = %q, want %q", dir, got, want)
		}
	}
}
