package store

import (
	"context"
	"fmt"
)

// MaxSourceMetrics bounds the metric names SourceMetrics returns.
const MaxSourceMetrics = 1000

// SourceMetrics lists the names of the metrics a source has stored, in
// name order (at most MaxSourceMetrics). It skips through the primary key
// (tenant, source_id, metric, ts) one name at a time, so its cost grows
// with the number of names, not of rows.
func (s *Store) SourceMetrics(ctx context.Context, tenant, host string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE names(metric) AS (
		  (SELECT metric FROM metrics WHERE tenant = $1 AND source_id = $2 ORDER BY metric LIMIT 1)
		  UNION ALL
		  SELECT (SELECT m.metric FROM metrics m WHERE m.tenant = $1 AND m.source_id = $2 AND m.metric > names.metric
		          ORDER BY m.metric LIMIT 1)
		  FROM names WHERE names.metric IS NOT NULL
		)
		SELECT metric FROM names WHERE metric IS NOT NULL LIMIT $3`, tenant, host, MaxSourceMetrics)
	if err != nil {
		return nil, fmt.Errorf("store: source metrics of %s/%s: %w", tenant, host, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("store: source metrics of %s/%s: %w", tenant, host, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: source metrics of %s/%s: %w", tenant, host, err)
	}
	return out, nil
}
