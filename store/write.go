package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const stagingDDL = `
CREATE TEMP TABLE IF NOT EXISTS metrics_stage (
  ts timestamptz, tenant text, source_id text, metric text, value float8,
  unit text, tags jsonb, meta jsonb, ingested_at timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS alerts_stage (
  ts timestamptz, tenant text, source_id text, metric text, severity text, rule text,
  value float8, message text, tags jsonb, episode_id text, state text, alertname text,
  rule_id text, labels jsonb, annotations jsonb, features jsonb, starts_at timestamptz,
  ends_at timestamptz, payload jsonb
) ON COMMIT DELETE ROWS;`

// MetricRow is one row of metrics.
type MetricRow struct {
	Ts       time.Time
	Tenant   string
	SourceID string
	Metric   string
	Value    float64
	Unit     string
	// Tags and Meta are JSON objects (Meta may be nil).
	Tags       []byte
	Meta       []byte
	IngestedAt time.Time
}

// AlertRow is one alert transition.
type AlertRow struct {
	Ts          time.Time
	Tenant      string
	SourceID    string
	Metric      string
	Severity    string
	Rule        string
	Value       *float64
	Message     string
	Tags        []byte
	EpisodeID   string
	State       string
	AlertName   string
	RuleID      string
	Labels      []byte
	Annotations []byte
	Features    []byte
	StartsAt    *time.Time
	EndsAt      *time.Time
	// Payload is the whole transition as it travelled on ops.alert.v1.
	Payload []byte
}

// BadRow is a row PostgreSQL refused, with its error.
type BadRow struct {
	Index int
	Err   error
}

var metricCols = []string{"ts", "tenant", "source_id", "metric", "value", "unit", "tags", "meta", "ingested_at"}

var alertCols = []string{"ts", "tenant", "source_id", "metric", "severity", "rule", "value", "message", "tags",
	"episode_id", "state", "alertname", "rule_id", "labels", "annotations", "features", "starts_at", "ends_at", "payload"}

func jsonOrNil(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func (r *MetricRow) values() []any {
	tags := jsonOrNil(r.Tags)
	if tags == nil {
		tags = "{}"
	}
	return []any{r.Ts, r.Tenant, r.SourceID, r.Metric, r.Value, r.Unit, tags, jsonOrNil(r.Meta), r.IngestedAt}
}

func (r *AlertRow) values() []any {
	return []any{r.Ts, r.Tenant, r.SourceID, r.Metric, r.Severity, r.Rule, r.Value, r.Message, jsonOrNil(r.Tags),
		r.EpisodeID, r.State, r.AlertName, r.RuleID, jsonOrNil(r.Labels), jsonOrNil(r.Annotations), jsonOrNil(r.Features),
		r.StartsAt, r.EndsAt, jsonOrNil(r.Payload)}
}

// WriteResult says what a batch write did.
type WriteResult struct {
	// Inserted rows were new; the others of the batch were there already.
	Inserted int64
	// Bad rows were refused by PostgreSQL and not written.
	Bad []BadRow
}

// WriteMetrics writes a batch idempotently. On a nil error every row not in
// Bad is durable. A transient error (see Transient) leaves nothing written.
func (s *Store) WriteMetrics(ctx context.Context, rows []MetricRow) (WriteResult, error) {
	if len(rows) == 0 {
		return WriteResult{}, nil
	}
	if err := s.ensurePartitions(ctx, rows); err != nil {
		return WriteResult{}, err
	}
	return writeSplitting(ctx, len(rows), func(ctx context.Context, lo, hi int) (int64, error) {
		return s.copyMetrics(ctx, rows[lo:hi])
	})
}

// WriteAlerts writes alert transitions idempotently, like WriteMetrics.
func (s *Store) WriteAlerts(ctx context.Context, rows []AlertRow) (WriteResult, error) {
	return writeSplitting(ctx, len(rows), func(ctx context.Context, lo, hi int) (int64, error) {
		return s.copyAlerts(ctx, rows[lo:hi])
	})
}

// writeSplitting writes rows [0,n); when PostgreSQL refuses a batch for its
// data, it halves the batch until it has isolated the bad rows.
func writeSplitting(ctx context.Context, n int, write func(ctx context.Context, lo, hi int) (int64, error)) (WriteResult, error) {
	var res WriteResult
	var rec func(lo, hi int) error
	rec = func(lo, hi int) error {
		ins, err := write(ctx, lo, hi)
		if err == nil {
			res.Inserted += ins
			return nil
		}
		if !badData(err) {
			return err
		}
		if hi-lo == 1 {
			res.Bad = append(res.Bad, BadRow{Index: lo, Err: err})
			return nil
		}
		mid := lo + (hi-lo)/2
		if err := rec(lo, mid); err != nil {
			return err
		}
		return rec(mid, hi)
	}
	if n == 0 {
		return res, nil
	}
	if err := rec(0, n); err != nil {
		return WriteResult{}, err
	}
	return res, nil
}

func (s *Store) copyMetrics(ctx context.Context, rows []MetricRow) (int64, error) {
	var inserted int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"metrics_stage"}, metricCols,
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].values(), nil })); err != nil {
			return fmt.Errorf("copy metrics: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO metrics (ts, tenant, source_id, metric, value, unit, tags, meta, ingested_at)
			SELECT ts, tenant, source_id, metric, value, unit, tags, meta, ingested_at FROM metrics_stage
			ON CONFLICT DO NOTHING`)
		if err != nil {
			return fmt.Errorf("insert metrics: %w", err)
		}
		inserted = tag.RowsAffected()
		return nil
	})
	return inserted, err
}

func (s *Store) copyAlerts(ctx context.Context, rows []AlertRow) (int64, error) {
	var inserted int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"alerts_stage"}, alertCols,
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].values(), nil })); err != nil {
			return fmt.Errorf("copy alerts: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO alerts (ts, tenant, source_id, metric, severity, rule, value, message, tags,
				episode_id, state, alertname, rule_id, labels, annotations, features, starts_at, ends_at, payload)
			SELECT ts, tenant, source_id, metric, severity, rule, value, message, tags,
				episode_id, state, alertname, rule_id, labels, annotations, features, starts_at, ends_at, payload
			FROM alerts_stage ON CONFLICT DO NOTHING`)
		if err != nil {
			return fmt.Errorf("insert alerts: %w", err)
		}
		inserted = tag.RowsAffected()
		return nil
	})
	return inserted, err
}

// ensurePartitions creates the daily partitions the rows need.
func (s *Store) ensurePartitions(ctx context.Context, rows []MetricRow) error {
	var missing []int64
	s.mu.Lock()
	seen := map[int64]bool{}
	for i := range rows {
		d := dayOf(rows[i].Ts)
		if !s.parts[d] && !seen[d] {
			seen[d] = true
			missing = append(missing, d)
		}
	}
	s.mu.Unlock()
	for _, d := range missing {
		if err := s.EnsurePartition(ctx, time.Unix(d*86400, 0).UTC()); err != nil {
			return err
		}
	}
	return nil
}

func dayOf(t time.Time) int64 {
	u := t.Unix()
	d := u / 86400
	if u < 0 && u%86400 != 0 {
		d--
	}
	return d
}

// EnsurePartition creates the metrics partition of the UTC day of t.
func (s *Store) EnsurePartition(ctx context.Context, t time.Time) error {
	day := t.UTC().Truncate(24 * time.Hour)
	if _, err := s.pool.Exec(ctx, `SELECT eventops_ensure_metrics_partition($1::date)`, day.Format("2006-01-02")); err != nil {
		return fmt.Errorf("store: create metrics partition for %s: %w", day.Format("2006-01-02"), err)
	}
	s.mu.Lock()
	s.parts[dayOf(day)] = true
	s.mu.Unlock()
	return nil
}

// ErrNoRows is returned by single-row reads that find nothing.
var ErrNoRows = errors.New("not found")
