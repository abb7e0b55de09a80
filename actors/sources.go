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
	// Now is the wall clock (default time.Now).
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// RuleHolder holds the current rule set; Swap replaces it for every actor
// at once (hot reload). Rules that did not change keep their state because
// their IDs do not change.
type RuleHolder struct{ p atomic.Pointer[ruleView] }

type ruleView struct {
	rs   *rules.RuleSet
	base features.Config
}

// NewRuleHolder holds rs.
func NewRuleHolder(rs *rules.RuleSet) *RuleHolder {
	h := &RuleHolder{}
	h.Swap(rs)
	return h
}

// Swap installs a new rule set.
func (h *RuleHolder) Swap(rs *rules.RuleSet) {
	h.p.Store(&ruleView{rs: rs, base: rs.Options().Features})
}

// Current returns the rule set in force.
func (h *RuleHolder) Current() *rules.RuleSet { return h.p.Load().rs }

// FeatureConfig returns a metric's feature configuration: its catalog entry
// if it has one, the defaults otherwise.
func (h *RuleHolder) FeatureConfig(metric string) features.Config {
	v := h.p.Load()
	if c, ok := v.rs.FeatureConfig(metric); ok {
		return c
	}
	return v.base
}

// Sources is the features stage's source host: one protoactor actor per
// source of the partitions this replica owns.
type Sources struct {
	system *actor.ActorSystem
	opts   SourcesOptions
	m      sourceMetrics

	mu    sync.Mutex
	parts map[*SourcePartition]struct{}
}

type sourceMetrics struct {
	actors      prometheus.Gauge
	samples     prometheus.Counter
	late        prometheus.Counter
	redelivered prometheus.Counter
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
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_feature_late_samples_total",
			Help: "Samples beyond the lateness bound, sent to the DLQ with reason too_late."}),
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
		opts.Registerer.MustRegister(m.actors, m.samples, m.late, m.redelivered, m.transitions, m.flushes, m.flushBytes, m.resets, m.stateBytes)
	}
	return &Sources{system: system, opts: opts, m: m, parts: map[*SourcePartition]struct{}{}}
}

// Open implements processors.SourceHost.
func (s *Sources) Open(part int32, durable func(key string, offset int64), handBack func(offset int64)) *SourcePartition {
	p := &SourcePartition{s: s, part: part, durable: durable, handBack: handBack, actors: map[string]*actor.PID{}}
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
		for _, pid := range p.actors {
			s.system.Root.Send(pid, ruleTick{})
		}
		p.mu.Unlock()
	}
}

// SourcePartition is one owned partition's actors.
type SourcePartition struct {
	s        *Sources
	part     int32
	durable  func(key string, offset int64)
	handBack func(offset int64)

	mu     sync.Mutex
	actors map[string]*actor.PID
	closed bool
}

// Deliver implements processors.SourcePartition. The signal is sent under
// the partition's lock, so that it reaches its actor before Close's final
// flush request does, or is refused.
func (p *SourcePartition) Deliver(key string, offset int64, sig *tables.Signal, stored func() []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	pid, ok := p.actors[key]
	if !ok {
		pid = p.spawn(key, sig.Tenant, sig.Host, stored())
		p.actors[key] = pid
	}
	p.s.system.Root.Send(pid, &deliver{offset: offset, sig: sig})
	return true
}

// Wake implements processors.SourcePartition: a stored source gets its
// actor back, which evaluates its rules at once and arms its timers.
func (p *SourcePartition) Wake(key string, stored []byte) {
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
	pid := p.spawn(key, tenant, host, stored)
	p.actors[key] = pid
	p.s.system.Root.Send(pid, ruleTick{})
}

func (p *SourcePartition) spawn(key, tenant, host string, stored []byte) *actor.PID {
	s := p.s
	st := &tables.SourceState{Partition: p.part, Offset: -1}
	if len(stored) > 0 {
		dec, reset, err := tables.DecodeSourceState(stored, s.opts.Rules.FeatureConfig)
		switch {
		case err != nil:
			s.m.resets.Inc()
			s.opts.Logger.Error("stored source state does not decode; starting it afresh", "tenant", tenant, "host", host, "err", err)
		default:
			st = dec
			if len(reset) > 0 {
				s.m.resets.Add(float64(len(reset)))
				s.opts.Logger.Warn("series no longer decode under their configuration; they start afresh",
					"tenant", tenant, "host", host, "metrics", reset)
			}
		}
	}
	if st.Partition == p.part && st.Offset >= 0 {
		// What the table holds is durable: records up to its offset are
		// redeliveries.
		p.durable(key, st.Offset)
	}
	a := &sourceActor{s: s, part: p.part, durable: p.durable, handBack: p.handBack, key: key, tenant: tenant, host: host, st: st}
	a.feats = make(rules.SeriesFeatures, len(st.Metrics))
	for i := range st.Metrics {
		a.feats[st.Metrics[i].Name] = st.Metrics[i].Series
	}
	s.m.actors.Inc()
	return s.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
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
	for _, pid := range actors {
		s.system.Root.Send(pid, closeReq{done: func() {
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
	for _, pid := range actors {
		s.system.Root.Stop(pid)
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
