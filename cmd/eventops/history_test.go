package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// The history API of the real binary over what it stored, and retention:
// a sample older than --retention goes to the DLQ instead of PostgreSQL,
// and the daily partitions ahead exist from the start.
func TestHistoryAPIAndRetention(t *testing.T) {
	t.Parallel()
	env := newDevEnv(t)
	p := env.start(t, "--flush-interval", "1s", "--retention", "48h")
	now := time.Now().UTC().Truncate(time.Second)
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	kcat(t, strings.Join([]string{
		`{"tenant_id":"acme","host":"host-h","metric":"cpu_load","value":95,"ts_event":"` + ts(-time.Minute) + `","unit":"percent","tags":{"env":"prod"}}`,
		`{"tenant_id":"acme","host":"host-h","metric":"disk_used","value":1,"ts_event":"` + ts(-72*time.Hour) + `"}`,
		`{"tenant_id":"globex","host":"host-g","metric":"cpu_load","value":10,"ts_event":"` + ts(-time.Minute) + `"}`,
	}, "\n")+"\n", "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P")

	var sources struct {
		Tenant  string
		Sources []struct {
			Host      string
			FirstSeen time.Time `json:"first_seen"`
			LastSeen  time.Time `json:"last_seen"`
		}
	}
	eventually(t, 30*time.Second, "GET /sources lists host-h", func() error {
		if code, err := getJSON(p.HTTP+"/sources?tenant=acme", &sources); err != nil || code != 200 {
			return fmt.Errorf("%d %v", code, err)
		}
		if len(sources.Sources) != 1 {
			return fmt.Errorf("%+v", sources)
		}
		return nil
	})
	// The refused old sample is not part of the source's span.
	if s := sources.Sources[0]; s.Host != "host-h" || !s.FirstSeen.Equal(now.Add(-time.Minute)) || !s.LastSeen.Equal(now.Add(-time.Minute)) {
		t.Fatalf("source %+v", s)
	}
	if r := readDLQReason(t, p.Kafka[0], "older_than_retention", 30*time.Second); kgotables.Header(r, tables.HeaderStage) != "sink" ||
		!strings.Contains(kgotables.Header(r, tables.HeaderError), "older than the retention") || string(r.Key) != "acme/host-h" {
		t.Fatalf("DLQ record %+v", r)
	}

	var alerts struct {
		Alerts []struct {
			EpisodeID string `json:"episode_id"`
			Host      string
			AlertName string
			State     string
		}
	}
	eventually(t, 30*time.Second, "GET /alerts has the firing HighCPU", func() error {
		if code, err := getJSON(p.HTTP+"/alerts?tenant=acme&state=firing", &alerts); err != nil || code != 200 {
			return fmt.Errorf("%d %v", code, err)
		}
		if len(alerts.Alerts) != 1 {
			return fmt.Errorf("%+v", alerts)
		}
		return nil
	})
	a := alerts.Alerts[0]
	if a.Host != "host-h" || a.AlertName != "HighCPU" {
		t.Fatalf("alert %+v", a)
	}
	var ep struct {
		State       string
		Transitions []struct{ State string }
	}
	if code, err := getJSON(p.HTTP+"/alerts/"+url.PathEscape(a.EpisodeID)+"?tenant=acme", &ep); err != nil || code != 200 ||
		ep.State != "firing" || len(ep.Transitions) == 0 || ep.Transitions[len(ep.Transitions)-1].State != "firing" {
		t.Fatalf("episode %d %+v %v", code, ep, err)
	}
	var tenants struct{ Tenants []struct{ Tenant string } }
	eventually(t, 30*time.Second, "GET /tenants lists both", func() error {
		if _, err := getJSON(p.HTTP+"/tenants", &tenants); err != nil {
			return err
		}
		if len(tenants.Tenants) != 2 || tenants.Tenants[0].Tenant != "acme" || tenants.Tenants[1].Tenant != "globex" {
			return fmt.Errorf("%+v", tenants)
		}
		return nil
	})
	var series struct{ Series []struct{ Metric string } }
	if _, err := getJSON(p.HTTP+"/metrics/disk?tenant=acme", &series); err != nil || len(series.Series) != 0 {
		t.Fatalf("the sample past the retention was stored: %+v %v", series, err)
	}
	if code, err := getJSON(p.HTTP+"/openapi.yaml", nil); err != nil || code != 200 {
		t.Fatalf("GET /openapi.yaml: %d %v", code, err)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for d := 0; d <= 3; d++ {
		name := "metrics_" + now.AddDate(0, 0, d).Format("20060102")
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = $1`, name).Scan(&n); err != nil || n != 1 {
			t.Fatalf("partition %s: %d %v", name, n, err)
		}
	}
	old := "metrics_" + now.Add(-72*time.Hour).Format("20060102")
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = $1`, old).Scan(&n); err != nil || n != 0 {
		t.Fatalf("partition %s of a day past the retention exists (%v)", old, err)
	}
	p.stop(60 * time.Second)
}

// readDLQReason reads the DLQ until a record with reason arrives.
func readDLQReason(t *testing.T, broker, reason string, timeout time.Duration) *kgo.Record {
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
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no DLQ record with reason %s within %s", reason, timeout)
		}
		var found *kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			if found == nil && kgotables.Header(r, tables.HeaderReason) == reason {
				found = r
			}
		})
		if found != nil {
			return found
		}
	}
}
