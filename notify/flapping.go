package notify

import (
	"fmt"
	"time"

	"github.com/eventops/eventops/rules"
)

// FlapPolicy is when an alert is flapping: Changes state changes (firing
// to resolved and back, across episodes) within Window. Changes 0 turns
// detection off.
type FlapPolicy struct {
	Changes int
	Window  time.Duration
}

// DefaultFlapPolicy applies to rules without a flapping option: an alert
// that fires and resolves three times within an hour.
var DefaultFlapPolicy = FlapPolicy{Changes: 6, Window: time.Hour}

// PolicyOf is the policy of a rule's option, the default when it has none.
func PolicyOf(f rules.Flapping) FlapPolicy {
	if !f.Set {
		return DefaultFlapPolicy
	}
	return FlapPolicy{Changes: f.Changes, Window: f.Window}
}

func (p FlapPolicy) String() string {
	return fmt.Sprintf("%d state changes within %s", p.Changes, rules.FormatDuration(p.Window))
}

// FlapState is what the notifier keeps of one alert (a tenant's
// fingerprint: every episode of one rule on one series) across its
// episodes.
type FlapState struct {
	// Changes are the times of the latest state changes, oldest first, at
	// most the policy's Changes of them.
	Changes []time.Time `json:"changes"`
	// Status is the last status seen (firing or resolved).
	Status   string `json:"status"`
	Flapping bool   `json:"flapping"`
	// Held is the last transition held while flapping: what the receivers
	// are told when it settles.
	Held *Alert `json:"held,omitempty"`
	// Window is the policy's window when it started flapping.
	Window time.Duration `json:"window,omitempty"`
	// Labels are the alert's labels at its last change, so that a reader
	// of the state (the API) can tell which alert it is.
	Labels map[string]string `json:"labels,omitempty"`
}

// FlapEvent is what a transition does to an alert's flapping.
type FlapEvent int

// Flapping events.
const (
	// FlapNone: not flapping; notify as usual.
	FlapNone FlapEvent = iota
	// FlapEnter: it starts flapping with this transition, which is sent
	// as the summary of the entry.
	FlapEnter
	// FlapHeld: flapping; the transition is held.
	FlapHeld
	// FlapExit: it settled with this transition, which is sent as the
	// summary of the exit.
	FlapExit
)

// Observe updates st with a transition of status at (event time). A
// transition of the status seen last, or not after the last change, changes
// nothing: it is a copy read again (after a crash, the transitions not
// committed are read again, in their order); a copy of the change that
// started the flapping is its entry again until something is held.
// An alert starts flapping at the policy's Changes changes within Window
// and stops at a transition that finds fewer than half as many in the
// window (or, see Settled, after a Window without any).
func (p FlapPolicy) Observe(st FlapState, a Alert, at time.Time) (FlapState, FlapEvent) {
	if p.Changes == 0 {
		if st.Flapping {
			return FlapState{Status: a.Status}, FlapExit
		}
		return FlapState{}, FlapNone
	}
	if a.Status == st.Status || len(st.Changes) > 0 && !at.After(st.Changes[len(st.Changes)-1]) {
		if st.Flapping && st.Held == nil && a.Status == st.Status && len(st.Changes) > 0 && at.Equal(st.Changes[len(st.Changes)-1]) {
			// The change that started the flapping, read again before
			// anything was held: its summary may not have been sent (what
			// was sent is not sent twice).
			return st, FlapEnter
		}
		if st.Flapping {
			st.Held = &a
			return st, FlapHeld
		}
		return st, FlapNone
	}
	st.Status, st.Labels = a.Status, a.Labels
	kept := st.Changes[:0:0]
	for _, c := range st.Changes {
		if c.After(at.Add(-p.Window)) {
			kept = append(kept, c)
		}
	}
	kept = append(kept, at)
	if len(kept) > p.Changes {
		kept = kept[len(kept)-p.Changes:]
	}
	st.Changes = kept
	switch {
	case !st.Flapping && len(kept) >= p.Changes:
		st.Flapping, st.Held, st.Window = true, nil, p.Window
		return st, FlapEnter
	case st.Flapping && len(kept) < (p.Changes+1)/2:
		st.Flapping, st.Held = false, nil
		return st, FlapExit
	case st.Flapping:
		st.Held = &a
		return st, FlapHeld
	}
	return st, FlapNone
}

// QuietAt is when a flapping alert without another change settles: a
// window after its last change.
func (st FlapState) QuietAt() time.Time {
	if len(st.Changes) == 0 {
		return time.Time{}
	}
	return st.Changes[len(st.Changes)-1].Add(st.Window)
}

// Settled reports whether a flapping alert has had no change for a window
// at now.
func (st FlapState) Settled(now time.Time) bool {
	return st.Flapping && !now.Before(st.QuietAt())
}

// Annotation keys the notify stage adds to the summaries of flapping.
const (
	AnnotationFlapping = "flapping"
)

// FlapSummary returns a copy of a with the flapping annotation of an
// entry (entered) or exit summary.
func FlapSummary(a Alert, p FlapPolicy, entered bool) Alert {
	ann := make(map[string]string, len(a.Annotations)+1)
	for k, v := range a.Annotations {
		ann[k] = v
	}
	if entered {
		ann[AnnotationFlapping] = "true: " + p.String() + "; its notifications are held until it settles"
	} else {
		ann[AnnotationFlapping] = "false: settled; this is its state now"
	}
	a.Annotations = ann
	a.Flapping = entered
	return a
}
