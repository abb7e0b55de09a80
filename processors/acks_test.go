package processors

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/IBM/sarama"
)

func TestAcksReleaseInOffsetOrder(t *testing.T) {
	a := NewAcks()
	var released []int64
	add := func(off int64, key string) {
		a.Add(off, key, func(err error) {
			if err != nil {
				t.Errorf("ack %d with %v", off, err)
			}
			released = append(released, off)
		})
	}
	add(10, "a")
	add(11, "b")
	add(12, "a")
	add(13, "")
	a.Done(13) // done, but 10..12 are not: nothing may be released
	if len(released) != 0 {
		t.Fatalf("released %v before earlier offsets", released)
	}
	a.Durable("a", 10) // covers 10, not 12
	if len(released) != 1 || released[0] != 10 {
		t.Fatalf("released %v", released)
	}
	a.Durable("b", 11)
	if len(released) != 2 {
		t.Fatalf("released %v", released)
	}
	a.Durable("a", 12) // releases 12 and the done 13
	want := []int64{10, 11, 12, 13}
	if len(released) != len(want) {
		t.Fatalf("released %v, want %v", released, want)
	}
	for i := range want {
		if released[i] != want[i] {
			t.Fatalf("released %v, want %v", released, want)
		}
	}
	if a.Pending() != 0 || a.Released() != 4 {
		t.Fatalf("pending %d released %d", a.Pending(), a.Released())
	}
	// A durable mark given before the record arrives covers it.
	a.Durable("c", 20)
	add(19, "c")
	a.Done(-1) // triggers a release pass
	if released[len(released)-1] != 19 {
		t.Fatalf("released %v", released)
	}
}

// A released acknowledgement is not kept: it holds goka's context of its
// record, and with it the fetched batch the record lies in. Records
// released while others stay pending move the live ones down the queue;
// the entries they moved from must not keep theirs.
func TestReleasedAcknowledgementsAreLetGo(t *testing.T) {
	a := NewAcks()
	type record struct{ value [256]byte }
	var later []weak.Pointer[record]
	const n = 10000
	for off := range int64(n) {
		r := &record{}
		if off >= 6000 {
			later = append(later, weak.Make(r))
		}
		a.Add(off, "", func(error) { _ = r.value[0] })
	}
	// Releasing most of the queue moves the live rest down; releasing
	// that, but the last, leaves one record pending.
	for off := range int64(n - 1) {
		a.Done(off)
	}
	if a.Pending() != 1 {
		t.Fatalf("%d pending", a.Pending())
	}
	runtime.GC()
	runtime.GC()
	kept := 0
	for _, w := range later[:len(later)-1] {
		if w.Value() != nil {
			kept++
		}
	}
	if kept > 0 {
		t.Fatalf("%d of %d released acknowledgements are still reachable", kept, len(later)-1)
	}
	if later[len(later)-1].Value() == nil {
		t.Fatal("the pending acknowledgement was let go")
	}
	runtime.KeepAlive(a)
}

// session is a sarama session as far as a fence uses it: marks only move
// forward, as sarama's do.
type session struct {
	sarama.ConsumerGroupSession
	ctx    context.Context
	mu     sync.Mutex
	marked map[string]int64
}

func newSession(ctx context.Context) *session {
	return &session{ctx: ctx, marked: map[string]int64{}}
}

func (s *session) Context() context.Context { return s.ctx }

func (s *session) MarkOffset(topic string, partition int32, offset int64, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := fmt.Sprintf("%s/%d", topic, partition)
	if offset > s.marked[k] {
		s.marked[k] = offset
	}
}

func (s *session) mark(topic string, partition int32) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.marked[fmt.Sprintf("%s/%d", topic, partition)]
}

// fenced returns a tracker of partition 0 of topic t in a fenced session,
// and a function that adds a record whose acknowledgement marks the next
// offset, as goka's commit does.
func fenced(ctx context.Context, grace time.Duration) (*session, *Acks, func(off int64)) {
	s := newSession(ctx)
	f := newFence(s, grace, slog.New(slog.DiscardHandler))
	a := sessionTracker(f.Context(), "t", 0, false)
	return s, a, func(off int64) {
		a.Add(off, "", func(err error) {
			if err == nil {
				f.MarkOffset("t", 0, off+1, "")
			}
		})
	}
}

// A tracker that marks its partition lets goka commit every record as its
// callback returns, with nothing deferred, yet the partition is never
// marked past the first record whose work is not durable; it is marked as
// the durable prefix grows, and a hand-back holds it as with deferred
// commits.
func TestAMarkingTrackerNeverMarksPastWorkNotDurable(t *testing.T) {
	s := newSession(context.Background())
	f := newFence(s, time.Minute, slog.New(slog.DiscardHandler))
	a := sessionTracker(f.Context(), "t", 0, true)
	other := sessionTracker(f.Context(), "t", 1, true)
	read := func(a *Acks, p int32, off int64, key string) {
		a.Add(off, key, nil)
		f.MarkOffset("t", p, off+1, "") // goka's commit as the callback returns
	}
	for off := int64(10); off < 15; off++ {
		read(a, 0, off, fmt.Sprint("k", off%2))
	}
	if got := s.mark("t", 0); got > 10 {
		t.Fatalf("marked %d while nothing from 10 on is durable", got)
	}
	a.Durable("k0", 12) // 10 and 12, not 11
	if got := s.mark("t", 0); got != 11 {
		t.Fatalf("marked %d, want 11", got)
	}
	a.Durable("k1", 13) // up to 13; 14 is not durable
	if got := s.mark("t", 0); got != 14 {
		t.Fatalf("marked %d, want 14", got)
	}
	read(a, 0, 15, "k1")
	a.HandBackFrom(14)
	read(a, 0, 16, "k0")
	a.Durable("k0", 16)
	a.Durable("k1", 15)
	if got := s.mark("t", 0); got != 14 {
		t.Fatalf("marked %d after the hand-back from 14", got)
	}
	read(other, 1, 3, "k0")
	other.Durable("k0", 3)
	if got := s.mark("t", 1); got != 4 {
		t.Fatalf("partition 1 marked %d, want 4", got)
	}
	if a.Pending() != 0 || other.Pending() != 0 {
		t.Fatalf("pending %d, %d", a.Pending(), other.Pending())
	}
}

// Handing back holds the partition at the first record that is not
// durable: records before it are committed, none after it, also those
// done out of order and those added later.
func TestHandBackHoldsAtTheFirstUnfinishedRecord(t *testing.T) {
	s, a, add := fenced(context.Background(), time.Minute)
	for off := int64(10); off < 15; off++ {
		add(off)
	}
	a.Done(10)
	a.Done(11)
	a.Done(13)
	if got := s.mark("t", 0); got != 12 {
		t.Fatalf("marked %d before the hand-back, want 12", got)
	}
	a.HandBack()
	add(15)
	if a.Pending() != 0 {
		t.Fatalf("%d records still pending after the hand-back", a.Pending())
	}
	if got := s.mark("t", 0); got != 12 {
		t.Fatalf("marked %d after the hand-back, want 12: offset 12 was never durable", got)
	}
	if got := s.mark("u", 0); got != 0 {
		t.Fatalf("another topic was marked %d", got)
	}
}

// A record handed back waits for the records before it; then it and every
// later record are released, none of them committed.
func TestHandBackFromWaitsForEarlierRecords(t *testing.T) {
	s, a, add := fenced(context.Background(), time.Minute)
	for off := int64(10); off < 15; off++ {
		add(off)
	}
	a.HandBackFrom(12)
	a.Done(13)
	if a.Pending() != 5 {
		t.Fatalf("%d pending, want 5: nothing before 12 is durable", a.Pending())
	}
	a.Done(10)
	a.Done(11)
	if a.Pending() != 0 {
		t.Fatalf("%d pending, want 0", a.Pending())
	}
	if got := s.mark("t", 0); got != 12 {
		t.Fatalf("marked %d, want 12", got)
	}
}

// Without a fence (goka's tester) nothing can be held: nothing is released
// that is not durable.
func TestHandBackWithoutAFenceReleasesNothing(t *testing.T) {
	a := sessionTracker(context.Background(), "t", 0, false)
	var released int
	a.Add(1, "", func(error) { released++ })
	a.HandBack()
	a.HandBackFrom(1)
	if released != 0 || a.Pending() != 1 {
		t.Fatalf("released %d, pending %d", released, a.Pending())
	}
}

// Once its session ends, a tracker waits the grace for pending work, then
// hands the rest back; work that becomes durable within the grace is
// committed.
func TestSessionTrackerHandsBackAfterTheGrace(t *testing.T) {
	ctx, end := context.WithCancel(context.Background())
	s, a, add := fenced(ctx, 50*time.Millisecond)
	add(1)
	add(2)
	end()
	a.Done(1)
	deadline := time.Now().Add(20 * time.Second)
	for a.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("offset 2 was never handed back")
		}
		<-time.After(5 * time.Millisecond)
	}
	if got := s.mark("t", 0); got != 2 {
		t.Fatalf("marked %d, want 2", got)
	}
}

// handler is goka's side of a session: it records the sessions it is
// handed.
type handler struct {
	mu       sync.Mutex
	sessions []sarama.ConsumerGroupSession
	cleaned  chan struct{}
}

func (h *handler) seen(s sarama.ConsumerGroupSession) {
	h.mu.Lock()
	h.sessions = append(h.sessions, s)
	h.mu.Unlock()
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error { h.seen(s); return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, _ sarama.ConsumerGroupClaim) error {
	h.seen(s)
	return nil
}

func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.seen(s)
	close(h.cleaned)
	return nil
}

// goka sees one fence through a session, found from its context, and the
// session is released only once the work tied to its end is over.
func TestFenceOfASession(t *testing.T) {
	inner := &handler{cleaned: make(chan struct{})}
	h := &fencedHandler{inner: inner, grace: time.Minute, log: slog.New(slog.DiscardHandler)}
	s := newSession(context.Background())
	if err := h.Setup(s); err != nil {
		t.Fatal(err)
	}
	if err := h.ConsumeClaim(s, nil); err != nil {
		t.Fatal(err)
	}
	f := fenceOf(inner.sessions[0].Context())
	if f == nil || inner.sessions[0] != f || inner.sessions[1] != f {
		t.Fatalf("goka was handed %v, fence %v", inner.sessions, f)
	}
	done, ok := f.closeWith()
	if !ok {
		t.Fatal("work could not be tied to a running session")
	}
	var flushed atomic.Bool
	go func() {
		<-inner.cleaned
		flushed.Store(true)
		done()
	}()
	if err := h.Cleanup(s); err != nil {
		t.Fatal(err)
	}
	if !flushed.Load() {
		t.Fatal("the session was released before the work tied to its end was over")
	}
	if inner.sessions[2] != f {
		t.Fatal("goka's cleanup got another session")
	}
}

// A tracker keeps a key's durable offset only while it can still cover a
// record: sources come and go (hosts replaced, pods rescheduled), and a
// session lasts until the next rebalance, so a tracker that kept every
// key it ever saw would grow for as long. An offset beyond every record
// read (a state flushed by an earlier owner that had read further) is kept.
func TestAcksForgetKeysThatCanCoverNoRecord(t *testing.T) {
	a := NewAcks()
	a.Add(0, "ahead", nil)
	a.Durable("ahead", 500_000)
	for off := int64(1); off < 200_000; off++ {
		key := fmt.Sprint("host-", off)
		a.Add(off, key, nil)
		a.Durable(key, off)
	}
	if n := len(a.durable); n > 4*minPrune {
		t.Fatalf("%d keys kept after 200,000 sources sent one record each and left", n)
	}
	if a.Pending() != 0 {
		t.Fatalf("%d pending", a.Pending())
	}
	// The record of "ahead" at 300,000 is in the state flushed up to
	// 500,000: released as soon as the tracker looks.
	a.Add(300_000, "ahead", nil)
	a.Add(300_001, "other", nil)
	a.Durable("other", 300_001)
	if a.Pending() != 0 {
		t.Fatalf("%d pending: the durable offset of a key read ahead was forgotten", a.Pending())
	}
}
