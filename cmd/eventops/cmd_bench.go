package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/eventops/eventops/bench"
	"github.com/eventops/eventops/replica"
)

type benchFlags struct {
	o       bench.Options
	quick   bool
	jsonOut bool
	trace   bool
	stage   string
}

func (f *benchFlags) bind(fs *flag.FlagSet) {
	fs.Int64Var(&f.o.Events, "events", 1_000_000, "events through the full pipeline in the capacity run")
	fs.Int64Var(&f.o.CeilingEvents, "ceiling-events", 500_000, "records for each ceiling measurement")
	fs.IntVar(&f.o.Sources, "sources", 10_000, "sources of the scenario")
	fs.IntVar(&f.o.Metrics, "metrics", 10, "metrics per source")
	fs.IntVar(&f.o.PerRecord, "per-record", 1, "events per raw record (an agent sending a source's metrics together: set it to --metrics)")
	fs.DurationVar(&f.o.LatencyFor, "latency-duration", 20*time.Second, "length of the latency run at half the sustained rate")
	fs.IntVar(&f.o.Probes, "probes", 100, "alerts timed in the latency run")
	fs.BoolVar(&f.quick, "quick", false, "a smoke run of a few seconds (CI)")
	fs.BoolVar(&f.jsonOut, "json", false, "print the results as JSON")
	fs.BoolVar(&f.o.Keep, "keep-data", false, "keep the data directory afterwards")
	fs.BoolVar(&f.o.SkipCeilings, "skip-ceilings", false, "measure the pipeline only")
	fs.BoolVar(&f.trace, "trace", false, "print each stage's progress every second of the capacity run")
	fs.StringVar(&f.stage, "stage", "", "measure one stage alone instead of the pipeline: features (beside a bare goka processor over the same signals)")
	fs.StringVar(&f.o.CPUProfile, "cpuprofile", "", "write a CPU profile of the capacity run to this file (go tool pprof)")
	fs.StringVar(&f.o.MemProfile, "memprofile", "", "write a heap profile at the end of the capacity run to this file")
}

func benchCommand() command {
	f := &benchFlags{}
	return command{
		name:    "bench",
		summary: "benchmark the machine's ceilings and the full pipeline on the embedded broker and a real PostgreSQL",
		keys:    []string{"data_dir", "database_url", "flush_interval", "batch_rows", "batch_interval", "rules"},
		bind:    f.bind,
		run:     f.run,
	}
}

func (f *benchFlags) run(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	o := &f.o
	if f.quick {
		o.Events, o.CeilingEvents, o.Sources, o.Metrics = 20_000, 20_000, 200, 10
		o.LatencyFor, o.Probes = 3*time.Second, 5
	}
	if o.Events <= 0 || o.Sources <= 0 || o.Metrics <= 0 || o.PerRecord <= 0 {
		return usageError{"--events, --sources, --metrics and --per-record must be positive"}
	}
	if f.stage != "" && f.stage != replica.StageFeatures {
		return usageError{fmt.Sprintf("--stage %q: the stage measured alone is features", f.stage)}
	}
	// Text output shows progress lines instead of the logs.
	o.Logger = log
	if !f.jsonOut {
		o.Logger, o.Progress = slog.New(slog.DiscardHandler), os.Stderr
	}
	if f.trace {
		o.Trace = os.Stderr
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.Binary, o.DataDir, o.DatabaseURL = exe, cfg.DataDir, cfg.DatabaseURL
	o.Replica = replicaOptions(cfg, nil, o.Logger)
	var res any
	if f.stage != "" {
		res, err = bench.RunStage(ctx, *o)
	} else {
		res, err = bench.Run(ctx, *o)
	}
	if err != nil {
		return err
	}
	if f.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if r, ok := res.(bench.StageReport); ok {
		return printStage(os.Stdout, &r)
	}
	r := res.(bench.Result)
	return printBench(os.Stdout, &r)
}

func printStage(w io.Writer, r *bench.StageReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\nscenario\t%s\n\n", r.Machine, r.Scenario)
	fmt.Fprintf(tw, "\tevents/s\tCPU per event\tchangelog bytes per event\n")
	fmt.Fprintf(tw, "bare goka (count per key)\t%.0f\t%s\t%s\n", r.Bare.PerSec, r.Bare.CPUPerItem, "one write per record")
	fmt.Fprintf(tw, "features stage\t%.0f\t%s\t%.1f\n", r.Features.PerSec, r.Features.CPUPerItem, r.Features.ChangelogBytesPerEvent)
	fmt.Fprintf(tw, "features / bare\t%.2f\t\t\n", r.Ratio)
	fmt.Fprintf(tw, "mean encoded state of a source\t%.0f bytes\t\t\n", r.Features.StateBytesPerSource)
	return tw.Flush()
}

var ceilingNames = []string{"broker_roundtrip_records", "bare_goka_events", "postgres_copy_rows"}

func printBench(w io.Writer, r *bench.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\nscenario\t%s\n\n", r.Machine, r.Scenario)
	fmt.Fprintf(tw, "ceiling\tcount\trate/s\tCPU per item\n")
	for _, name := range ceilingNames {
		if c, ok := r.Ceilings[name]; ok {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\n", name, c.Count, c.PerSec, c.CPUPerItem)
		}
	}
	p := r.Pipeline
	fmt.Fprintf(tw, "\npipeline (normalize → enrich → features → rules → PostgreSQL)\t\t\t\n")
	fmt.Fprintf(tw, "events\t%d\nsustained events/s\t%.0f\n", p.Events, p.EventsPerSec)
	fmt.Fprintf(tw, "CPU s per 1,000 events: eventops / broker / PostgreSQL\t%.4f / %.4f / %.4f\n", p.CPUPer1000, p.BrokerCPUPer1k, p.PostgresCPUPer1k)
	fmt.Fprintf(tw, "changelog bytes per event\t%.1f\npeak RSS\t%d MiB\n", p.ChangelogBytes, p.PeakRSS>>20)
	l, round := r.Latency, func(d, unit time.Duration) time.Duration { return d.Round(unit) }
	fmt.Fprintf(tw, "\nlatency at %.0f events/s\t\n", l.Rate)
	fmt.Fprintf(tw, "event → alert on SSE (p50/p95/p99 of %d)\t%s / %s / %s\n", l.Alerts,
		round(l.AlertP50, time.Millisecond/10), round(l.AlertP95, time.Millisecond/10), round(l.AlertP99, time.Millisecond/10))
	fmt.Fprintf(tw, "event → row in PostgreSQL (p50/p99)\t%s / %s\n", round(l.RowP50, time.Millisecond), round(l.RowP99, time.Millisecond))
	fmt.Fprintf(tw, "events behind when the load stopped\t%d\n", l.LagAtEnd)
	fmt.Fprintf(tw, "RSS: highest in the first / second half of the run\t%d MiB / %d MiB\n", l.MaxRSSFirstHalf>>20, l.MaxRSSSecondHalf>>20)
	fmt.Fprintf(tw, "RSS at end / peak of the whole benchmark\t%d MiB / %d MiB\n", l.RSSAtEnd>>20, l.PeakRSS>>20)
	if len(r.Ratios) > 0 {
		fmt.Fprintf(tw, "\nratios\t\n")
		for _, name := range ceilingNames {
			if v, ok := r.Ratios["pipeline_over_"+name]; ok {
				fmt.Fprintf(tw, "pipeline / %s\t%.2f\n", name, v)
			}
		}
	}
	return tw.Flush()
}
