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

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables"
)

// partialHost stands in for the source actors: it makes a signal's state
// durable only when durable says so, and never at the partition's close
// (as when the flush does not reach the broker in time).
type partialHost struct {
	durable func(off int64) bool

	mu   sync.Mutex
	read []int64
}

func (h *partialHost) Open(_ int32, hooks processors.PartitionHooks) processors.SourcePartition {
	return &partialPartition{h: h, hooks: hooks}
}

func (h *partialHost) offsets() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.read...)
}

type partialPartition struct {
	h     *partialHost
	hooks processors.PartitionHooks
}

func (p *partialPartition) Deliver(key string, offset, _ int64, _ *tables.Signal, _ func() []byte) bool {
	p.h.mu.Lock()
	p.h.read = append(p.h.read, offset)
	p.h.mu.Unlock()
	if p.h.durable(offset) {
		// Out of the callback, as a flush's promise is.
		go p.hooks.Durable(key, offset)
	}
	return true
}

func (p *partialPartition) Wake(string, []byte)   {}
func (p *partialPartition) Close(context.Context) {}

// The features stage commits a signal only once the state that includes
// it is durable, though goka commits every record as its callback returns:
// while its sources' states are durable up to signal 5 only (each source
// here is its own key, so a later durable state covers nothing before
// it), the group's offset stays at 5 through the stage's periodic commits,
// its stop and a second replica joining; that replica reads again from 5,
// and once it made everything durable the offset reaches the end.
func TestFeaturesCommitsNoSignalWhoseStateIsNotDurable(t *testing.T) {
	b, cl := onePartitionBroker(t)
	ctx := context.Background()
	const signals = 20
	for i := range signals {
		sig := &tables.Signal{Tenant: "acme", Host: fmt.Sprint("host-", i), Samples: []tables.Sample{{Metric: "cpu_load", Value: 1, TsMicro: time.Now().UnixMicro()}}}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tables.SignalsTopic, Key: []byte(sig.Key()), Value: sig.AppendBinary(nil)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	committed := func() int64 {
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, tables.FeaturesGroup)
		if err != nil {
			return -2
		}
		o, ok := offs.Lookup(tables.SignalsTopic, 0)
		if !ok {
			return -1
		}
		return o.At
	}
	quiet := slog.New(slog.DiscardHandler)
	start := func(h *partialHost, id string) (stop func()) {
		f, err := processors.NewFeatures(processors.FeaturesOptions{Host: h, Producer: &fakeProducer{}, Logger: quiet,
			Kafka: processors.Kafka{Brokers: b.Addrs(), ClientID: id, HandBackGrace: time.Second, Logger: quiet}})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- f.Run(runCtx) }()
		return func() {
			cancel()
			if err := <-ran; err != nil {
				t.Errorf("%s: features stopped with %v", id, err)
			}
		}
	}

	a := &partialHost{durable: func(off int64) bool { return off < 5 || off > 12 }}
	stopA := start(a, "a")
	waitFor(t, time.Minute, "a reads every signal", func() error {
		if n := len(a.offsets()); n < signals {
			return fmt.Errorf("%d read", n)
		}
		return nil
	})
	waitFor(t, time.Minute, "a commits the durable prefix", func() error {
		if c := committed(); c != 5 {
			return fmt.Errorf("committed %d", c)
		}
		return nil
	})
	// Records past 5 were read, and their callbacks returned, long ago;
	// more periodic commits pass (every 500ms) while b joins.
	bh := &partialHost{durable: func(int64) bool { return true }}
	stopB := start(bh, "b")
	stopA()
	if c := committed(); c != 5 {
		t.Fatalf("a left the group with signal %d committed; its states are durable up to 5 only", c)
	}
	waitFor(t, time.Minute, "b reads again from 5 and commits everything", func() error {
		if c := committed(); c != signals {
			return fmt.Errorf("committed %d", c)
		}
		return nil
	})
	if offs := bh.offsets(); len(offs) == 0 || offs[0] != 5 {
		t.Fatalf("b read %v, want from 5 on", offs)
	}
	stopB()
}
