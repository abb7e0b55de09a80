package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/eventops/eventops/loadgen"
)

type loadgenFlags struct {
	fs       *flag.FlagSet
	o        loadgen.Options
	rate     float64
	speed    float64
	count    int64
	duration time.Duration
	http     string
	apiKey   string
	start    string
	spike    bool
	jsonOut  bool
}

func (f *loadgenFlags) bind(fs *flag.FlagSet) {
	f.fs = fs
	fs.IntVar(&f.o.Tenants, "tenants", 1, "tenants, named tenant-00, tenant-01, …")
	fs.StringVar(&f.o.Tenant, "tenant", "", "the one tenant's name instead of tenant-00 (default with --api-key: the key's tenant)")
	fs.IntVar(&f.o.Sources, "sources", 100, "sources per tenant")
	fs.IntVar(&f.o.Metrics, "metrics", 10, "metrics per source (the first five are cpu_load, mem_used_pct, disk_used_pct, latency_ms, http_requests_total)")
	fs.DurationVar(&f.o.Interval, "interval", 10*time.Second, "event-time spacing of one series (with --rate and without --rounds, the default is the one that keeps event time at the wall clock: series / rate)")
	fs.Int64Var(&f.o.Rounds, "rounds", 0, "how many times every series reports (0: until --count or --duration)")
	fs.StringVar(&f.start, "start", "", "event time of the first round, RFC 3339 (default: now minus rounds × interval)")
	fs.DurationVar(&f.o.Jitter, "jitter", 0, "move each event time by up to ± this")
	fs.Float64Var(&f.o.OutOfOrder, "out-of-order", 0, "share of records sent a little late (0..1)")
	fs.Float64Var(&f.o.Malformed, "malformed", 0, "share of records replaced by poison (0..1)")
	fs.IntVar(&f.o.PerRecord, "per-record", 1, "events of one source per record (a JSON array when > 1)")
	fs.BoolVar(&f.o.Keyed, "keyed", true, "key records by tenant/host")
	fs.Uint64Var(&f.o.Seed, "seed", 1, "seed: the same seed and options give the same records")
	fs.BoolVar(&f.spike, "spike", true, "script a two-minute CPU spike on host-00000, from 10 s of event time on, that fires the built-in HighCPU rule")
	fs.Float64Var(&f.rate, "rate", 0, "events per second (0: as fast as possible)")
	fs.Float64Var(&f.speed, "speed", 1, "event time runs at most this many times as fast as the wall clock (1: live agents; 0: no bound, a replay as fast as --rate allows). Events the broker would find too far ahead are refused")
	fs.Int64Var(&f.count, "count", 0, "stop after this many events")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long")
	fs.StringVar(&f.http, "http", "", "POST to this URL (e.g. http://localhost:8088/ingest) instead of producing to Kafka")
	fs.StringVar(&f.apiKey, "api-key", "", "API key sent with --http")
	fs.BoolVar(&f.jsonOut, "json", false, "print the summary as JSON")
}

func loadgenCommand() command {
	f := &loadgenFlags{}
	return command{
		name: "loadgen", summary: "send synthetic agent telemetry to ingest.raw.agent (or POST /ingest)",
		keys: []string{"brokers"}, bind: f.bind, run: f.run,
	}
}

func (f *loadgenFlags) run(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	if err := f.plan(); err != nil {
		return err
	}
	if f.http == "" && len(cfg.Brokers) == 0 {
		return usageError{"give --brokers (Kafka) or --http (POST /ingest)"}
	}
	ro := loadgen.RunOptions{Rate: f.rate, Speed: f.speed, Count: f.count, Duration: f.duration}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		ro.Progress = os.Stderr
	}
	return loadgen.Job{Gen: f.o, Pace: ro, HTTP: f.http, Brokers: cfg.Brokers, APIKey: f.apiKey, JSON: f.jsonOut, Out: os.Stdout, Logger: log}.Run(ctx)
}

// plan checks the flags and fills the generator's options they imply.
func (f *loadgenFlags) plan() error {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.start != "" {
		t, err := time.Parse(time.RFC3339, f.start)
		if err != nil {
			return usageError{fmt.Sprintf("--start %q is not RFC 3339", f.start)}
		}
		f.o.Start = t
	}
	if f.o.Rounds == 0 && f.count == 0 && f.duration == 0 {
		return usageError{"bound the run with --rounds, --count or --duration"}
	}
	if f.rate > 0 && f.o.Rounds == 0 && !set["interval"] {
		f.o.Interval = loadgen.LiveInterval(max(f.o.Tenants, 1)*f.o.Sources*f.o.Metrics, f.rate)
	}
	if f.spike && f.o.Interval > 0 {
		f.o.Anomalies = append(f.o.Anomalies, loadgen.Spike(f.o.Interval))
	}
	if err := f.o.Validate(); err != nil {
		return usageError{err.Error()}
	}
	// The key's tenant is asked at --http's host.
	if f.http != "" && f.apiKey != "" && f.o.Tenant == "" && f.o.Tenants <= 1 {
		if _, err := url.Parse(f.http); err != nil {
			return usageError{fmt.Sprintf("--http %q: %v", f.http, err)}
		}
	}
	return nil
}
