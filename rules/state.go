package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
)

// Phase is where an alert of one rule for one source is in its lifecycle.
type Phase uint8

const (
	// Inactive: the condition does not hold. Inactive states are not stored.
	Inactive Phase = iota
	// Pending: the condition holds, for has not elapsed yet.
	Pending
	// Firing: the condition held for the whole of for.
	Firing
)

func (p Phase) String() string {
	switch p {
	case Pending:
		return StatePending
	case Firing:
		return StateFiring
	}
	return StateInactive
}

// State is the lifecycle state of one rule for one source. Times are unix
// milliseconds of event time. The zero State is Inactive.
type State struct {
	Phase Phase
	// ActiveSince is when the condition became true for this episode (the
	// pending-since time); it survives restarts, so a for: 5m alert that was
	// pending 3 minutes before a restart fires 2 minutes after it.
	ActiveSince int64
	// FiringSince is when the alert fired (Firing only).
	FiringSince int64
	// Clearing is set while firing once the resolve condition holds (clear
	// true, or expr false without clear); ClearSince is when it started to
	// hold. The alert resolves when it held for keep_firing_for.
	Clearing   bool
	ClearSince int64
	// LastSent is when the last firing notification (firing or resend) was
	// decided.
	LastSent int64
	// Value is the triggering value: the rule's value when it went pending,
	// updated when it fired.
	Value float64
	// Episode identifies the episode: EpisodeID(tenant, host, rule,
	// ActiveSince). A transition re-derived after a crash carries the same one.
	Episode uint64
	// Identity is the rule's, so that the alert can end with the labels it
	// started with even when no rule set has the rule any more. Nil only in
	// states decoded from the version 1 encoding, until their rule steps
	// them again.
	Identity *Identity
	// Series are the tags of the series the state is of (sorted by name),
	// nil for a series without tags. They are among the alert's labels.
	Series []Label
}

// Identity is what an alert state keeps of its rule: its group, alert name
// and labels (severity included, sorted by name), which the rule's ID
// determines. A rule shares one Identity with all its states; it is
// immutable.
type Identity struct {
	Group  string
	Name   string
	Labels []Label
}

// labelMap is the label set of an alert with this identity for a series
// of a source: the series' tags, then the rule's labels (which win over a
// tag of the same name), then alertname, tenant and host. A nil identity
// gives the source's labels and the tags only.
func (id *Identity) labelMap(tenant, host string, series []Label) map[string]string {
	m := make(map[string]string, len(series)+3)
	for _, l := range series {
		m[l.Name] = l.Value
	}
	if id == nil {
		m[LabelTenant], m[LabelHost] = tenant, host
		return m
	}
	for _, l := range id.Labels {
		m[l.Name] = l.Value
	}
	m[LabelAlertName] = id.Name
	m[LabelTenant] = tenant
	m[LabelHost] = host
	return m
}

// Source is the tenant and host a rule is evaluated for, with its metadata
// for annotation templates.
type Source struct {
	Tenant string
	Host   string
	Meta   Meta
}

// EpisodeID derives an episode's ID from what defines it, so that replaying the
// same input after a crash yields the same ID.
func EpisodeID(tenant, host string, rule RuleID, activeSince int64) uint64 {
	return SeriesEpisodeID(tenant, host, rule, nil, activeSince)
}

// SeriesEpisodeID is the ID of an episode of the series with tags; for a
// series without tags it is EpisodeID's.
func SeriesEpisodeID(tenant, host string, rule RuleID, series []Label, activeSince int64) uint64 {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(tenant)
	put(host)
	binary.BigEndian.PutUint64(n[:], uint64(rule))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(activeSince))
	h.Write(n[:])
	if len(series) > 0 {
		binary.BigEndian.PutUint64(n[:], uint64(len(series)))
		h.Write(n[:])
		for _, l := range series {
			put(l.Name)
			put(l.Value)
		}
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// Step advances the state of r for src given an evaluation res at nowMilli,
// and returns the new state and the transition to notify, if any.
//
//   - Inactive: expr true -> Pending (transition pending), or straight to
//     Firing (transition firing) when for is 0.
//   - Pending: expr true for the whole of for -> Firing; expr false ->
//     Inactive (transition inactive: the episode ended without firing);
//     Unknown keeps pending and never fires.
//   - Firing: the resolve condition is clear == true when the rule has clear
//     (hysteresis), else expr == false; expr true always wins. Once the resolve
//     condition holds for keep_firing_for -> Inactive (transition resolved). A
//     definite "does not resolve" (expr true, or clear false) restarts that
//     count; Unknown never resolves and leaves the count as it is. With a
//     resend interval, a firing alert emits a reminder (state firing, resend
//     true) when the interval has passed since the last notification.
//
// Callers pass a non-decreasing nowMilli per source (its event-time clock); a
// time earlier than the state's times never elapses a duration.
func Step(r *Rule, src Source, st State, res Result, nowMilli int64) (State, *Transition) {
	if st.Phase != Inactive {
		st.Identity = r.ident
	}
	switch st.Phase {
	case Pending:
		switch res.Active {
		case True:
			if elapsed(st.ActiveSince, nowMilli, r.forDur.Milliseconds()) {
				return fire(r, src, st, res, nowMilli)
			}
			return st, nil
		case False:
			return State{}, r.transition(src, st, StateInactive, res, nowMilli)
		}
		return st, nil
	case Firing:
		return stepFiring(r, src, st, res, nowMilli)
	}
	if res.Active != True {
		return State{}, nil
	}
	st = State{
		Phase:       Pending,
		ActiveSince: nowMilli,
		Value:       r.value(res.Values),
		Episode:     SeriesEpisodeID(src.Tenant, src.Host, r.id, st.Series, nowMilli),
		Identity:    r.ident,
		Series:      st.Series,
	}
	if r.forDur <= 0 {
		return fire(r, src, st, res, nowMilli)
	}
	return st, r.transition(src, st, StatePending, res, nowMilli)
}

func fire(r *Rule, src Source, st State, res Result, now int64) (State, *Transition) {
	st.Phase = Firing
	st.FiringSince = now
	st.LastSent = now
	st.Value = r.value(res.Values)
	return st, r.transition(src, st, StateFiring, res, now)
}

func stepFiring(r *Rule, src Source, st State, res Result, now int64) (State, *Transition) {
	var resolve, hold bool // the resolve condition definitely holds / definitely not
	switch {
	case res.Active == True:
		hold = true
	case r.clearProg != nil:
		resolve, hold = res.Clear == True, res.Clear == False
	default:
		resolve = res.Active == False
	}
	switch {
	case hold:
		st.Clearing, st.ClearSince = false, 0
	case resolve:
		if !st.Clearing {
			st.Clearing, st.ClearSince = true, now
		}
		if elapsed(st.ClearSince, now, r.keepFiringFor.Milliseconds()) {
			return State{}, r.transition(src, st, StateResolved, res, now)
		}
	}
	if r.resend > 0 && elapsed(st.LastSent, now, r.resend.Milliseconds()) {
		st.LastSent = now
		tr := r.transition(src, st, StateFiring, res, now)
		tr.Resend = true
		return st, tr
	}
	return st, nil
}

// elapsed reports whether d milliseconds have passed from since to now.
func elapsed(since, now, d int64) bool {
	return now >= since && now-since >= d
}

// NextDeadline is the next time after nowMilli at which st must be evaluated
// again even if no new sample arrives: for elapsing, keep_firing_for ending, a
// resend falling due, or a seconds_since_last comparison of the rule flipping
// (read from f at nowMilli). ok is false when nothing is due without new data.
func NextDeadline(r *Rule, st State, f Features, nowMilli int64) (int64, bool) {
	m := memoFeatures{f: f, now: nowMilli, refs: r.table, sels: r.tableSel, tags: st.Series}
	return r.nextDeadline(st, &m, nowMilli)
}

func (r *Rule) nextDeadline(st State, f *memoFeatures, nowMilli int64) (int64, bool) {
	next, ok := int64(math.MaxInt64), false
	consider := func(t int64) {
		if t > nowMilli && t < next {
			next, ok = t, true
		}
	}
	switch st.Phase {
	case Pending:
		consider(st.ActiveSince + r.forDur.Milliseconds())
	case Firing:
		if st.Clearing {
			consider(st.ClearSince + r.keepFiringFor.Milliseconds())
		}
		if r.resend > 0 {
			consider(st.LastSent + r.resend.Milliseconds())
		}
	}
	for _, c := range r.noData {
		age, has := f.get(r.tableIdx[c.ref])
		if !has || math.IsNaN(age) || math.IsNaN(c.threshold) || math.Abs(c.threshold) > 1e12 {
			continue
		}
		last := nowMilli - int64(math.Round(age*1000))
		now := c.holds(age)
		// The comparison flips where the age crosses the threshold; probe the
		// milliseconds around it for the first one where it differs from now.
		base := last + int64(math.Floor(c.threshold*1000)) - 1
		for t := max(base, nowMilli+1); t <= base+3; t++ {
			if c.holds(float64(t-last)/1000) != now {
				consider(t)
				break
			}
		}
	}
	if !ok {
		return 0, false
	}
	return next, true
}
