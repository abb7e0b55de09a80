package store_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// clock is a settable store clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func clockedStore(t *testing.T, c *clock) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Now: c.now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSilencesLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	s := clockedStore(t, c)

	mk := func(tenant string, from, to time.Duration, matchers ...string) store.Silence {
		t.Helper()
		sil, err := s.CreateSilence(ctx, store.Silence{Tenant: tenant, Matchers: matchers, StartsAt: t0.Add(from), EndsAt: t0.Add(to),
			CreatedBy: "alice", Comment: "maintenance"})
		if err != nil {
			t.Fatal(err)
		}
		return sil
	}
	active := mk("acme", 0, time.Hour, `alertname="HighCPU"`, `host=~"web-.*"`)
	pending := mk("acme", 30*time.Minute, 2*time.Hour, `host="db-1"`)
	other := mk("other", 0, time.Hour, `alertname="HighCPU"`)
	if active.ID == "" || active.Tenant != "acme" || len(active.Matchers) != 2 || active.Matchers[1] != `host=~"web-.*"` ||
		!active.StartsAt.Equal(t0) || !active.EndsAt.Equal(t0.Add(time.Hour)) || active.CreatedBy != "alice" || active.Comment != "maintenance" {
		t.Fatalf("created %+v", active)
	}
	if _, err := s.CreateSilence(ctx, store.Silence{Tenant: "acme", Matchers: []string{`a="b"`}, StartsAt: t0, EndsAt: t0.Add(-time.Second)}); err == nil {
		t.Fatal("a silence ending before it starts was stored")
	}

	ids := func(ss []store.Silence) []string {
		var out []string
		for _, x := range ss {
			out = append(out, x.ID)
		}
		return out
	}
	same := func(what string, got []store.Silence, want ...store.Silence) {
		t.Helper()
		g, w := ids(got), ids(want)
		if len(g) != len(w) {
			t.Fatalf("%s: %v, want %v", what, g, w)
		}
		for i := range g {
			if g[i] != w[i] {
				t.Fatalf("%s: %v, want %v", what, g, w)
			}
		}
	}
	list := func(state string) []store.Silence {
		t.Helper()
		out, err := s.QuerySilences(ctx, store.SilenceQuery{Tenant: "acme", State: state})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Newest first; tenant-scoped.
	same("all", list(""), pending, active)
	same("active", list(store.SilenceActive), active)
	same("pending", list(store.SilencePending), pending)
	same("expired", list(store.SilenceExpired))
	at, err := s.ActiveSilences(ctx, "acme", t0.Add(45*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(at) != 2 {
		t.Fatalf("active at 10:45: %v", ids(at))
	}
	if at, _ := s.ActiveSilences(ctx, "other", t0); len(at) != 1 || at[0].ID != other.ID {
		t.Fatalf("other's silences %v", ids(at))
	}

	// Expiring: an active one ends now; a pending one never starts; an
	// expired one stays as it is; another tenant's is not found.
	c.set(t0.Add(10 * time.Minute))
	e, err := s.ExpireSilence(ctx, "acme", active.ID)
	if err != nil || !e.EndsAt.Equal(t0.Add(10*time.Minute)) || !e.StartsAt.Equal(t0) || e.State(c.now()) != store.SilenceExpired {
		t.Fatalf("expired %+v %v", e, err)
	}
	e, err = s.ExpireSilence(ctx, "acme", pending.ID)
	if err != nil || !e.EndsAt.Equal(t0.Add(10*time.Minute)) || !e.StartsAt.Equal(e.EndsAt) {
		t.Fatalf("expired pending %+v %v", e, err)
	}
	c.set(t0.Add(20 * time.Minute))
	again, err := s.ExpireSilence(ctx, "acme", active.ID)
	if err != nil || !again.EndsAt.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("expired twice %+v %v", again, err)
	}
	for _, id := range []string{other.ID, "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		if _, err := s.ExpireSilence(ctx, "acme", id); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("expire %s of acme: %v", id, err)
		}
	}
	same("expired after", list(store.SilenceExpired), pending, active)
	if at, _ := s.ActiveSilences(ctx, "acme", c.now()); len(at) != 0 {
		t.Fatalf("still active %v", ids(at))
	}
	if _, err := s.QuerySilences(ctx, store.SilenceQuery{Tenant: "acme", State: "bogus"}); err == nil {
		t.Fatal("unknown state accepted")
	}
}

func TestNotificationsRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := clockedStore(t, &clock{t: time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)})
	n := func(ep, state, recv, integ string) store.Notification {
		return store.Notification{EpisodeID: ep, State: state, Receiver: recv, Integration: integ, Tenant: "acme", GroupKey: "{}:{}", Fingerprint: "f"}
	}
	if err := s.RecordNotifications(ctx, []store.Notification{n("e1", "firing", "ops", "webhook/0"), n("e1", "firing", "ops", "webhook/1"),
		n("e1", "firing", "ops", "webhook/0"), n("e2", "firing", "ops", "webhook/0")}); err != nil {
		t.Fatal(err)
	}
	// Recording again (a replay) changes nothing.
	if err := s.RecordNotifications(ctx, []store.Notification{n("e1", "firing", "ops", "webhook/0"), n("e1", "resolved", "ops", "webhook/0")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.SentNotifications(ctx, "acme", "e1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[store.SentState]bool{{"ops", "webhook/0", "firing"}: true, {"ops", "webhook/1", "firing"}: true, {"ops", "webhook/0", "resolved"}: true}
	if len(got) != len(want) {
		t.Fatalf("sent %v", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Fatalf("sent %v", got)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM notifications`); n != 4 {
		t.Fatalf("%d rows", n)
	}
	if got, _ := s.SentNotifications(ctx, "acme", "e9"); len(got) != 0 {
		t.Fatalf("sent of unknown episode %v", got)
	}
	// Another tenant's records of the same episode ID are not its own.
	other := n("e1", "firing", "ops", "webhook/7")
	other.Tenant = "globex"
	if err := s.RecordNotifications(ctx, []store.Notification{other}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SentNotifications(ctx, "acme", "e1"); len(got) != len(want) {
		t.Fatalf("acme's episode e1 counts globex's records: %v", got)
	}
	if got, _ := s.SentNotifications(ctx, "globex", "e1"); len(got) != 1 || got[0].Integration != "webhook/7" {
		t.Fatalf("globex's episode e1: %v", got)
	}
	// A record of globex under the key of one of acme's is recorded too:
	// the tenant is part of the key.
	same := n("e1", "firing", "ops", "webhook/0")
	same.Tenant = "globex"
	if err := s.RecordNotifications(ctx, []store.Notification{same}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SentNotifications(ctx, "globex", "e1"); len(got) != 2 {
		t.Fatalf("globex's record under acme's key was dropped: %v", got)
	}
}
