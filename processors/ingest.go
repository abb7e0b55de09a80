package processors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
)

// StageIngest names the ingest stage in metrics, logs and DLQ headers.
const StageIngest = "ingest"

// IngestOptions configure the ingest stage.
type IngestOptions struct {
	Kafka     Kafka
	Normalize normalize.Options
	Producer  Producer
	Metrics   *Metrics
	Logger    *slog.Logger
	// Now is the wall clock that bounds event times from above.
	Now func() time.Time
	// FragmentTimeout is how long a record that is not JSON on its own
	// waits for records that complete it (see normalize.Assemble) before it
	// goes to the DLQ.
	FragmentTimeout time.Duration
	// MaxFragments bounds the records waiting so.
	MaxFragments int
}

// Ingest is the normalize-and-enrich stage: it reads raw agent records,
// normalizes them, looks up each source's metadata in meta.source.v1 and
// writes one signal per source and record to signals.metric.v1. Both steps
// run in one processor so that an event crosses the broker once on its way
// to the features stage.
type Ingest struct {
	opts  IngestOptions
	graph *goka.GroupGraph
	stopper
	current
	count stageCounters

	parts sessionAcks
	metas metaCache

	poolMu    sync.Mutex
	pool      []pooled
	poolTimer *time.Timer
}

// pooled is a record that is not JSON on its own, waiting for the records
// that complete it.
type pooled struct {
	piece normalize.Piece
	key   []byte
	acks  *Acks
	added time.Time
}

// NewIngest builds the stage.
func NewIngest(opts IngestOptions) (*Ingest, error) {
	if opts.Producer == nil {
		return nil, fmt.Errorf("ingest: a producer is required")
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FragmentTimeout <= 0 {
		opts.FragmentTimeout = 2 * time.Second
	}
	if opts.MaxFragments <= 0 {
		opts.MaxFragments = 256
	}
	opts.Normalize = opts.Normalize.Defaults()
	opts.Logger = opts.Logger.With("stage", StageIngest)
	in := &Ingest{opts: opts, stopper: newStopper(), metas: metaCache{m: map[string]cachedMeta{}}}
	in.count = opts.Metrics.stage(StageIngest)
	in.graph = goka.DefineGroup(tables.IngestGroup,
		goka.Input(tables.RawStream, tables.BytesCodec{}, in.process),
		goka.Lookup(tables.MetaTable, tables.BytesCodec{}),
	)
	return in, nil
}

// Graph returns the goka group graph (for goka's tester).
func (in *Ingest) Graph() *goka.GroupGraph { return in.graph }

// NewProcessor builds the stage's goka processor; extra options come last
// (tests pass goka.WithTester).
func (in *Ingest) NewProcessor(extra ...goka.ProcessorOption) (*goka.Processor, error) {
	p, err := goka.NewProcessor(in.opts.Kafka.Brokers, in.graph, append(in.opts.Kafka.ProcessorOptions(), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return p, nil
}

// Run processes until ctx ends and every deferred commit is settled.
func (in *Ingest) Run(ctx context.Context, extra ...goka.ProcessorOption) error {
	p, err := in.NewProcessor(extra...)
	if err != nil {
		return err
	}
	in.set(p)
	return p.Run(ctx)
}

func (in *Ingest) process(ctx goka.Context, msg any) {
	value, _ := msg.([]byte)
	p, off := ctx.Partition(), ctx.Offset()
	in.count.recordsIn.Inc()
	acks := in.parts.get(p, ctx.Context())
	acks.Add(off, "", ctx.DeferCommit())
	recordTime := ctx.Timestamp()
	if recordTime.IsZero() {
		recordTime = in.opts.Now()
	}
	res := in.opts.Normalize.Parse(value, recordTime, in.opts.Now())
	if len(res.Rejected) == 1 && res.Rejected[0].Err.Index < 0 && res.Rejected[0].Err.Reason == normalize.ReasonInvalidJSON {
		in.addPiece(ctx, pooled{piece: normalize.Piece{Partition: p, Offset: off, Time: recordTime, Value: value},
			key: []byte(ctx.Key()), acks: acks, added: time.Now()})
		return
	}
	in.emit(ctx, res, ctx.Key(), tables.Origin{Partition: p, Offset: off}, recordTime, func() { acks.Done(off) })
}

// addPiece pools a record that is not JSON on its own and, when pooled
// records make a whole event, handles that event.
func (in *Ingest) addPiece(ctx goka.Context, pc pooled) {
	in.poolMu.Lock()
	in.pool = append(in.pool, pc)
	pieces := make([]normalize.Piece, len(in.pool))
	for i := range in.pool {
		pieces[i] = in.pool[i].piece
	}
	rec, seq := normalize.Assemble(pieces, in.opts.FragmentTimeout)
	if rec == nil {
		var overflow []pooled
		if len(in.pool) > in.opts.MaxFragments {
			overflow = append(overflow, in.pool[0])
			in.pool = in.pool[1:]
		}
		if in.poolTimer == nil {
			in.poolTimer = time.AfterFunc(in.opts.FragmentTimeout/2, in.expire)
		}
		in.poolMu.Unlock()
		in.rejectPieces(overflow, "more records are waiting to be completed than the stage keeps")
		return
	}
	used := make([]pooled, len(seq))
	taken := map[int]bool{}
	for i, j := range seq {
		used[i] = in.pool[j]
		taken[j] = true
	}
	rest := in.pool[:0]
	for i, pc := range in.pool {
		if !taken[i] {
			rest = append(rest, pc)
		}
	}
	clear(in.pool[len(rest):])
	in.pool = rest
	in.poolMu.Unlock()

	first := used[0].piece
	res := in.opts.Normalize.Parse(rec, first.Time, in.opts.Now())
	// The origin is the record that completed the event: signals of one raw
	// partition must leave in the order of their origins, which the
	// features stage relies on to recognize a replayed signal.
	origin := tables.Origin{Partition: ctx.Partition(), Offset: ctx.Offset()}
	in.emit(ctx, res, string(used[0].key), origin, first.Time, func() {
		for _, u := range used {
			u.acks.Done(u.piece.Offset)
		}
	})
}

// expire sends records that nothing completed in time to the DLQ.
func (in *Ingest) expire() {
	in.poolMu.Lock()
	in.poolTimer = nil
	// The pool waits on the monotonic wall clock, whatever Now says.
	cutoff := time.Now().Add(-in.opts.FragmentTimeout)
	var old []pooled
	rest := in.pool[:0]
	for _, pc := range in.pool {
		if pc.added.Before(cutoff) {
			old = append(old, pc)
		} else {
			rest = append(rest, pc)
		}
	}
	clear(in.pool[len(rest):])
	in.pool = rest
	if len(in.pool) > 0 {
		in.poolTimer = time.AfterFunc(in.opts.FragmentTimeout/2, in.expire)
	}
	in.poolMu.Unlock()
	in.rejectPieces(old, fmt.Sprintf("no other record completed it within %s", in.opts.FragmentTimeout))
}

func (in *Ingest) rejectPieces(pieces []pooled, why string) {
	for _, pc := range pieces {
		res := in.opts.Normalize.Parse(pc.piece.Value, pc.piece.Time, in.opts.Now())
		msg := "record is not JSON"
		if len(res.Rejected) > 0 {
			msg = res.Rejected[0].Err.Error()
		}
		in.opts.Metrics.Discarded.WithLabelValues(StageIngest, string(normalize.ReasonInvalidJSON)).Inc()
		rec := tables.DLQRecord(tables.Rejection{
			Stage: StageIngest, Reason: string(normalize.ReasonInvalidJSON), Error: msg + "; " + why,
			Topic: tables.RawTopic, Partition: pc.piece.Partition, Offset: pc.piece.Offset, Index: -1,
			Key: pc.key, Value: truncateValue(pc.piece.Value),
		})
		acks, off := pc.acks, pc.piece.Offset
		in.produce([]*kgo.Record{rec}, func() { acks.Done(off) })
	}
}

func (in *Ingest) produce(recs []*kgo.Record, done func()) {
	produceAll(in.opts.Producer, recs, in.c, in.opts.Logger, func(error) {
		in.opts.Metrics.Errors.WithLabelValues(StageIngest, "produce").Inc()
	}, done)
}

// emit writes the signals and rejections of one parsed record and calls
// done once all of them are durable.
func (in *Ingest) emit(ctx goka.Context, res normalize.Result, key string, origin tables.Origin, recordTime time.Time, done func()) {
	m := in.opts.Metrics
	in.count.eventsIn.Add(float64(len(res.Events) + len(res.Rejected)))
	recs := make([]*kgo.Record, 0, 1+len(res.Rejected))
	for _, sig := range in.group(ctx, res.Events, origin, recordTime) {
		recs = append(recs, &kgo.Record{
			Topic: tables.SignalsTopic,
			Key:   []byte(sig.Key()),
			Value: sig.AppendBinary(make([]byte, 0, 64+48*len(sig.Samples))),
		})
	}
	in.count.eventsOut.Add(float64(len(res.Events)))
	for _, rej := range res.Rejected {
		m.Discarded.WithLabelValues(StageIngest, string(rej.Err.Reason)).Inc()
		recs = append(recs, tables.DLQRecord(tables.Rejection{
			Stage: StageIngest, Reason: string(rej.Err.Reason), Error: rej.Err.Error(),
			Topic: tables.RawTopic, Partition: origin.Partition, Offset: origin.Offset, Index: rej.Err.Index,
			Key: []byte(key), Value: truncateValue(rej.Raw),
		}))
	}
	in.produce(recs, done)
}

// group turns events into one signal per source, in order of first sight.
func (in *Ingest) group(ctx goka.Context, events []normalize.Event, origin tables.Origin, recordTime time.Time) []*tables.Signal {
	if len(events) == 0 {
		return nil
	}
	if len(events) == 1 {
		ev := &events[0]
		key := tables.SourceKey(ev.Tenant, ev.Host)
		return []*tables.Signal{{Tenant: ev.Tenant, Host: ev.Host, Origin: origin, IngestMicro: recordTime.UnixMicro(),
			Meta: in.lookupMeta(ctx, key), Samples: []tables.Sample{ev.Sample}}}
	}
	var out []*tables.Signal
	idx := map[string]int{}
	for _, ev := range events {
		key := tables.SourceKey(ev.Tenant, ev.Host)
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, &tables.Signal{
				Tenant: ev.Tenant, Host: ev.Host, Origin: origin,
				IngestMicro: recordTime.UnixMicro(),
				Meta:        in.lookupMeta(ctx, key),
			})
		}
		out[i].Samples = append(out[i].Samples, ev.Sample)
	}
	return out
}

// MaxDLQValue bounds the copy of a rejected input kept in the DLQ; the rest
// is cut and the error header says so.
const MaxDLQValue = 256 << 10

func truncateValue(b []byte) []byte {
	if len(b) <= MaxDLQValue {
		return b
	}
	return b[:MaxDLQValue]
}

func (in *Ingest) lookupMeta(ctx goka.Context, key string) *tables.SourceMeta {
	raw, _ := ctx.Lookup(tables.MetaTable, key).([]byte)
	if len(raw) == 0 {
		return nil
	}
	meta, err := in.metas.get(key, raw)
	if err != nil {
		in.opts.Metrics.Errors.WithLabelValues(StageIngest, "bad_source_metadata").Inc()
		in.opts.Logger.Warn("ignoring unreadable source metadata", "key", key, "err", err)
		return nil
	}
	return meta
}

// metaCache keeps the decoded metadata of each source until its bytes
// change, so that enrichment does not parse JSON per event.
type metaCache struct {
	mu sync.Mutex
	m  map[string]cachedMeta
}

type cachedMeta struct {
	raw  string
	meta *tables.SourceMeta
	err  error
}

func (c *metaCache) get(key string, raw []byte) (*tables.SourceMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok && e.raw == string(raw) {
		return e.meta, e.err
	}
	meta, err := tables.ParseSourceMeta(raw)
	c.m[key] = cachedMeta{raw: string(raw), meta: meta, err: err}
	return meta, err
}
