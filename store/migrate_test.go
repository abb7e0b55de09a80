package store

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/eventops/eventops/store/storetest"
)

// A database at the skeleton's schema (version 2) with rows in it gains
// the sources view, filled from its metrics, and keeps writing.
func TestMigrateFromSkeletonSchema(t *testing.T) {
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
