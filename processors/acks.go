package processors

import (
	"context"
	"math"
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka"
)

// Acks releases goka's deferred commits of one partition in offset order.
//
// A stage registers each input record with Add as its callback runs (goka runs
// a partition's callbacks one at a time, in offset order) and later says the
// record's work is durable, either record by record (Done) or, where a
// record's effect lives in a per-key state that is flushed as a whole, for a
// key up to an offset (Durable). The released prefix only ever grows.
//
// A record whose work will not be durable in its session is handed back
// (HandBack, HandBackFrom): the session's fence holds the partition at the
// first such record, so that the session commits nothing from there on and
// the partition's next owner reads it again, and its acknowledgement is
// released, so that goka does not wait for it.
//
// A tracker that marks (see Defer) takes the place of goka's deferred
// commits: goka commits each record as its callback returns, the session's
// fence never marks the partition past the first record not released
// (low), and the tracker marks the partition as its released prefix grows.
// A record pending then costs the tracker's entry alone, where a deferred
// commit keeps goka's context of the record, and with it the fetched batch
// its value lies in, until the record is released.
type Acks struct {
	mu      sync.Mutex
	queue   []pending
	head    int
	durable map[string]int64
	// next is the offset after the last record added; prune is the size
	// of durable at which its entries that can cover no record any more
	// are dropped.
	next, prune int64
	// released counts acknowledgements handed back to goka.
	released uint64
	// hold keeps the session from committing past an offset; nil without
	// a fence (goka's tester), where nothing can be handed back.
	hold func(offset int64)
	// handingBack: HandBack was called. held: the hold is placed, so
	// every record is released as soon as it is added.
	handingBack, held bool
	// idle is closed once nothing is pending; made only when waited for.
	idle chan struct{}
	// low is the offset of the first record not released, math.MaxInt64
	// when none is pending; mark, when set, marks the partition up to an
	// offset (see Defer).
	low  atomic.Int64
	mark func(offset int64)
}

type pending struct {
	offset int64
	key    string
	ack    func(error)
	done   bool
	// back: the record is handed back (HandBackFrom).
	back bool
}

// maxIdleQueue is the capacity a drained tracker keeps for reuse.
const maxIdleQueue = 1 << 14

// NewAcks returns an empty tracker that cannot hand records back.
func NewAcks() *Acks {
	a := &Acks{durable: map[string]int64{}}
	a.low.Store(math.MaxInt64)
	return a
}

// Defer returns the acknowledgement to Add the record of ctx with: none
// when the tracker marks the partition itself, else goka's deferred commit.
func (a *Acks) Defer(ctx goka.Context) func(error) {
	if a.mark != nil {
		return nil
	}
	return ctx.DeferCommit()
}

// Add registers the record at offset (of key) whose commit goka deferred.
// Offsets must increase; ack may be nil (see Defer).
func (a *Acks) Add(offset int64, key string, ack func(error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.head == len(a.queue) {
		a.low.Store(offset)
	}
	a.queue = append(a.queue, pending{offset: offset, key: key, ack: ack})
	a.next = offset + 1
	if a.handingBack || a.held {
		a.release()
	}
}

// Done marks the record at offset durable.
func (a *Acks) Done(offset int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.find(offset); ok {
		a.queue[i].done = true
	}
	a.release()
}

// Durable says that every record of key up to offset is durable.
func (a *Acks) Durable(key string, offset int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.durable[key]; !ok || offset > cur {
		a.durable[key] = offset
	}
	a.release()
}

// HandBack gives up on every record whose work is not durable yet, and on
// every record added from now on: the partition is held at the first of
// them and their acknowledgements are released, so goka waits for none of
// them and the partition's next owner reads them again. Without a fence it
// does nothing.
func (a *Acks) HandBack() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hold == nil {
		return
	}
	a.handingBack = true
	a.release()
}

// HandBackFrom gives up on the record at offset, whose work will not be
// durable in this session: once the records before it are released, the
// partition is held at it and it and every later record are released.
// Without a fence the record stays pending.
func (a *Acks) HandBackFrom(offset int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.find(offset); ok {
		a.queue[i].back = true
	}
	a.release()
}

// Pending returns how many records wait for their acknowledgement.
func (a *Acks) Pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queue) - a.head
}

// Released returns how many acknowledgements were handed back so far.
func (a *Acks) Released() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.released
}

// waitIdle returns once nothing is pending or ctx ended.
func (a *Acks) waitIdle(ctx context.Context) {
	for {
		a.mu.Lock()
		if a.head == len(a.queue) {
			a.mu.Unlock()
			return
		}
		if a.idle == nil {
			a.idle = make(chan struct{})
		}
		idle := a.idle
		a.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return
		}
	}
}

// find returns the index of the live record at offset. The queue is sorted
// by offset: binary search its live part.
func (a *Acks) find(offset int64) (int, bool) {
	lo, hi := a.head, len(a.queue)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a.queue[m].offset < offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(a.queue) && a.queue[lo].offset == offset
}

func (a *Acks) release() {
	next := int64(-1)
	for a.head < len(a.queue) {
		p := &a.queue[a.head]
		if !a.held && !p.done && !a.covered(p) {
			if a.hold == nil || !a.handingBack && !p.back {
				break
			}
			// Everything before p is released: hold the partition at p,
			// and from here on every record is covered by the hold.
			a.hold(p.offset)
			a.held = true
		}
		if p.ack != nil {
			p.ack(nil)
		}
		next = p.offset + 1
		a.released++
		*p = pending{}
		a.head++
	}
	if a.head < len(a.queue) {
		a.low.Store(a.queue[a.head].offset)
	} else {
		a.low.Store(math.MaxInt64)
	}
	if next >= 0 && a.mark != nil {
		a.mark(next)
	}
	a.pruneDurable()
	// Reuse the slice once it is drained or mostly dead; a slice a burst
	// grew large is let go once drained. The entries the live ones were
	// moved from are cleared: each holds an acknowledgement, and with it
	// goka's context of its record and the fetched batch it lies in.
	if a.head == len(a.queue) {
		a.queue, a.head = a.queue[:0], 0
		if cap(a.queue) > maxIdleQueue {
			a.queue = nil
		}
		if a.idle != nil {
			close(a.idle)
			a.idle = nil
		}
	} else if a.head > 4096 && a.head > len(a.queue)/2 {
		n := copy(a.queue, a.queue[a.head:])
		clear(a.queue[n:])
		a.queue, a.head = a.queue[:n], 0
	}
}

// minPrune is the size of durable below which it is not pruned.
const minPrune = 1024

// pruneDurable drops the durable offsets of keys that can cover no record:
// those before the first pending record, or, with none pending, not after
// the last one added (offsets increase). A key (a source) is then kept
// only while it has records in flight, not for the rest of the session:
// sources come and go. It runs once durable doubled since the last time,
// so that its cost per record stays constant.
func (a *Acks) pruneDurable() {
	if int64(len(a.durable)) < max(a.prune, minPrune) {
		return
	}
	bound := a.next
	if a.head < len(a.queue) {
		bound = a.queue[a.head].offset
	}
	for k, d := range a.durable {
		if d < bound {
			delete(a.durable, k)
		}
	}
	a.prune = 2 * int64(len(a.durable))
}

// covered reports whether p's key is durable up to p.
func (a *Acks) covered(p *pending) bool {
	d, ok := a.durable[p.key]
	return ok && d >= p.offset
}

// sessionTracker returns a fresh tracker of a partition (of topic; empty:
// of the one topic the stage reads) for one goka session, session being
// a callback's ctx.Context(). With marks, and a fence, the tracker marks
// the partition itself (see Acks.Defer): a stage whose session's end waits
// for its work (fence.closeWith) may ask for it. Once the session ends (revocation or
// shutdown), the tracker waits the fence's grace for pending work to
// become durable, then hands the rest back, so that goka never holds a
// partition longer than the grace.
func sessionTracker(session context.Context, topic string, partition int32, marks bool) *Acks {
	a := NewAcks()
	f := fenceOf(session)
	if f == nil {
		return a
	}
	if marks && topic != "" {
		f.track(topic, partition, &a.low)
		a.mark = func(offset int64) { f.MarkOffset(topic, partition, offset, "") }
	}
	a.hold = func(offset int64) {
		f.hold(topic, partition, offset)
		f.log.Info("records handed back: the partition's next owner reads them again",
			"topic", topic, "partition", partition, "from_offset", offset)
	}
	context.AfterFunc(session, func() {
		ctx, cancel := context.WithTimeout(context.Background(), f.grace)
		defer cancel()
		a.waitIdle(ctx)
		a.HandBack()
	})
	return a
}

// sessionAcks hands out one Acks per partition and goka session (see
// sessionTracker): a partition assigned again (after a rebalance or a
// restart of the stage) starts with a fresh tracker, never behind the
// leftovers of the last one.
type sessionAcks struct {
	// topic is the input topic the trackers are of (empty: the stage's
	// one input topic).
	topic string

	mu sync.Mutex
	m  map[int32]sessionEntry
}

type sessionEntry struct {
	session context.Context
	acks    *Acks
}

// get returns the tracker of partition id in session.
func (s *sessionAcks) get(id int32, session context.Context) *Acks {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[id]; ok && e.session == session {
		return e.acks
	}
	if s.m == nil {
		s.m = map[int32]sessionEntry{}
	}
	a := sessionTracker(session, s.topic, id, false)
	s.m[id] = sessionEntry{session: session, acks: a}
	return a
}
