package notify

import (
	"sort"
	"strings"
)

// InhibitRule mutes the alerts Target matches while an alert Source
// matches is firing with the same values of the Equal labels, in the same
// tenant.
type InhibitRule struct {
	Source, Target Matchers
	// Equal are the labels source and target must share; tenant is always
	// among them, so inhibition never crosses tenants.
	Equal []string
}

// Inhibits reports whether the firing alert source inhibits target by r.
// An alert does not inhibit itself, and, as in Alertmanager, a target that
// the source matchers match too is inhibited only by a source that the
// target matchers do not match: two alerts that match both sides do not
// mute each other.
func (r *InhibitRule) Inhibits(source, target Alert) bool {
	if source.Tenant != target.Tenant || source.EpisodeID == target.EpisodeID ||
		source.Status != StatusFiring || !r.Target.Matches(target.Labels) || !r.Source.Matches(source.Labels) {
		return false
	}
	if r.Source.Matches(target.Labels) && r.Target.Matches(source.Labels) {
		return false
	}
	for _, l := range r.Equal {
		if source.Labels[l] != target.Labels[l] {
			return false
		}
	}
	return true
}

// IsTarget reports whether a's labels match some rule's target matchers.
func IsTarget(rules []*InhibitRule, a Alert) bool {
	for _, r := range rules {
		if r.Target.Matches(a.Labels) {
			return true
		}
	}
	return false
}

// IsSource reports whether a's labels match some rule's source matchers.
func IsSource(rules []*InhibitRule, a Alert) bool {
	for _, r := range rules {
		if r.Source.Matches(a.Labels) {
			return true
		}
	}
	return false
}

// InhibitedBy returns the first of sources (firing alerts of target's
// tenant) that inhibits target, if any.
func InhibitedBy(rules []*InhibitRule, sources []Alert, target Alert) (Alert, bool) {
	for _, r := range rules {
		if !r.Target.Matches(target.Labels) {
			continue
		}
		for _, s := range sources {
			if r.Inhibits(s, target) {
				return s, true
			}
		}
	}
	return Alert{}, false
}

// Released returns the alerts of firing that source inhibited and that no
// other of them inhibits once source has resolved: those to tell their
// receivers now.
func Released(rules []*InhibitRule, firing []Alert, source Alert) []Alert {
	was := source
	was.Status = StatusFiring
	var others []Alert
	for _, a := range firing {
		if a.EpisodeID != source.EpisodeID {
			others = append(others, a)
		}
	}
	var out []Alert
	for _, a := range others {
		if a.Status != StatusFiring {
			continue
		}
		if _, before := InhibitedBy(rules, []Alert{was}, a); !before {
			continue
		}
		if _, still := InhibitedBy(rules, others, a); still {
			continue
		}
		out = append(out, a)
	}
	return out
}

// describe names an inhibiting alert in a log: its alertname, the labels
// the rule compares and its episode.
func (r *InhibitRule) describe(source Alert) string {
	var b strings.Builder
	b.WriteString(source.Labels["alertname"])
	b.WriteByte('{')
	names := append([]string(nil), r.Equal...)
	sort.Strings(names)
	for i, l := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l + "=" + source.Labels[l])
	}
	b.WriteString("} episode " + source.EpisodeID)
	return b.String()
}

// InhibitionReason says what inhibits target, for the notification log.
func InhibitionReason(rules []*InhibitRule, source, target Alert) string {
	for _, r := range rules {
		if r.Inhibits(source, target) {
			return "inhibited by " + r.describe(source)
		}
	}
	return "inhibited by episode " + source.EpisodeID
}
