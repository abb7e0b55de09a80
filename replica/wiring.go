package replica

import (
	"context"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/broker"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// wiring is what one Run opened and started.
type wiring struct {
	*Replica
	kafka    processors.Kafka
	metrics  *processors.Metrics
	restarts *prometheus.CounterVec
	rules    *actors.RuleHolder
	// db is nil when no stage reads or writes PostgreSQL.
	db *store.Store
	// Three producers, so that one kind of record never waits behind a
	// burst of another: signals, DLQ records and ingest (records),
	// feature-state flushes (state), and alerts.
	records, state, alerts *kgo.Client
	system                 *actor.ActorSystem

	// runs are the goroutines start starts, each until its ctx ends.
	runs   []func(context.Context) error
	checks []check
	sink   *actors.Sink
	// stopWriters ends the context the sink's writers run on; writers
	// then takes what their Run returned, once they have drained.
	stopWriters context.CancelFunc
	writers     chan error
	sources     *actors.Sources
	features    *processors.Features
	reloader    *actors.Reloader
	// server is the API server once it exists: reloads read its keys
	// file again.
	server atomic.Pointer[api.Server]
}

// open loads the rules and opens what the stages share: the store, the
// producers, the metrics and the actor system. On an error, what it opened
// is closed.
func (r *Replica) open(ctx context.Context) (*wiring, error) {
	rs, err := r.opts.LoadRules()
	if err != nil {
		return nil, err
	}
	w := &wiring{Replica: r, kafka: r.opts.Kafka, rules: actors.NewRuleHolder(rs)}
	if err := w.openStore(ctx); err != nil {
		return nil, err
	}
	if err := w.openProducers(ctx); err != nil {
		w.closeConnections()
		return nil, err
	}
	w.register()
	w.system = actors.NewSystem(r.log)
	return w, nil
}

// openStore opens PostgreSQL and brings its schema up to date, when a
// stage needs it.
func (w *wiring) openStore(ctx context.Context) error {
	if !w.opts.needsStore() {
		if !w.opts.warms() {
			return nil
		}
		// Warm start only reads: the stages that write migrate, and a
		// PostgreSQL that is down only starts sources cold.
		db, err := store.Open(ctx, store.Options{URL: w.opts.DatabaseURL, Logger: w.log})
		if err != nil {
			return err
		}
		w.db = db
		return nil
	}
	db, err := store.Open(ctx, store.Options{URL: w.opts.DatabaseURL, Retention: w.opts.Retention, Logger: w.log})
	if err != nil {
		return err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return err
	}
	w.db = db
	return nil
}

// openProducers makes the three producers, writing batches no larger than
// every topic they write takes.
func (w *wiring) openProducers(ctx context.Context) error {
	var err error
	if w.kafka.BatchBytes, err = broker.BatchLimit(ctx, w.kafka.Brokers, tables.RawTopic, tables.SignalsTopic,
		tables.AlertsTopic, tables.DLQTopic, tables.FeaturesTable); err != nil {
		return err
	}
	if w.records, err = w.kafka.NewProducer("records"); err != nil {
		return err
	}
	// A state write that has not landed by the hand-back grace fails (the
	// actor writes again while it owns the source): a write of an owner
	// that lost the partition cannot land long after the next owner's.
	if w.state, err = w.kafka.NewProducer("state", kgo.RecordDeliveryTimeout(w.kafka.Defaults().HandBackGrace)); err != nil {
		return err
	}
	w.alerts, err = w.kafka.NewProducer("alerts")
	return err
}

// register adds the replica's own metrics: the Go runtime and process,
// stage restarts, the stages' counters and the consumer lag.
func (w *wiring) register() {
	reg := w.reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w.restarts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventops_stage_restarts_total",
		Help: "Stages run again after they failed, by stage."}, []string{"stage"})
	reg.MustRegister(w.restarts)
	w.metrics = processors.NewMetrics(reg)
	groups := []string{tables.IngestGroup, tables.FeaturesGroup, tables.SinkGroup, tables.NotifyGroup}
	reg.MustRegister(newLagCollector(kadm.NewClient(w.records), groups, w.log))
}

// producers are the replica's producers, those that exist.
func (w *wiring) producers() []*kgo.Client {
	var out []*kgo.Client
	for _, p := range []*kgo.Client{w.records, w.state, w.alerts} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// closeConnections closes the producers, newest first, then the store:
// the last step of a shutdown.
func (w *wiring) closeConnections() {
	ps := w.producers()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].Close()
	}
	if w.db != nil {
		w.db.Close()
	}
}
