package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/store/storetest"
)

// The write methods, measured on 10,000-row batches of fresh rows into the
// real metrics table (its key, indexes and daily partition):
//
//	go test ./store -run '^$' -bench BenchmarkWriteMethods -benchtime 30x -count 3
//
// copy is plain COPY (not idempotent), the baseline; staging is COPY into a
// session temp table + INSERT ... ON CONFLICT DO NOTHING; copyfirst is what
// WriteMetrics does: COPY straight into metrics under a savepoint, falling
// back to staging when a row is there already (replay: every row is);
// +sources adds the sources upsert; unnest is INSERT ... SELECT FROM
// unnest($1::timestamptz[], ...) ON CONFLICT DO NOTHING.
func BenchmarkWriteMethods(b *testing.B) {
	const batch = 10_000
	methods := []struct {
		name  string
		write func(ctx context.Context, s *Store, rows []MetricRow) error
	}{
		{"copy", func(ctx context.Context, s *Store, rows []MetricRow) error {
			_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"metrics"}, metricCols, newMetricSource(rows))
			return err
		}},
		{"staging", func(ctx context.Context, s *Store, rows []MetricRow) error {
			_, err := s.writeMetricsTx(ctx, rows, false, false)
			return err
		}},
		{"staging+sources", func(ctx context.Context, s *Store, rows []MetricRow) error {
			_, err := s.writeMetricsTx(ctx, rows, false, true)
			return err
		}},
		{"copyfirst", func(ctx context.Context, s *Store, rows []MetricRow) error {
			_, err := s.writeMetricsTx(ctx, rows, true, false)
			return err
		}},
		{"copyfirst+sources", func(ctx context.Context, s *Store, rows []MetricRow) error {
			_, err := s.writeMetricsTx(ctx, rows, true, true)
			return err
		}},
		// A batch that is all there already: the direct COPY fails on its
		// first row and the batch goes through staging.
		{"copyfirst+sources/replay", func(ctx context.Context, s *Store, rows []MetricRow) error {
			_, err := s.writeMetricsTx(ctx, rows, true, true)
			return err
		}},
		{"unnest", func(ctx context.Context, s *Store, rows []MetricRow) error {
			_, err := s.unnestMetrics(ctx, rows)
			return err
		}},
	}
	for _, m := range methods {
		b.Run(m.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, Options{URL: storetest.NewDatabase(b), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			day := time.Date(2025, 10, 21, 0, 0, 0, 0, time.UTC)
			if err := s.EnsurePartition(ctx, day); err != nil {
				b.Fatal(err)
			}
			rows := benchRows(day, batch, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				shiftRows(rows, day, i)
				if strings.HasSuffix(m.name, "/replay") {
					if _, err := s.writeMetricsTx(ctx, rows, false, true); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if err := m.write(ctx, s, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// benchRows makes n rows of 100 sources × 10 metrics at distinct times of
// the day.
func benchRows(day time.Time, n, iter int) []MetricRow {
	rows := make([]MetricRow, n)
	for j := range rows {
		rows[j] = MetricRow{
			Tenant: "acme", SourceID: fmt.Sprintf("host-%03d", j%100), Metric: fmt.Sprintf("m_%d", (j/100)%10),
			Value: float64(j), Unit: "percent", Tags: []byte(`{"env":"prod","dc":"eu-1"}`),
			Meta: []byte(`{"owner":"team-infra"}`), IngestedAt: day,
		}
	}
	shiftRows(rows, day, iter)
	return rows
}

// shiftRows gives the rows the times of iteration iter: every row of every
// iteration has its own (source, metric, ts).
func shiftRows(rows []MetricRow, day time.Time, iter int) {
	per := len(rows) / 1000
	for j := range rows {
		rows[j].Ts = day.Add(time.Duration(iter*per+j/1000) * time.Millisecond)
	}
}

// unnestMetrics is the third candidate: one INSERT of column arrays.
func (s *Store) unnestMetrics(ctx context.Context, rows []MetricRow) (int64, error) {
	n := len(rows)
	ts := make([]time.Time, n)
	tenant, source, metric, unit, tags, meta := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
	value := make([]float64, n)
	ing := make([]time.Time, n)
	for i := range rows {
		r := &rows[i]
		ts[i], tenant[i], source[i], metric[i], value[i], unit[i], tags[i], ing[i] = r.Ts, r.Tenant, r.SourceID, r.Metric, r.Value, r.Unit, string(r.Tags), r.IngestedAt
		if r.Meta != nil {
			m := string(r.Meta)
			meta[i] = &m
		}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO metrics (ts, tenant, source_id, metric, value, unit, tags, meta, ingested_at)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::jsonb[], $8::jsonb[], $9::timestamptz[])
		ON CONFLICT DO NOTHING`, ts, tenant, source, metric, value, unit, tags, meta, ing)
	return tag.RowsAffected(), err
}

// BenchmarkSourcesUpsert is the cost the sources view adds to a 10,000-row
// batch of 100 sources: the aggregation in Go and the one upsert.
//
//	go test ./store -run '^$' -bench BenchmarkSourcesUpsert -count 3
func BenchmarkSourcesUpsert(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: storetest.NewDatabase(b), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	day := time.Date(2025, 10, 21, 0, 0, 0, 0, time.UTC)
	rows := benchRows(day, 10_000, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		shiftRows(rows, day, i) // every round moves last_seen: every row is updated
		if _, err := s.pool.Exec(ctx, sourcesUpsert, batchSources(rows)...); err != nil {
			b.Fatal(err)
		}
	}
}
