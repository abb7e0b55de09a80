package processors

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/gokatables"
	"github.com/eventops/eventops/tables/kgotables"
)

// SinkTarget takes what the sink stage reads and calls done once it is
// durable. Signal and Alert block while the target is full (backpressure);
// when ctx ends while they wait, they return ctx.Err() without taking the
// input, which the stage then hands back to the partition's next owner.
type SinkTarget interface {
	Signal(ctx context.Context, sig *tables.Signal, done func()) error
	Alert(ctx context.Context, tr *rules.Transition, raw []byte, done func()) error
}

// SinkOptions configure the sink stage.
type SinkOptions struct {
	Kafka    Kafka
	Target   SinkTarget
	Producer Producer
	Metrics  *Metrics
	Logger   *slog.Logger
}

// Sink reads signals and alert transitions and hands them to the batch
// writers; each input record is committed once its rows are durable.
type Sink struct {
	opts  SinkOptions
	graph *goka.GroupGraph
	stopper
	current
	count stageCounters
	// strings shares the strings of decoded signals.
	strings *tables.Interner

	signals, alerts sessionAcks
}

// NewSink builds the stage.
func NewSink(opts SinkOptions) (*Sink, error) {
	if opts.Target == nil || opts.Producer == nil {
		return nil, fmt.Errorf("sink: a target and a producer are required")
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Logger = opts.Logger.With("stage", tables.StageSink)
	s := &Sink{opts: opts, stopper: newStopper(), strings: tables.NewInterner(maxInterned),
		signals: sessionAcks{topic: tables.SignalsTopic}, alerts: sessionAcks{topic: tables.AlertsTopic}}
	s.count = opts.Metrics.stage(tables.StageSink)
	s.graph = goka.DefineGroup(gokatables.SinkGroup,
		goka.Input(gokatables.SignalsStream, gokatables.BytesCodec{}, s.signal),
		goka.Input(gokatables.AlertsStream, gokatables.BytesCodec{}, s.alert),
	)
	return s, nil
}

// Graph returns the goka group graph.
func (s *Sink) Graph() *goka.GroupGraph { return s.graph }

// NewProcessor builds the stage's goka processor; extra options come last
// (tests pass goka.WithTester).
func (s *Sink) NewProcessor(extra ...goka.ProcessorOption) (*goka.Processor, error) {
	p, err := goka.NewProcessor(s.opts.Kafka.Brokers, s.graph, append(s.opts.Kafka.ProcessorOptions(), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	return p, nil
}

// Run processes until ctx ends and every deferred commit is settled.
func (s *Sink) Run(ctx context.Context, extra ...goka.ProcessorOption) error {
	p, err := s.NewProcessor(extra...)
	if err != nil {
		return err
	}
	s.set(p)
	return p.Run(ctx)
}

// track defers the record's commit to its partition's tracker of the
// session.
func (s *Sink) track(ctx goka.Context) (*Acks, int64) {
	parts := &s.signals
	if ctx.Topic() == gokatables.AlertsStream {
		parts = &s.alerts
	}
	acks, off := parts.get(ctx.Partition(), ctx.Context()), ctx.Offset()
	acks.Add(off, "", ctx.DeferCommit())
	return acks, off
}

func (s *Sink) signal(ctx goka.Context, msg any) {
	s.count.recordsIn.Inc()
	acks, off := s.track(ctx)
	done := func() { acks.Done(off) }
	raw, _ := msg.([]byte)
	sig, err := s.strings.Decode(raw)
	if err != nil {
		s.reject(ctx, raw, tables.ReasonUndecodableSignal, err, done)
		return
	}
	s.count.eventsIn.Add(float64(len(sig.Samples)))
	if err := s.opts.Target.Signal(ctx.Context(), sig, done); err != nil {
		s.handBack(ctx, acks, off, err)
	}
}

func (s *Sink) alert(ctx goka.Context, msg any) {
	s.count.recordsIn.Inc()
	acks, off := s.track(ctx)
	done := func() { acks.Done(off) }
	raw, _ := msg.([]byte)
	tr, err := tables.DecodeAlert(raw)
	if err != nil {
		s.reject(ctx, raw, tables.ReasonUndecodableAlert, err, done)
		return
	}
	s.count.eventsIn.Inc()
	if err := s.opts.Target.Alert(ctx.Context(), tr, raw, done); err != nil {
		s.handBack(ctx, acks, off, err)
	}
}

// handBack leaves a record the writers did not take, its partition being
// revoked while they were full, to the partition's next owner.
func (s *Sink) handBack(ctx goka.Context, acks *Acks, off int64, err error) {
	s.opts.Logger.Info("partition revoked while the writers were full; its record is read again by the next owner",
		"topic", ctx.Topic(), "partition", ctx.Partition(), "offset", off, "err", err)
	acks.HandBackFrom(off)
}

func (s *Sink) reject(ctx goka.Context, raw []byte, reason string, err error, done func()) {
	s.opts.Metrics.Discarded.WithLabelValues(tables.StageSink, reason).Inc()
	rec := kgotables.DLQRecord(tables.Reject(tables.StageSink, reason, err.Error(), gokatables.Input(ctx), raw))
	produceAll(s.opts.Producer, []*kgo.Record{rec}, s.c, s.opts.Logger, func(error) {
		s.opts.Metrics.Errors.WithLabelValues(tables.StageSink, "produce").Inc()
	}, done)
}
