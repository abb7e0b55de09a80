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

// A batch of ScanSignals reads metrics_source_id in order, even on a
// partition never analyzed, where the planner, left to itself, reads the
// whole range and sorts it for every batch.
func TestScanSignalsBatchFollowsTheIndex(t *testing.T) {
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
	after := &scanRow{tenant: "acme", host: "host-5", id: 5000}
	for _, where := range []SignalScan{q, {Tenant: "acme", From: q.From, To: q.To}, {Tenant: "acme", Host: "host-7", From: q.From, To: q.To}} {
		sql, args := scanQuery(where, after, defaultScanBatch)
		var plan []string
		if err := s.queryScan(ctx, "EXPLAIN "+sql, args, func(rows pgx.Rows) error {
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					return err
				}
				plan = append(plan, line)
			}
			return rows.Err()
		}); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Sort") || !strings.Contains(text, "Index Scan using metrics_20260105_tenant_source_id_id_idx") {
			t.Errorf("%+v:\n%s", where, text)
		}
	}
}
