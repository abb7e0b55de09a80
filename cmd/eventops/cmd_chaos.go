package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
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
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(cfg.DataDir, "chaos-")
	if err != nil {
		return err
	}
	if !f.keep {
		defer os.RemoveAll(dir)
	} else {
		log.Info("keeping the working directory", "dir", dir)
	}
	var faults []string
	for _, k := range strings.Split(f.faults, ",") {
		if k = strings.TrimSpace(k); k != "" {
			faults = append(faults, k)
		}
	}
	start := time.Now()
	rows, err := chaos.Run(ctx, chaos.Options{
		Binary: exe, Dir: dir, Replicas: f.replicas, Faults: faults, Trials: f.trials,
		Load: loadgen.Options{Sources: f.sources, Metrics: 2, Rounds: f.rounds, Keyed: true, Seed: 11},
		Rate: f.rate, PostgresDown: f.postgresDown, Hold: f.hold, Logger: log,
	})
	if err != nil {
		if f.keep {
			log.Error("chaos failed; logs kept", "dir", filepath.Join(dir))
		}
		return err
	}
	if f.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		printRows(rows)
		fmt.Printf("took %s\n", time.Since(start).Round(time.Second))
	}
	for _, r := range rows {
		if !r.OK() {
			return errors.New("the harness found lost, duplicated or wrong results (see the table)")
		}
	}
	return nil
}

// printRows prints two tables (what was stored and computed; what was
// notified and refused), then the details.
func printRows(rows []chaos.Row) {
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "fault\ttrials\tevents\tlost\tduplicated\twrong values\twrong features\twrong alerts\tpoison missing\tunexpected exits\tstage restarts\ttakeover p50 / max\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s / %s\n", r.Fault, r.Trials, r.Events, r.Lost, r.Duplicated,
			r.WrongValues, r.WrongFeatures, r.WrongAlerts, r.PoisonMissing, r.UnexpectedExits, r.StageRestarts,
			round(r.TakeoverP50), round(r.TakeoverMax))
	}
	tw.Flush()
	fmt.Println()
	fmt.Fprintf(tw, "fault\tdeliveries\tlost\tduplicated\tcrash window\tunexpected\tinjected\tDLQ missing\tjunk clear\tskew refused\tskew no-data\tresends\tapplied twice\treload resolutions\treload missing\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", r.Fault, r.Deliveries, r.DeliveriesLost,
			r.DeliveriesDuplicated, r.DeliveriesCrashWindow, r.DeliveriesUnexpected, r.Injected, r.InjectedMissing, round(r.JunkClear),
			r.SkewRefused, r.SkewNoData, r.Resends, r.ResendsTwice, r.ReloadResolutions, r.ReloadMissing)
	}
	tw.Flush()
	for _, r := range rows {
		if r.PeakRSS > 0 {
			fmt.Printf("%s: replica RSS %d MiB before, at most %d MiB while PostgreSQL was down\n", r.Fault, r.BaselineRSS>>20, r.PeakRSS>>20)
		}
		by := make([]string, 0, len(r.DeliveredBy))
		for name, n := range r.DeliveredBy {
			by = append(by, fmt.Sprintf("%s %d", name, n))
		}
		sort.Strings(by)
		fmt.Printf("%s: notifications by replica: %s\n", r.Fault, strings.Join(by, ", "))
		for _, c := range r.CrashWindow {
			fmt.Printf("%s: sent again in the crash window: %s\n", r.Fault, c)
		}
		for _, p := range r.Problems {
			fmt.Printf("%s: %s\n", r.Fault, p)
		}
	}
}
