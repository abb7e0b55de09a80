package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/eventops/eventops/loadgen"
)

type loadgenFlags struct {
	o        loadgen.Options
	rate     float64
	count    int64
	duration time.Duration
	http     string
	apiKey   string
	start    string
	spike    bool
	jsonOut  bool
}

func (f *loadgenFlags) bind(fs *flag.FlagSet) {
	fs.IntVar(&f.o.Tenants, "tenants", 1, "tenants")
	fs.IntVar(&f.o.Sources, "sources", 100, "sources per tenant")
	fs.IntVar(&f.o.Metrics, "metrics", 10, "metrics per source (the first five are cpu_load, mem_used_pct, disk_used_pct, latency_ms, http_requests_total)")
	fs.DurationVar(&f.o.Interval, "interval", 10*time.Second, "event-time spacing of one series")
	fs.Int64Var(&f.o.Rounds, "rounds", 0, "how many times every series reports (0: until --count or --duration)")
	fs.StringVar(&f.start, "start", "", "event time of the first round, RFC 3339 (default: now minus rounds × interval)")
	fs.DurationVar(&f.o.Jitter, "jitter", 0, "move each event time by up to ± this")
	fs.Float64Var(&f.o.OutOfOrder, "out-of-order", 0, "share of records sent a little late (0..1)")
	fs.Float64Var(&f.o.Malformed, "malformed", 0, "share of records replaced by poison (0..1)")
	fs.IntVar(&f.o.PerRecord, "per-record", 1, "events of one source per record (a JSON array when > 1)")
	fs.BoolVar(&f.o.Keyed, "keyed", true, "key records by tenant/host")
	fs.Uint64Var(&f.o.Seed, "seed", 1, "seed: the same seed and options give the same records")
	fs.BoolVar(&f.spike, "spike", true, "script a CPU spike on host-00000 (rounds 10-30) that fires the built-in HighCPU rule")
	fs.Float64Var(&f.rate, "rate", 0, "events per second (0: as fast as possible)")
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
	if f.start != "" {
		t, err := time.Parse(time.RFC3339, f.start)
		if err != nil {
			return usageError{fmt.Sprintf("--start %q is not RFC 3339", f.start)}
		}
		f.o.Start = t
	}
	if f.spike {
		f.o.Anomalies = append(f.o.Anomalies, loadgen.Anomaly{Source: 0, Metric: 0, From: 10, To: 30, Value: 99})
	}
	if err := f.o.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if f.o.Rounds == 0 && f.count == 0 && f.duration == 0 {
		return usageError{"bound the run with --rounds, --count or --duration"}
	}
	var sink loadgen.Sink
	switch {
	case f.http != "":
		hs := &loadgen.HTTPSink{URL: f.http}
		if f.apiKey != "" {
			hs.Header = map[string][]string{"Authorization": {"Bearer " + f.apiKey}}
		}
		sink = hs
	case len(cfg.Brokers) > 0:
		ks, err := loadgen.NewKafkaSink(cfg.Brokers)
		if err != nil {
			return err
		}
		defer ks.Close()
		sink = ks
	default:
		return usageError{"give --brokers (Kafka) or --http (POST /ingest)"}
	}
	g := loadgen.NewGenerator(f.o, time.Now())
	var progress *os.File
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		progress = os.Stderr
	}
	ro := loadgen.RunOptions{Rate: f.rate, Count: f.count, Duration: f.duration}
	if progress != nil {
		ro.Progress = progress
	}
	sum, err := loadgen.Run(ctx, g, sink, ro)
	if f.jsonOut {
		b, _ := json.Marshal(sum)
		fmt.Println(string(b))
	} else {
		fmt.Printf("sent %d events in %d records (%d malformed) in %s: %.0f events/s, %d errors\n",
			sum.Events, sum.Records, sum.Malformed, sum.Elapsed.Round(time.Millisecond), sum.Rate, sum.Errors)
	}
	return err
}
