package processors_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// silentBroker takes records and never answers them: what a stage writes
// through it never becomes durable.
type silentBroker struct {
	mu   sync.Mutex
	recs []*kgo.Record
}

func (b *silentBroker) Produce(_ context.Context, r *kgo.Record, _ func(*kgo.Record, error)) {
	b.mu.Lock()
	b.recs = append(b.recs, r)
	b.mu.Unlock()
}

func (b *silentBroker) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.recs)
}

// A raw record without a value (a tombstone, or kcat -Z sending an empty
// line as NULL) is input like any other: it must not let the stage commit
// past records read before it whose signals are not durable yet. Here the
// broker never acknowledges a signal, so nothing the stage read is durable;
// when the stage stops, its commit must leave every record for the next
// owner to read again.
func TestARawRecordWithoutAValueDoesNotCommitPastPendingRecords(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	ctx := context.Background()
	layout := tables.Layout{Partitions: 1, DLQPartitions: 1, RetentionMs: 3600_000}
	if _, err := broker.EnsureTopics(ctx, b.Addrs(), layout, 1); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	event := []byte(`{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":1}`)
	for _, v := range [][]byte{event, event, nil, event} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tables.RawTopic, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	out := &silentBroker{}
	quiet := slog.New(slog.DiscardHandler)
	in, err := processors.NewIngest(processors.IngestOptions{
		Kafka:    processors.Kafka{Brokers: b.Addrs(), HandBackGrace: time.Second, Logger: quiet},
		Producer: out, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- in.Run(runCtx) }()
	waitFor(t, time.Minute, "the stage reads the four records", func() error {
		if n := out.count(); n != 4 {
			return fmt.Errorf("%d records written", n)
		}
		return nil
	})
	// The record without a value goes to the DLQ with its reason.
	reasons := map[string]int{}
	out.mu.Lock()
	for _, r := range out.recs {
		if r.Topic == tables.DLQTopic {
			reasons[kgotables.Header(r, tables.HeaderReason)]++
		}
	}
	out.mu.Unlock()
	if reasons["empty"] != 1 || len(reasons) != 1 {
		t.Fatalf("DLQ records by reason %v", reasons)
	}
	stop()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("ingest stopped with %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("ingest did not stop")
	}

	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, tables.IngestGroup)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(tables.RawTopic, 0); ok && o.At > 0 {
		t.Fatalf("committed raw offset %d although no signal of offsets 0, 1 and 3 was ever acknowledged: "+
			"a restart skips them", o.At)
	}
}
