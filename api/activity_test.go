package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// activityServer is an API with keys for acme and beta over a real
// PostgreSQL holding acme's episodes ep-firing (firing) and ep-resolved.
func activityServer(t *testing.T) (*api.Server, *store.Store, *api.Hub) {
	t.Helper()
	s := activityDB(t)
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	srv := api.New(api.Options{Store: s, Alerts: s, Hub: hub, Keys: keysFor(t, "acme", "beta"), Logger: quiet, Heartbeat: time.Hour})
	return srv, s, hub
}

// activityDB is a real PostgreSQL holding acme's episodes ep-firing
// (firing) and ep-resolved, and beta's ep-beta (firing).
func activityDB(t *testing.T) *store.Store {
	t.Helper()
	storetest.NeedsPostgreSQL(t)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []store.AlertRow
	v := 95.0
	for ep, states := range map[string][]string{"ep-firing": {"pending", "firing"}, "ep-resolved": {"pending", "firing", "resolved"}, "ep-beta": {"firing"}} {
		tenant := "acme"
		if ep == "ep-beta" {
			tenant = "beta"
		}
		for k, st := range states {
			ts := t0.Add(time.Duration(k) * time.Second)
			rows = append(rows, store.AlertRow{Ts: ts, Tenant: tenant, SourceID: "web-1", Metric: "cpu", Severity: "critical", Rule: "HighCPU",
				Value: &v, EpisodeID: ep, State: st, AlertName: "HighCPU", Labels: []byte(`{}`), Annotations: []byte(`{}`), Features: []byte(`{}`), StartsAt: &ts})
		}
	}
	if _, err := s.WriteAlerts(ctx, rows); err != nil {
		t.Fatal(err)
	}
	return s
}

// Ack, assign and note are recorded in PostgreSQL with the key's name as
// the actor; a second ack is the first; GET /alerts/{id}/activity shows
// the trail and the ack in force.
func TestAckAssignNoteAreAudited(t *testing.T) {
	t.Parallel()
	srv, s, _ := activityServer(t)
	acme := bearer("key-acme")

	r := do(t, srv, "POST", "/alerts/ep-firing/ack", `{"comment":"looking into it"}`, acme...)
	if r.status != 201 {
		t.Fatalf("ack: %d %s", r.status, r.body)
	}
	var first store.Activity
	if err := json.Unmarshal(r.body, &first); err != nil {
		t.Fatal(err)
	}
	if first.Kind != "ack" || first.Actor != "holder of acme" || first.Note != "looking into it" || first.ExpiresAt != nil || first.Tenant != "acme" {
		t.Fatalf("ack %s", r.body)
	}
	r = do(t, srv, "POST", "/alerts/ep-firing/ack", ``, acme...)
	var again store.Activity
	_ = json.Unmarshal(r.body, &again)
	if r.status != 200 || again.ID != first.ID {
		t.Fatalf("a second ack: %d %s, want 200 and the first ack", r.status, r.body)
	}
	if r := do(t, srv, "POST", "/alerts/ep-firing/assign", `{"assignee":"alice"}`, acme...); r.status != 201 {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "POST", "/alerts/ep-firing/notes", `{"text":"disk full on web-1"}`, acme...); r.status != 201 {
		t.Fatalf("note: %d %s", r.status, r.body)
	}
	// The admin key reads it; notes are taken on resolved episodes too.
	if r := do(t, srv, "POST", "/alerts/ep-resolved/notes?tenant=acme", `{"text":"post-mortem: see ticket 42"}`, bearer("key-admin")...); r.status != 201 {
		t.Fatalf("note on a resolved episode: %d %s", r.status, r.body)
	}

	list, err := s.AlertActivity(context.Background(), "acme", "ep-firing")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range list {
		got = append(got, a.Kind+" by "+a.Actor+": "+a.Assignee+a.Note)
	}
	if want := "ack by holder of acme: looking into it|assign by holder of acme: alice|note by holder of acme: disk full on web-1"; strings.Join(got, "|") != want {
		t.Fatalf("audit trail\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}

	r = do(t, srv, "GET", "/alerts/ep-firing/activity", "", acme...)
	var view struct {
		State        string           `json:"state"`
		Acknowledged *store.Activity  `json:"acknowledged"`
		Assignee     string           `json:"assignee"`
		Activity     []store.Activity `json:"activity"`
	}
	if err := json.Unmarshal(r.body, &view); err != nil || r.status != 200 {
		t.Fatalf("activity: %d %s", r.status, r.body)
	}
	if view.Acknowledged == nil || view.Acknowledged.Actor != "holder of acme" || view.Assignee != "alice" || len(view.Activity) != 3 || view.State != "firing" {
		t.Fatalf("activity %s", r.body)
	}
	r = do(t, srv, "GET", "/alerts/ep-resolved/activity", "", acme...)
	if !strings.Contains(string(r.body), `"acknowledged":null`) || !strings.Contains(string(r.body), "by operators") && !strings.Contains(string(r.body), `"actor":"operators"`) {
		t.Fatalf("activity of the resolved episode: %s", r.body)
	}
}

// Acks that cannot be: an unknown or resolved episode, another tenant's
// (404 as for an unknown one, nothing of it in the answer), bad bodies
// (the problem names the field), bodies over the limit.
func TestAckRefusals(t *testing.T) {
	t.Parallel()
	srv, _, _ := activityServer(t)
	acme, beta := bearer("key-acme"), bearer("key-beta")
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		name, path, body string
		headers          []string
		status           int
		detail           string
	}{
		{"unknown episode", "/alerts/ep-none/ack", ``, acme, 404, "no alert episode ep-none"},
		{"resolved episode", "/alerts/ep-resolved/ack", ``, acme, 409, "is resolved"},
		{"another tenant's episode", "/alerts/ep-firing/ack", ``, beta, 404, "tenant beta has no alert episode"},
		{"another tenant's episode, assign", "/alerts/ep-firing/assign", `{"assignee":"mallory"}`, beta, 404, "tenant beta has no"},
		{"another tenant's episode, note", "/alerts/ep-firing/notes", `{"text":"x"}`, beta, 404, "tenant beta has no"},
		{"another tenant named", "/alerts/ep-firing/ack?tenant=acme", ``, beta, 403, "may not read tenant"},
		{"no key", "/alerts/ep-firing/ack", ``, nil, 401, "API key is required"},
		{"bad id", "/alerts/ep%20x/ack", ``, acme, 400, "not an episode id"},
		{"expiry in the past", "/alerts/ep-firing/ack", `{"expires_at":"2020-01-01T00:00:00Z"}`, acme, 400, "expires_at: "},
		{"both expiries", "/alerts/ep-firing/ack", `{"expires_at":"` + future + `","expires_in":"1h"}`, acme, 400, "expires_at, expires_in"},
		{"bad duration", "/alerts/ep-firing/ack", `{"expires_in":"soon"}`, acme, 400, "expires_in: "},
		{"too long an ack", "/alerts/ep-firing/ack", `{"expires_in":"10000h"}`, acme, 400, "expires_at: an ack holds at most"},
		{"unknown field", "/alerts/ep-firing/ack", `{"until":"1h"}`, acme, 400, `unknown field`},
		{"no assignee", "/alerts/ep-firing/assign", `{}`, acme, 400, "assignee: is required"},
		{"empty body", "/alerts/ep-firing/notes", ``, acme, 400, "the body is empty"},
		{"long note", "/alerts/ep-firing/notes", `{"text":"` + strings.Repeat("x", 5000) + `"}`, acme, 400, "text: longer than 4096 bytes"},
		{"NUL in a note", "/alerts/ep-firing/notes", `{"text":"a\u0000b"}`, acme, 400, "text: not valid UTF-8"},
		{"huge body", "/alerts/ep-firing/notes", `{"text":"` + strings.Repeat("x", 20000) + `"}`, acme, 413, "limit of 16384 bytes"},
	} {
		r := do(t, srv, "POST", c.path, c.body, c.headers...)
		if r.status != c.status || r.ctype != "application/problem+json" || !strings.Contains(string(r.body), c.detail) {
			t.Errorf("%s: %d %s %s, want %d with %q", c.name, r.status, r.ctype, r.body, c.status, c.detail)
		}
		if c.headers != nil && c.headers[1] == "Bearer key-beta" && strings.Contains(string(r.body), "web-1") {
			t.Errorf("%s: the answer tells of acme's episode: %s", c.name, r.body)
		}
	}
	if r := do(t, srv, "GET", "/alerts/ep-firing/activity", "", beta...); r.status != 404 {
		t.Fatalf("another tenant's activity: %d %s", r.status, r.body)
	}
}

// The alert stream carries an ack as an event of its own type, to the
// streams of its tenant only.
func TestStreamCarriesActivity(t *testing.T) {
	t.Parallel()
	srv, _, _ := activityServer(t)
	base := serve(t, srv)
	acme, _ := openStream(t, base, "", "Authorization", "Bearer key-acme")
	beta, _ := openStream(t, base, "", "Authorization", "Bearer key-beta")
	if r := do(t, srv, "POST", "/alerts/ep-firing/ack", `{"expires_in":"30m"}`, bearer("key-acme")...); r.status != 201 {
		t.Fatalf("ack: %d %s", r.status, r.body)
	}
	f := acme.next(30*time.Second, false)
	var act store.Activity
	if err := json.Unmarshal([]byte(f.data), &act); err != nil || f.event != "activity" || act.Kind != "ack" || act.EpisodeID != "ep-firing" ||
		act.Actor != "holder of acme" || act.ExpiresAt == nil || f.id == "" {
		t.Fatalf("frame %+v", f)
	}
	select {
	case f := <-beta.frames:
		if f.event != "" {
			t.Fatalf("another tenant's stream got %+v", f)
		}
	default:
	}
}

// An episode on the stream that the sink has not written yet can be
// acknowledged already (the dashboard shows it at once); not by another
// tenant.
func TestAckOfAnEpisodeOnlyOnTheStream(t *testing.T) {
	t.Parallel()
	srv, _, hub := activityServer(t)
	hub.Publish(alertEv(0, 0, "acme", "web-2", "ep-live", "firing", "critical"))
	if r := do(t, srv, "POST", "/alerts/ep-live/ack", ``, bearer("key-beta")...); r.status != 404 {
		t.Fatalf("another tenant's ack: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "POST", "/alerts/ep-live/ack", ``, bearer("key-acme")...); r.status != 201 {
		t.Fatalf("ack: %d %s", r.status, r.body)
	}
}
