package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// Reasons a source actor refuses a sample with, besides the windows' own
// (features.ReasonTooLate, features.ReasonInvalid).
const (
	// ReasonFuture: the sample's event time is ahead of its record's
	// receive time by more than the bound (a clock running ahead).
	ReasonFuture = "future"
	// ReasonSourceLimit: the sample would add a series to a source whose
	// state is as large as it may be (MaxStateBytes).
	ReasonSourceLimit = "source_limit"
	// ReasonSeriesLimit: the sample would add a series to a source, or a
	// tenant, that has as many as it may (MaxSeries, MaxTenantSeries).
	ReasonSeriesLimit = "series_limit"
)

// Messages of a source actor.
type (
	// deliver is a signal read at offset of the signals partition; milli
	// is that record's timestamp.
	deliver struct {
		offset int64
		milli  int64
		sig    *tables.Signal
	}
	// emitted: a record the actor wrote (alert, refused sample) was
	// answered; a failed one is written again.
	emitted struct {
		rec *kgo.Record
		err error
	}
	// reemit writes a failed record again.
	reemit struct{ rec *kgo.Record }
	// flushed: the state write covering offset was answered.
	flushed struct {
		offset int64
		value  []byte
		err    error
	}
	flushTick struct{}
	ruleTick  struct{}
	idleTick  struct{}
	// closeReq asks for a final flush; done is called once it is durable.
	closeReq struct{ done func() }
)

// sourceActor owns one source's features and alert states. It writes them
// to the table every FlushInterval (sooner after an alert transition) and
// tells the stage, through durable, which input offsets that covers.
//
// The source's clock is its newest event time (each capped at its record's
// receive time, so that a clock running ahead cannot move it), moved on by
// the wall time since that event arrived while the source is silent: rules
// evaluate on event time while data flows, and timers (for,
// keep_firing_for, no-data) still elapse when it stops.
type sourceActor struct {
	s      *Sources
	p      *SourcePartition
	key    string
	tenant string
	host   string

	st    *tables.SourceState
	feats rules.SourceFeatures
	// applied lists the series a signal's samples were applied to (reused
	// from signal to signal).
	applied []rules.SeriesKey
	// seriesLeft: a series left the features while applying a signal; its
	// rules' states end at the evaluation that follows.
	seriesLeft bool
	// ingestMicro is when the record that triggered the evaluation in
	// progress reached the broker (0 for timers), carried on alerts so
	// that the latency from event to alert can be measured.
	ingestMicro int64
	self        *actor.PID

	dirty      bool
	flushTimer *time.Timer
	ruleTimer  *time.Timer
	ruleAt     int64 // wall ms the rule timer is armed for
	// inflight counts written records not yet answered; a flush waits for
	// them so the table never holds a transition whose record was lost. A
	// record that fails is written again until it is accepted.
	inflight   int
	retry      time.Duration
	flushing   bool
	flushAgain bool
	urgent     bool
	closers    []func()
	stopped    bool

	// lastSize is the encoded size of the last flush; shed are the metrics
	// dropped to keep the state under MaxStateBytes (their samples are
	// refused until the actor restarts).
	lastSize int
	shed     map[string]bool
	// lastWork is the wall time of the last signal (zero for an actor
	// woken without one); idleTimer checks when the actor may leave memory.
	lastWork  time.Time
	idleTimer *time.Timer
	woken     bool
}

func (a *sourceActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.self = c.Self()
		if !a.woken {
			a.lastWork = a.s.opts.Now()
		}
		a.armIdle(a.idleCheck())
	case *deliver:
		a.p.took(a.key)
		a.deliver(m)
	case emitted:
		a.wrote(m)
	case reemit:
		a.produce(m.rec)
	case flushTick:
		a.flushTimer = nil
		a.flush()
	case flushed:
		a.settleFlush(m)
	case ruleTick:
		a.ruleTimer = nil
		a.catchUp(a.clock())
	case idleTick:
		a.idleTimer = nil
		a.maybeLeave(c)
	case closeReq:
		a.closers = append(a.closers, m.done)
		a.stopped = true
		a.stopTimers()
		a.flush()
		a.answerClosers()
	case *actor.Stopping:
		a.stopTimers()
		a.s.countSeries(a.tenant, -len(a.st.Metrics))
	}
}

func (a *sourceActor) nowMilli() int64 { return a.s.opts.Now().UnixMilli() }

// clock is the source's time: event time, moved on by wall time while the
// source is silent.
func (a *sourceActor) clock() int64 {
	if a.st.ArrivalMilli == 0 {
		return a.nowMilli()
	}
	return a.st.EventMilli + max(0, a.nowMilli()-a.st.ArrivalMilli)
}

func (a *sourceActor) deliver(m *deliver) {
	if a.st.Redelivered(a.p.part, m.offset, m.milli) {
		// Read again after a restart: already in the durable state.
		a.s.m.redelivered.Inc()
		a.p.durable(a.key, m.offset)
		return
	}
	if a.stopped {
		// After the final flush nothing is applied: the partition's next
		// owner reads the signal again.
		a.p.hooks.HandBack(m.offset)
		return
	}
	a.lastWork = a.s.opts.Now()
	sig := m.sig
	if a.st.SeenOrigin(sig.Origin, sig.IngestMicro) {
		// Written again by the ingest stage after a crash: applied already.
		a.s.m.redelivered.Inc()
		a.advanceOffset(m)
		a.markDirty()
		return
	}
	a.ingestMicro = sig.IngestMicro
	defer func() { a.ingestMicro = 0 }()
	// A signal applies at once, at its clock: the rules' deadlines up to it
	// are met first, then its samples are folded in and the rules that read
	// them evaluate.
	receive := sig.IngestMicro / 1000
	clock := a.st.EventMilli
	for i := range sig.Samples {
		sm := &sig.Samples[i]
		switch _, ok := a.futureBound(sm, receive); {
		case receive <= 0:
			clock = max(clock, sm.TsMicro/1000)
		case ok:
			clock = max(clock, min(sm.TsMicro/1000, receive))
		}
	}
	if clock > a.st.EventMilli {
		a.catchUp(clock)
	}
	before := a.st.EventMilli
	applied := a.applied[:0]
	for i := range sig.Samples {
		if sm := &sig.Samples[i]; a.apply(sig, sm, receive) {
			applied = append(applied, rules.SeriesKey{Metric: sm.Metric, Tags: sm.Tags.Labels()})
		}
	}
	a.advanceOffset(m)
	a.st.MarkOrigin(sig.Origin, sig.IngestMicro)
	if sig.Meta != nil {
		a.st.Meta = sig.Meta
	}
	a.markDirty()
	if a.dropStale(before) {
		a.seriesLeft = true
	}
	switch {
	case a.seriesLeft:
		a.seriesLeft = false
		// Series left: every rule looks at what the source still has.
		a.evaluate(a.st.EventMilli, "")
	case len(applied) > 0:
		a.evaluateApplied(a.st.EventMilli, rules.SortSeriesKeys(applied))
	}
	clear(applied)
	a.applied = applied[:0]
}

// dropStale removes the series that took no sample while the source's
// event time moved on by SeriesStaleAfter (judged on the source's clock, so
// a series whose own clock runs behind is not stale while it reports), and
// reports whether it removed any: the rules then end their alerts (reason
// series_gone). A series a no-data rule still judges stays (see
// heldByNoData). It looks when the event time crossed a multiple of an
// eighth of SeriesStaleAfter since before, so that any owner of the source
// drops them at the same signal.
func (a *sourceActor) dropStale(before int64) bool {
	stale := a.s.opts.SeriesStaleAfter.Milliseconds()
	step := max(stale/8, 1)
	if a.st.EventMilli/step == before/step {
		return false
	}
	rs := a.s.opts.Rules.Current()
	kept := a.st.Metrics[:0]
	dropped := 0
	for _, m := range a.st.Metrics {
		if m.SeenMilli < a.st.EventMilli-stale && !a.heldByNoData(rs, &m) {
			a.feats.Delete(m.Name, m.Tags.Labels())
			dropped++
			continue
		}
		kept = append(kept, m)
	}
	clear(a.st.Metrics[len(kept):])
	a.st.Metrics = kept
	a.s.countSeries(a.tenant, -dropped)
	a.s.m.stale.Add(float64(dropped))
	return dropped > 0
}

// heldByNoData reports whether a rule that compares the silence of m
// (seconds_since_last of its metric) still needs it: its threshold is not
// reached yet, or its alert on m is pending or firing. Dropping the series
// would end (series_gone) or never start the very alert that says its data
// is missing.
func (a *sourceActor) heldByNoData(rs *rules.RuleSet, m *tables.MetricState) bool {
	var wait time.Duration
	var readers []rules.RuleID
	for r := range rs.Rules() {
		if !r.AppliesTo(a.tenant) {
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
	if last, _, ok := m.Series.Last(); ok && a.st.EventMilli-last <= wait.Milliseconds() {
		return true
	}
	tags := m.Tags.Labels()
	for _, e := range a.st.Alerts {
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
func (a *sourceActor) futureBound(sm *tables.Sample, receive int64) (bound int64, ok bool) {
	if receive <= 0 {
		return 0, false
	}
	var lateness time.Duration
	if ms := a.st.Series(sm.Metric, sm.Tags); ms != nil {
		lateness = ms.Series.Config().Lateness
	} else {
		lateness = a.s.opts.Rules.FeatureConfig(sm.Metric).Lateness
	}
	bound = min(a.s.opts.MaxFuture, lateness/2).Milliseconds()
	return bound, sm.TsMicro/1000 <= receive+bound
}

// apply folds one sample into its series, or refuses it with its reason
// (a resent sample, already applied, is only counted), and reports whether
// it was applied. The source's clock moves to the sample's event time,
// capped at its record's receive time.
func (a *sourceActor) apply(sig *tables.Signal, sm *tables.Sample, receive int64) bool {
	ts := sm.TsMicro / 1000
	if bound, ok := a.futureBound(sm, receive); !ok && receive > 0 {
		a.side(sig, sm, ReasonFuture, fmt.Sprintf("event time is %s ahead of the record's receive time (at most %s)",
			time.Duration(ts-receive)*time.Millisecond, time.Duration(bound)*time.Millisecond))
		return false
	}
	ms, _ := a.st.FindSeries(sm.Metric, sm.Tags)
	legacy := false
	if ms == nil && len(sm.Tags) > 0 && a.st.DropUntagged(sm.Metric) {
		// The window a previous version kept for the whole metric mixes
		// its tag sets: it is dropped, and the metric's first tagged
		// series goes on with its alerts.
		a.feats.Delete(sm.Metric, nil)
		a.s.countSeries(a.tenant, -1)
		a.seriesLeft, legacy = true, true
	}
	if ms == nil {
		var refusal string
		if ms, refusal = a.addSeries(sm); ms == nil {
			if refusal == ReasonSeriesLimit {
				a.s.m.limited.WithLabelValues(a.tenant).Inc()
			}
			a.side(sig, sm, refusal, "")
			return false
		}
		if legacy {
			a.adoptLegacyAlerts(sm.Metric, sm.Tags.Labels())
		}
	}
	if sm.Unit != "" {
		ms.Unit = sm.Unit
	}
	switch out, err := ms.Series.Add(ts, sm.Value); {
	case out == features.Duplicate:
		a.s.m.duplicates.Inc()
		return false
	case err != nil || out != features.Applied:
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		a.side(sig, sm, out.Reason(), errText)
		return false
	}
	a.s.m.samples.Inc()
	if a.s.opts.Rules.Current().Reads(sm.Metric) {
		a.feats.NoteSample(ms.Series, ts, sm.Value, rules.SampleOrigin{Topic: tables.RawTopic, Partition: sig.Origin.Partition, Offset: sig.Origin.Offset})
	}
	if receive > 0 {
		ts = min(ts, receive)
	}
	if ts > a.st.EventMilli {
		a.st.EventMilli, a.st.ArrivalMilli = ts, a.nowMilli()
	}
	ms.SeenMilli = a.st.EventMilli
	return true
}

// adoptLegacyAlerts gives the alert states a previous version kept for the
// whole of metric (without tags) to its series with tags, keeping their
// episodes: an alert that was firing goes on firing rather than resolving
// and firing again as a new episode.
func (a *sourceActor) adoptLegacyAlerts(metric string, tags []rules.Label) {
	rs := a.s.opts.Rules.Current()
	a.st.Alerts.AdoptUntagged(tags, func(id rules.RuleID) bool {
		r := rs.Rule(id)
		return r != nil && r.EvaluatedFor(metric, tags)
	})
}

func (a *sourceActor) advanceOffset(m *deliver) {
	a.st.Partition, a.st.Offset, a.st.OffsetMilli = a.p.part, m.offset, m.milli
}

// addSeries adds the state of a sample's series when the source and its
// tenant have room for it, or returns nil and the reason it has not:
// series_limit (MaxSeries, MaxTenantSeries) or source_limit
// (MaxStateBytes, or a series shed to stay under it).
func (a *sourceActor) addSeries(sm *tables.Sample) (*tables.MetricState, string) {
	o := a.s.opts
	switch {
	case len(a.shed) > 0 && a.shed[tables.SeriesName(sm.Metric, sm.Tags)] || a.lastSize >= o.MaxStateBytes*9/10:
		return nil, ReasonSourceLimit
	case len(a.st.Metrics) >= o.MaxSeries || !a.s.reserveSeries(a.tenant):
		return nil, ReasonSeriesLimit
	}
	ms := a.st.AddMetric(tables.MetricState{Name: sm.Metric, Tags: sm.Tags, Unit: sm.Unit,
		Series: features.NewSeries(o.Rules.FeatureConfig(sm.Metric))})
	a.feats.Set(sm.Metric, sm.Tags.Labels(), ms.Series)
	return ms, ""
}

// side sends a sample the source refused to the DLQ with its reason.
func (a *sourceActor) side(sig *tables.Signal, sm *tables.Sample, reason, errText string) {
	a.s.m.refused.WithLabelValues(reason).Inc()
	v, _ := json.Marshal(map[string]any{
		"tenant_id": sig.Tenant, "host": sig.Host, "metric": sm.Metric, "value": sm.Value, "unit": sm.Unit,
		"ts_event": time.UnixMicro(sm.TsMicro).UTC().Format(time.RFC3339Nano), "tags": sm.Tags.Map(),
	})
	if errText == "" {
		errText = reason
	}
	switch reason {
	case features.ReasonTooLate:
		newest := ""
		if ms := a.st.Series(sm.Metric, sm.Tags); ms != nil {
			if ts, _, ok := ms.Series.Last(); ok {
				newest = time.UnixMilli(ts).UTC().Format(time.RFC3339Nano)
			}
		}
		errText += ": newest event time of the series is " + newest + ", lateness bound " +
			a.s.opts.Rules.FeatureConfig(sm.Metric).Lateness.String()
	case ReasonSourceLimit:
		errText = fmt.Sprintf("the source's state is %d bytes (at most %d): "+
			"the series %s is stored but has no features", a.lastSize, a.s.opts.MaxStateBytes, tables.SeriesName(sm.Metric, sm.Tags))
	case ReasonSeriesLimit:
		errText = fmt.Sprintf("the source has %d series (at most %d), its tenant at most %d: "+
			"the new series %s is stored but has no features", len(a.st.Metrics), a.s.opts.MaxSeries, a.s.opts.MaxTenantSeries,
			tables.SeriesName(sm.Metric, sm.Tags))
	}
	a.emit(kgotables.DLQRecord(tables.Reject(tables.StageFeatures, reason, errText, sig.RawInput(), v)))
}

func (a *sourceActor) emit(rec *kgo.Record) {
	a.inflight++
	a.produce(rec)
}

func (a *sourceActor) produce(rec *kgo.Record) {
	self, root := a.self, a.s.system.Root
	a.s.opts.AlertProducer.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
		root.Send(self, emitted{rec: r, err: err})
	})
}

// wrote settles a written record. A record the broker refused is written
// again with backoff: until it is accepted the state is not flushed, so
// its input stays unacknowledged and a restart derives it again.
func (a *sourceActor) wrote(m emitted) {
	if m.err != nil {
		a.s.m.writeErrors.Inc()
		a.retry = min(max(2*a.retry, 100*time.Millisecond), 5*time.Second)
		a.s.opts.Logger.Warn("an alert or refused-sample record could not be written; retrying",
			"tenant", a.tenant, "host", a.host, "topic", m.rec.Topic, "err", m.err, "backoff", a.retry)
		self, root, rec := a.self, a.s.system.Root, m.rec
		time.AfterFunc(a.retry, func() { root.Send(self, reemit{rec: rec}) })
		return
	}
	a.retry = 0
	a.inflight--
	a.maybeFlush()
}

// catchUp evaluates the rules at each of their deadlines up to the source
// time until (timers: for elapsing, keep_firing_for ending, no-data), each
// transition stamped with its deadline, so that the next owner after a
// crash derives the same ones. A signal catches up to its own clock before
// its samples apply.
func (a *sourceActor) catchUp(until int64) {
	a.advance(until, func(rs *rules.RuleSet, src rules.Source, emit func(*rules.Transition)) (int64, bool) {
		return rs.AdvanceUntil(&a.st.Lifecycle, src, &a.feats, until, emit)
	})
}

// evaluate runs the rules that read metric ("" for all) at source time at,
// after a signal applied its samples.
func (a *sourceActor) evaluate(at int64, metric string) {
	a.advance(at, func(rs *rules.RuleSet, src rules.Source, emit func(*rules.Transition)) (int64, bool) {
		return rs.AdvanceAt(&a.st.Lifecycle, src, &a.feats, at, metric, emit)
	})
}

// evaluateApplied runs the rules that read the series in applied, for
// those series only, at source time at, after a signal applied samples to
// them.
func (a *sourceActor) evaluateApplied(at int64, applied []rules.SeriesKey) {
	a.advance(at, func(rs *rules.RuleSet, src rules.Source, emit func(*rules.Transition)) (int64, bool) {
		return rs.AdvanceApplied(&a.st.Lifecycle, src, &a.feats, at, applied, emit)
	})
}

// advance runs one step of the rule engine at source time now, writes the
// transitions it emits, and arms the timer for the next deadline.
func (a *sourceActor) advance(now int64, step func(*rules.RuleSet, rules.Source, func(*rules.Transition)) (int64, bool)) {
	src := rules.Source{Tenant: a.tenant, Host: a.host}
	if a.st.Meta != nil {
		src.Meta = rules.Meta{Owner: a.st.Meta.Owner, Region: a.st.Meta.Region, Service: a.st.Meta.Service, Tags: a.st.Meta.Tags}
	}
	changed := false
	rs := a.s.opts.Rules.Current()
	next, ok := step(rs, src, func(tr *rules.Transition) {
		changed = true
		a.s.m.transitions.WithLabelValues(tr.State).Inc()
		v, err := tables.EncodeAlert(tr)
		if err != nil {
			a.s.opts.Logger.Error("alert transition does not encode", "rule", tr.AlertName, "err", err)
			return
		}
		a.emit(&kgo.Record{Topic: tables.AlertsTopic, Key: []byte(a.key), Value: v,
			Headers: []kgo.RecordHeader{{Key: "eventops-ingest-micro", Value: []byte(strconv.FormatInt(a.ingestMicro, 10))}}})
	})
	deadline := int64(0)
	if ok {
		deadline = next
	}
	if fp := rs.Fingerprint(); deadline != a.st.NextDeadline || fp != a.st.Rules {
		a.st.NextDeadline, a.st.Rules = deadline, fp
		a.markDirty()
	}
	if changed {
		// A lifecycle step is made durable as soon as its record is.
		a.urgent = true
		a.markDirty()
	}
	a.armRules(next, ok, now)
}

func (a *sourceActor) armRules(next int64, ok bool, now int64) {
	if !ok || a.stopped {
		if a.ruleTimer != nil {
			a.ruleTimer.Stop()
			a.ruleTimer = nil
		}
		return
	}
	delay := time.Duration(max(0, next-now)) * time.Millisecond
	at := a.nowMilli() + delay.Milliseconds()
	if a.ruleTimer != nil {
		if at >= a.ruleAt {
			return
		}
		a.ruleTimer.Stop()
	}
	a.ruleAt = at
	self, root := a.self, a.s.system.Root
	a.ruleTimer = time.AfterFunc(delay, func() { root.Send(self, ruleTick{}) })
}

func (a *sourceActor) markDirty() {
	a.dirty = true
	if a.urgent {
		a.maybeFlush()
		return
	}
	if a.flushTimer == nil && !a.stopped {
		// Spread the flushes of sources that became dirty together over
		// [F/2, 3F/2) so that they do not leave in one burst.
		f := a.s.opts.FlushInterval
		a.armFlush(f/2 + time.Duration(rand.Int64N(int64(f))))
	}
}

func (a *sourceActor) armFlush(d time.Duration) {
	if a.flushTimer != nil {
		a.flushTimer.Stop()
	}
	self, root := a.self, a.s.system.Root
	a.flushTimer = time.AfterFunc(d, func() { root.Send(self, flushTick{}) })
}

// maybeFlush flushes now when something urgent waits and nothing is in
// flight.
func (a *sourceActor) maybeFlush() {
	if (a.urgent || a.stopped) && a.inflight == 0 {
		a.flush()
	}
	a.answerClosers()
}

// flush writes the state to the table, unless records it depends on are
// still unanswered (then it happens when they are).
func (a *sourceActor) flush() {
	if !a.dirty {
		return
	}
	if a.flushing {
		a.flushAgain = true
		return
	}
	if a.inflight > 0 {
		a.urgent = true
		return
	}
	b, err := a.encode()
	for err == nil && len(b) > a.s.opts.MaxStateBytes && len(a.st.Metrics) > 0 {
		// Over the bound: shed series, and end their alerts in the same
		// step (their alert states repeat their tags). The state is
		// written once those transitions are, and checked again then.
		a.shedSeries(len(b) - a.s.opts.MaxStateBytes*9/10)
		a.urgent = false
		a.evaluate(a.st.EventMilli, "")
		if a.inflight > 0 {
			a.urgent = true
			return
		}
		b, err = a.encode()
	}
	if err != nil {
		a.s.opts.Logger.Error("source state does not encode", "tenant", a.tenant, "host", a.host, "err", err)
		return
	}
	a.dirty, a.urgent, a.flushing = false, false, true
	if a.flushTimer != nil {
		a.flushTimer.Stop()
		a.flushTimer = nil
	}
	a.lastSize = len(b)
	a.s.m.flushes.Inc()
	a.s.m.flushBytes.Add(float64(len(b) + len(a.key)))
	a.s.m.stateBytes.Observe(float64(len(b)))
	offset, self, root := a.st.Offset, a.self, a.s.system.Root
	a.s.opts.Producer.Produce(context.Background(), &kgo.Record{Topic: tables.FeaturesTable, Key: []byte(a.key), Value: b},
		func(_ *kgo.Record, err error) { root.Send(self, flushed{offset: offset, value: b, err: err}) })
}

// encode encodes the state. A state beyond MaxStateBytes sheds series
// (see flush, shedSeries), so that a source never writes a record the
// broker refuses.
func (a *sourceActor) encode() ([]byte, error) {
	a.st.Generation, a.st.Epoch = a.p.hooks.Generation, a.p.hooks.Epoch
	return a.st.AppendBinary(make([]byte, 0, max(512, a.lastSize+a.lastSize/8)))
}

// shedSeries drops series worth excess bytes of the encoded state, those
// no rule reads first, then the largest; their samples are refused from
// then on. A series' size counts its tags, its window and the alert states
// of its tag set, which repeat its tags and end with it.
func (a *sourceActor) shedSeries(excess int) {
	rs := a.s.opts.Rules.Current()
	type cand struct {
		i    int
		read bool
		size int
	}
	alertBytes := map[string]int{}
	for _, e := range a.st.Alerts {
		if len(e.Series) > 0 {
			n := 16
			for _, l := range e.Series {
				n += len(l.Name) + len(l.Value) + 2
			}
			alertBytes[rules.FormatSelector(e.Series)] += n
		}
	}
	cands := make([]cand, len(a.st.Metrics))
	for i := range a.st.Metrics {
		m := &a.st.Metrics[i]
		size := len(m.Series.AppendBinary(nil)) + len(m.Name) + len(m.Unit)
		for _, t := range m.Tags {
			size += len(t.Key) + len(t.Value) + 2
		}
		if len(m.Tags) > 0 {
			size += alertBytes[rules.FormatSelector(m.Tags.Labels())]
		}
		cands[i] = cand{i: i, read: readsMetric(rs, m.Name), size: size}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].read != cands[j].read {
			return !cands[i].read
		}
		return cands[i].size > cands[j].size
	})
	drop := map[int]bool{}
	for _, c := range cands {
		if excess <= 0 {
			break
		}
		drop[c.i] = true
		excess -= c.size
	}
	if a.shed == nil {
		a.shed = map[string]bool{}
	}
	kept := a.st.Metrics[:0]
	var names []string
	for i, m := range a.st.Metrics {
		if drop[i] {
			name := tables.SeriesName(m.Name, m.Tags)
			a.shed[name] = true
			a.feats.Delete(m.Name, m.Tags.Labels())
			names = append(names, name)
			continue
		}
		kept = append(kept, m)
	}
	clear(a.st.Metrics[len(kept):])
	a.st.Metrics = kept
	a.s.countSeries(a.tenant, -len(names))
	a.s.m.shed.Add(float64(len(names)))
	a.s.opts.Logger.Warn("source state over its bound: series shed, their samples are refused with reason "+ReasonSourceLimit,
		"tenant", a.tenant, "host", a.host, "series", names, "max_state_bytes", a.s.opts.MaxStateBytes)
}

// readsMetric reports whether a rule of rs reads metric.
func readsMetric(rs *rules.RuleSet, metric string) bool {
	for r := range rs.Rules() {
		if r.UsesMetric(metric) {
			return true
		}
	}
	return false
}

func (a *sourceActor) settleFlush(m flushed) {
	a.flushing = false
	if m.err != nil {
		a.dirty = true
		a.s.opts.Logger.Warn("state write failed; retrying", "tenant", a.tenant, "host", a.host, "err", m.err)
		a.armFlush(time.Second)
	} else {
		a.p.stored(a.key, m.value)
		a.p.durable(a.key, m.offset)
	}
	if a.flushAgain {
		a.flushAgain = false
		a.flush()
	}
	a.answerClosers()
}

// answerClosers answers close requests once everything is durable.
func (a *sourceActor) answerClosers() {
	if len(a.closers) == 0 || a.dirty || a.flushing || a.inflight > 0 {
		return
	}
	for _, done := range a.closers {
		done()
	}
	a.closers = nil
}

func (a *sourceActor) armIdle(d time.Duration) {
	if a.s.opts.IdleTimeout <= 0 || a.stopped || !a.p.canEvict() {
		return
	}
	// d is under zero when the clock moved past the idle time since it
	// was reckoned: the check is due now. An actor without the timer
	// would stay in memory until it is closed.
	d = max(d, 0)
	self, root := a.self, a.s.system.Root
	a.idleTimer = time.AfterFunc(d, func() { root.Send(self, idleTick{}) })
}

// idleCheck is when to look next whether the actor may leave memory: after
// IdleTimeout without a signal, or, for an actor woken without one, as soon
// as its state is written.
func (a *sourceActor) idleCheck() time.Duration {
	if a.s.opts.IdleTimeout <= 0 {
		return 0 // sources stay in memory
	}
	if a.lastWork.IsZero() {
		return a.s.opts.FlushInterval
	}
	return a.s.opts.IdleTimeout - a.s.opts.Now().Sub(a.lastWork)
}

// maybeLeave stops an actor that has been idle for IdleTimeout (or that was
// woken without a signal) and holds nothing the table does not: no deadline
// of its own, nothing unwritten, and an evaluation under the rules in
// force. Its state stays in the table, from which its next signal rebuilds
// it.
func (a *sourceActor) maybeLeave(c actor.Context) {
	if left := a.idleCheck(); left > 0 && !a.lastWork.IsZero() {
		a.armIdle(left)
		return
	}
	if a.st.Rules != a.s.opts.Rules.Current().Fingerprint() {
		// A reload came while the actor was idle: its rules catch up first.
		a.catchUp(a.clock())
	}
	if a.stopped || a.dirty || a.flushing || a.inflight > 0 || a.ruleTimer != nil || !a.p.evict(a.key, a.self) {
		a.armIdle(max(a.idleCheck(), a.s.opts.FlushInterval))
		return
	}
	a.stopped = true
	a.s.m.evicted.Inc()
	c.Stop(c.Self())
}

func (a *sourceActor) stopTimers() {
	for _, t := range []**time.Timer{&a.flushTimer, &a.ruleTimer, &a.idleTimer} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
}
