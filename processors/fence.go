package processors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// fencedGroup hands goka a fence of each sarama session instead of the
// session itself: the fence lets a stage hold a partition at an offset so
// that the session never commits past it, which is how a stage hands
// records back to the partition's next owner instead of keeping goka
// waiting for work that will not be durable in time.
type fencedGroup struct {
	sarama.ConsumerGroup
	grace    time.Duration
	log      *slog.Logger
	sessions *sessionLog
}

// Consume runs one session; goka's handler sees its fence.
func (g fencedGroup) Consume(ctx context.Context, topics []string, handler sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, &fencedHandler{inner: handler, grace: g.grace, log: g.log, sessions: g.sessions})
}

// sessionLog holds the newest session a processor set up.
type sessionLog struct {
	mu  sync.Mutex
	cur *fence
}

func (l *sessionLog) set(f *fence) {
	l.mu.Lock()
	l.cur = f
	l.mu.Unlock()
}

// current returns the newest session, nil before the first.
func (l *sessionLog) current() *fence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// fencedHandler gives goka's handler the same fence in Setup, ConsumeClaim
// and Cleanup of its session.
type fencedHandler struct {
	inner    sarama.ConsumerGroupHandler
	grace    time.Duration
	log      *slog.Logger
	sessions *sessionLog

	mu sync.Mutex
	f  *fence
}

func (h *fencedHandler) fence(s sarama.ConsumerGroupSession) *fence {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil || h.f.ConsumerGroupSession != s {
		h.f = newFence(s, h.grace, h.log)
	}
	return h.f
}

func (h *fencedHandler) Setup(s sarama.ConsumerGroupSession) error {
	f := h.fence(s)
	if h.sessions != nil {
		h.sessions.set(f)
	}
	return h.inner.Setup(f)
}

func (h *fencedHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	return h.inner.ConsumeClaim(h.fence(s), c)
}

// Cleanup returns once goka's cleanup did and the work the stages tied to
// the session's end (a partition's final state flush) is over: only then
// does sarama commit for the last time and let the partitions go.
func (h *fencedHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	f := h.fence(s)
	err := h.inner.Cleanup(f)
	f.closingMu.Lock()
	f.ended = true
	f.closingMu.Unlock()
	f.closing.Wait()
	return err
}

// fence is one sarama session as goka sees it. Its context carries the
// fence, so that a goka callback finds it through ctx.Context().
type fence struct {
	sarama.ConsumerGroupSession
	ctx context.Context
	// started is the wall time (ms) the session began.
	started int64
	// grace is how long a stage waits, once the session ended, for its
	// records' work to become durable before it hands the rest back.
	grace time.Duration
	log   *slog.Logger
	// holds maps a partition to the highest offset the session may
	// commit; replaced whole on every change, so that MarkOffset reads it
	// without a lock.
	holds   atomic.Pointer[map[heldPartition]int64]
	holdsMu sync.Mutex
	// lows maps a partition whose tracker marks it (see Acks.Defer) to
	// the tracker's first record not released: no mark passes it. Replaced
	// whole on every change, as holds.
	lows atomic.Pointer[map[heldPartition]*atomic.Int64]
	// closing counts the work the session's end waits for; once ended,
	// none is added.
	closing   sync.WaitGroup
	closingMu sync.Mutex
	ended     bool
}

// heldPartition names a held partition; an empty topic holds the
// partition in every topic the session reads.
type heldPartition struct {
	topic     string
	partition int32
}

type fenceKey struct{}

func newFence(s sarama.ConsumerGroupSession, grace time.Duration, log *slog.Logger) *fence {
	f := &fence{ConsumerGroupSession: s, grace: grace, log: log, started: time.Now().UnixMilli()}
	f.ctx = context.WithValue(s.Context(), fenceKey{}, f)
	return f
}

// fenceOf returns the fence of the session ctx belongs to, or nil (goka's
// tester has no sarama session).
func fenceOf(ctx context.Context) *fence {
	f, _ := ctx.Value(fenceKey{}).(*fence)
	return f
}

// Context returns the session's context, carrying the fence.
func (f *fence) Context() context.Context { return f.ctx }

// MarkOffset marks offset, or the partition's hold if that is lower, or
// the first record its tracker has not released: sarama only moves marks
// forward, so what was marked before stays.
func (f *fence) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	if lows := f.lows.Load(); lows != nil {
		if low, ok := (*lows)[heldPartition{topic, partition}]; ok {
			offset = min(offset, low.Load())
		}
	}
	if holds := f.holds.Load(); holds != nil {
		for _, k := range []heldPartition{{topic, partition}, {"", partition}} {
			if h, ok := (*holds)[k]; ok && offset > h {
				offset = h
			}
		}
	}
	f.ConsumerGroupSession.MarkOffset(topic, partition, offset, metadata)
}

// MarkMessage marks the offset after msg, as sarama's does, through the
// hold.
func (f *fence) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	f.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, metadata)
}

// hold keeps the session from committing partition (of topic; empty: of
// every topic) past offset: the record at offset and everything after it
// are read again by the partition's next owner.
func (f *fence) hold(topic string, partition int32, offset int64) {
	f.holdsMu.Lock()
	defer f.holdsMu.Unlock()
	k := heldPartition{topic, partition}
	next := map[heldPartition]int64{}
	if cur := f.holds.Load(); cur != nil {
		for pk, h := range *cur {
			next[pk] = h
		}
	}
	if h, ok := next[k]; !ok || offset < h {
		next[k] = offset
	}
	f.holds.Store(&next)
}

// track makes low the bound of the partition's marks (see MarkOffset).
func (f *fence) track(topic string, partition int32, low *atomic.Int64) {
	f.holdsMu.Lock()
	defer f.holdsMu.Unlock()
	next := map[heldPartition]*atomic.Int64{}
	if cur := f.lows.Load(); cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	next[heldPartition{topic, partition}] = low
	f.lows.Store(&next)
}

// closeWith registers work that the session's end waits for; the caller
// calls the returned function once it is over. It reports false, with
// nothing registered, once the session's cleanup began.
func (f *fence) closeWith() (done func(), ok bool) {
	f.closingMu.Lock()
	defer f.closingMu.Unlock()
	if f.ended {
		return nil, false
	}
	f.closing.Add(1)
	return f.closing.Done, true
}
