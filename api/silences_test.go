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

type silenceBody struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	Status    string    `json:"status"`
}

func silenceServer(t *testing.T, keys *api.KeyRing) *api.Server {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return api.New(api.Options{Store: s, Silences: s, Keys: keys, Logger: quiet})
}

func TestSilencesAPI(t *testing.T) {
	srv := silenceServer(t, nil)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	create := func(tenant, body string) fullResponse {
		t.Helper()
		return do(t, srv, "POST", "/silences"+tenant, body, "Content-Type", "application/json")
	}
	resp := create("", `{"tenant":"acme","matchers":["alertname=HighCPU","{host=~\"web-.*\"}"],"ends_at":"`+future+`","created_by":"alice","comment":"upgrade"}`)
	if resp.status != 201 {
		t.Fatalf("create: %d %s", resp.status, resp.body)
	}
	var sil silenceBody
	if err := json.Unmarshal(resp.body, &sil); err != nil {
		t.Fatal(err)
	}
	if sil.ID == "" || sil.Tenant != "acme" || strings.Join(sil.Matchers, " ") != `alertname="HighCPU" host=~"web-.*"` ||
		sil.Status != "active" || sil.CreatedBy != "alice" || sil.Comment != "upgrade" || time.Since(sil.StartsAt) > time.Minute {
		t.Fatalf("created %+v", sil)
	}
	if loc := resp.header.Get("Location"); loc != "/silences/"+sil.ID+"?tenant=acme" {
		t.Fatalf("Location %q", loc)
	}
	// A pending one, through the tenant parameter; one of another tenant.
	later := time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)
	if r := create("?tenant=acme", `{"matchers":["host=\"db-1\""],"starts_at":"`+later+`","ends_at":"`+future+`","created_by":"bob","comment":"c"}`); r.status != 201 {
		t.Fatalf("create pending: %d %s", r.status, r.body)
	}
	if r := create("", `{"tenant":"other","matchers":["host=\"x\""],"ends_at":"`+future+`","created_by":"eve","comment":"c"}`); r.status != 201 {
		t.Fatalf("create other: %d %s", r.status, r.body)
	}

	list := func(query string) []silenceBody {
		t.Helper()
		r := get(t, srv, "/silences"+query)
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", query, r.status, r.body)
		}
		var out struct {
			Tenant   string
			Silences []silenceBody
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Silences
	}
	if got := list("?tenant=acme"); len(got) != 2 || got[0].Status != "pending" || got[1].ID != sil.ID {
		t.Fatalf("acme's silences %+v", got)
	}
	if got := list("?tenant=acme&status=active"); len(got) != 1 || got[0].ID != sil.ID {
		t.Fatalf("active %+v", got)
	}
	if got := list("?tenant=other"); len(got) != 1 || got[0].Tenant != "other" {
		t.Fatalf("other's %+v", got)
	}

	// Expire: another tenant's silence is not found; twice is fine.
	if r := do(t, srv, "DELETE", "/silences/"+sil.ID+"?tenant=other", ""); r.status != 404 || r.ctype != "application/problem+json" {
		t.Fatalf("expire through another tenant: %d %s", r.status, r.body)
	}
	for range 2 {
		r := do(t, srv, "DELETE", "/silences/"+sil.ID+"?tenant=acme", "")
		var e silenceBody
		_ = json.Unmarshal(r.body, &e)
		if r.status != 200 || e.Status != "expired" || e.EndsAt.After(time.Now()) {
			t.Fatalf("expire: %d %s", r.status, r.body)
		}
	}
	if got := list("?tenant=acme&status=expired"); len(got) != 1 || got[0].ID != sil.ID {
		t.Fatalf("expired %+v", got)
	}

	bad := []struct {
		method, target, body string
		status               int
		detail               string
	}{
		{"POST", "/silences", `{"tenant":"acme","ends_at":"` + future + `","created_by":"a","comment":"c"}`, 400, "matchers: at least one is required"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["team=~\".*\""],"ends_at":"` + future + `","created_by":"a","comment":"c"}`, 400, "must not match an empty value"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a~b"],"ends_at":"` + future + `","created_by":"a","comment":"c"}`, 400, "matchers[0]: matchers \"a~b\": expected =, !=, =~ or !~ after a"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a=b"],"created_by":"a","comment":"c"}`, 400, "ends_at: is required"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a=b"],"starts_at":"` + future + `","ends_at":"` + later + `","created_by":"a","comment":"c"}`, 400, "must be after starts_at"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a=b"],"starts_at":"2020-01-01T00:00:00Z","ends_at":"2020-01-02T00:00:00Z","created_by":"a","comment":"c"}`, 400, "is in the past"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a=b"],"ends_at":"` + future + `","comment":"c"}`, 400, "created_by: is required"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a=b"],"ends_at":"` + future + `","created_by":"a\u0000","comment":"c"}`, 400, "created_by: not valid UTF-8 text without NUL bytes"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a=b"],"ends_at":"` + future + `","created_by":"a","comment":"c","matcher":[]}`, 400, `unknown field "matcher"`},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a=b"],"ends_at":"soon","created_by":"a","comment":"c"}`, 400, "the body is not a silence"},
		{"POST", "/silences", `{"tenant":"acme","matchers":["a=b"],"ends_at":"` + future + `","created_by":"a","comment":"c"} {}`, 400, "more than one JSON value"},
		{"POST", "/silences?tenant=other", `{"tenant":"acme","matchers":["a=b"],"ends_at":"` + future + `","created_by":"a","comment":"c"}`, 400, "differs from the tenant parameter"},
		{"POST", "/silences", `{"matchers":["a=b"],"ends_at":"` + future + `","created_by":"a","comment":"c"}`, 400, "tenant is required"},
		{"POST", "/silences?bogus=1", `{}`, 400, `unknown parameter "bogus"`},
		{"GET", "/silences?tenant=acme&status=firing", "", 400, `unknown status "firing"`},
		{"GET", "/silences", "", 400, "tenant is required"},
		{"DELETE", "/silences/00000000-0000-0000-0000-000000000000?tenant=acme", "", 404, "tenant acme has no silence"},
		{"DELETE", "/silences/not%20an%20id?tenant=acme", "", 400, "is not an id"},
	}
	for _, b := range bad {
		r := do(t, srv, b.method, b.target, b.body, "Content-Type", "application/json")
		var p api.Problem
		_ = json.Unmarshal(r.body, &p)
		if r.status != b.status || r.ctype != "application/problem+json" || !strings.Contains(p.Detail, b.detail) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", b.method, b.target, b.body, r.status, r.body, b.status, b.detail)
		}
	}
}

// With keys, a tenant key creates, lists and expires its own tenant's
// silences only.
func TestSilencesAccess(t *testing.T) {
	srv := silenceServer(t, keysFor(t, "acme", "other"))
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	body := func(tenant string) string {
		return `{"tenant":"` + tenant + `","matchers":["a=b"],"ends_at":"` + future + `","created_by":"a","comment":"c"}`
	}
	if r := do(t, srv, "POST", "/silences", body("acme")); r.status != 401 {
		t.Fatalf("no key: %d", r.status)
	}
	if r := do(t, srv, "POST", "/silences", body("other"), bearer("key-acme")...); r.status != 403 {
		t.Fatalf("acme's key creating other's: %d %s", r.status, r.body)
	}
	r := do(t, srv, "POST", "/silences", `{"matchers":["a=b"],"ends_at":"`+future+`","created_by":"a","comment":"c"}`, bearer("key-acme")...)
	var sil silenceBody
	if err := json.Unmarshal(r.body, &sil); r.status != 201 || err != nil || sil.Tenant != "acme" {
		t.Fatalf("acme's key, no tenant: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "GET", "/silences?tenant=acme", "", bearer("key-other")...); r.status != 403 {
		t.Fatalf("other's key listing acme: %d", r.status)
	}
	if r := do(t, srv, "DELETE", "/silences/"+sil.ID+"?tenant=acme", "", bearer("key-other")...); r.status != 403 {
		t.Fatalf("other's key expiring acme's: %d", r.status)
	}
	if r := do(t, srv, "DELETE", "/silences/"+sil.ID, "", bearer("key-other")...); r.status != 404 {
		t.Fatalf("other's key expiring acme's silence as its own: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "DELETE", "/silences/"+sil.ID, "", bearer("key-admin")...); r.status != 400 {
		t.Fatalf("admin without tenant: %d", r.status)
	}
	if r := do(t, srv, "DELETE", "/silences/"+sil.ID+"?tenant=acme", "", bearer("key-admin")...); r.status != 200 {
		t.Fatalf("admin expiring: %d %s", r.status, r.body)
	}
}

// Without a silence store the routes answer 503.
func TestSilencesUnavailable(t *testing.T) {
	srv := api.New(api.Options{Logger: quiet})
	if r := get(t, srv, "/silences?tenant=acme"); r.status != 503 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
