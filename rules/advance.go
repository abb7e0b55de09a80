package rules

import (
	"math"
	"time"
)

// Advance evaluates, at nowMilli, the rules of rs that apply to src and steps
// their states in place, calling emit for every transition; it is what a
// per-source actor runs on each sample and timer, and what the rule-test runner
// runs. With metric set (the metric of the sample that triggered the call)
// only rules that read it are evaluated; with metric "" (a timer) all are.
// States of rules no longer in rs, or no longer applying to the tenant, are
// dropped, so a reload keeps exactly the states of unchanged rules.
//
// It returns the earliest NextDeadline over all rules, for the caller's timer.
func (rs *RuleSet) Advance(states *States, src Source, f Features, nowMilli int64, metric string, emit func(*Transition)) (next int64, ok bool) {
	states.Retain(func(id RuleID) bool {
		r := rs.byID[id]
		return r != nil && r.AppliesTo(src.Tenant)
	})
	next = math.MaxInt64
	memo := &memoFeatures{f: f, now: nowMilli}
	memo.entries = memo.buf[:0]
	f = memo
	for _, r := range rs.rules {
		if !r.AppliesTo(src.Tenant) {
			continue
		}
		st := states.Get(r.id)
		if metric == "" || r.UsesMetric(metric) {
			var tr *Transition
			st, tr = Step(r, src, st, r.Eval(f, nowMilli), nowMilli)
			states.Set(r.id, st)
			if tr != nil && emit != nil {
				emit(tr)
			}
		}
		if d, has := NextDeadline(r, st, f, nowMilli); has && d < next {
			next, ok = d, true
		}
	}
	if !ok {
		next = 0
	}
	return next, ok
}

// memoFeatures remembers the features read during one Advance, so rules that
// share a feature (a warning and a critical threshold on avg(cpu,5m)) read it
// from the feature engine once.
type memoFeatures struct {
	f       Features
	now     int64
	entries []memoEntry
	buf     [8]memoEntry
}

type memoEntry struct {
	ref FeatureRef
	v   float64
	ok  bool
}

func (m *memoFeatures) find(ref FeatureRef) (memoEntry, bool) {
	for _, e := range m.entries {
		if e.ref == ref {
			return e, true
		}
	}
	return memoEntry{}, false
}

func (m *memoFeatures) Stat(metric, stat string, window time.Duration, now int64) (float64, bool) {
	ref := FeatureRef{Stat: stat, Metric: metric, Window: window}
	if now == m.now {
		if e, ok := m.find(ref); ok {
			return e.v, e.ok
		}
	}
	v, ok := m.f.Stat(metric, stat, window, now)
	if now == m.now {
		m.entries = append(m.entries, memoEntry{ref: ref, v: v, ok: ok})
	}
	return v, ok
}

func (m *memoFeatures) SecondsSinceLast(metric string, now int64) (float64, bool) {
	ref := FeatureRef{Stat: StatSecondsSinceLast, Metric: metric}
	if now == m.now {
		if e, ok := m.find(ref); ok {
			return e.v, e.ok
		}
	}
	v, ok := m.f.SecondsSinceLast(metric, now)
	if now == m.now {
		m.entries = append(m.entries, memoEntry{ref: ref, v: v, ok: ok})
	}
	return v, ok
}
