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
)

// writingHost stands in for the source actors: for every signal it reads
// what the stage's local table holds of the key and, unless that covers
// the signal already, writes a state that covers it, stamped with its
// session's generation, to the table topic and through to the local copy,
// as a flush does.
type writingHost struct {
	cl *kgo.Client

	mu          sync.Mutex
	generations []int64
	// seen is, per signal offset, the offset the stored state covered when
	// the signal arrived (-1: nothing stored); flushed holds the offsets
	// whose state was written.
	seen    map[int64]int64
	flushed map[int64]bool
}

func (h *writingHost) Open(_ int32, hooks processors.PartitionHooks) processors.SourcePartition {
	h.mu.Lock()
	h.generations = append(h.generations, hooks.Generation)
	h.mu.Unlock()
	return &writingPartition{h: h, hooks: hooks}
}

func (h *writingHost) lastGeneration() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.generations) == 0 {
		return -1
	}
	return h.generations[len(h.generations)-1]
}

func (h *writingHost) seenAt(off int64) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.seen[off]
	return v, ok
}

func (h *writingHost) wasFlushed(off int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.flushed[off]
}

type writingPartition struct {
	h     *writingHost
	hooks processors.PartitionHooks
}

func (p *writingPartition) Deliver(key string, offset, _ int64, _ *tables.Signal, stored func() []byte) bool {
	covered := int64(-1)
	if v := stored(); len(v) > 0 {
		st, _, err := tables.DecodeSourceState(v, nil)
		if err == nil {
			covered = st.Offset
		}
	}
	p.h.mu.Lock()
	p.h.seen[offset] = covered
	p.h.mu.Unlock()
	if covered < offset {
		v, err := (&tables.SourceState{Generation: p.hooks.Generation, Offset: offset}).AppendBinary(nil)
		if err != nil {
			panic(err)
		}
		rec := &kgo.Record{Topic: tables.FeaturesTable, Key: []byte(key), Value: v}
		if err := p.h.cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			panic(err)
		}
		if p.hooks.Store != nil {
			p.hooks.Store(key, v)
		}
	}
	p.h.mu.Lock()
	p.h.flushed[offset] = true
	p.h.mu.Unlock()
	p.hooks.Durable(key, offset)
	return true
}

func (p *writingPartition) Wake(string, []byte)       {}
func (p *writingPartition) WakeAlerts(string, []byte) {}
func (p *writingPartition) Close(context.Context)     {}

// onePartitionBroker starts a broker with the pipeline's topics of one
// partition each, and a client of it that produces to the partition a
// record names; the test closes both.
func onePartitionBroker(t *testing.T) (*broker.Embedded, *kgo.Client) {
	t.Helper()
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(b.Close)
	layout := tables.Layout{Partitions: 1, DLQPartitions: 1, RetentionMs: 3600_000}
	if _, err := broker.EnsureTopics(context.Background(), b.Addrs(), layout, 1); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return b, cl
}

// A consumer group's generations start again at 1 when the group is
// deleted (kafka-consumer-groups --delete, rpk group delete) or expires
// after its offsets' retention (a week by default) with no member. The
// states in the table still carry the generations of the group's earlier
// life. A source's state flushed after that must still be the one its
// next signal resumes from; here it is kept out of the stage's local copy
// of the table because an older state carries a higher generation, so the
// source goes back to the state of before the restart.
func TestAStateFlushedAfterTheGroupStartedAgainIsTheOneTheSourceResumesFrom(t *testing.T) {
	b, cl := onePartitionBroker(t)
	ctx := context.Background()
	host := &writingHost{cl: cl, seen: map[int64]int64{}, flushed: map[int64]bool{}}
	quiet := slog.New(slog.DiscardHandler)
	next := int64(0)
	send := func() int64 {
		t.Helper()
		sig := &tables.Signal{Tenant: "acme", Host: "host-a", Samples: []tables.Sample{{Metric: "cpu_load", Value: 1, TsMicro: time.Now().UnixMicro()}}}
		rec := &kgo.Record{Topic: tables.SignalsTopic, Key: []byte(sig.Key()), Value: sig.AppendBinary(nil)}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
		next++
		return next - 1
	}
	// run starts the stage, hands it signals one at a time, each once the
	// state of the one before is flushed, and stops it once the last is
	// committed. (A deleted group has no committed offsets: its next run
	// reads the signals log again from the start.)
	run := func(signals int) {
		t.Helper()
		f, err := processors.NewFeatures(processors.FeaturesOptions{Host: host, Producer: &fakeProducer{}, Logger: quiet,
			Kafka: processors.Kafka{Brokers: b.Addrs(), HandBackGrace: time.Second, Logger: quiet}})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- f.Run(runCtx) }()
		for range signals {
			off := send()
			waitFor(t, time.Minute, fmt.Sprintf("signal %d read and its state flushed", off), func() error {
				if !host.wasFlushed(off) {
					return fmt.Errorf("not yet")
				}
				return nil
			})
		}
		// Let the last signal's state become durable and be committed.
		waitFor(t, time.Minute, "the last signal committed", func() error {
			offs, err := kadm.NewClient(cl).FetchOffsets(ctx, tables.FeaturesGroup)
			if err != nil {
				return err
			}
			if o, _ := offs.Lookup(tables.SignalsTopic, 0); o.At != next {
				return fmt.Errorf("committed %d of %d", o.At, next)
			}
			return nil
		})
		stop()
		if err := <-ran; err != nil {
			t.Fatalf("features stopped with %v", err)
		}
	}

	// The group's earlier life: two runs, so that its generation passes 1.
	run(1)
	run(1)
	before := host.lastGeneration()
	if _, err := kadm.NewClient(cl).DeleteGroup(ctx, tables.FeaturesGroup); err != nil {
		t.Fatal(err)
	}
	// Its new life: the first signal is applied and flushed, the second
	// must find that flush.
	run(2)
	after := host.lastGeneration()
	if after >= before {
		t.Fatalf("the deleted group came back at generation %d, after %d: the scenario needs a lower one", after, before)
	}
	first, second := next-2, next-1
	if got, _ := host.seenAt(second); got != first {
		t.Fatalf("signal %d found the stored state covering offset %d, want %d (the flush of signal %d, generation %d): "+
			"the state of generation %d written before the group was deleted is kept over it", second, got, first, first, after, before)
	}
}
