package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

const seriesRules = `
metrics:
  - {name: cpu_load, unit: percent}
  - {name: disk_used_pct, unit: percent}
groups:
  - name: series
    rules:
      - alert: HotCore
        expr: last("cpu_load") > 90
      - alert: RootDiskFull
        expr: last("disk_used_pct{mount=\"/\"}") > 90
`

// Two series of one metric at one time are two rows, two lines of
// /metrics and two alerts of their own; a resent event changes nothing; a
// source past its series limit sends the new series' samples to the DLQ.
func TestSeriesEndToEnd(t *testing.T) {
	t.Parallel()
	env := newDevEnv(t)
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(seriesRules), 0o644); err != nil {
		t.Fatal(err)
	}
	p := env.start(t, "--rules", file, "--flush-interval", "1s", "--max-series-per-source", "4")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	t0 := time.Now().UTC().Truncate(time.Second)
	event := func(metric, tags string, at time.Time, v float64) string {
		return fmt.Sprintf(`acme/h1|{"tenant_id":"acme","host":"h1","metric":%q,"value":%v,"ts_event":%q,"tags":%s}`+"\n",
			metric, v, at.Format(time.RFC3339Nano), tags)
	}
	send := func(lines ...string) {
		kcat(t, strings.Join(lines, ""), "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P", "-K", "|")
	}
	cores := []string{event("cpu_load", `{"core":"0"}`, t0, 20), event("cpu_load", `{"core":"1"}`, t0, 95)}
	send(cores...)

	states := func(alert, label, value string) string {
		rows, err := conn.Query(ctx, `SELECT state FROM alerts WHERE alertname = $1 AND source_id = 'h1' AND labels->>$2 = $3
			ORDER BY ts, id`, alert, label, value)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return strings.Join(out, ",")
	}
	waitStates := func(alert, label, value, want string) {
		eventually(t, 30*time.Second, fmt.Sprintf("%s{%s=%s} = %s", alert, label, value, want), func() error {
			if got := states(alert, label, value); got != want {
				return fmt.Errorf("transitions %q", got)
			}
			return nil
		})
	}
	rowCount := func() int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM metrics WHERE tenant = 'acme' AND source_id = 'h1' AND metric = 'cpu_load'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, 30*time.Second, "two rows of cpu_load at one time", func() error {
		if n := rowCount(); n != 2 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})
	var got struct {
		Series []struct {
			Metric, Series string
			Tags           map[string]string
			Points         []struct{ Value float64 }
		}
	}
	if _, err := getJSON(p.HTTP+"/metrics/cpu?tenant=acme&host=h1", &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Series) != 2 || got.Series[0].Tags["core"] == got.Series[1].Tags["core"] ||
		len(got.Series[0].Points) != 1 || len(got.Series[1].Points) != 1 {
		t.Fatalf("/metrics/cpu: %+v", got)
	}
	for _, s := range got.Series {
		if want := map[string]float64{"0": 20, "1": 95}[s.Tags["core"]]; s.Points[0].Value != want ||
			s.Series != `cpu_load{core="`+s.Tags["core"]+`"}` {
			t.Fatalf("series %+v", s)
		}
	}

	// The hot core fires, with core among its labels; the other does not.
	waitStates("HotCore", "core", "1", "firing")
	if s := states("HotCore", "core", "0"); s != "" {
		t.Fatalf("the cool core has transitions %q", s)
	}

	// Either core's event again changes nothing: no row, no sample, no
	// transition.
	send(cores[1], cores[0])
	featureCount := func() error {
		var snap struct {
			Metrics map[string]struct {
				Tags    map[string]string
				Windows map[string]struct{ Count int }
			}
		}
		if _, err := getJSON(p.HTTP+"/features/acme/h1", &snap); err != nil {
			return err
		}
		for _, core := range []string{"0", "1"} {
			m, ok := snap.Metrics[`cpu_load{core="`+core+`"}`]
			if !ok || m.Tags["core"] != core || m.Windows["1m"].Count != 1 {
				return fmt.Errorf("features %+v", snap.Metrics)
			}
		}
		return nil
	}
	eventually(t, 30*time.Second, "one sample per series", featureCount)

	// A selector rule fires for its mount only.
	send(event("disk_used_pct", `{"mount":"/"}`, t0, 95), event("disk_used_pct", `{"mount":"/data"}`, t0, 99))
	waitStates("RootDiskFull", "mount", "/", "firing")
	if s := states("RootDiskFull", "mount", "/data"); s != "" {
		t.Fatalf("the other mount has transitions %q", s)
	}

	// The hot core cools: its alert resolves.
	send(event("cpu_load", `{"core":"1"}`, t0.Add(time.Second), 20))
	waitStates("HotCore", "core", "1", "firing,resolved")

	// The source has 4 series, its limit: a fifth goes to the DLQ, its row
	// is stored; the series it has keep working.
	send(event("cpu_load", `{"core":"2"}`, t0.Add(2*time.Second), 99), event("cpu_load", `{"core":"1"}`, t0.Add(2*time.Second), 97))
	r := readDLQReason(t, p.Kafka[0], "series_limit", 30*time.Second)
	if !strings.Contains(string(r.Value), `"core":"2"`) || kgotables.Header(r, tables.HeaderError) == "" {
		t.Fatalf("DLQ record %s %+v", r.Value, r.Headers)
	}
	waitStates("HotCore", "core", "1", "firing,resolved,firing")
	if s := states("HotCore", "core", "2"); s != "" {
		t.Fatalf("the series beyond the limit has transitions %q", s)
	}
	eventually(t, 30*time.Second, "the rows of every series, resends once", func() error {
		if n := rowCount(); n != 5 {
			return fmt.Errorf("%d rows of cpu_load", n)
		}
		return nil
	})
	p.stop(60 * time.Second)
}
