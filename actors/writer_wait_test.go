package actors_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/store"
)

// A writer writes only while Run runs; an input record that finds its
// budget full waits for room, and the wait is counted.
func TestWriterWritesWhileRunRunsAndCountsTheWaitForRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		system := actors.NewSystem(quiet)
		defer system.Shutdown()
		reg := prometheus.NewRegistry()
		var written atomic.Int64
		write := func(_ context.Context, rows []store.MetricRow) (store.WriteResult, error) {
			written.Add(int64(len(rows)))
			return store.WriteResult{Inserted: int64(len(rows))}, nil
		}
		w := actors.NewWriter(system, write, nil, actors.WriterOptions{Name: "metrics", BatchRows: 10, MaxPendingRows: 10,
			FlushInterval: time.Hour, Registerer: reg, Logger: quiet})
		var acked atomic.Int32
		if err := w.Append(context.Background(), record(0), func() { acked.Add(1) }); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() { second <- w.Append(context.Background(), record(1), func() { acked.Add(1) }) }()
		time.Sleep(time.Second)
		synctest.Wait()
		if n, p := written.Load(), w.Pending(); n != 0 || p != 10 {
			t.Fatalf("before Run: %d rows written, %d held; want 0 and the budget of 10", n, p)
		}

		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- w.Run(ctx) }()
		if err := <-second; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n, a := written.Load(), acked.Load(); n != 20 || a != 2 {
			t.Fatalf("running: %d rows written, %d records acknowledged; want 20 and 2", n, a)
		}
		count, sum := histogram(t, reg, "eventops_store_append_wait_seconds")
		if count != 1 || sum != 1 {
			t.Fatalf("append waits: %d observed, %vs in all; want the one record that waited 1s", count, sum)
		}
		cancel()
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
	})
}

// histogram returns the sample count and sum of a histogram in reg.
func histogram(t *testing.T, reg *prometheus.Registry, name string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no histogram %s", name)
	return 0, 0
}
