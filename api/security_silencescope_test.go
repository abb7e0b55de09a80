package api_test

import (
	"testing"

	"github.com/eventops/eventops/api"
)

// A silence belongs to its tenant already: a matcher on the tenant label
// names nothing narrower than "every alert of the tenant", so it does not
// make a silence narrow enough to be accepted.
func TestTenantMatcherDoesNotNarrowASilence(t *testing.T) {
	rec := &deadlineRecorder{}
	srv := api.New(api.Options{Store: rec, Silences: rec, Logger: quiet})
	body := func(matchers string) string {
		return `{"tenant":"acme","matchers":[` + matchers + `],"ends_at":"2999-01-01T00:00:00Z","created_by":"x","comment":"c"}`
	}
	for _, m := range []string{`"tenant=\"acme\""`, `"tenant=~\"acme|globex\""`, `"tenant=\"acme\"","host=~\".+\""`} {
		wantProblem(t, m, do(t, srv, "POST", "/silences", body(m)), 400, "must name the values")
	}
	if r := do(t, srv, "POST", "/silences", body(`"tenant=\"acme\"","host=\"h1\""`)); r.status != 201 {
		t.Errorf("a silence of one host with a tenant matcher: %d %s, want 201", r.status, r.body)
	}
}
