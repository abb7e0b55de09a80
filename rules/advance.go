package rules

import "math"

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
