package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

func metricRow(tenant, host, metric string, ts time.Time, v float64) store.MetricRow {
	return store.MetricRow{Ts: ts, Tenant: tenant, SourceID: host, Metric: metric, Value: v, Unit: "percent",
		Tags: []byte(`{"env":"prod"}`), IngestedAt: ts}
}

func count(t *testing.T, s *store.Store, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// A batch whose first rows are there already takes the staging path and
// inserts exactly the new ones.
func TestWriteMetricsPartlyReplayedBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	base := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	var rows []store.MetricRow
	for i := range 500 {
		rows = append(rows, metricRow("acme", fmt.Sprintf("h%d", i%7), "cpu_load", base.Add(time.Duration(i)*time.Second), float64(i)))
	}
	if res, err := s.WriteMetrics(ctx, rows[:300]); err != nil || res.Inserted != 300 {
		t.Fatalf("first: %+v %v", res, err)
	}
	// The replayed rows last, then first: the direct COPY fails either way.
	for _, batch := range [][]store.MetricRow{append(slices.Clone(rows[300:400]), rows[100:200]...), rows[200:500]} {
		res, err := s.WriteMetrics(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(100); res.Inserted != want {
			t.Fatalf("inserted %d, want %d", res.Inserted, want)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM metrics`); n != 500 {
		t.Fatalf("%d rows", n)
	}
}

func TestSourcesFollowTheNewestEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	withMeta := func(r store.MetricRow, meta string) store.MetricRow { r.Meta = []byte(meta); return r }
	write := func(rows ...store.MetricRow) {
		t.Helper()
		if _, err := s.WriteMetrics(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	write(withMeta(metricRow("acme", "a", "m", t0.Add(time.Minute), 1), `{"owner":"old"}`),
		withMeta(metricRow("acme", "a", "m", t0.Add(2*time.Minute), 1), `{"owner":"new"}`),
		metricRow("acme", "b", "m", t0, 1), metricRow("zeta", "a", "m", t0, 1))
	// An older event with other metadata (a late sample) leaves the
	// metadata alone but extends first_seen.
	write(withMeta(metricRow("acme", "a", "m", t0, 1), `{"owner":"older"}`))
	srcs, next, err := s.QuerySources(ctx, store.SourceQuery{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if next != "" || len(srcs) != 2 || srcs[0].Host != "a" || srcs[1].Host != "b" {
		t.Fatalf("sources %+v next %q", srcs, next)
	}
	a := srcs[0]
	if !a.FirstSeen.Equal(t0) || !a.LastSeen.Equal(t0.Add(2*time.Minute)) || string(a.Meta) != `{"owner": "new"}` {
		t.Fatalf("source a: %+v meta %s", a, a.Meta)
	}
	if srcs[1].Meta != nil {
		t.Fatalf("source b has metadata %s", srcs[1].Meta)
	}
	page, next, err := s.QuerySources(ctx, store.SourceQuery{Tenant: "acme", Limit: 1})
	if err != nil || len(page) != 1 || next != "a" {
		t.Fatalf("page 1: %+v %q %v", page, next, err)
	}
	page, next, err = s.QuerySources(ctx, store.SourceQuery{Tenant: "acme", After: "a", Limit: 1})
	if err != nil || len(page) != 1 || page[0].Host != "b" || next != "" {
		t.Fatalf("page 2: %+v %q %v", page, next, err)
	}
	tenants, err := s.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tenants) != 2 || tenants[0].Tenant != "acme" || tenants[0].Sources != 2 || tenants[1].Tenant != "zeta" ||
		!tenants[0].LastSeen.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("tenants %+v", tenants)
	}
}

func TestMaintainPartitionsAndRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewDatabase(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	keep := open(t, url) // no retention: writes the history
	if err := keep.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []store.MetricRow
	for d := -5; d <= 0; d++ {
		rows = append(rows, metricRow("acme", "h", "m", now.AddDate(0, 0, d), float64(d)))
	}
	if res, err := keep.WriteMetrics(ctx, rows); err != nil || res.Inserted != 6 {
		t.Fatalf("%+v %v", res, err)
	}

	s, err := store.Open(ctx, store.Options{URL: url, Retention: 72 * time.Hour, PartitionsAhead: 2, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Maintain(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// The cutoff is 2026-03-07T12:00: the days before the 7th go whole.
	if want := []string{"metrics_20260305", "metrics_20260306"}; !slices.Equal(res.Dropped, want) {
		t.Fatalf("dropped %v, want %v", res.Dropped, want)
	}
	for _, day := range []string{"20260307", "20260310", "20260311", "20260312"} {
		if count(t, s, `SELECT count(*) FROM pg_class WHERE relname = $1`, "metrics_"+day) != 1 {
			t.Errorf("partition of %s missing", day)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM pg_class WHERE relname = 'metrics_20260313'`); n != 0 {
		t.Errorf("partition beyond PartitionsAhead created")
	}
	if n := count(t, s, `SELECT count(*) FROM metrics`); n != 4 {
		t.Fatalf("%d rows left, want 4", n)
	}
	// Maintenance again drops nothing more.
	if res, err := s.Maintain(ctx, now); err != nil || len(res.Dropped) != 0 {
		t.Fatalf("second round: %+v %v", res, err)
	}

	// Rows older than the retention are refused, not written into a
	// re-created partition; the others of the batch are written.
	old := metricRow("acme", "h", "m", now.AddDate(0, 0, -4), 1)
	edge := metricRow("acme", "h", "m", now.Add(-72*time.Hour+time.Second), 2)
	fresh := metricRow("acme", "h", "m", now.Add(time.Minute), 3)
	wr, err := s.WriteMetrics(ctx, []store.MetricRow{fresh, old, edge})
	if err != nil {
		t.Fatal(err)
	}
	if wr.Inserted != 2 || len(wr.Bad) != 1 || wr.Bad[0].Index != 1 || !errors.Is(wr.Bad[0].Err, store.ErrExpired) {
		t.Fatalf("result %+v", wr)
	}
	if n := count(t, s, `SELECT count(*) FROM pg_class WHERE relname = 'metrics_20260306'`); n != 0 {
		t.Fatal("a dropped partition was re-created")
	}
}

func TestRunMaintenanceCreatesPartitionsAtStart(t *testing.T) {
	t.Parallel()
	url := storetest.NewDatabase(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	s, err := store.Open(context.Background(), store.Options{URL: url, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunMaintenance(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for count(t, s, `SELECT count(*) FROM pg_class WHERE relname IN ('metrics_20260310', 'metrics_20260313')`) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("partitions not created within 10s")
		}
		<-time.After(20 * time.Millisecond) // poll interval
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNegativeRetention(t *testing.T) {
	t.Parallel()
	if _, err := store.Open(context.Background(), store.Options{URL: storetest.AdminURL(), Retention: -time.Hour}); err == nil {
		t.Fatal("negative retention accepted")
	}
}

func alertRow(tenant, host, episode, state, severity string, ts time.Time) store.AlertRow {
	v := 92.5
	return store.AlertRow{Ts: ts, Tenant: tenant, SourceID: host, Metric: "cpu_load", Severity: severity, Rule: "HighCPU",
		Value: &v, Message: "CPU " + state, EpisodeID: episode, State: state, AlertName: "HighCPU",
		Labels: []byte(`{"severity":"` + severity + `"}`), Annotations: []byte(`{"summary":"CPU ` + state + `"}`),
		Features: []byte(`{"avg(cpu_load,1m)":92.5,"max(cpu_load,1m)":null}`), StartsAt: &ts}
}

func TestQueryAlertsPagesNewestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	var rows []store.AlertRow
	for i := range 10 {
		ep := fmt.Sprintf("ep%02d", i)
		host := []string{"a", "b"}[i%2]
		sev := []string{"critical", "warning"}[i%2]
		// Two transitions at the same time: the id breaks the tie.
		ts := t0.Add(time.Duration(i/2) * time.Minute)
		rows = append(rows, alertRow("acme", host, ep, "pending", sev, ts), alertRow("acme", host, ep, "firing", sev, ts.Add(time.Second)))
	}
	rows = append(rows, alertRow("other", "a", "epX", "firing", "critical", t0))
	if res, err := s.WriteAlerts(ctx, rows); err != nil || res.Inserted != 21 {
		t.Fatalf("%+v %v", res, err)
	}
	var all []store.Alert
	q := store.AlertQuery{Tenant: "acme", Limit: 3}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := s.QueryAlerts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Alerts...)
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	if len(all) != 20 {
		t.Fatalf("%d alerts over the pages, want 20", len(all))
	}
	for i := 1; i < len(all); i++ {
		p, c := all[i-1], all[i]
		if c.Ts.After(p.Ts) || (c.Ts.Equal(p.Ts) && c.ID >= p.ID) {
			t.Fatalf("not newest first at %d: %+v then %+v", i, p, c)
		}
		if c.Tenant != "acme" {
			t.Fatalf("row of tenant %s", c.Tenant)
		}
	}
	f := func(q store.AlertQuery, want int) {
		t.Helper()
		q.Tenant = "acme"
		page, err := s.QueryAlerts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Alerts) != want {
			t.Fatalf("%+v: %d alerts, want %d", q, len(page.Alerts), want)
		}
		for _, a := range page.Alerts {
			if q.Host != "" && a.Host != q.Host || q.State != "" && a.State != q.State || q.Severity != "" && a.Severity != q.Severity ||
				!q.From.IsZero() && a.Ts.Before(q.From) || !q.To.IsZero() && !a.Ts.Before(q.To) {
				t.Fatalf("%+v: row %+v does not match", q, a)
			}
		}
	}
	f(store.AlertQuery{Host: "a"}, 10)
	f(store.AlertQuery{State: "firing"}, 10)
	f(store.AlertQuery{Severity: "warning", State: "pending"}, 5)
	f(store.AlertQuery{From: t0.Add(2 * time.Minute), To: t0.Add(4 * time.Minute)}, 8)
	f(store.AlertQuery{Host: "nobody"}, 0)

	ep, err := s.AlertEpisode(ctx, "acme", "ep03")
	if err != nil {
		t.Fatal(err)
	}
	if ep.State != "firing" || ep.Host != "b" || len(ep.Transitions) != 2 || ep.Transitions[0].State != "pending" ||
		ep.Transitions[1].Features["avg(cpu_load,1m)"] == nil || *ep.Transitions[1].Features["avg(cpu_load,1m)"] != 92.5 ||
		ep.Labels["severity"] != "warning" || ep.Transitions[0].Annotations["summary"] != "CPU pending" {
		t.Fatalf("episode %+v", ep)
	}
	if _, err := s.AlertEpisode(ctx, "other", "ep03"); !errors.Is(err, store.ErrNoRows) {
		t.Fatalf("episode of another tenant: %v", err)
	}
}

func TestQuerySeriesCapsTheAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	var rows []store.MetricRow
	for i := range 50 {
		rows = append(rows, metricRow("acme", fmt.Sprintf("h%d", i%5), "cpu_load", t0.Add(time.Duration(i)*time.Second), 1))
	}
	if _, err := s.WriteMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := s.QuerySeries(ctx, store.SeriesQuery{Tenant: "acme", Name: "cpu", MaxTotal: 49}); !errors.Is(err, store.ErrTooManyPoints) {
		t.Fatalf("err %v", err)
	}
	got, err := s.QuerySeries(ctx, store.SeriesQuery{Tenant: "acme", Name: "cpu", MaxTotal: 50, Limit: 4})
	if err != nil || len(got) != 5 || len(got[0].Points) != 4 || !got[0].Points[3].Ts.Equal(t0.Add(45*time.Second)) {
		t.Fatalf("%+v %v", got, err)
	}
	for _, agg := range store.Aggregations() {
		got, err := s.QuerySeries(ctx, store.SeriesQuery{Tenant: "acme", Host: "h1", Name: "cpu_load", Step: time.Minute, Agg: agg})
		if err != nil || len(got) != 1 || len(got[0].Points) != 1 {
			t.Fatalf("%s: %+v %v", agg, got, err)
		}
		want := map[string]float64{"avg": 1, "min": 1, "max": 1, "sum": 10, "count": 10, "last": 1}[agg]
		if v := got[0].Points[0].Value; v != want {
			t.Fatalf("%s = %v, want %v", agg, v, want)
		}
	}
}

// Replicas that start together each create the day's partitions; none of
// them sees the other's creation as an error.
func TestMaintainRacesWithoutErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewDatabase(t)
	const replicas = 4
	stores := make([]*store.Store, replicas)
	for i := range stores {
		stores[i] = open(t, url)
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := 0; round < 20; round++ {
		now := day.AddDate(0, 0, round*10)
		errs := make(chan error, replicas)
		start := make(chan struct{})
		for _, s := range stores {
			go func() {
				<-start
				_, err := s.Maintain(ctx, now)
				errs <- err
			}()
		}
		close(start)
		for range stores {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
