// listen.go: serve's --addr: an address with an explicit host, so that an
// empty or host-less value (an unset variable in a script, ":8080") never
// exposes the server on every interface; exposing it takes a host such as
// 0.0.0.0 or a LAN address, and serve says it is doing so.

package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
)

// checkAddr validates --addr as HOST:PORT with a non-empty host and a
// port from 0 to 65535. It returns a usage error (exit code 2).
func checkAddr(addr string) error {
	const hint = "expected HOST:PORT, e.g. 127.0.0.1:8080 (the default: this machine only) or 0.0.0.0:8080 (every interface)"
	if addr == "" {
		return usageErrorf("--addr \"\": %s", hint)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--addr %s: %s", addr, hint)
	}
	if host == "" {
		return usageErrorf("--addr %s has no host, which would listen on every interface: give 127.0.0.1:%s for this machine only, or 0.0.0.0:%s to expose the server",
			addr, port, port)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return usageErrorf("--addr %s: port %q: expected a number from 0 to 65535 (0: any free port)", addr, port)
	}
	return nil
}

// noteExposed warns on w when the listener is not on a loopback address.
func noteExposed(w io.Writer, ln net.Listener) {
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		fmt.Fprintf(w, "note: listening on %s, reachable from other machines; the API has no authentication\n", ln.Addr())
	}
}
