// cors.go: calls from web pages of other origins (CORS). A browser sends a
// page's cross-origin POST of JSON or an image only after a preflight
// OPTIONS request, a POST of text, a form or no type at once, and hands
// the page the answer only where it names the page's origin. The server
// allows the origins the operator lists (serve --allow-origin), none by
// default, and refuses any other page's request with 403 (its own page's
// aside): a page the user visits must not have a model served on their
// machine classify for it without being asked for.

package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// AnyOrigin, in Server.AllowOrigins, allows every origin.
const AnyOrigin = "*"

// CheckOrigin checks an origin given to allow: AnyOrigin, "null" (pages
// opened from files, sandboxed frames), or a scheme, host and optional
// port such as http://localhost:3000, without a path.
func CheckOrigin(o string) error {
	if o == AnyOrigin || o == "null" {
		return nil
	}
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return fmt.Errorf("not an origin: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("not an origin: expected http:// or https:// and a host, e.g. http://localhost:3000 (or * for any)")
	case u.Host == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path != "" && u.Path != "/":
		return errors.New("not an origin: an origin is a scheme, a host and an optional port, with no path, e.g. http://localhost:3000")
	case strings.Contains(u.Host, "*"):
		return errors.New("a pattern: list each origin, comma-separated (or * alone for any)")
	case strings.ContainsFunc(u.Host, func(r rune) bool { return r > 127 }):
		return errors.New("its host is not ASCII: give it as browsers send it, in its xn-- (punycode) form")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: expected 1 to 65535", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("an empty port: give one, or none")
	}
	return nil
}

// normalOrigin is o as a browser sends it: lower-case scheme and host,
// without the scheme's default port or a trailing slash.
func normalOrigin(o string) string {
	u, err := url.Parse(strings.ToLower(strings.TrimSuffix(o, "/")))
	if err != nil || u.Host == "" {
		return strings.ToLower(o)
	}
	return u.Scheme + "://" + hostPort(u.Scheme, u.Host)
}

// hostPort is host (host or host:port) without scheme's default port.
func hostPort(scheme, host string) string {
	host = strings.ToLower(host)
	if scheme == "http" {
		return strings.TrimSuffix(host, ":80")
	}
	return strings.TrimSuffix(host, ":443")
}

// sameOrigin reports whether origin o is the server's own as the request
// reached it (its Host): the drawing page's calls.
func sameOrigin(o string, r *http.Request) bool {
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && hostPort(u.Scheme, u.Host) == hostPort(u.Scheme, r.Host)
}

// allowedOrigin reports whether a request from origin o may be answered
// to its page, and the Access-Control-Allow-Origin value that says so.
func (s *Server) allowedOrigin(o string) (string, bool) {
	if slices.Contains(s.AllowOrigins, AnyOrigin) {
		return AnyOrigin, true
	}
	for _, a := range s.AllowOrigins {
		if normalOrigin(a) == normalOrigin(o) {
			return o, true
		}
	}
	return "", false
}

// cors adds the CORS headers for an allowed origin and answers a
// preflight request itself, and refuses a request from a page of another
// origin not allowed (a browser's simple POST, sent without a preflight,
// would otherwise be classified, its answer only kept from the page); it
// reports whether it answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if len(s.AllowOrigins) > 0 && !slices.Contains(s.AllowOrigins, AnyOrigin) {
		// The answer depends on the origin: a cache between must not
		// give one origin's answer to another.
		w.Header().Add("Vary", "Origin")
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	allow, ok := s.allowedOrigin(o)
	if !ok {
		if sameOrigin(o, r) {
			return false
		}
		// The browser shows the page a CORS failure; this message is in
		// its network panel.
		msg := fmt.Sprintf("a page of %s may not call this server: serve allows no other origin unless started with --allow-origin", o)
		if len(s.AllowOrigins) > 0 {
			msg = fmt.Sprintf("a page of %s may not call this server: serve allows only %s", o, strings.Join(s.AllowOrigins, ", "))
		}
		if CheckOrigin(o) == nil && o != "null" {
			msg += fmt.Sprintf(" (add %s to --allow-origin to allow it)", o)
		}
		writeError(w, http.StatusForbidden, msg)
		return true
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", allow)
	if preflight {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	// A page may read when to send again after a 503.
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	return false
}
