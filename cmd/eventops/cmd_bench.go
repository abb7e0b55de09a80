package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
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
	idle    time.Duration
}

func (f *benchFlags) bind(fs *flag.FlagSet) {
	fs.Int64Var(&f.o.Events, "events", 1_000_000, "events through the full pipeline in the capacity run")
	fs.Int64Var(&f.o.CeilingEvents, "ceiling-events", 500_000, "records for each ceiling measurement")
	fs.IntVar(&f.o.Sources, "sources", 10_000, "sources of the scenario")
	fs.IntVar(&f.o.Metrics, "metrics", 10, "metrics per source")
	fs.IntVar(&f.o.PerRecord, "per-record", 1, "events per raw record (an agent sending a source's metrics together: set it to --metrics)")
	fs.DurationVar(&f.o.LatencyFor, "latency-duration", 20*time.Second, "length of the latency run at half the sustained rate")
	fs.IntVar(&f.o.Probes, "probes", 1000, "probe events sent evenly over the latency run, each timed to its alert and its row")
	fs.Float64Var(&f.o.LatencyLoad, "latency-load", 0.5, "the latency run's load, as a fraction of the sustained rate the capacity run measured")
	fs.BoolVar(&f.quick, "quick", false, "a smoke run of a few seconds (CI)")
	fs.BoolVar(&f.jsonOut, "json", false, "print the results as JSON")
	fs.BoolVar(&f.o.Keep, "keep-data", false, "keep the data directory, and the database made on --database-url's server, afterwards")
	fs.BoolVar(&f.o.SkipCeilings, "skip-ceilings", false, "measure the pipeline only")
	fs.BoolVar(&f.trace, "trace", false, "print each stage's progress every second of the capacity run")
	fs.StringVar(&f.stage, "stage", "", "measure one stage alone instead of the pipeline: features (beside a bare goka processor over the same signals)")
	fs.StringVar(&f.o.CPUProfile, "cpuprofile", "", "write a CPU profile of the capacity run to this file (go tool pprof)")
	fs.StringVar(&f.o.MemProfile, "memprofile", "", "write a heap profile at the end of the capacity run to this file (a soak: at its end, and at its half-way point to FILE.half)")
	fs.DurationVar(&f.o.Soak.For, "soak", 0, "instead of the benchmark, a soak of this length: a steady live load while hosts come and go, with memory sampled and reported by quarter")
	fs.Int64Var(&f.o.Soak.Series, "series", 1_000_000, "soak: series reporting over the whole run (hosts × --metrics)")
	fs.Float64Var(&f.o.Soak.Rate, "rate", 0, "soak: events per second (0: half the sustained rate, measured first over --events)")
	fs.Float64Var(&f.o.Soak.Churn, "churn", 0.05, "soak: share of the hosts reporting at a time that stop each minute, replaced by new host names")
	fs.Int64Var(&f.o.Backtest.Samples, "backtest", 0, "instead of the benchmark, a backtest of this many samples: written to PostgreSQL, then replayed through the rules by backtest.Run from the store, --backtest-runs times")
	fs.IntVar(&f.o.Backtest.Sources, "backtest-sources", 20, "backtest: sources of the history")
	fs.IntVar(&f.o.Backtest.Series, "backtest-series", 5, fmt.Sprintf("backtest: series (metrics and tags) per source, at most %d", bench.MaxHistorySeries))
	fs.DurationVar(&f.o.Backtest.Interval, "backtest-interval", 10*time.Second, "backtest: event time between two samples of a series")
	fs.IntVar(&f.o.Backtest.Runs, "backtest-runs", 3, "backtest: replays of the history (the median is reported)")
	fs.DurationVar(&f.idle, "idle-timeout", 2*time.Minute, "soak: how long an idle source stays in memory (replaces source_idle_timeout); keep it above two of the report intervals the soak prints")
}

func benchCommand() command {
	f := &benchFlags{}
	return command{
		name:    "bench",
		summary: "benchmark the machine's ceilings and the full pipeline on the embedded broker and a real PostgreSQL",
		keys:    []string{"data_dir", "database_url", "flush_interval", "batch_rows", "batch_interval", "rules", "memory_limit"},
		bind:    f.bind,
		run:     f.run,
	}
}

func (f *benchFlags) run(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	o := &f.o
	if f.quick {
		o.Events, o.CeilingEvents, o.Sources, o.Metrics = 20_000, 20_000, 200, 10
		o.LatencyFor, o.Probes = 3*time.Second, 30
		if o.Backtest.Samples > 0 {
			o.Backtest.Samples, o.Backtest.Runs = 20_000, 1
		}
	}
	if o.LatencyLoad <= 0 || o.LatencyLoad > 1 {
		return usageError{"--latency-load must be above 0 and at most 1"}
	}
	if o.Events <= 0 || o.Sources <= 0 || o.Metrics <= 0 || o.PerRecord <= 0 {
		return usageError{"--events, --sources, --metrics and --per-record must be positive"}
	}
	if f.o.Soak.For < 0 || (f.o.Soak.For > 0 && (f.o.Soak.Series < int64(o.Metrics) || f.o.Soak.Churn < 0 || f.o.Soak.Rate < 0 || f.idle <= 0 || f.stage != "")) {
		return usageError{"--soak needs --series of at least --metrics, a positive --idle-timeout, --churn and --rate not negative, and no --stage"}
	}
	if b := f.o.Backtest; b.Samples < 0 || b.Samples > 0 && (b.Sources <= 0 || b.Series <= 0 || b.Series > bench.MaxHistorySeries ||
		b.Samples < int64(b.Sources*b.Series) || b.Interval <= 0 || b.Runs <= 0 || f.stage != "" || f.o.Soak.For > 0) {
		return usageError{fmt.Sprintf("--backtest needs at least --backtest-sources × --backtest-series samples, positive sources, series (at most %d), interval and runs, and no --stage or --soak", bench.MaxHistorySeries)}
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
	var res report
	switch {
	case o.Backtest.Samples > 0:
		var r bench.BacktestResult
		r, err = bench.Backtest(ctx, *o)
		res = &r
	case o.Soak.For > 0:
		o.Replica.SourceIdle = f.idle
		var r bench.SoakResult
		r, err = bench.Soak(ctx, *o)
		res = &r
	case f.stage != "":
		var r bench.StageReport
		r, err = bench.RunStage(ctx, *o)
		res = &r
	default:
		var r bench.Result
		r, err = bench.Run(ctx, *o)
		res = &r
	}
	if err != nil {
		return err
	}
	return printReport(os.Stdout, res, f.jsonOut)
}
