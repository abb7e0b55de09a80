package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// Silence is a tenant's silence: alerts its matchers match are not sent
// to receivers between StartsAt and EndsAt. Matchers are in the canonical
// notation of package notify (name="value", name=~"regexp", ...).
type Silence struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// States of a silence at a time.
const (
	SilencePending = "pending"
	SilenceActive  = "active"
	SilenceExpired = "expired"
)

// SilenceStates lists the states SilenceQuery.State accepts.
func SilenceStates() []string { return []string{SilencePending, SilenceActive, SilenceExpired} }

// State returns the silence's state at now.
func (s Silence) State(now time.Time) string {
	switch {
	case !now.Before(s.EndsAt):
		return SilenceExpired
	case now.Before(s.StartsAt):
		return SilencePending
	}
	return SilenceActive
}

// SilenceQuery selects a tenant's silences, newest first.
type SilenceQuery struct {
	Tenant string
	// State, if set, keeps the silences in that state now.
	State string
	// Limit caps the answer (default 1000).
	Limit int
}

const silenceSelect = `id::text, tenant, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at`

func scanSilence(row pgx.Row) (Silence, error) {
	var s Silence
	var matchers []byte
	if err := row.Scan(&s.ID, &s.Tenant, &matchers, &s.StartsAt, &s.EndsAt, &s.CreatedBy, &s.Comment, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return s, err
	}
	if err := json.Unmarshal(matchers, &s.Matchers); err != nil {
		return s, fmt.Errorf("decode matchers of silence %s: %w", s.ID, err)
	}
	for _, t := range []*time.Time{&s.StartsAt, &s.EndsAt, &s.CreatedAt, &s.UpdatedAt} {
		*t = t.UTC()
	}
	return s, nil
}

// CreateSilence stores a new silence and returns it with its ID. The
// caller validates it (matchers parse, EndsAt after StartsAt).
func (s *Store) CreateSilence(ctx context.Context, sil Silence) (Silence, error) {
	if sil.Tenant == "" || len(sil.Matchers) == 0 || sil.EndsAt.Before(sil.StartsAt) {
		return Silence{}, errors.New("store: a silence needs a tenant, matchers and ends_at not before starts_at")
	}
	matchers, err := json.Marshal(sil.Matchers)
	if err != nil {
		return Silence{}, err
	}
	row := s.pool.QueryRow(ctx, `INSERT INTO silences (tenant, matchers, starts_at, ends_at, created_by, comment)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+silenceSelect,
		sil.Tenant, matchers, sil.StartsAt, sil.EndsAt, sil.CreatedBy, sil.Comment)
	out, err := scanSilence(row)
	if err != nil {
		return Silence{}, fmt.Errorf("store: create silence of %s: %w", sil.Tenant, err)
	}
	return out, nil
}

// QuerySilences returns a tenant's silences, newest first.
func (s *Store) QuerySilences(ctx context.Context, q SilenceQuery) ([]Silence, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var a sqlArgs
	where := "tenant = " + a.arg(q.Tenant)
	switch q.State {
	case "":
	case SilencePending:
		where += " AND starts_at > " + a.arg(s.opts.Now())
	case SilenceActive:
		now := a.arg(s.opts.Now())
		where += " AND starts_at <= " + now + " AND ends_at > " + now
	case SilenceExpired:
		where += " AND ends_at <= " + a.arg(s.opts.Now())
	default:
		return nil, fmt.Errorf("store: unknown silence state %q", q.State)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+silenceSelect+` FROM silences WHERE `+where+
		` ORDER BY created_at DESC, id LIMIT `+a.arg(q.Limit), a.args...)
	if err != nil {
		return nil, fmt.Errorf("store: query silences of %s: %w", q.Tenant, err)
	}
	defer rows.Close()
	out := []Silence{}
	for rows.Next() {
		sil, err := scanSilence(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan silence: %w", err)
		}
		out = append(out, sil)
	}
	return out, rows.Err()
}

// ActiveSilences returns the silences of tenant in force at at.
func (s *Store) ActiveSilences(ctx context.Context, tenant string, at time.Time) ([]Silence, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+silenceSelect+` FROM silences
		WHERE tenant = $1 AND ends_at > $2 AND starts_at <= $2 ORDER BY id`, tenant, at)
	if err != nil {
		return nil, fmt.Errorf("store: active silences of %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []Silence
	for rows.Next() {
		sil, err := scanSilence(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan silence: %w", err)
		}
		out = append(out, sil)
	}
	return out, rows.Err()
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ExpireSilence ends tenant's silence id now (a pending one never starts)
// and returns it; a silence expired already is returned as it is. It
// returns ErrNoRows when tenant has no such silence.
func (s *Store) ExpireSilence(ctx context.Context, tenant, id string) (Silence, error) {
	if !uuidPattern.MatchString(id) {
		return Silence{}, fmt.Errorf("store: silence %s of tenant %s: %w", id, tenant, ErrNoRows)
	}
	now := s.opts.Now()
	sil, err := scanSilence(s.pool.QueryRow(ctx, `UPDATE silences
		SET starts_at = LEAST(starts_at, $3), ends_at = $3, updated_at = now()
		WHERE id = $1::uuid AND tenant = $2 AND ends_at > $3 RETURNING `+silenceSelect, id, tenant, now))
	if errors.Is(err, pgx.ErrNoRows) {
		sil, err = scanSilence(s.pool.QueryRow(ctx, `SELECT `+silenceSelect+` FROM silences WHERE id = $1::uuid AND tenant = $2`, id, tenant))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Silence{}, fmt.Errorf("store: silence %s of tenant %s: %w", id, tenant, ErrNoRows)
	}
	if err != nil {
		return Silence{}, fmt.Errorf("store: expire silence %s: %w", id, err)
	}
	return sil, nil
}
