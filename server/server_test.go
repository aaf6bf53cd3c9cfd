// server_test.go: the HTTP API on a CPU-engine model: every endpoint,
// every refusal (bad JSON, wrong length, out-of-range pixels, wrong content
// type, oversized body, wrong method), and concurrent requests batched
// together each getting exactly their own image's answer.

package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/engine/enginetest"
)

func newTestServer(t *testing.T) (*httptest.Server, *Server, *engine.Model) {
	return newTestServerOn(t, cpu.New(0))
}

// newTestServerOn is newTestServer on engine e (closed with the server).
func newTestServerOn(t *testing.T, e engine.Engine) (*httptest.Server, *Server, *engine.Model) {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam}, arch.GlorotInit(1))
	if err != nil {
		t.Fatal(err)
	}
	s := New(m, map[string]string{"model": "test"})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
		e.Close()
	})
	return ts, s, m
}

func post(t *testing.T, url, ctype string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("response is not JSON: %q", b)
	}
	return resp.StatusCode, out
}

func pixelsJSON(x []float32) []byte {
	b, _ := json.Marshal(map[string]any{"pixels": x})
	return b
}

// aStroke is a "1": a vertical stroke of full ink down the middle.
func aStroke() []float32 {
	x := make([]float32, 784)
	for y := 4; y < 24; y++ {
		x[y*28+13], x[y*28+14] = 1, 1
	}
	return x
}

func randomDigit(r *rand.Rand) []float32 {
	x := make([]float32, 784)
	for i := range x {
		if r.IntN(4) == 0 {
			x[i] = r.Float32()
		}
	}
	return x
}

// TestUnsure: a digit given less than even odds is marked unsure; at
// even odds or more it is not.
func TestUnsure(t *testing.T) {
	for _, c := range []struct {
		top    float32
		unsure bool
	}{{0.9, false}, {0.5, false}, {0.4999, true}, {0.2, true}} {
		p := make([]float32, 10)
		for d := range p {
			p[d] = (1 - c.top) / 9
		}
		p[3] = c.top
		if r := NewResult(p); r.Digit != 3 || r.Unsure != c.unsure {
			t.Errorf("top probability %v: digit %d, unsure %v; want 3, %v", c.top, r.Digit, r.Unsure, c.unsure)
		}
	}
}

func TestEndpoints(t *testing.T) {
	ts, _, _ := newTestServer(t)
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp, _ = http.Get(ts.URL + "/")
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(page, []byte("<canvas")) {
		t.Errorf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := http.Get(ts.URL + "/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	// An escaped slash is no path separator: the path is named as sent,
	// not as the one it would be decoded to (which the hint names).
	if code, out := post(t, ts.URL+"/v1%2Fpredict", "application/json", pixelsJSON(aStroke())); code != 404 || !strings.HasPrefix(fmt.Sprint(out["error"]), "not found: /v1%2Fpredict (") {
		t.Errorf("POST /v1%%2Fpredict: %d %v, want 404 naming the path as sent", code, out)
	}

	x := randomDigit(rand.New(rand.NewPCG(1, 1)))
	code, out := post(t, ts.URL+"/v1/predict", "application/json", pixelsJSON(x))
	if code != 200 {
		t.Fatalf("pixels: %d %v", code, out)
	}
	probs := out["probabilities"].([]any)
	sum := 0.0
	for _, p := range probs {
		sum += p.(float64)
	}
	if len(probs) != 10 || math.Abs(sum-1) > 1e-4 || len(out["top3"].([]any)) != 3 {
		t.Errorf("pixels answer: %v", out)
	}
	if u, ok := out["unsure"].(bool); !ok || u != (out["probability"].(float64) < UnsureBelow) {
		t.Errorf("pixels answer's unsure %v for probability %v", out["unsure"], out["probability"])
	}

	img := image.NewGray(image.Rect(0, 0, 100, 60))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := 10; y < 50; y++ {
		img.Pix[y*100+50] = 0
		img.Pix[y*100+51] = 0
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	if code, out := post(t, ts.URL+"/v1/predict", "image/png", b.Bytes()); code != 200 {
		t.Errorf("png: %d %v", code, out)
	}
	// An image sent without its type (curl --data-binary sends a form's;
	// some clients none or "bytes") is taken for what it is.
	for _, ctype := range []string{"application/x-www-form-urlencoded", "", "application/octet-stream"} {
		if code, out := post(t, ts.URL+"/v1/predict", ctype, b.Bytes()); code != 200 {
			t.Errorf("png sent as %q: %d %v", ctype, code, out)
		}
	}
}

// TestUncleanPaths: //v1/predict (a base URL ending in / joined with
// /v1/predict) and /v1/predict/ are answered as /v1/predict, and //healthz
// as /healthz, rather than redirected with the mux's HTML page; the answer
// is read without following redirects, as a client posting JSON may not.
// A path with dot segments is still redirected.
func TestUncleanPaths(t *testing.T) {
	ts, _, _ := newTestServer(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	x := randomDigit(rand.New(rand.NewPCG(1, 1)))
	for _, p := range []string{"//v1/predict", "/v1/predict/", "/v1//predict", "//v1//predict//"} {
		resp, err := noFollow.Post(ts.URL+p, "application/json", bytes.NewReader(pixelsJSON(x)))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil || len(out["probabilities"].([]any)) != 10 {
			t.Errorf("POST %s: %d %v (%v), want the prediction", p, resp.StatusCode, out, err)
		}
	}
	resp, err := noFollow.Get(ts.URL + "//healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET //healthz: %d %s, want the health answer", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, err := noFollow.Get(ts.URL + "//nope"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET //nope: %v %v, want 404", resp, err)
	}
	// Dot segments are not resolved here (a proxy guarding /v1/ by
	// prefix would let /healthz/../v1/predict through): the mux sends the
	// client to the clean path, back through the proxy.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/predict", bytes.NewReader(pixelsJSON(x)))
	req.URL.Opaque = "/healthz/../v1/predict" // sent as written
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 || resp.Header.Get("Location") != "/v1/predict" {
		t.Errorf("POST /healthz/../v1/predict: %d, Location %q; want the mux's redirect to /v1/predict", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestRefusals(t *testing.T) {
	ts, s, _ := newTestServer(t)
	s.MaxBody = 10000
	long := make([]float32, 785)
	bad := make([]float32, 784)
	bad[3] = 2
	faint, grey := make([]float32, 784), make([]float32, 784)
	for i := range grey {
		faint[i], grey[i] = 1e-29*float32(i%3), 0.5
	}
	cases := []struct {
		name, ctype string
		body        []byte
		code        int
		want        string
	}{
		{"bad json", "application/json", []byte("{pixels: oops"), 400, "bad JSON"},
		{"unknown field, no pixels", "application/json", []byte(`{"pixel": []}`), 400, `bad JSON: no "pixels"`},
		{"an array", "application/json", []byte(`[0.5]`), 400, `bad JSON: the body is a JSON array (expected {"pixels"`},
		{"pixels a string", "application/json", []byte(`{"pixels": "0.5"}`), 400, `bad JSON: "pixels" is a JSON string`},
		{"a pixel a string", "application/json", []byte(`{"pixels": [0.1, "x"]}`), 400, `bad JSON: a value in "pixels" is a JSON string, not a number`},
		{"a pixel a list", "application/json", []byte(`{"pixels": [[0.5]]}`), 400, `bad JSON: a value in "pixels" is a JSON array, not a number`},
		{"pixels an object", "application/json", []byte(`{"pixels": {}}`), 400, `bad JSON: "pixels" is a JSON object, not a list`},
		{"no pixels", "application/json", []byte(`{}`), 400, `bad JSON: no "pixels"`},
		{"a pixel out of float range", "application/json", []byte(`{"pixels": [1e400]}`), 400, `a value in "pixels", 1e400, is out of range`},
		{"pixels null", "application/json", []byte(`{"pixels": null}`), 400, `bad JSON: no "pixels"`},
		{"a null", "application/json", []byte(`null`), 400, `bad JSON: no "pixels"`},
		{"pixels capitalised", "application/json", bytes.Replace(pixelsJSON(make([]float32, 784)), []byte(`"pixels"`), []byte(`"Pixels"`), 1), 400, `bad JSON: key "Pixels": keys are case-sensitive, write "pixels"`},
		{"pixels twice", "application/json", []byte(`{"pixels": [1], "pixels": ` + string(pixelsJSON(make([]float32, 784))[len(`{"pixels":`):])), 400, `bad JSON: "pixels" given twice`},
		{"a pixel null", "application/json", bytes.Replace(pixelsJSON(make([]float32, 784)), []byte("0,"), []byte("null,"), 1), 400, "pixel 0 is null, expected a number in 0..1"},
		{"wrong length", "application/json", pixelsJSON(long), 400, "785 values, expected 784"},
		{"out of range", "application/json", pixelsJSON(bad), 400, "pixel 3 is 2"},
		{"wrong type", "text/html", []byte("7"), 415, "unsupported content type"},
		{"text, neither", "text/plain;charset=UTF-8", []byte("7"), 400, `the body (sent as "text/plain") is neither a PNG, JPEG or GIF image nor JSON`},
		{"JSON in UTF-16", "application/json; charset=utf-16", []byte("\xff\xfe{\x00}\x00"), 415, `unsupported charset "utf-16": send JSON in UTF-8`},
		{"no type", "", []byte("7"), 400, `the body (sent as "") is neither a PNG, JPEG or GIF image nor JSON`},
		{"a form", "application/x-www-form-urlencoded", []byte("digit=7"), 400, `the body (sent as "application/x-www-form-urlencoded") is neither`},
		{"bytes", "application/octet-stream", []byte("\x00\x01garbage"), 400, "is neither a PNG, JPEG or GIF image nor JSON"},
		{"an empty body", "image/png", nil, 400, "empty body: send an image"},
		{"a WebP image", "image/webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), 400, "a WebP image, not a PNG, JPEG or GIF image: convert it"},
		{"a HEIC image as bytes", "application/octet-stream", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), 400, "a HEIC image"},
		{"blank pixels with no type", "", pixelsJSON(make([]float32, 784)), 400, "no ink: every pixel is 0"},
		{"not an image", "image/png", []byte("not a png"), 400, "not a PNG, JPEG or GIF"},
		{"blank image", "image/png", blankPNG(), 400, "no ink"},
		{"blank pixels", "application/json", pixelsJSON(make([]float32, 784)), 400, "no ink: every pixel is 0"},
		{"blank pixels in UTF-8, so labelled", "application/json; charset=UTF-8", pixelsJSON(make([]float32, 784)), 400, "no ink: every pixel is 0"},
		{"blank pixels in Latin-1, so labelled", "application/json; charset=iso-8859-1", pixelsJSON(make([]float32, 784)), 400, "no ink: every pixel is 0"},
		{"faint pixels", "application/json", pixelsJSON(faint), 400, "no ink: every pixel is below 0.003922 (1/255"},
		{"one grey", "application/json", pixelsJSON(grey), 400, "no digit: every pixel is 0.5"},
		{"too large", "image/png", make([]byte, 10001), 413, "larger than the 10000-byte limit"},
		{"junk after the JSON", "application/json", append(pixelsJSON(make([]float32, 784)), []byte(` {"pixels": []}`)...), 400, "data after the object"},
		{"decompression bomb", "image/png", pngHeader(10000, 10000), 400, "expected at most 16777216"},
		// The API's way on, not predict's flags.
		{"a gzip body", "image/png", []byte("\x1f\x8b\x08\x00rest"), 400, "a gzip file, not a PNG, JPEG or GIF image: this API classifies one image a request, sent as it is (no Content-Encoding)"},
		{"an IDX file", "", []byte("\x00\x00\x08\x03\x00\x00\x00\x01"), 400, "an IDX image file (MNIST's format), not a PNG, JPEG or GIF image: this API classifies one image a request"},
		{"an IDX label file", "application/octet-stream", []byte("\x00\x00\x08\x01\x00\x00\x00\x01"), 400, "cnngpu predict --idx IMAGES (with --labels LABELS, scored)"},
	}
	for _, c := range cases {
		code, out := post(t, ts.URL+"/v1/predict", c.ctype, c.body)
		if code != c.code || !strings.Contains(fmt.Sprint(out["error"]), c.want) || strings.Contains(fmt.Sprint(out["error"]), "give it as --labels") {
			t.Errorf("%s: %d %v, want %d with %q", c.name, code, out, c.code, c.want)
		}
	}
	// A body in a Content-Encoding would be read as it came: refused, in
	// any of its header lines; "identity" (any case) is no encoding.
	for _, c := range []struct {
		ce   []string
		code int
		want string
	}{
		{[]string{"gzip"}, 415, `Content-Encoding "gzip" is not supported`},
		{[]string{"br"}, 415, `Content-Encoding "br" is not supported`},
		{[]string{"identity, gzip"}, 415, `Content-Encoding "gzip" is not supported`},
		{[]string{"identity", "gzip"}, 415, `Content-Encoding "gzip" is not supported`},
		{[]string{"Identity"}, 400, "no ink"},
		{[]string{" IDENTITY "}, 400, "no ink"},
	} {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/predict", bytes.NewReader(blankPNG()))
		req.Header.Set("Content-Type", "image/png")
		for _, v := range c.ce {
			req.Header.Add("Content-Encoding", v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(fmt.Sprint(out["error"]), c.want) {
			t.Errorf("a blank PNG sent with Content-Encoding %q: %d %v, want %d with %q", c.ce, resp.StatusCode, out, c.code, c.want)
		}
	}
	resp, _ := http.Get(ts.URL + "/v1/predict")
	if resp.StatusCode != 405 {
		t.Errorf("GET /v1/predict: %d", resp.StatusCode)
	}
	if resp, err := http.Post(ts.URL+"/healthz", "application/json", nil); err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /healthz: %v %v, want 405 allowing GET and HEAD", resp, err)
	}
	if resp, err := http.Post(ts.URL+"/", "text/plain", nil); err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %v %v, want 405 allowing GET and HEAD", resp, err)
	}
	// JSON sent with no type, as curl --data's form type, or after a
	// byte-order mark is read as JSON.
	for _, c := range []struct{ ctype, body string }{
		{"", string(pixelsJSON(aStroke()))},
		{"application/x-www-form-urlencoded", " \n" + string(pixelsJSON(aStroke()))},
		{"application/json", "\xef\xbb\xbf" + string(pixelsJSON(aStroke()))},
		// A string body from fetch or XMLHttpRequest, without a type set.
		{"text/plain;charset=UTF-8", string(pixelsJSON(aStroke()))},
		// A key besides "pixels" (a client's request id) is ignored.
		{"application/json", `{"id": 3, "meta": {"pixels": "not these"},` + string(pixelsJSON(aStroke()))[1:]},
	} {
		if code, out := post(t, ts.URL+"/v1/predict", c.ctype, []byte(c.body)); code != 200 {
			t.Errorf("JSON sent as %q (%.12q...): %d %v, want 200", c.ctype, c.body, code, out)
		}
	}
	// Still serving after all that.
	if code, _ := post(t, ts.URL+"/v1/predict", "application/json", pixelsJSON(aStroke())); code != 200 {
		t.Errorf("after bad requests: %d", code)
	}
}

// pngHeader is a PNG that claims w x h 16-bit RGBA pixels and holds no
// pixel data.
func pngHeader(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}

// TestNonFiniteModelAnswersAnError: a model whose weights hold NaN (a
// diverged run's) answers 500 with a JSON error, never 200 with NaN (which
// JSON cannot carry: the answer used to be an empty 200).
func TestNonFiniteModelAnswersAnError(t *testing.T) {
	e := cpu.New(1)
	arch, _ := engine.NewArch("reference", engine.ReLU)
	w := arch.GlorotInit(1)
	for i := range w {
		w[i] = float32(math.NaN())
	}
	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam}, w)
	if err != nil {
		t.Fatal(err)
	}
	s := New(m, nil)
	ts := httptest.NewServer(s)
	defer func() { ts.Close(); s.Close(); e.Close() }()
	code, out := post(t, ts.URL+"/v1/predict", "application/json", pixelsJSON(aStroke()))
	if code != 500 || !strings.Contains(fmt.Sprint(out["error"]), "not a probability") {
		t.Errorf("NaN model: %d %v, want 500 with an error", code, out)
	}
}

func blankPNG() []byte {
	img := image.NewGray(image.Rect(0, 0, 30, 30))
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func TestConcurrentRequestsGetTheirOwnAnswers(t *testing.T) {
	ts, _, _ := newTestServer(t)
	// Expected answers from a separate model with the same weights.
	e := cpu.New(1)
	defer e.Close()
	arch, _ := engine.NewArch("reference", engine.ReLU)
	ref, _ := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam}, arch.GlorotInit(1))
	r := rand.New(rand.NewPCG(2, 2))
	const n = 120
	inputs := make([][]float32, n)
	var all []float32
	for i := range inputs {
		inputs[i] = randomDigit(r)
		all = append(all, inputs[i]...)
	}
	want, err := ref.Predict(all)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Post(ts.URL+"/v1/predict", "application/json", bytes.NewReader(pixelsJSON(inputs[i])))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var res Result
			json.NewDecoder(resp.Body).Decode(&res)
			for j, p := range res.Probabilities {
				if math.Abs(float64(p-want[i*10+j])) > 1e-5 {
					errs <- fmt.Sprintf("request %d: probability %d is %v, want %v", i, j, p, want[i*10+j])
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// getHealth is GET /healthz of the server at url: the status code and
// the JSON answer.
func getHealth(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// lostEngine is the CPU engine whose reads fail as a GPU's do after a
// sticky fault (engine.ErrDeviceLost), from the fail-th read on.
type lostEngine struct {
	*cpu.Engine
	reads, fail int
}

func (e *lostEngine) Read(t engine.Tensor, off int, dst any) error {
	if e.reads++; e.reads >= e.fail {
		return fmt.Errorf("cuMemcpyDtoH: CUDA_ERROR_ILLEGAL_ADDRESS: %w", engine.ErrDeviceLost)
	}
	return e.Engine.Read(t, off, dst)
}

// TestDeviceLost: once the model's device fails for good, the request
// that met it and every later one get 503 with a message for a client
// (not the command line's hints), /healthz says "failed" with 503, and
// Lost is closed with the engine's error, for cnngpu serve to stop.
func TestDeviceLost(t *testing.T) {
	e := &lostEngine{Engine: cpu.New(1), fail: 2}
	ts, s, _ := newTestServerOn(t, e)
	health := func() (int, map[string]any) { t.Helper(); return getHealth(t, ts.URL) }
	x := pixelsJSON(aStroke())
	if code, out := post(t, ts.URL+"/v1/predict", "application/json", x); code != 200 {
		t.Fatalf("first request: %d %v, want 200", code, out)
	}
	if code, out := health(); code != 200 || out["status"] != "ok" {
		t.Fatalf("healthz before the fault: %d %v", code, out)
	}
	select {
	case <-s.Lost():
		t.Fatal("Lost closed before any fault")
	default:
	}
	for i := range 2 {
		code, out := post(t, ts.URL+"/v1/predict", "application/json", x)
		msg := fmt.Sprint(out["error"])
		if code != 503 || !strings.Contains(msg, "device has failed") || strings.Contains(msg, "CUDA_ERROR") {
			t.Errorf("request %d after the fault: %d %q, want 503 saying the device failed, without the engine's internals", i+1, code, msg)
		}
	}
	if e.reads != 2 {
		t.Errorf("the engine was read %d times, want 2: a request after the fault must not reach it", e.reads)
	}
	select {
	case <-s.Lost():
		if !errors.Is(s.Err(), engine.ErrDeviceLost) || !strings.Contains(s.Err().Error(), "ILLEGAL_ADDRESS") {
			t.Errorf("Err() = %v, want the engine's error", s.Err())
		}
	default:
		t.Fatal("Lost not closed after the fault")
	}
	if code, out := health(); code != 503 || out["status"] != "failed" || out["model"] != "test" {
		t.Errorf("healthz after the fault: %d %v, want 503 with status failed", code, out)
	}
}

// failingEngine is the CPU engine whose reads fail, without the device
// being lost (an error the engine cannot place), while failing is set,
// and block until release is closed while hang is set.
type failingEngine struct {
	*cpu.Engine
	failing, hang atomic.Bool
	release       chan struct{}
}

func (e *failingEngine) Read(t engine.Tensor, off int, dst any) error {
	if e.hang.Load() {
		<-e.release
	}
	if e.failing.Load() {
		return errors.New("cuMemcpyDtoH: CUDA_ERROR_UNKNOWN")
	}
	return e.Engine.Read(t, off, dst)
}

// TestFailedBatchesLogged: the first of a run of failed batches is told
// on Log with its error, the next ones not each (at most one line every
// logEvery), and the first batch that succeeds after them (an operator
// saw nothing, clients alone got the errors).
func TestFailedBatchesLogged(t *testing.T) {
	e := &failingEngine{Engine: cpu.New(1), release: make(chan struct{})}
	ts, s, _ := newTestServerOn(t, e)
	var log bytes.Buffer // written by the batcher before it answers
	s.Log = &log
	x := pixelsJSON(aStroke())
	if code, out := post(t, ts.URL+"/v1/predict", "application/json", x); code != 200 {
		t.Fatalf("a request: %d %v", code, out)
	}
	e.failing.Store(true)
	for i := range 3 {
		if code, out := post(t, ts.URL+"/v1/predict", "application/json", x); code != 503 {
			t.Fatalf("request %d on a failing engine: %d %v, want 503", i, code, out)
		}
	}
	e.failing.Store(false)
	if code, out := post(t, ts.URL+"/v1/predict", "application/json", x); code != 200 {
		t.Fatalf("request once the engine works again: %d %v", code, out)
	}
	want := "a batch of 1 image failed: cuMemcpyDtoH: CUDA_ERROR_UNKNOWN\na batch succeeded after 3 failed in a row\n"
	if log.String() != want {
		t.Errorf("the log:\n%s\nwant:\n%s", log.String(), want)
	}
}

// TestHealthFollowsTheBatches: /healthz answers 503 "failing" once
// FailedBatches batches in a row have failed and 200 again after one
// succeeds, and 503 while a batch runs longer than StuckAfter.
func TestHealthFollowsTheBatches(t *testing.T) {
	e := &failingEngine{Engine: cpu.New(1), release: make(chan struct{})}
	ts, s, _ := newTestServerOn(t, e)
	health := func() (int, map[string]any) { t.Helper(); return getHealth(t, ts.URL) }
	x := pixelsJSON(aStroke())
	e.failing.Store(true)
	for i := 1; i <= FailedBatches; i++ {
		if code, out := post(t, ts.URL+"/v1/predict", "application/json", x); code != 503 {
			t.Fatalf("request %d on a failing engine: %d %v, want 503", i, code, out)
		}
		code, out := health()
		if want := i >= FailedBatches; (code == 503) != want || want && (out["status"] != "failing" || !strings.Contains(fmt.Sprint(out["error"]), "CUDA_ERROR_UNKNOWN")) {
			t.Errorf("healthz after %d failed batches: %d %v", i, code, out)
		}
	}
	e.failing.Store(false)
	if code, out := post(t, ts.URL+"/v1/predict", "application/json", x); code != 200 {
		t.Fatalf("request once the engine works again: %d %v", code, out)
	}
	if code, out := health(); code != 200 || out["status"] != "ok" {
		t.Errorf("healthz after a batch succeeded again: %d %v", code, out)
	}
	// A batch that does not end.
	e.hang.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		post(t, ts.URL+"/v1/predict", "application/json", x)
	}()
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		s.health.Lock()
		busy := !s.health.busy.IsZero()
		s.health.Unlock()
		if busy {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the batch never started")
		}
	}
	if p := s.unhealthy(time.Now()); p != "" {
		t.Errorf("a batch just started: unhealthy %q", p)
	}
	if p := s.unhealthy(time.Now().Add(StuckAfter + time.Second)); !strings.Contains(p, "the device may no longer answer") {
		t.Errorf("a batch running past StuckAfter: unhealthy %q", p)
	}
	e.hang.Store(false)
	close(e.release)
	<-done
}

// TestJSONBodyLimit: a JSON body is held to MaxJSONBody (a 20 MB list of
// numbers took hundreds of MB to decode before its length was checked),
// while 784 numbers written out at full length, indented, pass.
func TestJSONBodyLimit(t *testing.T) {
	ts, s, _ := newTestServer(t)
	if s.MaxBody <= MaxJSONBody {
		t.Fatalf("MaxBody %d: the default should exceed MaxJSONBody %d", s.MaxBody, MaxJSONBody)
	}
	var b strings.Builder
	b.WriteString("{\n  \"pixels\": [\n")
	for i := range 784 {
		sep := ",\n"
		if i == 783 {
			sep = "\n"
		}
		fmt.Fprintf(&b, "    %.20f%s", 0.12345678901234567890+float64(i%2)*0.5, sep)
	}
	b.WriteString("  ]\n}\n")
	if code, out := post(t, ts.URL+"/v1/predict", "application/json", []byte(b.String())); code != 200 {
		t.Errorf("784 long numbers, indented (%d bytes): %d %v", b.Len(), code, out)
	}
	big := append([]byte(`{"pixels": [`), bytes.Repeat([]byte("0,"), MaxJSONBody/2)...)
	code, out := post(t, ts.URL+"/v1/predict", "application/json", append(big, []byte("0]}")...))
	if code != 413 || !strings.Contains(fmt.Sprint(out["error"]), fmt.Sprintf("JSON body (784 numbers take about 20 KB) larger than the %d-byte limit", MaxJSONBody)) {
		t.Errorf("a %d-byte JSON body: %d %v, want 413 naming the JSON limit", len(big)+3, code, out)
	}
}

// TestCloseUnderRequests: requests that reach the handler while and after
// the server closes (as a forced HTTP shutdown leaves them) are answered
// 503 "shutting down" or classified, never a recovered panic (500); a
// second Close does nothing.
func TestCloseUnderRequests(t *testing.T) {
	_, s, _ := newTestServer(t)
	body := pixelsJSON(aStroke())
	ask := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/predict", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		s.ServeHTTP(w, r)
		return w
	}
	if w := ask(); w.Code != http.StatusOK {
		t.Fatalf("before Close: %d %s", w.Code, w.Body)
	}
	var wg sync.WaitGroup
	codes := make(chan string, 64*8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 64 {
				w := ask()
				if w.Code != http.StatusOK && (w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "shutting down")) {
					codes <- fmt.Sprintf("%d %s", w.Code, strings.TrimSpace(w.Body.String()))
				}
			}
		}()
	}
	s.Close()
	wg.Wait()
	close(codes)
	for c := range codes {
		t.Errorf("a request around Close: %s; want 200, or 503 shutting down", c)
	}
	if w := ask(); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "shutting down") {
		t.Errorf("after Close: %d %s; want 503 shutting down", w.Code, w.Body)
	}
	s.Close()
}

// TestLargeBodyRefusedAtOnce: a body announced larger than the limit gets
// 413 before it is read; a client that asks "Expect: 100-continue" is
// answered 413, not invited to send it.
func TestLargeBodyRefusedAtOnce(t *testing.T) {
	ts, _, _ := newTestServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 50000000\r\nExpect: 100-continue\r\n\r\n")
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, " 413 ") {
		t.Errorf("a 50 MB body announced with Expect: 100-continue: %q %v, want 413 at once", status, err)
	}
}

// TestStalledBodyGets408: a body that stops short of its Content-Length
// (or a chunked one that stops) is answered 408 with what arrived when the
// read deadline passes, although the write deadline (as long as the read
// one in cnngpu serve) has passed too, and the connection is closed.
func TestStalledBodyGets408(t *testing.T) {
	_, s, _ := newTestServer(t)
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ReadTimeout, ts.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	ts.Start()
	defer ts.Close()
	for _, c := range []struct{ name, head, body, want string }{
		{"short of its length", "Content-Length: 1000\r\n", "stall", "5 of the 1000 bytes announced came"},
		{"chunked", "Transfer-Encoding: chunked\r\n", "5\r\nstall\r\n", "5 bytes came"},
	} {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n%s\r\n%s", c.head, c.body)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: no answer: %v", c.name, err)
			conn.Close()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), c.want) || !resp.Close {
			t.Errorf("%s: %d %s (closing: %v), want 408 saying %q and the connection closed", c.name, resp.StatusCode, b, resp.Close, c.want)
		}
		conn.Close()
	}
	// Still serving.
	if code, out := post(t, ts.URL+"/v1/predict", "application/json", pixelsJSON(aStroke())); code != 200 {
		t.Errorf("after stalled bodies: %d %v", code, out)
	}
}

// TestHalfClosedClientIsAnswered: a client that shuts its side of the
// connection once its request is sent (an HTTP/1.0 client, nc -N) gets
// its answer, not a 503 from the request's context ending at that EOF.
func TestHalfClosedClientIsAnswered(t *testing.T) {
	ts, _, _ := newTestServer(t)
	body := pixelsJSON(aStroke())
	for i := 0; i < 20; i++ {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1/predict HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("request %d: no answer: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d from a half-closed client: %d %s, want 200", i, resp.StatusCode, b)
		}
	}
}

// TestHalfClosedShortBody: a client that shuts its side with the body
// short of its Content-Length is told how much of it came (it was told
// "reading the body: unexpected EOF").
func TestHalfClosedShortBody(t *testing.T) {
	ts, _, _ := newTestServer(t)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pixels\": [0")
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if want := "the body ended early: 13 of the 100 bytes announced came before the client closed its side"; resp.StatusCode != 400 || !strings.Contains(fmt.Sprint(out["error"]), want) {
		t.Errorf("a body cut short by a half-close: %d %v, want 400 saying %q", resp.StatusCode, out, want)
	}
}

// TestDrainEndsWaitingDecodes: an image still waiting for its share of
// the decode budget when the server begins to shut down (Drain) is
// answered 503 at once, saying so, not after the decode's timeout.
func TestDrainEndsWaitingDecodes(t *testing.T) {
	ts, s, _ := newTestServer(t)
	entered := make(chan struct{})
	s.decode = func(ctx context.Context, _ []byte) ([]float32, error) {
		close(entered)
		<-ctx.Done() // as a decode waiting for the budget
		return nil, ctx.Err()
	}
	type answer struct {
		code int
		body string
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/predict", "image/png", bytes.NewReader(blankPNG()))
		if err != nil {
			got <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, string(b)}
	}()
	<-entered
	start := time.Now()
	s.Drain()
	select {
	case a := <-got:
		if a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "shutting down") {
			t.Errorf("a decode waiting at Drain: %d %v; want 503 saying the server is shutting down", a.code, a.body)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("answered %v after Drain; want at once", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("no answer 8 s after Drain (the decode's own timeout is 10 s)")
	}
	s.Drain() // again: nothing
}

// TestSmallBodiesShareABudget: bodies of at most smallBody take room for
// what has come of them (chunked ones too, up to smallBody) from the small
// bodies' budget: many clients sending most of such bodies and stalling
// held a megabyte each (800 of them about 1 GB); now one that finds no
// room gets 503 with Retry-After, is served once room is made, and large
// bodies are not held back by them.
func TestSmallBodiesShareABudget(t *testing.T) {
	ts, s, _ := newTestServer(t)
	s.smalls, s.bodyWait = newBodies(3*smallBody/2), 300*time.Millisecond
	var conns []net.Conn
	stall := func(n int) { conns = append(conns, stallBody(t, ts, n, n-5)) } // all but a few bytes
	ask := func(r io.Reader, ctype string) (int, string, string) { return postRaw(t, ts, r, ctype) }
	drawing := pixelsJSON(aStroke())
	stall(smallBody)
	if code, b, _ := ask(bytes.NewReader(drawing), "application/json"); code != 200 {
		t.Errorf("a drawing with room left: %d %s; want 200", code, b)
	}
	stall(smallBody / 2)
	if code, b, retry := ask(bytes.NewReader(drawing), "application/json"); code != http.StatusServiceUnavailable || retry == "" || !strings.Contains(b, "as many bodies of up to 1 MB as its memory for them allows (1 MB)") {
		t.Errorf("a drawing with no room: %d %s (Retry-After %q); want 503 with Retry-After", code, b, retry)
	}
	if code, b, _ := ask(io.MultiReader(bytes.NewReader(drawing)), "application/json"); code != http.StatusServiceUnavailable {
		t.Errorf("a chunked drawing with no room: %d %s; want 503", code, b)
	}
	// A large body takes from the other budget: read and answered (a
	// blank image: 400).
	if code, b, _ := ask(bytes.NewReader(append(blankPNG(), make([]byte, 2*smallBody)...)), "image/png"); code != http.StatusBadRequest {
		t.Errorf("a large body with the small bodies' budget held: %d %s; want it read (400 for a blank image)", code, b)
	}
	conns[1].Close() // its room back
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		code, b, _ := ask(bytes.NewReader(drawing), "application/json")
		if code == 200 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("5 s after a stalled client left: %d %s; want the drawing served", code, b)
		}
	}
}

// TestIdleBodiesHoldLittle: clients announcing bodies and sending
// nothing take firstRoom each of a budget, not what they announce: ten
// announcing 20 MB held back every upload over 1 MB for the read timeout
// (the hostile pass), and ten announcing 1 MB would have held back every
// drawing; now a large body and a drawing beside them are still read.
func TestIdleBodiesHoldLittle(t *testing.T) {
	ts, s, _ := newTestServer(t)
	s.bodies, s.smalls, s.bodyWait = newBodies(8*smallBody), newBodies(smallBody), 300*time.Millisecond
	// 12 MB announced for the 8 of the bodies' budget, 10 MB for the 1
	// of the small ones'.
	for range 3 {
		stallBody(t, ts, 4*smallBody, 0)
	}
	for range 10 {
		stallBody(t, ts, smallBody, 0)
	}
	for _, c := range []struct {
		what, ctype string
		body        []byte
		want        int
	}{
		{"a large body (a blank image: 400)", "image/png", append(blankPNG(), make([]byte, 2*smallBody)...), http.StatusBadRequest},
		{"a drawing", "application/json", pixelsJSON(aStroke()), http.StatusOK},
	} {
		if code, b, _ := postRaw(t, ts, bytes.NewReader(c.body), c.ctype); code != c.want {
			t.Errorf("%s beside idle clients: %d %s; want %d", c.what, code, b, c.want)
		}
	}
}

// TestPausingUploadsDoNotHoldEachOtherBack: eight clients each sending a
// 1 MB body in two parts (300 KB, a pause, the rest) into a small bodies'
// budget of 2 MB are all read. With a take of room per doubling of the
// buffer, each held part of the budget while waiting for more, and six of
// the eight got 503 once their waits ended (the second review; 33 of 160
// with the real budgets).
func TestPausingUploadsDoNotHoldEachOtherBack(t *testing.T) {
	ts, s, _ := newTestServer(t)
	s.smalls, s.bodyWait = newBodies(2*smallBody), 2*time.Second
	const clients = 8
	body := append(blankPNG(), make([]byte, smallBody-len(blankPNG()))...)
	var wg, sent sync.WaitGroup
	codes := make([]int, clients)
	sent.Add(clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Error(err)
				sent.Done()
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", len(body))
			conn.Write(body[:300<<10])
			sent.Done()
			sent.Wait()
			time.Sleep(300 * time.Millisecond)
			conn.Write(body[300<<10:])
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Error(err)
				return
			}
			codes[i] = resp.StatusCode
			resp.Body.Close()
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != http.StatusBadRequest { // read, then refused: a blank image
			t.Errorf("1 MB bodies sent in two parts: %v; want each read (400 for a blank image)", codes)
			break
		}
	}
}

// stallBody is a client of ts that announces a PNG body of n bytes, sends
// the first sent of them and stalls (until the test ends), once its room
// is taken.
func stallBody(t *testing.T, ts *httptest.Server, n, sent int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n%s", n, make([]byte, sent))
	time.Sleep(200 * time.Millisecond) // its room taken
	return conn
}

// postRaw sends body r of type ctype to ts's /v1/predict and returns the
// status, the body and Retry-After.
func postRaw(t *testing.T, ts *httptest.Server, r io.Reader, ctype string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(ts.URL+"/v1/predict", ctype, r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), resp.Header.Get("Retry-After")
}

// TestBodiesShareABudget: a body over smallBody takes its announced
// length from the bodies' memory budget, a megabyte before it is read and
// the rest once that has come; one that finds no room within the wait
// gets 503 with Retry-After, and is served once room is made. Small bodies, chunked too, take theirs from the small
// bodies' budget: clients holding the budget with large bodies they do not
// send hold back only large ones.
func TestBodiesShareABudget(t *testing.T) {
	ts, s, _ := newTestServer(t)
	s.bodies, s.bodyWait = newBodies(5*smallBody), 300*time.Millisecond
	var conns []net.Conn
	stall := func() { conns = append(conns, stallBody(t, ts, 2*smallBody, smallBody+5)) }
	large := append(blankPNG(), make([]byte, 2*smallBody)...)
	ask := func(r io.Reader, ctype string) (int, string, string) { return postRaw(t, ts, r, ctype) }
	stall()
	stall()
	if code, b, retry := ask(bytes.NewReader(large), "image/png"); code != http.StatusServiceUnavailable || retry == "" || !strings.Contains(b, "as many large bodies as its memory for them allows") {
		t.Errorf("a large body with no room: %d %s (Retry-After %q); want 503 with Retry-After", code, b, retry)
	}
	// A small body, of unknown length (chunked), needs no room there;
	// nor one of exactly a megabyte (it took the rest of the limit to
	// read its end, and got 503).
	if code, b, _ := ask(io.MultiReader(bytes.NewReader(pixelsJSON(aStroke()))), "application/json"); code != 200 {
		t.Errorf("a small chunked body with the budget held: %d %s; want 200", code, b)
	}
	mb := append(blankPNG(), make([]byte, smallBody-len(blankPNG()))...)
	if code, b, _ := ask(io.MultiReader(bytes.NewReader(mb)), "image/png"); code != http.StatusBadRequest {
		t.Errorf("a chunked body of exactly 1 MB with the budget held: %d %s; want it read (400 for a blank image)", code, b)
	}
	conns[0].Close() // its room back
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		code, b, _ := ask(bytes.NewReader(large), "image/png")
		if code != http.StatusServiceUnavailable {
			break // read and answered (a blank image: 400)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("5 s after a stalled client left: %d %s; want the large body read", code, b)
		}
	}
}

// TestPixelListMemory: a JSON list of a body's worth of numbers (130,000
// in 256 KB) is counted, not kept: its decoding allocates about the
// body's copy in the decoder, where pointers to each value took 3.7 MB a
// request. Values past the 784th, of any kind that is a number or null,
// are counted alike.
func TestPixelListMemory(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"pixels": [`)
	for i := range 130000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('0')
	}
	b.WriteString("]}")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var req pixelsRequest
	err := json.NewDecoder(bytes.NewReader(b.Bytes())).Decode(&req)
	runtime.ReadMemStats(&after)
	if err != nil || req.Pixels == nil || req.Pixels.n != 130000 {
		t.Fatalf("130,000 zeros: %v, %+v", err, req.Pixels)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*uint64(b.Len()) {
		t.Errorf("130,000 zeros in %d bytes: %d bytes allocated decoding them", b.Len(), got)
	}
	req = pixelsRequest{}
	if err := json.Unmarshal([]byte(`{"pixels": [0.5, null, 1e-3, -0, 2E+0 ]}`), &req); err != nil || req.Pixels.n != 5 ||
		req.Pixels.v[0] != 0.5 || !math.IsNaN(req.Pixels.v[1]) || req.Pixels.v[2] != 1e-3 || req.Pixels.v[3] != 0 || req.Pixels.v[4] != 2 {
		t.Errorf("five values: %v, %+v", err, req.Pixels)
	}
}

// TestOverflowFailsItsOwnRequest: a model that overflows on strokes (its
// first convolution answers changes down a column alone, the later
// weights are huge) and not on a bar the image's height: in one batch, the
// stroke's request is answered 500 and the bar's 200; /healthz stays ok,
// even after FailedBatches batches of strokes alone.
func TestOverflowFailsItsOwnRequest(t *testing.T) {
	e := &failingEngine{Engine: cpu.New(1), release: make(chan struct{})}
	arch, w := enginetest.OverflowsOnStrokes()
	m, err := engine.NewInferenceModel(e, arch, w)
	if err != nil {
		t.Fatal(err)
	}
	s := New(m, map[string]string{"model": "test"})
	ts := httptest.NewServer(s)
	defer func() { ts.Close(); s.Close(); e.Close() }()
	// A bar from the top edge to the bottom one: no change down a column,
	// which is all that the first convolution sees.
	bar := make([]float32, engine.ImagePixels)
	for y := range 28 {
		bar[y*28+13], bar[y*28+14] = 1, 1
	}
	codes := make([]chan int, 3)
	send := func(i int, x []float32) {
		codes[i] = make(chan int, 1)
		go func() {
			code, _ := post(t, ts.URL+"/v1/predict", "application/json", pixelsJSON(x))
			codes[i] <- code
		}()
	}
	// The first request holds the batcher (its read waits) while the
	// other two are queued, so that they make one batch.
	e.hang.Store(true)
	send(0, bar)
	for start := time.Now(); len(s.jobs) > 0 || func() bool { s.health.Lock(); defer s.health.Unlock(); return s.health.busy.IsZero() }(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the first batch never started")
		}
	}
	send(1, bar)
	send(2, aStroke())
	for start := time.Now(); len(s.jobs) < 2; time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the two requests were never queued")
		}
	}
	e.hang.Store(false)
	close(e.release)
	for i, want := range []int{200, 200, 500} {
		if code := <-codes[i]; code != want {
			t.Errorf("request %d: %d, want %d", i, code, want)
		}
	}
	if code, out := getHealth(t, ts.URL); code != 200 {
		t.Errorf("healthz after a batch with one finite answer: %d %v, want 200", code, out)
	}
	for i := 1; i <= FailedBatches; i++ {
		code, out := post(t, ts.URL+"/v1/predict", "application/json", pixelsJSON(aStroke()))
		if code != 500 || !strings.Contains(fmt.Sprint(out["error"]), "not a probability") {
			t.Fatalf("stroke %d: %d %v, want 500 saying the output is not a probability", i, code, out)
		}
	}
	if code, out := getHealth(t, ts.URL); code != 200 {
		t.Errorf("healthz after %d batches of images that overflow: %d %v, want 200 (a client's images are not the server's failure)", FailedBatches, code, out)
	}
}

// TestCrossOrigin: a page of another origin may call the API only where
// serve allows its origin (--allow-origin): the browser's preflight is
// answered, and the answers name the origin.
func TestCrossOrigin(t *testing.T) {
	_, _, m := newTestServer(t)
	// serving starts a server for m allowing origins (each its own: the
	// field is set before the first request).
	var ts *httptest.Server
	serving := func(origins ...string) {
		s := New(m, map[string]string{"model": "test"})
		s.AllowOrigins = origins
		ts = httptest.NewServer(s)
		t.Cleanup(func() {
			ts.Close()
			s.Close()
		})
	}
	serving()
	do := func(method, path, origin string, preflight bool) *http.Response {
		t.Helper()
		var body io.Reader
		if method == "POST" {
			body = bytes.NewReader(pixelsJSON(aStroke()))
		}
		req, _ := http.NewRequest(method, ts.URL+path, body)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if preflight {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "content-type")
		} else if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// None allowed (the default): the preflight is refused, saying how
	// to allow it; a simple request is answered without the header, so
	// the browser keeps the answer from the page.
	if r := do("OPTIONS", "/v1/predict", "http://example.com", true); r.StatusCode != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a preflight from another origin, none allowed: %d %v", r.StatusCode, r.Header)
	}
	// A simple POST, which a browser sends without a preflight, is
	// refused too, not classified with its answer kept from the page; the
	// server's own page (its origin the Host it is reached by) is served.
	if r := do("POST", "/v1/predict", "http://example.com", false); r.StatusCode != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a POST from another origin, none allowed: %d %v", r.StatusCode, r.Header)
	}
	if r := do("POST", "/v1/predict", ts.URL, false); r.StatusCode != 200 {
		t.Errorf("a POST from the server's own page (%s): %d", ts.URL, r.StatusCode)
	}
	if r := do("OPTIONS", "/v1/predict", "", false); r.StatusCode != 405 {
		t.Errorf("OPTIONS without an origin: %d, want 405 as before", r.StatusCode)
	}
	serving("http://localhost:3000", "https://Example.org:443")
	r := do("OPTIONS", "/v1/predict", "http://localhost:3000", true)
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") || !strings.EqualFold(r.Header.Get("Access-Control-Allow-Headers"), "content-type") {
		t.Errorf("a preflight from an allowed origin: %d %v", r.StatusCode, r.Header)
	}
	for _, c := range []struct{ method, path, origin string }{
		{"POST", "/v1/predict", "http://localhost:3000"},
		{"POST", "/v1/predict", "https://example.org"},
		{"GET", "/healthz", "http://localhost:3000"},
	} {
		if r := do(c.method, c.path, c.origin, false); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != c.origin || r.Header.Get("Vary") != "Origin" ||
			r.Header.Get("Access-Control-Expose-Headers") != "Retry-After" {
			t.Errorf("%s %s from %s, allowed: %d %v", c.method, c.path, c.origin, r.StatusCode, r.Header)
		}
	}
	if r := do("OPTIONS", "/v1/predict", "http://localhost:3001", true); r.StatusCode != 403 || r.Header.Get("Vary") != "Origin" {
		t.Errorf("a preflight from an origin not listed: %d %v", r.StatusCode, r.Header)
	}
	// The answer without an origin varies by origin too (for caches).
	if r := do("GET", "/healthz", "", false); r.StatusCode != 200 || r.Header.Get("Vary") != "Origin" || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET /healthz without an origin, origins listed: %d %v", r.StatusCode, r.Header)
	}
	serving(AnyOrigin)
	if r := do("POST", "/v1/predict", "http://anywhere.test", false); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("a POST with any origin allowed: %d %v", r.StatusCode, r.Header)
	}
	for _, o := range []string{"*", "null", "http://localhost:3000", "https://example.org/", "http://[::1]:8080"} {
		if err := CheckOrigin(o); err != nil {
			t.Errorf("CheckOrigin(%q): %v", o, err)
		}
	}
	for _, o := range []string{"localhost:3000", "ftp://x", "http://x.org/app", "http://x.org?q", "http://u@x.org", "http://",
		"http://*.x.org", "http://bücher.de", "http://x.org:", "http://x.org:99999"} {
		if err := CheckOrigin(o); err == nil {
			t.Errorf("CheckOrigin(%q) took it", o)
		}
	}
}
