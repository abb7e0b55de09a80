package processors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// StageFeatures names the features stage.
const StageFeatures = "features"

// SourceHost keeps the per-source actors of the partitions this replica
// owns. The features stage tells it when a partition is opened, hands it
// every signal, and closes the partition when goka revokes it.
type SourceHost interface {
	// Open starts a partition for one goka session. durable (callable from
	// any goroutine) says that a key's state, up to an offset, is durable
	// in the table; handBack (likewise) that the signal at offset was not
	// applied and is left to the partition's next owner.
	Open(part int32, durable func(key string, offset int64), handBack func(offset int64)) SourcePartition
}

// SourcePartition is one opened partition of a SourceHost.
type SourcePartition interface {
	// Deliver hands a signal to its source's actor and reports whether it
	// took it: once the partition is closing, it does not. stored returns
	// the table's value for the key; it may only be called during Deliver.
	Deliver(key string, offset int64, sig *tables.Signal, stored func() []byte) bool
	// Wake starts the source's actor from its stored state if it is not
	// running, so that its timers (for, keep_firing_for, no-data) run
	// without waiting for a new event. It may only be called during a
	// goka callback of the partition.
	Wake(key string, stored []byte)
	// Close flushes the partition's state to the table and stops its actors;
	// it returns once that is durable or ctx ended.
	Close(ctx context.Context)
}

// FeaturesOptions configure the features stage.
type FeaturesOptions struct {
	Kafka    Kafka
	Host     SourceHost
	Producer Producer
	Metrics  *Metrics
	Logger   *slog.Logger
}

// Features is the features stage: it reads signals, hands each to its
// source's actor (which keeps the windowed features and alert state, and
// writes them to the group table), and commits a signal only once the state
// that includes it is durable in the table.
type Features struct {
	opts  FeaturesOptions
	graph *goka.GroupGraph
	stopper
	current
	count stageCounters
	// strings shares the strings of decoded signals.
	strings *tables.Interner

	mu    sync.Mutex
	parts map[int32]*featurePartition
	// closing counts the partitions whose final flush runs; Run returns
	// only once they are over, so that the actors outlive them.
	closing sync.WaitGroup
}

type featurePartition struct {
	acks    *Acks
	session context.Context
	host    SourcePartition
}

// NewFeatures builds the stage.
func NewFeatures(opts FeaturesOptions) (*Features, error) {
	if opts.Host == nil || opts.Producer == nil {
		return nil, fmt.Errorf("features: a source host and a producer are required")
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Logger = opts.Logger.With("stage", StageFeatures)
	f := &Features{opts: opts, parts: map[int32]*featurePartition{}, stopper: newStopper(), strings: tables.NewInterner(maxInterned)}
	f.count = opts.Metrics.stage(StageFeatures)
	f.graph = goka.DefineGroup(tables.FeaturesGroup,
		goka.Input(tables.SignalsStream, tables.BytesCodec{}, f.process),
		goka.Persist(tables.BytesCodec{}),
		goka.Visitor(wakeVisitor, f.wake),
	)
	return f, nil
}

// Graph returns the goka group graph.
func (f *Features) Graph() *goka.GroupGraph { return f.graph }

// wakeVisitor names the visit that starts the actors of newly assigned
// partitions.
const wakeVisitor = "wake"

// NewProcessor builds the stage's goka processor; extra options come last
// (tests pass goka.WithTester). After every rebalance, once the new
// partitions are recovered, it visits every stored source so that actors
// with timers to run are rebuilt without waiting for new events.
func (f *Features) NewProcessor(ctx context.Context, extra ...goka.ProcessorOption) (*goka.Processor, error) {
	var p *goka.Processor
	var mu sync.Mutex
	wake := func(goka.Assignment) {
		go func() {
			mu.Lock()
			proc := p
			mu.Unlock()
			if proc == nil || proc.WaitForReadyContext(ctx) != nil {
				return
			}
			n, err := proc.VisitAllWithStats(ctx, wakeVisitor, nil)
			if err != nil && ctx.Err() == nil {
				f.opts.Logger.Warn("waking the sources of the new assignment", "err", err)
				return
			}
			f.opts.Logger.Debug("woke the sources of the new assignment", "sources", n)
		}()
	}
	opts := append(f.opts.Kafka.ProcessorOptions(), goka.WithRebalanceCallback(wake))
	proc, err := goka.NewProcessor(f.opts.Kafka.Brokers, f.graph, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	mu.Lock()
	p = proc
	mu.Unlock()
	return proc, nil
}

// Run processes until ctx ends, every deferred commit is settled and the
// final flushes of its partitions are over.
func (f *Features) Run(ctx context.Context, extra ...goka.ProcessorOption) error {
	p, err := f.NewProcessor(ctx, extra...)
	if err != nil {
		return err
	}
	f.set(p)
	err = p.Run(ctx)
	f.closing.Wait()
	return err
}

// wake is the visit callback: it starts a stored source's actor.
func (f *Features) wake(ctx goka.Context, _ any) {
	v, _ := ctx.Value().([]byte)
	if len(v) == 0 {
		return
	}
	f.partition(ctx).host.Wake(ctx.Key(), v)
}

// partition returns the partition's tracker, opening the partition on the
// first record of a new session. When the session ends (revocation or
// shutdown) its state is flushed, which makes the records read so far
// durable; what is not durable within the grace is handed back. The
// session is released only once the flush is over, also when timers made
// it (then no deferred commit waits for it), so that the partition's next
// owner does not recover the table before this owner's last write (unless
// that write outlasts the grace).
func (f *Features) partition(ctx goka.Context) *featurePartition {
	p, session := ctx.Partition(), ctx.Context()
	f.mu.Lock()
	defer f.mu.Unlock()
	if fp, ok := f.parts[p]; ok && fp.session == session {
		return fp
	}
	fp := &featurePartition{acks: sessionTracker(session, tables.SignalsTopic, p), session: session}
	fp.host = f.opts.Host.Open(p, fp.acks.Durable, fp.acks.HandBackFrom)
	f.parts[p] = fp
	released := func() {}
	if fe := fenceOf(session); fe != nil {
		released = fe.closeWith()
	}
	f.closing.Add(1)
	go func() {
		defer f.closing.Done()
		defer released()
		<-session.Done()
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.Kafka.Defaults().HandBackGrace)
		defer cancel()
		fp.host.Close(ctx)
		f.mu.Lock()
		if f.parts[p] == fp {
			delete(f.parts, p)
		}
		f.mu.Unlock()
	}()
	return fp
}

func (f *Features) process(ctx goka.Context, msg any) {
	m := f.opts.Metrics
	f.count.recordsIn.Inc()
	fp := f.partition(ctx)
	acks := fp.acks
	key, off := ctx.Key(), ctx.Offset()
	acks.Add(off, key, ctx.DeferCommit())
	raw, _ := msg.([]byte)
	sig, err := f.strings.Decode(raw)
	if err == nil && sig.Key() != key {
		err = fmt.Errorf("signal of %s carries key %q", sig.Key(), key)
	}
	if err != nil {
		m.Discarded.WithLabelValues(StageFeatures, "undecodable_signal").Inc()
		rec := tables.DLQRecord(tables.Rejection{
			Stage: StageFeatures, Reason: "undecodable_signal", Error: err.Error(), Topic: tables.SignalsTopic,
			Partition: ctx.Partition(), Offset: off, Index: -1, Key: []byte(key), Value: truncateValue(raw),
		})
		produceAll(f.opts.Producer, []*kgo.Record{rec}, f.c, f.opts.Logger, func(error) {
			m.Errors.WithLabelValues(StageFeatures, "produce").Inc()
		}, func() { acks.Done(off) })
		return
	}
	f.count.eventsIn.Add(float64(len(sig.Samples)))
	taken := fp.host.Deliver(key, off, sig, func() []byte {
		v, _ := ctx.Value().([]byte)
		return v
	})
	if !taken {
		// Read after the partition began closing.
		acks.HandBackFrom(off)
	}
}
