package processors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// sentRecord is the notifications table in memory.
type sentRecord struct {
	mu   sync.Mutex
	sent map[string][]store.SentState
}

func (s *sentRecord) ActiveSilences(context.Context, string, time.Time) ([]store.Silence, error) {
	return nil, nil
}

func (s *sentRecord) SentNotifications(_ context.Context, _, episode string) ([]store.SentState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.SentState(nil), s.sent[episode]...), nil
}

func (s *sentRecord) RecordNotifications(_ context.Context, ns []store.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range ns {
		s.sent[n.EpisodeID] = append(s.sent[n.EpisodeID], store.SentState{Receiver: n.Receiver, Integration: n.Integration, State: n.State})
	}
	return nil
}

// The notifier's other state is not kept: no alert takes part in
// inhibition, and each transition finds its alert's flapping state empty.
func (s *sentRecord) FiringAlerts(context.Context, string, int) ([]store.FiringAlert, error) {
	return nil, nil
}
func (s *sentRecord) SetFiring(context.Context, string, string, []byte) error          { return nil }
func (s *sentRecord) LogNotifications(context.Context, []store.LogEntry) error         { return nil }
func (s *sentRecord) FlapState(context.Context, string, string) ([]byte, error)        { return nil, nil }
func (s *sentRecord) SetFlapState(context.Context, string, string, []byte, bool) error { return nil }
func (s *sentRecord) FlappingAlerts(context.Context, int) ([]store.FlapState, error)   { return nil, nil }
func (s *sentRecord) EndFlapping(context.Context, string, string, []byte, []byte) (bool, error) {
	return true, nil
}

// hookServer counts the notices it receives, by host and status.
type hookServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]int
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{got: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m notify.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %s: %v", b, err)
		}
		h.mu.Lock()
		for _, a := range m.Alerts {
			h.got[a.Labels["host"]+" "+a.Status]++
		}
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookServer) counts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for k, v := range h.got {
		out[k] = v
	}
	return out
}

// notifyMember is one replica's notify stage and notifier.
type notifyMember struct {
	name     string
	notifier *actors.Notifier
	cancel   context.CancelFunc
	ran      chan error
	assigned chan time.Time
}

func startNotifyMember(t *testing.T, k processors.Kafka, name, groupWait string, hook string, st actors.NotifyStore) *notifyMember {
	t.Helper()
	cfg, err := notify.Parse([]byte(`
route:
  receiver: ops
  group_by: [host]
  group_wait: ` + groupWait + `
  group_interval: 1h
  repeat_interval: 4h
receivers:
  - name: ops
    webhook_configs:
      - url: ` + hook + `
`))
	if err != nil {
		t.Fatal(err)
	}
	system := actors.NewSystem(k.Logger)
	n := actors.NewNotifier(system, actors.NotifierOptions{Config: cfg, Store: st, Logger: k.Logger})
	k.ClientID = name
	stage, err := processors.NewNotify(processors.NotifyOptions{Kafka: k, Target: n, Producer: &fakeProducer{}, Logger: k.Logger})
	if err != nil {
		t.Fatal(err)
	}
	m := &notifyMember{name: name, notifier: n, ran: make(chan error, 2), assigned: make(chan time.Time, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		m.ran <- stage.Run(ctx, goka.WithRebalanceCallback(func(a goka.Assignment) {
			if len(a) > 0 {
				m.assigned <- time.Now()
			}
		}))
	}()
	go func() { m.ran <- n.Run(ctx) }()
	t.Cleanup(func() {
		m.stop(t)
		system.Shutdown()
	})
	return m
}

// stop ends the stage and the notifier and fails the test if either
// returned an error.
func (m *notifyMember) stop(t *testing.T) {
	t.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	for range 2 {
		select {
		case err := <-m.ran:
			if err != nil {
				t.Errorf("%s stopped with %v", m.name, err)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s did not stop", m.name)
		}
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		<-time.After(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Firing transitions a replica holds for group_wait when its partitions are
// revoked are handed back at once, not held until goka gives up on them:
// the rebalance completes without an eviction, and the partitions' new
// owner notifies each of them exactly once; the old owner sends nothing.
func TestNotifyRevokedPartitionsHandBackHeldTransitions(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	ctx := context.Background()
	if _, err := broker.EnsureTopics(ctx, b.Addrs(), tables.Layout{Partitions: 4, DLQPartitions: 1, RetentionMs: 3600_000}, 1); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// A grace far longer than a hand-back at once takes, so that the
	// rebalance's duration shows which of the two happened.
	k := processors.Kafka{Brokers: b.Addrs(), HandBackGrace: 20 * time.Second, Logger: log}
	hook := newHookServer(t)
	st := &sentRecord{sent: map[string][]store.SentState{}}

	// a holds every firing for an hour.
	a := startNotifyMember(t, k, "a", "1h", hook.srv.URL, st)
	select {
	case <-a.assigned:
	case <-time.After(time.Minute):
		t.Fatal("a never got its partitions")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgotables.Partitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const hosts = 8
	for i := range hosts {
		host := fmt.Sprint("h", i)
		at := rules.Timestamp(time.Now().UnixMilli())
		v, _ := json.Marshal(rules.Transition{AlertName: "Hot", Tenant: "acme", Host: host, State: rules.StateFiring, Severity: "critical",
			Labels:    map[string]string{"alertname": "Hot", "tenant": "acme", "host": host, "severity": "critical"},
			EpisodeID: "ep-" + host, ActiveAt: at, StartsAt: at, At: at})
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tables.AlertsTopic, Key: []byte(tables.SourceKey("acme", host)), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, time.Minute, "a holds every transition", func() error {
		if q := a.notifier.Queued(); q != hosts {
			return fmt.Errorf("a holds %d", q)
		}
		return nil
	})

	// b sends at once what it reads.
	start := time.Now()
	bm := startNotifyMember(t, k, "b", "0s", hook.srv.URL, st)
	select {
	case at := <-bm.assigned:
		t.Logf("rebalance of the notify group with %d transitions held: b got its partitions %s after it started (grace %s, goka's rejoin pause 5s)",
			hosts, at.Sub(start).Round(time.Millisecond), k.HandBackGrace)
	case <-time.After(2 * time.Minute):
		t.Fatal("b never got a partition")
	}
	waitFor(t, time.Minute, "b notifies what it took over, a holds the rest again", func() error {
		if n := len(hook.counts()); n == 0 || int64(n)+a.notifier.Queued() != hosts {
			return fmt.Errorf("b sent %v, a holds %d", hook.counts(), a.notifier.Queued())
		}
		return nil
	})
	a.stop(t)
	waitFor(t, 2*time.Minute, "b notifies everything once a has stopped", func() error {
		if n := len(hook.counts()); n != hosts {
			return fmt.Errorf("sent %v", hook.counts())
		}
		return nil
	})
	bm.stop(t)
	for i := range hosts {
		if n := hook.counts()[fmt.Sprint("h", i)+" firing"]; n != 1 {
			t.Errorf("h%d notified %d times, want once: %v", i, n, hook.counts())
		}
	}
	if strings.Contains(logs.String(), "did not shutdown in time") {
		t.Error("goka waited for held transitions until its own timeout")
	}
}
