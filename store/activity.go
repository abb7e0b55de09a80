package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of alert activity.
const (
	ActivityAck    = "ack"
	ActivityAssign = "assign"
	ActivityNote   = "note"
)

// Activity is one thing a person did with an alert episode: acknowledged
// it, assigned it, or wrote a note. Actor is who did it (the API key's
// name), never what the client said of itself.
type Activity struct {
	ID        int64  `json:"id"`
	Tenant    string `json:"tenant"`
	EpisodeID string `json:"episode_id"`
	Kind      string `json:"kind"`
	Actor     string `json:"actor"`
	// KeyID names the API key the action was taken with ("" without keys).
	KeyID    string `json:"key_id,omitempty"`
	Assignee string `json:"assignee,omitempty"`
	// Note is a note's text, or an ack's comment.
	Note string `json:"note,omitempty"`
	// ExpiresAt is when an ack stops holding; nil: until the episode
	// resolves.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	At        time.Time  `json:"at"`
}

const activitySelect = `id, tenant, episode_id, kind, actor, key_id, coalesce(assignee, ''), coalesce(note, ''), expires_at, at`

func scanActivity(row pgx.Row) (Activity, error) {
	var a Activity
	if err := row.Scan(&a.ID, &a.Tenant, &a.EpisodeID, &a.Kind, &a.Actor, &a.KeyID, &a.Assignee, &a.Note, &a.ExpiresAt, &a.At); err != nil {
		return a, err
	}
	a.At = a.At.UTC()
	if a.ExpiresAt != nil {
		u := a.ExpiresAt.UTC()
		a.ExpiresAt = &u
	}
	return a, nil
}

// AddActivity records a. An ack while an ack with the same expiry holds
// records nothing: it returns the ack in force and created false, so that
// a client may send an ack again without a second entry. Another ack
// (a new expiry, or after the last one expired) replaces the one in force.
// At is set by the store's clock.
func (s *Store) AddActivity(ctx context.Context, a Activity) (out Activity, created bool, err error) {
	switch a.Kind {
	case ActivityAck, ActivityAssign, ActivityNote:
	default:
		return Activity{}, false, fmt.Errorf("store: activity kind %q is not ack, assign or note", a.Kind)
	}
	a.At = s.opts.Now().UTC()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if a.Kind == ActivityAck {
			// One ack decision at a time per episode.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, a.Tenant+"/"+a.EpisodeID); err != nil {
				return err
			}
			cur, err := scanActivity(tx.QueryRow(ctx, `SELECT `+activitySelect+` FROM alert_activity
				WHERE id = (SELECT activity_id FROM alert_acks WHERE tenant = $1 AND episode_id = $2
				            AND (expires_at IS NULL OR expires_at > $3))`, a.Tenant, a.EpisodeID, a.At))
			switch {
			case err == nil && sameTime(cur.ExpiresAt, a.ExpiresAt):
				out = cur
				return nil
			case err != nil && !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		var err error
		out, err = scanActivity(tx.QueryRow(ctx, `INSERT INTO alert_activity (tenant, episode_id, kind, actor, key_id, assignee, note, expires_at, at)
			VALUES ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''), $8, $9) RETURNING `+activitySelect,
			a.Tenant, a.EpisodeID, a.Kind, a.Actor, a.KeyID, a.Assignee, a.Note, a.ExpiresAt, a.At))
		if err != nil {
			return err
		}
		created = true
		if a.Kind != ActivityAck {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO alert_acks (tenant, episode_id, actor, acked_at, expires_at, activity_id)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant, episode_id) DO UPDATE SET actor = EXCLUDED.actor, acked_at = EXCLUDED.acked_at,
				expires_at = EXCLUDED.expires_at, activity_id = EXCLUDED.activity_id`,
			out.Tenant, out.EpisodeID, out.Actor, out.At, out.ExpiresAt, out.ID)
		return err
	})
	if err != nil {
		return Activity{}, false, fmt.Errorf("store: record %s of episode %s: %w", a.Kind, a.EpisodeID, err)
	}
	return out, created, nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// AlertActivity returns an episode's activity, oldest first (none: an
// empty list).
func (s *Store) AlertActivity(ctx context.Context, tenant, episodeID string) ([]Activity, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+activitySelect+` FROM alert_activity
		WHERE tenant = $1 AND episode_id = $2 ORDER BY id LIMIT 10000`, tenant, episodeID)
	if err != nil {
		return nil, fmt.Errorf("store: query activity of episode %s: %w", episodeID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Activity, error) { return scanActivity(r) })
	if err != nil {
		return nil, fmt.Errorf("store: query activity of episode %s: %w", episodeID, err)
	}
	return out, nil
}

// Acknowledged returns, of tenant's episodes, those with an ack holding
// at the time at, each with when its ack expires (the zero time: when the
// episode resolves).
func (s *Store) Acknowledged(ctx context.Context, tenant string, episodes []string, at time.Time) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(episodes) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT episode_id, expires_at FROM alert_acks
		WHERE tenant = $1 AND episode_id = ANY($2) AND (expires_at IS NULL OR expires_at > $3)`, tenant, episodes, at)
	if err != nil {
		return nil, fmt.Errorf("store: query acks of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ep string
		var exp *time.Time
		if err := rows.Scan(&ep, &exp); err != nil {
			return nil, fmt.Errorf("store: scan ack: %w", err)
		}
		out[ep] = time.Time{}
		if exp != nil {
			out[ep] = exp.UTC()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query acks of tenant %s: %w", tenant, err)
	}
	return out, nil
}
