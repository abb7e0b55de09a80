package processors

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// AlertTarget takes what the alert feed reads (the API's alert hub).
type AlertTarget interface {
	// Init says where reading starts on each partition, and the broker
	// time it starts from. It comes before any record.
	Init(start []int64, since time.Time)
	// Publish takes every record, in offset order within its partition.
	Publish(tables.AlertRecord)
	// MarkReady says the feed has read every partition up to where it
	// ended when reading started.
	MarkReady()
}

// ActivityTarget takes the alert activity the feed reads (the API's alert
// hub).
type ActivityTarget interface {
	// InitActivity says where reading ops.alert.activity.v1 starts on
	// each partition; it comes before the target's Init, and not at all
	// when the topic is not there.
	InitActivity(start []int64)
	// PublishActivity takes every activity record, in offset order
	// within its partition.
	PublishActivity(tables.ActivityRecord)
}

// AlertFeedOptions configure the alert feed.
type AlertFeedOptions struct {
	Kafka  Kafka
	Target AlertTarget
	// Activity, when set, is handed what ops.alert.activity.v1 holds from
	// the lookback on: what people do with alert episodes on any replica
	// reaches this replica's streams.
	Activity ActivityTarget
	// Lookback is how far back in ops.alert.v1 the feed starts reading, so
	// that the target knows which alerts are active (default 24h).
	Lookback time.Duration
	Logger   *slog.Logger
}

// AlertFeed reads ops.alert.v1 on every replica, outside any consumer
// group, so that every replica serves every alert, and beside it
// ops.alert.activity.v1 from the same lookback, so that every replica's streams show
// what people do with alerts on any replica. It is the alert
// topic's view, as FeatureView is the features table's.
type AlertFeed struct {
	opts AlertFeedOptions
}

// NewAlertFeed makes a feed; Run reads.
func NewAlertFeed(opts AlertFeedOptions) (*AlertFeed, error) {
	if opts.Target == nil {
		return nil, fmt.Errorf("alert feed: a target is required")
	}
	if opts.Lookback <= 0 {
		opts.Lookback = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &AlertFeed{opts: opts}, nil
}

// Run reads ops.alert.v1 into the target until ctx ends.
func (f *AlertFeed) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.opts.Kafka.Brokers...), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return fmt.Errorf("alert feed: %w", err)
	}
	defer cl.Close()
	since := time.Now().Add(-f.opts.Lookback)
	start, end, err := f.offsets(ctx, kadm.NewClient(cl), since)
	if err != nil {
		return nil // ctx ended
	}
	type place struct {
		topic string
		part  int32
	}
	consume := map[string]map[int32]kgo.Offset{}
	caughtUp := map[place]bool{}
	read := func(topic string, start, end []int64) {
		parts := map[int32]kgo.Offset{}
		for p, o := range start {
			parts[int32(p)] = kgo.NewOffset().At(o)
			caughtUp[place{topic, int32(p)}] = o >= end[p]
		}
		consume[topic] = parts
	}
	ends := map[string][]int64{tables.AlertsTopic: end}
	if f.opts.Activity != nil {
		if astart, aend := f.activityOffsets(ctx, kadm.NewClient(cl), since); astart != nil {
			f.opts.Activity.InitActivity(astart)
			read(tables.ActivityTopic, astart, aend)
			ends[tables.ActivityTopic] = aend
		}
	}
	f.opts.Target.Init(start, since)
	read(tables.AlertsTopic, start, end)
	ready := func() {
		for _, ok := range caughtUp {
			if !ok {
				return
			}
		}
		f.opts.Target.MarkReady()
	}
	ready()
	cl.AddConsumePartitions(consume)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			f.opts.Logger.Warn("alert feed fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == tables.ActivityTopic {
				f.publishActivity(r)
			} else {
				f.opts.Target.Publish(alertRecord(r))
			}
			at := place{r.Topic, r.Partition}
			if !caughtUp[at] && r.Offset+1 >= ends[r.Topic][r.Partition] {
				caughtUp[at] = true
				ready()
			}
		})
	}
}

// activityOffsets lists where the lookback starts and where the topic
// ends on every partition of ops.alert.activity.v1, trying a few times.
// Without the topic (it was not created) the feed reads none: activity
// then reaches the streams of the replica that took it alone, and a
// warning says so.
func (f *AlertFeed) activityOffsets(ctx context.Context, adm *kadm.Client, since time.Time) (start, end []int64) {
	var err error
	for wait := 100 * time.Millisecond; wait < 5*time.Second; wait *= 2 {
		if start, end, err = listOffsets(ctx, adm, tables.ActivityTopic, since.UnixMilli()); err == nil {
			return start, end
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
	}
	f.opts.Logger.Warn("alert feed: not reading "+tables.ActivityTopic+" (create it with `eventops topics`): "+
		"alert activity reaches the streams of the replica that took it alone", "err", err)
	return nil, nil
}

// publishActivity hands an activity record to its target; one that
// tables.DecodeActivity refuses, or whose key is not its tenant's and
// episode's, is skipped: its tenant says whose streams it reaches.
func (f *AlertFeed) publishActivity(r *kgo.Record) {
	a, err := tables.DecodeActivity(r.Value)
	if err == nil && string(r.Key) != tables.ActivityKey(a.Tenant, a.EpisodeID) {
		err = fmt.Errorf("%w: key %q is not tenant %q and episode %q", tables.ErrBadActivity, r.Key, a.Tenant, a.EpisodeID)
	}
	if err != nil {
		f.opts.Logger.Warn("alert feed: skipping a record of "+tables.ActivityTopic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	a.Partition, a.Offset = r.Partition, r.Offset
	f.opts.Activity.PublishActivity(a)
}

// offsets lists where the lookback starts and where the topic ends on every
// partition, retrying until the broker answers or ctx ends.
func (f *AlertFeed) offsets(ctx context.Context, adm *kadm.Client, since time.Time) (start, end []int64, err error) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		start, end, err = listOffsets(ctx, adm, tables.AlertsTopic, since.UnixMilli())
		if err == nil {
			return start, end, nil
		}
		f.opts.Logger.Warn("alert feed: listing the offsets of "+tables.AlertsTopic, "err", err)
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func listOffsets(ctx context.Context, adm *kadm.Client, topic string, since int64) (start, end []int64, err error) {
	after, err := adm.ListOffsetsAfterMilli(ctx, since, topic)
	if err == nil {
		err = after.Error()
	}
	if err != nil {
		return nil, nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, err
	}
	n := len(after[topic])
	if n == 0 {
		return nil, nil, fmt.Errorf("topic %s has no partitions", topic)
	}
	start, end = make([]int64, n), make([]int64, n)
	for p, o := range after[topic] {
		if int(p) >= n {
			return nil, nil, fmt.Errorf("topic %s: partition %d of %d", topic, p, n)
		}
		start[p] = o.Offset
		e, _ := ends.Lookup(topic, p)
		end[p] = e.Offset
	}
	return start, end, nil
}

// alertRecord places a record of ops.alert.v1 and reads what the target
// filters on. A record that tables.DecodeAlert refuses (the sink and notify
// stages send it to the DLQ) keeps only its place.
func alertRecord(r *kgo.Record) tables.AlertRecord {
	ar := tables.AlertRecord{Partition: r.Partition, Offset: r.Offset, At: r.Timestamp}
	if tr, err := tables.DecodeAlert(r.Value); err == nil {
		ar.Data, ar.Tenant, ar.Host, ar.Severity, ar.State, ar.EpisodeID = r.Value, tr.Tenant, tr.Host, tr.Severity, tr.State, tr.EpisodeID
	}
	return ar
}
