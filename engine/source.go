package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// Reasons a source refuses a sample with, besides the windows' own
// (features.ReasonTooLate, features.ReasonInvalid).
const (
	// ReasonFuture: the sample's event time is ahead of its record's
	// receive time by more than the bound (a clock running ahead).
	ReasonFuture = "future"
	// ReasonSourceLimit: the sample would add a series to a source whose
	// state is as large as it may be (Hooks.SourceFull).
	ReasonSourceLimit = "source_limit"
	// ReasonSeriesLimit: the sample would add a series to a source, or a
	// tenant, that has as many as it may (Options.MaxSeries,
	// Hooks.ReserveSeries).
	ReasonSeriesLimit = "series_limit"
)

// The live replicas' defaults (eventops run and dev).
const (
	DefaultMaxFuture        = 30 * time.Second
	DefaultMaxSeries        = 500
	DefaultSeriesStaleAfter = time.Hour
)

// Options are a source's limits and hooks; zero limits take the defaults.
type Options struct {
	// MaxFuture is how far ahead of its record's receive time a sample may
	// be; at most half its metric's lateness.
	MaxFuture time.Duration
	// MaxSeries bounds the series (metric and tags) the source keeps.
	MaxSeries int
	// MaxTenantSeries is only named in the text of a series_limit refusal:
	// the tenant's bound is kept by Hooks.ReserveSeries.
	MaxTenantSeries int
	// SeriesStaleAfter is how long a series may go without a sample, by
	// the source's event time, before it leaves the state (see dropStale).
	SeriesStaleAfter time.Duration
	// WithoutOrigins: the signals carry no origin (samples replayed from
	// storage), so none is noted and explanations list their samples
	// without one, rather than naming a raw record they never came in.
	WithoutOrigins bool
	Hooks          Hooks
}

// Hooks report what a Source does and ask what it cannot know alone. Every
// one may be nil.
type Hooks struct {
	// Transition is called with each transition, in order.
	Transition func(*rules.Transition)
	// Stepped is called after each evaluation of the rules.
	Stepped func(Step)
	// Refused is called with each sample refused, its reason and a text
	// that explains it.
	Refused func(sig *tables.Signal, sm *tables.Sample, reason, text string)
	// Applied is called with each sample folded in, Duplicate with each
	// resent one (its series had its event time already: nothing changes).
	Applied   func()
	Duplicate func()
	// SeriesLeft is called with the number of series that left the state,
	// stale (SeriesStaleAfter) or not (a legacy series without tags).
	SeriesLeft func(n int, stale bool)
	// SourceFull says whether a new series of sm is refused with
	// ReasonSourceLimit, and why (the state's encoded size); nil: never.
	SourceFull func(sm *tables.Sample) (text string, full bool)
	// ReserveSeries takes a series from the tenant's allowance, once the
	// source has room for it; false refuses the sample with
	// ReasonSeriesLimit. nil: the tenant has room.
	ReserveSeries func() bool
}

// Step is one evaluation of the rules, at source time At.
type Step struct {
	At int64
	// Next is the next deadline, when Due.
	Next int64
	Due  bool
	// Emitted is the number of transitions it emitted; Changed says that
	// the state's deadline or rule fingerprint changed with it.
	Emitted int
	Changed bool
}

// Source is one source's features and alert states, and its step.
type Source struct {
	Tenant, Host string
	State        *tables.SourceState
	Feats        rules.SourceFeatures
	opts         Options
	// applied lists the series a signal's samples were applied to (reused
	// from signal to signal).
	applied []rules.SeriesKey
	// seriesLeft: a series left the features while applying a signal; its
	// rules' states end at the evaluation that follows.
	seriesLeft bool
}

// New returns the step of the source tenant/host, resuming st.
func New(tenant, host string, st *tables.SourceState, o Options) *Source {
	s := &Source{}
	s.Init(tenant, host, st, o)
	return s
}

// Init is New in place.
func (s *Source) Init(tenant, host string, st *tables.SourceState, o Options) {
	if o.MaxFuture <= 0 {
		o.MaxFuture = DefaultMaxFuture
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.SeriesStaleAfter <= 0 {
		o.SeriesStaleAfter = DefaultSeriesStaleAfter
	}
	*s = Source{Tenant: tenant, Host: host, State: st, opts: o}
	for i := range st.Metrics {
		// A series of unknown tags (Untagged) reads as the metric's series
		// without tags until a sample takes it over.
		m := &st.Metrics[i]
		s.Feats.Set(m.Name, m.Tags.Labels(), m.Series)
	}
}

// Clock is the source's time at wall time nowMilli: its event time, moved
// on by the wall time since that event arrived while the source is silent
// (nowMilli itself for a source that never applied a sample).
func (s *Source) Clock(nowMilli int64) int64 {
	if s.State.ArrivalMilli == 0 {
		return nowMilli
	}
	return s.State.EventMilli + max(0, nowMilli-s.State.ArrivalMilli)
}

// Apply applies a signal whose record was received at receive (ms; 0:
// unknown) and arrives at wall time nowMilli. It applies at once, at its
// clock: the rules' deadlines up to it are met first, then its samples are
// folded in and the rules that read them evaluate.
func (s *Source) Apply(r *Rules, sig *tables.Signal, receive, nowMilli int64) {
	st := s.State
	if clock := s.SignalClock(r, sig, receive); clock > st.EventMilli {
		s.CatchUp(r, clock)
	}
	before := st.EventMilli
	applied := s.applied[:0]
	for i := range sig.Samples {
		if sm := &sig.Samples[i]; s.apply(r, sig, sm, receive, nowMilli) {
			applied = append(applied, rules.SeriesKey{Metric: sm.Metric, Tags: sm.Tags.Labels()})
		}
	}
	if sig.Meta != nil {
		st.Meta = sig.Meta
	}
	if s.dropStale(r, before) {
		s.seriesLeft = true
	}
	switch {
	case s.seriesLeft:
		s.seriesLeft = false
		// Series left: every rule looks at what the source still has.
		s.Evaluate(r, st.EventMilli, "")
	case len(applied) > 0:
		s.evaluateApplied(r, st.EventMilli, rules.SortSeriesKeys(applied))
	}
	clear(applied)
	s.applied = applied[:0]
}

// dropStale removes the series that took no sample while the source's
// event time moved on by SeriesStaleAfter (judged on the source's clock, so
// a series whose own clock runs behind is not stale while it reports), and
// reports whether it removed any: the rules then end their alerts (reason
// series_gone). A series a no-data rule still judges stays (see
// heldByNoData). It looks when the event time crossed a multiple of an
// eighth of SeriesStaleAfter since before, so that any owner of the source
// drops them at the same signal.
func (s *Source) dropStale(r *Rules, before int64) bool {
	st := s.State
	stale := s.opts.SeriesStaleAfter.Milliseconds()
	step := max(stale/8, 1)
	if st.EventMilli/step == before/step {
		return false
	}
	kept := st.Metrics[:0]
	dropped := 0
	for _, m := range st.Metrics {
		if m.SeenMilli < st.EventMilli-stale && !s.heldByNoData(r.set, &m) {
			s.Feats.Delete(m.Name, m.Tags.Labels())
			dropped++
			continue
		}
		kept = append(kept, m)
	}
	clear(st.Metrics[len(kept):])
	st.Metrics = kept
	if h := s.opts.Hooks.SeriesLeft; h != nil {
		h(dropped, true)
	}
	return dropped > 0
}

// heldByNoData reports whether a rule that compares the silence of m
// (seconds_since_last of its metric) still needs it: its threshold is not
// reached yet, or its alert on m is pending or firing. Dropping the series
// would end (series_gone) or never start the very alert that says its data
// is missing.
func (s *Source) heldByNoData(rs *rules.RuleSet, m *tables.MetricState) bool {
	var wait time.Duration
	var readers []rules.RuleID
	for r := range rs.Rules() {
		if !r.AppliesTo(s.Tenant) {
			continue
		}
		if w, ok := r.NoDataWait(m.Name); ok {
			wait = max(wait, w)
			readers = append(readers, r.ID())
		}
	}
	if len(readers) == 0 {
		return false
	}
	if last, _, ok := m.Series.Last(); ok && s.State.EventMilli-last <= wait.Milliseconds() {
		return true
	}
	tags := m.Tags.Labels()
	for _, e := range s.State.Alerts {
		if e.Phase != rules.Inactive && slices.Contains(readers, e.Rule) && rules.CompareLabels(e.Series, tags) == 0 {
			return true
		}
	}
	return false
}

// futureBound is how far ahead of its record's receive time (ms) a sample
// may be: MaxFuture, and at most half its metric's lateness, so that a
// sample from a clock running ahead never makes the metric's on-time
// samples late. ok is false when the sample is beyond it, or when the
// receive time is unknown (0).
func (s *Source) futureBound(r *Rules, sm *tables.Sample, receive int64) (bound int64, ok bool) {
	if receive <= 0 {
		return 0, false
	}
	var lateness time.Duration
	if ms := s.State.Series(sm.Metric, sm.Tags); ms != nil {
		lateness = ms.Series.Config().Lateness
	} else {
		lateness = r.FeatureConfig(sm.Metric).Lateness
	}
	bound = s.maxAhead(lateness).Milliseconds()
	return bound, sm.TsMicro/1000 <= receive+bound
}

// FutureBound is how far ahead of its record's receive time a sample of
// metric may be, under the metric's feature configuration in r (see
// futureBound).
func (s *Source) FutureBound(r *Rules, metric string) time.Duration {
	return s.maxAhead(r.FeatureConfig(metric).Lateness)
}

func (s *Source) maxAhead(lateness time.Duration) time.Duration {
	return min(s.opts.MaxFuture, lateness/2)
}

// apply folds one sample into its series, or refuses it with its reason
// (a resent sample, already applied, is only counted), and reports whether
// it was applied. The source's clock moves to the sample's event time,
// capped at its record's receive time.
func (s *Source) apply(r *Rules, sig *tables.Signal, sm *tables.Sample, receive, nowMilli int64) bool {
	st, h := s.State, &s.opts.Hooks
	ts := sm.TsMicro / 1000
	if bound, ok := s.futureBound(r, sm, receive); !ok && receive > 0 {
		s.refuse(r, sig, sm, ReasonFuture, fmt.Sprintf("event time is %s ahead of the record's receive time (at most %s)",
			time.Duration(ts-receive)*time.Millisecond, time.Duration(bound)*time.Millisecond))
		return false
	}
	ms, _ := st.FindSeries(sm.Metric, sm.Tags)
	legacy := false
	if ms == nil && len(sm.Tags) > 0 && st.DropUntagged(sm.Metric) {
		// The window a previous version kept for the whole metric mixes
		// its tag sets: it is dropped, and the metric's first tagged
		// series goes on with its alerts.
		s.Feats.Delete(sm.Metric, nil)
		if h.SeriesLeft != nil {
			h.SeriesLeft(1, false)
		}
		s.seriesLeft, legacy = true, true
	}
	if ms == nil {
		var refusal, text string
		if ms, refusal, text = s.addSeries(r, sm); ms == nil {
			s.refuse(r, sig, sm, refusal, text)
			return false
		}
		if legacy {
			s.adoptLegacyAlerts(r, sm.Metric, sm.Tags.Labels())
		}
	}
	if sm.Unit != "" {
		ms.Unit = sm.Unit
	}
	switch out, err := ms.Series.Add(ts, sm.Value); {
	case out == features.Duplicate:
		if h.Duplicate != nil {
			h.Duplicate()
		}
		return false
	case err != nil || out != features.Applied:
		text := ""
		if err != nil {
			text = err.Error()
		}
		s.refuse(r, sig, sm, out.Reason(), text)
		return false
	}
	if h.Applied != nil {
		h.Applied()
	}
	if !s.opts.WithoutOrigins && r.set.Reads(sm.Metric) {
		s.Feats.NoteSample(ms.Series, ts, sm.Value, rules.SampleOrigin{Topic: tables.RawTopic, Partition: sig.Origin.Partition, Offset: sig.Origin.Offset})
	}
	if receive > 0 {
		ts = min(ts, receive)
	}
	if ts > st.EventMilli {
		st.EventMilli, st.ArrivalMilli = ts, nowMilli
	}
	ms.SeenMilli = st.EventMilli
	return true
}

// adoptLegacyAlerts gives the alert states a previous version kept for the
// whole of metric (without tags) to its series with tags, keeping their
// episodes: an alert that was firing goes on firing rather than resolving
// and firing again as a new episode.
func (s *Source) adoptLegacyAlerts(r *Rules, metric string, tags []rules.Label) {
	s.State.Alerts.AdoptUntagged(tags, func(id rules.RuleID) bool {
		rule := r.set.Rule(id)
		return rule != nil && rule.EvaluatedFor(metric, tags)
	})
}

// addSeries adds the state of a sample's series when the source and its
// tenant have room for it, or returns nil, the reason it has not and a
// text: source_limit (Hooks.SourceFull) or series_limit (MaxSeries,
// Hooks.ReserveSeries).
func (s *Source) addSeries(r *Rules, sm *tables.Sample) (*tables.MetricState, string, string) {
	st, h := s.State, &s.opts.Hooks
	if h.SourceFull != nil {
		if text, full := h.SourceFull(sm); full {
			return nil, ReasonSourceLimit, text
		}
	}
	if len(st.Metrics) >= s.opts.MaxSeries || h.ReserveSeries != nil && !h.ReserveSeries() {
		return nil, ReasonSeriesLimit, fmt.Sprintf("the source has %d series (at most %d), its tenant at most %d: "+
			"the new series %s is stored but has no features", len(st.Metrics), s.opts.MaxSeries, s.opts.MaxTenantSeries,
			tables.SeriesName(sm.Metric, sm.Tags))
	}
	ms := st.AddMetric(tables.MetricState{Name: sm.Metric, Tags: sm.Tags, Unit: sm.Unit,
		Series: features.NewSeries(r.FeatureConfig(sm.Metric))})
	s.Feats.Set(sm.Metric, sm.Tags.Labels(), ms.Series)
	return ms, "", ""
}

// refuse reports a refused sample with its reason and a text saying why.
func (s *Source) refuse(r *Rules, sig *tables.Signal, sm *tables.Sample, reason, text string) {
	h := s.opts.Hooks.Refused
	if h == nil {
		return
	}
	if text == "" {
		text = reason
	}
	if reason == features.ReasonTooLate {
		newest := ""
		if ms := s.State.Series(sm.Metric, sm.Tags); ms != nil {
			if ts, _, ok := ms.Series.Last(); ok {
				newest = time.UnixMilli(ts).UTC().Format(time.RFC3339Nano)
			}
		}
		text += ": newest event time of the series is " + newest + ", lateness bound " +
			r.FeatureConfig(sm.Metric).Lateness.String()
	}
	h(sig, sm, reason, text)
}

// CatchUp evaluates the rules at each of their deadlines up to the source
// time until (timers: for elapsing, keep_firing_for ending, no-data), each
// transition stamped with its deadline, so that the next owner after a
// crash derives the same ones. A signal catches up to its own clock before
// its samples apply.
func (s *Source) CatchUp(r *Rules, until int64) {
	s.step(r, until, func(rs *rules.RuleSet, src rules.Source, emit func(*rules.Transition)) (int64, bool) {
		return rs.AdvanceUntil(&s.State.Lifecycle, src, &s.Feats, until, emit)
	})
}

// Evaluate runs the rules that read metric ("" for all) at source time at,
// as after a signal applied its samples, or after series left the state.
func (s *Source) Evaluate(r *Rules, at int64, metric string) {
	s.step(r, at, func(rs *rules.RuleSet, src rules.Source, emit func(*rules.Transition)) (int64, bool) {
		return rs.AdvanceAt(&s.State.Lifecycle, src, &s.Feats, at, metric, emit)
	})
}

// evaluateApplied runs the rules that read the series in applied, for
// those series only, at source time at, after a signal applied samples to
// them.
func (s *Source) evaluateApplied(r *Rules, at int64, applied []rules.SeriesKey) {
	s.step(r, at, func(rs *rules.RuleSet, src rules.Source, emit func(*rules.Transition)) (int64, bool) {
		return rs.AdvanceApplied(&s.State.Lifecycle, src, &s.Feats, at, applied, emit)
	})
}

// step runs one step of the rule engine at source time at, reports the
// transitions it emits, and keeps the next deadline and the rules'
// fingerprint in the state.
func (s *Source) step(r *Rules, at int64, fn func(*rules.RuleSet, rules.Source, func(*rules.Transition)) (int64, bool)) {
	st, h := s.State, &s.opts.Hooks
	src := rules.Source{Tenant: s.Tenant, Host: s.Host}
	if st.Meta != nil {
		src.Meta = rules.Meta{Owner: st.Meta.Owner, Region: st.Meta.Region, Service: st.Meta.Service, Tags: st.Meta.Tags}
	}
	emitted := 0
	next, ok := fn(r.set, src, func(tr *rules.Transition) {
		emitted++
		if h.Transition != nil {
			h.Transition(tr)
		}
	})
	deadline := int64(0)
	if ok {
		deadline = next
	}
	changed := false
	if fp := r.set.Fingerprint(); deadline != st.NextDeadline || fp != st.Rules {
		st.NextDeadline, st.Rules = deadline, fp
		changed = true
	}
	if h.Stepped != nil {
		h.Stepped(Step{At: at, Next: next, Due: ok, Emitted: emitted, Changed: changed})
	}
}
