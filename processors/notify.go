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

// NotifyTarget takes alert transitions and calls done once each is
// delivered, refused or silenced (nil), or with an error when it was handed
// back undelivered and its input must be read again. session is the
// partition's goka session (the callback's ctx.Context()): once it ends,
// the target hands back what it holds of it, at once or, for what it is
// sending, within the grace. Notify may block while the target is full; it
// hands the transition back when session ends first.
type NotifyTarget interface {
	Notify(session context.Context, tr *rules.Transition, done func(error))
}

// NotifyOptions configure the notify stage.
type NotifyOptions struct {
	Kafka    Kafka
	Target   NotifyTarget
	Producer Producer
	Metrics  *Metrics
	Logger   *slog.Logger
}

// Notify reads alert transitions and hands them to the notifier; each
// input record is committed once its transition was delivered to every
// receiver it goes to, refused by a full queue, or silenced. What the
// notifier hands back is read again by the partition's next owner.
type Notify struct {
	opts  NotifyOptions
	graph *goka.GroupGraph
	stopper
	current
	count stageCounters

	parts sessionAcks
}

// NewNotify builds the stage.
func NewNotify(opts NotifyOptions) (*Notify, error) {
	if opts.Target == nil || opts.Producer == nil {
		return nil, fmt.Errorf("notify: a target and a producer are required")
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Logger = opts.Logger.With("stage", tables.StageNotify)
	n := &Notify{opts: opts, stopper: newStopper(), parts: sessionAcks{topic: tables.AlertsTopic}}
	n.count = opts.Metrics.stage(tables.StageNotify)
	n.graph = goka.DefineGroup(gokatables.NotifyGroup, goka.Input(gokatables.AlertsStream, gokatables.BytesCodec{}, n.alert))
	return n, nil
}

// Graph returns the goka group graph.
func (n *Notify) Graph() *goka.GroupGraph { return n.graph }

// NewProcessor builds the stage's goka processor; extra options come last
// (tests pass goka.WithTester).
func (n *Notify) NewProcessor(extra ...goka.ProcessorOption) (*goka.Processor, error) {
	p, err := goka.NewProcessor(n.opts.Kafka.Brokers, n.graph, append(n.opts.Kafka.ProcessorOptions(), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return p, nil
}

// Run processes until ctx ends and every deferred commit is settled.
func (n *Notify) Run(ctx context.Context, extra ...goka.ProcessorOption) error {
	p, err := n.NewProcessor(extra...)
	if err != nil {
		return err
	}
	n.set(p)
	return p.Run(ctx)
}

// track defers the record's commit and returns the function that settles
// it: nil commits (in offset order), an error hands it back to the
// partition's next owner.
func (n *Notify) track(ctx goka.Context) func(error) {
	acks, off := n.parts.get(ctx.Partition(), ctx.Context()), ctx.Offset()
	acks.Add(off, "", ctx.DeferCommit())
	n.opts.Metrics.Pending.WithLabelValues(tables.StageNotify).Inc()
	return func(err error) {
		n.opts.Metrics.Pending.WithLabelValues(tables.StageNotify).Dec()
		if err != nil {
			acks.HandBackFrom(off)
			return
		}
		acks.Done(off)
	}
}

func (n *Notify) alert(ctx goka.Context, msg any) {
	n.count.recordsIn.Inc()
	done := n.track(ctx)
	raw, _ := msg.([]byte)
	tr, err := tables.DecodeAlert(raw)
	if err != nil {
		n.reject(ctx, raw, err, done)
		return
	}
	n.count.eventsIn.Inc()
	n.opts.Target.Notify(ctx.Context(), tr, done)
}

func (n *Notify) reject(ctx goka.Context, raw []byte, err error, done func(error)) {
	n.opts.Metrics.Discarded.WithLabelValues(tables.StageNotify, tables.ReasonUndecodableAlert).Inc()
	rec := kgotables.DLQRecord(tables.Reject(tables.StageNotify, tables.ReasonUndecodableAlert, err.Error(), gokatables.Input(ctx), raw))
	produceAll(n.opts.Producer, []*kgo.Record{rec}, n.c, n.opts.Logger, func(error) {
		n.opts.Metrics.Errors.WithLabelValues(tables.StageNotify, "produce").Inc()
	}, func() { done(nil) })
}
