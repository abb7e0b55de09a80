package processors

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer writes records asynchronously; *kgo.Client implements it. It must
// be configured with tables.Partitioner.
type Producer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
}

// produceAll writes records and calls done once every one of them is
// acknowledged. A record the broker refuses is retried with backoff until it
// is accepted or stop is closed; done is not called then, so the input stays
// uncommitted and is read again after a restart.
func produceAll(p Producer, recs []*kgo.Record, stop <-chan struct{}, log *slog.Logger, onErr func(error), done func()) {
	if len(recs) == 0 {
		done()
		return
	}
	var left atomic.Int32
	left.Store(int32(len(recs)))
	for _, r := range recs {
		produceOne(p, r, 0, stop, log, onErr, func() {
			if left.Add(-1) == 0 {
				done()
			}
		})
	}
}

func produceOne(p Producer, r *kgo.Record, backoff time.Duration, stop <-chan struct{}, log *slog.Logger, onErr func(error), done func()) {
	p.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err == nil {
			done()
			return
		}
		onErr(err)
		select {
		case <-stop:
			return
		default:
		}
		backoff = min(max(backoff*2, 50*time.Millisecond), 5*time.Second)
		log.Warn("produce failed, retrying", "topic", r.Topic, "err", err, "backoff", backoff)
		time.AfterFunc(backoff, func() { produceOne(p, r, backoff, stop, log, onErr, done) })
	})
}
