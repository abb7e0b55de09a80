package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/internal/stagelabel"
	"github.com/eventops/eventops/loadgen"
	"github.com/eventops/eventops/pglocal"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/replica"
	"github.com/eventops/eventops/tables"
)

// Options configure a benchmark run.
type Options struct {
	// Binary is the eventops binary: the broker runs as its own process
	// (eventops broker), as in production, so that the pipeline's CPU and
	// memory are its own (kfake keeps what it stores in memory too).
	Binary string
	// DataDir holds the run's working directory, removed at the end
	// unless Keep.
	DataDir string
	Keep    bool
	// DatabaseURL names a server to make a fresh database on; empty starts
	// a private PostgreSQL in the working directory.
	DatabaseURL string
	// Replica holds the pipeline's settings (rules, flush, batches); the
	// run sets its stages, brokers, database, listener and registry.
	Replica replica.Options
	// Events go through the pipeline in the capacity run, CeilingEvents
	// through each ceiling, over Sources × Metrics series, PerRecord
	// events of a source per raw record.
	Events, CeilingEvents       int64
	Sources, Metrics, PerRecord int
	// LatencyFor is the length of the latency run, which times Probes
	// alerts.
	LatencyFor time.Duration
	Probes     int
	// LatencyLoad is the latency run's load as a fraction of the
	// sustained rate the capacity run measured (0: one half).
	LatencyLoad  float64
	SkipCeilings bool
	// Soak configures Soak, Backtest Backtest.
	Soak     SoakOptions
	Backtest BacktestOptions
	// CPUProfile and MemProfile are files for the capacity run's profiles.
	CPUProfile, MemProfile string
	// Trace, when set, is written each stage's progress every second of
	// the capacity run; Progress, when set, a line for each part as it
	// starts.
	Trace, Progress io.Writer
	Logger          *slog.Logger
}

func (o *Options) say(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// rounds is how many times every series reports to make Events events.
func (o *Options) rounds() int64 {
	series := int64(o.Sources * o.Metrics)
	return (o.Events + series - 1) / series
}

// env is a run's working directory, broker process and database.
type env struct {
	dir     string
	broker  *brokerProcess
	brokers []string
	dbURL   string
	closers []func()
}

// setup makes the working directory, starts the broker process with every
// topic, and, when withDB, makes the database.
func setup(ctx context.Context, o *Options, withDB bool) (*env, error) {
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.DataDir, "bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir}
	if !o.Keep {
		e.closers = append(e.closers, func() { os.RemoveAll(dir) })
	}
	// The private PostgreSQL may run as another user, who must reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		e.close()
		return nil, err
	}
	if e.broker, err = startBrokerProcess(ctx, o.Binary, filepath.Join(dir, "broker-process")); err != nil {
		e.close()
		return nil, err
	}
	e.closers = append(e.closers, e.broker.stop)
	e.brokers = []string{e.broker.addr}
	if _, err := broker.EnsureTopics(ctx, e.brokers, tables.DefaultLayout(), 1); err != nil {
		e.close()
		return nil, err
	}
	if withDB {
		if err := e.database(ctx, o); err != nil {
			e.close()
			return nil, err
		}
	}
	return e, nil
}

// database makes a fresh database on o.DatabaseURL's server, or starts a
// private PostgreSQL.
func (e *env) database(ctx context.Context, o *Options) error {
	if o.DatabaseURL != "" {
		name := fmt.Sprintf("eventops_bench_%d", time.Now().UnixNano())
		var err error
		if e.dbURL, err = FreshDatabase(ctx, o.DatabaseURL, name); err != nil {
			return err
		}
		if !o.Keep {
			// The run's database goes with its directory; the run's
			// context may have ended by then.
			e.closers = append(e.closers, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := DropDatabase(ctx, o.DatabaseURL, name); err != nil && o.Logger != nil {
					o.Logger.Warn("the benchmark's database could not be dropped", "database", name, "err", err)
				}
			})
		}
		return nil
	}
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(e.dir, "postgres"), Logger: o.Logger})
	if err != nil {
		return err
	}
	e.closers = append(e.closers, func() { _ = pg.Stop() })
	e.dbURL = pg.URL()
	return nil
}

// close undoes setup, newest first.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// pipeline is the replica under measure, running.
type pipeline struct {
	reg  *prometheus.Registry
	api  string // the API's base URL
	errc chan error
	stop func() error
}

// startPipeline runs a replica of every stage but notify on the env.
func startPipeline(ctx context.Context, o *Options, e *env) (*pipeline, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ro := o.Replica
	ro.Stages = []string{replica.StageIngest, replica.StageFeatures, replica.StageSink, replica.StageAPI}
	ro.Kafka.Brokers, ro.Kafka.Replication, ro.Kafka.DataDir, ro.Kafka.Logger = e.brokers, 1, e.dir, o.Logger
	ro.DatabaseURL, ro.Listener, ro.Registry, ro.Logger = e.dbURL, ln, prometheus.NewRegistry(), o.Logger
	ro.API.LocalOnly = true
	r, err := replica.New(ro)
	if err != nil {
		ln.Close()
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &pipeline{reg: ro.Registry, api: "http://" + ln.Addr().String(), errc: make(chan error, 1)}
	go func() { p.errc <- r.Run(pctx) }()
	p.stop = sync.OnceValue(func() error {
		cancel()
		err := <-p.errc
		ln.Close()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	})
	return p, nil
}

// rowsInserted is how many metric rows the pipeline wrote.
func (p *pipeline) rowsInserted() float64 {
	return Sum(p.reg, "eventops_store_rows_total", map[string]string{"table": "metrics", "outcome": "inserted"})
}

// awaitRows waits until the pipeline has written want metric rows, it
// stops, or ctx ends.
func (p *pipeline) awaitRows(ctx context.Context, want float64) error {
	return p.await(ctx, func() bool { return p.rowsInserted() >= want })
}

// awaitReady waits until the pipeline answers ready (its stages run and
// reach the broker and the database), it stops, or ctx ends.
func (p *pipeline) awaitReady(ctx context.Context) error {
	return p.await(ctx, func() bool {
		_, err := api.Probe(ctx, p.api+"/readyz", time.Second)
		return err == nil
	})
}

// await polls done until it holds, the pipeline stops, or ctx ends.
func (p *pipeline) await(ctx context.Context, done func() bool) error {
	for !done() {
		select {
		case err := <-p.errc:
			p.errc <- err
			return fmt.Errorf("the pipeline stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Run measures the machine's ceilings, then the pipeline: its sustained
// rate over a backlog loaded first (the capacity run), then alert and row
// latency at half that rate.
func Run(ctx context.Context, o Options) (Result, error) {
	res := Result{Machine: Machine(), Scenario: fmt.Sprintf("%d sources × %d metrics, one sample per metric every 10 s of event time, %d event(s) per record",
		o.Sources, o.Metrics, o.PerRecord)}
	e, err := setup(ctx, &o, true)
	if err != nil {
		return res, err
	}
	defer e.close()
	if !o.SkipCeilings {
		if res.Ceilings, err = ceilings(ctx, &o, e); err != nil {
			return res, err
		}
	}
	total, err := preload(ctx, &o, e, loadgen.Options{Sources: o.Sources, Metrics: o.Metrics, Rounds: o.rounds(),
		PerRecord: o.PerRecord, Keyed: true, Seed: 1})
	if err != nil {
		return res, err
	}
	p, err := capacity(ctx, &o, e, total, &res.Pipeline)
	if p != nil {
		defer p.stop()
	}
	if err != nil {
		return res, fmt.Errorf("capacity run: %w", err)
	}
	if err := latency(ctx, &o, e, p, total, &res); err != nil {
		return res, err
	}
	if err := p.stop(); err != nil {
		return res, err
	}
	// The features table as the run left it, once the stopping pipeline
	// flushed every source: the scenario's sources (not the probes').
	tctx, tcancel := context.WithTimeout(ctx, time.Minute)
	keys, stateBytes, err := TableSize(tctx, e.brokers, tables.FeaturesTable, func(key []byte) bool { return !bytes.HasPrefix(key, []byte(probeTenant+"/")) })
	tcancel()
	if err != nil {
		return res, err
	}
	if res.Pipeline.TableKeys = keys; keys > 0 {
		res.Pipeline.StateBytesPerSource = float64(stateBytes) / float64(keys)
		res.Pipeline.StateBytesPerSeries = float64(stateBytes) / float64(keys*o.Metrics)
	}
	res.Ratios = map[string]float64{}
	for name, c := range res.Ceilings {
		if c.PerSec > 0 {
			res.Ratios["pipeline_over_"+name] = res.Pipeline.EventsPerSec / c.PerSec
		}
	}
	return res, nil
}

// ceilings measures the three ceilings on the env's broker and database.
func ceilings(ctx context.Context, o *Options, e *env) (map[string]Throughput, error) {
	out := map[string]Throughput{}
	var err error
	o.say("ceiling 1/3: franz-go produce + consume through the embedded broker (%d records)…", o.CeilingEvents)
	if out[CeilingBroker], err = BrokerRoundTrip(ctx, e.brokers, o.CeilingEvents, 200); err != nil {
		return nil, err
	}
	o.say("ceiling 2/3: a bare goka processor counting per key (%d events)…", o.CeilingEvents)
	k := processors.Kafka{Brokers: e.brokers, ClientID: "bench-bare", Logger: o.Logger}
	if out[CeilingGoka], err = BareGoka(ctx, k, o.CeilingEvents, o.Sources); err != nil {
		return nil, err
	}
	o.say("ceiling 3/3: raw COPY into PostgreSQL (%d rows)…", o.CeilingEvents)
	if out[CeilingPostgres], err = RawCopy(ctx, e.dbURL, o.CeilingEvents, 10_000); err != nil {
		return nil, err
	}
	return out, nil
}

// preload loads the capacity run's backlog, lo's events, into the raw
// topic.
func preload(ctx context.Context, o *Options, e *env, lo loadgen.Options) (int64, error) {
	gen := loadgen.NewGenerator(lo, time.Now())
	o.say("loading %d events into %s…", lo.Rounds*int64(lo.Sources*lo.Metrics), tables.RawTopic)
	sink, err := loadgen.NewKafkaSink(e.brokers)
	if err != nil {
		return 0, err
	}
	sum, err := loadgen.Run(ctx, gen, sink, loadgen.RunOptions{})
	sink.Close()
	return sum.Events, err
}

// capacity starts the pipeline over the loaded backlog and measures how
// fast it drains it into PostgreSQL. The pipeline runs on for the latency
// run.
func capacity(ctx context.Context, o *Options, e *env, total int64, pl *PipelineResult) (*pipeline, error) {
	o.say("running the pipeline over them…")
	stopProfile, err := cpuProfile(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	start, cpu0, pg0, brk0 := time.Now(), CPU(), ProcessCPU("postgres"), PidCPU(e.broker.pid)
	p, err := startPipeline(ctx, o, e)
	if err != nil {
		return nil, err
	}
	if o.Trace != nil {
		tctx, tstop := context.WithCancel(ctx)
		defer tstop()
		go traceStages(tctx, o.Trace, p.reg, start)
	}
	if err := p.awaitRows(ctx, float64(total)); err != nil {
		return p, err
	}
	elapsed := time.Since(start)
	cpu, pgcpu, brkcpu := CPU()-cpu0, ProcessCPU("postgres")-pg0, PidCPU(e.broker.pid)-brk0
	prof, err := stopProfile()
	if err != nil {
		return p, err
	}
	byStage, err := StageCPU(prof, stagelabel.Key)
	if err != nil {
		return p, err
	}
	if o.MemProfile != "" {
		if err := writeHeapProfile(o.MemProfile); err != nil {
			return p, err
		}
	}
	per1k := func(d time.Duration) float64 { return d.Seconds() / float64(total) * 1000 }
	*pl = PipelineResult{Events: total, Elapsed: elapsed, EventsPerSec: float64(total) / elapsed.Seconds(),
		CPUPer1000: per1k(cpu), PostgresCPUPer1k: per1k(pgcpu), BrokerCPUPer1k: per1k(brkcpu),
		ChangelogBytes: Sum(p.reg, "eventops_state_flush_bytes_total", nil) / float64(total), PeakRSS: PeakRSS(),
		StageCPU: map[string]float64{}}
	for stage, d := range byStage {
		pl.StageCPU[stage] = float64(d) / float64(time.Microsecond) / float64(total)
	}
	o.say("pipeline: %d events in %s: %.0f events/s", total, elapsed.Round(time.Millisecond), pl.EventsPerSec)
	return p, nil
}

// traceStages writes, every second, how many events each stage has
// passed on (where a backlog forms is the stage that bounds the pipeline),
// the Go heap's objects, live and not yet collected, and the RSS.
func traceStages(ctx context.Context, w io.Writer, reg *prometheus.Registry, start time.Time) {
	fmt.Fprintf(w, "%6s %10s %10s %10s %10s %8s %9s %9s\n", "t", "ingest", "features", "sink", "rows", "cpu%", "heap MiB", "RSS MiB")
	t := time.NewTicker(time.Second)
	defer t.Stop()
	cpu0, at0 := CPU(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cpu := CPU()
			fmt.Fprintf(w, "%6.0f %10.0f %10.0f %10.0f %10.0f %8.0f %9d %9d\n", now.Sub(start).Seconds(),
				Sum(reg, "eventops_events_out_total", map[string]string{"stage": replica.StageIngest}),
				Sum(reg, "eventops_feature_samples_total", nil),
				Sum(reg, "eventops_events_in_total", map[string]string{"stage": replica.StageSink}),
				Sum(reg, "eventops_store_rows_total", map[string]string{"table": "metrics", "outcome": "inserted"}),
				float64(cpu-cpu0)/float64(now.Sub(at0))*100, HeapObjects()>>20, RSS()>>20)
			cpu0, at0 = cpu, now
		}
	}
}
