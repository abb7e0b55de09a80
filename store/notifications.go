package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notification records that a receiver's webhook accepted a notification
// telling an alert episode's state. (EpisodeID, State, Receiver,
// Integration) is its key: a transition read or emitted again is recognized
// by it and not sent twice.
type Notification struct {
	EpisodeID   string
	State       string
	Receiver    string
	Integration string
	Tenant      string
	GroupKey    string
	Fingerprint string
	SentAt      time.Time
}

// SentState is what one receiver's webhook was sent of an episode.
type SentState struct {
	Receiver    string
	Integration string
	State       string
}

// SentNotifications returns what every receiver was sent of a tenant's
// episode: another tenant's records never count, even under the same
// episode ID.
func (s *Store) SentNotifications(ctx context.Context, tenant, episodeID string) ([]SentState, error) {
	rows, err := s.pool.Query(ctx, `SELECT receiver, integration, state FROM notifications WHERE episode_id = $1 AND tenant = $2`, episodeID, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: notifications of episode %s: %w", episodeID, err)
	}
	defer rows.Close()
	var out []SentState
	for rows.Next() {
		var st SentState
		if err := rows.Scan(&st.Receiver, &st.Integration, &st.State); err != nil {
			return nil, fmt.Errorf("store: scan notification: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// RecordNotifications stores what was sent, idempotently (a row that is
// there already keeps its first sent_at).
func (s *Store) RecordNotifications(ctx context.Context, ns []Notification) error {
	if len(ns) == 0 {
		return nil
	}
	cols := make([][]string, 7)
	sent := make([]time.Time, len(ns))
	for i, n := range ns {
		for j, v := range []string{n.EpisodeID, n.State, n.Receiver, n.Integration, n.Tenant, n.GroupKey, n.Fingerprint} {
			cols[j] = append(cols[j], v)
		}
		sent[i] = n.SentAt
		if sent[i].IsZero() {
			sent[i] = s.opts.Now()
		}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO notifications (episode_id, state, receiver, integration, tenant, group_key, fingerprint, sent_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
		ON CONFLICT DO NOTHING`, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], sent)
	if err != nil {
		return fmt.Errorf("store: record %d notifications: %w", len(ns), err)
	}
	return nil
}

// FiringAlert is an alert the notify stage holds as firing for inhibition:
// Alert is its JSON as the notifier wrote it.
type FiringAlert struct {
	EpisodeID string
	Alert     []byte
}

// FiringAlerts returns a tenant's firing alerts as the notify stage
// recorded them (at most limit, oldest first).
func (s *Store) FiringAlerts(ctx context.Context, tenant string, limit int) ([]FiringAlert, error) {
	rows, err := s.pool.Query(ctx, `SELECT episode_id, alert FROM notify_firing WHERE tenant = $1 ORDER BY updated_at, episode_id LIMIT $2`, tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("store: firing alerts of %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []FiringAlert
	for rows.Next() {
		var f FiringAlert
		if err := rows.Scan(&f.EpisodeID, &f.Alert); err != nil {
			return nil, fmt.Errorf("store: scan firing alert: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// SetFiring records a tenant's episode as firing (alert is its JSON), or,
// with alert nil, as no longer firing.
func (s *Store) SetFiring(ctx context.Context, tenant, episodeID string, alert []byte) error {
	var err error
	if alert == nil {
		_, err = s.pool.Exec(ctx, `DELETE FROM notify_firing WHERE tenant = $1 AND episode_id = $2`, tenant, episodeID)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO notify_firing (tenant, episode_id, alert, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant, episode_id) DO UPDATE SET alert = EXCLUDED.alert`, tenant, episodeID, alert, s.opts.Now())
	}
	if err != nil {
		return fmt.Errorf("store: firing state of %s/%s: %w", tenant, episodeID, err)
	}
	return nil
}

// Outcomes of the notification log.
const (
	OutcomeSent      = "sent"
	OutcomeFailed    = "failed"
	OutcomeSilenced  = "silenced"
	OutcomeInhibited = "inhibited"
	OutcomeMuted     = "muted"
	OutcomeFlapping  = "flapping"
	OutcomeRefused   = "refused"
)

// NotificationOutcomes lists the outcomes a log entry may have.
func NotificationOutcomes() []string {
	return []string{OutcomeSent, OutcomeFailed, OutcomeSilenced, OutcomeInhibited, OutcomeMuted, OutcomeFlapping, OutcomeRefused}
}

// LogEntry is one decision or delivery attempt of the notify stage.
type LogEntry struct {
	ID          int64     `json:"id"`
	Tenant      string    `json:"tenant"`
	EpisodeID   string    `json:"episode_id"`
	State       string    `json:"state"`
	AlertName   string    `json:"alertname"`
	Receiver    string    `json:"receiver"`
	Integration string    `json:"integration"`
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason"`
	GroupKey    string    `json:"group_key"`
	At          time.Time `json:"at"`
	// Dedup, when set, makes the entry a decision logged once per tenant
	// however often its transition is read.
	Dedup string `json:"-"`
}

// LogNotifications appends entries to the notification log; a decision
// logged before (same tenant and Dedup) is not logged again.
func (s *Store) LogNotifications(ctx context.Context, es []LogEntry) error {
	if len(es) == 0 {
		return nil
	}
	cols := make([][]string, 9)
	at := make([]time.Time, len(es))
	dedup := make([]*string, len(es))
	for i, e := range es {
		for j, v := range []string{e.Tenant, e.EpisodeID, e.State, e.AlertName, e.Receiver, e.Integration, e.Outcome, e.Reason, e.GroupKey} {
			cols[j] = append(cols[j], v)
		}
		at[i] = e.At
		if at[i].IsZero() {
			at[i] = s.opts.Now()
		}
		if e.Dedup != "" {
			dedup[i] = &es[i].Dedup
		}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO notification_log (tenant, episode_id, state, alertname, receiver, integration, outcome, reason, group_key, at, dedup)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::text[])
		ON CONFLICT DO NOTHING`, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], at, dedup)
	if err != nil {
		return fmt.Errorf("store: log %d notifications: %w", len(es), err)
	}
	return nil
}

// LogQuery selects a tenant's notification log, newest first.
type LogQuery struct {
	Tenant    string
	EpisodeID string
	Receiver  string
	// Before, when set, continues a page: entries with a smaller ID.
	Before int64
	Limit  int
}

// QueryNotificationLog returns a page of the log and, when there is more,
// the ID to continue before.
func (s *Store) QueryNotificationLog(ctx context.Context, q LogQuery) ([]LogEntry, int64, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, episode_id, state, alertname, receiver, integration, outcome, reason, group_key, at
		FROM notification_log WHERE tenant = $1 AND ($2 = '' OR episode_id = $2) AND ($3 = '' OR receiver = $3) AND ($4 = 0 OR id < $4)
		ORDER BY id DESC LIMIT $5`, q.Tenant, q.EpisodeID, q.Receiver, q.Before, q.Limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("store: notification log of %s: %w", q.Tenant, err)
	}
	defer rows.Close()
	out := []LogEntry{}
	for rows.Next() {
		var e LogEntry
		if err := rows.Scan(&e.ID, &e.Tenant, &e.EpisodeID, &e.State, &e.AlertName, &e.Receiver, &e.Integration, &e.Outcome, &e.Reason, &e.GroupKey, &e.At); err != nil {
			return nil, 0, fmt.Errorf("store: scan notification log: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// FlapState is the notify stage's flapping state of a tenant's alert
// (State is its JSON).
type FlapState struct {
	Tenant      string
	Fingerprint string
	State       []byte
	// UpdatedAt is when the notify stage last recorded the state.
	UpdatedAt time.Time
}

// FlapState returns the flapping state of a tenant's alert, nil when none.
func (s *Store) FlapState(ctx context.Context, tenant, fingerprint string) ([]byte, error) {
	var st []byte
	err := s.pool.QueryRow(ctx, `SELECT state FROM notify_flapping WHERE tenant = $1 AND fingerprint = $2`, tenant, fingerprint).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: flapping state of %s/%s: %w", tenant, fingerprint, err)
	}
	return st, nil
}

// SetFlapState stores the flapping state of a tenant's alert.
func (s *Store) SetFlapState(ctx context.Context, tenant, fingerprint string, state []byte, flapping bool) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO notify_flapping (tenant, fingerprint, state, flapping, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant, fingerprint) DO UPDATE SET state = EXCLUDED.state, flapping = EXCLUDED.flapping, updated_at = EXCLUDED.updated_at`,
		tenant, fingerprint, state, flapping, s.opts.Now())
	if err != nil {
		return fmt.Errorf("store: flapping state of %s/%s: %w", tenant, fingerprint, err)
	}
	return nil
}

// EndFlapping stores the state of a tenant's alert that stopped flapping
// in place of was (the state as FlapState read it), and reports whether
// it did: false when the stored state is no longer was.
func (s *Store) EndFlapping(ctx context.Context, tenant, fingerprint string, was, state []byte) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE notify_flapping SET state = $4, flapping = false, updated_at = $5
		WHERE tenant = $1 AND fingerprint = $2 AND state = $3::jsonb`, tenant, fingerprint, was, state, s.opts.Now())
	if err != nil {
		return false, fmt.Errorf("store: end the flapping of %s/%s: %w", tenant, fingerprint, err)
	}
	return tag.RowsAffected() == 1, nil
}

// FlappingAlerts returns the states of the alerts flapping now, of every
// tenant (at most limit).
func (s *Store) FlappingAlerts(ctx context.Context, limit int) ([]FlapState, error) {
	return s.flappingAlerts(ctx, `SELECT tenant, fingerprint, state, updated_at FROM notify_flapping WHERE flapping ORDER BY updated_at LIMIT $1`, limit)
}

// TenantFlappingAlerts returns the states of a tenant's alerts flapping
// now, as the notify stage last recorded them (at most limit), the latest
// recorded first.
func (s *Store) TenantFlappingAlerts(ctx context.Context, tenant string, limit int) ([]FlapState, error) {
	return s.flappingAlerts(ctx, `SELECT tenant, fingerprint, state, updated_at FROM notify_flapping WHERE tenant = $1 AND flapping
		ORDER BY updated_at DESC, fingerprint LIMIT $2`, tenant, limit)
}

func (s *Store) flappingAlerts(ctx context.Context, query string, args ...any) ([]FlapState, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: flapping alerts: %w", err)
	}
	defer rows.Close()
	var out []FlapState
	for rows.Next() {
		var f FlapState
		if err := rows.Scan(&f.Tenant, &f.Fingerprint, &f.State, &f.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: scan flapping state: %w", err)
		}
		f.UpdatedAt = f.UpdatedAt.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}
