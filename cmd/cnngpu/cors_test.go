// cors_test.go: a web page of another origin calling serve's API in a
// real browser: refused by default, answered with --allow-origin.

package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestServeCrossOrigin(t *testing.T) {
	needBrowser(t)
	model := filepath.Join(t.TempDir(), "m.safetensors")
	writeModel(t, model, nil)
	// The web app's page, on an origin of its own (another port).
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!doctype html><title>app</title>"))
	}))
	defer app.Close()
	call := func(own bool, args ...string) (got struct {
		Status int
		Answer struct{ Digit *int }
		Error  string
	}) {
		t.Helper()
		url, _, _ := startServeCmd(t, exec.Command(binary_, append([]string{"serve", "--cpu", "--model", model, "--addr", "127.0.0.1:0"}, args...)...))
		page := app.URL + "/"
		if own {
			page = url + "/" // the server's own page
		}
		res, err := exec.Command("node", "../../scripts/e2e/cors.mjs", page, url+"/v1/predict").CombinedOutput()
		if err != nil {
			t.Fatalf("browser: %v\n%s", err, res)
		}
		if err := json.Unmarshal(res, &got); err != nil {
			t.Fatalf("browser printed %q: %v", res, err)
		}
		return got
	}
	if got := call(true); got.Status != 200 || got.Answer.Digit == nil {
		t.Errorf("serve without --allow-origin: its own page got %+v, want an answer", got)
	}
	if got := call(false); got.Error == "" || got.Status != 0 {
		t.Errorf("serve without --allow-origin: the page of %s got %+v, want the browser's refusal", app.URL, got)
	}
	if got := call(false, "--allow-origin", app.URL); got.Status != 200 || got.Answer.Digit == nil || got.Error != "" {
		t.Errorf("serve --allow-origin %s: the page got %+v, want an answer", app.URL, got)
	}
	if got := call(false, "--allow-origin", "*"); got.Status != 200 || got.Answer.Digit == nil {
		t.Errorf("serve --allow-origin '*': the page got %+v, want an answer", got)
	}
}
