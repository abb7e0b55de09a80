package store

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
)

// migratedStore is a store on a fresh database with the schema up to date.
func migratedStore(t *testing.T) *Store {
	t.Helper()
	return openMigrated(t, storetest.NewDatabase(t))
}

// openMigrated opens the database at url and migrates it.
func openMigrated(t *testing.T, url string) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: url, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// goSeriesID is the series_id EventOps gives a sample of metric with tags,
// a JSON object as an agent sends it.
func goSeriesID(t *testing.T, metric, tags string) int64 {
	t.Helper()
	rec := `{"tenant_id":"acme","host":"h","metric":"` + metric + `","value":1,"ts_event":"2025-10-21T10:00:00Z","tags":` + tags + `}`
	r := normalize.Options{}.Defaults().Parse([]byte(rec), time.Date(2025, 10, 21, 10, 0, 1, 0, time.UTC))
	if len(r.Events) != 1 {
		t.Fatalf("tags %s: %+v", tags, r.Rejected)
	}
	return tables.SeriesID(r.Events[0].Sample.Metric, r.Events[0].Sample.Tags)
}

// sqlSeriesIDs is eventops_series_id of metric with each of tags, and
// what the store reads back from eventops_tags of each.
func sqlSeriesIDs(t *testing.T, s *Store, metric string, tags []string) (ids, readBack []int64) {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT eventops_series_id($1, x::jsonb), eventops_tags(x::jsonb)
		FROM unnest($2::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n`, metric, tags)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var stored []byte
		if err := rows.Scan(&id, &stored); err != nil {
			t.Fatal(err)
		}
		back, err := seriesOf(metric, stored)
		if err != nil {
			t.Fatal(err)
		}
		ids, readBack = append(ids, id), append(readBack, back)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids, readBack
}

// Each group holds spellings of the same tags. Within a group, EventOps
// and PostgreSQL give one series_id, the same on both sides; the groups
// are different series.
func TestSeriesIDOfTagsIsTheSameInGoAndPostgreSQL(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	groups := [][]string{
		{`{"core":1}`, `{"core":1.0}`, `{"core":1e0}`, `{"core":1.00}`, `{"core":1E+0}`, `{"core":10e-1}`, `{"core":0.1e1}`, `{"core":"1"}`},
		{`{"threshold":1e-05}`, `{"threshold":0.00001}`, `{"threshold":1E-5}`, `{"threshold":"0.00001"}`},
		{`{"core":0}`, `{"core":-0}`, `{"core":-0.0}`, `{"core":0e5}`, `{"core":"0"}`},
		{`{"n":100}`, `{"n":1e2}`, `{"n":1E+2}`, `{"n":100.0}`},
		{`{"n":-1.50}`, `{"n":-15e-1}`, `{"n":"-1.5"}`},
		{`{"n":1e20}`, `{"n":100000000000000000000}`},
		{`{"n":12345678901234567890123}`},
		{`{"n":"1.0"}`},
		{`{"n":"1e0"}`},
		{`{"on":true}`, `{"on":"true"}`},
		{`{"env":"prod","gone":null}`, `{"gone":null,"env":"prod"}`, `{"env":"prod"}`},
		{`{"a\\=b":"x\"y\\z","é":"日本"}`, `{"é":"日本","a\\=b":"x\"y\\z"}`},
		{`{}`, `{"k":null}`},
	}
	seen := map[int64]string{}
	for _, g := range groups {
		ids, back := sqlSeriesIDs(t, s, "cpu_load", g)
		for i, tags := range g {
			if i > 0 && ids[i] != ids[0] {
				t.Errorf("PostgreSQL: %s and %s are two series", g[0], tags)
			}
			if back[i] != ids[i] {
				t.Errorf("the store reads eventops_tags of %s as series %d, PostgreSQL says %d", tags, back[i], ids[i])
			}
			if goID := goSeriesID(t, "cpu_load", tags); goID != ids[i] {
				t.Errorf("%s: EventOps says series %d, PostgreSQL %d", tags, goID, ids[i])
			}
		}
		if other, ok := seen[ids[0]]; ok {
			t.Errorf("%s and %s are one series", other, g[0])
		}
		seen[ids[0]] = g[0]
	}
}

// randomNumber writes a JSON number of the given digits with its point
// after point of them, shifted by an exponent, zero-padded and signed at
// random: one of many spellings of the same value.
func randomNumber(r *rand.Rand, digits string, point int) string {
	lead := strings.Repeat("0", r.IntN(3))
	trail := strings.Repeat("0", r.IntN(3))
	d := lead + digits + trail
	point += len(lead)
	exp := r.IntN(41) - 20
	point -= exp
	// Move the point into the written digits.
	for point < 1 {
		d = "0" + d
		point++
	}
	for point > len(d) {
		d += "0"
	}
	whole := strings.TrimLeft(d[:point], "0")
	if whole == "" {
		whole = "0"
	}
	out := whole
	if frac := d[point:]; frac != "" {
		out += "." + frac
	}
	if exp != 0 || r.IntN(2) == 0 {
		e := []string{"e", "E"}[r.IntN(2)]
		sign := ""
		if exp >= 0 {
			sign = []string{"", "+"}[r.IntN(2)]
		}
		out += e + sign + fmt.Sprint(exp)
	}
	return out
}

// Random numbers, each written in several ways: every spelling has the
// same series_id in EventOps and in PostgreSQL.
func TestNumericTagsGiveOneSeriesIDInGoAndPostgreSQL(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		n := 1 + r.IntN(18)
		var digits strings.Builder
		for range n {
			digits.WriteByte(byte('0' + r.IntN(10)))
		}
		point := r.IntN(n + 1)
		neg := r.IntN(3) == 0
		var tags []string
		for range 6 {
			num := randomNumber(r, digits.String(), point)
			if neg {
				num = "-" + num
			}
			tags = append(tags, `{"k":`+num+`}`)
		}
		ids, _ := sqlSeriesIDs(t, s, "m", tags)
		for i, tag := range tags {
			if ids[i] != ids[0] {
				t.Errorf("PostgreSQL: %s and %s are two series", tags[0], tag)
			}
			if goID := goSeriesID(t, "m", tag); goID != ids[i] {
				t.Errorf("%s: EventOps says series %d, PostgreSQL %d", tag, goID, ids[i])
			}
		}
	}
}
