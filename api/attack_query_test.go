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
