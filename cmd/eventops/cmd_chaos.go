package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/eventops/eventops/chaos"
	"github.com/eventops/eventops/loadgen"
)

type chaosFlags struct {
	faults       string
	trials       int
	replicas     int
	sources      int
	rounds       int64
	rate         float64
	postgresDown time.Duration
	hold         time.Duration
	quick        bool
	jsonOut      bool
	keep         bool
}

func (f *chaosFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.faults, "faults", strings.Join(chaos.Faults(), ","), "fault kinds to run, one run each: "+strings.Join(chaos.Faults(), ", "))
	fs.IntVar(&f.trials, "trials", 3, "times each run injects its fault")
	fs.IntVar(&f.replicas, "replicas", 3, "eventops run replicas")
	fs.IntVar(&f.sources, "sources", 100, fmt.Sprintf("sources of the stream (each sends cpu_load and mem_used_pct; at least %d)", chaos.MinSources))
	fs.Int64Var(&f.rounds, "rounds", 60, fmt.Sprintf("samples per series (one every 10 s of event time; at least %d)", chaos.MinRounds))
	fs.Float64Var(&f.rate, "rate", 200, "events per second")
	fs.DurationVar(&f.postgresDown, "postgres-down", 30*time.Second, "how long the postgres-down fault stops PostgreSQL")
	fs.DurationVar(&f.hold, "notify-hold", 45*time.Second, "how long MemoryFull's notifications wait in their group (group_wait; the others wait 3s): "+
		"longer than the rebalance timeout, rebalances find them held; 0 holds them 3s")
	fs.BoolVar(&f.quick, "quick", false, "a short run for CI: sigkill and poison, two trials each, a small stream, notify-hold 0")
	fs.BoolVar(&f.jsonOut, "json", false, "print the rows as JSON")
	fs.BoolVar(&f.keep, "keep", false, "keep the working directory (logs of every process)")
}

func chaosCommand() command {
	f := &chaosFlags{}
	return command{
		name:    "chaos",
		summary: "run a known stream, with everyday bad input and a rule reload, through replicas while injecting faults, and check nothing stored, computed or notified was lost, duplicated or wrong",
		keys:    []string{"data_dir"},
		bind:    f.bind,
		run:     f.run,
	}
}

func (f *chaosFlags) run(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	if f.quick {
		f.faults, f.trials, f.sources, f.rounds, f.rate, f.hold = chaos.FaultKill+","+chaos.FaultPoison, 2, 20, 40, 100, 0
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var faults []string
	for _, k := range strings.Split(f.faults, ",") {
		if k = strings.TrimSpace(k); k != "" {
			faults = append(faults, k)
		}
	}
	rep, err := chaos.Run(ctx, chaos.Options{
		Binary: exe, DataDir: cfg.DataDir, Keep: f.keep, Replicas: f.replicas, Faults: faults, Trials: f.trials,
		Load: loadgen.Options{Sources: f.sources, Metrics: 2, Rounds: f.rounds, Keyed: true, Seed: 11},
		Rate: f.rate, PostgresDown: f.postgresDown, Hold: f.hold, Logger: log,
	})
	if err != nil {
		return err
	}
	if err := printReport(os.Stdout, rep, f.jsonOut); err != nil {
		return err
	}
	return rep.Err()
}
