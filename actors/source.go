package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/engine"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// Reasons a source actor refuses a sample with, besides the windows' own
// (features.ReasonTooLate, features.ReasonInvalid): see package engine.
const (
	ReasonFuture      = engine.ReasonFuture
	ReasonSourceLimit = engine.ReasonSourceLimit
	ReasonSeriesLimit = engine.ReasonSeriesLimit
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

	// eng is the source's evaluation step; st is its state.
	eng engine.Source
	st  *tables.SourceState
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
	// warm is the source's warm start from PostgreSQL, to come or under
	// way (see warmUp).
	warm warmUp
	// configured is the rule set whose feature configurations the
	// series follow (see followConfig).
	configured *engine.Rules
}

func (a *sourceActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.self = c.Self()
		if !a.woken {
			a.lastWork = a.s.opts.Now()
		}
		a.armIdle(a.idleCheck())
		a.warmOnStart()
	case *deliver:
		a.p.took(a.key)
		if a.holdForWarm(m) {
			return
		}
		a.deliver(m)
	case warmRead:
		a.warmed(m)
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
		if a.followConfig(); a.warm.running {
			// The rules look at the windows once they are warm.
			a.warm.tick = true
			return
		}
		a.catchUp(a.clock())
	case idleTick:
		a.idleTimer = nil
		a.maybeLeave(c)
	case closeReq:
		a.endWarm(WarmCanceled, false)
		a.closers = append(a.closers, m.done)
		a.stopped = true
		a.stopTimers()
		a.flush()
		a.answerClosers()
	case *actor.Stopping:
		if a.warm.running {
			a.warm.cancel()
		}
		a.stopTimers()
		a.s.countSeries(a.tenant, -len(a.st.Metrics))
	}
}

func (a *sourceActor) nowMilli() int64 { return a.s.opts.Now().UnixMilli() }

// clock is the source's time: event time, moved on by wall time while the
// source is silent.
func (a *sourceActor) clock() int64 { return a.eng.Clock(a.nowMilli()) }

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
	a.eng.Apply(a.s.opts.Rules.view(), sig, sig.IngestMicro/1000, a.nowMilli())
	a.advanceOffset(m)
	a.st.MarkOrigin(sig.Origin, sig.IngestMicro)
	a.markDirty()
}

func (a *sourceActor) advanceOffset(m *deliver) {
	a.st.Partition, a.st.Offset, a.st.OffsetMilli = a.p.part, m.offset, m.milli
}

// sourceFull says whether a new series of sm is refused with reason
// source_limit: the state is near MaxStateBytes, or the series was shed to
// stay under it.
func (a *sourceActor) sourceFull(sm *tables.Sample) (string, bool) {
	if len(a.shed) > 0 && a.shed[tables.SeriesName(sm.Metric, sm.Tags)] || a.lastSize >= a.s.opts.MaxStateBytes*9/10 {
		return fmt.Sprintf("the source's state is %d bytes (at most %d): "+
			"the series %s is stored but has no features", a.lastSize, a.s.opts.MaxStateBytes, tables.SeriesName(sm.Metric, sm.Tags)), true
	}
	return "", false
}

// side sends a sample the source refused to the DLQ with its reason.
func (a *sourceActor) side(sig *tables.Signal, sm *tables.Sample, reason, errText string) {
	a.s.m.refused.WithLabelValues(reason).Inc()
	if reason == ReasonSeriesLimit {
		a.s.m.limited.WithLabelValues(a.tenant).Inc()
	}
	v, _ := json.Marshal(map[string]any{
		"tenant_id": sig.Tenant, "host": sig.Host, "metric": sm.Metric, "value": sm.Value, "unit": sm.Unit,
		"ts_event": time.UnixMicro(sm.TsMicro).UTC().Format(time.RFC3339Nano), "tags": sm.Tags.Map(),
	})
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

// catchUp evaluates the rules' deadlines up to the source time until.
func (a *sourceActor) catchUp(until int64) { a.eng.CatchUp(a.s.opts.Rules.view(), until) }

// evaluate runs the rules that read metric ("" for all) at source time at.
func (a *sourceActor) evaluate(at int64, metric string) {
	a.eng.Evaluate(a.s.opts.Rules.view(), at, metric)
}

// transition writes a transition the source's step emitted.
func (a *sourceActor) transition(tr *rules.Transition) {
	a.s.m.transitions.WithLabelValues(tr.State).Inc()
	v, err := tables.EncodeAlert(tr)
	if err != nil {
		a.s.opts.Logger.Error("alert transition does not encode", "rule", tr.AlertName, "err", err)
		return
	}
	a.emit(&kgo.Record{Topic: tables.AlertsTopic, Key: []byte(a.key), Value: v,
		Headers: []kgo.RecordHeader{{Key: "eventops-ingest-micro", Value: []byte(strconv.FormatInt(a.ingestMicro, 10))}}})
}

// stepped follows a step of the rule engine: the state is dirty, urgently
// when the step emitted transitions (a lifecycle step is made durable as
// soon as its record is), and the timer is armed for the next deadline.
func (a *sourceActor) stepped(st engine.Step) {
	if st.Changed {
		a.markDirty()
	}
	if st.Emitted > 0 {
		a.urgent = true
		a.markDirty()
	}
	a.armRules(st.Next, st.Due, st.At)
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
	if !a.dirty || a.warm.running {
		// A warm-up under way writes its windows whole, once it ends.
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
			a.eng.Feats.Delete(m.Name, m.Tags.Labels())
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
	if a.stopped || a.dirty || a.flushing || a.inflight > 0 || a.ruleTimer != nil || a.warm.running || !a.p.evict(a.key, a.self) {
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
