package actors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// webhook is a test receiver: it answers each request with the next
// status of its script (then 200), and may hold requests until released.
type webhook struct {
	t      *testing.T
	srv    *httptest.Server
	url    string
	mu     sync.Mutex
	script []int
	bodies []notify.Message
	hold   chan struct{} // when set, requests wait for it to close
	got    chan notify.Message
}

// newWebhook serves a webhook on a loopback address.
func newWebhook(t *testing.T, script ...int) *webhook {
	w := &webhook{t: t, script: script, got: make(chan notify.Message, 100)}
	w.srv = httptest.NewServer(w)
	t.Cleanup(w.srv.Close)
	w.url = w.srv.URL
	return w
}

// inProcessWebhook is a webhook reached through its client, without a
// network: a test in a synctest bubble uses no sockets.
func inProcessWebhook(t *testing.T, script ...int) *webhook {
	return &webhook{t: t, url: "http://webhook.test/hook", script: script, got: make(chan notify.Message, 100)}
}

// client sends requests to w in process.
func (w *webhook) client() *http.Client { return &http.Client{Transport: handlerTransport{w}} }

type handlerTransport struct{ h http.Handler }

func (h handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m notify.Message
	if err := json.Unmarshal(b, &m); err != nil || r.Header.Get("Content-Type") != "application/json" {
		w.t.Errorf("webhook body %s: %v", b, err)
	}
	w.mu.Lock()
	hold := w.hold
	status := 200
	if len(w.script) > 0 {
		status, w.script = w.script[0], w.script[1:]
	}
	w.bodies = append(w.bodies, m)
	w.mu.Unlock()
	if hold != nil {
		<-hold
	}
	rw.WriteHeader(status)
	w.got <- m
}

// memNotifyStore keeps what the notifier records in memory, and has no
// silences.
type memNotifyStore struct {
	mu     sync.Mutex
	sent   map[string][]store.SentState // by tenant/episode
	firing map[string][]store.FiringAlert
	log    []store.LogEntry
	flaps  map[string]store.FlapState
}

func (m *memNotifyStore) FlapState(_ context.Context, tenant, fingerprint string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flaps[tenant+"/"+fingerprint].State, nil
}

func (m *memNotifyStore) SetFlapState(_ context.Context, tenant, fingerprint string, state []byte, flapping bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flaps[tenant+"/"+fingerprint] = store.FlapState{Tenant: tenant, Fingerprint: fingerprint, State: state}
	return nil
}

func (m *memNotifyStore) EndFlapping(_ context.Context, tenant, fingerprint string, was, state []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := tenant + "/" + fingerprint
	if !bytes.Equal(m.flaps[key].State, was) {
		return false, nil
	}
	m.flaps[key] = store.FlapState{Tenant: tenant, Fingerprint: fingerprint, State: state}
	return true, nil
}

func (m *memNotifyStore) FlappingAlerts(context.Context, int) ([]store.FlapState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.FlapState
	for _, f := range m.flaps {
		if strings.Contains(string(f.State), `"flapping":true`) {
			out = append(out, f)
		}
	}
	return out, nil
}

func newMemNotifyStore() *memNotifyStore {
	return &memNotifyStore{sent: map[string][]store.SentState{}, firing: map[string][]store.FiringAlert{}, flaps: map[string]store.FlapState{}}
}

func (m *memNotifyStore) FiringAlerts(_ context.Context, tenant string, limit int) ([]store.FiringAlert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fs := m.firing[tenant]
	return append([]store.FiringAlert(nil), fs[:min(limit, len(fs))]...), nil
}

func (m *memNotifyStore) SetFiring(_ context.Context, tenant, episode string, alert []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fs := m.firing[tenant][:0:0]
	for _, f := range m.firing[tenant] {
		if f.EpisodeID != episode {
			fs = append(fs, f)
		}
	}
	if alert != nil {
		fs = append(fs, store.FiringAlert{EpisodeID: episode, Alert: alert})
	}
	m.firing[tenant] = fs
	return nil
}

func (m *memNotifyStore) LogNotifications(_ context.Context, es []store.LogEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, es...)
	return nil
}

func (m *memNotifyStore) entries() []store.LogEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.LogEntry(nil), m.log...)
}

// outcomes returns "outcome episode state" of the logged entries.
func (m *memNotifyStore) outcomes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.log {
		out = append(out, e.Outcome+" "+e.EpisodeID+" "+e.State)
	}
	return out
}

func (m *memNotifyStore) ActiveSilences(context.Context, string, time.Time) ([]store.Silence, error) {
	return nil, nil
}

func (m *memNotifyStore) SentNotifications(_ context.Context, tenant, episode string) ([]store.SentState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.SentState(nil), m.sent[tenant+"/"+episode]...), nil
}

func (m *memNotifyStore) RecordNotifications(_ context.Context, ns []store.Notification) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range ns {
		key := n.Tenant + "/" + n.EpisodeID
		m.sent[key] = append(m.sent[key], store.SentState{Receiver: n.Receiver, Integration: n.Integration, State: n.State})
	}
	return nil
}

func (w *webhook) requests() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.bodies)
}

// waitRequests waits until the webhook has received n requests (answered
// or not).
func (w *webhook) waitRequests(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for w.requests() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d webhook requests within 20s, want %d", w.requests(), n)
		}
		<-time.After(5 * time.Millisecond)
	}
}

// next returns the next request's body.
func (w *webhook) next(t *testing.T) notify.Message {
	t.Helper()
	select {
	case m := <-w.got:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook request within 20s")
	}
	return notify.Message{}
}

func notifyConfig(t *testing.T, url string, extra string) *notify.Config {
	t.Helper()
	c, err := notify.Parse([]byte(`
queue_capacity: 2
external_url: http://eventops.test
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ops
    webhook_configs:
      - url: ` + url + `
` + extra))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func alertStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{URL: storetest.NewDatabase(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

type testNotifier struct {
	*actors.Notifier
	reg    *prometheus.Registry
	cancel context.CancelFunc
	ran    chan error
	once   sync.Once
}

func startNotifier(t *testing.T, cfg *notify.Config, st actors.NotifyStore, drain time.Duration) *testNotifier {
	t.Helper()
	return startNotifierWith(t, actors.NotifierOptions{Config: cfg, Store: st, DrainTimeout: drain})
}

// startNotifierWith starts a notifier with quick retries, its metrics in a
// registry of its own.
func startNotifierWith(t *testing.T, opts actors.NotifierOptions) *testNotifier {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.RetryMin, opts.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	opts.Registerer, opts.Logger = reg, slog.New(slog.DiscardHandler)
	n := actors.NewNotifier(actors.NewSystem(slog.New(slog.DiscardHandler)), opts)
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNotifier{Notifier: n, reg: reg, cancel: cancel, ran: make(chan error, 1)}
	go func() { tn.ran <- n.Run(ctx) }()
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// stop ends Run and waits for it.
func (tn *testNotifier) stop(t *testing.T) {
	tn.once.Do(func() {
		tn.cancel()
		select {
		case err := <-tn.ran:
			if err != nil {
				t.Errorf("notifier Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("notifier Run did not return")
		}
	})
}

// stopInBubble stops tn in a synctest bubble and lets the bubble's clock
// pass the actor system's dead-letter throttle period: a message to an
// actor stopped with it starts a goroutine that waits that long, and the
// bubble must not end while it waits.
func (tn *testNotifier) stopInBubble(t *testing.T) {
	tn.stop(t)
	time.Sleep(time.Minute)
}

// afterStopInBubble does for a test whose notifiers are stopped by their
// cleanups what stopInBubble does: called before they start, its cleanup
// runs after theirs.
func afterStopInBubble(t *testing.T) {
	t.Cleanup(func() { time.Sleep(time.Minute) })
}

// metric returns a counter or gauge's value for the label values given.
func (tn *testNotifier) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := tn.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

var notifyT0 = time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)

func tr(state, host, episode string) *rules.Transition {
	t := &rules.Transition{
		AlertName: "HighCPU", Tenant: "acme", Host: host, State: state, Severity: "critical",
		Labels:      map[string]string{"alertname": "HighCPU", "tenant": "acme", "host": host, "severity": "critical"},
		Annotations: map[string]string{"summary": "CPU on " + host},
		ActiveAt:    rules.Timestamp(notifyT0.UnixMilli()), StartsAt: rules.Timestamp(notifyT0.UnixMilli()),
		EpisodeID: episode, At: rules.Timestamp(notifyT0.Add(time.Minute).UnixMilli()),
	}
	if state == rules.StateResolved {
		end := t.At
		t.EndsAt = &end
	}
	return t
}

// notifyAndWait hands over a transition and returns what its done
// function was called with.
func notifyAndWait(t *testing.T, n *testNotifier, trn *rules.Transition) error {
	t.Helper()
	return notifyAndWaitIn(t, n, context.Background(), trn)
}

// notifyAndWaitIn does as notifyAndWait for a transition read in session.
func notifyAndWaitIn(t *testing.T, n *testNotifier, session context.Context, trn *rules.Transition) error {
	t.Helper()
	done := make(chan error, 1)
	n.Notify(session, trn, func(err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s of %s not settled within 20s", trn.State, trn.EpisodeID)
	}
	return nil
}

// A webhook answering 500 is retried; the transition is settled only once
// it is delivered, and what was sent is recorded, so that a second notifier
// on the same database (a restart) does not send it again, and sends the
// resolved notice.
func TestNotifierRetriesRecordsAndDeliversOnce(t *testing.T) {
	w := newWebhook(t, 500, 503)
	st := alertStore(t)
	cfg := notifyConfig(t, w.srv.URL, "")
	n := startNotifier(t, cfg, st, 5*time.Second)

	if err := notifyAndWait(t, n, tr(rules.StatePending, "h1", "e1")); err != nil || w.requests() != 0 {
		t.Fatalf("pending: %v, %d requests", err, w.requests())
	}
	if err := notifyAndWait(t, n, tr(rules.StateFiring, "h1", "e1")); err != nil {
		t.Fatal(err)
	}
	if got := w.requests(); got != 3 {
		t.Fatalf("settled after %d requests, want 3 (two failures, then delivered)", got)
	}
	m := w.bodies[2]
	if m.Version != "4" || m.Status != "firing" || m.Receiver != "ops" || m.GroupKey != `{}:{alertname="HighCPU", tenant="acme"}` ||
		len(m.Alerts) != 1 || m.Alerts[0].Labels["host"] != "h1" || m.ExternalURL != "http://eventops.test" ||
		m.Alerts[0].GeneratorURL != "http://eventops.test/alerts/e1?tenant=acme" {
		t.Fatalf("payload %+v", m)
	}
	if n.metric(t, "eventops_notify_requests_total", map[string]string{"outcome": "retry"}) != 2 ||
		n.metric(t, "eventops_notify_requests_total", map[string]string{"outcome": "delivered"}) != 1 {
		t.Fatal("request counters")
	}
	sent, err := st.SentNotifications(context.Background(), "acme", "e1")
	if err != nil || len(sent) != 1 || sent[0] != (store.SentState{Receiver: "ops", Integration: "webhook/0", State: "firing"}) {
		t.Fatalf("recorded %v %v", sent, err)
	}
	n.stop(t)

	// "Restart": the same firing, read again, is not sent again.
	n2 := startNotifier(t, cfg, st, 5*time.Second)
	if err := notifyAndWait(t, n2, tr(rules.StateFiring, "h1", "e1")); err != nil || w.requests() != 3 {
		t.Fatalf("replayed firing: %v, %d requests", err, w.requests())
	}
	if err := notifyAndWait(t, n2, tr(rules.StateResolved, "h1", "e1")); err != nil || w.requests() != 4 {
		t.Fatalf("resolved: %v, %d requests", err, w.requests())
	}
	if m := w.bodies[3]; m.Status != "resolved" || len(m.Alerts) != 1 || m.Alerts[0].Status != "resolved" || m.Alerts[0].EndsAt.IsZero() {
		t.Fatalf("resolved payload %+v", m)
	}
	// And the resolved one, read again, is not sent again either.
	if err := notifyAndWait(t, n2, tr(rules.StateResolved, "h1", "e1")); err != nil || w.requests() != 4 {
		t.Fatalf("replayed resolved: %v, %d requests", err, w.requests())
	}
}

// A silenced alert is settled without a request; another tenant's silence
// does not apply.
func TestNotifierSilences(t *testing.T) {
	w := newWebhook(t)
	st := alertStore(t)
	ctx := context.Background()
	now := time.Now()
	for _, s := range []store.Silence{
		{Tenant: "acme", Matchers: []string{`alertname="HighCPU"`, `host=~"web-.*"`}, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)},
		{Tenant: "other", Matchers: []string{`host="db-1"`}, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)},
		{Tenant: "acme", Matchers: []string{`host="db-2"`}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(-time.Minute)}, // expired
	} {
		if _, err := st.CreateSilence(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	n := startNotifier(t, notifyConfig(t, w.srv.URL, ""), st, 5*time.Second)
	if err := notifyAndWait(t, n, tr(rules.StateFiring, "web-1", "e1")); err != nil || w.requests() != 0 {
		t.Fatalf("silenced: %v, %d requests", err, w.requests())
	}
	if n.metric(t, "eventops_notify_transitions_total", map[string]string{"outcome": "silenced"}) != 1 {
		t.Fatal("silenced not counted")
	}
	for _, host := range []string{"db-1", "db-2"} {
		if err := notifyAndWait(t, n, tr(rules.StateFiring, host, "e-"+host)); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.requests(); got != 2 {
		t.Fatalf("%d requests, want 2 (db-1 and db-2 are not silenced for acme)", got)
	}
}

// settled waits for n results of done functions and returns them.
func settled(t *testing.T, done <-chan error, n int) []error {
	t.Helper()
	var errs []error
	for range n {
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d transitions settled within 30s", len(errs), n)
		}
	}
	return errs
}

// sentHosts returns the hosts of every alert the webhook was sent.
func (w *webhook) sentHosts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	hosts := map[string]int{}
	for _, m := range w.bodies {
		for _, a := range m.Alerts {
			hosts[a.Labels["host"]]++
		}
	}
	return hosts
}

// A failing webhook's queue holds queue_capacity transitions; beyond it
// they are refused (settled at once) and counted, and the others are
// delivered once the receiver answers.
func TestNotifierFailingWebhookRefusesWhenFull(t *testing.T) {
	synctest.Test(t, testNotifierFailingWebhookRefusesWhenFull)
}

func testNotifierFailingWebhookRefusesWhenFull(t *testing.T) {
	afterStopInBubble(t)
	w := inProcessWebhook(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500,
		500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, ""), Store: newMemNotifyStore(),
		DrainTimeout: 5 * time.Second, Client: w.client()})
	done := make(chan error, 2)
	n.Notify(context.Background(), tr(rules.StateFiring, "h1", "e1"), func(err error) { done <- err })
	w.next(t)
	n.Notify(context.Background(), tr(rules.StateFiring, "h2", "e2"), func(err error) { done <- err })
	if err := notifyAndWait(t, n, tr(rules.StateFiring, "h3", "e3")); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"receiver": "ops", "integration": "webhook/0"}
	if got := n.metric(t, "eventops_notify_refused_total", labels); got != 1 {
		t.Fatalf("refused %v, want 1", got)
	}
	if got := n.metric(t, "eventops_notify_queued", labels); got != 2 {
		t.Fatalf("queued %v, want 2", got)
	}
	for _, err := range settled(t, done, 2) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if hosts := w.sentHosts(); hosts["h1"] == 0 || hosts["h2"] == 0 || hosts["h3"] != 0 {
		t.Fatalf("sent hosts %v", hosts)
	}
}

// A full queue of a webhook that is slow but not failing refuses nothing:
// the intake waits for room, and everything is delivered.
func TestNotifierSlowWebhookDelaysWhenFull(t *testing.T) {
	synctest.Test(t, testNotifierSlowWebhookDelaysWhenFull)
}

func testNotifierSlowWebhookDelaysWhenFull(t *testing.T) {
	afterStopInBubble(t)
	w := inProcessWebhook(t)
	w.hold = make(chan struct{})
	answer := sync.OnceFunc(func() { close(w.hold) })
	defer answer()
	n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, "        timeout: 1h\n"), Store: newMemNotifyStore(),
		DrainTimeout: 5 * time.Second, Client: w.client()})
	done := make(chan error, 3)
	for _, h := range []string{"h1", "h2", "h3"} {
		n.Notify(context.Background(), tr(rules.StateFiring, h, "e-"+h), func(err error) { done <- err })
	}
	w.waitRequests(t, 1)
	// A minute on, the receiver still has not answered.
	time.Sleep(time.Minute)
	select {
	case err := <-done:
		t.Fatalf("a transition settled while its receiver has not answered: %v", err)
	default:
	}
	answer()
	for _, err := range settled(t, done, 3) {
		if err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"receiver": "ops", "integration": "webhook/0"}
	if got := n.metric(t, "eventops_notify_refused_total", labels); got != 0 {
		t.Fatalf("refused %v, want 0", got)
	}
	if hosts := w.sentHosts(); hosts["h1"] == 0 || hosts["h2"] == 0 || hosts["h3"] == 0 {
		t.Fatalf("sent hosts %v", hosts)
	}
}

// A receiver down at shutdown: what it holds is settled with
// ErrUndelivered once the drain times out, so that it is read again.
func TestNotifierShutdownLeavesUndeliveredUncommitted(t *testing.T) {
	w := newWebhook(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	n := startNotifier(t, notifyConfig(t, w.srv.URL, ""), alertStore(t), 300*time.Millisecond)
	done := make(chan error, 1)
	n.Notify(context.Background(), tr(rules.StateFiring, "h1", "e1"), func(err error) { done <- err })
	w.next(t)
	n.stop(t)
	select {
	case err := <-done:
		if !errors.Is(err, actors.ErrUndelivered) {
			t.Fatalf("settled with %v", err)
		}
	default:
		t.Fatal("not settled when Run returned")
	}
	// After the stop nothing is taken.
	if err := notifyAndWait(t, n, tr(rules.StateFiring, "h2", "e2")); !errors.Is(err, actors.ErrUndelivered) {
		t.Fatalf("after stop: %v", err)
	}
}

// failingStore fails lookups until told otherwise.
type failingStore struct {
	actors.NotifyStore
	mu    sync.Mutex
	fails int
}

func (f *failingStore) ActiveSilences(ctx context.Context, tenant string, at time.Time) ([]store.Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return nil, errors.New("connection refused")
	}
	return f.NotifyStore.ActiveSilences(ctx, tenant, at)
}

// Lookups that fail are retried: the transition waits, and is sent.
func TestNotifierRetriesLookups(t *testing.T) {
	synctest.Test(t, testNotifierRetriesLookups)
}

func testNotifierRetriesLookups(t *testing.T) {
	afterStopInBubble(t)
	w := inProcessWebhook(t)
	fs := &failingStore{NotifyStore: newMemNotifyStore(), fails: 3}
	n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, ""), Store: fs, DrainTimeout: 5 * time.Second,
		Client: w.client()})
	if err := notifyAndWait(t, n, tr(rules.StateFiring, "h1", "e1")); err != nil || w.requests() != 1 {
		t.Fatalf("%v, %d requests", err, w.requests())
	}
	if got := n.metric(t, "eventops_notify_lookup_errors_total", nil); got != 3 {
		t.Fatalf("lookup errors %v", got)
	}
}

// Without a receiver file nothing is sent and everything is settled.
func TestNotifierWithoutReceivers(t *testing.T) {
	n := startNotifier(t, nil, alertStore(t), time.Second)
	if n.Sends() {
		t.Fatal("sends without a config")
	}
	if err := notifyAndWait(t, n, tr(rules.StateFiring, "h1", "e1")); err != nil {
		t.Fatal(err)
	}
	if n.metric(t, "eventops_notify_transitions_total", map[string]string{"outcome": "unrouted"}) != 1 {
		t.Fatal("unrouted not counted")
	}
}

// outageStore fails every lookup while down, as PostgreSQL does when it is
// unreachable.
type outageStore struct {
	actors.NotifyStore
	down atomic.Bool
}

func (o *outageStore) ActiveSilences(ctx context.Context, tenant string, at time.Time) ([]store.Silence, error) {
	if o.down.Load() {
		return nil, errors.New("connection refused")
	}
	return o.NotifyStore.ActiveSilences(ctx, tenant, at)
}

func (o *outageStore) SentNotifications(ctx context.Context, tenant, episode string) ([]store.SentState, error) {
	if o.down.Load() {
		return nil, errors.New("connection refused")
	}
	return o.NotifyStore.SentNotifications(ctx, tenant, episode)
}

// A PostgreSQL outage delays notifications and loses none: transitions
// wait for their lookups (Notify blocks once the intake is full) instead of
// filling the webhook's queue, nothing is refused, and once PostgreSQL is
// back every transition is delivered.
func TestNotifierPostgresOutageDelaysAndLosesNothing(t *testing.T) {
	synctest.Test(t, testNotifierPostgresOutageDelaysAndLosesNothing)
}

func testNotifierPostgresOutageDelaysAndLosesNothing(t *testing.T) {
	afterStopInBubble(t)
	w := inProcessWebhook(t)
	st := &outageStore{NotifyStore: newMemNotifyStore()}
	st.down.Store(true)
	n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, ""), Store: st, IntakeCapacity: 2, DrainTimeout: 5 * time.Second,
		Client: w.client()})
	const transitions = 8
	done := make(chan error, transitions)
	for i := range transitions {
		host := fmt.Sprint("h", i)
		go n.Notify(context.Background(), tr(rules.StateFiring, host, "e-"+host), func(err error) { done <- err })
	}
	deadline := time.Now().Add(20 * time.Second)
	for n.metric(t, "eventops_notify_lookup_errors_total", nil) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no failed lookups within 20s")
		}
		<-time.After(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("a transition settled during the outage: %v", err)
	default:
	}
	st.down.Store(false)
	for _, err := range settled(t, done, transitions) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := n.metric(t, "eventops_notify_refused_total", nil); got != 0 {
		t.Fatalf("refused %v, want 0", got)
	}
	if hosts := w.sentHosts(); len(hosts) != transitions {
		t.Fatalf("sent hosts %v, want %d", hosts, transitions)
	}
}

// waitingConfig is a route that holds a new group's alerts for an hour.
func waitingConfig(t *testing.T, url string) *notify.Config {
	t.Helper()
	c, err := notify.Parse([]byte(`
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1h
  group_interval: 1h
receivers:
  - name: ops
    webhook_configs:
      - url: ` + url + `
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// When the session of a transition's partition ends, the notifier hands
// the transition back at once instead of holding it for group_wait, and
// sends nothing of it; a transition of an ended session is handed back as
// it comes.
func TestNotifierHandsBackWhenItsSessionEnds(t *testing.T) {
	w := newWebhook(t)
	n := startNotifier(t, waitingConfig(t, w.srv.URL), alertStore(t), 5*time.Second)
	session, end := context.WithCancel(context.Background())
	done := make(chan error, 1)
	n.Notify(session, tr(rules.StateFiring, "h1", "e1"), func(err error) { done <- err })
	deadline := time.Now().Add(20 * time.Second)
	for n.metric(t, "eventops_notify_queued", nil) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the transition was never queued")
		}
		<-time.After(5 * time.Millisecond)
	}
	end()
	if errs := settled(t, done, 1); !errors.Is(errs[0], actors.ErrUndelivered) {
		t.Fatalf("settled with %v, want ErrUndelivered", errs[0])
	}
	if err := notifyAndWaitIn(t, n, session, tr(rules.StateFiring, "h2", "e2")); !errors.Is(err, actors.ErrUndelivered) {
		t.Fatalf("a transition of an ended session settled with %v", err)
	}
	if got := n.metric(t, "eventops_notify_handed_back_total", nil); got != 2 {
		t.Fatalf("handed back %v, want 2", got)
	}
	n.stop(t)
	if w.requests() != 0 {
		t.Fatalf("%d requests for transitions handed back", w.requests())
	}
}

// A batch being sent when its session ends is delivered and recorded: its
// transitions settle as delivered.
func TestNotifierFinishesTheBatchBeingSentWhenItsSessionEnds(t *testing.T) {
	w := newWebhook(t)
	w.hold = make(chan struct{})
	answer := sync.OnceFunc(func() { close(w.hold) })
	defer answer()
	st := alertStore(t)
	n := startNotifier(t, notifyConfig(t, w.srv.URL, ""), st, 5*time.Second)
	session, end := context.WithCancel(context.Background())
	done := make(chan error, 1)
	n.Notify(session, tr(rules.StateFiring, "h1", "e1"), func(err error) { done <- err })
	w.waitRequests(t, 1)
	end()
	answer()
	if errs := settled(t, done, 1); errs[0] != nil {
		t.Fatalf("settled with %v, want delivered", errs[0])
	}
	sent, err := st.SentNotifications(context.Background(), "acme", "e1")
	if err != nil || len(sent) != 1 {
		t.Fatalf("recorded %v %v", sent, err)
	}
}
