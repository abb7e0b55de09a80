package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// The stages a replica may run. The first four are goka stages; the api
// stage serves HTTP and the dashboard.
const (
	StageIngest   = tables.StageIngest
	StageFeatures = tables.StageFeatures
	StageSink     = tables.StageSink
	StageNotify   = tables.StageNotify
	StageAPI      = "api"
)

// Stages lists every stage, in the order a replica starts them.
func Stages() []string {
	return []string{StageIngest, StageFeatures, StageSink, StageNotify, StageAPI}
}

// Options configure a replica. Zero durations and sizes take their
// defaults, those of eventops's settings; errors of New name the settings'
// keys.
type Options struct {
	// Stages this replica runs (Stage*); at least one.
	Stages []string
	// Kafka says how the stages reach the brokers (Brokers required) and
	// where goka keeps its local state; Logger defaults to Logger.
	Kafka processors.Kafka
	// DatabaseURL is the PostgreSQL of the sink, notify and api stages;
	// the store is opened only when one of them runs.
	DatabaseURL string
	// Retention is how long metrics are kept (0: forever).
	Retention time.Duration
	// LoadRules reads the rules in force, at start and at every reload.
	LoadRules func() (*rules.RuleSet, error)
	// Alerting is the notify stage's receivers file; empty sends nothing.
	Alerting string
	// UserAgent of the notifications' requests (default "eventops").
	UserAgent string

	// Flush is how often dirty per-source state is written to its table
	// (default 5s). SourceIdle is how long an idle source's actor stays in
	// memory (0: 10m; negative: for ever). The series bounds default as
	// actors.SourcesOptions says.
	Flush, SourceIdle, SeriesStale       time.Duration
	MaxSeries, MaxTenantSeries, MaxState int
	// MaxFuture is how far an event time may be ahead of its arrival
	// (default 30s), in the ingest stage, the features stage and POST /ingest.
	MaxFuture time.Duration
	// WarmStart, with the features stage, fills the windows of sources
	// that start empty from their samples in PostgreSQL (DatabaseURL),
	// reading at most WarmMaxSamples samples within WarmTimeout, at most
	// WarmInFlight sources at once (see actors.WarmStart; zero values take
	// its defaults). A features stage that needs PostgreSQL for this only
	// neither migrates it nor waits for it to be ready: a warm-up that
	// cannot read starts its source cold.
	WarmStart      bool
	WarmMaxSamples int
	WarmTimeout    time.Duration
	WarmInFlight   int
	// BatchRows and BatchWait bound the sink's PostgreSQL batches
	// (defaults 10,000 rows and 200ms).
	BatchRows int
	BatchWait time.Duration
	// Shutdown bounds the drain of a stop: writers, producers and the
	// notifier's deliveries (default 30s).
	Shutdown time.Duration

	// Listener is where the api stage serves (required with it): the
	// caller binds it, so that its address is known before Run.
	Listener net.Listener
	// HTTPAddr is the API's address when this replica does not serve it:
	// the links of notifications point there.
	HTTPAddr string
	// API holds the API's access and limits (keys, sessions, CORS, ingest,
	// streams, queries, silences); the replica sets what it wires (stores,
	// hub, views, producer, readiness, reload, metrics, logger).
	API api.Options
	// KeysFile is read again at every reload when API.Keys came from it.
	KeysFile string
	// Reload, when set, reloads the keys and the rules at every value, as
	// POST /-/reload does (eventops passes SIGHUP).
	Reload <-chan os.Signal
	// OnReady, when set, is called once, when every stage is ready.
	OnReady func()

	// Registry collects the replica's metrics (default: a new one).
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Replica is one process's stages, wired. Run it once.
type Replica struct {
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry
	// afterStep, when set, is told of each step of the shutdown as it
	// ends (tests watch the order and what each step left).
	afterStep func(step string, w *wiring)
}

// New fills the defaults of opts and checks them.
func New(opts Options) (*Replica, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Replica{opts: opts, log: opts.Logger, reg: opts.Registry}, nil
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Kafka.Logger == nil {
		o.Kafka.Logger = o.Logger
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{{&o.Flush, 5 * time.Second}, {&o.MaxFuture, 30 * time.Second}, {&o.BatchWait, 200 * time.Millisecond}, {&o.Shutdown, 30 * time.Second}}
	for _, d := range defaults {
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	if o.BatchRows == 0 {
		o.BatchRows = 10_000
	}
	if o.MaxState == 0 {
		o.MaxState = 768 << 10
	}
	if o.UserAgent == "" {
		o.UserAgent = "eventops"
	}
	return o
}

// validate checks the options, naming the key of each bad setting.
func (o Options) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if len(o.Stages) == 0 {
		bad("stages", "name at least one stage")
	}
	for _, s := range o.Stages {
		if !slices.Contains(Stages(), s) {
			bad("stages", "unknown stage %q (known: %s)", s, strings.Join(Stages(), ", "))
		}
	}
	if len(o.Kafka.Brokers) == 0 {
		bad("brokers", "name at least one broker")
	}
	if o.DatabaseURL == "" && o.needsStore() {
		bad("database_url", "the sink, notify and api stages need PostgreSQL")
	}
	if o.DatabaseURL == "" && o.warms() {
		bad("database_url", "warm_start reads the sources' history from PostgreSQL")
	}
	if o.WarmMaxSamples < 0 || o.WarmInFlight < 0 || o.WarmTimeout < 0 {
		bad("warm_start", "its bounds must not be negative")
	}
	if o.LoadRules == nil {
		bad("rules", "no way to load the rules was given")
	}
	if o.Listener == nil && o.runs(StageAPI) {
		bad("http_addr", "the api stage needs a listener")
	}
	for key, d := range map[string]time.Duration{"flush_interval": o.Flush, "max_future": o.MaxFuture,
		"batch_interval": o.BatchWait, "shutdown_timeout": o.Shutdown, "retention": o.Retention} {
		if d < 0 {
			bad(key, "%s must not be negative", d)
		}
	}
	if o.BatchRows < 0 {
		bad("batch_rows", "%d must not be negative", o.BatchRows)
	}
	return errors.Join(errs...)
}

func (o Options) runs(stage string) bool { return slices.Contains(o.Stages, stage) }

// needsStore says whether a stage that reads or writes PostgreSQL runs.
func (o Options) needsStore() bool {
	return o.runs(StageSink) || o.runs(StageNotify) || o.runs(StageAPI)
}

// warms says whether the features stage runs with warm start, which reads
// PostgreSQL.
func (o Options) warms() bool { return o.WarmStart && o.runs(StageFeatures) }

// Run starts the stages and blocks until ctx ends or a stage fails, then
// shuts down in order (see the package doc). It returns once every
// goroutine it started has ended.
func (r *Replica) Run(ctx context.Context) error {
	w, err := r.open(ctx)
	if err != nil {
		return err
	}
	if err := w.build(ctx); err != nil {
		w.step(stepStages)
		return errors.Join(err, w.shutdown())
	}
	stages, sctx := errgroup.WithContext(ctx)
	w.start(sctx, stages)
	err = stages.Wait()
	r.log.Info("stages stopped; draining", "err", err)
	w.step(stepStages)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return errors.Join(err, w.shutdown())
}

func (w *wiring) step(name string) {
	if w.afterStep != nil {
		w.afterStep(name, w)
	}
}
