package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func migrated(t *testing.T) *store.Store {
	t.Helper()
	s := open(t, storetest.NewDatabase(t))
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWriteMetricsIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	base := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	var rows []store.MetricRow
	for i := 0; i < 500; i++ {
		rows = append(rows, store.MetricRow{
			Ts: base.Add(time.Duration(i) * time.Minute), Tenant: "acme", SourceID: "host-a", Metric: "cpu_load",
			Value: float64(i), Unit: "percent", Tags: []byte(`{"env":"prod"}`), IngestedAt: time.Now(),
		})
	}
	res, err := s.WriteMetrics(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 500 || len(res.Bad) != 0 {
		t.Fatalf("first write: %+v", res)
	}
	// The same rows again, and a batch that repeats a row inside itself.
	res, err = s.WriteMetrics(ctx, append(rows, rows[:10]...))
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 0 {
		t.Fatalf("replay inserted %d rows", res.Inserted)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM metrics`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 500 {
		t.Fatalf("metrics has %d rows, want 500", n)
	}
}

func TestWriteMetricsIsolatesBadRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := []store.MetricRow{
		{Ts: now, Tenant: "acme", SourceID: "h1", Metric: "m", Value: 1, Tags: []byte(`{}`), IngestedAt: now},
		// PostgreSQL text cannot hold NUL.
		{Ts: now, Tenant: "acme", SourceID: "h\x00bad", Metric: "m", Value: 2, Tags: []byte(`{}`), IngestedAt: now},
		{Ts: now, Tenant: "acme", SourceID: "h3", Metric: "m", Value: 3, Tags: []byte(`{}`), IngestedAt: now},
	}
	res, err := s.WriteMetrics(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2 || len(res.Bad) != 1 || res.Bad[0].Index != 1 {
		t.Fatalf("result %+v", res)
	}
}

func TestQuerySeriesMatchesFamily(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	ts := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	rows := []store.MetricRow{
		{Ts: ts, Tenant: "acme", SourceID: "host-a", Metric: "cpu_load", Value: 92, Unit: "percent", IngestedAt: ts},
		{Ts: ts, Tenant: "acme", SourceID: "host-a", Metric: "cpufreq", Value: 1, IngestedAt: ts},
		{Ts: ts, Tenant: "acme", SourceID: "host-b", Metric: "cpu_load", Value: 50, IngestedAt: ts},
		{Ts: ts, Tenant: "other", SourceID: "host-a", Metric: "cpu_load", Value: 7, IngestedAt: ts},
	}
	if _, err := s.WriteMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.QuerySeries(ctx, store.SeriesQuery{Tenant: "acme", Host: "host-a", Name: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Metric != "cpu_load" || len(got[0].Points) != 1 || got[0].Points[0].Value != 92 {
		t.Fatalf("got %+v", got)
	}
}

func TestMigrateFromSeedSchemaKeepsRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewDatabase(t)
	// A database made by the original sketch, with a row in it.
	storetest.Exec(t, url, `CREATE TABLE metrics (id SERIAL PRIMARY KEY, ts TIMESTAMPTZ, tenant TEXT, source_id TEXT,
		metric TEXT, value DOUBLE PRECISION, unit TEXT, tags JSONB);
		CREATE TABLE alerts (id SERIAL PRIMARY KEY, ts TIMESTAMPTZ, tenant TEXT, source_id TEXT, metric TEXT,
		severity TEXT, rule TEXT, value DOUBLE PRECISION, message TEXT, tags JSONB);
		INSERT INTO metrics (ts, tenant, source_id, metric, value, unit, tags)
		VALUES ('2025-10-21T10:00:00Z', 'acme', 'host-a', 'cpu_load', 92, 'percent', '{"env":"prod"}'),
		       ('2025-10-21T10:00:00Z', 'acme', 'host-a', 'cpu_load', 92, 'percent', '{"env":"prod"}'),
		       ('2025-10-21T10:00:00Z', 'acme', 'host-a', 'cpu_load', 40, 'percent', '{"env":"prod","core":"1"}');
		INSERT INTO alerts (ts, tenant, source_id, metric, severity, rule, value, message)
		VALUES ('2025-10-21T10:00:00Z', 'acme', 'host-a', 'cpu_load', 'critical', 'cpu>90', 92, 'old');`)
	s := open(t, url)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var n, a int
	var tags string
	if err := s.Pool().QueryRow(ctx, `SELECT count(*), min(tags::text) FROM metrics`).Scan(&n, &tags); err != nil {
		t.Fatal(err)
	}
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM alerts WHERE message = 'old'`).Scan(&a); err != nil {
		t.Fatal(err)
	}
	// The row sent twice is one row; the other series at the same time is
	// its own.
	if n != 2 || !strings.Contains(tags, "prod") || a != 1 {
		t.Fatalf("after migration: %d metrics (tags %s), %d alerts", n, tags, a)
	}
	// The sources view is filled from the rows carried over.
	srcs, _, err := s.QuerySources(ctx, store.SourceQuery{Tenant: "acme"})
	if err != nil || len(srcs) != 1 || srcs[0].Host != "host-a" || !srcs[0].LastSeen.Equal(time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("sources after migration: %+v %v", srcs, err)
	}
	// Migrating again is a no-op.
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	url := storetest.NewDatabase(t)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			s, err := store.Open(context.Background(), store.Options{URL: url})
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(context.Background())
		}()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Series of one metric that differ in their tags come back one per tag
// set, with their tags and name; a tag filter picks among them.
func TestQuerySeriesPerTagSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	at := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	var rows []store.MetricRow
	for core, v := range []float64{20, 95} {
		rows = append(rows, store.MetricRow{Ts: at, Tenant: "acme", SourceID: "host-a", Metric: "cpu_load", Value: v,
			Tags: []byte(`{"core":"` + string(rune('0'+core)) + `","env":"prod"}`), IngestedAt: at})
	}
	if res, err := s.WriteMetrics(ctx, rows); err != nil || res.Inserted != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	got, err := s.QuerySeries(ctx, store.SeriesQuery{Tenant: "acme", Name: "cpu"})
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	for _, g := range got {
		want := map[string]float64{"0": 20, "1": 95}[g.Tags["core"]]
		if g.Name != `cpu_load{core="`+g.Tags["core"]+`",env="prod"}` || len(g.Points) != 1 || g.Points[0].Value != want {
			t.Fatalf("series %+v", g)
		}
	}
	got, err = s.QuerySeries(ctx, store.SeriesQuery{Tenant: "acme", Name: "cpu", Tags: map[string]string{"core": "1"}, Step: time.Minute, Agg: "max"})
	if err != nil || len(got) != 1 || got[0].Tags["core"] != "1" || got[0].Points[0].Value != 95 {
		t.Fatalf("filtered %+v %v", got, err)
	}
}
