package notify

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/eventops/eventops/rules"
)

// Alert statuses in a notification.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Alert is one alert episode's state as a receiver is told about it.
type Alert struct {
	// EpisodeID identifies the episode (rules.Transition.EpisodeID).
	EpisodeID string
	Tenant    string
	// Status is firing or resolved.
	Status      string
	Labels      map[string]string
	Annotations map[string]string
	StartsAt    time.Time
	// EndsAt is when a resolved alert ended; zero while firing.
	EndsAt time.Time
	// GeneratorURL links to the episode in the EventOps API.
	GeneratorURL string
	// Fingerprint is Alertmanager's fingerprint of the labels (16 hex
	// digits), the same for every episode of one rule on one source.
	Fingerprint string
	// Resend marks a reminder of a firing alert from the rule engine.
	Resend bool
	// Explanation is why the transition happened, sent along for receivers
	// that read it (nil for transitions without one).
	Explanation *rules.Explanation
	// RuleID is the rule's (its flapping option applies).
	RuleID rules.RuleID
	// At is the event time of the transition.
	At time.Time
	// Flapping marks the summary of an alert that started flapping.
	Flapping bool
}

// FromTransition converts a transition; ok is false for the states
// receivers are not told about (pending, inactive).
func FromTransition(tr *rules.Transition, externalURL string) (a Alert, ok bool) {
	switch tr.State {
	case rules.StateFiring, rules.StateResolved:
	default:
		return Alert{}, false
	}
	labels := make(map[string]string, len(tr.Labels)+4)
	for k, v := range tr.Labels {
		labels[k] = v
	}
	// The transition's labels carry these already; a hand-written record
	// may not.
	for k, v := range map[string]string{"alertname": tr.AlertName, "tenant": tr.Tenant, "host": tr.Host, "severity": tr.Severity} {
		if _, has := labels[k]; !has && v != "" {
			labels[k] = v
		}
	}
	annotations := make(map[string]string, len(tr.Annotations))
	for k, v := range tr.Annotations {
		annotations[k] = v
	}
	a = Alert{
		EpisodeID: tr.EpisodeID, Tenant: tr.Tenant, Status: tr.State, Labels: labels, Annotations: annotations,
		StartsAt: tr.StartsAt.Time(), Fingerprint: Fingerprint(labels), Resend: tr.Resend, Explanation: tr.Explanation,
		RuleID: tr.RuleID, At: tr.At.Time(),
	}
	if tr.State == rules.StateResolved {
		a.EndsAt = tr.At.Time()
		if tr.EndsAt != nil {
			a.EndsAt = tr.EndsAt.Time()
		}
	}
	if externalURL != "" {
		a.GeneratorURL = strings.TrimRight(externalURL, "/") + "/alerts/" + url.PathEscape(tr.EpisodeID) +
			"?tenant=" + url.QueryEscape(tr.Tenant)
	}
	return a, true
}

// Fingerprint is Alertmanager's label fingerprint: FNV-64a over the sorted
// label names and values, as 16 hex digits.
func Fingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

// labelString writes labels as {a="x", b="y"}, sorted by name, the way
// Alertmanager writes a group key.
func labelString(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(labels[k]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
