package store

import (
	"context"
	"fmt"
	"time"
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
