package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eventops/eventops/tables"
)

// Aggregations a downsampled series may use, mapped to their SQL. The map is
// the only source of SQL text a query parameter can select.
var aggregations = map[string]string{
	"avg":   "avg(value)",
	"min":   "min(value)",
	"max":   "max(value)",
	"sum":   "sum(value)",
	"count": "count(*)::float8",
	"last":  "(array_agg(value ORDER BY ts DESC))[1]",
}

// Aggregations lists the names SeriesQuery.Agg accepts.
func Aggregations() []string { return []string{"avg", "min", "max", "sum", "count", "last"} }

// SeriesQuery selects the series of one metric or metric family.
type SeriesQuery struct {
	Tenant string
	// Host, if set, selects one source.
	Host string
	// Name is a metric or a family: "cpu" matches "cpu" and "cpu_*".
	Name string
	// From and To bound event time (To exclusive); zero means unbounded.
	From, To time.Time
	// Step, if set, downsamples into buckets of that width with Agg.
	Step time.Duration
	Agg  string
	// Limit caps the points of each series, keeping the newest.
	Limit int
	// Tags filter on tags that must all match.
	Tags map[string]string
	// MaxTotal caps the points of the whole answer (default 100,000): a
	// query that would return more fails with ErrTooManyPoints.
	MaxTotal int
}

// ErrTooManyPoints is returned by QuerySeries for an answer over MaxTotal.
var ErrTooManyPoints = errors.New("too many points")

// Point is one (time, value).
type Point struct {
	Ts    time.Time `json:"ts"`
	Value float64   `json:"value"`
}

// Series is the points of one series: one metric of one source with one
// set of tags.
type Series struct {
	Host   string `json:"host"`
	Metric string `json:"metric"`
	// Name is the series' canonical name, metric{key="value",...}.
	Name   string            `json:"series"`
	Tags   map[string]string `json:"tags"`
	Unit   string            `json:"unit"`
	Points []Point           `json:"points"`
}

// likeEscape escapes LIKE's special characters.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// QuerySeries runs q. Callers validate q first; QuerySeries trusts only its
// own aggregation table.
func (s *Store) QuerySeries(ctx context.Context, q SeriesQuery) ([]Series, error) {
	var tags any
	if len(q.Tags) > 0 {
		b, err := json.Marshal(q.Tags)
		if err != nil {
			return nil, err
		}
		tags = string(b)
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	if q.MaxTotal <= 0 {
		q.MaxTotal = 100_000
	}
	// Only the filters given are in the statement, so that each shape gets
	// a plan that uses the indexes (a generic plan of "$2 = '' OR
	// source_id = $2" would not).
	var a sqlArgs
	where := "tenant = " + a.arg(q.Tenant)
	if q.Host != "" {
		where += " AND source_id = " + a.arg(q.Host)
	}
	where += " AND (metric = " + a.arg(q.Name) + " OR metric LIKE " + a.arg(likeEscape(q.Name)+`\_%`) + ")"
	if !q.From.IsZero() {
		where += " AND ts >= " + a.arg(q.From)
	}
	if !q.To.IsZero() {
		where += " AND ts < " + a.arg(q.To)
	}
	if tags != nil {
		where += " AND tags @> " + a.arg(tags) + "::jsonb"
	}
	perSeries, total := a.arg(q.Limit), a.arg(q.MaxTotal+1)
	var sql string
	if q.Step > 0 {
		agg, ok := aggregations[q.Agg]
		if !ok {
			return nil, fmt.Errorf("store: unknown aggregation %q", q.Agg)
		}
		sql = `SELECT source_id, metric, series_id, tags, unit, ts, value FROM (
			SELECT source_id, metric, series_id, (array_agg(tags))[1] AS tags, max(unit) AS unit, bucket AS ts, ` + agg + ` AS value,
				row_number() OVER (PARTITION BY source_id, metric, series_id ORDER BY bucket DESC) AS rn
			FROM (SELECT *, date_bin(` + a.arg(q.Step) + `::interval, ts, TIMESTAMPTZ '2000-01-01') AS bucket FROM metrics WHERE ` + where + `) m
			GROUP BY source_id, metric, series_id, bucket) x
			WHERE rn <= ` + perSeries + ` ORDER BY source_id, metric, series_id, ts LIMIT ` + total
	} else {
		sql = `SELECT source_id, metric, series_id, tags, unit, ts, value FROM (
			SELECT source_id, metric, series_id, tags, unit, ts, value,
				row_number() OVER (PARTITION BY source_id, metric, series_id ORDER BY ts DESC) AS rn
			FROM metrics WHERE ` + where + `) x
			WHERE rn <= ` + perSeries + ` ORDER BY source_id, metric, series_id, ts LIMIT ` + total
	}
	args := a.args
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query series: %w", err)
	}
	defer rows.Close()
	out := []Series{}
	var seriesIDs []int64 // of out
	n := 0
	for rows.Next() {
		if n++; n > q.MaxTotal {
			return nil, fmt.Errorf("store: series of %s: more than %d points: %w", q.Name, q.MaxTotal, ErrTooManyPoints)
		}
		var host, metric, unit string
		var series int64
		var tags []byte
		var p Point
		if err := rows.Scan(&host, &metric, &series, &tags, &unit, &p.Ts, &p.Value); err != nil {
			return nil, fmt.Errorf("store: scan series: %w", err)
		}
		p.Ts = p.Ts.UTC()
		if n := len(out); n == 0 || out[n-1].Host != host || out[n-1].Metric != metric || seriesIDs[n-1] != series {
			t, err := decodeTags(tags)
			if err != nil {
				return nil, fmt.Errorf("store: tags of %s: %w", metric, err)
			}
			out = append(out, Series{Host: host, Metric: metric, Name: tables.SeriesName(metric, t), Tags: t.Map(), Unit: unit})
			seriesIDs = append(seriesIDs, series)
		}
		last := &out[len(out)-1]
		last.Points = append(last.Points, p)
	}
	return out, rows.Err()
}

// sqlArgs numbers a statement's parameters. Statements are assembled only
// from constant fragments and these placeholders: never from user text.
type sqlArgs struct{ args []any }

// arg adds v and returns its placeholder ($n).
func (a *sqlArgs) arg(v any) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args))
}
