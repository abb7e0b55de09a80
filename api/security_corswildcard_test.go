package api_test

import (
	"testing"

	"github.com/eventops/eventops/api"
)

// cors_origins "*" lets pages of any origin read (CORS), but admits no
// write from a foreign origin: a write's Origin must be the API's own or
// one listed by name. Open without keys, "*" would otherwise let every
// page a user visits change the API's state.
func TestWildcardOriginAdmitsNoForeignWrites(t *testing.T) {
	srv := api.New(api.Options{Store: &deadlineRecorder{}, Silences: &deadlineRecorder{}, Logger: quiet,
		CORSOrigins: []string{"*"}})
	silence := `{"tenant":"acme","matchers":["alertname=\"HighCPU\""],"ends_at":"2999-01-01T00:00:00Z","created_by":"x","comment":"c"}`
	for _, origin := range []string{"https://evil.example", "null"} {
		wantProblem(t, "POST /silences from "+origin, do(t, srv, "POST", "/silences", silence, "Origin", origin), 403, "not accepted")
		wantProblem(t, "DELETE /silences from "+origin, do(t, srv, "DELETE", "/silences/abc?tenant=acme", "", "Origin", origin), 403, "not accepted")
	}
	for _, origin := range []string{"http://localhost"} {
		if r := do(t, srv, "POST", "/silences", silence, "Origin", origin); r.status != 201 {
			t.Errorf("POST /silences from %s: %d %s, want 201", origin, r.status, r.body)
		}
	}
	// Reads stay open to every origin.
	r := do(t, srv, "GET", "/silences?tenant=acme", "", "Origin", "https://evil.example")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("GET /silences from another origin: %d, Access-Control-Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
}
