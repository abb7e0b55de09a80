package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// twoLineHeredoc is the quick start's sample event as the seed wrote it,
// over two lines: kcat makes each line a record of its own.
const twoLineHeredoc = `{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,
 "ts_event":"2025-10-21T10:00:00Z","unit":"percent","tags":{"env":"prod"}}
`

// quickStartInput is what the README's quick start gives kcat: its heredoc.
func quickStartInput(t *testing.T) string {
	t.Helper()
	for _, block := range readmeBlocks(t, "Quick start", "sh") {
		_, rest, ok := strings.Cut(block, "-t ingest.raw.agent -P <<'EOF'\n")
		if doc, _, closed := strings.Cut(rest, "\nEOF\n"); ok && closed {
			return doc + "\n"
		}
	}
	t.Fatal("the README's quick start sends nothing with kcat")
	return ""
}

// devEnv is the data directory and database of `eventops dev` runs: a
// restart on them resumes where the last run stopped.
type devEnv struct {
	dataDir, dbURL string
}

func newDevEnv(t *testing.T) devEnv {
	return devEnv{dataDir: t.TempDir(), dbURL: storetest.NewDatabase(t)}
}

// start runs `eventops dev` on the environment, its broker and API each on
// a port of its own choosing, with extra flags.
func (e devEnv) start(t *testing.T, extra ...string) *proc {
	return startEventops(t, []string{"DATABASE_URL=" + e.dbURL}, append([]string{
		"dev", "--data-dir", e.dataDir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, extra...)...)
}

func TestQuickStart(t *testing.T) {
	t.Parallel()
	env := newDevEnv(t)
	p := env.start(t, "--flush-interval", "1s")

	// 3. Send sample telemetry, exactly as the README's quick start does.
	kcat(t, quickStartInput(t), "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P")

	// 4. Query data.
	var series struct {
		Series []struct {
			Host, Metric, Unit string
			Points             []struct {
				Ts    time.Time
				Value float64
			}
		}
	}
	eventually(t, 30*time.Second, "GET /metrics/cpu returns the point", func() error {
		if _, err := getJSON(p.HTTP+"/metrics/cpu?tenant=acme&host=host-a&from=2025-10-21T00:00:00Z&to=2025-10-22T00:00:00Z", &series); err != nil {
			return err
		}
		if len(series.Series) != 1 || len(series.Series[0].Points) != 1 {
			return fmt.Errorf("got %+v", series)
		}
		return nil
	})
	s := series.Series[0]
	if s.Metric != "cpu_load" || s.Unit != "percent" || s.Points[0].Value != 92 ||
		!s.Points[0].Ts.Equal(time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("series %+v", s)
	}

	// The alert stream delivers the default rule's alert.
	alert := readAlert(t, p.HTTP+"/alerts/stream", 20*time.Second)
	for _, want := range []string{`"alertname":"HighCPU"`, `"state":"firing"`, `"tenant":"acme"`, `"host":"host-a"`, `"value":92`} {
		if !strings.Contains(alert, want) {
			t.Errorf("alert %s lacks %s", alert, want)
		}
	}

	// 5. The row is in Postgres with its tags as JSONB.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	var env2 string
	err = conn.QueryRow(ctx, `SELECT count(*), min(tags->>'env') FROM metrics
		WHERE tenant = 'acme' AND source_id = 'host-a' AND metric = 'cpu_load' AND value = 92
		AND ts = '2025-10-21T10:00:00Z' AND jsonb_typeof(tags) = 'object'`).Scan(&n, &env2)
	if err != nil || n != 1 || env2 != "prod" {
		t.Fatalf("metrics row: n=%d env=%q err=%v", n, env2, err)
	}
	var alerts int
	eventually(t, 20*time.Second, "the alert row", func() error {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE rule = 'HighCPU' AND state = 'firing' AND severity = 'critical'`).Scan(&alerts); err != nil {
			return err
		}
		if alerts != 1 {
			return fmt.Errorf("%d alert rows", alerts)
		}
		return nil
	})

	// Malformed input goes to the DLQ with its reason and origin; so do the
	// two lines of the event written over two lines.
	kcat(t, "this is not json\n", "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P")
	kcat(t, `{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":"NaN"}`+"\n", "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P")
	kcat(t, twoLineHeredoc, "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P")
	reasons := readDLQ(t, p.Kafka[0], 4, 30*time.Second)
	for want, n := range map[string]int{"invalid_json": 1, "not_finite": 1, "split_record": 2} {
		if len(reasons[want]) != n {
			t.Fatalf("%d DLQ records with reason %s, want %d: %v", len(reasons[want]), want, n, reasons)
		}
		for _, r := range reasons[want] {
			if kgotables.Header(r, tables.HeaderOriginTopic) != "ingest.raw.agent" || kgotables.Header(r, tables.HeaderOriginOffset) == "" ||
				kgotables.Header(r, tables.HeaderOriginPartition) == "" || kgotables.Header(r, tables.HeaderError) == "" {
				t.Errorf("DLQ record of %s lacks its origin: %+v", want, r.Headers)
			}
		}
	}
	if got := string(reasons["invalid_json"][0].Value); got != "this is not json" {
		t.Errorf("DLQ value %q", got)
	}
	if e := kgotables.Header(reasons["split_record"][0], tables.HeaderError); !strings.Contains(e, "put one event on one line") {
		t.Errorf("a split record's error does not say what to do: %s", e)
	}
	p.stop(60 * time.Second)
}

// readAlert opens an SSE stream and returns the data of its first alert.
func readAlert(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	timeout = patience(timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	alert := ""
	err = sseAlertEvents(resp.Body, func(data string) bool {
		alert = data
		return false
	})
	if alert == "" {
		t.Fatalf("no alert on %s within %s: %v", url, timeout, err)
	}
	return alert
}

// sseAlertEvents calls fn with the data of each alert event of an event
// stream until fn returns false or the stream ends.
func sseAlertEvents(body io.Reader, fn func(data string) bool) error {
	return sseEventsOf(body, "alert", fn)
}

// sseEventsOf calls fn with the data of each event of type kind of an
// event stream until fn returns false or the stream ends.
func sseEventsOf(body io.Reader, kind string, fn func(data string) bool) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == kind:
			if !fn(strings.TrimPrefix(line, "data: ")) {
				return nil
			}
		}
	}
	return sc.Err()
}

// readDLQ reads the DLQ until it has n records, by reason.
func readDLQ(t *testing.T, broker string, n int, timeout time.Duration) map[string][]*kgo.Record {
	t.Helper()
	timeout = patience(timeout)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(tables.DLQTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := map[string][]*kgo.Record{}
	for read := 0; read < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("DLQ: %d of %d records within %s: %v", read, n, timeout, out)
		}
		fs.EachRecord(func(r *kgo.Record) {
			reason := kgotables.Header(r, tables.HeaderReason)
			out[reason] = append(out[reason], r)
			read++
		})
	}
	return out
}
