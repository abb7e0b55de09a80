package rules

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/eventops/eventops/features"
)

// Transition states, the "state" field of a Transition.
const (
	StatePending  = "pending"  // the condition holds; for has not elapsed
	StateFiring   = "firing"   // the alert fires (or, with resend, is reminded)
	StateResolved = "resolved" // a firing alert ended
	StateInactive = "inactive" // a pending episode ended without firing
)

// Reasons an alert ended other than by its condition, the "reason" field of
// a resolved or inactive Transition.
const (
	ReasonRuleRemoved    = "rule_removed"    // a reload removed the rule
	ReasonRuleChanged    = "rule_changed"    // a reload changed the rule: its group has another rule of that name
	ReasonTenantExcluded = "tenant_excluded" // the rule's group no longer applies to the tenant
	ReasonSeriesGone     = "series_gone"     // the source no longer has the alert's series
)

// Transition is a change of an alert's lifecycle, published as JSON to
// ops.alert.v1 (key tenant/host). Notifiers act on firing and resolved;
// pending and inactive let dashboards show what is about to fire.
type Transition struct {
	// AlertName is the rule's alert name.
	AlertName string `json:"alertname"`
	// RuleID is the rule's definition hash (16 hex digits).
	RuleID RuleID `json:"rule_id"`
	// Group is the rule's group name.
	Group string `json:"group"`
	// Tenant and Host are the source.
	Tenant string `json:"tenant"`
	Host   string `json:"host"`
	// State is pending, firing, resolved or inactive.
	State string `json:"state"`
	// Resend marks a reminder of a firing alert (only with a resend interval).
	Resend bool `json:"resend,omitempty"`
	// Severity is the severity label: critical, warning or info.
	Severity string `json:"severity"`
	// Labels are the series' tags, the rule labels (which win over a tag
	// of the same name), alertname, tenant, host and severity.
	Labels map[string]string `json:"labels"`
	// Tags are the tags of the alert's series (absent for a series without
	// tags); they are among Labels too, unless a rule label of that name
	// wins.
	Tags map[string]string `json:"tags,omitempty"`
	// Annotations are the rule's annotation templates, rendered.
	Annotations map[string]string `json:"annotations"`
	// Value is the rule's value at the decision: the left-hand side of the
	// top comparison of expr (null when not a finite number).
	Value features.Float `json:"value"`
	// Features are the features the rule read, by name (avg(cpu_load,5m)),
	// null for those without data.
	Features map[string]features.Float `json:"features"`
	// ActiveAt is when the condition became true (the episode's pending-since).
	ActiveAt Timestamp `json:"active_at"`
	// StartsAt is when the alert fired; for pending and inactive, ActiveAt.
	StartsAt Timestamp `json:"starts_at"`
	// EndsAt is when the alert resolved or the pending episode ended; absent
	// otherwise.
	EndsAt *Timestamp `json:"ends_at,omitempty"`
	// EpisodeID identifies the episode (16 hex digits); all transitions of an
	// episode share it and a replay derives the same one.
	EpisodeID string `json:"episode_id"`
	// At is the event time the transition was decided at.
	At Timestamp `json:"at"`
	// Reason says why an alert ended other than by its condition
	// (rule_removed, rule_changed, tenant_excluded); absent otherwise.
	Reason string `json:"reason,omitempty"`
	// Shadow marks a transition of a rule in shadow mode (mode: shadow):
	// stored and streamed like any other, never sent to receivers.
	Shadow bool `json:"shadow,omitempty"`
	// Explanation says why, from what the rule read when it decided (see
	// Explanation); absent in transitions written before it existed.
	Explanation *Explanation `json:"explanation,omitempty"`
}

// transition builds the notification of a state change.
func (r *Rule) transition(src Source, st State, state string, res Result, now int64) *Transition {
	value := st.Value
	if len(res.Values) > 0 {
		if v := r.value(res.Values); !math.IsNaN(v) || state == StateResolved {
			value = v
		}
	}
	st.Value = value
	tr := newTransition(r.id, r.ident, src, st, state, now)
	tr.Shadow = r.shadow
	feats := make(map[string]float64, len(r.features))
	for i, f := range r.features {
		v := math.NaN()
		if i < len(res.Values) {
			v = res.Values[i]
		}
		tr.Features[f.String()] = features.Float(v)
		feats[f.String()] = v
	}
	data := &templateData{Labels: tr.Labels, Value: value, Meta: src.Meta.templateValue(), Features: feats}
	for _, a := range r.annotations {
		tr.Annotations[a.name] = a.render(data)
	}
	return tr
}

// newTransition builds a transition of rule id, whose identity is ident,
// for st: everything but the features and annotations, left empty.
func newTransition(id RuleID, ident *Identity, src Source, st State, state string, now int64) *Transition {
	labels := ident.labelMap(src.Tenant, src.Host, st.Series)
	tr := &Transition{
		RuleID:      id,
		Tenant:      src.Tenant,
		Host:        src.Host,
		State:       state,
		Severity:    labels[LabelSeverity],
		Labels:      labels,
		Value:       features.Float(st.Value),
		Features:    map[string]features.Float{},
		Annotations: map[string]string{},
		ActiveAt:    Timestamp(st.ActiveSince),
		StartsAt:    Timestamp(st.ActiveSince),
		EpisodeID:   formatEpisode(st.Episode),
		At:          Timestamp(now),
	}
	if ident != nil {
		tr.AlertName, tr.Group = ident.Name, ident.Group
	}
	if len(st.Series) > 0 {
		tr.Tags = make(map[string]string, len(st.Series))
		for _, l := range st.Series {
			tr.Tags[l.Name] = l.Value
		}
	}
	if st.Phase == Firing {
		tr.StartsAt = Timestamp(st.FiringSince)
	}
	if state == StateResolved || state == StateInactive {
		end := Timestamp(now)
		tr.EndsAt = &end
	}
	return tr
}

func formatEpisode(id uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return hex.EncodeToString(b[:])
}

// Timestamp is a time in unix milliseconds, written in JSON as RFC 3339 in
// UTC with milliseconds ("2025-10-21T10:00:00.000Z").
type Timestamp int64

const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// Time converts the timestamp.
func (t Timestamp) Time() time.Time { return time.UnixMilli(int64(t)).UTC() }

func (t Timestamp) String() string { return t.Time().Format(timestampLayout) }

// MarshalJSON writes the RFC 3339 form.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.String() + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	*t = Timestamp(tm.UnixMilli())
	return nil
}
