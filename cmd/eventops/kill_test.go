package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/features"
)

// SIGKILL eventops dev in the middle of a stream, start it again on the same
// data directory and finish the stream: every source's windowed features
// equal those of a reference fed the whole stream once, and PostgreSQL
// holds every event once.
func TestKillMidStreamKeepsFeaturesExact(t *testing.T) {
	t.Parallel()
	const (
		sources = 12
		samples = 240 // per series, one a second
	)
	metrics := []string{"cpu_load", "mem_used_pct", "latency_ms"}
	env := newDevEnv(t)
	base := time.Now().Add(-50 * time.Minute).Truncate(time.Second)
	value := func(src, m, i int) float64 {
		return math.Round((50+40*math.Sin(float64(i)/7+float64(src))+float64(m*3))*100) / 100
	}
	// Records are keyed by source so that each source's events stay in order.
	var p *proc
	send := func(from, to int) {
		var b strings.Builder
		for i := from; i < to; i++ {
			for s := 0; s < sources; s++ {
				host := fmt.Sprintf("host-%02d", s)
				for m, name := range metrics {
					fmt.Fprintf(&b, "acme/%s|{\"tenant_id\":\"acme\",\"host\":%q,\"metric\":%q,\"value\":%v,\"ts_event\":%q}\n",
						host, host, name, value(s, m, i), base.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
				}
			}
		}
		kcat(t, b.String(), "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P", "-K", "|")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func() int {
		var n int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM metrics WHERE tenant = 'acme'`).Scan(&n)
		return n
	}

	start := func() *proc { return env.start(t, "--flush-interval", "10s") }
	p = start()
	send(0, samples/2)
	// Kill while the first half is still flowing: its feature state is not
	// flushed yet (the flush interval is longer than this takes).
	eventually(t, 60*time.Second, "the first rows", func() error {
		if n := count(); n < sources*len(metrics)*samples/8 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})
	p.kill()
	killedAt := count()

	p = start()
	send(samples/2, samples)
	total := sources * len(metrics) * samples
	eventually(t, 120*time.Second, "every row", func() error {
		var n, distinct int
		if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT (source_id, metric, ts)) FROM metrics WHERE tenant = 'acme'`).Scan(&n, &distinct); err != nil {
			return err
		}
		if n != total || distinct != total {
			return fmt.Errorf("%d rows, %d distinct, want %d", n, distinct, total)
		}
		return nil
	})
	t.Logf("killed with %d of %d rows written", killedAt, total)

	for s := 0; s < sources; s++ {
		host := fmt.Sprintf("host-%02d", s)
		refs := map[string]*features.Series{}
		for m, name := range metrics {
			ser := features.NewSeries(features.DefaultConfig())
			for i := 0; i < samples; i++ {
				if _, err := ser.Add(base.Add(time.Duration(i)*time.Second).UnixMilli(), value(s, m, i)); err != nil {
					t.Fatal(err)
				}
			}
			refs[name] = ser
		}
		eventually(t, 30*time.Second, "features of "+host, func() error {
			var snap struct {
				Metrics map[string]struct {
					Windows map[string]map[string]float64
				}
			}
			if _, err := getJSON(p.HTTP+"/features/acme/"+host, &snap); err != nil {
				return err
			}
			for name, ref := range refs {
				got := snap.Metrics[name].Windows
				for _, d := range features.DefaultConfig().Windows {
					want, _ := ref.Window(d)
					g := got[features.WindowLabel(d)]
					checks := map[string][2]float64{
						"count": {g["count"], float64(want.Count)}, "sum": {g["sum"], want.Sum}, "min": {g["min"], want.Min},
						"max": {g["max"], want.Max}, "avg": {g["avg"], want.Avg}, "stddev": {g["stddev"], want.Stddev},
						"first": {g["first"], want.First}, "last": {g["last"], want.Last}, "rate_per_sec": {g["rate_per_sec"], want.RatePerSec},
					}
					for stat, v := range checks {
						if math.Abs(v[0]-v[1]) > 1e-6*math.Max(1, math.Abs(v[1])) {
							return fmt.Errorf("%s %s %s %s: %v, reference %v", host, name, features.WindowLabel(d), stat, v[0], v[1])
						}
					}
				}
			}
			return nil
		})
	}
	p.stop(60 * time.Second)
}
