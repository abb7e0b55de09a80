package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/store"
)

// blockingStore holds every query until release is closed or its context
// ends.
type blockingStore struct {
	started chan string
	release chan struct{}
}

func (b *blockingStore) QuerySeries(ctx context.Context, q store.SeriesQuery) ([]store.Series, error) {
	b.started <- q.Tenant
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// A tenant's queries run in a bounded share of the database: past its
// slots (or the server's) a query is 429, while other tenants go on; a
// query that runs past the timeout is cancelled; a range longer than the
// limit is 400.
func TestQueryLimits(t *testing.T) {
	bs := &blockingStore{started: make(chan string, 16), release: make(chan struct{})}
	srv := api.New(api.Options{Store: bs, Logger: quiet, QueriesPerTenant: 2, QueriesTotal: 3, QueryMaxRange: 24 * time.Hour})
	results := make(chan int, 16)
	query := func(tenant string) {
		go func() { results <- do(t, srv, "GET", "/metrics/cpu?tenant="+tenant, "").status }()
		<-bs.started
	}
	query("acme")
	query("acme")
	wantProblem(t, "a third acme query", do(t, srv, "GET", "/metrics/cpu?tenant=acme", ""), 429, `tenant "acme" has 2 queries running`)
	query("globex")
	wantProblem(t, "a fourth query", do(t, srv, "GET", "/metrics/cpu?tenant=initech", ""), 429, "this server runs 3 queries")
	close(bs.release)
	for range 3 {
		if code := <-results; code != 200 {
			t.Fatalf("a held query: %d", code)
		}
	}
	if r := do(t, srv, "GET", "/metrics/cpu?tenant=acme", ""); r.status != 200 {
		t.Fatalf("after the release: %d %s", r.status, r.body)
	}

	slow := &blockingStore{started: make(chan string, 1), release: make(chan struct{})}
	timed := api.New(api.Options{Store: slow, Logger: quiet, QueryTimeout: 100 * time.Millisecond})
	wantProblem(t, "a slow query", do(t, timed, "GET", "/metrics/cpu?tenant=acme", ""), 503, "longer than 100ms")

	for _, q := range []string{
		"from=2025-01-01T00:00:00Z&to=2025-01-03T00:00:00Z",
		"from=2025-01-01T00:00:00Z&to=2025-01-03T00:00:00Z&step=1h",
		"from=0&step=8760h",
	} {
		wantProblem(t, q, do(t, srv, "GET", "/metrics/cpu?tenant=acme&"+q, ""), 400, "longer than the limit")
	}
	if r := do(t, srv, "GET", "/metrics/cpu?tenant=acme&from=2025-01-01T00:00:00Z&to=2025-01-01T12:00:00Z", ""); r.status != 200 {
		t.Fatalf("a range inside the limit: %d %s", r.status, r.body)
	}
}

// A tenant key over its ingest rate is refused before its body is read:
// a body that would not even parse is 429, not 400.
func TestIngestOverRateIsRefusedBeforeTheBodyIsRead(t *testing.T) {
	srv := api.New(api.Options{Logger: quiet, Keys: keysFor(t, "acme"), Producer: &fakeProducer{}, IngestRate: 1, IngestBurst: 2})
	var batch []string
	for i := range 5 {
		batch = append(batch, ev("acme", "h", "m", float64(i)))
	}
	if r := do(t, srv, "POST", "/ingest", strings.Join(batch, "\n"), bearer("key-acme")...); r.status != 202 {
		t.Fatalf("first batch: %d %s", r.status, r.body)
	}
	wantProblem(t, "in debt", do(t, srv, "POST", "/ingest", "[not json", bearer("key-acme")...), 429, "over its ingest rate")
}

// Requests naming a tenant their key may not read take none of that
// tenant's query slots.
func TestForeignTenantRequestsTakeNoSlots(t *testing.T) {
	bs := &blockingStore{started: make(chan string, 16), release: make(chan struct{})}
	srv := api.New(api.Options{Store: bs, Logger: quiet, Keys: keysFor(t, "acme", "globex"), QueriesPerTenant: 1, QueriesTotal: 4})
	done := make(chan int, 1)
	go func() { done <- do(t, srv, "GET", "/metrics/cpu?tenant=acme", "", bearer("key-acme")...).status }()
	<-bs.started
	if r := do(t, srv, "GET", "/metrics/cpu?tenant=acme", "", bearer("key-globex")...); r.status != 403 {
		t.Fatalf("globex naming acme: %d %s", r.status, r.body)
	}
	close(bs.release)
	if code := <-done; code != 200 {
		t.Fatalf("acme's query: %d", code)
	}
}
