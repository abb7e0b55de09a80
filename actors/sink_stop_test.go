package actors_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/store"
)

// refusingStore refuses the first row of every batch of metrics, as
// PostgreSQL refuses a row older than the retention.
type refusingStore struct{}

func (refusingStore) WriteMetrics(_ context.Context, rows []store.MetricRow) (store.WriteResult, error) {
	return store.WriteResult{Inserted: int64(len(rows) - 1), Bad: []store.BadRow{{Index: 0, Err: store.ErrExpired}}}, nil
}

func (refusingStore) WriteAlerts(_ context.Context, rows []store.AlertRow) (store.WriteResult, error) {
	return store.WriteResult{Inserted: int64(len(rows))}, nil
}

// downBroker is a broker that does not answer: a produce waits until its
// context ends.
type downBroker struct{ inFlight atomic.Int32 }

func (b *downBroker) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	<-ctx.Done()
	out := make(kgo.ProduceResults, len(rs))
	for i, r := range rs {
		out[i] = kgo.ProduceResult{Record: r, Err: ctx.Err()}
	}
	return out
}

// A stop while the broker is down and a batch holds a row PostgreSQL
// refused: the drain gives up within its deadline, the refused row's DLQ
// send with it, nothing is acknowledged, and Run returns only once the
// writer has stopped sending.
func TestSinkStopWithTheBrokerDownEndsWithinTheDrain(t *testing.T) {
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	broker := &downBroker{}
	sink := actors.NewSink(system, actors.SinkOptions{Store: refusingStore{}, Producer: broker,
		Metrics: actors.WriterOptions{FlushInterval: 10 * time.Millisecond}, DrainTimeout: 200 * time.Millisecond, Logger: quiet})
	stop := running(t, sink)
	sig := signals(1, 4, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))[0]
	var acked atomic.Bool
	if err := sink.Signal(context.Background(), sig, func() { acked.Store(true) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refused row is on its way to the DLQ", func() error {
		if broker.inFlight.Load() == 0 {
			return errors.New("no DLQ send yet")
		}
		return nil
	})
	began := time.Now()
	_ = stop()
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the stop took %s with a drain of 200ms", took.Round(time.Millisecond))
	}
	if n := broker.inFlight.Load(); n != 0 {
		t.Errorf("%d DLQ sends still in flight after Run returned", n)
	}
	if acked.Load() {
		t.Error("the record was acknowledged though its refused row never reached the DLQ")
	}
}

// Rows handed to a writer once its Run has ended are not taken: Append
// says so, so that the stage gives their record to the partition's next
// owner at once, instead of waiting for an acknowledgement that never
// comes while the rows hold the writer's room.
func TestWriterRefusesRowsOnceStopped(t *testing.T) {
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	write := func(_ context.Context, rows []store.MetricRow) (store.WriteResult, error) {
		return store.WriteResult{Inserted: int64(len(rows))}, nil
	}
	w := actors.NewWriter(system, write, nil, actors.WriterOptions{Name: "metrics", BatchRows: 10, MaxPendingRows: 10,
		FlushInterval: time.Hour, DrainTimeout: time.Second, Logger: quiet})
	stop := running(t, w)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	err := w.Append(context.Background(), record(0), func() { t.Error("rows of a stopped writer acknowledged") })
	if !errors.Is(err, actors.ErrWriterStopped) {
		t.Fatalf("Append after the writer stopped returned %v", err)
	}
	if n := w.Pending(); n != 0 {
		t.Fatalf("a stopped writer holds %d rows of its room", n)
	}
}
