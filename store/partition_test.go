package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// EnsurePartition promises that the day's partition exists once it returns
// nil. A relation of the partition's name that is not a partition of
// metrics (a partition detached to archive it, say) is an error naming it,
// and the day is not taken for created: a write of that day fails with the
// same error instead of PostgreSQL refusing its rows one by one.
func TestEnsurePartitionRefusesATableOfTheSameName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewDatabase(t)
	s := open(t, url)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.EnsurePartition(ctx, day); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `ALTER TABLE metrics DETACH PARTITION metrics_20300101`); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsurePartition(ctx, day); err == nil || !strings.Contains(err.Error(), "metrics_20300101") {
		t.Fatalf("EnsurePartition with a detached metrics_20300101: %v, want an error naming it", err)
	}
	// A batch of that day and the next: the next day's row is written, and
	// the row of the day without its partition comes back as bad (so it
	// goes to the DLQ, and the sink does not retry it forever), naming the
	// table.
	res, err := s.WriteMetrics(ctx, []store.MetricRow{
		metricRow("acme", "h", "m", day.Add(time.Hour), 1),
		metricRow("acme", "h", "m", day.Add(25*time.Hour), 2),
	})
	if err != nil || res.Inserted != 1 || len(res.Bad) != 1 || res.Bad[0].Index != 0 ||
		!errors.Is(res.Bad[0].Err, store.ErrNotPartition) || !strings.Contains(res.Bad[0].Err.Error(), "metrics_20300101") {
		t.Fatalf("a write of that day and the next: %+v %v, want the next day's row written and the other bad, naming metrics_20300101", res, err)
	}
	// Attached again, it is the partition, and the day's rows are written.
	if _, err := s.Pool().Exec(ctx, `ALTER TABLE metrics ATTACH PARTITION metrics_20300101
		FOR VALUES FROM ('2030-01-01 00:00:00+00') TO ('2030-01-02 00:00:00+00')`); err != nil {
		t.Fatal(err)
	}
	res, err = s.WriteMetrics(ctx, []store.MetricRow{metricRow("acme", "h", "m", day.Add(time.Hour), 1)})
	if err != nil || res.Inserted != 1 {
		t.Fatalf("a write of that day after the attach: %+v %v", res, err)
	}
}
