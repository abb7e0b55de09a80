package processors

import (
	"context"
	"encoding/json"
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
	// FragmentTimeout is how long a record cut short (see
	// normalize.Incomplete) waits for the records that complete it before
	// it goes to the DLQ.
	FragmentTimeout time.Duration
	// MaxFragments bounds how many records one event may be cut into.
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
	stop  chan struct{}

	mu    sync.Mutex
	parts map[int32]*ingestPartition
	metas metaCache
}

type ingestPartition struct {
	acks *Acks
	mu   sync.Mutex
	frag *fragment
}

// fragment is a record cut short and the records that continued it so far.
type fragment struct {
	data   []byte
	pieces []piece
	timer  *time.Timer
}

type piece struct {
	offset int64
	key    []byte
	value  []byte
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
		opts.FragmentTimeout = 5 * time.Second
	}
	if opts.MaxFragments <= 0 {
		opts.MaxFragments = 256
	}
	opts.Normalize = opts.Normalize.Defaults()
	opts.Logger = opts.Logger.With("stage", StageIngest)
	in := &Ingest{opts: opts, parts: map[int32]*ingestPartition{}, stop: make(chan struct{}), metas: metaCache{m: map[string]cachedMeta{}}}
	in.graph = goka.DefineGroup(tables.IngestGroup,
		goka.Input(tables.RawStream, tables.BytesCodec{}, in.process),
		goka.Lookup(tables.MetaTable, tables.BytesCodec{}),
	)
	return in, nil
}

// Graph returns the goka group graph (for goka's tester).
func (in *Ingest) Graph() *goka.GroupGraph { return in.graph }

// Run processes until ctx ends and every deferred commit is settled.
func (in *Ingest) Run(ctx context.Context, extra ...goka.ProcessorOption) error {
	defer close(in.stop)
	p, err := goka.NewProcessor(in.opts.Kafka.Brokers, in.graph, append(in.opts.Kafka.ProcessorOptions(), extra...)...)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return p.Run(ctx)
}

func (in *Ingest) partition(p int32) *ingestPartition {
	in.mu.Lock()
	defer in.mu.Unlock()
	part, ok := in.parts[p]
	if !ok {
		part = &ingestPartition{acks: NewAcks()}
		in.parts[p] = part
	}
	return part
}

func (in *Ingest) process(ctx goka.Context, msg any) {
	value, _ := msg.([]byte)
	p, off := ctx.Partition(), ctx.Offset()
	m := in.opts.Metrics
	m.RecordsIn.WithLabelValues(StageIngest).Inc()
	part := in.partition(p)
	part.acks.Add(off, "", ctx.DeferCommit())

	part.mu.Lock()
	if f := part.frag; f != nil {
		joined := normalize.Join(f.data, value)
		switch {
		case json.Valid(joined):
			f.timer.Stop()
			part.frag = nil
			part.mu.Unlock()
			offsets := append(f.offsets(), off)
			in.handle(ctx, joined, ctx.Key(), tables.Origin{Partition: p, Offset: f.pieces[0].offset}, offsets, part.acks)
			return
		case normalize.Incomplete(joined) && len(f.pieces) < in.opts.MaxFragments && len(joined) <= in.opts.Normalize.MaxRecordBytes:
			f.data = joined
			f.pieces = append(f.pieces, piece{offset: off, key: []byte(ctx.Key()), value: value})
			f.timer.Reset(in.opts.FragmentTimeout)
			part.mu.Unlock()
			return
		default:
			f.timer.Stop()
			part.frag = nil
			in.rejectFragment(p, f, "it was cut short and the record after it does not complete it", part.acks)
		}
	}
	if normalize.Incomplete(value) {
		f := &fragment{data: value, pieces: []piece{{offset: off, key: []byte(ctx.Key()), value: value}}}
		f.timer = time.AfterFunc(in.opts.FragmentTimeout, func() { in.expire(p, part, f) })
		part.frag = f
		part.mu.Unlock()
		return
	}
	part.mu.Unlock()
	in.handle(ctx, value, ctx.Key(), tables.Origin{Partition: p, Offset: off}, []int64{off}, part.acks)
}

func (f *fragment) offsets() []int64 {
	out := make([]int64, len(f.pieces))
	for i, p := range f.pieces {
		out[i] = p.offset
	}
	return out
}

// expire sends a fragment that nothing completed in time to the DLQ.
func (in *Ingest) expire(p int32, part *ingestPartition, f *fragment) {
	part.mu.Lock()
	defer part.mu.Unlock()
	if part.frag != f {
		return
	}
	part.frag = nil
	in.rejectFragment(p, f, fmt.Sprintf("it was cut short and nothing completed it within %s", in.opts.FragmentTimeout), part.acks)
}

func (in *Ingest) rejectFragment(p int32, f *fragment, why string, acks *Acks) {
	recs := make([]*kgo.Record, len(f.pieces))
	for i, pc := range f.pieces {
		in.opts.Metrics.Discarded.WithLabelValues(StageIngest, string(normalize.ReasonInvalidJSON)).Inc()
		recs[i] = tables.DLQRecord(tables.Rejection{
			Stage: StageIngest, Reason: string(normalize.ReasonInvalidJSON),
			Error: "invalid_json: record is the start of a JSON value, but " + why,
			Topic: tables.RawTopic, Partition: p, Offset: pc.offset, Index: -1, Key: pc.key, Value: pc.value,
		})
	}
	offsets := f.offsets()
	in.produce(recs, func() {
		for _, o := range offsets {
			acks.Done(o)
		}
	})
}

func (in *Ingest) produce(recs []*kgo.Record, done func()) {
	produceAll(in.opts.Producer, recs, in.stop, in.opts.Logger, func(error) {
		in.opts.Metrics.Errors.WithLabelValues(StageIngest, "produce").Inc()
	}, done)
}

// handle normalizes one (possibly reassembled) record and writes its signals
// and rejections; the offsets it came from are acknowledged once all of that
// is durable.
func (in *Ingest) handle(ctx goka.Context, record []byte, key string, origin tables.Origin, offsets []int64, acks *Acks) {
	m := in.opts.Metrics
	recordTime := ctx.Timestamp()
	if recordTime.IsZero() {
		recordTime = in.opts.Now()
	}
	res := in.opts.Normalize.Parse(record, recordTime, in.opts.Now())
	m.EventsIn.WithLabelValues(StageIngest).Add(float64(len(res.Events) + len(res.Rejected)))

	recs := make([]*kgo.Record, 0, 1+len(res.Rejected))
	for _, sig := range in.group(ctx, res.Events, origin, recordTime) {
		recs = append(recs, &kgo.Record{
			Topic: tables.SignalsTopic,
			Key:   []byte(sig.Key()),
			Value: sig.AppendBinary(make([]byte, 0, 64+48*len(sig.Samples))),
		})
	}
	m.EventsOut.WithLabelValues(StageIngest).Add(float64(len(res.Events)))
	for _, rej := range res.Rejected {
		m.Discarded.WithLabelValues(StageIngest, string(rej.Err.Reason)).Inc()
		recs = append(recs, tables.DLQRecord(tables.Rejection{
			Stage: StageIngest, Reason: string(rej.Err.Reason), Error: rej.Err.Error(),
			Topic: tables.RawTopic, Partition: origin.Partition, Offset: origin.Offset, Index: rej.Err.Index,
			Key: []byte(key), Value: truncateValue(rej.Raw),
		}))
	}
	in.produce(recs, func() {
		for _, o := range offsets {
			acks.Done(o)
		}
	})
}

// group turns events into one signal per source, in order of first sight.
func (in *Ingest) group(ctx goka.Context, events []normalize.Event, origin tables.Origin, recordTime time.Time) []*tables.Signal {
	if len(events) == 0 {
		return nil
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
