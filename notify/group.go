package notify

import (
	"sort"
	"time"
)

// Incoming is an alert handed to a group, with what the durable record of
// notifications says this receiver was sent of its episode, and the token
// the group hands back once the alert needs nothing more.
type Incoming[T any] struct {
	Alert Alert
	// FiringSent and ResolvedSent: the receiver was sent the episode's
	// firing (resolved) notice before (by this process or an earlier one).
	FiringSent, ResolvedSent bool
	Token                    T
}

// Outcome is how a notification attempt ended.
type Outcome int

// Outcomes of an attempt.
const (
	// Delivered: the receiver accepted it (2xx).
	Delivered Outcome = iota
	// Retry: it failed in a way worth trying again (network, 5xx, 429).
	Retry
	// Failed: the receiver refused it for good (other 4xx); it is dropped.
	Failed
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Group is an aggregation group: the alerts of one route and receiver that
// share their group labels, and the timers of their notifications. It is
// not safe for concurrent use; one actor owns it.
type Group[T any] struct {
	Key          string
	Labels       map[string]string
	timing       Timing
	sendResolved bool

	entries map[string]*entry[T] // by episode
	created time.Time
	// lastSent is when a notification was last delivered (zero: never).
	lastSent time.Time
	// sending: a batch is out; nothing else is flushed until its Result.
	sending bool
	// failures counts failed attempts in a row; retryAt is the next one.
	failures int
	retryAt  time.Time
	// dirty: something new waits to be sent; urgent: a resolved notice,
	// which does not wait for group_interval.
	dirty, urgent bool
	// carried are the tokens of failed attempts, delivered with the next.
	carried []T
	// acks tells which episodes are acknowledged at repeat time (ack.go);
	// heldUntil is when a reminder held back by acks is looked at again.
	acks      AckFunc
	heldUntil time.Time
}

type entry[T any] struct {
	alert Alert
	// firingSent: the receiver has the episode's firing notice.
	firingSent bool
	// pending: the alert's current status is not delivered yet.
	pending bool
	// inflight: the alert is in the batch being sent.
	inflight bool
	tokens   []T
	// last is the token of the transition that reached the entry last,
	// held or handed back already: Withdraw tells by it whose alert it is.
	last T
}

// NewGroup returns an empty group created at now.
func NewGroup[T any](key string, labels map[string]string, timing Timing, sendResolved bool, now time.Time) *Group[T] {
	return &Group[T]{Key: key, Labels: labels, timing: timing, sendResolved: sendResolved,
		entries: map[string]*entry[T]{}, created: now}
}

// Add takes an alert. It returns the tokens that need no delivery: the
// alert's own when it is a duplicate or has nothing to tell, and those of
// entries it supersedes.
func (g *Group[T]) Add(in Incoming[T], now time.Time) (release []T) {
	a := in.Alert
	e := g.entries[a.EpisodeID]
	defer func() {
		if e := g.entries[a.EpisodeID]; e != nil {
			e.last = in.Token
		}
	}()
	firingSent := in.FiringSent || e != nil && e.firingSent
	if a.Status == StatusFiring {
		switch {
		case e != nil && e.alert.Status == StatusResolved:
			// The episode ended already; this is a late copy.
			return []T{in.Token}
		case firingSent:
			// Sent before (a replay, or a reminder): nothing new to tell,
			// but the group learns of the alert again after a restart, so
			// that repeats and the resolved notice include it.
			if e == nil {
				g.entries[a.EpisodeID] = &entry[T]{alert: a, firingSent: true}
				if g.lastSent.IsZero() {
					g.lastSent = now
				}
			}
			return []T{in.Token}
		case e == nil:
			e = &entry[T]{alert: a, pending: true}
			g.entries[a.EpisodeID] = e
			g.dirty = true
		}
		// A copy of a firing not yet delivered rides with it.
		e.tokens = append(e.tokens, in.Token)
		return nil
	}
	// Resolved.
	if in.ResolvedSent || e == nil && (!firingSent || !g.sendResolved) {
		if e != nil && !e.inflight {
			release = append(release, e.tokens...)
			delete(g.entries, a.EpisodeID)
		}
		return append(release, in.Token)
	}
	if e == nil {
		e = &entry[T]{firingSent: firingSent}
		g.entries[a.EpisodeID] = e
	}
	// Whether it is told (its firing was sent, send_resolved) is decided
	// at the flush, which comes at once: by then an in-flight firing has
	// its answer.
	e.alert, e.pending = a, true
	e.tokens = append(e.tokens, in.Token)
	g.dirty, g.urgent = true, true
	return nil
}

// NextAt returns when the group wants to flush next, if ever.
func (g *Group[T]) NextAt(now time.Time) (time.Time, bool) {
	switch {
	case g.sending:
		return time.Time{}, false
	case g.failures > 0:
		return g.retryAt, true
	case g.dirty && g.urgent:
		return now, true
	case g.dirty && g.lastSent.IsZero():
		return g.created.Add(g.timing.GroupWait), true
	case g.dirty:
		return g.lastSent.Add(g.timing.GroupInterval), true
	case g.lastSent.IsZero() || !g.hasFiring():
		return time.Time{}, false
	}
	if at := g.lastSent.Add(g.timing.RepeatInterval); at.After(g.heldUntil) {
		return at, true
	}
	return g.heldUntil, true
}

// Pending returns the alerts whose current status waits to be told.
func (g *Group[T]) Pending() []Alert {
	var out []Alert
	for _, e := range g.entries {
		if e.pending {
			out = append(out, e.alert)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EpisodeID < out[j].EpisodeID })
	return out
}

// Due reports whether the group should flush at now.
func (g *Group[T]) Due(now time.Time) bool {
	at, ok := g.NextAt(now)
	return ok && !at.After(now)
}

func (g *Group[T]) hasFiring() bool {
	for _, e := range g.entries {
		if e.alert.Status == StatusFiring {
			return true
		}
	}
	return false
}

// Batch is one notification of a group: its alerts in fingerprint order,
// and the tokens it delivers.
type Batch[T any] struct {
	GroupKey    string
	GroupLabels map[string]string
	Alerts      []Alert
	Tokens      []T
	// Repeat: nothing in it is new; it is a repeat_interval reminder.
	Repeat bool
}

// Flush starts a notification: every firing alert of the group and the
// resolved ones to tell. It returns nil when there is nothing to send (the
// tokens of what was dropped are released). The group then waits for
// Result before it flushes again.
func (g *Group[T]) Flush(now time.Time) (b *Batch[T], release []T) {
	b = &Batch[T]{GroupKey: g.Key, GroupLabels: g.Labels}
	news := len(g.carried) > 0
	var included []*entry[T]
	for ep, e := range g.entries {
		switch {
		case e.alert.Status == StatusFiring:
		case e.pending && e.firingSent && g.sendResolved:
		default:
			// A resolved episode the receiver was never told of, or is not
			// to be told (send_resolved: false).
			release = append(release, e.tokens...)
			delete(g.entries, ep)
			continue
		}
		news = news || e.pending
		included = append(included, e)
	}
	g.dirty, g.urgent = false, false
	repeatDue := !g.lastSent.IsZero() && !now.Before(g.lastSent.Add(g.timing.RepeatInterval))
	if !news && repeatDue {
		var acked []T
		included, acked = g.remindable(included, now)
		release = append(release, acked...)
	}
	if len(included) == 0 || !news && !repeatDue {
		// Nothing new since the last notification and no repeat due; nor
		// anything left to retry (its alerts were withdrawn).
		g.failures = 0
		for _, e := range included {
			release = append(release, e.tokens...)
			e.tokens = nil
		}
		release = append(release, g.carried...)
		g.carried = nil
		return nil, release
	}
	sort.Slice(included, func(i, j int) bool {
		a, b := included[i].alert, included[j].alert
		if a.Fingerprint != b.Fingerprint {
			return a.Fingerprint < b.Fingerprint
		}
		return a.StartsAt.Before(b.StartsAt)
	})
	for _, e := range included {
		e.inflight = true
		b.Alerts = append(b.Alerts, e.alert)
		b.Tokens = append(b.Tokens, e.tokens...)
		e.tokens = nil
	}
	b.Tokens = append(b.Tokens, g.carried...)
	g.carried = nil
	b.Repeat = !news
	g.sending = true
	return b, release
}

// Result ends the attempt of b. backoff is the pause before the next
// attempt when o is Retry. It returns the tokens now settled.
func (g *Group[T]) Result(b *Batch[T], o Outcome, now time.Time, backoff time.Duration) (release []T) {
	g.sending = false
	for _, e := range g.entries {
		e.inflight = false
	}
	switch o {
	case Retry:
		g.failures++
		g.retryAt = now.Add(backoff)
		g.carried = append(g.carried, b.Tokens...)
		g.dirty = true
		return nil
	case Failed:
		// Refused for good: drop it, and do not try again before
		// group_interval.
		g.failures = 0
		g.lastSent = now
		for _, a := range b.Alerts {
			if e := g.entries[a.EpisodeID]; e != nil && e.alert.Status == a.Status {
				e.pending = false
				if a.Status == StatusResolved {
					release = append(release, e.tokens...)
					delete(g.entries, a.EpisodeID)
				}
			}
		}
		return append(release, b.Tokens...)
	}
	g.failures = 0
	g.lastSent = now
	release = append(release, b.Tokens...)
	for _, a := range b.Alerts {
		e := g.entries[a.EpisodeID]
		if e == nil {
			continue
		}
		if a.Status == StatusFiring {
			e.firingSent = true
			if e.alert.Status == StatusFiring {
				e.pending = false
			}
		} else if e.alert.Status == StatusResolved {
			release = append(release, e.tokens...)
			delete(g.entries, a.EpisodeID)
		}
	}
	// Copies that arrived while the batch was out are delivered with it.
	for _, e := range g.entries {
		if !e.pending && len(e.tokens) > 0 {
			release = append(release, e.tokens...)
			e.tokens = nil
		}
	}
	return release
}

// Held returns the tokens the group holds outside a batch in flight.
func (g *Group[T]) Held() []T {
	var out []T
	for _, e := range g.entries {
		out = append(out, e.tokens...)
	}
	return append(out, g.carried...)
}

// Empty reports whether the group holds nothing and may be dropped.
func (g *Group[T]) Empty() bool { return len(g.entries) == 0 && !g.sending && len(g.carried) == 0 }

// Withdraw removes the alerts whose last transition's token drop selects,
// as when their source has moved to another owner: nothing more is sent
// of them, not a repeat, not a resolved notice. It hands back the tokens
// the removed alerts hold and, of the other tokens the group holds outside
// a batch in flight, those drop selects. The tokens of a batch in flight
// come back from its Result; after a failed attempt, a Withdraw hands back
// those drop selects.
func (g *Group[T]) Withdraw(drop func(T) bool) (release []T) {
	for ep, e := range g.entries {
		if drop(e.last) {
			release = append(release, e.tokens...)
			delete(g.entries, ep)
			continue
		}
		e.tokens, release = partition(e.tokens, drop, release)
	}
	g.carried, release = partition(g.carried, drop, release)
	return release
}

// partition moves the tokens drop selects from toks to out.
func partition[T any](toks []T, drop func(T) bool, out []T) (kept, _ []T) {
	kept = toks[:0]
	for _, t := range toks {
		if drop(t) {
			out = append(out, t)
		} else {
			kept = append(kept, t)
		}
	}
	clear(toks[len(kept):])
	return kept, out
}

// Backoff is the pause before attempt n+1 after n failures in a row:
// min doubled per failure, at most max.
func Backoff(failures int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}
