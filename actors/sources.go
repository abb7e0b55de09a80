package actors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/engine"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// AsyncProducer writes a record and reports the broker's answer through
// promise; *kgo.Client implements it.
type AsyncProducer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
}

// SourcesOptions configure the per-source actors.
type SourcesOptions struct {
	Rules *RuleHolder
	// Producer writes the state flushes to the table. Alerts, which must
	// not queue behind a burst of flushes, go through AlertProducer
	// (default: Producer).
	Producer      AsyncProducer
	AlertProducer AsyncProducer
	// FlushInterval is how long a source's state may stay dirty before it
	// is written to the table (default 5 s). An alert transition flushes
	// sooner, as soon as its record is acknowledged.
	FlushInterval time.Duration
	// IdleTimeout is how long a source's actor stays in memory without a
	// signal once it holds nothing the table does not (default 10 m; its
	// state stays in the table and its next signal rebuilds it). It applies
	// only to partitions opened with a Store.
	IdleTimeout time.Duration
	// MaxFuture is how far ahead of its record's receive time a sample may
	// be (default 30 s); at most half its metric's lateness.
	MaxFuture time.Duration
	// MaxSeries bounds the series (metric and tags) a source keeps features
	// of (default 500), and MaxTenantSeries those of all the sources of a
	// tenant this replica holds in memory (default 100,000); a sample that
	// would add a series beyond either is refused with reason series_limit
	// (and counted per tenant). MaxStateBytes bounds a source's encoded
	// state (default 768 KiB, well under the 1 MiB a broker accepts by
	// default): a sample that would add a series beyond it is refused with
	// reason source_limit, and a state that still outgrows it sheds series.
	// Series a source has keep working.
	MaxSeries       int
	MaxTenantSeries int
	MaxStateBytes   int
	// SeriesStaleAfter is how long a series may go without a sample, by
	// its source's event time (the source's clock, not the series' own),
	// before it leaves the source's state (default 1h): its alerts then
	// end with reason series_gone, and it no longer counts towards the
	// limits. A series a no-data rule still judges stays longer (see
	// engine.Source).
	SeriesStaleAfter time.Duration
	// Warm, with a History, fills the windows of sources that start empty
	// from their stored samples (see warmUp); off by default.
	Warm WarmStart
	// Now is the wall clock (default time.Now).
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// RuleHolder holds the current rule set; Swap replaces it for every actor
// at once (hot reload). Rules that did not change keep their state because
// their IDs do not change.
type RuleHolder struct{ p atomic.Pointer[engine.Rules] }

// NewRuleHolder holds rs.
func NewRuleHolder(rs *rules.RuleSet) *RuleHolder {
	h := &RuleHolder{}
	h.Swap(rs)
	return h
}

// Swap installs a new rule set.
func (h *RuleHolder) Swap(rs *rules.RuleSet) { h.p.Store(engine.NewRules(rs)) }

// Current returns the rule set in force.
func (h *RuleHolder) Current() *rules.RuleSet { return h.p.Load().Set() }

// view returns the rule set in force with its feature configurations.
func (h *RuleHolder) view() *engine.Rules { return h.p.Load() }

// FeatureConfig returns a metric's feature configuration (see
// engine.Rules.FeatureConfig).
func (h *RuleHolder) FeatureConfig(metric string) features.Config {
	return h.p.Load().FeatureConfig(metric)
}

// Sources is the features stage's source host: one protoactor actor per
// source of the partitions this replica owns.
type Sources struct {
	system *actor.ActorSystem
	opts   SourcesOptions
	m      sourceMetrics
	// warm is nil when warm start is off.
	warm *warmer

	mu    sync.Mutex
	parts map[*SourcePartition]struct{}

	// series counts the series of each tenant's sources in memory.
	seriesMu sync.Mutex
	series   map[string]int
}

// reserveSeries counts a new series of tenant, unless the tenant has
// MaxTenantSeries already.
func (s *Sources) reserveSeries(tenant string) bool {
	s.seriesMu.Lock()
	defer s.seriesMu.Unlock()
	if s.series[tenant] >= s.opts.MaxTenantSeries {
		return false
	}
	s.series[tenant]++
	return true
}

// countSeries adds n (negative: removes) to tenant's series in memory.
func (s *Sources) countSeries(tenant string, n int) {
	s.seriesMu.Lock()
	defer s.seriesMu.Unlock()
	if s.series[tenant] += n; s.series[tenant] <= 0 {
		delete(s.series, tenant)
	}
}

type sourceMetrics struct {
	actors      prometheus.Gauge
	samples     prometheus.Counter
	refused     *prometheus.CounterVec
	redelivered prometheus.Counter
	duplicates  prometheus.Counter
	writeErrors prometheus.Counter
	shed        prometheus.Counter
	stale       prometheus.Counter
	limited     *prometheus.CounterVec
	evicted     prometheus.Counter
	transitions *prometheus.CounterVec
	flushes     prometheus.Counter
	flushBytes  prometheus.Counter
	resets      prometheus.Counter
	stateBytes  prometheus.Histogram
}

// NewSources builds the host.
func NewSources(system *actor.ActorSystem, opts SourcesOptions) *Sources {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 5 * time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.MaxFuture <= 0 {
		opts.MaxFuture = engine.DefaultMaxFuture
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = engine.DefaultMaxSeries
	}
	if opts.MaxTenantSeries <= 0 {
		opts.MaxTenantSeries = 100_000
	}
	if opts.SeriesStaleAfter <= 0 {
		opts.SeriesStaleAfter = engine.DefaultSeriesStaleAfter
	}
	if opts.MaxStateBytes <= 0 {
		opts.MaxStateBytes = 768 << 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AlertProducer == nil {
		opts.AlertProducer = opts.Producer
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := sourceMetrics{
		actors: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventops_source_actors", Help: "Per-source actors running."}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_feature_samples_total",
			Help: "Samples folded into windowed features."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventops_feature_refused_samples_total",
			Help: "Samples the features stage did not fold in, sent to the DLQ, by reason (too_late, future, series_limit, source_limit, invalid)."},
			[]string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_feature_duplicate_samples_total",
			Help: "Samples whose event time their series had applied already (a resent event): not applied again."}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_feature_write_errors_total",
			Help: "Alert or refused-sample records the broker refused (written again until accepted)."}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_state_series_shed_total",
			Help: "Series dropped from a source's state to keep it under max_state_bytes."}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_state_series_stale_total",
			Help: "Series that left their source's state after series_stale_after without a sample."}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventops_series_limit_samples_total",
			Help: "Samples refused because they would add a series beyond max_series_per_source or max_series_per_tenant, by tenant."},
			[]string{"tenant"}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_source_actors_evicted_total",
			Help: "Idle source actors stopped to free memory (their state stays in the table)."}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_feature_redelivered_total",
			Help: "Signals read again after a restart and not applied twice."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventops_alert_transitions_total",
			Help: "Alert transitions emitted, by state."}, []string{"state"}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_state_flushes_total",
			Help: "Source states written to the features table."}),
		flushBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_state_flush_bytes_total",
			Help: "Bytes of source state written to the features table (its changelog)."}),
		resets: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_state_resets_total",
			Help: "Stored states or series that could not be decoded and started afresh."}),
		stateBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eventops_state_bytes",
			Help: "Encoded size of a source's state.", Buckets: prometheus.ExponentialBuckets(64, 2, 12)}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(m.actors, m.samples, m.refused, m.redelivered, m.duplicates, m.writeErrors, m.shed, m.stale, m.limited, m.evicted, m.transitions, m.flushes, m.flushBytes, m.resets, m.stateBytes)
	}
	s := &Sources{system: system, opts: opts, m: m, parts: map[*SourcePartition]struct{}{}, series: map[string]int{}}
	if opts.Warm.History != nil {
		s.warm = newWarmer(opts.Warm, opts.Registerer)
	}
	return s
}

// PartitionHooks connect an opened partition to its stage (the fields of
// processors.PartitionHooks, in its order).
type PartitionHooks struct {
	// Durable (callable from any goroutine) says that a key's state, up to
	// an input offset, is durable in the table.
	Durable func(key string, offset int64)
	// HandBack gives up on a signal its actor did not apply (it arrived
	// after the partition's final flush): the partition's next owner reads
	// it again.
	HandBack func(offset int64)
	// Store, when set, writes a flushed state into the stage's local copy of
	// the table, so that an actor rebuilt later in the session starts from
	// it. Without it idle actors are never stopped.
	Store func(key string, value []byte)
	// Generation and Epoch name the session (its consumer group generation
	// and start, ms); flushed states carry them (see tables.StoreIsNewer).
	Generation int64
	Epoch      int64
}

// Open implements processors.SourceHost.
func (s *Sources) Open(part int32, hooks PartitionHooks) *SourcePartition {
	p := &SourcePartition{s: s, part: part, hooks: hooks, actors: map[string]*actorRef{}}
	s.mu.Lock()
	s.parts[p] = struct{}{}
	s.mu.Unlock()
	return p
}

// Reevaluate asks every actor to evaluate its rules now, as after a rule
// reload, so that new rules apply and timers follow the new deadlines.
func (s *Sources) Reevaluate() {
	s.mu.Lock()
	parts := make([]*SourcePartition, 0, len(s.parts))
	for p := range s.parts {
		parts = append(parts, p)
	}
	s.mu.Unlock()
	for _, p := range parts {
		p.mu.Lock()
		for _, ref := range p.actors {
			s.system.Root.Send(ref.pid, ruleTick{})
		}
		p.mu.Unlock()
	}
}

// SourcePartition is one owned partition's actors.
type SourcePartition struct {
	s     *Sources
	part  int32
	hooks PartitionHooks

	mu     sync.Mutex
	actors map[string]*actorRef
	closed bool
}

// actorRef is a running actor and the signals sent to it that it has not
// taken yet: an actor leaves memory only with none in its mailbox.
type actorRef struct {
	pid    *actor.PID
	queued int
}

func (p *SourcePartition) durable(key string, offset int64) { p.hooks.Durable(key, offset) }

func (p *SourcePartition) stored(key string, value []byte) {
	if p.hooks.Store != nil {
		p.hooks.Store(key, value)
	}
}

func (p *SourcePartition) canEvict() bool { return p.hooks.Store != nil }

// took says the actor of key took a signal from its mailbox.
func (p *SourcePartition) took(key string) {
	p.mu.Lock()
	if ref := p.actors[key]; ref != nil {
		ref.queued--
	}
	p.mu.Unlock()
}

// evict removes the actor of key if it is pid and nothing waits in its
// mailbox; the next signal of key then starts a new actor from the table.
func (p *SourcePartition) evict(key string, pid *actor.PID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ref := p.actors[key]
	if ref == nil || ref.pid != pid || ref.queued > 0 || p.closed {
		return false
	}
	delete(p.actors, key)
	p.s.m.actors.Dec()
	return true
}

// Deliver implements processors.SourcePartition: milli is the signals
// record's timestamp. The signal is sent under the partition's lock, so
// that it reaches its actor before Close's final flush request does, or is
// refused.
func (p *SourcePartition) Deliver(key string, offset, milli int64, sig *tables.Signal, stored func() []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	ref, ok := p.actors[key]
	if !ok {
		ref = &actorRef{pid: p.spawn(key, sig.Tenant, sig.Host, stored(), false)}
		p.actors[key] = ref
	}
	ref.queued++
	p.s.system.Root.Send(ref.pid, &deliver{offset: offset, milli: milli, sig: sig})
	return true
}

// Wake implements processors.SourcePartition: a stored source that needs
// its actor without a new signal gets it back: one with a rule deadline to
// meet (its timers run), or one last evaluated under other rules (after a
// reload, or a restart with another rule file: new rules reach it, the
// alerts of changed or removed ones end). The actor evaluates its rules at
// once and, unless it keeps a deadline, leaves memory again as soon as its
// state is written. Sources with nothing due stay in the table until their
// next signal.
func (p *SourcePartition) Wake(key string, stored []byte) {
	h, err := tables.DecodeStateHeader(stored)
	if err != nil || !h.NeedsActor(p.s.opts.Rules.Current().Fingerprint()) {
		return
	}
	p.wake(key, stored)
}

func (p *SourcePartition) wake(key string, stored []byte) {
	tenant, host, err := tables.SplitKey(key)
	if err != nil {
		p.s.opts.Logger.Warn("a stored state has a key that is not tenant/host", "key", key)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.actors[key]; ok || p.closed {
		return
	}
	pid := p.spawn(key, tenant, host, stored, true)
	p.actors[key] = &actorRef{pid: pid}
	p.s.system.Root.Send(pid, ruleTick{})
}

// spawn starts the actor of key from its stored state; woken says no signal
// called it (see Wake).
func (p *SourcePartition) spawn(key, tenant, host string, stored []byte, woken bool) *actor.PID {
	s := p.s
	st := &tables.SourceState{Partition: p.part, Offset: -1}
	configured := s.opts.Rules.view()
	fresh := true
	var reset []string
	if len(stored) > 0 {
		dec, resetSeries, err := tables.DecodeSourceState(stored, configured.FeatureConfig)
		reset = resetSeries
		switch {
		case err != nil:
			s.m.resets.Inc()
			s.opts.Logger.Error("stored source state does not decode; starting it afresh", "tenant", tenant, "host", host, "err", err)
		default:
			st, fresh = dec, false
			if len(reset) > 0 {
				s.m.resets.Add(float64(len(reset)))
				s.opts.Logger.Warn("series no longer decode under their configuration; they start afresh",
					"tenant", tenant, "host", host, "metrics", reset)
			}
		}
	}
	a := &sourceActor{s: s, p: p, key: key, tenant: tenant, host: host, st: st, lastSize: len(stored), woken: woken,
		warm: s.planWarm(fresh, woken, reset), configured: configured}
	a.eng.Init(tenant, host, st, engine.Options{MaxFuture: s.opts.MaxFuture, MaxSeries: s.opts.MaxSeries,
		MaxTenantSeries: s.opts.MaxTenantSeries, SeriesStaleAfter: s.opts.SeriesStaleAfter, Hooks: engine.Hooks{
			Transition: a.transition,
			Stepped:    a.stepped,
			Refused:    a.side,
			Applied:    s.m.samples.Inc,
			Duplicate:  s.m.duplicates.Inc,
			SeriesLeft: func(n int, stale bool) {
				s.countSeries(tenant, -n)
				if stale {
					s.m.stale.Add(float64(n))
				}
			},
			SourceFull:    a.sourceFull,
			ReserveSeries: func() bool { return s.reserveSeries(tenant) },
		}})
	s.countSeries(tenant, len(st.Metrics))
	s.m.actors.Inc()
	return s.system.Root.Spawn(props(featuresDispatcher, a))
}

// Close implements processors.SourcePartition: every actor flushes its
// state and stops. It returns once every state is durable or ctx ended.
func (p *SourcePartition) Close(ctx context.Context) {
	p.s.mu.Lock()
	delete(p.s.parts, p)
	p.s.mu.Unlock()
	p.mu.Lock()
	p.closed = true
	actors := p.actors
	p.actors = nil
	p.mu.Unlock()
	s := p.s
	var left atomic.Int64
	left.Store(int64(len(actors)))
	flushed := make(chan struct{})
	if len(actors) == 0 {
		close(flushed)
	}
	for _, ref := range actors {
		s.system.Root.Send(ref.pid, closeReq{done: func() {
			if left.Add(-1) == 0 {
				close(flushed)
			}
		}})
	}
	select {
	case <-flushed:
	case <-ctx.Done():
		if n := left.Load(); n > 0 {
			s.opts.Logger.Warn("some sources could not flush their state before the partition was released; their input is read again by the next owner",
				"partition", p.part, "sources", n)
		}
	}
	for _, ref := range actors {
		s.system.Root.Stop(ref.pid)
	}
	s.m.actors.Sub(float64(len(actors)))
}

// Keys returns the sources the partition holds (for tests and views).
func (p *SourcePartition) Keys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.actors))
	for k := range p.actors {
		keys = append(keys, k)
	}
	return keys
}
