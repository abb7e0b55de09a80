package processors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/gokatables"
	"github.com/eventops/eventops/tables/kgotables"
)

// SourceHost keeps the per-source actors of the partitions this replica
// owns. The features stage tells it when a partition is opened, hands it
// every signal, and closes the partition when goka revokes it.
type SourceHost interface {
	// Open starts a partition for one goka session.
	Open(part int32, hooks PartitionHooks) SourcePartition
}

// PartitionHooks are what an opened partition reports to its stage; each
// may be called from any goroutine.
type PartitionHooks struct {
	// Durable says that a key's state, up to an offset, is durable in the
	// table.
	Durable func(key string, offset int64)
	// HandBack says the signal at offset was not applied and is left to the
	// partition's next owner.
	HandBack func(offset int64)
	// Store writes a flushed state into the stage's local copy of the
	// table, so that an actor rebuilt later in the session starts from it;
	// nil when the stage has no such copy (goka's tester).
	Store func(key string, value []byte)
	// Generation and Epoch name the session: the consumer group's
	// generation and the wall time (ms) it started (0 without one).
	Generation int64
	Epoch      int64
}

// SourcePartition is one opened partition of a SourceHost.
type SourcePartition interface {
	// Deliver hands a signal (read at offset, with record timestamp milli)
	// to its source's actor and reports whether it took it: once the
	// partition is closing, it does not. stored returns the table's value
	// for the key; it may only be called during Deliver.
	Deliver(key string, offset, milli int64, sig *tables.Signal, stored func() []byte) bool
	// Wake starts a stored source's actor if it is not running and its
	// state needs it without a new event: a rule deadline to meet (for,
	// keep_firing_for, no-data), or rules to catch up on.
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
	// sessions is the newest goka session; stores the table's local
	// storage of each partition.
	sessions sessionLog
	stores   tableStores
}

type featurePartition struct {
	acks    *Acks
	session any // the session's fence, or goka's context without one
	host    SourcePartition
	// store is the partition's local copy of the table in this session.
	store storage.Storage
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
	opts.Logger = opts.Logger.With("stage", tables.StageFeatures)
	f := &Features{opts: opts, parts: map[int32]*featurePartition{}, stopper: newStopper(), strings: tables.NewInterner(maxInterned)}
	f.count = opts.Metrics.stage(tables.StageFeatures)
	f.graph = goka.DefineGroup(gokatables.FeaturesGroup,
		goka.Input(gokatables.SignalsStream, gokatables.BytesCodec{}, f.process),
		goka.Persist(gokatables.BytesCodec{}),
	)
	return f, nil
}

// Graph returns the goka group graph.
func (f *Features) Graph() *goka.GroupGraph { return f.graph }

// NewProcessor builds the stage's goka processor; extra options come last
// (tests pass goka.WithTester). After every rebalance, once the new
// partitions are recovered, it starts the actors of the stored sources that
// have a rule deadline to meet, so that their timers run without waiting
// for new events.
func (f *Features) NewProcessor(ctx context.Context, extra ...goka.ProcessorOption) (*goka.Processor, error) {
	var p *goka.Processor
	var mu sync.Mutex
	wake := func(a goka.Assignment) {
		session := f.sessions.current()
		go func() {
			mu.Lock()
			proc := p
			mu.Unlock()
			if proc == nil || session == nil || proc.WaitForReadyContext(ctx) != nil {
				return
			}
			n := f.visit(session, a, SourcePartition.Wake)
			f.opts.Logger.Debug("woke the sources of the new assignment that have a deadline", "sources", n)
		}()
	}
	k := f.opts.Kafka
	k.sessions = &f.sessions
	opts := append(k.ProcessorOptions(),
		goka.WithStorageBuilder(f.stores.builder(k.Defaults().storageBuilder())),
		goka.WithUpdateCallback(keepNewerState),
		goka.WithRebalanceCallback(wake))
	proc, err := goka.NewProcessor(k.Brokers, f.graph, append(opts, extra...)...)
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

// WakeStored starts the actors of the stored sources of the current session
// that need one (see SourcePartition.Wake): after a rule reload, every
// source out of memory catches up on the new rules once.
func (f *Features) WakeStored() int {
	session := f.sessions.current()
	if session == nil || session.ctx.Err() != nil {
		return 0
	}
	a := goka.Assignment{}
	for _, c := range session.Claims()[tables.SignalsTopic] {
		a[c] = 0
	}
	return f.visit(session, a, SourcePartition.Wake)
}

// visit hands every stored source of the assigned partitions to wake, in
// the partitions' state of session. It returns how many it visited.
func (f *Features) visit(session *fence, a goka.Assignment, wake func(SourcePartition, string, []byte)) int {
	n := 0
	for part := range a {
		fp := f.open(part, session, session.ctx)
		if fp == nil || fp.store == nil {
			continue
		}
		it, err := fp.store.Iterator()
		if err != nil {
			f.opts.Logger.Warn("reading the stored sources of a partition", "partition", part, "err", err)
			continue
		}
		for it.Next() && session.ctx.Err() == nil {
			v, err := it.Value()
			if err != nil || len(v) == 0 {
				continue
			}
			wake(fp.host, string(it.Key()), append([]byte(nil), v...))
			n++
		}
		it.Release()
	}
	return n
}

// keepNewerState is the features table's recovery: a state written by an
// older generation of the group than the one stored (the late flush of an
// owner that had lost the partition) does not replace it.
func keepNewerState(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
	if value == nil {
		return s.Delete(key)
	}
	if stored, err := s.Get(key); err == nil && tables.StoreIsNewer(stored, value) {
		return nil
	}
	return s.Set(key, value)
}

// partition returns the partition's tracker for the session of a goka
// callback, opening the partition on its first record of a new session.
func (f *Features) partition(ctx goka.Context) *featurePartition {
	session := ctx.Context()
	var id any = session
	if fe := fenceOf(session); fe != nil {
		id, session = fe, fe.ctx
	}
	return f.open(ctx.Partition(), id, session)
}

// open returns partition p's tracker in session (id: its fence, or goka's
// context), opening it if needed; nil once the session has ended. When the
// session ends (revocation or shutdown) its state is flushed, which makes
// the records read so far durable; what is not durable within the grace is
// handed back. The session is released only once the flush is over, also
// when timers made it (then no deferred commit waits for it), so that the
// partition's next owner does not recover the table before this owner's
// last write (unless that write outlasts the grace).
func (f *Features) open(p int32, id any, session context.Context) *featurePartition {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fp, ok := f.parts[p]; ok && fp.session == id {
		return fp
	}
	released := func() {}
	fe := fenceOf(session)
	if fe != nil {
		done, ok := fe.closeWith()
		if !ok {
			return nil
		}
		released = done
	}
	// The session's end waits for the partition's final flush (closeWith
	// above), so its tracker marks the partition instead of keeping goka's
	// context of every record until its state is written.
	fp := &featurePartition{acks: sessionTracker(session, tables.SignalsTopic, p, true), session: id, store: f.stores.get(p)}
	hooks := PartitionHooks{Durable: fp.acks.Durable, HandBack: fp.acks.HandBackFrom}
	if fe != nil {
		hooks.Generation, hooks.Epoch = int64(fe.GenerationID()), fe.started
		if fp.store != nil {
			hooks.Store = func(key string, value []byte) { storeNewer(fp.store, key, value) }
		}
	}
	fp.host = f.opts.Host.Open(p, hooks)
	f.parts[p] = fp
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

// storeNewer writes a flushed state into a local copy of the table, unless
// that holds a state of a later generation. A copy already closed (its
// session is over) is left as it is.
func storeNewer(st storage.Storage, key string, value []byte) {
	if stored, err := st.Get(key); err == nil && tables.StoreIsNewer(stored, value) {
		return
	}
	_ = st.Set(key, value)
}

// tableStores keeps the local storage goka builds for each partition of the
// features table, the newest per partition.
type tableStores struct {
	mu sync.Mutex
	m  map[int32]storage.Storage
}

func (t *tableStores) builder(base storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := base(topic, partition)
		if err == nil && topic == tables.FeaturesTable {
			t.mu.Lock()
			if t.m == nil {
				t.m = map[int32]storage.Storage{}
			}
			t.m[partition] = st
			t.mu.Unlock()
		}
		return st, err
	}
}

func (t *tableStores) get(p int32) storage.Storage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[p]
}

func (f *Features) process(ctx goka.Context, msg any) {
	m := f.opts.Metrics
	f.count.recordsIn.Inc()
	fp := f.partition(ctx)
	if fp == nil {
		// Read after the session's cleanup began (goka does not run
		// callbacks then): the next owner reads it again.
		fenceOf(ctx.Context()).hold(tables.SignalsTopic, ctx.Partition(), ctx.Offset())
		return
	}
	acks := fp.acks
	key, off := ctx.Key(), ctx.Offset()
	acks.Add(off, key, acks.Defer(ctx))
	raw, _ := msg.([]byte)
	sig, err := f.strings.Decode(raw)
	if err == nil && sig.Key() != key {
		err = fmt.Errorf("signal of %s carries key %q", sig.Key(), key)
	}
	if err != nil {
		m.Discarded.WithLabelValues(tables.StageFeatures, tables.ReasonUndecodableSignal).Inc()
		rec := kgotables.DLQRecord(tables.Reject(tables.StageFeatures, tables.ReasonUndecodableSignal, err.Error(), gokatables.Input(ctx), raw))
		produceAll(f.opts.Producer, []*kgo.Record{rec}, f.c, f.opts.Logger, func(error) {
			m.Errors.WithLabelValues(tables.StageFeatures, "produce").Inc()
		}, func() { acks.Done(off) })
		return
	}
	f.count.eventsIn.Add(float64(len(sig.Samples)))
	taken := fp.host.Deliver(key, off, ctx.Timestamp().UnixMilli(), sig, func() []byte {
		v, _ := ctx.Value().([]byte)
		return v
	})
	if !taken {
		// Read after the partition began closing.
		acks.HandBackFrom(off)
	}
}
