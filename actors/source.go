package actors

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// Messages of a source actor.
type (
	// deliver is a signal read at offset.
	deliver struct {
		offset int64
		sig    *tables.Signal
	}
	// emitted: a record the actor wrote (alert, late sample) was answered.
	emitted struct{ err error }
	// flushed: the state write covering offset was answered.
	flushed struct {
		offset int64
		err    error
	}
	flushTick struct{}
	ruleTick  struct{}
	// closeReq asks for a final flush; done is called once it is durable.
	closeReq struct{ done func() }
)

// sourceActor owns one source's features and alert states. It writes them
// to the table every FlushInterval (sooner after an alert transition) and
// tells the stage, through durable, which input offsets that covers.
//
// The source's clock is its newest event time, moved on by the wall time
// since that event arrived while the source is silent: rules evaluate on
// event time while data flows, and timers (for, keep_firing_for, no-data)
// still elapse when it stops.
type sourceActor struct {
	s       *Sources
	part    int32
	durable func(key string, offset int64)
	// handBack gives up on a signal the actor did not apply.
	handBack func(offset int64)
	key      string
	tenant   string
	host     string

	st    *tables.SourceState
	feats rules.SeriesFeatures
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
	// them so the table never holds a transition whose record was lost.
	inflight   int
	flushing   bool
	flushAgain bool
	urgent     bool
	closers    []func()
	stopped    bool
}

func (a *sourceActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.self = c.Self()
	case *deliver:
		a.deliver(m)
	case emitted:
		a.inflight--
		if m.err != nil {
			a.s.opts.Logger.Error("an alert or late-sample record could not be written", "tenant", a.tenant, "host", a.host, "err", m.err)
		}
		a.maybeFlush()
	case flushTick:
		a.flushTimer = nil
		a.flush()
	case flushed:
		a.flushing = false
		if m.err != nil {
			a.dirty = true
			a.s.opts.Logger.Warn("state write failed; retrying", "tenant", a.tenant, "host", a.host, "err", m.err)
			a.armFlush(time.Second)
		} else {
			a.durable(a.key, m.offset)
		}
		if a.flushAgain {
			a.flushAgain = false
			a.flush()
		}
		a.answerClosers()
	case ruleTick:
		a.ruleTimer = nil
		a.evaluate(a.clock(), "")
	case closeReq:
		a.closers = append(a.closers, m.done)
		a.stopped = true
		a.stopTimers()
		a.flush()
		a.answerClosers()
	case *actor.Stopping:
		a.stopTimers()
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
	if m.offset <= a.st.Offset && a.st.Partition == a.part {
		// Read again after a restart: already in the durable state.
		a.s.m.redelivered.Inc()
		a.durable(a.key, m.offset)
		return
	}
	if a.stopped {
		// After the final flush nothing is applied: the partition's next
		// owner reads the signal again.
		a.handBack(m.offset)
		return
	}
	sig := m.sig
	if a.st.SeenOrigin(sig.Origin) {
		// Written again by the ingest stage after a crash: applied already.
		a.s.m.redelivered.Inc()
		a.st.Partition, a.st.Offset = a.part, m.offset
		a.markDirty()
		return
	}
	a.ingestMicro = sig.IngestMicro
	defer func() { a.ingestMicro = 0 }()
	metric := ""
	for i := range sig.Samples {
		sm := &sig.Samples[i]
		ms := a.st.Metric(sm.Metric)
		if ms == nil {
			ms = a.st.AddMetric(tables.MetricState{Name: sm.Metric, Unit: sm.Unit,
				Series: features.NewSeries(a.s.opts.Rules.FeatureConfig(sm.Metric))})
			a.feats[sm.Metric] = ms.Series
		}
		if sm.Unit != "" {
			ms.Unit = sm.Unit
		}
		ts := sm.TsMicro / 1000
		out, err := ms.Series.Add(ts, sm.Value)
		switch {
		case err != nil || out != features.Applied:
			reason := out.Reason()
			errText := reason
			if err != nil {
				errText = err.Error()
			}
			a.side(sig, sm, reason, errText)
			continue
		}
		a.s.m.samples.Inc()
		if ts > a.st.EventMilli {
			a.st.EventMilli = ts
		}
		if metric == "" {
			metric = sm.Metric
		} else if metric != sm.Metric {
			metric = "*"
		}
	}
	a.st.Partition, a.st.Offset = a.part, m.offset
	a.st.MarkOrigin(sig.Origin)
	a.st.ArrivalMilli = a.nowMilli()
	if sig.Meta != nil {
		a.st.Meta = sig.Meta
	}
	a.markDirty()
	switch metric {
	case "":
	case "*":
		a.evaluate(a.st.EventMilli, "")
	default:
		a.evaluate(a.st.EventMilli, metric)
	}
}

// side sends a sample the windows refused to the DLQ with its reason.
func (a *sourceActor) side(sig *tables.Signal, sm *tables.Sample, reason, errText string) {
	a.s.m.late.Inc()
	v, _ := json.Marshal(map[string]any{
		"tenant_id": sig.Tenant, "host": sig.Host, "metric": sm.Metric, "value": sm.Value, "unit": sm.Unit,
		"ts_event": time.UnixMicro(sm.TsMicro).UTC().Format(time.RFC3339Nano), "tags": sm.Tags.Map(),
	})
	newest := ""
	if ms := a.st.Metric(sm.Metric); ms != nil {
		if ts, _, ok := ms.Series.Last(); ok {
			newest = time.UnixMilli(ts).UTC().Format(time.RFC3339Nano)
		}
	}
	rec := tables.DLQRecord(tables.Rejection{
		Stage: "features", Reason: reason, Error: errText + ": newest event time of the metric is " + newest + ", lateness bound " +
			a.s.opts.Rules.FeatureConfig(sm.Metric).Lateness.String(),
		Topic: tables.SignalsTopic, Partition: sig.Origin.Partition, Offset: sig.Origin.Offset, Index: -1,
		Key: []byte(a.key), Value: v,
	})
	a.emit(rec)
}

func (a *sourceActor) emit(rec *kgo.Record) {
	a.inflight++
	self, root := a.self, a.s.system.Root
	a.s.opts.AlertProducer.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		root.Send(self, emitted{err: err})
	})
}

// evaluate runs the rules at source time now and arms the timer for the
// next deadline.
func (a *sourceActor) evaluate(now int64, metric string) {
	rs := a.s.opts.Rules.Current()
	src := rules.Source{Tenant: a.tenant, Host: a.host}
	if a.st.Meta != nil {
		src.Meta = rules.Meta{Owner: a.st.Meta.Owner, Region: a.st.Meta.Region, Service: a.st.Meta.Service, Tags: a.st.Meta.Tags}
	}
	changed := false
	next, ok := rs.Advance(&a.st.Alerts, src, a.feats, now, metric, func(tr *rules.Transition) {
		changed = true
		a.s.m.transitions.WithLabelValues(tr.State).Inc()
		v, err := json.Marshal(tr)
		if err != nil {
			a.s.opts.Logger.Error("alert transition does not encode", "rule", tr.AlertName, "err", err)
			return
		}
		a.emit(&kgo.Record{Topic: tables.AlertsTopic, Key: []byte(a.key), Value: v,
			Headers: []kgo.RecordHeader{{Key: "eventops-ingest-micro", Value: []byte(strconv.FormatInt(a.ingestMicro, 10))}}})
	})
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
	if a.flushTimer == nil {
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
	b, err := a.st.AppendBinary(make([]byte, 0, 512))
	if err != nil {
		a.s.opts.Logger.Error("source state does not encode", "tenant", a.tenant, "host", a.host, "err", err)
		return
	}
	a.dirty, a.urgent, a.flushing = false, false, true
	if a.flushTimer != nil {
		a.flushTimer.Stop()
		a.flushTimer = nil
	}
	a.s.m.flushes.Inc()
	a.s.m.flushBytes.Add(float64(len(b) + len(a.key)))
	a.s.m.stateBytes.Observe(float64(len(b)))
	offset, self, root := a.st.Offset, a.self, a.s.system.Root
	a.s.opts.Producer.Produce(context.Background(), &kgo.Record{Topic: string(tables.FeaturesTable), Key: []byte(a.key), Value: b},
		func(_ *kgo.Record, err error) { root.Send(self, flushed{offset: offset, err: err}) })
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

func (a *sourceActor) stopTimers() {
	if a.flushTimer != nil {
		a.flushTimer.Stop()
		a.flushTimer = nil
	}
	if a.ruleTimer != nil {
		a.ruleTimer.Stop()
		a.ruleTimer = nil
	}
}
