package api_test

import (
	"testing"
	"testing/fstest"

	"github.com/eventops/eventops/api"
)

// browserServer is a server with every state-changing route wired, open
// (keys nil) or with keys.
func browserServer(t *testing.T, keys *api.KeyRing) *api.Server {
	return api.New(api.Options{Store: seeded(t), Keys: keys, Logger: quiet, Producer: &fakeProducer{},
		CORSOrigins: []string{"https://console.example"},
		Reload:      func() (api.ReloadResult, error) { return api.ReloadResult{}, nil },
		Static:      fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}}})
}

// A web page may send forms and no-cors requests to any address: every
// state-changing route refuses a request its browser marks as coming from
// another site, and a body of a type a page may send without asking
// first, with keys and without.
func TestStateChangingRoutesRefuseCrossSiteRequests(t *testing.T) {
	silence := `{"tenant":"acme","matchers":["alertname=\"HighCPU\""],"ends_at":"2999-01-01T00:00:00Z","created_by":"x","comment":"c"}`
	routes := []struct{ method, path, body string }{
		{"POST", "/ingest", ev("acme", "h", "m", 1)},
		{"POST", "/silences", silence},
		{"POST", "/-/reload", ""},
		{"POST", "/auth/session", `{"key":"key-admin"}`},
		{"DELETE", "/auth/session", ""},
		{"DELETE", "/silences/abc?tenant=acme", ""},
	}
	for _, mode := range []struct {
		name string
		keys *api.KeyRing
		cred []string
	}{{"open", nil, nil}, {"keys", keysFor(t, "acme"), bearer("key-admin")}} {
		srv := browserServer(t, mode.keys)
		for _, r := range routes {
			name := mode.name + " " + r.method + " " + r.path
			for _, foreign := range [][]string{
				{"Origin", "https://evil.example"},
				{"Origin", "null"},
				{"Origin", "http://localhost.evil.example"},
				{"Sec-Fetch-Site", "cross-site"},
				{"Sec-Fetch-Site", "same-site"},
			} {
				wantProblem(t, name+" "+foreign[1], do(t, srv, r.method, r.path, r.body, append(foreign, mode.cred...)...), 403, "not accepted")
			}
			// The API's own origin, a configured one, and clients that
			// send neither header are not refused for it.
			for _, ok := range [][]string{{"Origin", "http://localhost"}, {"Origin", "https://console.example"}, {"Sec-Fetch-Site", "same-origin"}, {}} {
				if got := do(t, srv, r.method, r.path, r.body, append(ok, mode.cred...)...); got.status == 403 || got.status == 415 {
					t.Fatalf("%s with %v: %d %s", name, ok, got.status, got.body)
				}
			}
		}
		// Bodies a page may send without a preflight are refused.
		for _, r := range routes {
			if r.body == "" || (mode.keys == nil && r.path == "/auth/session") {
				continue // open, there is no session to log in to (400)
			}
			for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
				wantProblem(t, mode.name+" "+r.path+" "+ct, do(t, srv, r.method, r.path, r.body, append([]string{"Content-Type", ct}, mode.cred...)...), 415, "Content-Type")
			}
		}
		if got := do(t, srv, "POST", "/ingest", ev("acme", "h", "m", 1), append([]string{"Content-Type", "application/x-ndjson"}, mode.cred...)...); got.status != 202 {
			t.Fatalf("%s: NDJSON ingest: %d %s", mode.name, got.status, got.body)
		}
	}
}

// While the API is open, a page that points its own name at 127.0.0.1
// (DNS rebinding) sends its own name as Host: refused. Probes and scrapers
// that address the replica by IP still get their routes; with keys the
// Host does not matter.
func TestForeignHostIsRefusedWhileOpen(t *testing.T) {
	open := browserServer(t, nil)
	for _, path := range []string{"/tenants", "/alerts?tenant=acme", "/", "/auth/session"} {
		wantProblem(t, path, do(t, open, "GET", path, "", "Host", "rebind.attacker.example:8088"), 403, "host")
		for _, host := range []string{"localhost:8088", "127.0.0.1", "[::1]:8088", "LOCALHOST"} {
			if r := do(t, open, "GET", path, "", "Host", host); r.status == 403 {
				t.Fatalf("%s with Host %s: %d %s", path, host, r.status, r.body)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := do(t, open, "GET", path, "", "Host", "10.0.0.7:8088"); r.status != 200 {
			t.Fatalf("%s by IP: %d %s", path, r.status, r.body)
		}
	}
	allowed := api.New(api.Options{Store: seeded(t), Logger: quiet, AllowedHosts: []string{"eventops.internal"}})
	if r := do(t, allowed, "GET", "/tenants", "", "Host", "eventops.internal:8088"); r.status == 403 {
		t.Fatalf("an allowed host: %d %s", r.status, r.body)
	}
	keyed := browserServer(t, keysFor(t, "acme"))
	if r := do(t, keyed, "GET", "/tenants", "", append([]string{"Host", "eventops.example.com"}, bearer("key-acme")...)...); r.status == 403 {
		t.Fatalf("with keys, any host: %d %s", r.status, r.body)
	}
}

// The dashboard is served with a policy that loads only its own files and
// refuses framing, and no answer is sniffed.
func TestDashboardSecurityHeaders(t *testing.T) {
	r := do(t, browserServer(t, nil), "GET", "/", "")
	if r.status != 200 {
		t.Fatalf("GET /: %d", r.status)
	}
	for name, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := r.header.Get(name); got == "" || !contains(got, want) {
			t.Fatalf("%s: %q, want %q", name, got, want)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !contains(csp, "default-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
