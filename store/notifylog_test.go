package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// Maintenance keeps the notification history as long as the metrics, and
// drops the flapping states that say nothing any more (not flapping, no
// change for a week); a flapping alert's state stays.
func TestMaintainPrunesNotifyState(t *testing.T) {
	storetest.NeedsPostgreSQL(t)
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	at := now
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Retention: 72 * time.Hour, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	entry := func(ep string, age time.Duration) store.LogEntry {
		return store.LogEntry{Tenant: "acme", EpisodeID: ep, State: "firing", AlertName: "A", Receiver: "ops", Integration: "webhook/0",
			Outcome: store.OutcomeSent, Reason: "status 200", At: now.Add(-age)}
	}
	if err := s.LogNotifications(ctx, []store.LogEntry{entry("old", 4*24*time.Hour), entry("new", time.Hour)}); err != nil {
		t.Fatal(err)
	}
	at = now.Add(-8 * 24 * time.Hour)
	for fp, flapping := range map[string]bool{"settled": false, "flapping": true} {
		if err := s.SetFlapState(ctx, "acme", fp, []byte(`{}`), flapping); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetFlapState(ctx, "acme", "recent", []byte(`{}`), false); err != nil {
		t.Fatal(err)
	}
	at = now
	if err := s.SetFlapState(ctx, "acme", "recent", []byte(`{}`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Maintain(ctx, now); err != nil {
		t.Fatal(err)
	}
	log, _, err := s.QueryNotificationLog(ctx, store.LogQuery{Tenant: "acme"})
	if err != nil || len(log) != 1 || log[0].EpisodeID != "new" {
		t.Fatalf("log after maintenance %+v %v", log, err)
	}
	for fp, want := range map[string]bool{"settled": false, "flapping": true, "recent": true} {
		st, err := s.FlapState(ctx, "acme", fp)
		if err != nil || (st != nil) != want {
			t.Errorf("flapping state %s: %s %v, want kept %v", fp, st, err, want)
		}
	}
	if fs, err := s.FlappingAlerts(ctx, 10); err != nil || len(fs) != 1 || fs[0].Fingerprint != "flapping" {
		t.Fatalf("flapping alerts %+v %v", fs, err)
	}
}
