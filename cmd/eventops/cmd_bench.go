package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/bench"
	"github.com/eventops/eventops/loadgen"
	"github.com/eventops/eventops/pglocal"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

type benchFlags struct {
	events       int64
	ceilings     int64
	sources      int
	metrics      int
	perRecord    int
	latencyFor   time.Duration
	probes       int
	quick        bool
	jsonOut      bool
	keepData     bool
	skipCeilings bool
	cpuProfile   string
	memProfile   string
	stage        string
	trace        bool
}

func (f *benchFlags) bind(fs *flag.FlagSet) {
	fs.Int64Var(&f.events, "events", 1_000_000, "events through the full pipeline in the capacity run")
	fs.Int64Var(&f.ceilings, "ceiling-events", 500_000, "records for each ceiling measurement")
	fs.IntVar(&f.sources, "sources", 10_000, "sources of the scenario")
	fs.IntVar(&f.metrics, "metrics", 10, "metrics per source")
	fs.IntVar(&f.perRecord, "per-record", 1, "events per raw record (an agent sending a source's metrics together: set it to --metrics)")
	fs.DurationVar(&f.latencyFor, "latency-duration", 20*time.Second, "length of the latency run at half the sustained rate")
	fs.IntVar(&f.probes, "probes", 100, "alerts timed in the latency run")
	fs.BoolVar(&f.quick, "quick", false, "a smoke run of a few seconds (CI)")
	fs.BoolVar(&f.jsonOut, "json", false, "print the results as JSON")
	fs.BoolVar(&f.keepData, "keep-data", false, "keep the data directory afterwards")
	fs.BoolVar(&f.skipCeilings, "skip-ceilings", false, "measure the pipeline only")
	fs.BoolVar(&f.trace, "trace", false, "print each stage's progress every second of the capacity run")
	fs.StringVar(&f.stage, "stage", "", "measure one stage alone instead of the pipeline: features (beside a bare goka processor over the same signals)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the capacity run to this file (go tool pprof)")
	fs.StringVar(&f.memProfile, "memprofile", "", "write a heap profile at the end of the capacity run to this file")
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

// BenchResult is what `eventops bench --json` prints.
type BenchResult struct {
	Machine  string                      `json:"machine"`
	Scenario string                      `json:"scenario"`
	Ceilings map[string]bench.Throughput `json:"ceilings,omitempty"`
	Pipeline struct {
		Events           int64         `json:"events"`
		Elapsed          time.Duration `json:"elapsed_ns"`
		EventsPerSec     float64       `json:"events_per_sec"`
		CPUPer1000       float64       `json:"cpu_seconds_per_1000_events"`
		PostgresCPUPer1k float64       `json:"postgres_cpu_seconds_per_1000_events"`
		BrokerCPUPer1k   float64       `json:"broker_cpu_seconds_per_1000_events"`
		ChangelogBytes   float64       `json:"changelog_bytes_per_event"`
		PeakRSS          int64         `json:"peak_rss_bytes"`
	} `json:"pipeline"`
	Latency struct {
		Rate     float64       `json:"events_per_sec"`
		Alerts   int           `json:"alerts_timed"`
		AlertP50 time.Duration `json:"alert_p50_ns"`
		AlertP95 time.Duration `json:"alert_p95_ns"`
		AlertP99 time.Duration `json:"alert_p99_ns"`
		RowP50   time.Duration `json:"row_p50_ns"`
		RowP99   time.Duration `json:"row_p99_ns"`
		LagAtEnd int64         `json:"events_behind_at_end"`
		RSSAtEnd int64         `json:"rss_bytes_at_end"`
		PeakRSS  int64         `json:"peak_rss_bytes"`
		// RSS sampled every second: the highest of the first and of the
		// second half of the run; bounded memory keeps them close.
		MaxRSSFirstHalf  int64 `json:"max_rss_first_half_bytes"`
		MaxRSSSecondHalf int64 `json:"max_rss_second_half_bytes"`
	} `json:"latency"`
	Ratios map[string]float64 `json:"ratios,omitempty"`
}

func (f *benchFlags) run(ctx context.Context, cfg *Config, _ []string, log *slog.Logger) error {
	if f.quick {
		f.events, f.ceilings, f.sources, f.metrics = 20_000, 20_000, 200, 10
		f.latencyFor, f.probes = 3*time.Second, 5
	}
	if f.events <= 0 || f.sources <= 0 || f.metrics <= 0 || f.perRecord <= 0 {
		return usageError{"--events, --sources, --metrics and --per-record must be positive"}
	}
	quiet := log
	if !f.jsonOut {
		quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir, err := os.MkdirTemp(cfg.DataDir, "bench-")
	if err != nil {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return err
		}
		if dir, err = os.MkdirTemp(cfg.DataDir, "bench-"); err != nil {
			return err
		}
	}
	if !f.keepData {
		defer os.RemoveAll(dir)
	}
	// The private PostgreSQL may run as another user, who must reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	say := func(format string, args ...any) {
		if !f.jsonOut {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}
	bcfg := *cfg
	bcfg.DataDir = dir
	bcfg.HTTPAddr = "127.0.0.1:0"
	bcfg.Stages = []string{"ingest", "features", "sink", "api"}
	bcfg.Replication = 1
	// The broker runs as its own process, as in production, so that the
	// pipeline's CPU and memory are its own (kfake keeps what it stores in
	// memory too).
	brk, err := startBrokerProcess(ctx, filepath.Join(dir, "broker-process"))
	if err != nil {
		return err
	}
	defer brk.stop()
	brokers := []string{brk.addr}
	if err := ensureTopics(ctx, &bcfg, brokers, quiet, false); err != nil {
		return err
	}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(dir, "postgres"), Logger: quiet})
		if err != nil {
			return err
		}
		defer pg.Stop()
		dbURL = pg.URL()
	} else if dbURL, err = freshDatabase(ctx, dbURL); err != nil {
		return err
	}

	if f.stage == "features" {
		return f.featuresStage(ctx, &bcfg, brokers, quiet)
	} else if f.stage != "" {
		return usageError{fmt.Sprintf("--stage %q: the stage measured alone is features", f.stage)}
	}
	var res BenchResult
	res.Machine = machine()
	res.Scenario = fmt.Sprintf("%d sources × %d metrics, one sample per metric every 10 s of event time, %d event(s) per record",
		f.sources, f.metrics, f.perRecord)
	if !f.skipCeilings {
		res.Ceilings = map[string]bench.Throughput{}
		say("ceiling 1/3: franz-go produce + consume through the embedded broker (%d records)…", f.ceilings)
		if res.Ceilings["broker_roundtrip_records"], err = bench.BrokerRoundTrip(ctx, brokers, f.ceilings, 200); err != nil {
			return err
		}
		say("ceiling 2/3: a bare goka processor counting per key (%d events)…", f.ceilings)
		k := processors.Kafka{Brokers: brokers, ClientID: "bench-bare", Logger: quiet}
		if res.Ceilings["bare_goka_events"], err = bench.BareGoka(ctx, k, f.ceilings, f.sources); err != nil {
			return err
		}
		say("ceiling 3/3: raw COPY into PostgreSQL (%d rows)…", f.ceilings)
		if res.Ceilings["postgres_copy_rows"], err = bench.RawCopy(ctx, dbURL, f.ceilings, 10_000); err != nil {
			return err
		}
	}

	// The capacity run: the raw topic is loaded first, then the pipeline
	// starts and drains it; its rate is the sustainable one.
	rounds := (f.events + int64(f.sources*f.metrics) - 1) / int64(f.sources*f.metrics)
	gen := loadgen.NewGenerator(loadgen.Options{Sources: f.sources, Metrics: f.metrics, Rounds: rounds,
		PerRecord: f.perRecord, Keyed: true, Seed: 1}, time.Now())
	say("loading %d events into %s…", rounds*int64(f.sources*f.metrics), tables.RawTopic)
	sink, err := loadgen.NewKafkaSink(brokers)
	if err != nil {
		return err
	}
	sum, err := loadgen.Run(ctx, gen, sink, loadgen.RunOptions{})
	sink.Close()
	if err != nil {
		return err
	}
	total := sum.Events

	reg := prometheus.NewRegistry()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	apiLn, err := listenAPI(&bcfg)
	if err != nil {
		return err
	}
	defer apiLn.Close()
	httpAddr := apiLn.Addr().String()
	p := &pipeline{cfg: &bcfg, log: quiet, brokers: brokers, dbURL: dbURL, api: apiLn, reg: reg, dev: true}
	perr := make(chan error, 1)
	say("running the pipeline over them…")
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pf.Close()
	}
	start, cpu0, pg0, brk0 := time.Now(), bench.CPU(), bench.ProcessCPU("postgres"), bench.PidCPU(brk.pid)
	go func() { perr <- p.run(pctx) }()
	if f.trace {
		tctx, tstop := context.WithCancel(ctx)
		defer tstop()
		go traceStages(tctx, reg, start)
	}
	if err := waitCounter(ctx, reg, perr, "eventops_store_rows_total", map[string]string{"table": "metrics", "outcome": "inserted"}, float64(total)); err != nil {
		return fmt.Errorf("capacity run: %w", err)
	}
	elapsed := time.Since(start)
	cpu, pgcpu, brkcpu := bench.CPU()-cpu0, bench.ProcessCPU("postgres")-pg0, bench.PidCPU(brk.pid)-brk0
	if f.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if f.memProfile != "" {
		if err := writeHeapProfile(f.memProfile); err != nil {
			return err
		}
	}
	pl := &res.Pipeline
	pl.Events, pl.Elapsed = total, elapsed
	pl.EventsPerSec = float64(total) / elapsed.Seconds()
	pl.CPUPer1000 = cpu.Seconds() / float64(total) * 1000
	pl.PostgresCPUPer1k = pgcpu.Seconds() / float64(total) * 1000
	pl.BrokerCPUPer1k = brkcpu.Seconds() / float64(total) * 1000
	pl.ChangelogBytes = bench.Sum(reg, "eventops_state_flush_bytes_total", nil) / float64(total)
	pl.PeakRSS = bench.PeakRSS()
	say("pipeline: %d events in %s: %.0f events/s", total, elapsed.Round(time.Millisecond), pl.EventsPerSec)

	// The latency run at half the sustained rate, with probe alerts.
	if err := f.latency(ctx, &res, brokers, dbURL, "http://"+httpAddr, reg, total, say); err != nil {
		return err
	}
	stop()
	if err := <-perr; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}

	res.Ratios = map[string]float64{}
	for name, c := range res.Ceilings {
		if c.PerSec > 0 {
			res.Ratios["pipeline_over_"+name] = pl.EventsPerSec / c.PerSec
		}
	}
	if f.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printBench(os.Stdout, &res)
	return nil
}

// StageBench is what `eventops bench --stage features --json` prints.
type StageBench struct {
	Machine  string            `json:"machine"`
	Scenario string            `json:"scenario"`
	Bare     bench.Throughput  `json:"bare_goka"`
	Features bench.StageResult `json:"features"`
	Ratio    float64           `json:"features_over_bare"`
}

// featuresStage measures the features stage alone over pre-produced
// signals, beside a bare goka processor that only counts per key over the
// same records, in the same run.
func (f *benchFlags) featuresStage(ctx context.Context, cfg *Config, brokers []string, log *slog.Logger) error {
	per := f.perRecord
	rounds := (f.events + int64(f.sources*f.metrics) - 1) / int64(f.sources*f.metrics)
	events, records, err := bench.Signals(ctx, brokers, f.sources, f.metrics, per, rounds, 10*time.Second)
	if err != nil {
		return err
	}
	k := processors.Kafka{Brokers: brokers, ClientID: "bench-stage", Logger: log, DataDir: filepath.Join(cfg.DataDir, "stage")}
	var res StageBench
	res.Machine = machine()
	res.Scenario = fmt.Sprintf("%d sources × %d metrics, a sample per metric every 10 s of event time, %d sample(s) per signal; %d events in %d signals",
		f.sources, f.metrics, per, events, records)
	if !f.jsonOut {
		fmt.Fprintf(os.Stderr, "bare goka processor over %d signals…\n", records)
	}
	if res.Bare, err = bench.BareGokaOn(ctx, k, tables.SignalsTopic, records); err != nil {
		return err
	}
	// The bare processor counted records; in events, each carried per.
	res.Bare = bench.Throughput{Count: events, Elapsed: res.Bare.Elapsed, PerSec: float64(events) / res.Bare.Elapsed.Seconds(),
		CPUPerItem: res.Bare.CPUPerItem / time.Duration(per)}
	rs, err := loadRules(cfg)
	if err != nil {
		return err
	}
	if !f.jsonOut {
		fmt.Fprintf(os.Stderr, "features stage over the same signals…\n")
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pf.Close()
	}
	if res.Features, err = bench.FeaturesStage(ctx, k, rs, events, cfg.Flush); err != nil {
		return err
	}
	if f.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	res.Ratio = res.Features.PerSec / res.Bare.PerSec
	if f.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\nscenario\t%s\n\n", res.Machine, res.Scenario)
	fmt.Fprintf(tw, "\tevents/s\tCPU per event\tchangelog bytes per event\n")
	fmt.Fprintf(tw, "bare goka (count per key)\t%.0f\t%s\t%s\n", res.Bare.PerSec, res.Bare.CPUPerItem, "one write per record")
	fmt.Fprintf(tw, "features stage\t%.0f\t%s\t%.1f\n", res.Features.PerSec, res.Features.CPUPerItem, res.Features.ChangelogBytesPerEvent)
	fmt.Fprintf(tw, "features / bare\t%.2f\t\t\n", res.Ratio)
	fmt.Fprintf(tw, "mean encoded state of a source\t%.0f bytes\t\t\n", res.Features.StateBytesPerSource)
	return tw.Flush()
}

// latency runs the load at half the measured rate and times probe alerts
// (event produced → alert on the SSE stream) and probe rows (event produced
// → row visible in PostgreSQL).
func (f *benchFlags) latency(ctx context.Context, res *BenchResult, brokers []string, dbURL, api string,
	reg *prometheus.Registry, already int64, say func(string, ...any)) error {
	lr := &res.Latency
	lr.Rate = res.Pipeline.EventsPerSec / 2
	say("latency run: %.0f events/s for %s with %d probe alerts…", lr.Rate, f.latencyFor, f.probes)
	// Live agents: every series reports once per interval of the wall
	// clock, so that the load's event time stays at the broker's (the
	// sources' future bound is small) while it runs at the rate.
	every := max(time.Duration(float64(f.sources*f.metrics)/lr.Rate*float64(time.Second)), time.Millisecond)
	gen := loadgen.NewGenerator(loadgen.Options{Sources: f.sources, Metrics: f.metrics, PerRecord: f.perRecord,
		Keyed: true, Seed: 2, Interval: every, Start: time.Now().Truncate(every)}, time.Now())
	sink, err := loadgen.NewKafkaSink(brokers)
	if err != nil {
		return err
	}
	defer sink.Close()
	lctx, cancel := context.WithTimeout(ctx, f.latencyFor)
	defer cancel()
	loadDone := make(chan loadgen.Summary, 1)
	go func() {
		s, _ := loadgen.Run(lctx, gen, sink, loadgen.RunOptions{Rate: lr.Rate, Speed: 1})
		loadDone <- s
	}()
	var rss []int64
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				rss = append(rss, bench.RSS())
			}
		}
	}()

	// SSE: the probes' alerts.
	type seen struct {
		host string
		at   time.Time
	}
	arrivals := make(chan seen, f.probes*2)
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	go func() {
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, api+"/alerts/stream?tenant=probe", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var a struct{ Host, State string }
				if json.Unmarshal([]byte(data), &a) == nil && a.State == "firing" {
					arrivals <- seen{a.Host, time.Now()}
				}
			}
		}
	}()
	probe, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgotables.Partitioner()))
	if err != nil {
		return err
	}
	defer probe.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)

	var alertLat, rowLat []time.Duration
	var mu sync.Mutex
	interval := f.latencyFor / time.Duration(f.probes+1)
	for i := 0; i < f.probes && lctx.Err() == nil; i++ {
		host := fmt.Sprintf("probe-%04d", i)
		v := fmt.Sprintf(`{"tenant_id":"probe","host":%q,"metric":"cpu_load","value":99,"ts_event":%q}`, host, time.Now().Format(time.RFC3339Nano))
		sent := time.Now()
		if err := probe.ProduceSync(ctx, &kgo.Record{Topic: tables.RawTopic, Key: []byte("probe/" + host), Value: []byte(v)}).FirstErr(); err != nil {
			return err
		}
		// The row: poll PostgreSQL for it.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(sent) < 30*time.Second {
				var n int
				_ = conn.QueryRow(ctx, `SELECT count(*) FROM metrics WHERE tenant = 'probe' AND source_id = $1`, host).Scan(&n)
				if n > 0 {
					mu.Lock()
					rowLat = append(rowLat, time.Since(sent))
					mu.Unlock()
					return
				}
				<-time.After(5 * time.Millisecond)
			}
		}()
		select {
		case a := <-arrivals:
			if a.host == host {
				alertLat = append(alertLat, a.at.Sub(sent))
			}
		case <-time.After(10 * time.Second):
		}
		wg.Wait()
		<-time.After(max(0, interval-time.Since(sent)))
	}
	cancel()
	load := <-loadDone
	<-rssDone
	half := len(rss) / 2
	for i, v := range rss {
		if i < half {
			lr.MaxRSSFirstHalf = max(lr.MaxRSSFirstHalf, v)
		} else {
			lr.MaxRSSSecondHalf = max(lr.MaxRSSSecondHalf, v)
		}
	}
	// How far behind is the pipeline once the load stops?
	want := float64(already + load.Events + int64(len(rowLat)))
	got := bench.Sum(reg, "eventops_store_rows_total", map[string]string{"table": "metrics", "outcome": "inserted"})
	lr.LagAtEnd = int64(want - got)
	lr.Alerts = len(alertLat)
	ps := bench.Percentiles(alertLat, 0.5, 0.95, 0.99)
	lr.AlertP50, lr.AlertP95, lr.AlertP99 = ps[0], ps[1], ps[2]
	rs := bench.Percentiles(rowLat, 0.5, 0.99)
	lr.RowP50, lr.RowP99 = rs[0], rs[1]
	lr.RSSAtEnd, lr.PeakRSS = bench.RSS(), bench.PeakRSS()
	return nil
}

func printBench(w io.Writer, r *BenchResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\n", r.Machine)
	fmt.Fprintf(tw, "scenario\t%s\n\n", r.Scenario)
	fmt.Fprintf(tw, "ceiling\tcount\trate/s\tCPU per item\n")
	for _, name := range []string{"broker_roundtrip_records", "bare_goka_events", "postgres_copy_rows"} {
		if c, ok := r.Ceilings[name]; ok {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\n", name, c.Count, c.PerSec, c.CPUPerItem)
		}
	}
	p := r.Pipeline
	fmt.Fprintf(tw, "\npipeline (normalize → enrich → features → rules → PostgreSQL)\t\t\t\n")
	fmt.Fprintf(tw, "events\t%d\n", p.Events)
	fmt.Fprintf(tw, "sustained events/s\t%.0f\n", p.EventsPerSec)
	fmt.Fprintf(tw, "CPU s per 1,000 events: eventops / broker / PostgreSQL\t%.4f / %.4f / %.4f\n", p.CPUPer1000, p.BrokerCPUPer1k, p.PostgresCPUPer1k)
	fmt.Fprintf(tw, "changelog bytes per event\t%.1f\n", p.ChangelogBytes)
	fmt.Fprintf(tw, "peak RSS\t%d MiB\n", p.PeakRSS>>20)
	l := r.Latency
	fmt.Fprintf(tw, "\nlatency at %.0f events/s\t\n", l.Rate)
	fmt.Fprintf(tw, "event → alert on SSE (p50/p95/p99 of %d)\t%s / %s / %s\n", l.Alerts, l.AlertP50.Round(time.Millisecond/10),
		l.AlertP95.Round(time.Millisecond/10), l.AlertP99.Round(time.Millisecond/10))
	fmt.Fprintf(tw, "event → row in PostgreSQL (p50/p99)\t%s / %s\n", l.RowP50.Round(time.Millisecond), l.RowP99.Round(time.Millisecond))
	fmt.Fprintf(tw, "events behind when the load stopped\t%d\n", l.LagAtEnd)
	fmt.Fprintf(tw, "RSS: highest in the first / second half of the run\t%d MiB / %d MiB\n", l.MaxRSSFirstHalf>>20, l.MaxRSSSecondHalf>>20)
	fmt.Fprintf(tw, "RSS at end / peak of the whole benchmark\t%d MiB / %d MiB\n", l.RSSAtEnd>>20, l.PeakRSS>>20)
	if len(r.Ratios) > 0 {
		fmt.Fprintf(tw, "\nratios\t\n")
		for _, name := range []string{"broker_roundtrip_records", "bare_goka_events", "postgres_copy_rows"} {
			if v, ok := r.Ratios["pipeline_over_"+name]; ok {
				fmt.Fprintf(tw, "pipeline / %s\t%.2f\n", name, v)
			}
		}
	}
	tw.Flush()
}

// waitCounter waits until a counter reaches want, the pipeline fails, or
// ctx ends.
func waitCounter(ctx context.Context, reg *prometheus.Registry, perr chan error, name string, labels map[string]string, want float64) error {
	for {
		if bench.Sum(reg, name, labels) >= want {
			return nil
		}
		select {
		case err := <-perr:
			perr <- err
			return fmt.Errorf("the pipeline stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// brokerProcess is `eventops broker` run as a child process.
type brokerProcess struct {
	addr string
	pid  int
	stop func()
}

func startBrokerProcess(ctx context.Context, dir string) (*brokerProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addrFile := filepath.Join(dir, "addrs.json")
	cmd := exec.Command(exe, "broker", "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--addr-file", addrFile, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("broker process: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := awaitListening(lctx, addrFile, exited)
	if err != nil {
		stop()
		return nil, fmt.Errorf("broker process: %w", err)
	}
	return &brokerProcess{addr: l.Kafka[0], pid: cmd.Process.Pid, stop: stop}, nil
}

// traceStages prints, every second, how many events each stage has
// passed on: where a backlog forms is the stage that bounds the pipeline.
func traceStages(ctx context.Context, reg *prometheus.Registry, start time.Time) {
	fmt.Fprintf(os.Stderr, "%6s %10s %10s %10s %10s %8s\n", "t", "ingest", "features", "sink", "rows", "cpu%")
	t := time.NewTicker(time.Second)
	defer t.Stop()
	cpu0, at0 := bench.CPU(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cpu := bench.CPU()
			fmt.Fprintf(os.Stderr, "%6.0f %10.0f %10.0f %10.0f %10.0f %8.0f\n", now.Sub(start).Seconds(),
				bench.Sum(reg, "eventops_events_out_total", map[string]string{"stage": "ingest"}),
				bench.Sum(reg, "eventops_feature_samples_total", nil),
				bench.Sum(reg, "eventops_events_in_total", map[string]string{"stage": "sink"}),
				bench.Sum(reg, "eventops_store_rows_total", map[string]string{"table": "metrics", "outcome": "inserted"}),
				float64(cpu-cpu0)/float64(now.Sub(at0))*100)
			cpu0, at0 = cpu, now
		}
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

// freshDatabase creates an empty database for the benchmark on the server
// of dbURL, so that a run never mixes with the data already there.
func freshDatabase(ctx context.Context, dbURL string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("eventops_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("bench database: %w", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// machine describes where the benchmark ran.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %d GiB", (kb+1<<19)>>20)
	}
	return fmt.Sprintf("%d cores (%s)%s, %s/%s, %s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
