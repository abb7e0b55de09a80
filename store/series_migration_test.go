package store

import (
	"context"
	"testing"
	"time"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
	"github.com/jackc/pgx/v5"
)

// During a rolling upgrade the migrate job (or the first new replica)
// adds series_id while replicas of the previous version still write
// metrics with its column list, which has no series_id. Their rows must
// still land (with the series_id EventOps computes), not be refused as
// bad data and sent to the DLQ.
func TestARowOfThePreviousWriterLandsAfterTheSeriesMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migratedStore(t)
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	if err := s.EnsurePartition(ctx, t0); err != nil {
		t.Fatal(err)
	}
	// The previous version's COPY: its metricCols.
	oldCols := []string{"ts", "tenant", "source_id", "metric", "value", "unit", "tags", "meta", "ingested_at"}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"metrics"}, oldCols, pgx.CopyFromRows([][]any{
		{t0, "acme", "host-a", "cpu_load", 92.0, "percent", `{"core":"0"}`, nil, t0},
	}))
	if err != nil {
		t.Fatalf("a row written by the previous version is refused: %v", err)
	}
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT series_id FROM metrics`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if want := tables.SeriesID("cpu_load", tables.Tags{{Key: "core", Value: "0"}}); id != want {
		t.Fatalf("series_id %d, want %d", id, want)
	}
	// A row inserted by hand, its tag a number: its tags are stored as
	// EventOps writes them, in the series EventOps gives them.
	if _, err := s.pool.Exec(ctx, `INSERT INTO metrics (ts, tenant, source_id, metric, value, tags)
		VALUES ($1, 'acme', 'host-a', 'cpu_load', 93, '{"core":0.0,"x":null}')`, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var tags string
	if err := s.pool.QueryRow(ctx, `SELECT series_id, tags::text FROM metrics WHERE value = 93`).Scan(&id, &tags); err != nil {
		t.Fatal(err)
	}
	if want := tables.SeriesID("cpu_load", tables.Tags{{Key: "core", Value: "0"}}); id != want || tags != `{"core": "0"}` {
		t.Fatalf("series_id %d tags %s, want %d {\"core\": \"0\"}", id, tags, want)
	}
}

// A row of the original schema whose tag is a JSON number in exponent
// form (what Python's json.dumps writes for 0.00001) is carried over as
// the series of the number's decimal text; the same event sent again
// after the upgrade is that series and that row.
func TestAnEventOfTheSeedSchemaSentAgainIsOneRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := seedStore(t, `('2025-10-21T10:00:00Z', 'acme', 'host-a', 'cpu_load', 92, 'percent', '{"threshold":1e-05}')`)
	ev := `{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,"unit":"percent",` +
		`"ts_event":"2025-10-21T10:00:00Z","tags":{"threshold":1e-05}}`
	res := normalize.Options{}.Parse([]byte(ev), time.Date(2025, 10, 21, 10, 0, 1, 0, time.UTC))
	if len(res.Events) != 1 {
		t.Fatalf("parse: %+v", res.Rejected)
	}
	sm := res.Events[0].Sample
	if _, err := s.WriteMetrics(ctx, []MetricRow{{Ts: time.UnixMicro(sm.TsMicro), Tenant: "acme", SourceID: "host-a",
		Metric: sm.Metric, Series: tables.SeriesID(sm.Metric, sm.Tags), Value: sm.Value, Unit: sm.Unit,
		Tags: sm.Tags.AppendJSON(nil), IngestedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM metrics`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("the event sent again is %d rows", n)
	}
}

// The original schema took any JSON as tags; a row whose tags are an
// array (or a string) is carried over as the series without tags, and the
// metric's history reads it with the others.
func TestHistoryOfASeedRowWithArrayTagsReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := seedStore(t, `('2025-10-21T10:00:00Z', 'acme', 'host-a', 'cpu_load', 92, 'percent', '["prod"]'),
		('2025-10-21T10:01:00Z', 'acme', 'host-a', 'cpu_load', 93, 'percent', '{"env":"prod"}')`)
	got, err := s.QuerySeries(ctx, SeriesQuery{Tenant: "acme", Name: "cpu_load"})
	if err != nil {
		t.Fatalf("history of cpu_load: %v", err)
	}
	n := 0
	for _, s := range got {
		n += len(s.Points)
	}
	if n != 2 {
		t.Fatalf("%d points: %+v", n, got)
	}
}

// Rows of the original schema whose tags are numbers spelled two ways at
// one time are carried over as one row, its tags as EventOps writes them.
func TestSeedRowsWhoseNumericTagsAreOneNumberBecomeOneRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := seedStore(t, `('2025-10-21T10:00:00Z', 'acme', 'host-a', 'cpu_load', 92, 'percent', '{"core":1.0,"on":true,"x":null}'),
		('2025-10-21T10:00:00Z', 'acme', 'host-a', 'cpu_load', 93, 'percent', '{"core":1,"on":true}'),
		('2025-10-21T10:01:00Z', 'acme', 'host-a', 'cpu_load', 94, 'percent', '"prod"')`)
	rows, err := s.pool.Query(ctx, `SELECT series_id, value, tags::text FROM metrics ORDER BY ts`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		series int64
		value  float64
		tags   string
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.series, &x.value, &x.tags)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{tables.SeriesID("cpu_load", tables.Tags{{Key: "core", Value: "1"}, {Key: "on", Value: "true"}}), 92, `{"on": "true", "core": "1"}`},
		{tables.SeriesID("cpu_load", nil), 94, `{}`},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
}

// seedStore is a store on a database made by the original sketch, with
// the metrics rows of values (an INSERT's VALUES list of ts, tenant,
// source_id, metric, value, unit, tags), migrated.
func seedStore(t *testing.T, values string) *Store {
	t.Helper()
	url := storetest.NewDatabase(t)
	storetest.Exec(t, url, `CREATE TABLE metrics (id SERIAL PRIMARY KEY, ts TIMESTAMPTZ, tenant TEXT, source_id TEXT,
		metric TEXT, value DOUBLE PRECISION, unit TEXT, tags JSONB);
		CREATE TABLE alerts (id SERIAL PRIMARY KEY, ts TIMESTAMPTZ, tenant TEXT, source_id TEXT, metric TEXT,
		severity TEXT, rule TEXT, value DOUBLE PRECISION, message TEXT, tags JSONB);
		INSERT INTO metrics (ts, tenant, source_id, metric, value, unit, tags) VALUES `+values)
	return openMigrated(t, url)
}
