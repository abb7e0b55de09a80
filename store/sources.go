package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Source is one (tenant, source) that sent metrics.
type Source struct {
	Tenant string `json:"tenant"`
	Host   string `json:"host"`
	// FirstSeen and LastSeen are the oldest and newest event times stored.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Meta is the source's metadata at its newest event, if it has any.
	Meta json.RawMessage `json:"meta,omitempty"`
	// UpdatedAt is when a write last changed the row.
	UpdatedAt time.Time `json:"updated_at"`
}

// SourceQuery selects the sources of a tenant, by host name.
type SourceQuery struct {
	Tenant string
	// After, if set, starts after that host.
	After string
	// Limit is the page size (default 1000).
	Limit int
}

// QuerySources returns one page of q's sources and the host to continue
// after ("" when none follow).
func (s *Store) QuerySources(ctx context.Context, q SourceQuery) ([]Source, string, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT tenant, source_id, first_seen, last_seen, meta, updated_at FROM sources
		WHERE tenant = $1 AND source_id > $2 ORDER BY source_id LIMIT $3`, q.Tenant, q.After, q.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("store: query sources: %w", err)
	}
	defer rows.Close()
	out := []Source{}
	for rows.Next() {
		var src Source
		var meta []byte
		if err := rows.Scan(&src.Tenant, &src.Host, &src.FirstSeen, &src.LastSeen, &meta, &src.UpdatedAt); err != nil {
			return nil, "", fmt.Errorf("store: scan source: %w", err)
		}
		src.FirstSeen, src.LastSeen, src.UpdatedAt = src.FirstSeen.UTC(), src.LastSeen.UTC(), src.UpdatedAt.UTC()
		if len(meta) > 0 {
			src.Meta = meta
		}
		out = append(out, src)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: query sources: %w", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[q.Limit-1].Host
	}
	return out, next, nil
}

// Tenant is one tenant with sources.
type Tenant struct {
	Tenant   string    `json:"tenant"`
	Sources  int64     `json:"sources"`
	LastSeen time.Time `json:"last_seen"`
}

// Tenants lists every tenant that has sources, by name.
func (s *Store) Tenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, count(*), max(last_seen) FROM sources GROUP BY tenant ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("store: query tenants: %w", err)
	}
	defer rows.Close()
	out := []Tenant{}
	for rows.Next() {
		var t Tenant
		if err := rows.Scan(&t.Tenant, &t.Sources, &t.LastSeen); err != nil {
			return nil, fmt.Errorf("store: scan tenant: %w", err)
		}
		t.LastSeen = t.LastSeen.UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}
