package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A source's rows in id order are in the order they were written, across
// batches and whichever way a batch goes in: the direct COPY, the staging
// path of a batch that holds rows already there (a resend keeps the id of
// its first copy), and the halves of a batch split around a bad row.
// ScanSignals reads a source in that order, as the order its signals
// arrived in.
func TestMetricIDsFollowWriteOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migratedStore(t)
	base := time.Date(2026, 3, 9, 23, 59, 0, 0, time.UTC)
	row := func(host string, sec int, metric string) MetricRow {
		ts := base.Add(time.Duration(sec) * time.Second)
		return MetricRow{Ts: ts, Tenant: "acme", SourceID: host, Metric: metric, Value: float64(sec),
			Tags: []byte(`{}`), IngestedAt: ts}
	}
	// Event times out of order within each source (across midnight: two
	// partitions), the two sources interleaved.
	var written []MetricRow
	write := func(rows []MetricRow, inserted int64, bad int) {
		t.Helper()
		res, err := s.WriteMetrics(ctx, rows)
		if err != nil || res.Inserted != inserted || len(res.Bad) != bad {
			t.Fatalf("write: %+v %v, want %d inserted, %d bad", res, err, inserted, bad)
		}
	}
	var first []MetricRow
	for i, sec := range []int{50, 10, 70, 30, 90, 20, 60, 40, 80, 0} {
		first = append(first, row([]string{"a", "b"}[i%2], sec, "cpu"), row("a", sec+1, "mem"))
	}
	write(first, int64(len(first)), 0)
	written = append(written, first...)

	// A resend of rows already there, then new rows: the staging path.
	var second []MetricRow
	second = append(second, first[3], first[0])
	for _, sec := range []int{5, 95, 15, 85} {
		second = append(second, row("b", sec, "cpu"), row("a", sec, "disk"))
	}
	write(second, int64(len(second)-2), 0)
	written = append(written, second[2:]...)

	// A bad row (metadata that is not JSON) splits the batch.
	var third []MetricRow
	for i, sec := range []int{45, 25, 65, 35, 55, 75} {
		third = append(third, row([]string{"a", "b"}[i%2], sec, "net"))
	}
	bad := row("a", 44, "net")
	bad.Meta = []byte(`{`)
	third = slices.Insert(third, 3, bad)
	write(third, int64(len(third)-1), 1)
	written = append(written, slices.Delete(slices.Clone(third), 3, 4)...)

	// Sessions that each cached a range of the sequence would number the
	// batches they write in turn out of order.
	var cache int64
	if err := s.pool.QueryRow(ctx, `SELECT cache_size FROM pg_sequences WHERE sequencename = 'metrics_id_seq'`).Scan(&cache); err != nil || cache != 1 {
		t.Errorf("metrics_id_seq caches %d values (%v), want 1", cache, err)
	}
	for _, host := range []string{"a", "b"} {
		var want []string
		for _, r := range written {
			if r.SourceID == host {
				want = append(want, r.Metric+"@"+r.Ts.Format("15:04:05"))
			}
		}
		rows, err := s.pool.Query(ctx, `SELECT metric, ts FROM metrics WHERE tenant = 'acme' AND source_id = $1 ORDER BY id`, host)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var metric string
			var ts time.Time
			if err := rows.Scan(&metric, &ts); err != nil {
				t.Fatal(err)
			}
			got = append(got, metric+"@"+ts.UTC().Format("15:04:05"))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s in id order:\n got %v\nwant %v", host, got, want)
		}
	}
}
