package store

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
)

// A database at the skeleton's schema (version 2) with rows in it gains
// the sources view, filled from its metrics, and keeps writing.
func TestMigrateFromSkeletonSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: storetest.NewDatabase(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.migrate(ctx, 2); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	if err := s.EnsurePartition(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO metrics (ts, tenant, source_id, metric, value, meta) VALUES
		($1, 'acme', 'host-a', 'cpu_load', 1, '{"owner":"old"}'), ($1 + interval '1 minute', 'acme', 'host-a', 'cpu_load', 2, '{"owner":"new"}'),
		($1, 'acme', 'host-b', 'cpu_load', 3, NULL)`, t0); err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != 2 {
		t.Fatalf("version %d %v", v, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srcs, _, err := s.QuerySources(ctx, SourceQuery{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 2 || !srcs[0].FirstSeen.Equal(t0) || !srcs[0].LastSeen.Equal(t0.Add(time.Minute)) ||
		string(srcs[0].Meta) != `{"owner": "new"}` || srcs[1].Meta != nil {
		t.Fatalf("sources %+v", srcs)
	}
	res, err := s.WriteMetrics(ctx, []MetricRow{{Ts: t0.Add(2 * time.Minute), Tenant: "acme", SourceID: "host-a", Metric: "cpu_load", Value: 4, IngestedAt: t0}})
	if err != nil || res.Inserted != 1 {
		t.Fatalf("write after migration: %+v %v", res, err)
	}
}

// A database at the key without series (version 4) gains series_id on
// every row, computed as EventOps computes it, and from then on keeps two
// series of one metric at one time as two rows, and a row written again
// as one.
func TestMigrateToSeriesKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: storetest.NewDatabase(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.migrate(ctx, 4); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	if err := s.EnsurePartition(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO metrics (ts, tenant, source_id, metric, value, tags) VALUES
		($1, 'acme', 'host-a', 'cpu_load', 1, '{"core":"0","env":"prod"}'),
		($1 + interval '1 minute', 'acme', 'host-a', 'cpu_load', 2, '{}'),
		($1, 'acme', 'host-a', 'disk_used_pct', 3, '{"mount":"/"}')`, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.pool.Query(ctx, `SELECT metric, tags, series_id FROM metrics ORDER BY ts, metric`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var metric string
		var tags []byte
		var id int64
		if err := rows.Scan(&metric, &tags, &id); err != nil {
			t.Fatal(err)
		}
		want, err := seriesOf(metric, tags)
		if err != nil || id != want {
			t.Fatalf("%s %s: series_id %d, want %d (%v)", metric, tags, id, want, err)
		}
		n++
	}
	if err := rows.Err(); err != nil || n != 3 {
		t.Fatalf("%d rows %v", n, err)
	}
	// The other core at the same time is another row; each row again is none.
	batch := []MetricRow{
		{Ts: t0, Tenant: "acme", SourceID: "host-a", Metric: "cpu_load", Value: 1, Tags: []byte(`{"core":"0","env":"prod"}`), IngestedAt: t0},
		{Ts: t0, Tenant: "acme", SourceID: "host-a", Metric: "cpu_load", Value: 5, Tags: []byte(`{"core":"1","env":"prod"}`), IngestedAt: t0},
	}
	for i, want := range []int64{1, 0} {
		res, err := s.WriteMetrics(ctx, batch)
		if err != nil || res.Inserted != want {
			t.Fatalf("write %d: %+v %v", i, res, err)
		}
	}
}

// The series PostgreSQL computes for a row is the one EventOps computes for
// its sample, whatever the tags hold.
func TestSeriesIDMatchesPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: storetest.NewDatabase(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		metric string
		tags   tables.Tags
	}{
		{"cpu_load", nil},
		{"cpu_load", tables.Tags{{Key: "core", Value: "0"}}},
		{"cpu_load", tables.Tags{{Key: "B", Value: "x"}, {Key: "a", Value: "y"}, {Key: "é", Value: "z"}}},
		{"odd", tables.Tags{{Key: `k=\"`, Value: `v"\=,}`}, {Key: "m{", Value: ""}}},
		{"odd", tables.Tags{{Key: "k", Value: `="x",j="y`}}},
	}
	for _, c := range cases {
		var got int64
		if err := s.pool.QueryRow(ctx, `SELECT eventops_series_id($1, $2::jsonb)`, c.metric, string(c.tags.AppendJSON(nil))).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := tables.SeriesID(c.metric, c.tags); got != want {
			t.Errorf("%s: PostgreSQL %d, EventOps %d", tables.SeriesName(c.metric, c.tags), got, want)
		}
	}
	// Escaping keeps names apart that plain joining would not.
	a := tables.SeriesName("odd", tables.Tags{{Key: "k", Value: `x",j="y`}})
	b := tables.SeriesName("odd", tables.Tags{{Key: "j", Value: "y"}, {Key: "k", Value: "x"}})
	if a == b {
		t.Fatalf("%s and %s", a, b)
	}
}
