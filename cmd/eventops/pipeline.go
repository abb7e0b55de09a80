package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/static"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// pipeline is one replica's stages, wired.
type pipeline struct {
	cfg     *Config
	log     *slog.Logger
	brokers []string
	dbURL   string
	// api is the listener the api stage serves on (listenAPI).
	api net.Listener
	// reg collects the pipeline's metrics; nil makes a new registry.
	reg      *prometheus.Registry
	restarts *prometheus.CounterVec
	// dev serves the API without keys on localhost when no keys file is set.
	dev bool
	// onReady, when set, is called once, when every stage is ready.
	onReady func()
}

func (c *Config) has(stage string) bool { return slices.Contains(c.Stages, stage) }

func (c *Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("eventops-%s-%d", host, os.Getpid())
}

// run starts the stages and blocks until ctx ends, then shuts down in
// order: intake stops (processors finish their callbacks), deferred commits
// are released as batches and states become durable, the writers drain,
// the producer flushes, and connections close.
func (p *pipeline) run(ctx context.Context) error {
	cfg, log := p.cfg, p.log
	reg := p.reg
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.restarts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventops_stage_restarts_total",
		Help: "Stages run again after they failed, by stage."}, []string{"stage"})
	reg.MustRegister(p.restarts)

	ruleSet, err := loadRules(cfg)
	if err != nil {
		return err
	}
	ruleHolder := actors.NewRuleHolder(ruleSet)
	access, err := p.apiAccess()
	if err != nil {
		return err
	}

	db, err := store.Open(ctx, store.Options{URL: p.dbURL, Retention: cfg.Retention, Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}

	kafka := processors.Kafka{
		Brokers: p.brokers, ClientID: cfg.clientID(), Replication: cfg.Replication, DataDir: cfg.DataDir,
		SessionTimeout: cfg.Session, HeartbeatInterval: cfg.Heartbeat, RebalanceTimeout: cfg.Rebalance, Logger: log,
	}
	// Producers write batches no larger than every topic they write takes.
	if kafka.BatchBytes, err = broker.BatchLimit(ctx, p.brokers, tables.RawTopic, tables.SignalsTopic, tables.AlertsTopic,
		tables.DLQTopic, string(tables.FeaturesTable)); err != nil {
		return err
	}
	newProducer := kafka.NewProducer
	// Three producers, so that one kind of record never waits behind a
	// burst of another: signals and DLQ records, feature-state flushes, and
	// alerts.
	producer, err := newProducer("records")
	if err != nil {
		return err
	}
	defer producer.Close()
	// A state write that has not landed by the hand-back grace fails (the
	// actor writes again while it owns the source): a write of an owner
	// that lost the partition cannot land long after the next owner's.
	stateProducer, err := newProducer("state", kgo.RecordDeliveryTimeout(kafka.Defaults().HandBackGrace))
	if err != nil {
		return err
	}
	defer stateProducer.Close()
	alertProducer, err := newProducer("alerts")
	if err != nil {
		return err
	}
	defer alertProducer.Close()

	metrics := processors.NewMetrics(reg)
	reg.MustRegister(newLagCollector(kadm.NewClient(producer),
		[]string{string(tables.IngestGroup), string(tables.FeaturesGroup), string(tables.SinkGroup), string(processors.NotifyGroup)}, log))
	system := actors.NewSystem(log)

	stages, sctx := errgroup.WithContext(ctx)
	// The writers run until the stages have stopped, then drain their
	// last rows.
	writing, stopWriting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWriting()
	writers := make(chan error, 1)
	var sink *actors.Sink
	var sources *actors.Sources
	var wakeStored func()
	readiness := []func(context.Context) error{
		func(ctx context.Context) error {
			if err := db.Ping(ctx); err != nil {
				return &api.NotReadyError{Reason: "PostgreSQL is not reachable", Err: err}
			}
			return nil
		},
		func(ctx context.Context) error {
			if err := producer.Ping(ctx); err != nil {
				return &api.NotReadyError{Reason: "the broker is not reachable", Err: err}
			}
			return nil
		},
	}

	if cfg.has("ingest") {
		in, err := processors.NewIngest(processors.IngestOptions{
			Kafka: kafka, Producer: producer, Metrics: metrics, Logger: log,
			Normalize: normalize.Options{MaxFuture: cfg.MaxFuture},
		})
		if err != nil {
			return err
		}
		stages.Go(p.supervise(sctx, "ingest", in))
		readiness = append(readiness, recovered("ingest", in))
	}
	if cfg.has("features") {
		if err := checkStateBound(ctx, cfg, p.brokers); err != nil {
			return err
		}
		idle := cfg.SourceIdle
		if idle == 0 {
			idle = -1
		}
		sources = actors.NewSources(system, actors.SourcesOptions{
			Rules: ruleHolder, Producer: stateProducer, AlertProducer: alertProducer, FlushInterval: cfg.Flush,
			IdleTimeout: idle, MaxFuture: cfg.MaxFuture, MaxSeries: cfg.MaxSeries, MaxTenantSeries: cfg.MaxTenantSeries,
			SeriesStaleAfter: cfg.SeriesStale,
			MaxStateBytes:    cfg.MaxState,
			Registerer:       reg, Logger: log,
		})
		fs, err := processors.NewFeatures(processors.FeaturesOptions{
			Kafka: kafka, Host: sourceHost{sources}, Producer: producer, Metrics: metrics, Logger: log,
		})
		if err != nil {
			return err
		}
		wakeStored = func() { fs.WakeStored() }
		stages.Go(p.supervise(sctx, "features", fs))
		readiness = append(readiness, recovered("features", fs))
	}
	if cfg.has("sink") {
		sink = actors.NewSink(system, actors.SinkOptions{
			Store: db, Producer: producer, Registerer: reg, Logger: log,
			Metrics: actors.WriterOptions{BatchRows: cfg.BatchRows, FlushInterval: cfg.BatchWait},
			Alerts:  actors.WriterOptions{FlushInterval: cfg.BatchWait}, DrainTimeout: cfg.Shutdown,
		})
		go func() { writers <- sink.Run(writing) }()
		sk, err := processors.NewSink(processors.SinkOptions{
			Kafka: kafka, Target: sink, Producer: producer, Metrics: metrics, Logger: log,
		})
		if err != nil {
			return err
		}
		stages.Go(p.supervise(sctx, "sink", sk))
		readiness = append(readiness, recovered("sink", sk))
		stages.Go(func() error { return db.RunMaintenance(sctx) })
		readiness = append(readiness, func(context.Context) error {
			if !sink.Healthy() {
				return &api.NotReadyError{Reason: "the last PostgreSQL write failed"}
			}
			return nil
		})
	}
	if cfg.has("notify") {
		if err := p.notifyStage(sctx, stages, system, kafka, db, producer, metrics, reg); err != nil {
			return err
		}
	} else if cfg.Alerting != "" {
		log.Warn("alerting is set but this replica does not run the notify stage: nothing is sent from here", "stages", cfg.Stages)
	}
	reloader := actors.NewReloader(ruleHolder, sources, func() (*rules.RuleSet, error) { return loadRules(cfg) }, reg, log)
	if wakeStored != nil {
		reloader.AfterReload(wakeStored)
	}
	// The API server, once it exists: reloads read its keys file again.
	var apiServer atomic.Pointer[api.Server]
	// A reload reads the keys file first and the rules after, each on its
	// own: a rule file with an error must not keep a removed key working.
	reload := func() (api.ReloadResult, error) {
		var res api.ReloadResult
		var keysErr, rulesErr error
		if srv := apiServer.Load(); srv != nil && cfg.APIKeysFile != "" {
			res.Keys, keysErr = reloadKeys(srv, cfg.APIKeysFile, log)
		}
		if rs, err := reloader.Reload(); err != nil {
			rulesErr = err
		} else {
			res.Rules, res.Files = rs.Len(), rs.Files()
		}
		return res, errors.Join(keysErr, rulesErr)
	}
	// SIGHUP reloads the keys and the rules, as POST /-/reload does.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stages.Go(func() error {
		for {
			select {
			case <-sctx.Done():
				return nil
			case <-hup:
				_, _ = reload()
			}
		}
	})
	if cfg.has("api") {
		hub := api.NewHub(api.HubOptions{Registerer: reg, Logger: log})
		feed, err := processors.NewAlertFeed(processors.AlertFeedOptions{Kafka: kafka, Target: alertHub{hub}, Logger: log})
		if err != nil {
			return err
		}
		view, err := processors.NewFeatureView(kafka, ruleHolder.FeatureConfig)
		if err != nil {
			return err
		}
		readiness = append(readiness, func(context.Context) error {
			if !view.Recovered() {
				return &api.NotReadyError{Reason: "the features table is not recovered yet"}
			}
			select {
			case <-hub.Ready():
				return nil
			default:
				return &api.NotReadyError{Reason: "the alert stream has not read " + tables.AlertsTopic + " yet"}
			}
		})
		srv := api.New(api.Options{
			Store: db, Alerts: db, Sources: db, Silences: db, Hub: hub, Features: view, Gatherer: reg,
			Static: static.FS(), Logger: log, Reload: reload,
			MetricNames: db, Rules: ruleLister{ruleHolder}, Registerer: reg,
			Keys: access.keys, LocalOnly: access.keys == nil && p.dev, SessionSecret: []byte(cfg.SessionKey),
			CORSOrigins: cfg.CORSOrigins, AllowedHosts: cfg.AllowedHosts, TrustedProxies: cfg.TrustedProxies, Producer: producer, Normalize: normalize.Options{MaxFuture: cfg.MaxFuture},
			IngestRate: float64(cfg.IngestRate), IngestBurst: cfg.IngestBurst,
			StreamsPerKey: cfg.StreamsPerKey, StreamsPerTenant: cfg.StreamsPerTenant, StreamsTotal: cfg.StreamsTotal,
			QueryTimeout: cfg.QueryTimeout, QueryMaxRange: cfg.QueryMaxRange, QueriesPerTenant: cfg.QueriesPerTenant, QueriesTotal: cfg.QueriesTotal,
			MaxSilences: cfg.MaxSilences, MaxSilenceMatchers: cfg.MaxMatchers,
			Ready: func(ctx context.Context) error { return allReady(ctx, readiness) },
		})
		apiServer.Store(srv)
		stages.Go(func() error { defer hub.Close(); return feed.Run(sctx) })
		stages.Go(func() error { return view.Run(sctx) })
		stages.Go(func() error { return srv.Serve(sctx, p.api) })
	}
	log.Info("eventops running", "stages", cfg.Stages, "brokers", p.brokers, "client_id", cfg.clientID())
	if p.onReady != nil {
		stages.Go(func() error {
			if awaitReady(sctx, readiness) == nil {
				p.onReady()
			}
			return nil
		})
	}

	err = stages.Wait()
	log.Info("stages stopped; draining", "err", err)
	var errs []error
	if err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, err)
	}
	if sink != nil {
		stopWriting()
		errs = append(errs, <-writers)
	}
	fctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown)
	defer cancel()
	for _, cl := range []*kgo.Client{producer, stateProducer, alertProducer} {
		errs = append(errs, cl.Flush(fctx))
	}
	system.Shutdown()
	return errors.Join(errs...)
}

// checkStateBound refuses a max_state_bytes that the broker would not take
// as one record of the features table.
func checkStateBound(ctx context.Context, cfg *Config, brokers []string) error {
	limit, err := broker.MaxMessageBytes(ctx, brokers, string(tables.FeaturesTable))
	if err != nil {
		return err
	}
	if cfg.MaxState > limit*9/10 {
		return fmt.Errorf("max_state_bytes: %d does not fit in a record of %s with room to spare (the brokers take %d bytes: keep it at most %d)",
			cfg.MaxState, tables.FeaturesTable, limit, limit*9/10)
	}
	return nil
}

// allReady runs every readiness check and joins what they report.
func allReady(ctx context.Context, checks []func(context.Context) error) error {
	var errs []error
	for _, r := range checks {
		errs = append(errs, r(ctx))
	}
	return errors.Join(errs...)
}

// awaitReady polls the readiness checks until they all pass or ctx ends.
func awaitReady(ctx context.Context, checks []func(context.Context) error) error {
	for {
		if allReady(ctx, checks) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // the poll interval
		}
	}
}

// recovered makes a readiness check of a stage: its processor runs and its
// partitions are recovered.
func recovered(name string, st interface{ Recovered() bool }) func(context.Context) error {
	return func(context.Context) error {
		if !st.Recovered() {
			return &api.NotReadyError{Reason: fmt.Sprintf("the %s stage's partitions are not recovered", name)}
		}
		return nil
	}
}

// stage is a goka stage the pipeline supervises.
type stage interface {
	Run(ctx context.Context, extra ...goka.ProcessorOption) error
	Close()
}

// supervise runs a stage until ctx ends. A stage that fails — goka gives up
// on a broker error it cannot recover from, such as a broker restart —
// is run again with backoff instead of taking the replica down; bad input
// never makes a stage fail. Close follows the last run.
func (p *pipeline) supervise(ctx context.Context, name string, st stage) func() error {
	return func() error {
		defer st.Close()
		backoff := time.Second
		for {
			started := time.Now()
			err := st.Run(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if time.Since(started) > time.Minute {
				backoff = time.Second
			}
			p.restarts.WithLabelValues(name).Inc()
			p.log.Error("stage failed; running it again", "stage", name, "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}
}

// notifyStage starts the notify stage: the receivers file, the notifier's
// actors and the goka processor that feeds them.
func (p *pipeline) notifyStage(ctx context.Context, stages *errgroup.Group, system *actor.ActorSystem, kafka processors.Kafka,
	db *store.Store, producer *kgo.Client, metrics *processors.Metrics, reg prometheus.Registerer) error {
	cfg, log := p.cfg, p.log
	var receivers *notify.Config
	if cfg.Alerting != "" {
		c, err := notify.Load(cfg.Alerting)
		if err != nil {
			return fmt.Errorf("alerting: %w", err)
		}
		receivers = c
		log.Info("notify: receivers loaded", "file", cfg.Alerting, "receivers", len(c.Receivers), "queue_capacity", c.QueueCapacity)
	} else {
		log.Warn("notify: no receivers file (alerting): alert transitions are not sent anywhere")
	}
	notifier := actors.NewNotifier(system, actors.NotifierOptions{
		Config: receivers, Store: db, ExternalURL: externalURL(p.httpAddr()), DrainTimeout: cfg.Shutdown / 2,
		UserAgent: "eventops/" + strings.Fields(versionString())[0], Registerer: reg, Logger: log,
	})
	nt, err := processors.NewNotify(processors.NotifyOptions{Kafka: kafka, Target: notifier, Producer: producer, Metrics: metrics, Logger: log})
	if err != nil {
		return err
	}
	stages.Go(p.supervise(ctx, "notify", nt))
	stages.Go(func() error { return notifier.Run(ctx) })
	return nil
}

// httpAddr is the API's address: the bound one when this replica serves
// it (port 0 chose a port), else http_addr.
func (p *pipeline) httpAddr() string {
	if p.api != nil {
		return p.api.Addr().String()
	}
	return p.cfg.HTTPAddr
}

// externalURL is the default base of links in notifications: the API's
// address as seen from this host.
func externalURL(httpAddr string) string {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// sourceHost adapts actors.Sources to processors.SourceHost.
type sourceHost struct{ s *actors.Sources }

func (h sourceHost) Open(part int32, hooks processors.PartitionHooks) processors.SourcePartition {
	return h.s.Open(part, actors.PartitionHooks(hooks))
}

// alertHub adapts the API's alert hub to the alert feed.
type alertHub struct{ *api.Hub }

func (h alertHub) Init(start []int64, since time.Time) { h.Hub.Init(start, since) }

func (h alertHub) Publish(r processors.AlertRecord) { h.Hub.Publish(api.AlertEvent(r)) }

// reloadKeys reads the keys file again and puts it in force: a removed
// key, and every session opened with it, stops working at once. A file
// that does not load leaves the keys in force.
func reloadKeys(srv *api.Server, path string, log *slog.Logger) (int, error) {
	keys, err := api.LoadKeys(path)
	if err != nil {
		log.Error("keys reload failed; the keys in force stay", "err", err)
		return 0, fmt.Errorf("api_keys_file: %w", err)
	}
	if err := srv.SetKeys(keys); err != nil {
		return 0, err
	}
	log.Info("API keys reloaded", "keys", keys.Len(), "tenants", keys.Tenants(), "file", path)
	return keys.Len(), nil
}

// apiAccess loads the API keys and says at start how the API is reached.
func (p *pipeline) apiAccess() (apiAccess, error) {
	cfg, log := p.cfg, p.log
	if !cfg.has("api") {
		return apiAccess{}, nil
	}
	if cfg.APIKeysFile != "" {
		keys, err := api.LoadKeys(cfg.APIKeysFile)
		if err != nil {
			return apiAccess{}, fmt.Errorf("api_keys_file: %w", err)
		}
		log.Info("API access: keys required", "keys", keys.Len(), "tenants", keys.Tenants(), "file", cfg.APIKeysFile)
		return apiAccess{keys: keys}, nil
	}
	switch {
	case p.dev:
		log.Warn("API access: open on localhost only (no api_keys_file): every local request reads every tenant")
	case cfg.Auth == "none":
		log.Warn("API access: OPEN (auth: none): every request reads and writes every tenant")
	default:
		return apiAccess{}, errors.New("api_keys_file: the api stage requires API keys (eventops keys new TENANT makes one); set auth: none to serve without them")
	}
	return apiAccess{}, nil
}

type apiAccess struct{ keys *api.KeyRing }

// ruleLister adapts the rules in force to GET /rules.
type ruleLister struct{ h *actors.RuleHolder }

func (l ruleLister) Rules(tenant string) []api.RuleInfo {
	rs := l.h.Current()
	seq := rs.Rules()
	if tenant != "" {
		seq = rs.RulesFor(tenant)
	}
	var out []api.RuleInfo
	for r := range seq {
		file, line := r.Position()
		labels := map[string]string{}
		for _, lb := range r.Labels() {
			labels[lb.Name] = lb.Value
		}
		out = append(out, api.RuleInfo{
			Name: r.Name(), Group: r.Group(), File: file, Line: line, Expr: r.Expr(), Clear: r.Clear(),
			For: durationText(r.For()), KeepFiringFor: durationText(r.KeepFiringFor()), Severity: r.Severity(),
			Labels: labels, Annotations: r.Annotations(),
			// No tenant is named NUL: a rule applies to it only when its
			// group is not scoped to some tenants.
			AllTenants: r.AppliesTo("\x00"),
		})
	}
	return out
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
