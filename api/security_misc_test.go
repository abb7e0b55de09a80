package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/eventops/eventops/api"
)

type fixedRules []api.RuleInfo

func (f fixedRules) Rules(string) []api.RuleInfo { return f }

// GET /rules names a rule's file, not where it lies on the server.
func TestRulesShowNoServerPaths(t *testing.T) {
	srv := api.New(api.Options{Logger: quiet, Keys: keysFor(t, "acme"), Rules: fixedRules{{Name: "HighCPU", File: "/etc/eventops/secret-dir/rules.yml", AllTenants: true}}})
	r := do(t, srv, "GET", "/rules", "", bearer("key-acme")...)
	if r.status != 200 || strings.Contains(string(r.body), "/etc/") || !strings.Contains(string(r.body), `"file":"rules.yml"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// /readyz says what is missing without the raw error (database errors
// name hosts and users), and a replica that is not ready yet is no error
// in the log.
func TestReadyzHidesRawErrors(t *testing.T) {
	var logs bytes.Buffer
	srv := api.New(api.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Ready: func(context.Context) error {
		return errors.Join(errors.New(`failed to connect to host=10.1.2.3 user=eventops_admin database=prod`),
			&api.NotReadyError{Reason: "the features table is not recovered yet", Err: errors.New("partition 3 at offset 17")})
	}})
	r := do(t, srv, "GET", "/readyz", "")
	wantProblem(t, "/readyz", r, 503)
	if body := string(r.body); strings.Contains(body, "10.1.2.3") || strings.Contains(body, "eventops_admin") {
		t.Fatalf("/readyz shows the raw error: %s", body)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("not ready is logged as an error:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "10.1.2.3") {
		t.Fatalf("the reason is not in the log:\n%s", logs.String())
	}
}

// The session cookie is Secure on X-Forwarded-Proto: https only when the
// request comes from a trusted proxy.
func TestSecureCookieTrustsOnlyConfiguredProxies(t *testing.T) {
	login := func(srv *api.Server) string {
		r := do(t, srv, "POST", "/auth/session", `{"key":"key-acme"}`, "X-Forwarded-Proto", "https")
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		return strings.ToLower(r.header.Get("Set-Cookie"))
	}
	if c := login(api.New(api.Options{Logger: quiet, Keys: keysFor(t, "acme")})); strings.Contains(c, "secure") {
		t.Fatalf("an untrusted X-Forwarded-Proto made the cookie Secure: %s", c)
	}
	if c := login(api.New(api.Options{Logger: quiet, Keys: keysFor(t, "acme"), TrustedProxies: []string{"0.0.0.0/0"}})); !strings.Contains(c, "secure") {
		t.Fatalf("a trusted proxy's X-Forwarded-Proto: %s", c)
	}
}

// A key's public ID is no part of its hash, and differs between servers
// with different session secrets.
func TestKeyIDsAreNotHashPrefixes(t *testing.T) {
	id := func(secret string) string {
		srv := api.New(api.Options{Logger: quiet, Keys: keysFor(t, "acme"), SessionSecret: []byte(secret)})
		r := do(t, srv, "GET", "/auth/session", "", bearer("key-acme")...)
		var body struct {
			KeyID string `json:"key_id"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil || len(body.KeyID) != 12 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return body.KeyID
	}
	a, b := id(strings.Repeat("a", 32)), id(strings.Repeat("b", 32))
	if a == b || strings.Contains(api.HashKey("key-acme"), a) {
		t.Fatalf("ids %s and %s; hash %s", a, b, api.HashKey("key-acme"))
	}
}
