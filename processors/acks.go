package processors

import (
	"context"
	"sync"
)

// Acks releases goka's deferred commits of one partition in offset order.
//
// A stage registers each input record with Add as its callback runs (goka runs
// a partition's callbacks one at a time, in offset order) and later says the
// record's work is durable, either record by record (Done) or, where a
// record's effect lives in a per-key state that is flushed as a whole, for a
// key up to an offset (Durable). The released prefix only ever grows.
type Acks struct {
	mu      sync.Mutex
	queue   []pending
	head    int
	durable map[string]int64
	// released counts acknowledgements handed back to goka.
	released uint64
}

type pending struct {
	offset int64
	key    string
	ack    func(error)
	done   bool
}

// NewAcks returns an empty tracker.
func NewAcks() *Acks { return &Acks{durable: map[string]int64{}} }

// Add registers the record at offset (of key) whose commit goka deferred.
// Offsets must increase.
func (a *Acks) Add(offset int64, key string, ack func(error)) {
	a.mu.Lock()
	a.queue = append(a.queue, pending{offset: offset, key: key, ack: ack})
	a.mu.Unlock()
}

// Done marks the record at offset durable.
func (a *Acks) Done(offset int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// The queue is sorted by offset: binary search the live part.
	lo, hi := a.head, len(a.queue)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a.queue[m].offset < offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(a.queue) && a.queue[lo].offset == offset {
		a.queue[lo].done = true
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

// Forget drops the durable mark of key, once its state has left this
// partition's owner.
func (a *Acks) Forget(key string) {
	a.mu.Lock()
	delete(a.durable, key)
	a.mu.Unlock()
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

func (a *Acks) release() {
	for a.head < len(a.queue) {
		p := &a.queue[a.head]
		if !p.done {
			if d, ok := a.durable[p.key]; !ok || d < p.offset {
				return
			}
		}
		p.ack(nil)
		a.released++
		*p = pending{}
		a.head++
	}
	// Reuse the slice once it is drained or mostly dead.
	if a.head == len(a.queue) {
		a.queue, a.head = a.queue[:0], 0
	} else if a.head > 4096 && a.head > len(a.queue)/2 {
		n := copy(a.queue, a.queue[a.head:])
		a.queue, a.head = a.queue[:n], 0
	}
}

// sessionAcks hands out one Acks per partition and goka session: a
// partition assigned again (after a rebalance or a restart of the stage)
// starts with a fresh tracker, never behind the leftovers of the last one.
type sessionAcks struct {
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
	a := NewAcks()
	s.m[id] = sessionEntry{session: session, acks: a}
	return a
}
