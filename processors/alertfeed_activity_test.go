package processors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/tables"
)

// activityTarget records the activity the alert feed hands over.
type activityTarget struct {
	mu  sync.Mutex
	got []tables.ActivityRecord
}

func (a *activityTarget) PublishActivity(r tables.ActivityRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, r)
}

func (a *activityTarget) ids() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int64
	for _, r := range a.got {
		out = append(out, r.ID)
	}
	return out
}

// The feed reads ops.alert.activity.v1 from where it ended when the feed
// started (activity is live), skips a record that is not an activity, and
// hands over the others.
func TestAlertFeedReadsActivityFromItsEnd(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	ctx := context.Background()
	if _, err := broker.EnsureTopics(ctx, b.Addrs(), tables.DefaultLayout(), 1); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	activity := func(id int64) *kgo.Record {
		v, err := tables.EncodeActivity(tables.ActivityRecord{Tenant: "acme", EpisodeID: "e1", Host: "h", State: "firing", ID: id,
			Activity: []byte(fmt.Sprintf(`{"id":%d,"kind":"note"}`, id))})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: tables.ActivityTopic, Key: []byte(tables.ActivityKey("acme", "e1")), Value: v}
	}
	if err := cl.ProduceSync(ctx, activity(1)).FirstErr(); err != nil {
		t.Fatal(err)
	}

	to, at := &feedTarget{readyAt: -1}, &activityTarget{}
	stop := runFeed(t, AlertFeedOptions{Kafka: Kafka{Brokers: b.Addrs()}, Target: to, Activity: at})
	eventually(t, time.Minute, "the feed is ready", func() error {
		if _, ready := to.records(); ready < 0 {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	bad := &kgo.Record{Topic: tables.ActivityTopic, Key: []byte(tables.ActivityKey("acme", "e1")), Value: []byte(`{"tenant":"acme"}`)}
	if err := cl.ProduceSync(ctx, bad, activity(2), activity(3)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the activity written after the start", func() error {
		if got := at.ids(); len(got) < 2 {
			return fmt.Errorf("%v", got)
		}
		return nil
	})
	stop()
	if got := fmt.Sprint(at.ids()); got != "[2 3]" {
		t.Fatalf("handed over activity %s, want [2 3] (not 1, written before the start; not the bad record)", got)
	}
	if got, _ := to.records(); len(got) != 0 {
		t.Fatalf("activity handed over as alert records: %+v", got)
	}
}

// Without ops.alert.activity.v1 (a broker whose topics were made before
// it was), the feed serves the alerts all the same.
func TestAlertFeedWithoutTheActivityTopic(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, tables.AlertsTopic); err != nil {
		t.Fatal(err)
	}
	to := &feedTarget{readyAt: -1}
	stop := runFeed(t, AlertFeedOptions{Kafka: Kafka{Brokers: b.Addrs()}, Target: to, Activity: &activityTarget{}})
	v := `{"tenant":"acme","host":"h","severity":"critical","state":"firing","episode_id":"e1"}`
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tables.AlertsTopic, Value: []byte(v)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the feed is ready and reads the alert", func() error {
		if got, ready := to.records(); ready < 0 || len(got) == 0 {
			return fmt.Errorf("ready after %d, %d records", ready, len(got))
		}
		return nil
	})
	stop()
}

// runFeed runs an alert feed of opts (quiet) until stop, which checks
// that it ended well.
func runFeed(t *testing.T, opts AlertFeedOptions) (stop func()) {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	feed, err := NewAlertFeed(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- feed.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
	}
}
