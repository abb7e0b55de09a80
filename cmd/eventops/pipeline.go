package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/normalize"
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
	// reg collects the pipeline's metrics; nil makes a new registry.
	reg *prometheus.Registry
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

	ruleSet, err := loadRules(cfg)
	if err != nil {
		return err
	}
	ruleHolder := actors.NewRuleHolder(ruleSet)

	db, err := store.Open(ctx, store.Options{URL: p.dbURL, Retention: cfg.Retention, Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}

	producer, err := kgo.NewClient(
		kgo.SeedBrokers(p.brokers...),
		kgo.ClientID(cfg.clientID()),
		kgo.RecordPartitioner(tables.Partitioner()),
		kgo.ProducerBatchMaxBytes(16<<20),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(100_000),
	)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer producer.Close()

	kafka := processors.Kafka{
		Brokers: p.brokers, ClientID: cfg.clientID(), Replication: cfg.Replication, DataDir: cfg.DataDir,
		SessionTimeout: cfg.Session, HeartbeatInterval: cfg.Heartbeat, RebalanceTimeout: cfg.Rebalance, Logger: log,
	}
	metrics := processors.NewMetrics(reg)
	system := actors.NewSystem(log)

	stages, sctx := errgroup.WithContext(ctx)
	var sink *actors.Sink
	var sources *actors.Sources
	readiness := []func(context.Context) error{func(ctx context.Context) error { return db.Ping(ctx) }}

	if cfg.has("ingest") {
		in, err := processors.NewIngest(processors.IngestOptions{
			Kafka: kafka, Producer: producer, Metrics: metrics, Logger: log,
			Normalize: normalize.Options{MaxFuture: cfg.MaxFuture},
		})
		if err != nil {
			return err
		}
		stages.Go(func() error { return in.Run(sctx) })
	}
	if cfg.has("features") {
		sources = actors.NewSources(system, actors.SourcesOptions{
			Rules: ruleHolder, Producer: producer, FlushInterval: cfg.Flush, CloseTimeout: cfg.Shutdown,
			Registerer: reg, Logger: log,
		})
		fs, err := processors.NewFeatures(processors.FeaturesOptions{
			Kafka: kafka, Host: sourceHost{sources}, Producer: producer, Metrics: metrics, Logger: log,
		})
		if err != nil {
			return err
		}
		stages.Go(func() error { return fs.Run(sctx) })
	}
	if cfg.has("sink") {
		sink = actors.NewSink(system, actors.SinkOptions{
			Store: db, Producer: producer, Registerer: reg, Logger: log,
			Metrics: actors.WriterOptions{BatchRows: cfg.BatchRows, FlushInterval: cfg.BatchWait},
			Alerts:  actors.WriterOptions{FlushInterval: cfg.BatchWait},
		})
		sk, err := processors.NewSink(processors.SinkOptions{
			Kafka: kafka, Target: sink, Producer: producer, Metrics: metrics, Logger: log,
		})
		if err != nil {
			return err
		}
		stages.Go(func() error { return sk.Run(sctx) })
		stages.Go(func() error { return db.RunMaintenance(sctx) })
		readiness = append(readiness, func(context.Context) error {
			if !sink.Healthy() {
				return errors.New("the last PostgreSQL write failed")
			}
			return nil
		})
	}
	reloader := actors.NewReloader(ruleHolder, sources, func() (*rules.RuleSet, error) { return loadRules(cfg) }, reg, log)
	reloadRules := func() (api.ReloadResult, error) {
		rs, err := reloader.Reload()
		if err != nil {
			return api.ReloadResult{}, err
		}
		return api.ReloadResult{Rules: rs.Len(), Files: rs.Files()}, nil
	}
	// SIGHUP reloads the rules, as POST /-/reload does.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stages.Go(func() error {
		for {
			select {
			case <-sctx.Done():
				return nil
			case <-hup:
				_, _ = reloader.Reload()
			}
		}
	})
	if cfg.has("api") {
		hub := api.NewHub(api.HubOptions{Brokers: p.brokers, Registerer: reg, Logger: log})
		view, err := processors.NewFeatureView(kafka, ruleHolder.FeatureConfig)
		if err != nil {
			return err
		}
		srv := api.New(api.Options{
			Addr: cfg.HTTPAddr, Store: db, Alerts: db, Sources: db, Hub: hub, Features: featureReader{view}, Gatherer: reg,
			Static: static.FS(), Logger: log, Reload: reloadRules,
			Ready: func(ctx context.Context) error {
				var errs []error
				for _, r := range readiness {
					errs = append(errs, r(ctx))
				}
				return errors.Join(errs...)
			},
		})
		stages.Go(func() error { return hub.Run(sctx) })
		stages.Go(func() error { return view.Run(sctx) })
		stages.Go(func() error { return srv.Run(sctx) })
	}
	log.Info("eventops running", "stages", cfg.Stages, "brokers", p.brokers, "client_id", cfg.clientID())

	err = stages.Wait()
	log.Info("stages stopped; draining", "err", err)
	var errs []error
	if err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, err)
	}
	if sink != nil {
		errs = append(errs, sink.Close(cfg.Shutdown))
	}
	fctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown)
	defer cancel()
	errs = append(errs, producer.Flush(fctx))
	system.Shutdown()
	return errors.Join(errs...)
}

// sourceHost adapts actors.Sources to processors.SourceHost.
type sourceHost struct{ s *actors.Sources }

func (h sourceHost) Open(part int32, durable func(string, int64)) processors.SourcePartition {
	return h.s.Open(part, durable)
}

// featureReader adapts the features view to the API.
type featureReader struct{ v *processors.FeatureView }

func (f featureReader) SourceFeatures(ctx context.Context, tenant, host string) ([]byte, error) {
	b, err := f.v.SourceFeatures(ctx, tenant, host)
	if errors.Is(err, processors.ErrNoSource) {
		return nil, api.ErrNotFound
	}
	return b, err
}
