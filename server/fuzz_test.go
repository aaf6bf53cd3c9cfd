// fuzz_test.go: fuzzing the HTTP API's request decoding in process: any
// method, path, Content-Type, Content-Encoding and body is answered with
// JSON, never a 500 (a panic the handler recovered from), and a request
// answered 200 is one the API documents: an image, or JSON with exactly
// one "pixels" of 784 numbers in 0..1.

package server

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
)

func FuzzPredictRequest(f *testing.F) {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	e := cpu.New(1)
	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.Adam}, arch.GlorotInit(1))
	if err != nil {
		f.Fatal(err)
	}
	s := New(m, map[string]string{"model": "fuzz"})
	f.Cleanup(func() { s.Close(); e.Close() })

	x := make([]float32, 784)
	for i := 14; i < 784; i += 28 {
		x[i] = 1
	}
	good, _ := json.Marshal(map[string]any{"pixels": x})
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for y := 4; y < 24; y++ {
		img.SetGray(14, y, color.Gray{255})
	}
	var pb bytes.Buffer
	png.Encode(&pb, img)
	f.Add("POST", "/v1/predict", "application/json", "", good)
	f.Add("POST", "/v1/predict", "", "", good)
	f.Add("POST", "//v1/predict/", "application/json; charset=utf-8", "identity", append([]byte("\xef\xbb\xbf"), good...))
	f.Add("POST", "/v1/predict", "image/png", "", pb.Bytes())
	f.Add("POST", "/v1/predict", "application/octet-stream", "", pb.Bytes())
	f.Add("POST", "/v1/predict", "application/json", "gzip", good)
	f.Add("POST", "/v1/predict", "application/json", "", []byte(`{"pixels":[1e400]}`))
	f.Add("POST", "/v1/predict", "application/json", "", []byte(`{"Pixels":null,"pixels":[0]}`))
	f.Add("GET", "/healthz", "", "", []byte(nil))
	f.Add("GET", "/", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, ctype, cenc string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r, err := http.NewRequest(method, "http://x"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		if cenc != "" {
			r.Header.Set("Content-Encoding", cenc)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("500: %s", w.Body.Bytes())
		}
		if w.Code >= 300 && w.Code < 400 {
			return // the mux's redirect of a dot segment
		}
		isPage := w.Code == 200 && strings.HasPrefix(w.Header().Get("Content-Type"), "text/html")
		var out map[string]any
		if !isPage && method != "HEAD" && json.Unmarshal(w.Body.Bytes(), &out) != nil {
			t.Fatalf("%d answer is not JSON: %q", w.Code, w.Body.Bytes())
		}
		if w.Code != 200 || out["probabilities"] == nil && out["digit"] == nil && out["prediction"] == nil {
			return
		}
		// Answered with a classification: the body was an image, or
		// JSON as documented.
		b := bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
		if t0 := bytes.TrimLeft(b, " \t\r\n"); len(t0) > 0 && t0[0] == '{' {
			var req map[string]json.RawMessage
			if err := json.Unmarshal(b, &req); err != nil {
				t.Fatalf("classified a body that is not JSON: %v", err)
			}
			var px []float64
			if len(req) != 1 || json.Unmarshal(req["pixels"], &px) != nil || len(px) != 784 {
				t.Fatalf("classified JSON other than one \"pixels\" of 784 numbers: %q", b)
			}
			for i, v := range px {
				if !(v >= 0 && v <= 1) || math.IsNaN(v) {
					t.Fatalf("classified pixel %d = %v", i, v)
				}
			}
		} else if _, _, err := image.DecodeConfig(bytes.NewReader(body)); err != nil {
			t.Fatalf("classified a body that is neither JSON nor an image (%v): %q", err, body[:min(len(body), 64)])
		}
	})
}
