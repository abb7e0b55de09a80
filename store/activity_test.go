package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// An ack holds until it expires; an ack again with the same expiry is the
// same ack, another expiry replaces it, and every ack given is audited.
func TestAcksHoldUntilTheyExpire(t *testing.T) {
	storetest.NeedsPostgreSQL(t)
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	s := clockedStore(t, c)
	exp := t0.Add(time.Hour)
	ack := func(e *time.Time) (store.Activity, bool) {
		t.Helper()
		a, created, err := s.AddActivity(ctx, store.Activity{Tenant: "acme", EpisodeID: "ep1", Kind: store.ActivityAck, Actor: "alice", ExpiresAt: e})
		if err != nil {
			t.Fatal(err)
		}
		return a, created
	}
	acked := func(at time.Time) map[string]time.Time {
		t.Helper()
		m, err := s.Acknowledged(ctx, "acme", []string{"ep1", "ep2"}, at)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first, created := ack(&exp)
	if !created || first.Actor != "alice" || !first.At.Equal(t0) {
		t.Fatalf("first ack %+v created %v", first, created)
	}
	if again, created := ack(&exp); created || again.ID != first.ID {
		t.Fatalf("the same ack again made %+v (created %v)", again, created)
	}
	if m := acked(t0.Add(59 * time.Minute)); len(m) != 1 || !m["ep1"].Equal(exp) {
		t.Fatalf("acks before the expiry: %v", m)
	}
	if m := acked(exp); len(m) != 0 {
		t.Fatalf("acks at the expiry: %v", m)
	}
	if m, _ := s.Acknowledged(ctx, "beta", []string{"ep1"}, t0); len(m) != 0 {
		t.Fatalf("another tenant's episode of that id is acknowledged: %v", m)
	}
	// After it expired, an ack with the same expiry is a new one; one
	// until resolved replaces it.
	c.set(exp.Add(time.Minute))
	if _, created := ack(&exp); !created {
		t.Fatal("an ack after the last expired was not recorded")
	}
	if _, created := ack(nil); !created {
		t.Fatal("an ack until resolved did not replace the one with an expiry")
	}
	if m := acked(exp.Add(1000 * time.Hour)); len(m) != 1 || !m["ep1"].IsZero() {
		t.Fatalf("acks until resolved: %v", m)
	}
	list, err := s.AlertActivity(ctx, "acme", "ep1")
	if err != nil || len(list) != 3 {
		t.Fatalf("audit trail %+v %v", list, err)
	}
}
