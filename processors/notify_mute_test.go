package processors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// fakeClock is a clock a test moves: its timers fire when Advance passes
// their time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c           *fakeClock
	at          time.Time
	f           func()
	done, fired bool
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) actors.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	if d <= 0 {
		t.done = true
		go f()
	}
	return t
}

// Advance moves the clock on by d and runs the timers due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		go f()
	}
}

// A firing transition read from the broker while its route is in a
// mute_time_intervals window is logged in PostgreSQL as muted and held
// (its input not committed); when the clock reaches the window's end it is
// sent, and logged as sent. Time is passed in, not waited for.
func TestNotifyMuteTimeIntervalHoldsAndReleases(t *testing.T) {
	storetest.NeedsPostgreSQL(t)
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	if _, err := broker.EnsureTopics(ctx, b.Addrs(), tables.Layout{Partitions: 2, DLQPartitions: 1, RetentionMs: 3600_000}, 1); err != nil {
		t.Fatal(err)
	}
	hook := newHookServer(t)
	cfg, err := notify.Parse([]byte(`
route:
  receiver: ops
  group_by: [host]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
  routes:
    - matchers: ['alertname="Hot"']
      mute_time_intervals: [nightly]
receivers:
  - name: ops
    webhook_configs:
      - url: ` + hook.srv.URL + `
time_intervals:
  - name: nightly
    time_intervals:
      - times: [{start_time: '00:00', end_time: '01:00'}]
`))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 3, 7, 0, 30, 0, 0, time.UTC)}
	log := slog.New(slog.DiscardHandler)
	system := actors.NewSystem(log)
	defer system.Shutdown()
	n := actors.NewNotifier(system, actors.NotifierOptions{Config: cfg, Store: st, Logger: log, Now: clock.Now, AfterFunc: clock.AfterFunc})
	k := processors.Kafka{Brokers: b.Addrs(), Logger: log, ClientID: "mute"}
	stage, err := processors.NewNotify(processors.NotifyOptions{Kafka: k, Target: n, Producer: &fakeProducer{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 2)
	assigned := make(chan struct{}, 16)
	go func() {
		ran <- stage.Run(runCtx, goka.WithRebalanceCallback(func(a goka.Assignment) {
			if len(a) > 0 {
				assigned <- struct{}{}
			}
		}))
	}()
	go func() { ran <- n.Run(runCtx) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-ran; err != nil {
				t.Errorf("stopped with %v", err)
			}
		}
	}()
	select {
	case <-assigned:
	case <-time.After(time.Minute):
		t.Fatal("the notify stage never got its partitions")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgotables.Partitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	at := rules.Timestamp(clock.Now().UnixMilli())
	v, _ := json.Marshal(rules.Transition{AlertName: "Hot", Tenant: "acme", Host: "h1", State: rules.StateFiring, Severity: "critical",
		Labels:    map[string]string{"alertname": "Hot", "tenant": "acme", "host": "h1", "severity": "critical"},
		EpisodeID: "ep-h1", ActiveAt: at, StartsAt: at, At: at})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tables.AlertsTopic, Key: []byte(tables.SourceKey("acme", "h1")), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	logged := func(outcome string) func() error {
		return func() error {
			es, _, err := st.QueryNotificationLog(ctx, store.LogQuery{Tenant: "acme", EpisodeID: "ep-h1"})
			if err != nil {
				return err
			}
			for _, e := range es {
				if e.Outcome == outcome {
					if outcome == store.OutcomeMuted && e.Reason != "in mute_time_intervals nightly" {
						return fmt.Errorf("reason %q", e.Reason)
					}
					return nil
				}
			}
			return fmt.Errorf("no %s entry in %+v", outcome, es)
		}
	}
	waitFor(t, time.Minute, "the muted entry", logged(store.OutcomeMuted))
	if got := hook.counts(); len(got) != 0 || n.Queued() != 1 {
		t.Fatalf("in the window: sent %v, %d held", got, n.Queued())
	}
	clock.Advance(29 * time.Minute)
	if got := hook.counts(); len(got) != 0 {
		t.Fatalf("sent %v a minute before the window ends", got)
	}
	clock.Advance(time.Minute)
	waitFor(t, time.Minute, "sent at the window's end", func() error {
		if got := hook.counts()["h1 firing"]; got != 1 || n.Queued() != 0 {
			return fmt.Errorf("sent %v, %d held", hook.counts(), n.Queued())
		}
		return logged(store.OutcomeSent)()
	})
}
