package processors

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer writes records asynchronously; *kgo.Client implements it. It must
// be configured with kgotables.Partitioner.
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
	one := countdown(len(recs), done)
	for _, r := range recs {
		produceOne(p, r, 0, stop, log, onErr, one)
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
		backoff = nextBackoff(backoff)
		log.Warn("produce failed, retrying", "topic", r.Topic, "err", err, "backoff", backoff)
		time.AfterFunc(backoff, func() { produceOne(p, r, backoff, stop, log, onErr, done) })
	})
}

// nextBackoff is the wait before the next attempt after one that waited d.
func nextBackoff(d time.Duration) time.Duration {
	return min(max(d*2, 50*time.Millisecond), 5*time.Second)
}

// countdown returns a func that calls done on its n-th call.
func countdown(n int, done func()) func() {
	var left atomic.Int32
	left.Store(int32(n))
	return func() {
		if left.Add(-1) == 0 {
			done()
		}
	}
}

// maxHeld bounds the records a lane holds while a refused record waits to be
// sent again; past it, the stage's callback waits (see lane.send).
const maxHeld = 10_000

// orderedProducer writes the records caused by each input partition so that
// they reach the broker in the order they were handed in, even when the
// broker refuses some: the features stage recognises a replayed signal by
// its origin, so the signals of one source and raw partition must leave in
// raw-offset order. Each input partition has a lane.
//
// franz-go retries what can be retried by itself; a record it gives up on
// fails together with every record buffered behind it for the same output
// partition (it fails a partition's whole buffer, lest the sequence numbers
// break). A lane that sees a record fail holds every record handed in after
// that, waits until all it had sent are answered, then sends the refused
// records again in the order they were handed in, followed by the held ones,
// and does so again (with backoff) until none is refused.
type orderedProducer struct {
	p     Producer
	stop  <-chan struct{}
	log   *slog.Logger
	onErr func(error)

	mu    sync.Mutex
	lanes map[int32]*lane
}

func newOrderedProducer(p Producer, stop <-chan struct{}, log *slog.Logger, onErr func(error)) *orderedProducer {
	return &orderedProducer{p: p, stop: stop, log: log, onErr: onErr, lanes: map[int32]*lane{}}
}

// send writes the records caused by one input record of partition and calls
// done once every one of them is acknowledged. Calls for one partition come
// from one goroutine at a time (goka runs a partition's callbacks in turn);
// session is the context of that partition's goka session.
func (o *orderedProducer) send(session context.Context, partition int32, recs []*kgo.Record, done func()) {
	if len(recs) == 0 {
		done()
		return
	}
	o.mu.Lock()
	l := o.lanes[partition]
	if l == nil {
		l = &lane{o: o, partition: partition}
		o.lanes[partition] = l
	}
	o.mu.Unlock()
	l.send(session, recs, countdown(len(recs), done))
}

// lane is one input partition's stream of records.
type lane struct {
	o         *orderedProducer
	partition int32

	mu       sync.Mutex
	seq      uint64   // of the next record handed in
	inflight int      // records with the producer, not answered yet
	blocked  bool     // a record was refused: records wait in redo
	refused  bool     // a record was refused since the last round was sent
	redo     []queued // refused and held records
	backoff  time.Duration
	lastErr  error
	opened   chan struct{} // closed when the lane stops being blocked
}

type queued struct {
	seq  uint64
	rec  *kgo.Record
	done func()
}

func (l *lane) send(session context.Context, recs []*kgo.Record, done func()) {
	l.mu.Lock()
	// A blocked lane holds at most maxHeld records: the callback waits for
	// room, unless the stage stops or the session ends (the records are held
	// then all the same, to leave in order if they ever do).
wait:
	for l.blocked && len(l.redo) >= maxHeld {
		opened := l.opened
		l.mu.Unlock()
		select {
		case <-opened:
		case <-l.o.stop:
			l.mu.Lock()
			break wait
		case <-session.Done():
			l.mu.Lock()
			break wait
		}
		l.mu.Lock()
	}
	qs := make([]queued, len(recs))
	for i, r := range recs {
		qs[i] = queued{seq: l.seq, rec: r, done: done}
		l.seq++
	}
	if l.blocked {
		l.redo = append(l.redo, qs...)
		l.mu.Unlock()
		return
	}
	l.inflight += len(qs)
	l.mu.Unlock()
	l.produce(qs)
}

func (l *lane) produce(qs []queued) {
	for _, q := range qs {
		l.o.p.Produce(context.Background(), q.rec, func(_ *kgo.Record, err error) { l.answered(q, err) })
	}
}

// answered takes the producer's answer for q; the last answer a blocked
// lane waited for starts its next round.
func (l *lane) answered(q queued, err error) {
	l.mu.Lock()
	l.inflight--
	if err != nil {
		if !l.blocked {
			l.blocked, l.opened = true, make(chan struct{})
		}
		l.refused, l.lastErr = true, err
		l.redo = append(l.redo, q)
	}
	start, refused, waiting, lastErr := l.blocked && l.inflight == 0, l.refused, len(l.redo), l.lastErr
	next := time.Duration(0)
	if start && refused {
		l.backoff = nextBackoff(l.backoff)
		next = l.backoff
	}
	l.mu.Unlock()
	if err != nil {
		l.o.onErr(err)
	} else {
		q.done()
	}
	if start && refused {
		l.o.log.Warn("produce failed: the partition's records wait and are sent again in order",
			"partition", l.partition, "records", waiting, "err", lastErr, "backoff", next)
	}
	if start {
		// Never from the promise itself: Produce may wait for room in the
		// client's buffer, which needs promises to return.
		time.AfterFunc(next, l.round)
	}
}

// round sends a blocked lane's refused and held records in the order they
// were handed in, or opens the lane when none is left.
func (l *lane) round() {
	select {
	case <-l.o.stop:
		return
	default:
	}
	l.mu.Lock()
	qs := l.redo
	l.redo = nil
	if !l.refused {
		l.backoff = 0
	}
	l.refused = false
	if len(qs) == 0 {
		l.blocked = false
		close(l.opened)
		l.mu.Unlock()
		return
	}
	slices.SortFunc(qs, func(a, b queued) int { return cmp.Compare(a.seq, b.seq) })
	l.inflight += len(qs)
	l.mu.Unlock()
	l.produce(qs)
}
