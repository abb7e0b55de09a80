package api_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// feedHub hands the alert feed's reading to a hub, as a replica wires it.
type feedHub struct{ *api.Hub }

func (h feedHub) Init(start []int64, since time.Time) { h.Hub.Init(start, since) }

// activityReplica is one replica's API: its own hub fed by its own alert
// feed, its own producer, the shared PostgreSQL.
func activityReplica(t *testing.T, addrs []string, db *store.Store) (*api.Server, string) {
	t.Helper()
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	kafka := processors.Kafka{Brokers: addrs}
	feed, err := processors.NewAlertFeed(processors.AlertFeedOptions{Kafka: kafka, Target: feedHub{hub}, Activity: hub, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewProducer("api")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer hub.Close()
		if err := feed.Run(ctx); err != nil {
			t.Errorf("alert feed: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		prod.Close()
	})
	select {
	case <-hub.Ready():
	case <-time.After(time.Minute):
		t.Fatal("the alert feed did not catch up")
	}
	srv := api.New(api.Options{Store: db, Alerts: db, Hub: hub, Producer: prod, Keys: keysFor(t, "acme", "beta"), Logger: quiet, Heartbeat: time.Hour})
	return srv, serve(t, srv)
}

// nextActivity returns the next activity event of c, decoded.
func nextActivity(t *testing.T, c *sseClient) store.Activity {
	t.Helper()
	for {
		f := c.next(30*time.Second, false)
		if f.event != "activity" {
			continue
		}
		var a store.Activity
		if err := json.Unmarshal([]byte(f.data), &a); err != nil {
			t.Fatalf("activity frame %+v: %v", f, err)
		}
		return a
	}
}

// An ack taken by one replica shows on the streams of every replica, once
// each (the replica that took it included); another tenant's streams see
// none of it.
func TestActivityReachesEveryReplica(t *testing.T) {
	t.Parallel()
	brokertest.NeedsBroker(t)
	db := activityDB(t)
	b := brokertest.Start(t, broker.Options{Logger: quiet})
	defer b.Close()
	if _, err := broker.EnsureTopics(context.Background(), b.Addrs(), tables.DefaultLayout(), 1); err != nil {
		t.Fatal(err)
	}
	srvA, baseA := activityReplica(t, b.Addrs(), db)
	srvB, baseB := activityReplica(t, b.Addrs(), db)
	acmeA, _ := openStream(t, baseA, "", bearer("key-acme")...)
	acmeB, _ := openStream(t, baseB, "?tenant=acme", bearer("key-acme")...)
	betaA, _ := openStream(t, baseA, "", bearer("key-beta")...)
	betaB, _ := openStream(t, baseB, "", bearer("key-beta")...)

	r := do(t, srvA, "POST", "/alerts/ep-firing/ack", `{"comment":"looking"}`, bearer("key-acme")...)
	if r.status != 201 {
		t.Fatalf("ack on A: %d %s", r.status, r.body)
	}
	var ack store.Activity
	if err := json.Unmarshal(r.body, &ack); err != nil {
		t.Fatal(err)
	}
	// A note taken by B follows: the next activity each stream gets after
	// the ack is the note, so the ack came once.
	if r := do(t, srvB, "POST", "/alerts/ep-firing/notes", `{"text":"fan replaced"}`, bearer("key-acme")...); r.status != 201 {
		t.Fatalf("note on B: %d %s", r.status, r.body)
	}
	for name, c := range map[string]*sseClient{"A": acmeA, "B": acmeB} {
		got := nextActivity(t, c)
		if got.ID != ack.ID || got.Kind != "ack" || got.EpisodeID != "ep-firing" || got.Note != "looking" || got.Actor != "holder of acme" {
			t.Fatalf("acme's stream on %s: first activity %+v, want the ack %+v", name, got, ack)
		}
		if got := nextActivity(t, c); got.Kind != "note" || got.Note != "fan replaced" {
			t.Fatalf("acme's stream on %s: second activity %+v, want the note", name, got)
		}
	}
	// beta's own note comes to beta's streams on both replicas, and nothing
	// of acme's before it.
	if r := do(t, srvB, "POST", "/alerts/ep-beta/notes", `{"text":"beta's own"}`, bearer("key-beta")...); r.status != 201 {
		t.Fatalf("beta's note: %d %s", r.status, r.body)
	}
	for name, c := range map[string]*sseClient{"A": betaA, "B": betaB} {
		if got := nextActivity(t, c); got.Tenant != "beta" || got.Note != "beta's own" {
			t.Fatalf("beta's stream on %s got %+v", name, got)
		}
	}
}

// When the broker does not take the activity, the audit row stays, the
// answer says only this replica's streams were told, and they are, once.
func TestActivityPublishFailureKeepsTheRow(t *testing.T) {
	t.Parallel()
	db := activityDB(t)
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	srv := api.New(api.Options{Store: db, Alerts: db, Hub: hub, Producer: &fakeProducer{fail: true}, Keys: keysFor(t, "acme", "beta"),
		Logger: quiet, Heartbeat: time.Hour})
	acme, _ := openStream(t, serve(t, srv), "", bearer("key-acme")...)
	r := do(t, srv, "POST", "/alerts/ep-firing/assign", `{"assignee":"alice"}`, bearer("key-acme")...)
	var got struct {
		store.Activity
		StreamWarning string `json:"stream_warning"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != 201 || got.Assignee != "alice" || got.StreamWarning == "" {
		t.Fatalf("assign with the broker down: %d %s", r.status, r.body)
	}
	trail, err := db.AlertActivity(context.Background(), "acme", "ep-firing")
	if err != nil || len(trail) != 1 || trail[0].ID != got.ID {
		t.Fatalf("audit trail %+v, %v", trail, err)
	}
	if a := nextActivity(t, acme); a.ID != got.ID {
		t.Fatalf("stream got %+v", a)
	}
	// The hub sends one activity once, however often it comes.
	hub.PublishActivity(tables.ActivityRecord{Tenant: "acme", EpisodeID: "ep-firing", Host: "web-1", State: "firing", ID: got.ID,
		Activity: []byte(`{"id":1}`)})
	if r := do(t, srv, "POST", "/alerts/ep-firing/notes", `{"text":"next"}`, bearer("key-acme")...); r.status != 201 {
		t.Fatalf("note: %d %s", r.status, r.body)
	}
	if a := nextActivity(t, acme); a.Note != "next" {
		t.Fatalf("stream got %+v after the assignment, want the note", a)
	}
}
