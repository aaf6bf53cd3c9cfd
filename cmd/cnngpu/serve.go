// serve.go: `cnngpu serve`: the model over HTTP with a drawing page, on
// loopback by default, shutting down gracefully on Ctrl-C or SIGTERM.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/server"
	"github.com/urfave/cli/v2"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve a model over HTTP: POST /v1/predict, GET /healthz, and a drawing page at /",
		Description: "POST /v1/predict takes one image as the body (PNG, JPEG or GIF, prepared as predict prepares image files) " +
			"or JSON {\"pixels\": [784 numbers in 0..1]} (28x28, row by row, ink high), and answers JSON: the digit, its probability, " +
			"whether it is unsure (under 50%), all ten probabilities and the top three. For example:\n" +
			"   curl --data-binary @digit.png http://127.0.0.1:8080/v1/predict\n" +
			"GET /healthz answers the status, the model file, its architecture and engine (503 once the engine fails); " +
			"GET / is a page to draw digits on. Ctrl-C or SIGTERM finishes the requests in flight, then exits 0. " +
			"docs/usage.md, \"Using a trained model\", has the limits and error answers.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "checkpoint `FILE` to serve (required)"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "address to listen on, `HOST:PORT` with an explicit host (loopback by default; 0.0.0.0:PORT to expose it, on IPv6 too)"},
			&cli.StringFlag{Name: "allow-origin", Usage: "let web pages of the origins in `LIST` (comma-separated, e.g. http://localhost:3000; * for any) call the API from a browser (CORS); by default only the server's own page can"},
			cpuFlag, deviceFlag, precisionFlag, threadsFlag,
		},
		Action: serveAction,
	}
}

// shutdownWait is how long a shutdown waits for the requests in flight.
const shutdownWait = 10 * time.Second

func serveAction(c *cli.Context) (err error) {
	if err := checkAddr(c.String("addr")); err != nil {
		return err
	}
	origins, err := allowOrigins(c)
	if err != nil {
		return err
	}
	// The flags wrong in themselves (exit 2), then the port, before the
	// model and the engine (a GPU's takes a second or more): a port in
	// use is said at once. Connections wait in the listen queue until the
	// model is ready (a readiness check asks /healthz, not the port).
	if err := checkLoadFlags(c); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		msg := fmt.Errorf("--addr %s: %v (%s)", c.String("addr"), err, listenHint(c.String("addr"), err))
		if addrInUse(err) {
			return msg // the machine's state, not the flag: exit 1
		}
		return usageErrorf("%v", msg)
	}
	defer ln.Close() // where serving never starts; Serve closes it otherwise
	m, e, ck, err := loadModel(c)
	if err != nil {
		return err
	}
	hung := false // a batch that never ended: closing the engine would wait for it too
	defer func() {
		if !hung {
			closeEngine(e, c.App.ErrWriter, &err)
		}
	}()
	// Weights finite but so large that the outputs overflow would answer
	// every request with an error while /healthz said ok.
	if err := probeOutputs(m); err != nil {
		if !errors.Is(err, engine.ErrNonFinite) {
			return fmt.Errorf("%s: %w", c.String("model"), err) // the engine's failure, with its own hint
		}
		return fmt.Errorf("%s: %w%s", c.String("model"), err, gpuNaNHint(m.E))
	}
	noteExposed(c.App.ErrWriter, ln)
	s := server.New(m, map[string]string{"model": filepath.Base(c.String("model")), "arch": ck.Arch.Preset, "activation": ck.Arch.Act.String(), "engine": e.Name()})
	s.Log = prefixed{c.App.ErrWriter, "cnngpu: serve: "}
	s.AllowOrigins = origins
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
	// Ctrl-C or SIGTERM: finish the requests in flight, then stop; a
	// repeat within repeatWindow is the same request (interruptContext),
	// a later one stops at once.
	ctx, stop := interruptContext(c.Context, nil) // says its own wait
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	status := &statusLines{w: c.App.Writer, errw: c.App.ErrWriter}
	if cw, ok := c.App.Writer.(*checkedWriter); ok {
		status.w = cw.w // not counted as the command's output, nor a reason to stop
	}
	fmt.Fprintf(status, "serving %s (%s, %s) on http://%s/ with %s\n", c.String("model"), ck.Arch.Preset, ck.Arch.Act, ln.Addr(), e.Name())
	// (A browser on this machine reaches a server on every address at
	// localhost: some refuse 0.0.0.0 and [::].)
	here := ln.Addr().String()
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		here = net.JoinHostPort("localhost", strconv.Itoa(a.Port))
	}
	fmt.Fprintf(status, "open http://%s/ in a browser to draw digits, or send an image: curl --data-binary @IMAGE http://%s/v1/predict (Ctrl-C stops the server)\n", here, here)
	switch {
	case slices.Contains(origins, server.AnyOrigin):
		fmt.Fprintf(status, "any web page may call the API from a browser (--allow-origin '*')\n")
	case len(origins) > 0:
		fmt.Fprintf(status, "web pages of %s may call the API from a browser (--allow-origin)\n", strings.Join(origins, ", "))
	}
	select {
	case err := <-errc:
		if herr := closeBatcher(s, e.Name()); herr != nil {
			hung = true
			return fmt.Errorf("%w\n%v", err, herr)
		}
		return err
	case <-s.Lost():
		// The device failed for good: every later request would fail
		// alike, so stop (exit 1) for a supervisor to start it again.
		stopOnNextSignal()
		stop() // a Ctrl-C during the wait below stops at once
		fmt.Fprintln(c.App.ErrWriter, "cnngpu: serve: the device failed; shutting down: this process cannot use it again")
	case <-ctx.Done():
		// A second Ctrl-C or SIGTERM, after the repeat window, stops the
		// process at once: serve writes nothing.
		fmt.Fprintf(status, "shutting down: finishing requests in flight (for up to %s; Ctrl-C again stops at once)\n", shutdownWait)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	s.Drain() // images still waiting to be decoded are answered 503 at once
	err = srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// A client still sending its body (or reading the answer) after
		// the wait: cut it off; stopping is what was asked for.
		srv.Close()
		fmt.Fprintf(c.App.ErrWriter, "cnngpu: serve: gave up after %s on the requests still in flight (a client still sending or reading, or a decode or batch still running); they were cut off\n", shutdownWait)
		err = nil
	}
	herr := closeBatcher(s, e.Name())
	hung = herr != nil
	if lost := s.Err(); lost != nil {
		if herr != nil {
			lost = fmt.Errorf("%w\n%v", lost, herr)
		}
		return fmt.Errorf("serving %s stopped: %w\nhint: start %s serve again (a supervisor can restart it on a non-zero exit), or serve with --cpu", c.String("model"), lost, self())
	}
	if herr != nil {
		return herr
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// closeBatcher stops s's batcher, waiting shutdownWait at most for the
// batch it runs: one that has not ended by then (on a GPU, whose driver
// no longer answers) is left, and the error says so: serve ends without
// it (exit 1, the engine not closed) rather than hang silently, which a
// supervisor's stop would have to kill.
func closeBatcher(s *server.Server, engine string) error {
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(shutdownWait):
	}
	why := "the CPU engine's batches take well under a second: please report this"
	if gpuOpened.Load() {
		why = "the NVIDIA driver does not answer (nvidia-smi checks it; a GPU in a bad state may need a reset)"
	}
	return fmt.Errorf("serve: the batch on %s had not ended %s after the requests did: %s; exiting without it", engine, shutdownWait, why)
}

// prefixed writes each Write to w after prefix (one line each: a log's).
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// listenHint says what to do about a failed listen of addr: another port
// when it is in use or reserved (the flag's value for any free one given
// whole), another host when the address is not this machine's or does
// not resolve.
func listenHint(addr string, err error) string {
	host, _, serr := net.SplitHostPort(addr)
	if serr != nil {
		host = "127.0.0.1"
	}
	free := "--addr " + net.JoinHostPort(host, "0") + " for any free one"
	if addrInUse(err) {
		return "another server uses the port: choose another, or " + free
	}
	if refused, why := portRefused(err); refused {
		return why + ", or " + free
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "that address is not one of this machine's: use localhost, 0.0.0.0 (all of them) or one 'ip addr' lists"
	case errors.As(err, &dnsErr):
		return "the host name does not resolve: use localhost, 0.0.0.0 or an address of this machine"
	}
	return "choose another address, or " + free
}

// statusLines is where serve prints its status (where it listens, that it
// shuts down): standard output, best effort. Its answers go to its
// clients, so a reader of standard output that goes away (a script that
// read the first line for the port, | head -1) or a full disk behind it
// does not stop the server nor change its exit code: the failure is said
// once on standard error, and later lines are dropped.
type statusLines struct {
	w, errw io.Writer
	failed  bool
}

func (s *statusLines) Write(p []byte) (int, error) {
	if s.failed {
		return len(p), nil
	}
	if _, err := s.w.Write(p); err != nil {
		s.failed = true
		fmt.Fprintf(s.errw, "cnngpu: serve: its status lines could not be written to standard output (%v): serving goes on, and they are dropped\n", err)
	}
	return len(p), nil
}

// allowOrigins reads --allow-origin: the origins whose pages may call
// the API (nil when not given).
func allowOrigins(c *cli.Context) ([]string, error) {
	if err := emptyFlag(c, "allow-origin", "origins such as http://localhost:3000, or * for any", "to allow no other origin"); err != nil {
		return nil, err
	}
	if !c.IsSet("allow-origin") {
		return nil, nil
	}
	return parseList("allow-origin", c.String("allow-origin"), func(o string) (string, error) { return o, server.CheckOrigin(o) })
}
