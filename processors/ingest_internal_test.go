package processors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// gokaContext names the embedded interface apart from its Context method.
type gokaContext = goka.Context

// recordCtx is the goka context of one raw record, with what the ingest
// stage uses of it.
type recordCtx struct {
	gokaContext
	session   context.Context
	partition int32
	offset    int64
	ts        time.Time
	f         *feeder
}

func (c *recordCtx) Topic() goka.Stream            { return tables.RawTopic }
func (c *recordCtx) Partition() int32              { return c.partition }
func (c *recordCtx) Offset() int64                 { return c.offset }
func (c *recordCtx) Key() string                   { return "" }
func (c *recordCtx) Timestamp() time.Time          { return c.ts }
func (c *recordCtx) Headers() goka.Headers         { return nil }
func (c *recordCtx) Context() context.Context      { return c.session }
func (c *recordCtx) Lookup(goka.Table, string) any { return nil }
func (c *recordCtx) DeferCommit() func(error) {
	return func(error) {
		c.f.commits.Add(1)
		select {
		case c.f.committed <- struct{}{}:
		default:
		}
	}
}

// feeder hands raw records of partition 0 to an ingest stage, in offset
// order, as goka would.
type feeder struct {
	in        *Ingest
	session   context.Context
	next      int64
	commits   atomic.Int64
	committed chan struct{} // told of each commit, if it has room
}

func newFeeder(t *testing.T, in *Ingest) *feeder {
	return &feeder{in: in, session: t.Context(), committed: make(chan struct{}, 1)}
}

func (f *feeder) feed(value string) {
	ctx := &recordCtx{session: f.session, offset: f.next, ts: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), f: f}
	f.next++
	f.in.process(ctx, []byte(value))
}

// instantProducer accepts every record at once, from the caller's goroutine.
type instantProducer struct {
	dlq, reasons atomic.Int64
}

func (p *instantProducer) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	if r.Topic == tables.DLQTopic {
		p.dlq.Add(1)
		if kgotables.Header(r, tables.HeaderReason) == string(normalize.ReasonSplitRecord) {
			p.reasons.Add(1)
		}
	}
	promise(r, nil)
}

// A burst of records that open JSON and never close it costs the same for
// each record, however many came before: each goes to the DLQ alone, its
// commit is released before the next is read, and the allocations of one
// record after thousands are those of one after a hundred (work counted,
// not timed).
func TestIngestSplitRecordsCostTheSameEach(t *testing.T) {
	p := &instantProducer{}
	in, err := NewIngest(IngestOptions{Producer: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder(t, in)
	pieces := []string{`[`, `{"a":[`, `{"tenant_id":"acme","host":"host-a",`}
	feed := func(n int) {
		for i := range n {
			f.feed(pieces[i%len(pieces)])
			if got := f.commits.Load(); got != f.next {
				t.Fatalf("after %d records, %d commits released: records are held", f.next, got)
			}
		}
	}
	feed(100)
	early := testing.AllocsPerRun(500, func() { feed(1) })
	feed(5000)
	late := testing.AllocsPerRun(500, func() { feed(1) })
	// One allocation of slack: the runtime allocates now and then too.
	if late > early+1 {
		t.Fatalf("a record after %d costs %v allocations, after 100 it cost %v", f.next, late, early)
	}
	if n := p.dlq.Load(); n != f.next || p.reasons.Load() != n {
		t.Fatalf("%d records, %d in the DLQ, %d as split_record", f.next, n, p.reasons.Load())
	}
}

// brokerQueue answers records as a broker partition with franz-go in front
// of it does: held records fail together (franz-go fails a partition's whole
// buffer behind a record it gives up on), and records produced when nothing
// is held are accepted at once. It keeps the order in which records were
// accepted.
type brokerQueue struct {
	mu       sync.Mutex
	hold     bool
	held     []heldRecord
	accepted []*kgo.Record
}

type heldRecord struct {
	r       *kgo.Record
	promise func(*kgo.Record, error)
}

func (b *brokerQueue) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	b.mu.Lock()
	if b.hold {
		b.held = append(b.held, heldRecord{r, promise})
		b.mu.Unlock()
		return
	}
	b.accepted = append(b.accepted, r)
	b.mu.Unlock()
	go promise(r, nil)
}

// fail refuses the held records for good (as franz-go reports an error it
// does not retry) and accepts what comes next.
func (b *brokerQueue) fail(err error) {
	b.mu.Lock()
	held := b.held
	b.held, b.hold = nil, false
	b.mu.Unlock()
	for _, h := range held {
		h.promise(h.r, err)
	}
}

func (b *brokerQueue) origins(t *testing.T) []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int64
	for _, r := range b.accepted {
		sig, err := tables.DecodeSignal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sig.Origin.Offset)
	}
	return out
}

// A signal the broker refuses once, for good, is sent again before the
// signals of later records of its raw partition: the features stage would
// take it for a replay if a later one came first.
func TestIngestSendsARefusedSignalAgainInOrder(t *testing.T) {
	b := &brokerQueue{hold: true}
	in, err := NewIngest(IngestOptions{Producer: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	f := newFeeder(t, in)
	event := `{"tenant_id":"acme","host":"h","metric":"m","value":1,"ts_event":"2025-10-21T10:00:00Z"}`
	f.feed(event) // offset 0: refused
	f.feed(event) // offset 1: buffered behind it, refused with it
	b.fail(kgo.ErrRecordRetries)
	f.feed(event) // offset 2: read after the refusal
	f.feed(event) // offset 3
	deadline := time.After(30 * time.Second)
	for f.commits.Load() < 4 {
		select {
		case <-f.committed:
		case <-deadline:
			t.Fatalf("%d of 4 records committed; accepted origins %v", f.commits.Load(), b.origins(t))
		}
	}
	got := b.origins(t)
	if len(got) != 4 || got[0] != 0 || got[1] != 1 || got[2] != 2 || got[3] != 3 {
		t.Fatalf("signals accepted in the order of origins %v, want 0 1 2 3", got)
	}
}
