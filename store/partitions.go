package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Partitions of metrics are named metrics_YYYYMMDD and hold one UTC day.
// They are created three ways: ahead of time by Maintain (today and the
// next PartitionsAhead days), on demand by WriteMetrics for the days its
// rows need, and by the migration for the rows of an older schema. Every
// creation and drop takes one transaction-level advisory lock, so a
// partition is never created and dropped at once, and two creations of the
// same day run one after the other. The second one may still fail with
// duplicate_table: the function's re-check after the lock reads the
// backend's relation cache, which an advisory lock does not refresh, so it
// can miss the table the first one just committed. That answer means the
// partition exists, which is all EnsurePartition promises.

// ensurePartitions creates the daily partitions the rows need. It returns
// the days that cannot be written (ErrNotPartition) with their error: their
// rows are refused by PostgreSQL and come back as bad rows, while the other
// days are written.
func (s *Store) ensurePartitions(ctx context.Context, rows []MetricRow) (map[int64]error, error) {
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
	var refused map[int64]error
	for _, d := range missing {
		err := s.EnsurePartition(ctx, time.Unix(d*86400, 0).UTC())
		switch {
		case errors.Is(err, ErrNotPartition):
			if refused == nil {
				refused = map[int64]error{}
			}
			refused[d] = err
		case err != nil:
			return nil, err
		}
	}
	return refused, nil
}

func dayOf(t time.Time) int64 {
	u := t.Unix()
	d := u / 86400
	if u < 0 && u%86400 != 0 {
		d--
	}
	return d
}

// ErrNotPartition marks a day whose partition's name is taken by a relation
// that is not a partition of metrics.
var ErrNotPartition = errors.New("not a partition of metrics")

// EnsurePartition creates the metrics partition of the UTC day of t. A
// relation of the partition's name that is not a partition of metrics (a
// partition detached to archive it, say) is an error naming it: the rows of
// that day cannot be written until it is attached, renamed or dropped.
func (s *Store) EnsurePartition(ctx context.Context, t time.Time) error {
	day := t.UTC().Truncate(24 * time.Hour)
	date := day.Format("2006-01-02")
	if _, err := s.pool.Exec(ctx, `SELECT eventops_ensure_metrics_partition($1::date)`, date); err != nil && !isDuplicateTable(err) {
		return fmt.Errorf("store: create metrics partition for %s: %w", date, err)
	}
	// The function (and a duplicate_table answer) only says a relation of
	// the name exists; pg_inherits says whether it is the partition.
	name := "metrics_" + day.Format("20060102")
	var partition bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits
		WHERE inhrelid = to_regclass($1) AND inhparent = 'metrics'::regclass)`, name).Scan(&partition); err != nil {
		return fmt.Errorf("store: check metrics partition %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !partition {
		delete(s.parts, dayOf(day))
		return fmt.Errorf("store: %s exists but is %w: the rows of %s cannot be written until it is attached, renamed or dropped", name, ErrNotPartition, date)
	}
	s.parts[dayOf(day)] = true
	return nil
}

// cutoff is the oldest event time kept, zero when retention is off.
func (s *Store) cutoff() time.Time {
	if s.opts.Retention <= 0 {
		return time.Time{}
	}
	return s.opts.Now().Add(-s.opts.Retention)
}

// MaintenanceResult says what Maintain did.
type MaintenanceResult struct {
	// Dropped names the partitions dropped for retention.
	Dropped []string
}

// Maintain creates the partitions of now's UTC day and the PartitionsAhead
// days after it, and with a retention drops the partitions whose whole day
// is older than now - retention. Several replicas may run it at once.
func (s *Store) Maintain(ctx context.Context, now time.Time) (MaintenanceResult, error) {
	var res MaintenanceResult
	today := now.UTC().Truncate(24 * time.Hour)
	for i := 0; i <= s.opts.PartitionsAhead; i++ {
		if err := s.EnsurePartition(ctx, today.AddDate(0, 0, i)); err != nil {
			return res, err
		}
	}
	// An alert's flapping state that says nothing any more: not flapping,
	// no change within the longest window a rule may set.
	if _, err := s.pool.Exec(ctx, `DELETE FROM notify_flapping WHERE NOT flapping AND updated_at < $1`, now.Add(-7*24*time.Hour)); err != nil {
		return res, fmt.Errorf("store: prune flapping states: %w", err)
	}
	if s.opts.Retention <= 0 {
		return res, nil
	}
	// The notification history is kept as long as the metrics.
	if _, err := s.pool.Exec(ctx, `DELETE FROM notification_log WHERE at < $1`, now.Add(-s.opts.Retention)); err != nil {
		return res, fmt.Errorf("store: prune the notification log: %w", err)
	}
	// A partition [d, d+1) is wholly older than the cutoff when d+1 is at or
	// before it, that is when d is before the cutoff's day.
	before := now.Add(-s.opts.Retention).UTC().Truncate(24 * time.Hour)
	rows, err := s.pool.Query(ctx, `SELECT eventops_drop_metrics_partitions($1::date)`, before.Format("2006-01-02"))
	if err != nil {
		return res, fmt.Errorf("store: drop partitions before %s: %w", before.Format("2006-01-02"), err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return res, fmt.Errorf("store: drop partitions: %w", err)
		}
		res.Dropped = append(res.Dropped, name)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("store: drop partitions before %s: %w", before.Format("2006-01-02"), err)
	}
	s.mu.Lock()
	for d := range s.parts {
		if d < dayOf(before) {
			delete(s.parts, d)
		}
	}
	s.mu.Unlock()
	return res, nil
}

// RunMaintenance runs Maintain at once and then every MaintenanceInterval
// until ctx ends. A failed round is logged and retried at the next tick
// (and sooner, after a minute, when the first one fails).
func (s *Store) RunMaintenance(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		next := s.opts.MaintenanceInterval
		res, err := s.Maintain(ctx, s.opts.Now())
		switch {
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("partition maintenance failed", "err", err)
			next = min(next, time.Minute)
		case len(res.Dropped) > 0:
			s.log.Info("dropped metrics partitions older than the retention", "partitions", res.Dropped, "retention", s.opts.Retention)
		}
		t.Reset(next)
	}
}
