// Command loadtest sends a bounded number of prediction requests to a
// running `cnngpu serve` from a second process and reports requests/s and
// latency percentiles. It refuses targets off this machine: it is for
// loopback only.
//
//	go run ./scripts/loadtest -url http://127.0.0.1:8080 -n 10000 -c 32
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080", "base URL of cnngpu serve (loopback only)")
	n := flag.Int("n", 10000, "requests to send")
	conc := flag.Int("c", 32, "concurrent clients")
	imgPath := flag.String("image", "", "PNG/JPEG/GIF to send (default: a drawn 7, 280x280)")
	limit := flag.Duration("timeout", 5*time.Minute, "stop after this long whatever is left")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil {
		fail("bad -url: %v", err)
	}
	if ip := net.ParseIP(u.Hostname()); !(u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
		fail("-url %s: only loopback targets (127.0.0.0/8, ::1, localhost)", *target)
	}
	body, err := payload(*imgPath)
	if err != nil {
		fail("%v", err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc}}
	// One request first: with no server there, every request would fail
	// alike, and the timing of failures is no throughput.
	resp, err := client.Get(strings.TrimSuffix(*target, "/") + "/healthz")
	if err != nil {
		fail("no cnngpu serve at %s (%v): start one first, e.g. bin/cnngpu serve --model runs/model.safetensors (make loadtest ADDR=host:port for another address)", *target, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail("%s/healthz answered %s: is it cnngpu serve, and is its model loaded?", *target, resp.Status)
	}
	lat := make([]time.Duration, *n)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(*limit)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				resp, err := client.Post(*target+"/v1/predict", "image/png", bytes.NewReader(body))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("HTTP %s", resp.Status)
					}
				}
				lat[i] = time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	done := min(int(next.Load()), *n)
	got := slices.Clone(lat[:done])
	slices.Sort(got)
	pct := func(p float64) time.Duration { return got[min(len(got)-1, int(p*float64(len(got))))] }
	fmt.Printf("requests %d  concurrency %d  errors %d  time %.2fs\n", done, *conc, errs.Load(), elapsed.Seconds())
	fmt.Printf("throughput %.0f requests/s  latency p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
		float64(done)/elapsed.Seconds(), ms(pct(0.50)), ms(pct(0.99)), ms(got[len(got)-1]))
	if e := errs.Load(); e > 0 || done < *n {
		fail("%d errors (first: %v), %d of %d requests sent", e, firstErr.Load(), done, *n)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadtest: "+format+"\n", args...)
	os.Exit(1)
}

// payload returns the image to send: a file, or a 280x280 PNG of a 7 drawn
// like the page draws (black on white).
func payload(path string) ([]byte, error) {
	if path != "" {
		return os.ReadFile(path)
	}
	img := image.NewGray(image.Rect(0, 0, 280, 280))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	stroke := func(x0, y0, x1, y1 float64) {
		for t := 0.0; t <= 1; t += 0.002 {
			cx, cy := x0+(x1-x0)*t, y0+(y1-y0)*t
			for dy := -10; dy <= 10; dy++ {
				for dx := -10; dx <= 10; dx++ {
					if dx*dx+dy*dy <= 100 {
						img.SetGray(int(cx)+dx, int(cy)+dy, color.Gray{0})
					}
				}
			}
		}
	}
	stroke(70, 60, 210, 60)
	stroke(210, 60, 120, 230)
	var b bytes.Buffer
	err := png.Encode(&b, img)
	return b.Bytes(), err
}
