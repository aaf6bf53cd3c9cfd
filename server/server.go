// Package server serves a trained model over HTTP: POST /v1/predict (an
// image or 784 pixels as JSON), GET /healthz, and GET / (a page where a
// person draws a digit and sees the prediction as they draw). Requests
// that arrive together are classified in one batch by a single goroutine
// that owns the model, so concurrent requests are safe and cheap.
package server

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/loader"
)

//go:embed page.html
var page []byte

// MaxBatch is the most requests classified together.
const MaxBatch = 64

// MaxJSONBody is the largest JSON request body (the pixels as numbers).
const MaxJSONBody = 256 << 10

// UnsureBelow is the probability under which a digit is read unsure: the
// model gives it less than even odds (the other nine together likelier).
// Most images with no digit that the preparation lets through (a blank
// sheet under a lamp, a smudge) read so, and so do many of the model's
// errors on MNIST's test set (docs/testing.md, "Unsure reads").
const UnsureBelow = 0.5

// Result is the answer to one prediction request.
type Result struct {
	Digit         int       `json:"digit"`
	Probability   float32   `json:"probability"`
	Unsure        bool      `json:"unsure"` // Probability < UnsureBelow
	Probabilities []float32 `json:"probabilities"`
	Top3          []Ranked  `json:"top3"`
}

// Ranked is a digit with its probability.
type Ranked struct {
	Digit       int     `json:"digit"`
	Probability float32 `json:"probability"`
}

// NewResult ranks the ten probabilities of one image.
func NewResult(p []float32) Result {
	order := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	sort.SliceStable(order, func(a, b int) bool { return p[order[a]] > p[order[b]] })
	r := Result{Digit: order[0], Probability: p[order[0]], Unsure: p[order[0]] < UnsureBelow, Probabilities: append([]float32(nil), p[:engine.Classes]...)}
	for _, d := range order[:3] {
		r.Top3 = append(r.Top3, Ranked{d, p[d]})
	}
	return r
}

type job struct {
	x    []float32
	done chan jobResult
}

type jobResult struct {
	probs []float32
	err   error
}

// Server is the HTTP handler. Create it with New and stop its batcher with
// Close after the HTTP server has shut down.
type Server struct {
	model   *engine.Model
	info    map[string]string
	jobs    chan job
	stopped chan struct{}
	// quit is closed by Close: the batcher stops, and a request still
	// running (one the HTTP server cut off, or one queued) gets
	// ErrClosed; jobs itself is never closed, so that a late handler's
	// send cannot panic.
	quit      chan struct{}
	closeOnce sync.Once
	// MaxBody is the request body limit in bytes.
	MaxBody int64
	// AllowOrigins are the origins whose web pages may call the server
	// (cors.go; AnyOrigin for any), none by default; set before the
	// first request.
	AllowOrigins []string
	// bodies is the memory that request bodies being read and held may
	// take together (BodyBudget; budgetReader says what a body takes),
	// given back once the request is answered. bodyWait is how long a
	// request waits for its share before a 503.
	bodies   *loader.Budget
	bodyWait time.Duration
	// smalls is the memory that bodies of at most smallBody being read
	// and held take together (SmallBodyBudget), apart from bodies so
	// that neither kind holds the other back.
	smalls *loader.Budget
	mux    *http.ServeMux
	// lost is closed once the engine's device fails for good
	// (engine.ErrDeviceLost); lostErr is that failure.
	lost     chan struct{}
	lostOnce sync.Once
	lostErr  error
	// draining ends when Drain is called.
	draining context.Context
	drain    context.CancelFunc
	// decode is loader.DecodeDigitContext (a test's stand-in otherwise).
	decode func(context.Context, []byte) ([]float32, error)
	// Log, where set (before the first request), is told of failed
	// batches (logFailures) for the operator: clients get the error in
	// their answer, the log is where a run of them shows.
	Log io.Writer
	// health is what /healthz reads of the batcher besides lost: how
	// many batches in a row failed (and the last failure), and since when
	// the batch in progress runs (zero between batches).
	health struct {
		sync.Mutex
		failed  int
		lastErr error
		busy    time.Time
	}
}

// BodyBudget is the memory, in bytes, that the bodies of the requests in
// flight may hold together: ten of the largest images (20 MB) at once.
// Bodies are read whole before their decode, whose memory has a budget
// of its own (loader.DecodeBudget); without this one, each client
// sending a large body added its size to the process (docs/usage.md).
const BodyBudget = 10 * loader.MaxImageBytes

// unsupportedType answers a request whose Content-Type (ct, parsed) the
// API does not take: 415, as for a Content-Encoding, since the body is
// refused for how it is labelled, not for what it holds.
func unsupportedType(w http.ResponseWriter, r *http.Request, ct string) {
	hint := ""
	if ct == "multipart/form-data" {
		hint = " (a form upload, as curl -F sends: send the file itself, curl --data-binary @digit.png)"
	}
	writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported content type %q: send image/png, image/jpeg, image/gif or application/json%s", r.Header.Get("Content-Type"), hint))
}

// smallBody is the largest body taken from the small bodies' budget (a
// drawing, a digit's photo, a JSON request); larger ones take their size
// from the bodies' budget. Each kind of body waits only for its own kind,
// so that clients announcing large bodies and sending them slowly (or not
// at all) hold back only the large uploads, and many clients doing so
// with small ones hold back only the small ones, not the server's memory.
const smallBody = 1 << 20

// SmallBodyBudget is the memory, in bytes, that the request bodies of at
// most 1 MB (smallBody) in flight may hold together: 64 of the largest,
// some 3,000 drawings.
const SmallBodyBudget = 64 << 20

// errBodyBudget: a body found no room in its budget in time (or the
// server began to shut down while it waited).
var errBodyBudget = errors.New("no room for the body in the bodies' memory budget")

// firstRoom is the room a body takes before its first byte is read; it
// takes more as it comes (budgetReader.readAll).
const firstRoom = 64 << 10

// budgetReader reads a request's body of announced length cl (-1:
// unknown), at most limit, taking room for it in the server's budgets as
// it comes (readAll). heldSmall and held are what it took of the small
// bodies' budget and of the bodies'; full is the budget that had no room.
type budgetReader struct {
	r               io.Reader
	s               *Server
	cl, limit       int64
	heldSmall, held int64
	full            *loader.Budget
}

// readAll reads the body, taking room for it as it comes, in at most
// three takes: firstRoom before its first byte, up to smallBody once that
// much has come, then the rest of its announced length (or the limit) once
// smallBody has come; each only once a byte past the room held shows the
// body goes on. A body of at most smallBody (or of unknown length, its
// first smallBody) takes its room from the small bodies' budget, the rest
// from the bodies'. So a client announcing a body and sending nothing
// holds 64 KB, not the length it announced. Few takes, each for all the
// body can need up to its next stop: a body holding room and waiting for
// more holds it while it waits, and bodies that each took a little and
// wait for more could fill a budget and hold one another back until
// their waits end (with a take per doubling, a few hundred pausing
// uploads did); here that needs a thousand bodies waiting at once on the
// small bodies' budget, two hundred on the bodies'. The buffer is made as
// long as the room held. What was read comes back with an error too.
func (b *budgetReader) readAll() ([]byte, error) {
	total := b.cl // the most the body can be
	if total < 0 {
		total = b.limit
	}
	var buf []byte
	covered := int64(0)
	for _, stop := range []int64{firstRoom, smallBody, total} {
		next := min(stop, total)
		if next <= covered {
			continue
		}
		var pending []byte // the byte read past the room held
		if covered > 0 {
			var one [1]byte
			if n, err := io.ReadFull(b.r, one[:]); n == 0 {
				if err == io.EOF {
					return buf, nil
				}
				return buf, err
			}
			pending = one[:]
		}
		budget, held := b.s.bodies, &b.held
		if b.cl <= smallBody && next <= smallBody {
			budget, held = b.s.smalls, &b.heldSmall
		}
		ctx, done := b.s.waiting(context.Background(), b.s.bodyWait)
		n := min(next-covered, budget.Size())
		err := budget.Acquire(ctx, n)
		done()
		if err != nil {
			b.full = budget
			return buf, errBodyBudget
		}
		*held += n
		covered = next
		// All of it covered: a byte more, so that the reader's end of
		// the body (or its limit's error) comes before the buffer is full.
		end := covered
		if covered == total {
			end++
		}
		grown := make([]byte, len(buf), end) // exactly: append would round up
		copy(grown, buf)
		buf = append(grown, pending...)
		for int64(len(buf)) < end {
			n, err := b.r.Read(buf[len(buf):end])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				return buf, nil
			}
			if err != nil {
				return buf, err
			}
		}
	}
	if total > 0 {
		return buf, fmt.Errorf("the body went on past the %d bytes its room was taken for", total)
	}
	return nil, nil // announced empty
}

// release gives back what the body took.
func (b *budgetReader) release() {
	b.s.bodies.Release(b.held)
	b.s.smalls.Release(b.heldSmall)
	b.held, b.heldSmall = 0, 0
}

// newBodies is a bodies' budget of size bytes (the bodies' or the small
// bodies'), in which none passes the queue.
func newBodies(size int64) *loader.Budget { return loader.NewBudget(size, 0, "read the body") }

// Unhealthy thresholds: /healthz answers 503 once this many batches in a
// row have failed (a device that fails without a sticky fault), or while
// one batch has run longer than StuckAfter (a device that no longer
// answers); a batch that succeeds makes it healthy again.
const (
	FailedBatches = 5
	StuckAfter    = 30 * time.Second
)

// New returns a server for model; info is reported by /healthz.
func New(model *engine.Model, info map[string]string) *Server {
	s := &Server{model: model, info: info, jobs: make(chan job, 4*MaxBatch), stopped: make(chan struct{}), quit: make(chan struct{}),
		MaxBody: loader.MaxImageBytes, mux: http.NewServeMux(), lost: make(chan struct{}), decode: loader.DecodeDigitContext,
		bodies: newBodies(BodyBudget), smalls: newBodies(SmallBodyBudget), bodyWait: 10 * time.Second}
	s.draining, s.drain = context.WithCancel(context.Background())
	s.mux.HandleFunc("/", s.handlePage)
	s.mux.HandleFunc("/healthz", s.handleHealth)
	s.mux.HandleFunc("/v1/predict", s.handlePredict)
	go s.batcher()
	return s
}

// Lost is closed when the model's device has failed for good (a GPU's
// sticky fault: engine.ErrDeviceLost); Err then says how. From then on
// /healthz answers 503 and predictions are refused at once: the server
// is to be stopped (cnngpu serve exits) and started again.
func (s *Server) Lost() <-chan struct{} { return s.lost }

// Err is the failure that closed Lost, or nil.
func (s *Server) Err() error {
	select {
	case <-s.lost:
		return s.lostErr
	default:
		return nil
	}
}

func (s *Server) loseDevice(err error) {
	s.lostOnce.Do(func() {
		s.lostErr = err
		close(s.lost)
	})
}

// errDeviceLost is what a client is told once the device has failed (the
// engine's own message, with its hints for the command line, goes to the
// server's log).
const errDeviceLost = "the server's device has failed and cannot classify any more; the server is shutting down: retry once it has been restarted"

// ErrClosed is a request's error once the server was closed.
var ErrClosed = errors.New("the server is shutting down")

// waiting is the context of a wait for memory (a body's share of the
// bodies' budget, an image's of the decode budget): it ends after d, or
// when Drain is called; done releases it.
func (s *Server) waiting(parent context.Context, d time.Duration) (ctx context.Context, done func()) {
	ctx, cancel := context.WithTimeout(parent, d)
	undrain := context.AfterFunc(s.draining, cancel)
	return ctx, func() { undrain(); cancel() }
}

// logFailures tells a log of the batches that fail: the first of a run
// of them, then how many more failed at most every logEvery, and the
// first batch that succeeds after them.
type logFailures struct {
	streak int       // failed in a row
	unsaid int       // of them, not yet told
	said   time.Time // when last told
}

func (l *logFailures) batch(w io.Writer, n int, err error) {
	if w == nil {
		return
	}
	switch {
	case err == nil && l.streak > 0:
		fmt.Fprintf(w, "a batch succeeded after %d failed in a row\n", l.streak)
		*l = logFailures{}
	case err == nil:
	case l.streak == 0:
		l.streak, l.said = 1, time.Now()
		fmt.Fprintf(w, "a batch of %s failed: %v\n", shown.Count(n, "image"), err)
	default:
		l.streak++
		l.unsaid++
		if time.Since(l.said) >= logEvery {
			fmt.Fprintf(w, "%d more failed (%d batches in a row), the last: %v\n", l.unsaid, l.streak, err)
			l.unsaid, l.said = 0, time.Now()
		}
	}
}

// Drain begins a shutdown: requests whose image still waits for its share
// of the decode memory budget (loader.DecodeBudget) give up and are
// answered 503, so that the shutdown does not wait out their timeouts for
// clients that may be gone; decodes running and classifications queued
// finish. Called before http.Server.Shutdown; a second call does nothing.
func (s *Server) Drain() { s.drain() }

// Close stops the batcher and waits for it (the model is then no longer
// used); requests still queued, or made later by handlers the HTTP server
// cut off, get ErrClosed. A second Close does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.quit) })
	<-s.stopped
}

// logEvery is how often at most a run of failed batches is told on Log
// after its first.
const logEvery = 10 * time.Second

func (s *Server) batcher() {
	defer close(s.stopped)
	var failures logFailures
	for {
		var first job
		select {
		case first = <-s.jobs:
		case <-s.quit:
			return
		}
		batch := []job{first}
	more:
		for len(batch) < MaxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		x := make([]float32, 0, len(batch)*engine.ImagePixels)
		for _, j := range batch {
			x = append(x, j.x...)
		}
		s.health.Lock()
		s.health.busy = time.Now()
		s.health.Unlock()
		probs, err := s.model.Predict(x)
		if errors.Is(err, engine.ErrDeviceLost) {
			s.loseDevice(err)
		}
		failures.batch(s.Log, len(batch), err)
		s.health.Lock()
		s.health.busy = time.Time{}
		if err != nil {
			s.health.failed++
			s.health.lastErr = err
		} else {
			s.health.failed, s.health.lastErr = 0, nil
		}
		s.health.Unlock()
		res := make([]jobResult, len(batch))
		for i := range batch {
			if err != nil {
				res[i].err = err
				continue
			}
			// An image whose outputs are not finite is answered with an
			// error, never with NaN; the others in its batch are not
			// affected. It is not the server's failure (/healthz): a
			// client's images alone could make it restart, to the same
			// model (cnngpu serve refuses one that overflows on a drawn
			// 0 at its start).
			p := probs[i*engine.Classes : (i+1)*engine.Classes]
			if res[i].err = engine.CheckOutputs(p); res[i].err == nil {
				res[i].probs = p
			}
		}
		for i, j := range batch {
			j.done <- res[i]
		}
	}
}

// classify queues one input and waits for its probabilities.
func (s *Server) classify(ctx context.Context, x []float32) ([]float32, error) {
	j := job{x: x, done: make(chan jobResult, 1)}
	select {
	case <-s.quit:
		return nil, ErrClosed
	default:
	}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.quit:
		return nil, ErrClosed
	}
	select {
	case r := <-j.done:
		return r.probs, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stopped:
		// The batcher has stopped: it answered this job before, or
		// never will.
		select {
		case r := <-j.done:
			return r.probs, r.err
		default:
			return nil, ErrClosed
		}
	}
}

// ServeHTTP routes requests, turning any panic into a 500 JSON error.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", v))
		}
	}()
	if p := r.URL.Path; strings.Contains(p, "//") || len(p) > 1 && strings.HasSuffix(p, "/") {
		// A path with doubled slashes (a base URL ending in / joined
		// with /v1/predict) or a trailing one is served as the path
		// with single slashes, as a proxy that merges slashes passes
		// it, rather than redirected with the mux's HTML page, which a
		// client posting JSON neither expects nor follows with its
		// body. Dot segments (/healthz/../v1/predict) are left to the
		// mux, as before: its redirect sends the client to the clean
		// path. A proxy in front that allows paths by prefix must
		// normalise them itself: doubled and encoded slashes (%2F)
		// reach the handlers either way.
		if c := path.Clean(p); c == mergeSlashes(p) {
			r2 := *r
			u := *r.URL
			u.Path, u.RawPath = c, ""
			r2.URL = &u
			r = &r2
		}
	}
	if s.cors(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// mergeSlashes is p with each run of slashes made one and a trailing
// slash dropped (but for "/").
func mergeSlashes(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	q := b.String()
	if len(q) > 1 {
		q = strings.TrimSuffix(q, "/")
	}
	return q
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		writeError(w, http.StatusNotFound, "not found: "+r.URL.EscapedPath()+" (try /, /healthz or POST /v1/predict)")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	out := map[string]string{"status": "ok"}
	for k, v := range s.info {
		out[k] = v
	}
	if s.Err() != nil {
		out["status"], out["error"] = "failed", errDeviceLost
		writeJSON(w, http.StatusServiceUnavailable, out)
		return
	}
	if problem := s.unhealthy(time.Now()); problem != "" {
		out["status"], out["error"] = "failing", problem
		writeJSON(w, http.StatusServiceUnavailable, out)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// unhealthy says what is wrong with the batcher at now, "" when nothing.
func (s *Server) unhealthy(now time.Time) string {
	s.health.Lock()
	defer s.health.Unlock()
	switch {
	case !s.health.busy.IsZero() && now.Sub(s.health.busy) > StuckAfter:
		return fmt.Sprintf("a batch has been classifying for %.0f s: the device may no longer answer; restart the server", now.Sub(s.health.busy).Seconds())
	case s.health.failed >= FailedBatches:
		return fmt.Sprintf("the last %d batches failed (the last: %v); restart the server if this persists", s.health.failed, s.health.lastErr)
	}
	return ""
}

// minInk is the faintest ink a JSON request's pixels may hold: 1/255, an
// 8-bit image's faintest.
const minInk = 1.0 / 255

// pixelsRequest is a JSON request: a pointer, so that a missing "pixels"
// is told from an empty list.
type pixelsRequest struct {
	Pixels *pixelList `json:"pixels"`
}

// pixelList is the list of a JSON request's pixels: the first
// engine.ImagePixels values kept (a null as NaN, which JSON cannot
// hold), the rest only counted. A list of a body's worth of numbers
// (130,000 in 256 KB) took 3.7 MB a request as pointers to each, which
// no budget counted (250 such requests at once: a gigabyte).
type pixelList struct {
	v [engine.ImagePixels]float64
	n int
}

// UnmarshalJSON reads the list b, which the decoder has checked is valid
// JSON; a value that is not a number or null, a number float64 cannot
// hold, or b not a list, is the *json.UnmarshalTypeError that decoding
// into []*float64 gave (jsonProblem words it).
func (p *pixelList) UnmarshalJSON(b []byte) error {
	kind := func(c byte) string {
		switch c {
		case '"':
			return "string"
		case 't', 'f':
			return "bool"
		case '{':
			return "object"
		case '[':
			return "array"
		}
		return "number"
	}
	typeErr := func(value string, t reflect.Type) error {
		return &json.UnmarshalTypeError{Value: value, Type: t} // the decoder names the field
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		return typeErr(kind(b[0]), reflect.TypeFor[[]*float64]())
	}
	*p = pixelList{}
	for i := 1; ; {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] == ',') {
			i++
		}
		if i >= len(b) || b[i] == ']' {
			return nil
		}
		end := i
		for end < len(b) && strings.IndexByte("-+.eE0123456789nul", b[end]) >= 0 {
			end++
		}
		v := math.NaN() // null
		switch tok := string(b[i:end]); {
		case tok == "null":
		case b[i] == '-' || b[i] >= '0' && b[i] <= '9':
			f, err := strconv.ParseFloat(tok, 64)
			if err != nil {
				return typeErr("number "+tok, reflect.TypeFor[float64]())
			}
			v = f
		default:
			return typeErr(kind(b[i]), reflect.TypeFor[float64]())
		}
		if p.n < len(p.v) {
			p.v[p.n] = v
		}
		p.n++
		i = end
	}
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST with an image (image/png, image/jpeg, image/gif) or JSON {\"pixels\": [784 numbers in 0..1]}")
		return
	}
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, ce := range strings.Split(v, ",") {
			if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
				// The body would be read as it came, compressed or not.
				writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q is not supported: send the image or JSON as it is, without a Content-Encoding", ce))
				return
			}
		}
	}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		ct = ""
	}
	if cs := strings.ToLower(params["charset"]); ct == "application/json" && (strings.HasPrefix(cs, "utf-16") || strings.HasPrefix(cs, "utf-32") || strings.HasPrefix(cs, "ucs")) {
		// JSON is UTF-8 (RFC 8259); a body in UTF-16 or UTF-32 would be
		// refused as malformed, for a reason its sender cannot see (an
		// ASCII-compatible charset reads as UTF-8 here: the API's JSON
		// is ASCII).
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported charset %q: send JSON in UTF-8 (charset=utf-8, or none)", cs))
		return
	}
	limit, what := s.MaxBody, "body"
	if ct == "application/json" && limit > MaxJSONBody {
		// 784 numbers take about 20 KB; a body of megabytes would be
		// decoded whole (hundreds of MB of numbers) before its length
		// is checked.
		limit, what = MaxJSONBody, "JSON body (784 numbers take about 20 KB)"
	}
	if r.ContentLength > limit {
		// Refused before a byte is read (and before a client that
		// asked "Expect: 100-continue" is invited to send it).
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s larger than the %d-byte limit (%d bytes announced)", what, limit, r.ContentLength))
		return
	}
	switch {
	case ct == "", ct == "application/x-www-form-urlencoded", ct == "application/octet-stream", ct == "text/plain", ct == "application/json", strings.HasPrefix(ct, "image/"):
	default:
		// Refused before its body is read.
		unsupportedType(w, r, ct)
		return
	}
	// The body's memory is taken from its budgets as it is read
	// (readAll); a request that finds no room within bodyWait is told to
	// come back.
	br := &budgetReader{r: http.MaxBytesReader(w, r.Body, limit), s: s, cl: r.ContentLength, limit: limit}
	defer br.release()
	body, err := br.readAll()
	if err != nil {
		if errors.Is(err, errBodyBudget) {
			// The stream is left mid-body: closed after the answer.
			kind := "large bodies"
			if br.full == s.smalls {
				kind = "bodies of up to 1 MB"
			}
			msg := fmt.Sprintf("the server is reading as many %s as its memory for them allows (%d MB); send it again in a moment", kind, br.full.Size()>>20)
			if s.draining.Err() != nil {
				msg = ErrClosed.Error()
			}
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, msg)
			return
		}
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s larger than the %d-byte limit", what, limit))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's read deadline passed with the body short of
			// what it announced. The write deadline passes about then
			// too: move it, so that the client hears why, and close the
			// connection, whose stream is now out of step.
			rc := http.NewResponseController(w)
			rc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			w.Header().Set("Connection", "close")
			got := fmt.Sprintf("%d bytes", len(body))
			if r.ContentLength > 0 {
				got = fmt.Sprintf("%d of the %d bytes announced", len(body), r.ContentLength)
			}
			writeError(w, http.StatusRequestTimeout, "the body did not arrive in time: "+got+" came before the server's read timeout (30 s for a whole request in cnngpu serve), too slowly or with a pause; send a smaller image (a digit needs a few kilobytes: 20 MB takes 30 s at 0.7 MB/s), or the whole body without pausing, with its length as Content-Length")
			return
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && r.ContentLength > 0 {
			// The client closed its side with the body short of what it
			// announced.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusBadRequest, fmt.Sprintf("the body ended early: %d of the %d bytes announced came before the client closed its side; send the whole body", len(body), r.ContentLength))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(body) == 0 {
		writeError(w, http.StatusBadRequest, `empty body: send an image (image/png, image/jpeg, image/gif) or JSON {"pixels": [784 numbers in 0..1]}`)
		return
	}
	sent := ct
	switch ct {
	case "", "application/x-www-form-urlencoded", "application/octet-stream", "text/plain":
		// No type, curl's default for --data and --data-binary, "some
		// bytes", or the type fetch and XMLHttpRequest give a string
		// body: an image is taken for what its first bytes say it is,
		// and an object for JSON.
		switch sniffed := http.DetectContentType(body); {
		case sniffed == "image/png", sniffed == "image/jpeg", sniffed == "image/gif":
			ct = sniffed
		case bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(body, utf8BOM), " \t\r\n"), []byte("{")):
			ct = "application/json"
			if int64(len(body)) > MaxJSONBody {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("JSON body (784 numbers take about 20 KB) larger than the %d-byte limit", MaxJSONBody))
				return
			}
		default:
			if kind := loader.OtherKind(body); kind != nil {
				writeError(w, http.StatusBadRequest, apiKindError(kind))
				return
			}
			writeError(w, http.StatusBadRequest, fmt.Sprintf(`the body (sent as %q) is neither a PNG, JPEG or GIF image nor JSON {"pixels": [784 numbers in 0..1]}`, sent))
			return
		}
	}
	// The request's context ends when its client half-closes the
	// connection after sending (HTTP/1.0 clients, nc -N), which is no
	// reason to leave a whole request unanswered: the work is bounded by
	// its own timeouts instead.
	base := context.WithoutCancel(r.Context())
	var x []float32
	switch {
	case strings.HasPrefix(ct, "image/"):
		// PNG, JPEG and GIF are decoded; of another type (image/webp,
		// image/heic) the decoder says what it is and what to do.
		// Decoding waits for its share of the decode memory budget
		// (loader.DecodeBudget), so concurrent large images cannot exhaust
		// memory; one that waits past the timeout gets 503.
		dctx, done := s.waiting(base, 10*time.Second)
		x, err = s.decode(dctx, body)
		done()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				msg := err.Error()
				if s.draining.Err() != nil {
					msg = ErrClosed.Error() + ": the image waited for its turn to be decoded; send it again once the server is back"
				}
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusServiceUnavailable, msg)
				return
			}
			var kind *loader.OtherKindError
			if errors.As(err, &kind) {
				writeError(w, http.StatusBadRequest, apiKindError(kind))
				return
			}
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	default: // application/json: the one other type let through above
		// A byte-order mark, which some editors and Windows tools put
		// first, is not JSON but says nothing against it.
		body = bytes.TrimPrefix(body, utf8BOM)
		var req pixelsRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "bad JSON: "+jsonProblem(err)+` (expected {"pixels": [784 numbers in 0..1]})`)
			return
		}
		if _, err := dec.Token(); err != io.EOF {
			writeError(w, http.StatusBadRequest, `bad JSON: data after the object (expected one {"pixels": [784 numbers in 0..1]})`)
			return
		}
		if problem := keyProblem(body); problem != "" {
			// Go's decoder matches keys regardless of case and keeps the
			// last of a repeated one; the API takes one "pixels".
			writeError(w, http.StatusBadRequest, "bad JSON: "+problem+` (expected {"pixels": [784 numbers in 0..1]})`)
			return
		}
		if req.Pixels == nil {
			writeError(w, http.StatusBadRequest, `bad JSON: no "pixels" (expected {"pixels": [784 numbers in 0..1]})`)
			return
		}
		if n := req.Pixels.n; n != engine.ImagePixels {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("pixels has %d values, expected %d (28x28, row-major, ink bright)", n, engine.ImagePixels))
			return
		}
		x = make([]float32, engine.ImagePixels)
		for i, v := range req.Pixels.v {
			if math.IsNaN(v) {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("pixel %d is null, expected a number in 0..1", i))
				return
			}
			if v < 0 || v > 1 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("pixel %d is %v, expected a number in 0..1", i, v))
				return
			}
			x[i] = float32(v)
		}
		if !slices.ContainsFunc(x, func(v float32) bool { return v >= minInk }) {
			// As a blank image is refused: the network has no answer
			// for nothing, only a guess from its biases.
			what := "0"
			if slices.ContainsFunc(x, func(v float32) bool { return v > 0 }) {
				what = fmt.Sprintf("below %.4g (1/255, the faintest ink of an 8-bit image)", minInk)
			}
			writeError(w, http.StatusBadRequest, "no ink: every pixel is "+what+", expected a digit (ink is bright: 1 is full ink, 0 the background)")
			return
		}
		if !slices.ContainsFunc(x, func(v float32) bool { return v != x[0] }) {
			// As an image of one colour is refused ("no ink found").
			writeError(w, http.StatusBadRequest, fmt.Sprintf("no digit: every pixel is %v, expected a digit on a background (ink is bright: 1 is full ink, 0 the background)", x[0]))
			return
		}
	}
	if s.Err() != nil {
		writeError(w, http.StatusServiceUnavailable, errDeviceLost)
		return
	}
	ctx, cancel := context.WithTimeout(base, 10*time.Second)
	defer cancel()
	probs, err := s.classify(ctx, x)
	if errors.Is(err, engine.ErrDeviceLost) {
		writeError(w, http.StatusServiceUnavailable, errDeviceLost)
		return
	}
	if errors.Is(err, engine.ErrNonFinite) {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "classifying: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, NewResult(probs))
}

// utf8BOM is UTF-8's byte-order mark.
var utf8BOM = []byte("\xef\xbb\xbf")

// keyProblem checks the keys of body, a JSON value that decoded into a
// pixelsRequest: "" when it is null or an object with "pixels" at most
// once and no other spelling of it (other keys, such as a client's
// request id, are ignored); else what is wrong.
func keyProblem(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := t.(string)
		switch {
		case k != "pixels" && strings.EqualFold(k, "pixels"):
			return fmt.Sprintf("key %s: keys are case-sensitive, write \"pixels\"", strconv.Quote(k))
		case k == "pixels" && seen:
			return `"pixels" given twice`
		}
		seen = seen || k == "pixels"
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// jsonProblem says what is wrong with a request's JSON in its terms, not
// the decoder's (which names Go types).
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The type that was to receive the value: the list itself, or
		// one of its numbers.
		switch t := strings.TrimLeft(te.Type.String(), "*"); {
		case te.Field == "":
			return "the body is a JSON " + te.Value
		case strings.HasPrefix(te.Value, "number "):
			// A number float64 cannot hold (1e400).
			return fmt.Sprintf("a value in %s, %s, is out of range", strconv.Quote(te.Field), strings.TrimPrefix(te.Value, "number "))
		case strings.HasPrefix(t, "[]"):
			return fmt.Sprintf("%s is a JSON %s, not a list", strconv.Quote(te.Field), te.Value)
		}
		return fmt.Sprintf("a value in %s is a JSON %s, not a number", strconv.Quote(te.Field), te.Value)
	}
	return err.Error()
}

// apiKindError says what a body of another kind is, with the API's way on:
// IDX files and compressed bodies (the loader's hints name predict's
// flags) are not for this API, which takes one image a request, sent as
// it is.
func apiKindError(kind *loader.OtherKindError) string {
	if kind.IDX || strings.HasPrefix(kind.Kind, "an IDX") || kind.Kind == "a gzip file" {
		return kind.Kind + ", not a PNG, JPEG or GIF image: this API classifies one image a request, sent as it is (no Content-Encoding); " +
			"a whole IDX image file is classified by cnngpu predict --idx IMAGES (with --labels LABELS, scored)"
	}
	return kind.Error()
}
