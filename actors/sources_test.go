package actors

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// ackingProducer acknowledges every record from another goroutine, as a
// broker does.
type ackingProducer struct{}

func (ackingProducer) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	go promise(r, nil)
}

// A signal delivered to a partition that began closing is refused, so that
// the stage hands it back; what was delivered before is durable once Close
// returns.
func TestDeliverAfterCloseIsRefused(t *testing.T) {
	system := NewSystem(slog.New(slog.DiscardHandler))
	defer system.Shutdown()
	s := NewSources(system, SourcesOptions{Rules: NewRuleHolder(parse(t, oneRule)), Producer: ackingProducer{}, FlushInterval: time.Hour,
		Logger: slog.New(slog.DiscardHandler)})
	var mu sync.Mutex
	durable := int64(-1)
	p := s.Open(0, PartitionHooks{Durable: func(_ string, off int64) {
		mu.Lock()
		durable = max(durable, off)
		mu.Unlock()
	}, HandBack: func(off int64) { t.Errorf("offset %d handed back by its actor", off) }})
	signal := func(ts time.Time) *tables.Signal {
		return &tables.Signal{Tenant: "acme", Host: "h", Samples: []tables.Sample{{Metric: "cpu_load", Value: 0.5, TsMicro: ts.UnixMicro()}}}
	}
	now := time.Now()
	if !p.Deliver("acme/h", 1, now.UnixMilli(), signal(now), func() []byte { return nil }) {
		t.Fatal("a signal was refused before Close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p.Close(ctx)
	mu.Lock()
	got := durable
	mu.Unlock()
	if got != 1 {
		t.Fatalf("durable up to %d after Close, want 1", got)
	}
	if p.Deliver("acme/h", 2, now.UnixMilli(), signal(now.Add(time.Second)), func() []byte { return nil }) {
		t.Fatal("a signal delivered after Close was taken: nothing applies it and nothing hands it back")
	}
}
