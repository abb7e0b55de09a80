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
	if len(*states) > 0 {
		states.Retain(func(id RuleID) bool {
			r := rs.byID[id]
			return r != nil && r.AppliesTo(src.Tenant)
		})
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
		st := states.Get(r.id)
		if metric == "" || r.UsesMetric(metric) {
			vals := buf[:0]
			if n := len(r.features); n <= len(buf) {
				vals = buf[:n]
			} else {
				vals = make([]float64, n)
			}
			var tr *Transition
			st, tr = Step(r, src, st, r.eval(&memo, vals), nowMilli)
			states.Set(r.id, st)
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

// memoFeatures reads features at one time and remembers them, so rules that
// share a feature (a warning and a critical threshold on avg(cpu,5m)) read
// it from the feature engine once per Advance. Features are numbered in the
// rule set's table (Rule.tableIdx); the first 64 are remembered in place,
// the others in a list.
type memoFeatures struct {
	f           Features
	now         int64
	refs        []FeatureRef // the rule set's feature table
	done, known uint64
	vals        [64]float64
	more        []memoEntry
}

type memoEntry struct {
	g  int
	v  float64
	ok bool
}

func (m *memoFeatures) get(g int) (float64, bool) {
	if g < len(m.vals) {
		bit := uint64(1) << g
		if m.done&bit != 0 {
			return m.vals[g], m.known&bit != 0
		}
		v, ok := m.read(g)
		m.done |= bit
		if ok {
			m.known |= bit
		}
		m.vals[g] = v
		return v, ok
	}
	for _, e := range m.more {
		if e.g == g {
			return e.v, e.ok
		}
	}
	v, ok := m.read(g)
	m.more = append(m.more, memoEntry{g: g, v: v, ok: ok})
	return v, ok
}

func (m *memoFeatures) read(g int) (float64, bool) {
	ref := &m.refs[g]
	if ref.Stat == StatSecondsSinceLast {
		return m.f.SecondsSinceLast(ref.Metric, m.now)
	}
	return m.f.Stat(ref.Metric, ref.Stat, ref.Window, m.now)
}
