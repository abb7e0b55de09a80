package rules

// Open calls fn, in the order of s, with the transition that describes
// each open state (pending or firing) of s for src as seen at atMilli: its
// state, ActiveAt, StartsAt, episode ID, labels and value, as the
// transition that opened it or last changed it carried them (without
// features or annotations, which only an evaluation gives). rs, when not
// nil, gives the identity of a state that has none (decoded from the
// version 1 encoding) and the shadow mark. A backtest reports with it the
// episodes its lead-in leaves open at the start of its range.
func (s States) Open(rs *RuleSet, src Source, atMilli int64, fn func(*Transition)) {
	for _, e := range s {
		if e.Phase == Inactive {
			continue
		}
		ident := e.Identity
		var r *Rule
		if rs != nil {
			r = rs.Rule(e.Rule)
		}
		if ident == nil && r != nil {
			ident = r.ident
		}
		tr := newTransition(e.Rule, ident, src, e.State, e.Phase.String(), atMilli)
		tr.Shadow = r != nil && r.shadow
		fn(tr)
	}
}
