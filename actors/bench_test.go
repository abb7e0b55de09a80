package actors_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// BenchmarkSinkVsCopy runs, round by round in one process, the sink alone
// (signals → rows → batch writer → idempotent write of metrics and
// sources, acknowledged) and a raw COPY of the same rows into an identical
// metrics table (not idempotent, no sources, rows built beforehand). It
// reports both rates, their ratio and the most rows the sink held.
//
//	go test ./actors -run '^$' -bench BenchmarkSinkVsCopy -benchtime 10x -count 3
func BenchmarkSinkVsCopy(b *testing.B) {
	const signalsPerRound, samples = 5000, 10 // 50,000 rows a round: 5 batches
	ctx := context.Background()
	copyDB, sinkDB := openStore(b, store.Options{}), openStore(b, store.Options{})
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	sink := actors.NewSink(system, actors.SinkOptions{Store: sinkDB, Producer: &dlq{}, DrainTimeout: time.Minute, Logger: quiet})
	defer running(b, sink)()

	base := time.Date(2025, 10, 21, 0, 0, 0, 0, time.UTC)
	rounds := make([][]*tables.Signal, b.N)
	rows := make([][]store.MetricRow, b.N)
	for i := range rounds {
		// Each round's events are 10 minutes after the previous round's.
		rounds[i] = signals(signalsPerRound, samples, base.Add(time.Duration(i)*10*time.Minute))
		for _, sig := range rounds[i] {
			rows[i] = append(rows[i], actors.MetricRows(sig)...)
		}
	}
	for _, db := range []*store.Store{copyDB, sinkDB} {
		if err := db.EnsurePartition(ctx, base); err != nil {
			b.Fatal(err)
		}
	}
	var copyTime, sinkTime time.Duration
	var acked atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := copyDB.Pool().CopyFrom(ctx, pgx.Identifier{"metrics"},
			[]string{"ts", "tenant", "source_id", "metric", "value", "unit", "tags", "meta", "ingested_at"},
			pgx.CopyFromSlice(len(rows[i]), func(j int) ([]any, error) {
				r := &rows[i][j]
				var meta any
				if r.Meta != nil {
					meta = string(r.Meta)
				}
				return []any{r.Ts, r.Tenant, r.SourceID, r.Metric, r.Value, r.Unit, string(r.Tags), meta, r.IngestedAt}, nil
			})); err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(start)

		start = time.Now()
		want := acked.Load() + int64(len(rounds[i]))
		for _, sig := range rounds[i] {
			if err := sink.Signal(ctx, sig, func() { acked.Add(1) }); err != nil {
				b.Fatal(err)
			}
		}
		for acked.Load() < want {
			<-time.After(100 * time.Microsecond) // the poll interval
		}
		sinkTime += time.Since(start)
	}
	b.StopTimer()
	total := float64(b.N * signalsPerRound * samples)
	copyRate, sinkRate := total/copyTime.Seconds(), total/sinkTime.Seconds()
	b.ReportMetric(copyRate, "copy-rows/s")
	b.ReportMetric(sinkRate, "sink-rows/s")
	b.ReportMetric(sinkRate/copyRate, "sink/copy")
	peak, _ := sink.PeakPendingRows()
	b.ReportMetric(float64(peak), "peak-held-rows")
	var n int
	if err := sinkDB.Pool().QueryRow(ctx, `SELECT count(*) FROM metrics`).Scan(&n); err != nil || float64(n) != total {
		b.Fatalf("the sink wrote %d rows, want %v (%v)", n, total, err)
	}
}
