package api_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

type flappingPage struct {
	Tenant string `json:"tenant"`
	Alerts []struct {
		Fingerprint string            `json:"fingerprint"`
		Labels      map[string]string `json:"labels"`
		Status      string            `json:"status"`
		Changes     int               `json:"changes"`
		Window      string            `json:"window"`
		LastChange  time.Time         `json:"last_change"`
		SettlesAt   time.Time         `json:"settles_at"`
		UpdatedAt   time.Time         `json:"updated_at"`
	} `json:"alerts"`
}

// GET /flapping lists the alerts the notify stage holds as flapping, with
// their labels, as it recorded them, and never another tenant's: two
// tenants' alerts with one fingerprint are each their own, a tenant key
// asking for another tenant is refused, and an alert that settled is not
// listed.
func TestFlappingAlerts(t *testing.T) {
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
	// The notify stage's state of an alert that changed state changes
	// times, a minute apart from t0.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	policy := notify.FlapPolicy{Changes: 4, Window: time.Hour}
	record := func(tenant, host string, changes int) {
		t.Helper()
		labels := map[string]string{"alertname": "HighCPU", "tenant": tenant, "host": host, "severity": "critical"}
		var st notify.FlapState
		for i := range changes {
			status := notify.StatusFiring
			if i%2 == 1 {
				status = notify.StatusResolved
			}
			st, _ = policy.Observe(st, notify.Alert{Status: status, Labels: labels}, t0.Add(time.Duration(i)*time.Minute))
		}
		body, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetFlapState(ctx, tenant, notify.Fingerprint(map[string]string{"alertname": "HighCPU", "host": host}), body, st.Flapping); err != nil {
			t.Fatal(err)
		}
	}
	record("acme", "web-1", 5)
	record("acme", "web-2", 2) // not flapping
	record("globex", "web-1", 4)
	srv := api.New(api.Options{Store: s, Keys: keysFor(t, "acme", "globex"), Logger: quiet})
	get := func(target, key string) (flappingPage, int) {
		t.Helper()
		r := do(t, srv, "GET", target, "", bearer(key)...)
		var p flappingPage
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
		}
		return p, r.status
	}
	p, status := get("/flapping", "key-acme")
	if status != 200 || p.Tenant != "acme" || len(p.Alerts) != 1 {
		t.Fatalf("%d: %+v", status, p)
	}
	a := p.Alerts[0]
	if a.Labels["tenant"] != "acme" || a.Labels["host"] != "web-1" || a.Status != "firing" || a.Changes != 4 || a.Window != "1h" ||
		!a.LastChange.Equal(t0.Add(4*time.Minute)) || !a.SettlesAt.Equal(t0.Add(64*time.Minute)) || a.UpdatedAt.IsZero() {
		t.Fatalf("acme's flapping alert %+v", a)
	}
	if _, status := get("/flapping?tenant=globex", "key-acme"); status != 403 {
		t.Fatalf("acme's key read globex's flapping alerts: %d", status)
	}
	p, status = get("/flapping", "key-globex")
	if status != 200 || len(p.Alerts) != 1 || p.Alerts[0].Labels["tenant"] != "globex" || p.Alerts[0].Status != "resolved" {
		t.Fatalf("globex: %d %+v", status, p)
	}
	if _, status := get("/flapping?tenant=acme&host=web-1", "key-acme"); status != 400 {
		t.Fatalf("an unknown parameter: %d", status)
	}
}
