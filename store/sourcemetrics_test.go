package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
)

// SourceMetrics lists one source's metric names, each once, in order,
// across daily partitions, and nothing of another source or tenant.
func TestSourceMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	base := time.Date(2025, 10, 21, 23, 0, 0, 0, time.UTC)
	var rows []store.MetricRow
	for i := range 120 {
		// Two hours: rows on both sides of midnight, in two partitions.
		ts := base.Add(time.Duration(i) * time.Minute)
		for _, m := range []string{"mem_used", "cpu_load", "disk_used"} {
			rows = append(rows, metricRow("acme", "host-a", m, ts, float64(i)))
		}
		rows = append(rows, metricRow("acme", "host-b", "net_rx", ts, 1))
		rows = append(rows, metricRow("other", "host-a", "secret_metric", ts, 666))
	}
	if _, err := s.WriteMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	f := func(tenant, host string, want ...string) {
		t.Helper()
		got, err := s.SourceMetrics(ctx, tenant, host)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = []string{}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s/%s: %v, want %v", tenant, host, got, want)
		}
	}
	f("acme", "host-a", "cpu_load", "disk_used", "mem_used")
	f("acme", "host-b", "net_rx")
	f("other", "host-a", "secret_metric")
	f("acme", "nobody")
	f("nobody", "host-a")
}
