package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
	"github.com/jackc/pgx/v5"
)

const stagingDDL = `
CREATE TEMP TABLE IF NOT EXISTS metrics_stage (
  ts timestamptz, tenant text, source_id text, metric text, series_id int8, value float8,
  unit text, tags jsonb, meta jsonb, ingested_at timestamptz,
  ord int8 GENERATED ALWAYS AS IDENTITY
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS alerts_stage (
  ts timestamptz, tenant text, source_id text, metric text, severity text, rule text,
  value float8, message text, tags jsonb, episode_id text, state text, alertname text,
  rule_id text, labels jsonb, annotations jsonb, features jsonb, starts_at timestamptz,
  ends_at timestamptz, payload jsonb, shadow bool
) ON COMMIT DELETE ROWS;`

// MetricRow is one row of metrics.
type MetricRow struct {
	Ts       time.Time
	Tenant   string
	SourceID string
	Metric   string
	// Series is tables.SeriesID(Metric, tags): with the source and the
	// metric, it is the row's series. 0 has it computed from Tags.
	Series int64
	Value  float64
	Unit   string
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
	// Payload is the whole transition as it travelled on ops.alert.v1;
	// its explanation is stored in a column of its own too.
	Payload []byte
	// Shadow marks a transition of a rule in shadow mode.
	Shadow bool
}

// BadRow is a row PostgreSQL refused, with its error.
type BadRow struct {
	Index int
	Err   error
}

var metricCols = []string{"ts", "tenant", "source_id", "metric", "series_id", "value", "unit", "tags", "meta", "ingested_at"}

var alertCols = []string{"ts", "tenant", "source_id", "metric", "severity", "rule", "value", "message", "tags",
	"episode_id", "state", "alertname", "rule_id", "labels", "annotations", "features", "starts_at", "ends_at", "payload", "shadow"}

func jsonOrNil(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func (r *AlertRow) values() []any {
	return []any{r.Ts, r.Tenant, r.SourceID, r.Metric, r.Severity, r.Rule, r.Value, r.Message, jsonOrNil(r.Tags),
		r.EpisodeID, r.State, r.AlertName, r.RuleID, jsonOrNil(r.Labels), jsonOrNil(r.Annotations), jsonOrNil(r.Features),
		r.StartsAt, r.EndsAt, jsonOrNil(r.Payload), r.Shadow}
}

// WriteResult says what a batch write did.
type WriteResult struct {
	// Inserted rows were new; the others of the batch were there already.
	Inserted int64
	// Bad rows were refused by PostgreSQL and not written.
	Bad []BadRow
}

// ErrExpired marks rows older than the retention: they are refused (and go
// to the DLQ) instead of re-creating a partition that retention dropped.
var ErrExpired = errors.New("older than the retention")

// WriteMetrics writes a batch idempotently and records the batch's sources
// in the sources table. On a nil error every row not in Bad is durable. A
// transient error (see Transient) leaves nothing written. Rows older than
// the retention come back in Bad with ErrExpired, rows of a day whose
// partition's name is taken by another table with ErrNotPartition.
//
// Each new row gets its id from metrics_id_seq in the order of rows, on
// every path (direct COPY, staging, the halves of a batch split around bad
// rows), and a row already there keeps its id: a writer that writes a
// source's rows in the order they arrived, one batch after another, leaves
// them in id order in that order, which is what ScanSignals reads. (It
// needs metrics_id_seq to cache no values, as it is created: sessions
// that each held a range would number their batches out of order.) While
// a partition moves, its old owner may still write a batch the new one
// reads again: the new one writes from the last committed offset, before
// which every row is there already, and meets the old one's first row
// still in flight, where it waits for the old one's transaction to end;
// so the two do not interleave a source's ids.
func (s *Store) WriteMetrics(ctx context.Context, rows []MetricRow) (WriteResult, error) {
	if len(rows) == 0 {
		return WriteResult{}, nil
	}
	cutoff := s.cutoff()
	var expired []BadRow
	keep := rows
	var index []int // index[i] is keep[i]'s position in rows, when rows were dropped
	if !cutoff.IsZero() {
		for i := range rows {
			if rows[i].Ts.Before(cutoff) {
				expired = append(expired, BadRow{Index: i, Err: expiredErr(rows[i].Ts, cutoff)})
			}
		}
		if len(expired) > 0 {
			keep = make([]MetricRow, 0, len(rows)-len(expired))
			index = make([]int, 0, len(rows)-len(expired))
			for i := range rows {
				if !rows[i].Ts.Before(cutoff) {
					keep = append(keep, rows[i])
					index = append(index, i)
				}
			}
		}
	}
	refused, err := s.ensurePartitions(ctx, keep)
	if err != nil {
		return WriteResult{}, err
	}
	res, err := writeSplitting(ctx, len(keep), func(ctx context.Context, lo, hi int) (int64, error) {
		return s.copyMetrics(ctx, keep[lo:hi], true)
	})
	if err != nil {
		return WriteResult{}, err
	}
	for i := range res.Bad {
		b := &res.Bad[i]
		if index != nil {
			b.Index = index[b.Index]
		}
		// A partition dropped between the check above and the write.
		if c := s.cutoff(); !c.IsZero() && rows[b.Index].Ts.Before(c) {
			b.Err = fmt.Errorf("%w: %w", expiredErr(rows[b.Index].Ts, c), b.Err)
		} else if e, ok := refused[dayOf(rows[b.Index].Ts)]; ok {
			b.Err = fmt.Errorf("%w: %w", e, b.Err)
		}
	}
	res.Bad = append(res.Bad, expired...)
	return res, nil
}

func expiredErr(ts, cutoff time.Time) error {
	return fmt.Errorf("store: event time %s is %w (rows before %s are dropped)",
		ts.UTC().Format(time.RFC3339Nano), ErrExpired, cutoff.UTC().Format(time.RFC3339))
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

// sourcesUpsert folds a batch's sources into the sources table: one row per
// distinct source of the batch, aggregated in Go. Rows are locked in key
// order so that two writers never deadlock; a replayed batch changes
// nothing (the WHERE clause).
const sourcesUpsert = `INSERT INTO sources AS s (tenant, source_id, first_seen, last_seen, meta, updated_at)
	SELECT t, h, f, l, m, now() FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::jsonb[]) AS u(t, h, f, l, m)
	ORDER BY t, h
	ON CONFLICT (tenant, source_id) DO UPDATE SET
		first_seen = least(s.first_seen, excluded.first_seen),
		last_seen = greatest(s.last_seen, excluded.last_seen),
		meta = CASE WHEN excluded.last_seen >= s.last_seen THEN excluded.meta ELSE s.meta END,
		updated_at = excluded.updated_at
	WHERE excluded.first_seen < s.first_seen OR excluded.last_seen > s.last_seen
		OR (excluded.last_seen = s.last_seen AND excluded.meta IS DISTINCT FROM s.meta)`

// stageToMetrics inserts the staged rows in the order they were staged
// (ord): each new row draws its id from metrics_id_seq as the direct COPY
// does, in row order, so that a source's rows in id order are in the order
// of its signals (see ScanSignals).
const stageToMetrics = `INSERT INTO metrics (ts, tenant, source_id, metric, series_id, value, unit, tags, meta, ingested_at)
	SELECT ts, tenant, source_id, metric, series_id, value, unit, tags, meta, ingested_at FROM metrics_stage
	ORDER BY ord
	ON CONFLICT DO NOTHING`

// copyMetrics writes rows in one transaction. It first COPYs them straight
// into metrics, the fastest way in; when a row is there already (a replay)
// PostgreSQL refuses that COPY with a unique violation, and the batch goes
// the idempotent way instead: COPY into the session's staging table, then
// INSERT ... ON CONFLICT DO NOTHING. With sources set, the batch's sources
// are upserted in the same transaction.
func (s *Store) copyMetrics(ctx context.Context, rows []MetricRow, sources bool) (int64, error) {
	return s.writeMetricsTx(ctx, rows, true, sources)
}

func (s *Store) writeMetricsTx(ctx context.Context, rows []MetricRow, copyFirst, sources bool) (int64, error) {
	var inserted int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		direct := false
		if copyFirst {
			if _, err := tx.Exec(ctx, "SAVEPOINT direct"); err != nil {
				return fmt.Errorf("copy metrics: %w", err)
			}
			n, err := tx.CopyFrom(ctx, pgx.Identifier{"metrics"}, metricCols, newMetricSource(rows))
			switch {
			case err == nil:
				direct, inserted = true, n
			case isUniqueViolation(err):
				if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT direct"); err != nil {
					return fmt.Errorf("copy metrics: %w", err)
				}
			default:
				return fmt.Errorf("copy metrics: %w", err)
			}
		}
		if !direct {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"metrics_stage"}, metricCols, newMetricSource(rows)); err != nil {
				return fmt.Errorf("copy metrics: %w", err)
			}
			tag, err := tx.Exec(ctx, stageToMetrics)
			if err != nil {
				return fmt.Errorf("insert metrics: %w", err)
			}
			inserted = tag.RowsAffected()
		}
		if sources {
			if _, err := tx.Exec(ctx, sourcesUpsert, batchSources(rows)...); err != nil {
				return fmt.Errorf("upsert sources: %w", err)
			}
		}
		return nil
	})
	return inserted, err
}

// batchSources aggregates rows per source into the arguments of
// sourcesUpsert: tenants, hosts, first and last event times, and the
// metadata of the newest row.
func batchSources(rows []MetricRow) []any {
	type key struct{ tenant, host string }
	idx := map[key]int{}
	var tenants, hosts []string
	var first, last []time.Time
	var meta []*string
	for i := range rows {
		r := &rows[i]
		k := key{r.Tenant, r.SourceID}
		j, ok := idx[k]
		if !ok {
			j = len(tenants)
			idx[k] = j
			tenants, hosts = append(tenants, r.Tenant), append(hosts, r.SourceID)
			first, last, meta = append(first, r.Ts), append(last, r.Ts), append(meta, jsonPtr(r.Meta))
			continue
		}
		if r.Ts.Before(first[j]) {
			first[j] = r.Ts
		}
		if !r.Ts.Before(last[j]) {
			last[j], meta[j] = r.Ts, jsonPtr(r.Meta)
		}
	}
	return []any{tenants, hosts, first, last, meta}
}

func jsonPtr(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// metricSource feeds COPY from a slice, reusing one values slice.
type metricSource struct {
	rows []MetricRow
	i    int
	vals [10]any
}

func newMetricSource(rows []MetricRow) *metricSource { return &metricSource{rows: rows, i: -1} }

func (m *metricSource) Next() bool { m.i++; return m.i < len(m.rows) }
func (m *metricSource) Err() error { return nil }

func (m *metricSource) Values() ([]any, error) {
	r := &m.rows[m.i]
	tags := jsonOrNil(r.Tags)
	if tags == nil {
		tags = "{}"
	}
	series := r.Series
	if series == 0 {
		var err error
		if series, err = seriesOf(r.Metric, r.Tags); err != nil {
			return nil, err
		}
	}
	m.vals = [10]any{r.Ts, r.Tenant, r.SourceID, r.Metric, series, r.Value, r.Unit, tags, jsonOrNil(r.Meta), r.IngestedAt}
	return m.vals[:], nil
}

// seriesOf computes the series of a row that does not say it, from its
// JSON tags.
func seriesOf(metric string, tagsJSON []byte) (int64, error) {
	tags, err := decodeTags(tagsJSON)
	if err != nil {
		return 0, fmt.Errorf("store: tags of %s: %w", metric, err)
	}
	return tables.SeriesID(metric, tags), nil
}

// decodeTags reads JSON tags into key-sorted tags as eventops_tags reads
// them: a number by its canonical text (normalize.NumberText), another
// value that is not a string as written, a null as absent, and tags that
// are not an object (rows of the original schema) as no tags.
func decodeTags(tagsJSON []byte) (tables.Tags, error) {
	if len(tagsJSON) == 0 {
		return nil, nil
	}
	if first := bytes.TrimLeft(tagsJSON, " \t\r\n"); len(first) > 0 && first[0] != '{' {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(tagsJSON, &raw); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		switch {
		case string(v) == "null":
		case json.Unmarshal(v, &s) == nil:
			m[k] = s
		case v[0] == '-' || v[0] >= '0' && v[0] <= '9':
			m[k] = normalize.NumberText(v)
		default:
			m[k] = string(v)
		}
	}
	return tables.TagsFromMap(m), nil
}

func (s *Store) copyAlerts(ctx context.Context, rows []AlertRow) (int64, error) {
	var inserted int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"alerts_stage"}, alertCols,
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].values(), nil })); err != nil {
			return fmt.Errorf("copy alerts: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO alerts (ts, tenant, source_id, metric, severity, rule, value, message, tags,
				episode_id, state, alertname, rule_id, labels, annotations, features, starts_at, ends_at, payload, explanation, shadow)
			SELECT ts, tenant, source_id, metric, severity, rule, value, message, tags,
				episode_id, state, alertname, rule_id, labels, annotations, features, starts_at, ends_at, payload,
				payload->'explanation', coalesce(shadow, false)
			FROM alerts_stage ON CONFLICT DO NOTHING`)
		if err != nil {
			return fmt.Errorf("insert alerts: %w", err)
		}
		inserted = tag.RowsAffected()
		return nil
	})
	return inserted, err
}

// ErrNoRows is returned by single-row reads that find nothing.
var ErrNoRows = errors.New("not found")
