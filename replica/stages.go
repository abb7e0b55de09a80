package replica

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/internal/stagelabel"
	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/static"
	"github.com/eventops/eventops/tables"
)

// build builds the stages this replica runs, in order, and the reloads
// and readiness; nothing runs until start but the sink's writers, which
// the shutdown drains. A stage that cannot be built (a bad receivers file,
// a state bound the brokers refuse) starts nothing.
func (w *wiring) build(ctx context.Context) error {
	w.checks = w.connectionChecks()
	for _, s := range []struct {
		stage string
		build func(context.Context) error
	}{
		{StageIngest, w.buildIngest}, {StageFeatures, w.buildFeatures}, {StageSink, w.buildSink}, {StageNotify, w.buildNotify},
	} {
		if !w.opts.runs(s.stage) {
			continue
		}
		if err := s.build(ctx); err != nil {
			return err
		}
	}
	if w.opts.Alerting != "" && !w.opts.runs(StageNotify) {
		w.log.Warn("alerting is set but this replica does not run the notify stage: nothing is sent from here", "stages", w.opts.Stages)
	}
	w.buildReload()
	if w.opts.runs(StageAPI) {
		if err := w.buildAPI(); err != nil {
			return err
		}
	}
	w.buildReadiness()
	return nil
}

// start runs what build made under g, until ctx ends.
func (w *wiring) start(ctx context.Context, g *errgroup.Group) {
	for _, run := range w.runs {
		g.Go(func() error { return run(ctx) })
	}
	w.log.Info("eventops running", "stages", w.opts.Stages, "brokers", w.kafka.Brokers, "client_id", w.kafka.ClientID)
}

// goes adds what start runs.
func (w *wiring) goes(runs ...func(context.Context) error) { w.runs = append(w.runs, runs...) }

// buildIngest builds the ingest stage: raw records to signals and the DLQ.
func (w *wiring) buildIngest(context.Context) error {
	in, err := processors.NewIngest(processors.IngestOptions{
		Kafka: w.kafka, Producer: w.records, Metrics: w.metrics, Logger: w.log,
		Normalize: normalize.Options{MaxFuture: w.opts.MaxFuture},
	})
	if err != nil {
		return err
	}
	w.goes(w.supervise(StageIngest, in))
	w.checks = append(w.checks, recovered(StageIngest, in))
	return nil
}

// buildFeatures builds the features stage and its per-source actors.
func (w *wiring) buildFeatures(ctx context.Context) error {
	if err := w.checkStateBound(ctx); err != nil {
		return err
	}
	o := w.opts
	so := actors.SourcesOptions{
		Rules: w.rules, Producer: w.state, AlertProducer: w.alerts, FlushInterval: o.Flush,
		IdleTimeout: o.SourceIdle, MaxFuture: o.MaxFuture, MaxSeries: o.MaxSeries, MaxTenantSeries: o.MaxTenantSeries,
		SeriesStaleAfter: o.SeriesStale, MaxStateBytes: o.MaxState, Registerer: w.reg, Logger: w.log,
	}
	if o.warms() {
		so.Warm = actors.WarmStart{History: w.db, MaxSamples: o.WarmMaxSamples, Timeout: o.WarmTimeout, MaxInFlight: o.WarmInFlight}
	}
	w.sources = actors.NewSources(w.system, so)
	fs, err := processors.NewFeatures(processors.FeaturesOptions{
		Kafka: w.kafka, Host: SourceHost(w.sources), Producer: w.records, Metrics: w.metrics, Logger: w.log,
	})
	if err != nil {
		return err
	}
	w.features = fs
	w.goes(w.supervise(StageFeatures, fs))
	w.checks = append(w.checks, recovered(StageFeatures, fs))
	return nil
}

// checkStateBound refuses a max_state_bytes that the broker would not take
// as one record of the features table.
func (w *wiring) checkStateBound(ctx context.Context) error {
	limit, err := broker.MaxMessageBytes(ctx, w.kafka.Brokers, tables.FeaturesTable)
	if err != nil {
		return err
	}
	if w.opts.MaxState > limit*9/10 {
		return fmt.Errorf("max_state_bytes: %d does not fit in a record of %s with room to spare (the brokers take %d bytes: keep it at most %d)",
			w.opts.MaxState, tables.FeaturesTable, limit, limit*9/10)
	}
	return nil
}

// buildSink builds the sink stage, its batch writers and the store's
// maintenance (partitions, retention). The writers run at once, until the
// shutdown drains them.
func (w *wiring) buildSink(ctx context.Context) error {
	w.sink = actors.NewSink(w.system, actors.SinkOptions{
		Store: w.db, Producer: w.records, Registerer: w.reg, Logger: w.log,
		Metrics: actors.WriterOptions{BatchRows: w.opts.BatchRows, FlushInterval: w.opts.BatchWait},
		Alerts:  actors.WriterOptions{FlushInterval: w.opts.BatchWait}, DrainTimeout: w.opts.Shutdown,
	})
	writing, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.stopWriters, w.writers = stop, make(chan error, 1)
	go func() { w.writers <- stagelabel.Run(writing, StageSink, w.sink.Run) }()
	sk, err := processors.NewSink(processors.SinkOptions{
		Kafka: w.kafka, Target: w.sink, Producer: w.records, Metrics: w.metrics, Logger: w.log,
	})
	if err != nil {
		return err
	}
	w.goes(w.supervise(StageSink, sk), labelled(StageSink, w.db.RunMaintenance))
	w.checks = append(w.checks, recovered(StageSink, sk), writesSucceed(w.sink))
	return nil
}

// buildNotify builds the notify stage: the receivers file, the notifier's
// actors and the goka processor that feeds them.
func (w *wiring) buildNotify(context.Context) error {
	var receivers *notify.Config
	if file := w.opts.Alerting; file != "" {
		c, err := notify.Load(file)
		if err != nil {
			return fmt.Errorf("alerting: %w", err)
		}
		receivers = c
		w.log.Info("notify: receivers loaded", "file", file, "receivers", len(c.Receivers), "queue_capacity", c.QueueCapacity)
	} else {
		w.log.Warn("notify: no receivers file (alerting): alert transitions are not sent anywhere")
	}
	notifier := actors.NewNotifier(w.system, actors.NotifierOptions{
		Config: receivers, Store: w.db, ExternalURL: w.externalURL(), DrainTimeout: w.opts.Shutdown / 2,
		UserAgent: w.opts.UserAgent, Registerer: w.reg, Logger: w.log,
		FlapPolicy: func(id rules.RuleID) notify.FlapPolicy {
			if r := w.rules.Current().Rule(id); r != nil {
				return notify.PolicyOf(r.Flapping())
			}
			return notify.DefaultFlapPolicy
		},
	})
	nt, err := processors.NewNotify(processors.NotifyOptions{Kafka: w.kafka, Target: notifier, Producer: w.records, Metrics: w.metrics, Logger: w.log})
	if err != nil {
		return err
	}
	w.goes(w.supervise(StageNotify, nt), labelled(StageNotify, notifier.Run))
	return nil
}

// externalURL is the base of links in notifications: the API's address,
// the bound one when this replica serves it (port 0 chose a port).
func (w *wiring) externalURL() string {
	if w.opts.Listener != nil {
		return ExternalURL(w.opts.Listener.Addr().String())
	}
	return ExternalURL(w.opts.HTTPAddr)
}

// ExternalURL is the API's address as seen from this host.
func ExternalURL(httpAddr string) string {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// buildAPI builds the API: the alert hub and the features view that every
// replica reads outside any consumer group, and the HTTP server.
func (w *wiring) buildAPI() error {
	hub := api.NewHub(api.HubOptions{Registerer: w.reg, Logger: w.log})
	feed, err := processors.NewAlertFeed(processors.AlertFeedOptions{Kafka: w.kafka, Target: alertHub{hub}, Activity: hub, Logger: w.log})
	if err != nil {
		return err
	}
	view, err := processors.NewFeatureView(w.kafka, w.rules.FeatureConfig)
	if err != nil {
		return err
	}
	w.checks = append(w.checks, viewsCaughtUp(view, hub))
	o := w.opts.API
	o.Store, o.Alerts, o.Sources, o.Silences, o.MetricNames, o.Activity = w.db, w.db, w.db, w.db, w.db, w.db
	o.Hub, o.Features, o.Rules, o.RulesInForce = hub, view, ruleLister{w.rules}, w.rules.Current
	o.Engine = backtest.Options{MaxSeries: w.opts.MaxSeries, SeriesStaleAfter: w.opts.SeriesStale}
	o.Producer, o.Normalize = w.records, normalize.Options{MaxFuture: w.opts.MaxFuture}
	o.Gatherer, o.Registerer, o.Logger = w.reg, w.reg, w.log
	o.Reload, o.Ready = w.reload, w.ready
	if o.Static == nil {
		o.Static = static.FS()
	}
	srv := api.New(o)
	w.server.Store(srv)
	feedHub := func(ctx context.Context) error {
		defer hub.Close()
		return feed.Run(ctx)
	}
	w.goes(labelled(StageAPI, feedHub), labelled(StageAPI, view.Run),
		labelled(StageAPI, func(ctx context.Context) error { return srv.Serve(ctx, w.opts.Listener) }))
	return nil
}

// stage is a goka stage the replica supervises.
type stage interface {
	Run(ctx context.Context, extra ...goka.ProcessorOption) error
	Close()
}

// labelled runs run under the stage's profiler label, which the goroutines
// it starts inherit: a CPU profile splits the process's time by stage.
func labelled(stage string, run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error { return stagelabel.Run(ctx, stage, run) }
}

// supervise runs a stage until ctx ends, under its profiler label. A stage that fails — goka gives up
// on a broker error it cannot recover from, such as a broker restart —
// is run again with backoff instead of taking the replica down; bad input
// never makes a stage fail. Close follows the last run.
func (w *wiring) supervise(name string, st stage) func(context.Context) error {
	return labelled(name, func(ctx context.Context) error {
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
			w.restarts.WithLabelValues(name).Inc()
			w.log.Error("stage failed; running it again", "stage", name, "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	})
}
