package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Alert is one alert transition as the history API shows it.
type Alert struct {
	// ID is the row's id; with Ts it orders the history (newest first).
	ID        int64             `json:"-"`
	EpisodeID string            `json:"episode_id"`
	Tenant    string            `json:"tenant"`
	Host      string            `json:"host"`
	AlertName string            `json:"alertname"`
	State     string            `json:"state"`
	Severity  string            `json:"severity"`
	Value     *float64          `json:"value"`
	Message   string            `json:"message"`
	Metric    string            `json:"metric,omitempty"`
	Ts        time.Time         `json:"ts"`
	StartsAt  *time.Time        `json:"starts_at,omitempty"`
	EndsAt    *time.Time        `json:"ends_at,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Tags are the tags of the alert's series (also among Labels).
	Tags        map[string]string `json:"tags,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Reason says why an alert ended other than by its condition (its
	// rule was removed or changed, or no longer applies to the tenant).
	Reason string `json:"reason,omitempty"`
	// Features are the features the rule read (episode view only).
	Features map[string]*float64 `json:"features,omitempty"`
	// Explanation is why the transition happened (rules.Explanation's
	// JSON), absent for rows written before transitions carried one.
	Explanation json.RawMessage `json:"explanation,omitempty"`
	// Shadow marks a transition of a rule in shadow mode: stored, never
	// sent to receivers.
	Shadow bool `json:"shadow,omitempty"`
}

// AlertKey is a position in the alert history: the (ts, id) of a row.
type AlertKey struct {
	Ts time.Time
	ID int64
}

// AlertQuery selects alert transitions of one tenant, newest first.
type AlertQuery struct {
	Tenant   string
	Host     string
	State    string
	Severity string
	// From and To bound ts (To exclusive); zero means unbounded.
	From, To time.Time
	// Shadow selects by the rule's mode: "" both, ShadowOnly the
	// transitions of shadow rules, ShadowExclude those of live ones.
	Shadow string
	// Limit is the page size (default 100).
	Limit int
	// After, if set, starts the page after that row.
	After *AlertKey
}

// Values of AlertQuery.Shadow.
const (
	ShadowOnly    = "only"
	ShadowExclude = "exclude"
)

// AlertPage is one page of alert transitions; Next is set when more follow.
type AlertPage struct {
	Alerts []Alert
	Next   *AlertKey
}

const alertSelect = `id, coalesce(episode_id, ''), coalesce(tenant, ''), coalesce(source_id, ''),
	coalesce(alertname, rule, ''), coalesce(state, ''), coalesce(severity, ''), value, coalesce(message, ''),
	coalesce(metric, ''), ts, starts_at, ends_at, labels, payload->'tags', annotations, coalesce(payload->>'reason', ''), explanation, shadow`

func scanAlert(row pgx.Row, features bool) (Alert, error) {
	var a Alert
	var labels, tags, annotations, feats, expl []byte
	dest := []any{&a.ID, &a.EpisodeID, &a.Tenant, &a.Host, &a.AlertName, &a.State, &a.Severity, &a.Value,
		&a.Message, &a.Metric, &a.Ts, &a.StartsAt, &a.EndsAt, &labels, &tags, &annotations, &a.Reason, &expl, &a.Shadow}
	if features {
		dest = append(dest, &feats)
	}
	if err := row.Scan(dest...); err != nil {
		return a, err
	}
	a.Ts = a.Ts.UTC()
	if len(expl) > 0 {
		a.Explanation = expl
	}
	for _, t := range []**time.Time{&a.StartsAt, &a.EndsAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	for _, j := range []struct {
		b []byte
		v any
	}{{labels, &a.Labels}, {tags, &a.Tags}, {annotations, &a.Annotations}, {feats, &a.Features}} {
		if len(j.b) > 0 {
			if err := json.Unmarshal(j.b, j.v); err != nil {
				return a, fmt.Errorf("decode alert %d: %w", a.ID, err)
			}
		}
	}
	return a, nil
}

// QueryAlerts returns one page of q.
func (s *Store) QueryAlerts(ctx context.Context, q AlertQuery) (AlertPage, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var a sqlArgs
	where := "tenant = " + a.arg(q.Tenant)
	if q.Host != "" {
		where += " AND source_id = " + a.arg(q.Host)
	}
	if q.State != "" {
		where += " AND state = " + a.arg(q.State)
	}
	if q.Severity != "" {
		where += " AND severity = " + a.arg(q.Severity)
	}
	switch q.Shadow {
	case ShadowOnly:
		where += " AND shadow"
	case ShadowExclude:
		where += " AND NOT shadow"
	}
	if !q.From.IsZero() {
		where += " AND ts >= " + a.arg(q.From)
	}
	if !q.To.IsZero() {
		where += " AND ts < " + a.arg(q.To)
	}
	if q.After != nil {
		where += " AND (ts, id) < (" + a.arg(q.After.Ts) + ", " + a.arg(q.After.ID) + "::bigint)"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+alertSelect+` FROM alerts WHERE `+where+`
		ORDER BY ts DESC, id DESC LIMIT `+a.arg(q.Limit+1), a.args...)
	if err != nil {
		return AlertPage{}, fmt.Errorf("store: query alerts: %w", err)
	}
	defer rows.Close()
	page := AlertPage{Alerts: []Alert{}}
	for rows.Next() {
		a, err := scanAlert(rows, false)
		if err != nil {
			return AlertPage{}, fmt.Errorf("store: scan alert: %w", err)
		}
		page.Alerts = append(page.Alerts, a)
	}
	if err := rows.Err(); err != nil {
		return AlertPage{}, fmt.Errorf("store: query alerts: %w", err)
	}
	if len(page.Alerts) > q.Limit {
		page.Alerts = page.Alerts[:q.Limit]
		last := page.Alerts[q.Limit-1]
		page.Next = &AlertKey{Ts: last.Ts, ID: last.ID}
	}
	return page, nil
}

// Episode is one alert episode: from pending (or firing) to resolved (or
// inactive), with every transition oldest first.
type Episode struct {
	EpisodeID string            `json:"episode_id"`
	Tenant    string            `json:"tenant"`
	Host      string            `json:"host"`
	AlertName string            `json:"alertname"`
	Severity  string            `json:"severity"`
	State     string            `json:"state"`
	StartsAt  *time.Time        `json:"starts_at,omitempty"`
	EndsAt    *time.Time        `json:"ends_at,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Shadow marks an episode of a rule in shadow mode (as its newest
	// transition says: a promotion goes on with the same episode).
	Shadow bool `json:"shadow,omitempty"`
	// Transitions are the episode's transitions, oldest first.
	Transitions []Alert `json:"transitions"`
}

// AlertEpisode returns the episode of tenant with that id, or ErrNoRows.
func (s *Store) AlertEpisode(ctx context.Context, tenant, episodeID string) (Episode, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertSelect+`, features FROM alerts
		WHERE episode_id = $1 AND tenant = $2 ORDER BY ts, id`, episodeID, tenant)
	if err != nil {
		return Episode{}, fmt.Errorf("store: query episode: %w", err)
	}
	defer rows.Close()
	ep := Episode{EpisodeID: episodeID, Transitions: []Alert{}}
	for rows.Next() {
		a, err := scanAlert(rows, true)
		if err != nil {
			return Episode{}, fmt.Errorf("store: scan alert: %w", err)
		}
		ep.Transitions = append(ep.Transitions, a)
	}
	if err := rows.Err(); err != nil {
		return Episode{}, fmt.Errorf("store: query episode: %w", err)
	}
	if len(ep.Transitions) == 0 {
		return Episode{}, fmt.Errorf("store: alert episode %s of tenant %s: %w", episodeID, tenant, ErrNoRows)
	}
	last := ep.Transitions[len(ep.Transitions)-1]
	ep.Tenant, ep.Host, ep.AlertName, ep.Severity, ep.State, ep.Labels, ep.Shadow = last.Tenant, last.Host, last.AlertName, last.Severity, last.State, last.Labels, last.Shadow
	for _, t := range ep.Transitions {
		if t.StartsAt != nil && ep.StartsAt == nil {
			ep.StartsAt = t.StartsAt
		}
		if t.EndsAt != nil {
			ep.EndsAt = t.EndsAt
		}
	}
	return ep, nil
}
