package notify

import "time"

// Acks are the acknowledgements in force of some alert episodes: by
// episode, when each expires (the zero time: when the episode resolves).
type Acks map[string]time.Time

// Holds reports whether episode is acknowledged at now.
func (a Acks) Holds(episode string, now time.Time) bool {
	exp, ok := a[episode]
	return ok && (exp.IsZero() || now.Before(exp))
}

// AckFunc returns the acknowledgements in force at now of the firing
// alerts a repeat_interval reminder would tell again. It is asked at
// repeat time only: a new alert, a resolved notice or a retry never waits
// for it.
type AckFunc func(alerts []Alert, now time.Time) Acks

// SetAcks makes the group ask f, before each repeat_interval reminder,
// which of its episodes are acknowledged: those are left out of it until
// their ack expires or they resolve (their resolved notice is sent as
// ever). Without it (nil) every reminder tells every firing alert.
func (g *Group[T]) SetAcks(f AckFunc) { g.acks = f }

// remindable returns the entries of a reminder that are not acknowledged,
// and the tokens of those left out. When every one is acknowledged no
// reminder is sent: the group asks again when the first ack expires, or a
// repeat_interval later, whichever comes first (heldUntil).
func (g *Group[T]) remindable(included []*entry[T], now time.Time) (kept []*entry[T], release []T) {
	if g.acks == nil || len(included) == 0 {
		return included, nil
	}
	alerts := make([]Alert, len(included))
	for i, e := range included {
		alerts[i] = e.alert
	}
	acks := g.acks(alerts, now)
	next := now.Add(g.timing.RepeatInterval)
	for _, e := range included {
		if !acks.Holds(e.alert.EpisodeID, now) {
			kept = append(kept, e)
			continue
		}
		if exp := acks[e.alert.EpisodeID]; !exp.IsZero() && exp.Before(next) {
			next = exp
		}
		release = append(release, e.tokens...)
		e.tokens = nil
	}
	if len(kept) == 0 {
		g.heldUntil = next
	}
	return kept, release
}
