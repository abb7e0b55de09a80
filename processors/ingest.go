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
	"github.com/eventops/eventops/tables/gokatables"
	"github.com/eventops/eventops/tables/kgotables"
)

// IngestOptions configure the ingest stage.
type IngestOptions struct {
	Kafka     Kafka
	Normalize normalize.Options
	Producer  Producer
	Metrics   *Metrics
	Logger    *slog.Logger
	// Now is the wall clock. It only paces warnings: event times are judged
	// against each record's own time.
	Now func() time.Time
}

// Ingest is the normalize-and-enrich stage: it reads raw agent records
// (and OTLP records, ingestotlp.go), normalizes them, looks up each
// source's metadata in meta.source.v1 and writes one signal per source and
// record to signals.metric.v1. Both steps run in one processor so that an
// event crosses the broker once on its way to the features stage.
type Ingest struct {
	opts  IngestOptions
	graph *goka.GroupGraph
	stopper
	current
	count stageCounters

	parts, otlpParts sessionAcks
	metas            metaCache
	gate             lookupGate
	out              *orderedProducer
	split            warnEvery
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
	opts.Normalize = opts.Normalize.Defaults()
	opts.Logger = opts.Logger.With("stage", tables.StageIngest)
	in := &Ingest{opts: opts, stopper: newStopper(), metas: metaCache{m: map[string]cachedMeta{}},
		split: warnEvery{every: time.Minute}, parts: sessionAcks{topic: tables.RawTopic}, otlpParts: sessionAcks{topic: tables.OTLPTopic}}
	in.count = opts.Metrics.stage(tables.StageIngest)
	in.out = newOrderedProducer(opts.Producer, in.c, opts.Logger, func(error) {
		opts.Metrics.Errors.WithLabelValues(tables.StageIngest, "produce").Inc()
	})
	in.graph = goka.DefineGroup(gokatables.IngestGroup,
		goka.Input(gokatables.RawStream, gokatables.BytesCodec{}, in.process),
		goka.Input(gokatables.OTLPStream, gokatables.BytesCodec{}, in.processOTLP),
		goka.Lookup(gokatables.MetaTable, gokatables.BytesCodec{}),
	)
	return in, nil
}

// Graph returns the goka group graph (for goka's tester).
func (in *Ingest) Graph() *goka.GroupGraph { return in.graph }

// NewProcessor builds the stage's goka processor; extra options come last
// (tests pass goka.WithTester).
func (in *Ingest) NewProcessor(extra ...goka.ProcessorOption) (*goka.Processor, error) {
	return in.newProcessor(in.opts.Kafka, extra...)
}

func (in *Ingest) newProcessor(k Kafka, extra ...goka.ProcessorOption) (*goka.Processor, error) {
	p, err := goka.NewProcessor(k.Brokers, in.graph, append(k.ProcessorOptions(), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return p, nil
}

// Run processes until ctx ends and every deferred commit is settled. The
// clients of the meta table's view close with it. When ctx ends, the meta
// lookups close (lookupGate) before goka's processor is told to stop.
func (in *Ingest) Run(ctx context.Context, extra ...goka.ProcessorOption) error {
	var opened openClients
	defer opened.Close()
	p, err := in.newProcessor(in.opts.Kafka.tracking(&opened), extra...)
	if err != nil {
		return err
	}
	in.set(p)
	in.gate.open()
	gctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	ended := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			in.gate.close()
			stop()
		case <-ended:
		}
	}()
	err = p.Run(gctx)
	close(ended)
	wg.Wait()
	return err
}

// lookupGate lets callbacks read the meta table's lookup view only while
// it runs. goka (v1.1.16) closes a processor's lookup views as soon as its
// context ends, while partition callbacks may still be running, and a read
// then races the close (it reads the view's partitions as they are
// cleared). Run closes the gate, waiting for the reads in flight, before
// it ends goka's context; a record whose lookups find it closed is handed
// back, and the partition's next owner reads it again.
type lookupGate struct {
	mu     sync.RWMutex
	closed bool
}

func (g *lookupGate) open() {
	g.mu.Lock()
	g.closed = false
	g.mu.Unlock()
}

// close waits for the reads in flight; no read starts after it.
func (g *lookupGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// enter starts a read, unless the gate is closed; a read that started ends
// with leave.
func (g *lookupGate) enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *lookupGate) leave() { g.mu.RUnlock() }

// process judges one raw record against its own time (the broker's receive
// time, or HTTP ingest's), so that a replay judges it the same way.
func (in *Ingest) process(ctx goka.Context, msg any) {
	value, p, off, acks := in.take(ctx, msg, &in.parts)
	recordTime := tables.RawRecordTime(ctx.Timestamp(), ctx.Headers()[tables.HeaderReceived])
	res := in.opts.Normalize.Parse(value, recordTime)
	in.warnSplit(res, p, off)
	in.emit(ctx, res, value, tables.Origin{Partition: p, Offset: off}, recordTime, acks)
}

// take counts a record and registers its deferred commit with its
// partition's tracker in parts; it returns the record's value, partition,
// offset and tracker.
func (in *Ingest) take(ctx goka.Context, msg any, parts *sessionAcks) ([]byte, int32, int64, *Acks) {
	value, _ := msg.([]byte)
	p, off := ctx.Partition(), ctx.Offset()
	in.count.recordsIn.Inc()
	acks := parts.get(p, ctx.Context())
	acks.Add(off, "", ctx.DeferCommit())
	return value, p, off, acks
}

// warnSplit tells the log, at most once a minute, that records that are
// pieces of events went to the DLQ, and what to send instead.
func (in *Ingest) warnSplit(res normalize.Result, p int32, off int64) {
	if len(res.Rejected) != 1 || res.Rejected[0].Err.Reason != normalize.ReasonSplitRecord {
		return
	}
	if n := in.split.add(in.opts.Now()); n > 0 {
		in.opts.Logger.Warn("records that are pieces of events went to the DLQ", "reason", normalize.ReasonSplitRecord,
			"fix", normalize.SplitFix, "records", n, "partition", p, "offset", off)
	}
}

// warnEvery lets a warning through at most once every so often, counting
// the occasions in between.
type warnEvery struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
	n     int
}

// add counts an occasion at now and returns how many there were since the
// last warning, or 0 when it is too soon to warn.
func (w *warnEvery) add(now time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if !w.last.IsZero() && now.Sub(w.last) < w.every {
		return 0
	}
	n := w.n
	w.last, w.n = now, 0
	return n
}

// emit writes the signals and rejections of one parsed record (value) and
// acknowledges it once all of them are durable, or hands it back when the
// stage is stopping before its sources' metadata could be read. A signal larger than the
// brokers take in a batch goes to the DLQ with reason too_large instead,
// whole: written, it would be refused again and again.
func (in *Ingest) emit(ctx goka.Context, res normalize.Result, value []byte, origin tables.Origin, recordTime time.Time, acks *Acks) {
	off := ctx.Offset()
	sigs, ok := in.group(ctx, res.Events, origin, recordTime)
	if !ok {
		acks.HandBackFrom(off)
		return
	}
	m := in.opts.Metrics
	in.count.eventsIn.Add(float64(len(res.Events) + len(res.Rejected)))
	recs := make([]*kgo.Record, 0, 1+len(res.Rejected))
	reject := func(reason, msg string, index int, raw []byte) {
		m.Discarded.WithLabelValues(tables.StageIngest, reason).Inc()
		recs = append(recs, kgotables.DLQRecord(tables.Reject(tables.StageIngest, reason, msg, gokatables.Input(ctx), raw).Event(index)))
	}
	limit := in.opts.Kafka.Defaults().BatchBytes - signalOverhead
	out := 0
	for _, sig := range sigs {
		v := sig.AppendBinary(make([]byte, 0, 64+48*len(sig.Samples)))
		if len(v)+len(sig.Key()) > limit {
			reject(string(normalize.ReasonTooLarge), fmt.Sprintf("the %d events of %s in this record make a signal of %d bytes, more than the brokers take (%d): send them in smaller records",
				len(sig.Samples), sig.Key(), len(v), limit), -1, value)
			continue
		}
		out += len(sig.Samples)
		recs = append(recs, &kgo.Record{Topic: tables.SignalsTopic, Key: []byte(sig.Key()), Value: v})
	}
	in.count.eventsOut.Add(float64(out))
	for _, rej := range res.Rejected {
		reject(string(rej.Err.Reason), rej.Err.Error(), rej.Err.Index, rej.Raw)
	}
	in.out.send(ctx.Context(), origin.Partition, recs, func() { acks.Done(off) })
}

// signalOverhead is what a record batch adds to a signal's key and value.
const signalOverhead = 1 << 10

// group turns events into one signal per source, in order of first sight,
// with each source's metadata; it reports false when the lookups closed
// (the stage is stopping).
func (in *Ingest) group(ctx goka.Context, events []normalize.Event, origin tables.Origin, recordTime time.Time) ([]*tables.Signal, bool) {
	if len(events) == 0 {
		return nil, true
	}
	if !in.gate.enter() {
		return nil, false
	}
	defer in.gate.leave()
	if len(events) == 1 {
		ev := &events[0]
		key := tables.SourceKey(ev.Tenant, ev.Host)
		return []*tables.Signal{{Tenant: ev.Tenant, Host: ev.Host, Origin: origin, IngestMicro: recordTime.UnixMicro(),
			Meta: in.lookupMeta(ctx, key), Samples: []tables.Sample{ev.Sample}}}, true
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
	return out, true
}

func (in *Ingest) lookupMeta(ctx goka.Context, key string) *tables.SourceMeta {
	raw, _ := ctx.Lookup(gokatables.MetaTable, key).([]byte)
	if len(raw) == 0 {
		return nil
	}
	meta, err := in.metas.get(key, raw)
	if err != nil {
		in.opts.Metrics.Errors.WithLabelValues(tables.StageIngest, "bad_source_metadata").Inc()
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
