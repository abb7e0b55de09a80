package processors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// StageNotify names the notify stage; NotifyGroup is its consumer group.
const (
	StageNotify                  = "notify"
	NotifyGroup       goka.Group = "eventops-notify"
	notifyUndecodable            = "undecodable_alert"
)

// NotifyTarget takes alert transitions and calls done once each is
// delivered, refused or silenced (nil), or with an error when it was not
// delivered and its input must be read again. Notify must not block.
type NotifyTarget interface {
	Notify(tr *rules.Transition, done func(error))
}

// errUncommitted marks the acknowledgements of records left undelivered at
// shutdown: goka then commits neither them nor anything after them.
var errUncommitted = errors.New("notify: left uncommitted, read again on the next start")

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
// receiver it goes to, refused by a full queue, or silenced.
type Notify struct {
	opts  NotifyOptions
	graph *goka.GroupGraph
	stopper
	current
	count stageCounters

	mu    sync.Mutex
	parts map[int32]*notifyPartition
	// uncommitted counts records released with an error.
	uncommitted atomic.Int64
}

// notifyPartition orders one partition's acknowledgements. Once a record
// is left uncommitted, every later record of the partition is too: goka
// must not commit past it.
type notifyPartition struct {
	acks   *Acks
	failed bool // read and written by the acks' release, under their lock
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
	opts.Logger = opts.Logger.With("stage", StageNotify)
	n := &Notify{opts: opts, parts: map[int32]*notifyPartition{}, stopper: newStopper()}
	n.count = opts.Metrics.stage(StageNotify)
	n.graph = goka.DefineGroup(NotifyGroup, goka.Input(tables.AlertsStream, tables.BytesCodec{}, n.alert))
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
// Records left undelivered at shutdown make goka's processor fail (that is
// how it leaves them uncommitted); that is not an error of the stage.
func (n *Notify) Run(ctx context.Context, extra ...goka.ProcessorOption) error {
	p, err := n.NewProcessor(extra...)
	if err != nil {
		return err
	}
	n.set(p)
	err = p.Run(ctx)
	if err != nil && ctx.Err() != nil && n.uncommitted.Load() > 0 && strings.Contains(err.Error(), errUncommitted.Error()) {
		n.opts.Logger.Info("alert transitions left uncommitted at shutdown; they are read again on the next start",
			"records", n.uncommitted.Load())
		return nil
	}
	return err
}

func (n *Notify) partition(p int32) *notifyPartition {
	n.mu.Lock()
	defer n.mu.Unlock()
	np, ok := n.parts[p]
	if !ok {
		np = &notifyPartition{acks: NewAcks()}
		n.parts[p] = np
	}
	return np
}

// track defers the record's commit and returns the function that settles
// it: nil commits (in offset order), an error leaves it and every later
// record of the partition uncommitted.
func (n *Notify) track(ctx goka.Context) func(error) {
	np := n.partition(ctx.Partition())
	off := ctx.Offset()
	commit := ctx.DeferCommit()
	var failure error // written before Done, read under the acks' lock
	np.acks.Add(off, "", func(error) {
		if failure != nil && !np.failed {
			np.failed = true
		}
		if np.failed {
			n.uncommitted.Add(1)
			commit(fmt.Errorf("%w: partition %d offset %d", errUncommitted, ctx.Partition(), off))
			return
		}
		commit(nil)
	})
	n.opts.Metrics.Pending.WithLabelValues(StageNotify).Inc()
	return func(err error) {
		failure = err
		n.opts.Metrics.Pending.WithLabelValues(StageNotify).Dec()
		np.acks.Done(off)
	}
}

func (n *Notify) alert(ctx goka.Context, msg any) {
	n.count.recordsIn.Inc()
	done := n.track(ctx)
	raw, _ := msg.([]byte)
	var tr rules.Transition
	if err := json.Unmarshal(raw, &tr); err != nil || tr.EpisodeID == "" || tr.State == "" || tr.Tenant == "" {
		if err == nil {
			err = fmt.Errorf("alert transition has no episode_id, state or tenant")
		}
		n.reject(ctx, raw, err, done)
		return
	}
	n.count.eventsIn.Inc()
	n.opts.Target.Notify(&tr, done)
}

func (n *Notify) reject(ctx goka.Context, raw []byte, err error, done func(error)) {
	n.opts.Metrics.Discarded.WithLabelValues(StageNotify, notifyUndecodable).Inc()
	rec := tables.DLQRecord(tables.Rejection{
		Stage: StageNotify, Reason: notifyUndecodable, Error: err.Error(), Topic: string(ctx.Topic()),
		Partition: ctx.Partition(), Offset: ctx.Offset(), Index: -1, Key: []byte(ctx.Key()), Value: truncateValue(raw),
	})
	produceAll(n.opts.Producer, []*kgo.Record{rec}, n.c, n.opts.Logger, func(error) {
		n.opts.Metrics.Errors.WithLabelValues(StageNotify, "produce").Inc()
	}, func() { done(nil) })
}
