package api_test

import (
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// Every route that runs a statement runs it under the query timeout:
// creating and expiring a silence write PostgreSQL, and a stuck write
// holds a pooled connection (the pool the sink and notifier share) for as
// long as the client waits.
func TestAttackSilenceWritesRunUnderTheQueryTimeout(t *testing.T) {
	rec := &deadlineRecorder{}
	srv := api.New(api.Options{Store: rec, Silences: rec, Logger: quiet, QueryTimeout: time.Minute})
	silence := `{"tenant":"acme","matchers":["alertname=\"HighCPU\""],"ends_at":"2999-01-01T00:00:00Z","created_by":"x","comment":"c"}`
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/silences", silence},
		{"DELETE", "/silences/abc?tenant=acme", ""},
	} {
		before, _ := rec.last()
		resp := do(t, srv, r.method, r.path, r.body)
		calls, deadline := rec.last()
		if calls == before {
			t.Fatalf("%s %s: %d %s, the store was not called", r.method, r.path, resp.status, resp.body)
		}
		if !deadline {
			t.Errorf("%s %s (%d) wrote PostgreSQL without the query timeout", r.method, r.path, resp.status)
		}
	}
}

// A tenant key that names another tenant is refused (403) before anything
// is charged to that tenant. The query slots are taken by the tenant
// parameter before access is checked: acme's request naming globex takes
// one of globex's slots, and while globex's own queries hold them acme is
// told so (429 "tenant \"globex\" has 1 queries running"), a view of
// another tenant's activity.
func TestAttackForeignTenantIsRefusedBeforeItsQuerySlotsAreCharged(t *testing.T) {
	bs := &blockingStore{started: make(chan string, 16), release: make(chan struct{})}
	srv := api.New(api.Options{Store: bs, Logger: quiet, Keys: keysFor(t, "acme", "globex"), QueriesPerTenant: 1, QueriesTotal: 4})
	results := make(chan int, 1)
	go func() { results <- do(t, srv, "GET", "/metrics/cpu", "", bearer("key-globex")...).status }()
	<-bs.started // globex's query runs
	r := do(t, srv, "GET", "/metrics/cpu?tenant=globex", "", bearer("key-acme")...)
	close(bs.release)
	<-results
	if r.status != 403 {
		t.Fatalf("acme naming globex while globex queries: %d %s, want 403", r.status, r.body)
	}
}
