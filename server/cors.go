// cors.go: calls from web pages of other origins (CORS). A browser sends a
// page's cross-origin POST of JSON or an image only after a preflight
// OPTIONS request, and hands it the answer only where the answer names
// the page's origin. The server allows the origins the operator lists
// (serve --allow-origin), none by default: a page the user visits must
// not reach a model served on their machine without being asked for.

package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// AnyOrigin, in Server.AllowOrigins, allows every origin.
const AnyOrigin = "*"

// CheckOrigin checks an origin given to allow: AnyOrigin, "null" (pages
// opened from files), or a scheme, host and optional port such as
// http://localhost:3000, without a path.
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
	}
	return nil
}

// normalOrigin is o as a browser sends it: lower-case scheme and host, no
// trailing slash.
func normalOrigin(o string) string { return strings.ToLower(strings.TrimSuffix(o, "/")) }

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

// cors adds the CORS headers for an allowed origin, and answers a
// preflight request itself; it reports whether it answered.
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
		if preflight {
			// The browser shows the page a CORS failure; this message is
			// in its network panel.
			hint := "serve allows no other origin unless started with --allow-origin"
			if len(s.AllowOrigins) > 0 {
				hint = "serve allows only " + strings.Join(s.AllowOrigins, ", ")
			}
			writeError(w, http.StatusForbidden, fmt.Sprintf("a page of %s may not call this server: %s (cnngpu serve --allow-origin %s allows it)", o, hint, o))
			return true
		}
		return false
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
	return false
}
