package api

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Browser guards. A web page in a user's browser may send simple requests
// (a form, fetch in no-cors mode) to any address, the API's included, and
// may point a name it controls at 127.0.0.1 (DNS rebinding). The guards
// below refuse what only such a page would send; API clients (agents,
// curl, scripts) send neither Origin nor Sec-Fetch-Site and are not
// affected.

// changesState reports whether a request's method may change state.
func changesState(method string) bool {
	switch method {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return false
	}
	return true
}

// sameOrigin refuses a state-changing request that a browser says comes
// from another site: its Origin is neither the API's own (the request's
// Host) nor one of CORSOrigins, or, without Origin, its Sec-Fetch-Site is
// not same-origin (or none, a user's own navigation).
func (s *Server) sameOrigin(c *fiber.Ctx) error {
	if !changesState(c.Method()) {
		return c.Next()
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" {
		if !s.allowedOrigin(origin, c.Hostname()) {
			return fmt.Errorf("%w: requests from origin %q are not accepted (the API's own origin and cors_origins are)", ErrForbidden, origin)
		}
		return c.Next()
	}
	switch site := c.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("%w: a %s request is not accepted (Sec-Fetch-Site: %s)", ErrForbidden, c.Method(), site)
	}
	return c.Next()
}

// allowedOrigin reports whether a write may come from origin: the API's
// own, or one cors_origins names. "*" there opens reads to every origin,
// never writes: a page of any site could otherwise change the API's state
// (with no keys, every page its user visits).
func (s *Server) allowedOrigin(origin, host string) bool {
	for _, o := range s.opts.CORSOrigins {
		if o != "*" && strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" (sandboxed frames, file:) among others
	}
	// The scheme is left out: behind a TLS proxy the API sees http while
	// the page is https, and a page of the same host is the API's own.
	return host != "" && strings.EqualFold(u.Host, host)
}

// hostPublic are the routes that answer whatever the Host: they show no
// tenant's data, and probes and scrapers address the replica by IP.
var hostPublic = map[string]bool{"/healthz": true, "/readyz": true, "/-/metrics": true}

// checkHost refuses, while the API is open (no keys), a request whose Host
// is neither a loopback name nor one of AllowedHosts: a page that rebinds
// its own name to 127.0.0.1 sends its own name.
func (s *Server) checkHost(c *fiber.Ctx) error {
	if s.keys() != nil || hostPublic[c.Path()] {
		return c.Next()
	}
	host := c.Hostname()
	if !s.allowedHost(host) {
		return fmt.Errorf("%w: host %q is not served: without API keys only localhost and allowed_hosts are", ErrForbidden, host)
	}
	return c.Next()
}

func (s *Server) allowedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(strings.ToLower(host), "[]")
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, a := range s.opts.AllowedHosts {
		a = strings.ToLower(a)
		if a == host || a == strings.ToLower(hostport) {
			return true
		}
	}
	return false
}

// securityHeaders are sent with every answer: the dashboard loads only its
// own files, no other site may frame it, and no answer is sniffed into
// another type.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	return c.Next()
}
