package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/store/storetest"
	"github.com/jackc/pgx/v5"
)

// ScanSignals reads a source on the primary key's (tenant, source_id)
// prefix, not by reading the partitions whole, even on partitions never
// analyzed; and its list of sources leaves out those whose span of event
// times misses the range.
func TestScanSignalsSourceQueryUsesTheKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: storetest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var rows []MetricRow
	for step := range 1000 {
		for h := range 20 {
			for m := range 5 {
				rows = append(rows, MetricRow{Ts: base.Add(time.Duration(step) * 10 * time.Second), Tenant: "acme",
					SourceID: fmt.Sprintf("host-%d", h), Metric: fmt.Sprintf("m%d", m), Value: 1, Tags: []byte(`{}`), IngestedAt: base})
			}
		}
	}
	for i := 0; i < len(rows); i += 20_000 {
		if _, err := s.WriteMetrics(ctx, rows[i:min(i+20_000, len(rows))]); err != nil {
			t.Fatal(err)
		}
	}
	q := SignalScan{From: base, To: base.Add(24 * time.Hour)}
	for _, where := range []SignalScan{q, {From: q.From}, {To: q.To}, {}} {
		sql, args := sourceQuery(where, scanSource{"acme", "host-7"})
		rows, err := s.pool.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "metrics_20260105_pkey") {
			t.Errorf("%+v:\n%s", where, text)
		}
	}
	// Every host wrote the first hours of the first day, host-0 one sample
	// of the second day too.
	if _, err := s.WriteMetrics(ctx, []MetricRow{{Ts: base.Add(25 * time.Hour), Tenant: "acme", SourceID: "host-0",
		Metric: "m0", Value: 1, Tags: []byte(`{}`), IngestedAt: base}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    SignalScan
		want int
	}{
		{SignalScan{}, 20},
		{SignalScan{From: base.Add(24 * time.Hour)}, 1},
		{SignalScan{From: base.Add(25 * time.Hour).Add(time.Microsecond)}, 0},
		{SignalScan{To: base}, 0},
		{SignalScan{To: base.Add(time.Microsecond)}, 20},
		{SignalScan{Tenant: "acme", Host: "host-3"}, 1},
		{SignalScan{Tenant: "beta"}, 0},
	} {
		if got, err := s.scanSources(ctx, c.q); err != nil || len(got) != c.want {
			t.Errorf("sources of %+v: %v %v, want %d", c.q, got, err, c.want)
		}
	}
}
