package actors

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// History is where a warm start reads a source's recent samples:
// *store.Store. ScanSignals calls fn with a source's signals in the order
// they arrived (see store.Store.ScanSignals).
type History interface {
	ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error
}

// WarmStart fills the windows of sources that start empty while PostgreSQL
// holds their recent history (see warmUp). A nil History leaves it off.
type WarmStart struct {
	History History
	// MaxSamples bounds the samples one warm-up reads (default 100,000):
	// a source with more history in its longest window starts cold.
	MaxSamples int
	// Timeout bounds one warm-up, its wait for a slot included (default
	// 10s): a source whose warm-up takes longer starts cold.
	Timeout time.Duration
	// MaxInFlight bounds the warm-ups that read at once across the replica
	// (default 4), so that a rebalance onto a fresh replica does not open
	// a query per source.
	MaxInFlight int
}

// Outcomes of a warm-up (eventops_warm_starts_total{outcome}).
const (
	// WarmWarmed: samples were folded into the windows.
	WarmWarmed = "warmed"
	// WarmEmpty: the history held nothing for the source's windows.
	WarmEmpty = "empty"
	// WarmLimit: the history held more than MaxSamples; cold start.
	WarmLimit = "limit"
	// WarmTimeout: the warm-up took longer than Timeout; cold start.
	WarmTimeout = "timeout"
	// WarmFailed: the history could not be read; cold start.
	WarmFailed = "error"
	// WarmCanceled: the source's partition closed during the warm-up;
	// the signals it held apply cold.
	WarmCanceled = "canceled"
)

var errWarmLimit = errors.New("warm start: more samples than warm_start_max_samples")

// warmer is the replica's share of warm starts: the history, the slots
// bounding the warm-ups in flight, and their counters.
type warmer struct {
	opts     WarmStart
	slots    chan struct{}
	outcomes *prometheus.CounterVec
	samples  prometheus.Counter
}

func newWarmer(o WarmStart, reg prometheus.Registerer) *warmer {
	if o.MaxSamples <= 0 {
		o.MaxSamples = 100_000
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4
	}
	w := &warmer{opts: o, slots: make(chan struct{}, o.MaxInFlight),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventops_warm_starts_total",
			Help: "Warm starts of source windows from PostgreSQL, by outcome (warmed, empty, limit, timeout, error, canceled): all but warmed and empty start cold."},
			[]string{"outcome"}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_warm_start_samples_total",
			Help: "Stored samples folded into source windows by warm starts."}),
	}
	for _, o := range []string{WarmWarmed, WarmEmpty, WarmLimit, WarmTimeout, WarmFailed, WarmCanceled} {
		w.outcomes.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(w.outcomes, w.samples)
	}
	return w
}

// read reads the history q selects, once a slot is free, keeping the
// samples of metrics only (nil: every one). ctx bounds the wait and the
// read.
func (w *warmer) read(ctx context.Context, q store.SignalScan, metrics []string) ([]*tables.Signal, error) {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-w.slots }()
	var sigs []*tables.Signal
	n := 0
	err := w.opts.History.ScanSignals(ctx, q, func(sig *tables.Signal) error {
		if sig.Tenant != q.Tenant || sig.Host != q.Host {
			return nil // never another source's samples
		}
		if metrics != nil {
			keep := &tables.Signal{Tenant: sig.Tenant, Host: sig.Host}
			for _, sm := range sig.Samples {
				if _, ok := slices.BinarySearch(metrics, sm.Metric); ok {
					keep.Samples = append(keep.Samples, sm)
				}
			}
			if len(keep.Samples) == 0 {
				return nil
			}
			sig = keep
		}
		if n += len(sig.Samples); n > w.opts.MaxSamples {
			return errWarmLimit
		}
		sigs = append(sigs, sig)
		return nil
	})
	return sigs, err
}

// warmUp is a source actor's warm start, to come or under way.
//
// A source new to the replica (no stored state) is warmed at its first
// signal, over [t - span, t) where t is that signal's earliest event time:
// every series its history has there, admitted as live ones are. Series
// whose stored windows were reset because their metric's feature
// configuration changed (a reload, or a restart with another rule file)
// are warmed when the actor starts, over the span up to the source's event
// time; no other series is touched. span is a metric's longest window.
//
// While it runs, the actor holds its signals (applied afterwards, in
// order: their offsets stay unacknowledged meanwhile), its rule timers and
// its flushes; a warm-up that fails or ends with the partition applies
// them cold. Only features are warmed: the rules do not evaluate the
// history, so no transition comes of it.
type warmUp struct {
	// first: warm at the first signal (a source new to the replica).
	first bool
	// metrics are the reset metrics to warm at start, sorted.
	metrics []string
	running bool
	seq     int
	// to is where the history ends; clock is the first signal's clock,
	// where the source's starts once warm (engine.Source.StartClock).
	to, clock int64
	// ahead: the history of a metric ends its future bound past to (see
	// warmOnStart).
	ahead  bool
	cancel context.CancelFunc
	held   []*deliver
	tick   bool
}

// warmRead is a warm-up's history, read.
type warmRead struct {
	seq  int
	sigs []*tables.Signal
	err  error
}

// holdForWarm holds m while a warm-up runs, or starts the warm-up of a
// new source with it, and reports whether it did.
func (a *sourceActor) holdForWarm(m *deliver) bool {
	a.followConfig()
	switch {
	case a.warm.running:
	case a.warm.first && !a.stopped && len(m.sig.Samples) > 0:
		a.warm.first = false
		// The history ends where the signal begins: its earliest event
		// time, capped at its receive time (a clock running ahead does not
		// move the source's).
		to := m.sig.Samples[0].TsMicro
		for _, sm := range m.sig.Samples[1:] {
			to = min(to, sm.TsMicro)
		}
		if m.sig.IngestMicro > 0 {
			to = min(to, m.sig.IngestMicro)
		}
		a.startWarm(to/1000, nil, false)
		a.warm.clock = a.eng.SignalClock(a.s.opts.Rules.view(), m.sig, m.sig.IngestMicro/1000)
	default:
		return false
	}
	a.warm.held = append(a.warm.held, m)
	return true
}

// startWarm reads, away from the actor, the history of the source before
// source time to (ms), for metrics (nil: every one); ahead: a metric's up
// to its future bound past to.
func (a *sourceActor) startWarm(to int64, metrics []string, ahead bool) {
	w, r := a.s.warm, a.s.opts.Rules.view()
	span := r.WarmSpan("")
	var past int64
	for _, m := range metrics {
		span = max(span, r.WarmSpan(m))
		if ahead {
			past = max(past, a.eng.FutureBound(r, m).Milliseconds())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	a.warm.seq++
	a.warm.running, a.warm.to, a.warm.ahead, a.warm.cancel = true, to, ahead, cancel
	q := store.SignalScan{Tenant: a.tenant, Host: a.host, From: time.UnixMilli(to - span.Milliseconds()), To: time.UnixMilli(to + past)}
	seq, self, root := a.warm.seq, a.self, a.s.system.Root
	go func() {
		defer cancel()
		sigs, err := w.read(ctx, q, metrics)
		if err == nil {
			err = ctx.Err()
		}
		root.Send(self, warmRead{seq: seq, sigs: sigs, err: err})
	}()
}

// warmed folds a warm-up's history into the windows, or starts cold, then
// applies what the warm-up held.
func (a *sourceActor) warmed(m warmRead) {
	if !a.warm.running || m.seq != a.warm.seq {
		return // abandoned
	}
	r := a.s.opts.Rules.view()
	n := 0
	if m.err == nil {
		type bounds struct{ from, to int64 }
		spans := map[string]bounds{}
		keep := func(sm *tables.Sample) bool {
			b, ok := spans[sm.Metric]
			if !ok {
				b.to = a.warm.to
				if a.warm.ahead {
					b.to += a.eng.FutureBound(r, sm.Metric).Milliseconds()
				}
				b.from = b.to - r.WarmSpan(sm.Metric).Milliseconds()
				spans[sm.Metric] = b
			}
			ts := sm.TsMicro / 1000
			return ts >= b.from && ts < b.to
		}
		admit := a.warm.metrics == nil
		if admit {
			keep = a.liveInHistory(m.sigs, keep)
		}
		for _, sig := range m.sigs {
			n += a.eng.Warm(r, sig, admit, keep)
		}
		a.s.warm.samples.Add(float64(n))
		if admit && n > 0 {
			a.eng.StartClock(a.warm.clock, a.nowMilli())
		}
	}
	outcome := WarmWarmed
	switch {
	case errors.Is(m.err, errWarmLimit):
		outcome = WarmLimit
	case errors.Is(m.err, context.DeadlineExceeded):
		outcome = WarmTimeout
	case m.err != nil:
		outcome = WarmFailed
	case n == 0:
		outcome = WarmEmpty
	}
	if m.err != nil {
		a.s.opts.Logger.Warn("warm start failed; the source starts with empty windows", "tenant", a.tenant, "host", a.host,
			"outcome", outcome, "err", m.err)
	} else {
		a.s.opts.Logger.Debug("warm start", "tenant", a.tenant, "host", a.host, "samples", n, "metrics", a.warm.metrics)
	}
	a.endWarm(outcome, n > 0)
}

// liveInHistory narrows keep, for a source new to the replica, to the
// series the history shows alive at its first signal: with a sample kept
// within SeriesStaleAfter of that signal's clock. A source that ran
// through the history would have dropped the others as stale by then
// (engine.Source.dropStale); admitted, they would take the source's series
// budget from its live series until they are dropped.
func (a *sourceActor) liveInHistory(sigs []*tables.Signal, keep func(*tables.Sample) bool) func(*tables.Sample) bool {
	since := a.warm.clock - a.s.opts.SeriesStaleAfter.Milliseconds()
	alive := map[string]bool{}
	for _, sig := range sigs {
		for i := range sig.Samples {
			if sm := &sig.Samples[i]; sm.TsMicro/1000 >= since && keep(sm) {
				alive[tables.SeriesName(sm.Metric, sm.Tags)] = true
			}
		}
	}
	return func(sm *tables.Sample) bool {
		return keep(sm) && alive[tables.SeriesName(sm.Metric, sm.Tags)]
	}
}

// endWarm ends the warm-up under way with outcome (changed: it folded
// samples in), then applies the signals and the rule timer it held.
func (a *sourceActor) endWarm(outcome string, changed bool) {
	if !a.warm.running {
		return
	}
	a.s.warm.outcomes.WithLabelValues(outcome).Inc()
	a.warm.cancel()
	held, tick := a.warm.held, a.warm.tick
	a.warm = warmUp{seq: a.warm.seq}
	if changed {
		a.markDirty()
	}
	for _, m := range held {
		a.deliver(m)
	}
	if tick {
		a.catchUp(a.clock())
	}
	if a.dirty {
		// A flush put off while the warm-up ran.
		a.markDirty()
	}
}

// warmOnStart starts the warm-up of the series whose windows were reset
// when the state was decoded. A metric's history ends after the newest
// sample the source may have applied: its event time is capped at receive
// times, and a sample may be ahead of its receive time by its future
// bound. A stored sample there that the source has yet to apply (its
// signal is read again or held) is within the lateness of the series'
// newest, so a resend to it, not applied twice.
func (a *sourceActor) warmOnStart() {
	if len(a.warm.metrics) == 0 || a.st.EventMilli <= 0 {
		a.warm.metrics = nil
		return
	}
	a.startWarm(a.st.EventMilli+1, a.warm.metrics, true)
}

// planWarm says what the actor of a source warms, given how its stored
// state decoded: fresh is a source without one (new to the replica, or a
// state that does not decode), reset the metrics whose windows were reset.
// A woken actor (no signal) warms only reset series.
func (s *Sources) planWarm(fresh, woken bool, reset []string) warmUp {
	if s.warm == nil {
		return warmUp{}
	}
	if fresh {
		return warmUp{first: !woken}
	}
	if len(reset) == 0 {
		return warmUp{}
	}
	return warmUp{metrics: slices.Sorted(slices.Values(reset))}
}

// followConfig brings the series to the feature configurations of the
// rules in force after a reload (engine.Source.Reconfigure): series whose
// windows no longer fit start afresh, as they would when the source's
// state is next read from the table, and are warmed when warm start is
// on. A warm-up under way reads for the configurations it started with;
// the series follow at the next signal or timer after it.
func (a *sourceActor) followConfig() {
	r := a.s.opts.Rules.view()
	if r == a.configured || a.warm.running || a.stopped {
		return
	}
	a.configured = r
	reset := a.eng.Reconfigure(r)
	if len(reset) == 0 {
		return
	}
	a.s.m.resets.Add(float64(len(reset)))
	a.s.opts.Logger.Warn("series no longer fit their metric's configuration; they start afresh",
		"tenant", a.tenant, "host", a.host, "metrics", reset)
	a.markDirty()
	if a.s.warm != nil {
		a.warm.metrics = slices.Sorted(slices.Values(reset))
		a.warmOnStart()
	}
}
