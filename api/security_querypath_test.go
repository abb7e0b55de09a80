package api_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/store"
)

// deadlineRecorder answers every database read at once and records, per
// read, whether it ran under a deadline and what series query it got.
type deadlineRecorder struct {
	mu        sync.Mutex
	deadlines []bool
	series    []store.SeriesQuery
}

func (d *deadlineRecorder) note(ctx context.Context) {
	_, ok := ctx.Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, ok)
	d.mu.Unlock()
}

func (d *deadlineRecorder) last() (calls int, deadline bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.deadlines) == 0 {
		return 0, false
	}
	return len(d.deadlines), d.deadlines[len(d.deadlines)-1]
}

func (d *deadlineRecorder) QuerySeries(ctx context.Context, q store.SeriesQuery) ([]store.Series, error) {
	d.note(ctx)
	d.mu.Lock()
	d.series = append(d.series, q)
	d.mu.Unlock()
	return nil, nil
}

func (d *deadlineRecorder) QueryAlerts(ctx context.Context, q store.AlertQuery) (store.AlertPage, error) {
	d.note(ctx)
	return store.AlertPage{}, nil
}

func (d *deadlineRecorder) AlertEpisode(ctx context.Context, tenant, id string) (store.Episode, error) {
	d.note(ctx)
	return store.Episode{}, nil
}

func (d *deadlineRecorder) QuerySources(ctx context.Context, q store.SourceQuery) ([]store.Source, string, error) {
	d.note(ctx)
	return nil, "", nil
}

func (d *deadlineRecorder) Tenants(ctx context.Context) ([]store.Tenant, error) {
	d.note(ctx)
	return nil, nil
}

func (d *deadlineRecorder) SourceMetrics(ctx context.Context, tenant, host string) ([]string, error) {
	d.note(ctx)
	return nil, nil
}

func (d *deadlineRecorder) CreateSilence(ctx context.Context, s store.Silence) (store.Silence, error) {
	d.note(ctx)
	return s, nil
}

func (d *deadlineRecorder) QuerySilences(ctx context.Context, q store.SilenceQuery) ([]store.Silence, error) {
	d.note(ctx)
	return nil, nil
}

func (d *deadlineRecorder) ExpireSilence(ctx context.Context, tenant, id string) (store.Silence, error) {
	d.note(ctx)
	return store.Silence{}, nil
}

// Routes match whatever the case of the path (and with a trailing slash),
// so every spelling of a database route that reaches its handler runs
// under the query timeout: /Metrics/cpu, /TENANTS, /silences/ ... as much
// as /metrics/cpu.
func TestQueryTimeoutAppliesWhateverThePathSpelling(t *testing.T) {
	rec := &deadlineRecorder{}
	srv := api.New(api.Options{Store: rec, Alerts: rec, Sources: rec, MetricNames: rec, Silences: rec, Logger: quiet,
		QueryTimeout: time.Minute})
	for _, path := range []string{
		"/metrics/cpu?tenant=acme", // the spelling the limits know
		"/Metrics/cpu?tenant=acme",
		"/METRICS/cpu?tenant=acme",
		"/Alerts?tenant=acme",
		"/alerts/?tenant=acme",
		"/Alerts/ep1?tenant=acme",
		"/Sources?tenant=acme",
		"/sources/?tenant=acme",
		"/Sources/h/metrics?tenant=acme",
		"/TENANTS",
		"/tenants/",
		"/Silences?tenant=acme",
		"/silences/?tenant=acme",
	} {
		before, _ := rec.last()
		r := do(t, srv, "GET", path, "")
		calls, deadline := rec.last()
		if calls == before {
			t.Logf("%s: %d, the database was not read", path, r.status)
			continue
		}
		if !deadline {
			t.Errorf("GET %s (%d) read the database without the query timeout", path, r.status)
		}
	}
}

// The per-tenant query slots hold whatever the case of the path: with its
// one slot taken, a tenant's next read is 429, not a query that reaches
// the database beside it.
func TestQuerySlotsHoldWhateverThePathCase(t *testing.T) {
	bs := &blockingStore{started: make(chan string, 16), release: make(chan struct{})}
	srv := api.New(api.Options{Store: bs, Logger: quiet, QueriesPerTenant: 1, QueriesTotal: 1})
	results := make(chan int, 16)
	go func() { results <- do(t, srv, "GET", "/metrics/cpu?tenant=acme", "").status }()
	<-bs.started // acme's one slot (and the server's) is taken
	go func() { results <- do(t, srv, "GET", "/Metrics/cpu?tenant=acme", "").status }()
	select {
	case code := <-results:
		if code != 429 {
			t.Errorf("a second acme query: %d, want 429", code)
		}
		close(bs.release)
		<-results
	case tenant := <-bs.started:
		close(bs.release)
		<-results
		<-results
		t.Fatalf("GET /Metrics/cpu?tenant=%s ran in the database beside the query that holds the only slot (per tenant 1, in all 1)", tenant)
	}
}

// The range cap of a metric query holds for raw queries too: without to
// (or without from) a raw query reads and numbers every row of the
// series' history in PostgreSQL (row_number() over the whole range) before
// its per-series limit applies. The store gets a bounded range, or the
// request is refused.
func TestRawMetricQueryRangeIsCapped(t *testing.T) {
	rec := &deadlineRecorder{}
	const maxRange = 24 * time.Hour
	srv := api.New(api.Options{Store: rec, Logger: quiet, QueryMaxRange: maxRange})
	for _, q := range []string{
		"from=0",                        // 1970 until now
		"",                              // no bounds at all
		"to=2999-01-01T00:00:00Z",       // from the beginning of time
		"from=2000-01-01T00:00:00Z",     // 26 years, raw
		"from=0&limit=1",                // one point per series, still the whole history scanned
		"from=1&to=99999999999&limit=1", // explicit, refused: the check exists for this shape
	} {
		before := len(rec.series)
		r := do(t, srv, "GET", "/metrics/cpu?tenant=acme&"+q, "")
		if r.status == 400 {
			continue
		}
		if len(rec.series) == before {
			t.Fatalf("%q: %d %s, and no query ran", q, r.status, r.body)
		}
		sq := rec.series[len(rec.series)-1]
		to := sq.To
		if to.IsZero() {
			to = time.Now()
		}
		if sq.From.IsZero() || to.Sub(sq.From) > maxRange {
			t.Errorf("GET /metrics/cpu?%s: %d, the store read from %v to %v (limit %s)", q, r.status, sq.From, sq.To, maxRange)
		}
	}
}

// A tenant key that names another tenant is refused (403) before anything
// is charged to that tenant: were globex's query slots taken first, acme
// would be told while globex's own queries hold them (429 "tenant
// \"globex\" has 1 queries running"), a view of another tenant's activity.
func TestForeignTenantIsRefusedBeforeItsQuerySlotsAreCharged(t *testing.T) {
	bs := &blockingStore{started: make(chan string, 16), release: make(chan struct{})}
	srv := api.New(api.Options{Store: bs, Logger: quiet, Keys: keysFor(t, "acme", "globex"), QueriesPerTenant: 1, QueriesTotal: 4})
	results := make(chan int, 1)
	go func() { results <- do(t, srv, "GET", "/metrics/cpu", "", bearer("key-globex")...).status }()
	<-bs.started // globex's query runs
	r := do(t, srv, "GET", "/metrics/cpu?tenant=globex", "", bearer("key-acme")...)
	close(bs.release)
	<-results
	if r.status != 403 {
		t.Fatalf("acme naming globex while globex queries: %d %s, want 403", r.status, r.body)
	}
}

// Every route that runs a statement runs it under the query timeout:
// creating and expiring a silence write PostgreSQL, and a stuck write
// holds a pooled connection (the pool the sink and notifier share) for as
// long as the client waits.
func TestSilenceWritesRunUnderTheQueryTimeout(t *testing.T) {
	rec := &deadlineRecorder{}
	srv := api.New(api.Options{Store: rec, Silences: rec, Logger: quiet, QueryTimeout: time.Minute})
	silence := `{"tenant":"acme","matchers":["alertname=\"HighCPU\""],"ends_at":"2999-01-01T00:00:00Z","created_by":"x","comment":"c"}`
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/silences", silence},
		{"DELETE", "/silences/abc?tenant=acme", ""},
	} {
		before, _ := rec.last()
		resp := do(t, srv, r.method, r.path, r.body)
		calls, deadline := rec.last()
		if calls == before {
			t.Fatalf("%s %s: %d %s, the store was not called", r.method, r.path, resp.status, resp.body)
		}
		if !deadline {
			t.Errorf("%s %s (%d) wrote PostgreSQL without the query timeout", r.method, r.path, resp.status)
		}
	}
}
