package api_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/eventops/eventops/api"
)

func TestParseKeys(t *testing.T) {
	good := api.HashKey("k1") + " acme alice's agent\n# comment\n\n" + api.HashKey("k2") + " *\n"
	kr, err := api.ParseKeys(strings.NewReader(good), "keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := kr.Lookup("k1"); !ok || k.Tenant != "acme" || k.Name != "alice's agent" || k.Admin() || len(k.ID) != 12 {
		t.Fatalf("k1: %+v %v", k, ok)
	}
	if k, ok := kr.Lookup("k2"); !ok || !k.Admin() {
		t.Fatalf("k2: %+v", k)
	}
	if _, ok := kr.Lookup("k3"); ok {
		t.Fatal("unknown key found")
	}
	if kr.Len() != 2 || strings.Join(kr.Tenants(), ",") != "*,acme" {
		t.Fatalf("%d %v", kr.Len(), kr.Tenants())
	}
	for _, c := range []struct{ in, want string }{
		{"", "no keys"},
		{"k1 acme\n", "keys.txt:1: \"k1\" is not sha256:"},
		{"sha256:abcd acme\n", "is not sha256:"},
		{api.HashKey("k1") + "\n", "keys.txt:1: want"},
		{"\n" + api.HashKey("k1") + " ac/me\n", "keys.txt:2: tenant \"ac/me\""},
		{api.HashKey("k1") + " a\n" + api.HashKey("k1") + " b\n", "keys.txt:2: the key is listed twice"},
	} {
		_, err := api.ParseKeys(strings.NewReader(c.in), "keys.txt")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
	k, err := api.NewKey()
	if err != nil || len(k) < 40 || !strings.HasPrefix(api.HashKey(k), "sha256:") {
		t.Fatalf("%q %v", k, err)
	}
}

func TestAccessWithKeys(t *testing.T) {
	srv := api.New(api.Options{Store: seeded(t), Keys: keysFor(t, "acme", "other"), Logger: quiet, Reload: func() (api.ReloadResult, error) {
		return api.ReloadResult{Rules: 1}, nil
	}})
	status := func(want int, method, target string, headers ...string) fullResponse {
		t.Helper()
		r := do(t, srv, method, target, "", headers...)
		if r.status != want {
			t.Fatalf("%s %s %v: %d %s, want %d", method, target, headers, r.status, r.body, want)
		}
		return r
	}
	status(401, "GET", "/metrics/cpu?tenant=acme")
	status(401, "GET", "/metrics/cpu?tenant=acme", bearer("wrong")...)
	status(401, "GET", "/metrics/cpu?tenant=acme", "Authorization", "Basic a2V5LWFjbWU=")
	status(200, "GET", "/metrics/cpu?tenant=acme", bearer("key-acme")...)
	status(200, "GET", "/metrics/cpu?tenant=acme", "X-API-Key", "key-acme")
	status(403, "GET", "/metrics/cpu?tenant=other", bearer("key-acme")...)
	status(200, "GET", "/metrics/cpu?tenant=other", bearer("key-admin")...)
	// A tenant key's tenant is the default; an admin must name one.
	if r := status(200, "GET", "/metrics/cpu", bearer("key-acme")...); !strings.Contains(string(r.body), `"tenant":"acme"`) {
		t.Fatalf("%s", r.body)
	}
	status(400, "GET", "/metrics/cpu", bearer("key-admin")...)
	// Public routes.
	status(200, "GET", "/healthz")
	status(200, "GET", "/openapi.yaml")
	status(200, "GET", "/auth/session")
	// Reload needs an admin key.
	status(401, "POST", "/-/reload")
	status(403, "POST", "/-/reload", bearer("key-acme")...)
	status(200, "POST", "/-/reload", bearer("key-admin")...)
	// Problems say why.
	r := status(401, "GET", "/alerts?tenant=acme")
	if r.ctype != "application/problem+json" || !strings.Contains(string(r.body), "an API key is required") {
		t.Fatalf("%s %s", r.ctype, r.body)
	}
}

// A browser logs in with a key and then reads with the HttpOnly cookie;
// an altered cookie or a removed key is 401.
func TestSessionCookie(t *testing.T) {
	keys := keysFor(t, "acme", "other")
	opts := api.Options{Store: seeded(t), Keys: keys, Logger: quiet, SessionSecret: []byte("s3cret")}
	srv := api.New(opts)
	r := do(t, srv, "GET", "/auth/session", "")
	if !strings.Contains(string(r.body), `"keys_required":true,"authenticated":false`) {
		t.Fatalf("%s", r.body)
	}
	if r := do(t, srv, "POST", "/auth/session", `{"key":"nope"}`); r.status != 401 {
		t.Fatalf("bad key: %d", r.status)
	}
	if r := do(t, srv, "POST", "/auth/session", `{}`); r.status != 400 {
		t.Fatalf("no key: %d", r.status)
	}
	r = do(t, srv, "POST", "/auth/session", `{"key":"key-acme"}`, "Content-Type", "application/json")
	if r.status != 200 || !strings.Contains(string(r.body), `"tenant":"acme"`) {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	sc := r.header.Get("Set-Cookie")
	for _, want := range []string{api.SessionCookie + "=", "HttpOnly", "SameSite=Strict", "path=/"} {
		if !strings.Contains(sc, want) {
			t.Fatalf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	cookie := strings.SplitN(sc, ";", 2)[0]
	if r := do(t, srv, "GET", "/metrics/cpu?tenant=acme", "", "Cookie", cookie); r.status != 200 {
		t.Fatalf("with cookie: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "GET", "/metrics/cpu?tenant=other", "", "Cookie", cookie); r.status != 403 {
		t.Fatalf("other tenant with cookie: %d", r.status)
	}
	if r := do(t, srv, "GET", "/auth/session", "", "Cookie", cookie); !strings.Contains(string(r.body), `"authenticated":true,"tenant":"acme"`) {
		t.Fatalf("%s", r.body)
	}
	// Altered: the tenant swapped in the payload.
	name, tok, _ := strings.Cut(cookie, "=")
	payload, mac, _ := strings.Cut(tok, ".")
	forged := name + "=" + strings.Replace(payload, "YWNtZ", "b3RoZX", 1) + "." + mac
	if r := do(t, srv, "GET", "/metrics/cpu?tenant=other", "", "Cookie", forged); r.status != 401 {
		t.Fatalf("forged cookie: %d %s", r.status, r.body)
	}
	// Another server (another secret) does not take it.
	opts.SessionSecret = []byte("other")
	if r := do(t, api.New(opts), "GET", "/metrics/cpu?tenant=acme", "", "Cookie", cookie); r.status != 401 {
		t.Fatalf("other secret: %d", r.status)
	}
	// The same secret and keys (a second replica) does.
	opts.SessionSecret = []byte("s3cret")
	if r := do(t, api.New(opts), "GET", "/metrics/cpu?tenant=acme", "", "Cookie", cookie); r.status != 200 {
		t.Fatalf("second replica: %d", r.status)
	}
	// The key removed from the keys file: its sessions end.
	opts.Keys = keysFor(t, "other")
	if r := do(t, api.New(opts), "GET", "/metrics/cpu?tenant=acme", "", "Cookie", cookie); r.status != 401 {
		t.Fatalf("removed key: %d", r.status)
	}
	r = do(t, srv, "DELETE", "/auth/session", "", "Cookie", cookie)
	if r.status != 204 || !strings.Contains(r.header.Get("Set-Cookie"), api.SessionCookie+"=;") {
		t.Fatalf("logout: %d %v", r.status, r.header)
	}
	// Without keys there is nothing to log in to.
	if r := do(t, api.New(api.Options{Logger: quiet}), "POST", "/auth/session", `{"key":"x"}`); r.status != 400 {
		t.Fatalf("open login: %d", r.status)
	}
}

// Open (no keys) and LocalOnly: loopback clients read, others are 401.
func TestLocalOnlyWithoutKeys(t *testing.T) {
	srv := api.New(api.Options{Store: seeded(t), LocalOnly: true, Logger: quiet})
	// app.Test's client is not on the loopback interface.
	if r := do(t, srv, "GET", "/metrics/cpu?tenant=acme", ""); r.status != 401 || !strings.Contains(string(r.body), "only on localhost") {
		t.Fatalf("remote: %d %s", r.status, r.body)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics/cpu?tenant=acme")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("loopback: %d", resp.StatusCode)
	}
}

func TestCORSOnlyForConfiguredOrigins(t *testing.T) {
	srv := api.New(api.Options{Logger: quiet, CORSOrigins: []string{"https://ops.example.com"}})
	r := do(t, srv, "GET", "/healthz", "", "Origin", "https://ops.example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "https://ops.example.com" {
		t.Fatalf("configured origin: %v", r.header)
	}
	r = do(t, srv, "GET", "/healthz", "", "Origin", "https://evil.example.com")
	if v := r.header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Fatalf("other origin allowed: %q", v)
	}
	r = do(t, api.New(api.Options{Logger: quiet}), "GET", "/healthz", "", "Origin", "https://ops.example.com")
	if v := r.header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Fatalf("no origins configured, yet %q", v)
	}
}

// Ingest with a tenant key: its own tenant's events only.
func TestIngestTenantKey(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.Keys = keysFor(t, "acme", "other") })
	if r := do(t, srv, "POST", "/ingest", ev("acme", "h", "m", 1)); r.status != 401 {
		t.Fatalf("no key: %d", r.status)
	}
	if r := do(t, srv, "POST", "/ingest", ev("acme", "h", "m", 1), bearer("key-acme")...); r.status != 202 {
		t.Fatalf("own tenant: %d %s", r.status, r.body)
	}
	r := do(t, srv, "POST", "/ingest", ev("acme", "h", "m", 1)+"\n"+ev("other", "h", "m", 1), bearer("key-acme")...)
	var pr api.Problem
	if r.status != 403 || json.Unmarshal(r.body, &pr) != nil || !strings.Contains(pr.Detail, `line 2 names tenant "other"`) {
		t.Fatalf("other tenant: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "POST", "/ingest", ev("acme", "h", "m", 1)+"\n"+ev("other", "h", "m", 1), bearer("key-admin")...); r.status != 202 {
		t.Fatalf("admin: %d %s", r.status, r.body)
	}
	if n := len(p.records()); n != 3 {
		t.Fatalf("%d records", n)
	}
}
