package rules

// Lifecycle is the alert lifecycle of one source: the states of its rules
// and the source time of their last evaluation, from which the rule engine
// steps through its own deadlines. Every evaluation happens at a time the
// state and the input decide (a sample's event time, a deadline), never at
// the time a timer happened to run, so the transitions, their times and
// their episode IDs are the same whichever process evaluates the state and
// whenever it does (see AdvanceUntil).
//
// The zero Lifecycle is a source never evaluated. It is not safe for
// concurrent use: one actor owns it.
type Lifecycle struct {
	// Alerts are the states of the rules, sorted by rule ID; only
	// non-inactive ones are kept.
	Alerts States
	// at is the source time of the last evaluation, when evaluated.
	at        int64
	evaluated bool
	// rs is the rule set of the last evaluation in this process (nil after
	// decoding), and next the earliest deadline under it, when hasNext.
	rs      *RuleSet
	next    int64
	hasNext bool
}

// Evaluated returns the source time (unix ms) of the last evaluation; ok is
// false when it is not known: the source was never evaluated, or its states
// were decoded from the version 1 encoding.
func (lc *Lifecycle) Evaluated() (atMilli int64, ok bool) { return lc.at, lc.evaluated }

// AdvanceAt evaluates lc at atMilli, the event time of a sample just added
// to f (the source's newest event time), and returns the next deadline. It
// evaluates the rules that read metric, or all of them when metric is "" or
// the rule set changed since lc's last evaluation. The evaluation time never
// goes back: an atMilli before the last evaluation evaluates at that.
//
// A source actor applies a sample at ts as AdvanceUntil(ts), then
// features.Series.Add, then AdvanceAt(newest event time, metric): the
// deadlines up to ts are evaluated on the features before the sample,
// whether a timer got to them first or not, and every Add is followed by an
// AdvanceAt before the next AdvanceUntil (the deadlines AdvanceUntil steps
// through are computed on the features of the last evaluation).
func (rs *RuleSet) AdvanceAt(lc *Lifecycle, src Source, f Features, atMilli int64, metric string, emit func(*Transition)) (next int64, ok bool) {
	if lc.evaluated && lc.at > atMilli {
		atMilli = lc.at
	}
	if lc.rs != rs {
		metric = ""
	}
	rs.evaluate(lc, src, f, atMilli, metric, emit)
	return lc.next, lc.hasNext
}

// AdvanceUntil evaluates lc at each of its deadlines up to untilMilli, in
// order, every rule at each, and returns the next deadline (after
// untilMilli), for the caller's timer. A deadline is when a rule must be
// evaluated without new data (NextDeadline: for elapsing, keep_firing_for
// ending, a resend falling due, a seconds_since_last comparison flipping),
// computed from the states and the features at the last evaluation; its
// transitions are stamped with the deadline, and an episode it starts has
// the deadline as its pending-since time. So the transitions depend on the
// state and untilMilli only through which deadlines are reached: stepping
// to u1 then to u2 emits what stepping to u2 at once does, and two
// processes evaluating the same state (an owner at 10:00:03, the next one
// after a crash at 10:07) emit the same transitions with the same episode
// IDs up to the earlier time.
//
// When the rule set changed since lc's last evaluation in this process (a
// reload, or a state just decoded), every rule is first evaluated at the
// last evaluation time: new rules start as if they had been in force then,
// and the alerts of rules gone end (see Advance). When that time is not
// known (a source never evaluated, or states decoded from the version 1
// encoding), that first evaluation is at untilMilli.
//
// Reminders (Options.ResendInterval) are deadlines too: a source not
// evaluated for several intervals emits every reminder that fell due, each
// at its time.
func (rs *RuleSet) AdvanceUntil(lc *Lifecycle, src Source, f Features, untilMilli int64, emit func(*Transition)) (next int64, ok bool) {
	if lc.rs != rs {
		at := untilMilli
		if lc.evaluated {
			at = lc.at
		}
		rs.evaluate(lc, src, f, at, "", emit)
	}
	for lc.hasNext && lc.next <= untilMilli {
		rs.evaluate(lc, src, f, lc.next, "", emit)
	}
	return lc.next, lc.hasNext
}

// AdvanceApplied is AdvanceAt after samples were applied to the series in
// applied (sorted by SortSeriesKeys): the rules that read them are
// evaluated for those series only (see RuleSet.AdvanceSeries), so the work
// of a sample does not grow with the number of series of its metric. All
// rules are evaluated for all series when the rule set changed since lc's
// last evaluation. After series left f, call AdvanceAt with metric "" so
// that their alerts end.
func (rs *RuleSet) AdvanceApplied(lc *Lifecycle, src Source, f Features, atMilli int64, applied []SeriesKey, emit func(*Transition)) (next int64, ok bool) {
	if lc.evaluated && lc.at > atMilli {
		atMilli = lc.at
	}
	if lc.rs != rs {
		rs.evaluate(lc, src, f, atMilli, "", emit)
		return lc.next, lc.hasNext
	}
	lc.next, lc.hasNext = rs.AdvanceSeries(&lc.Alerts, src, f, atMilli, applied, emit)
	lc.at, lc.evaluated, lc.rs = atMilli, true, rs
	return lc.next, lc.hasNext
}

func (rs *RuleSet) evaluate(lc *Lifecycle, src Source, f Features, atMilli int64, metric string, emit func(*Transition)) {
	lc.next, lc.hasNext = rs.Advance(&lc.Alerts, src, f, atMilli, metric, emit)
	lc.at, lc.evaluated, lc.rs = atMilli, true, rs
}
