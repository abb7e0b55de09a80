package processors

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/tables/gokatables"
)

// logBuffer keeps what a test's processors log, debug included.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// reads records which offsets each member read, by partition.
type reads struct {
	mu sync.Mutex
	m  map[string]map[int32][]int64
}

func (r *reads) add(member string, partition int32, offset int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[member] == nil {
		r.m[member] = map[int32][]int64{}
	}
	r.m[member][partition] = append(r.m[member][partition], offset)
}

func (r *reads) of(member string, partition int32) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.m[member][partition]...)
}

// covers reports whether offs holds every offset in [from, to).
func covers(offs []int64, from, to int64) error {
	seen := map[int64]bool{}
	for _, o := range offs {
		seen[o] = true
	}
	for o := from; o < to; o++ {
		if !seen[o] {
			return fmt.Errorf("offset %d not read (read %v)", o, offs)
		}
	}
	return nil
}

// member is a goka processor of the test group whose callback tracks each
// record in its session's tracker and makes it durable when finished says
// so; the rest never becomes durable.
type member struct {
	name     string
	proc     *goka.Processor
	cancel   context.CancelFunc
	ran      chan error
	assigned chan time.Time
}

func startMember(t *testing.T, k Kafka, topic, name string, rd *reads, finished func(off int64) bool) *member {
	t.Helper()
	var parts sessionAcks
	cb := func(ctx goka.Context, _ any) {
		acks, off := parts.get(ctx.Partition(), ctx.Context()), ctx.Offset()
		acks.Add(off, "", ctx.DeferCommit())
		rd.add(name, ctx.Partition(), off)
		if finished(off) {
			acks.Done(off)
		}
	}
	m := &member{name: name, ran: make(chan error, 1), assigned: make(chan time.Time, 16)}
	graph := goka.DefineGroup("eventops-handback-test", goka.Input(goka.Stream(topic), gokatables.BytesCodec{}, cb))
	k.ClientID = name
	opts := append(k.ProcessorOptions(), goka.WithRebalanceCallback(func(a goka.Assignment) {
		if len(a) > 0 {
			m.assigned <- time.Now()
		}
	}))
	p, err := goka.NewProcessor(k.Brokers, graph, opts...)
	if err != nil {
		t.Fatal(err)
	}
	m.proc = p
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { m.ran <- p.Run(ctx) }()
	t.Cleanup(func() { m.stop(t) })
	return m
}

// stop ends the member's Run and fails the test if it returned an error.
func (m *member) stop(t *testing.T) {
	t.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	select {
	case err := <-m.ran:
		if err != nil {
			t.Errorf("%s: processor stopped with %v", m.name, err)
		}
	case <-time.After(2 * time.Minute):
		t.Errorf("%s: processor did not stop", m.name)
	}
}

// A member whose records are not all durable when its partitions are
// revoked hands them back after the grace: goka stops waiting, the
// rebalance completes without an eviction, the new owner reads again from
// the first record that was not durable, and nothing after it is skipped,
// not even records that were finished out of order.
func TestRevokedPartitionsHandBackWhatIsNotDurable(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler)})
	defer b.Close()
	const topic, records = "handback-test", 20
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		for i := range records {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var logs logBuffer
	k := Kafka{Brokers: b.Addrs(), HandBackGrace: 2 * time.Second, Logger: logs.logger()}
	rd := &reads{m: map[string]map[int32][]int64{}}

	// a finishes 0-4 and 10-14: offset 5 is the first that never becomes
	// durable there.
	a := startMember(t, k, topic, "a", rd, func(off int64) bool { return off < 5 || off >= 10 && off < 15 })
	for p := range int32(2) {
		eventually(t, time.Minute, "a reads everything", func() error { return covers(rd.of("a", p), 0, records) })
	}

	start := time.Now()
	bm := startMember(t, k, topic, "b", rd, func(int64) bool { return true })
	var rebalanced time.Time
	select {
	case rebalanced = <-bm.assigned:
	case <-time.After(2 * time.Minute):
		t.Fatal("b never got a partition")
	}
	t.Logf("rebalance with records held: b got its partitions %s after it started (hand-back grace %s, goka's rejoin pause 5s)",
		rebalanced.Sub(start).Round(time.Millisecond), k.HandBackGrace)
	a.stop(t)
	for p := range int32(2) {
		eventually(t, 2*time.Minute, "b reads again from the first record a did not finish", func() error {
			offs := rd.of("b", p)
			if len(offs) > 0 && offs[0] != 5 {
				return fmt.Errorf("b read partition %d from %d, want 5", p, offs[0])
			}
			return covers(offs, 5, records)
		})
	}
	eventually(t, time.Minute, "b's commits", func() error {
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "eventops-handback-test")
		if err != nil {
			return err
		}
		for p := range int32(2) {
			if o, _ := offs.Lookup(topic, p); o.At != records {
				return fmt.Errorf("partition %d committed at %d", p, o.At)
			}
		}
		return nil
	})
	bm.stop(t)
	if strings.Contains(logs.String(), "did not shutdown in time") {
		t.Error("goka waited for deferred commits until its own timeout")
	}
}
