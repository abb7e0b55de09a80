package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

type notificationsPage struct {
	Tenant        string           `json:"tenant"`
	Notifications []store.LogEntry `json:"notifications"`
	NextCursor    string           `json:"next_cursor"`
}

// GET /notifications shows every outcome of a tenant's notifications, with
// why, a page at a time, and never another tenant's: a tenant key asking
// for another tenant is refused, and an episode ID both tenants have
// shows each only its own.
func TestNotificationHistory(t *testing.T) {
	storetest.NeedsPostgreSQL(t)
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var es []store.LogEntry
	for i, o := range store.NotificationOutcomes() {
		for _, tenant := range []string{"acme", "globex"} {
			es = append(es, store.LogEntry{Tenant: tenant, EpisodeID: "e1", State: "firing", AlertName: "HighCPU", Receiver: "ops",
				Integration: "webhook/0", Outcome: o, Reason: tenant + " " + o, At: at.Add(time.Duration(i) * time.Second), Dedup: o})
		}
	}
	// A decision logged again (its transition read twice) is one entry.
	if err := s.LogNotifications(ctx, append(es, es[0])); err != nil {
		t.Fatal(err)
	}
	if err := s.LogNotifications(ctx, es[:1]); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Store: s, Keys: keysFor(t, "acme", "globex"), Logger: quiet})
	get := func(target, key string) (notificationsPage, int) {
		t.Helper()
		r := do(t, srv, "GET", target, "", bearer(key)...)
		var p notificationsPage
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
		}
		return p, r.status
	}
	p, status := get("/notifications", "key-acme")
	if status != 200 || p.Tenant != "acme" || len(p.Notifications) != 7 {
		t.Fatalf("%d: %+v", status, p)
	}
	seen := map[string]bool{}
	for _, e := range p.Notifications {
		if e.Tenant != "acme" || e.Reason != "acme "+e.Outcome {
			t.Fatalf("entry %+v", e)
		}
		seen[e.Outcome] = true
	}
	if len(seen) != 7 || p.Notifications[0].Outcome != "refused" {
		t.Fatalf("outcomes %v, newest first %s", seen, p.Notifications[0].Outcome)
	}
	if _, status := get("/notifications?tenant=globex", "key-acme"); status != 403 {
		t.Fatalf("acme's key read globex's history: %d", status)
	}
	// Pages of 3, with the cursor; a cursor with other filters is refused.
	var all []store.LogEntry
	target := "/notifications?tenant=globex&episode=e1&limit=3"
	for range 5 {
		p, status := get(target, "key-admin")
		if status != 200 {
			t.Fatalf("%s: %d", target, status)
		}
		all = append(all, p.Notifications...)
		if p.NextCursor == "" {
			break
		}
		target = "/notifications?tenant=globex&episode=e1&limit=3&cursor=" + url.QueryEscape(p.NextCursor)
		if _, status := get("/notifications?tenant=globex&receiver=ops&limit=3&cursor="+url.QueryEscape(p.NextCursor), "key-admin"); status != 400 {
			t.Fatalf("cursor of another query: %d", status)
		}
	}
	if len(all) != 7 || all[6].Outcome != "sent" || all[0].Tenant != "globex" {
		t.Fatalf("pages %+v", all)
	}
	if p, _ := get("/notifications?tenant=acme&receiver=nobody", "key-admin"); len(p.Notifications) != 0 {
		t.Fatalf("receiver filter %+v", p)
	}
}
