package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

// EnsurePartition promises that the day's partition exists once it returns
// nil. A relation of the partition's name that is not a partition of
// metrics (a partition detached to archive it, say) passes for one: the
// call succeeds, the day is remembered as created, and every row of that
// day is refused by PostgreSQL from then on.
func TestAttackEnsurePartitionTrustsATableOfTheSameName(t *testing.T) {
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
	ensureErr := s.EnsurePartition(ctx, day)
	res, err := s.WriteMetrics(ctx, []store.MetricRow{metricRow("acme", "h", "m", day.Add(time.Hour), 1)})
	if err != nil || res.Inserted != 1 {
		t.Fatalf("EnsurePartition answered %v, and a row of that day is not written: %+v %v", ensureErr, res, err)
	}
}
