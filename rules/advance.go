package rules

import (
	"math"
	"slices"
	"sort"
	"strings"
)

// Advance evaluates, at nowMilli, the rules of rs that apply to src and steps
// their states in place, calling emit for every transition: one evaluation,
// at the time given. With metric set (the metric of the sample that
// triggered the call) only rules that read it are evaluated, for every
// series of it; with metric "" all are. A Lifecycle (AdvanceAt,
// AdvanceApplied, AdvanceUntil) runs it at the right times; on its own it
// serves callers that only evaluate on samples.
//
// A rule is evaluated once per series (see forSeries): each has its own
// state, and its tags are among its alert's labels. The state of a series
// the source no longer has ends (resolved, or inactive when pending) with
// reason series_gone.
//
// First, the states of rules rs no longer has, or that no longer apply to
// the tenant, end (see retire), so a reload keeps exactly the states of
// unchanged rules and ends the others' alerts.
//
// It returns the earliest NextDeadline over all rules.
func (rs *RuleSet) Advance(states *States, src Source, f Features, nowMilli int64, metric string, emit func(*Transition)) (next int64, ok bool) {
	return rs.advance(states, src, f, nowMilli, metric, nil, emit)
}

// SeriesKey names one series of a source: its metric and its tags, sorted
// by name.
type SeriesKey struct {
	Metric string
	Tags   []Label
}

// AdvanceSeries is Advance after samples were applied to the series in
// applied (sorted by SortSeriesKeys, and present in f): a rule that reads
// one of them is evaluated for those series only (and, when it joins
// several metrics, for those tag sets), since the other series of its
// metrics did not change and their deadlines are met by timers. A rule
// that reads the source as a whole (seconds_since_last() of any metric, or
// no feature) is evaluated for all its series. The states of series the
// source no longer has are not looked at: after series leave f, call
// Advance with metric "".
func (rs *RuleSet) AdvanceSeries(states *States, src Source, f Features, nowMilli int64, applied []SeriesKey, emit func(*Transition)) (next int64, ok bool) {
	if len(applied) == 0 {
		applied = []SeriesKey{}
	}
	return rs.advance(states, src, f, nowMilli, "", applied, emit)
}

// SortSeriesKeys sorts keys by metric then tags and drops repeats.
func SortSeriesKeys(keys []SeriesKey) []SeriesKey {
	cmp := func(a, b SeriesKey) int {
		if a.Metric != b.Metric {
			return strings.Compare(a.Metric, b.Metric)
		}
		return CompareLabels(a.Tags, b.Tags)
	}
	slices.SortFunc(keys, cmp)
	return slices.CompactFunc(keys, func(a, b SeriesKey) bool { return cmp(a, b) == 0 })
}

// advance is Advance for the rules reading metric ("" for all), or, when
// applied is not nil, AdvanceSeries.
func (rs *RuleSet) advance(states *States, src Source, f Features, nowMilli int64, metric string, applied []SeriesKey, emit func(*Transition)) (next int64, ok bool) {
	if len(*states) > 0 {
		rs.retire(states, src, nowMilli, emit)
	}
	next = math.MaxInt64
	consider := func(d int64, has bool) {
		if has && d < next {
			next, ok = d, true
		}
	}
	// The memo and the values live on the stack: an Advance per sample
	// allocates nothing unless a transition is emitted or a rule reads a
	// tagged series.
	memo := memoFeatures{f: f, now: nowMilli, refs: rs.table}
	var buf [16]float64
	step := func(r *Rule, tags []Label) State {
		memo.tags = tags
		st := states.GetSeries(r.id, tags)
		vals := buf[:0]
		if n := len(r.features); n <= len(buf) {
			vals = buf[:n]
		} else {
			vals = make([]float64, n)
		}
		st.Series = tags
		var tr *Transition
		res := r.eval(&memo, vals)
		st, tr = Step(r, src, st, res, nowMilli)
		states.setSeries(r.id, tags, st)
		if tr != nil && emit != nil {
			// Explained from the evaluation that decided, and only when a
			// transition is emitted: the per-sample path pays nothing.
			tr.Explanation = r.explain(tr, &memo, res)
			emit(tr)
		}
		return st
	}
	// stateDeadlines considers the deadlines of r's states (series that
	// were not evaluated keep theirs).
	stateDeadlines := func(r *Rule) {
		for _, e := range states.ofRule(r.id) {
			memo.tags = e.Series
			consider(r.nextDeadline(e.State, &memo, nowMilli))
		}
	}
	var tagsBuf [8][]Label
	for _, r := range rs.rules {
		if !r.AppliesTo(src.Tenant) {
			continue
		}
		memo.sels = r.tableSel
		whole := metric == "" && applied == nil
		if !whole && applied != nil && r.usesMetric == nil {
			// Reads the source as a whole: any sample changes it.
			whole = true
		}
		if !whole && applied != nil {
			sets := r.appliedSeries(f, applied, tagsBuf[:0])
			for _, tags := range sets {
				memo.tags = tags
				consider(r.nextDeadline(step(r, tags), &memo, nowMilli))
			}
			stateDeadlines(r)
			if len(r.noData) > 0 {
				// A no-data comparison of a series without a state flips
				// at its own deadline.
				r.forSeries(f, func(tags []Label) {
					memo.tags = tags
					consider(r.nextDeadline(states.GetSeries(r.id, tags), &memo, nowMilli))
				})
			}
			continue
		}
		evaluate := whole || r.UsesMetric(metric)
		if !evaluate && len(r.noData) == 0 {
			// Only the states' own deadlines (for, keep_firing_for, resend).
			stateDeadlines(r)
			continue
		}
		if evaluate {
			rs.endGone(states, r, f, src, nowMilli, emit)
		}
		r.forSeries(f, func(tags []Label) {
			var st State
			if evaluate {
				st = step(r, tags)
			} else {
				st = states.GetSeries(r.id, tags)
			}
			memo.tags = tags
			consider(r.nextDeadline(st, &memo, nowMilli))
		})
		if !evaluate {
			// States of series gone, ended at the rule's next evaluation.
			stateDeadlines(r)
		}
	}
	if !ok {
		next = 0
	}
	return next, ok
}

// appliedSeries appends to dst the tag sets, in tag order and each once,
// at which r is evaluated after samples were applied to the series in
// applied (sorted): those of the series of a metric r reads that match its
// selector, as f holds them.
func (r *Rule) appliedSeries(f Features, applied []SeriesKey, dst [][]Label) [][]Label {
	for _, k := range applied {
		if !slices.Contains(r.usesMetric, k.Metric) {
			continue
		}
		for _, g := range r.seriesRefs {
			if r.table[g].Metric == k.Metric && matches(k.Tags, r.tableSel[g]) {
				if tags, ok := seriesTags(f, k.Metric, k.Tags); ok {
					dst = append(dst, tags)
				}
				break
			}
		}
	}
	if len(dst) > 1 {
		slices.SortFunc(dst, CompareLabels)
		dst = slices.CompactFunc(dst, func(a, b []Label) bool { return CompareLabels(a, b) == 0 })
	}
	return dst
}

// seriesTags returns the tags of the series of metric with tags as f holds
// them, and whether f has that series.
func seriesTags(f Features, metric string, tags []Label) ([]Label, bool) {
	n := f.SeriesCount(metric)
	i := sort.Search(n, func(i int) bool { return CompareLabels(f.SeriesTags(metric, i), tags) >= 0 })
	if i < n && CompareLabels(f.SeriesTags(metric, i), tags) == 0 {
		return f.SeriesTags(metric, i), true
	}
	return nil, false
}

// forSeries calls fn with the tags of each series r is evaluated for, in
// tag order, each once: the tag sets of the series of the metrics r reads
// that match the selectors. Features of several metrics join on equal
// tags: a feature whose metric has no series with a set's tags has no data
// there, so a condition that needs it is unknown. A rule that reads no
// metric in particular (seconds_since_last(), or nothing) has one series
// without tags.
func (r *Rule) forSeries(f Features, fn func(tags []Label)) {
	switch len(r.seriesRefs) {
	case 0:
		fn(nil)
		return
	case 1:
		g := r.seriesRefs[0]
		metric, sel := r.table[g].Metric, r.tableSel[g]
		for i, n := 0, f.SeriesCount(metric); i < n; i++ {
			if tags := f.SeriesTags(metric, i); matches(tags, sel) {
				fn(tags)
			}
		}
		return
	}
	var all [][]Label
	for _, g := range r.seriesRefs {
		metric, sel := r.table[g].Metric, r.tableSel[g]
		for i, n := 0, f.SeriesCount(metric); i < n; i++ {
			if tags := f.SeriesTags(metric, i); matches(tags, sel) {
				all = append(all, tags)
			}
		}
	}
	slices.SortFunc(all, CompareLabels)
	for _, tags := range slices.CompactFunc(all, func(a, b []Label) bool { return CompareLabels(a, b) == 0 }) {
		fn(tags)
	}
}

// hasSeries reports whether r is evaluated for the series with tags.
func (r *Rule) hasSeries(f Features, tags []Label) bool {
	if len(r.seriesRefs) == 0 {
		return len(tags) == 0
	}
	for _, g := range r.seriesRefs {
		metric := r.table[g].Metric
		if !matches(tags, r.tableSel[g]) {
			continue
		}
		if _, ok := seriesTags(f, metric, tags); ok {
			return true
		}
	}
	return false
}

// endGone ends the states of r whose series it is no longer evaluated for.
func (rs *RuleSet) endGone(states *States, r *Rule, f Features, src Source, nowMilli int64, emit func(*Transition)) {
	lo, hi := states.ruleRange(r.id)
	for i := lo; i < hi; {
		e := (*states)[i]
		if r.hasSeries(f, e.Series) {
			i++
			continue
		}
		*states = slices.Delete(*states, i, i+1)
		hi--
		if emit == nil {
			continue
		}
		state := StateResolved
		if e.Phase == Pending {
			state = StateInactive
		}
		tr := r.transition(src, e.State, state, Result{}, nowMilli)
		tr.Reason = ReasonSeriesGone
		tr.Explanation = explainEnd(r, ResolvedByNoData, e.Value)
		emit(tr)
	}
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
		tr.Explanation = explainEnd(r, reason, e.Value)
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
	f    Features
	now  int64
	refs []FeatureRef // the rule set's feature table
	sels [][]Label    // the parsed selector of each of refs
	// tags are the series being evaluated: features read the series of
	// their metric with these tags.
	tags    []Label
	n       int
	entries [8]memoEntry
}

type memoEntry struct {
	g    int
	tags []Label
	v    float64
	ok   bool
}

func (m *memoFeatures) get(g int) (float64, bool) {
	ref := &m.refs[g]
	source := ref.Metric == "" // seconds_since_last(): the same for every series
	for i := range m.n {
		if e := &m.entries[i]; e.g == g && (source || CompareLabels(e.tags, m.tags) == 0) {
			return e.v, e.ok
		}
	}
	var v float64
	var ok bool
	switch {
	case !source && m.sels != nil && !matches(m.tags, m.sels[g]):
	case ref.Stat == StatSecondsSinceLast:
		v, ok = m.f.SecondsSinceLast(ref.Metric, m.tags, m.now)
	default:
		v, ok = m.f.Stat(ref.Metric, m.tags, ref.Stat, ref.Window, m.now)
	}
	if m.n < len(m.entries) {
		m.entries[m.n] = memoEntry{g: g, tags: m.tags, v: v, ok: ok}
		m.n++
	}
	return v, ok
}
