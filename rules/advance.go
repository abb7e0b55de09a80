package rules

import (
	"math"
	"slices"
)

// Advance evaluates, at nowMilli, the rules of rs that apply to src and steps
// their states in place, calling emit for every transition: one evaluation,
// at the time given. With metric set (the metric of the sample that
// triggered the call) only rules that read it are evaluated; with metric ""
// all are. A Lifecycle (AdvanceAt, AdvanceUntil) runs it at the right
// times; on its own it serves callers that only evaluate on samples.
//
// First, the states of rules rs no longer has, or that no longer apply to
// the tenant, end (see retire), so a reload keeps exactly the states of
// unchanged rules and ends the others' alerts.
//
// It returns the earliest NextDeadline over all rules.
func (rs *RuleSet) Advance(states *States, src Source, f Features, nowMilli int64, metric string, emit func(*Transition)) (next int64, ok bool) {
	if len(*states) > 0 {
		rs.retire(states, src, nowMilli, emit)
	}
	next = math.MaxInt64
	// The memo and the values live on the stack: an Advance per sample
	// allocates nothing unless a transition is emitted.
	memo := memoFeatures{f: f, now: nowMilli, refs: rs.table}
	var buf [16]float64
	for _, r := range rs.rules {
		if !r.AppliesTo(src.Tenant) {
			continue
		}
		var st State
		if len(*states) > 0 {
			st = states.Get(r.id)
		}
		if metric == "" || r.UsesMetric(metric) {
			vals := buf[:0]
			if n := len(r.features); n <= len(buf) {
				vals = buf[:n]
			} else {
				vals = make([]float64, n)
			}
			var tr *Transition
			st, tr = Step(r, src, st, r.eval(&memo, vals), nowMilli)
			if st.Phase != Inactive || len(*states) > 0 {
				states.Set(r.id, st)
			}
			if tr != nil && emit != nil {
				emit(tr)
			}
		}
		if d, has := r.nextDeadline(st, &memo, nowMilli); has && d < next {
			next, ok = d, true
		}
	}
	if !ok {
		next = 0
	}
	return next, ok
}

// retire ends, at nowMilli, the states of rules that rs does not have or
// that no longer apply to src's tenant: a firing alert resolves and a
// pending one ends (inactive), with the reason (rule_removed, rule_changed,
// tenant_excluded) in the transition, which is built from the rule (kept
// aside by Replacing when gone) or, when no set has it, from the state's
// Identity, without annotations.
func (rs *RuleSet) retire(states *States, src Source, nowMilli int64, emit func(*Transition)) {
	for i := 0; i < len(*states); {
		e := (*states)[i]
		r := rs.byID[e.Rule]
		if r != nil && r.AppliesTo(src.Tenant) {
			i++
			continue
		}
		*states = slices.Delete(*states, i, i+1)
		if emit == nil {
			continue
		}
		reason := ReasonTenantExcluded
		if r == nil {
			reason, r = rs.retirement(e)
		}
		state := StateResolved
		if e.Phase == Pending {
			state = StateInactive
		}
		var tr *Transition
		if r != nil {
			tr = r.transition(src, e.State, state, Result{}, nowMilli)
		} else {
			tr = newTransition(e.Rule, e.Identity, src, e.State, state, nowMilli)
		}
		tr.Reason = reason
		emit(tr)
	}
}

// retirement says why the state e of a rule rs does not have ends, and
// returns the rule when it was kept aside.
func (rs *RuleSet) retirement(e RuleState) (string, *Rule) {
	r := rs.retired[e.Rule]
	ident := e.Identity
	if r != nil {
		ident = r.ident
	}
	if ident != nil && rs.byAlert[alertKey{ident.Group, ident.Name}] != nil {
		return ReasonRuleChanged, r
	}
	return ReasonRuleRemoved, r
}

// memoFeatures reads features at one time and remembers them, so rules that
// share a feature (a warning and a critical threshold on avg(cpu,5m)) read
// it from the feature engine once per Advance. Features are numbered in the
// rule set's table (Rule.tableIdx). It remembers the first len(entries)
// features read, which covers the rules one sample triggers; past that it
// reads again rather than allocate (a read is deterministic).
type memoFeatures struct {
	f       Features
	now     int64
	refs    []FeatureRef // the rule set's feature table
	n       int
	entries [8]memoEntry
}

type memoEntry struct {
	g  int
	v  float64
	ok bool
}

func (m *memoFeatures) get(g int) (float64, bool) {
	for i := range m.n {
		if e := &m.entries[i]; e.g == g {
			return e.v, e.ok
		}
	}
	ref := &m.refs[g]
	var v float64
	var ok bool
	if ref.Stat == StatSecondsSinceLast {
		v, ok = m.f.SecondsSinceLast(ref.Metric, m.now)
	} else {
		v, ok = m.f.Stat(ref.Metric, ref.Stat, ref.Window, m.now)
	}
	if m.n < len(m.entries) {
		m.entries[m.n] = memoEntry{g: g, v: v, ok: ok}
		m.n++
	}
	return v, ok
}
