package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/tables"
)

// AlertEvent is one alert transition as the stream sends it: the record of
// ops.alert.v1 with its place, the same on every replica, so a stream
// position is valid on all of them.
type AlertEvent = tables.AlertRecord

// Position is a place in ops.alert.v1: for each partition, the offset of
// the next record not yet delivered. It is the SSE event id: a client that
// reconnects with it as Last-Event-ID, to this replica or another, gets
// exactly the transitions it had not been sent.
type Position []int64

// String encodes p as the offsets joined by dots ("12.0.7").
func (p Position) String() string {
	var b strings.Builder
	for i, o := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatInt(o, 10))
	}
	return b.String()
}

// ParsePosition reads a Position written by String.
func ParsePosition(s string) (Position, error) {
	if s == "" || len(s) > 20*1024 {
		return nil, errors.New("not a stream position")
	}
	parts := strings.Split(s, ".")
	p := make(Position, len(parts))
	for i, x := range parts {
		o, err := strconv.ParseInt(x, 10, 64)
		if err != nil || o < 0 {
			return nil, fmt.Errorf("not a stream position: %q", x)
		}
		p[i] = o
	}
	return p, nil
}

// HubOptions configure the alert hub.
type HubOptions struct {
	// ClientBuffer bounds the events waiting for one client (default 256).
	ClientBuffer int
	// Replay is how many recent transitions the hub keeps for clients that
	// resume with Last-Event-ID (default 10,000); a client that missed more
	// gets a reset and the active alerts.
	Replay int
	// ActivityReplay is how many recent activities the hub keeps for
	// clients that resume with Last-Event-ID (default 1,000); a client
	// that missed more is not replayed activity.
	ActivityReplay int
	// DedupWindow is how far back (in broker time, within its partition) a
	// transition's earlier copy makes it a duplicate that is not sent again
	// (default 1h). Every replica decides alike for a transition it read the
	// window before of: the hub replays to resuming clients only those.
	DedupWindow time.Duration
	Registerer  prometheus.Registerer
	Logger      *slog.Logger
}

// Hub fans ops.alert.v1 out to SSE clients. Every replica runs its own,
// fed with all partitions by a reader outside any consumer group
// (processors.AlertFeed): it keeps the active alerts, the recent
// transitions for clients that resume, and the stream positions.
type Hub struct {
	opts HubOptions

	mu sync.Mutex
	// subs holds the subscribers by the one tenant they read ("" for
	// those that read several), so that an event is offered only to the
	// subscribers that may want it.
	subs   map[string]map[*Subscriber]struct{}
	active map[string]AlertEvent // episode → its pending or firing event
	// seen holds the episode/state pairs sent within DedupWindow, with the
	// broker time of their first copy; order lists them per partition,
	// oldest first, so that they leave by their own partition's time.
	seen  map[string]time.Time
	order map[int32][]seenEntry
	// decided: transitions at or after this broker time are judged alike on
	// every replica (the hub read the window before them).
	decided time.Time
	closed  bool

	// next is the hub's position; from[p] is the oldest offset a resuming
	// client can still be served on partition p (older transitions were
	// evicted from the ring, or were never read).
	next, from Position
	// tenantNext is each tenant's position: past its own transitions only,
	// so that a tenant's stream can move its id on without telling how
	// many transitions other tenants had.
	tenantNext map[string]Position
	ring       []AlertEvent // circular, the newest Replay transitions
	ringStart  int
	ringLen    int
	ready      chan struct{}
	readyOnce  sync.Once
	// activityIDs are the ids of the activities sent lately, activityOrder
	// them oldest first (hubactivity.go).
	activityIDs   map[int64]struct{}
	activityOrder []int64
	// actNext, actFrom, tenantActNext and actRing are next, from,
	// tenantNext and ring for ops.alert.activity.v1 (nil until
	// InitActivity).
	actNext, actFrom Position
	tenantActNext    map[string]Position
	actRing          []ActivityEvent
	actRingStart     int
	actRingLen       int

	clients prometheus.Gauge
	dropped prometheus.Counter
	events  prometheus.Counter
	resets  prometheus.Counter
}

// NewHub makes a hub; Init and Publish feed it.
func NewHub(opts HubOptions) *Hub {
	if opts.ClientBuffer <= 0 {
		opts.ClientBuffer = 256
	}
	if opts.Replay <= 0 {
		opts.Replay = 10_000
	}
	if opts.ActivityReplay <= 0 {
		opts.ActivityReplay = 1000
	}
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Hub{
		opts: opts, subs: map[string]map[*Subscriber]struct{}{}, tenantNext: map[string]Position{}, tenantActNext: map[string]Position{}, active: map[string]AlertEvent{}, seen: map[string]time.Time{},
		order: map[int32][]seenEntry{},
		ring:  make([]AlertEvent, opts.Replay), ready: make(chan struct{}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventops_sse_clients", Help: "Open alert streams."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_sse_dropped_clients_total",
			Help: "Alert stream clients disconnected because they fell behind."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_sse_events_total",
			Help: "Alert transitions the hub fanned out."}),
		resets: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_sse_resume_resets_total",
			Help: "Resuming clients that had missed more than the hub keeps and were sent the active alerts instead."}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.clients, h.dropped, h.events, h.resets)
	}
	return h
}

// Init sets the partitions of the topic and the offsets the hub starts
// reading at, and the broker time reading starts from (zero: the start of
// the topic), before the first Publish.
func (h *Hub) Init(start Position, since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next = append(Position(nil), start...)
	h.from = append(Position(nil), start...)
	if !since.IsZero() {
		h.decided = since.Add(h.opts.DedupWindow)
	}
}

// Ready is closed once the hub has read the topic up to where it stood
// when the hub started.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// MarkReady says the hub has been fed the topic up to where it stood when
// reading started: streams may open.
func (h *Hub) MarkReady() { h.readyOnce.Do(func() { close(h.ready) }) }

// Subscriber is one client's feed.
type Subscriber struct {
	C chan AlertEvent
	// Activity carries what people do with alert episodes (hubactivity.go).
	Activity chan ActivityEvent
	filter   func(AlertEvent) bool
	tenant   string
	// actAt is the hub's place in ops.alert.activity.v1 when s subscribed:
	// the activity after it reaches s.Activity.
	actAt Position
	// Gone is closed when the hub drops the subscriber (it fell behind or
	// the hub closed).
	Gone chan struct{}
	once sync.Once
}

func (s *Subscriber) drop() { s.once.Do(func() { close(s.Gone) }) }

// Start is what a new subscriber is sent before its live events.
type Start struct {
	// Pos is the position the stream starts from.
	Pos Position
	// Replay holds the transitions a resuming client missed, oldest first.
	Replay []AlertEvent
	// Snapshot holds the active alerts, for a new client or one the hub
	// could not resume (Reset).
	Snapshot []AlertEvent
	// Reset says a resume was asked for and could not be served.
	Reset bool
}

// Subscribe registers a client. With resume nil it starts with the active
// alerts matching filter; with the position of a previous stream it starts
// with the transitions after it (or, if the hub no longer has them all, a
// reset and the active alerts).
func (h *Hub) Subscribe(filter func(AlertEvent) bool, resume Position) (*Subscriber, Start) {
	return h.SubscribeTenant("", filter, resume)
}

// SubscribeTenant is Subscribe for a client that reads only tenant's
// events ("" for several tenants): it is offered no other tenant's.
func (h *Hub) SubscribeTenant(tenant string, filter func(AlertEvent) bool, resume Position) (*Subscriber, Start) {
	if tenant != "" {
		all := filter
		filter = func(ev AlertEvent) bool { return ev.Tenant == tenant && all(ev) }
	}
	s := &Subscriber{C: make(chan AlertEvent, h.opts.ClientBuffer), filter: filter, tenant: tenant, Gone: make(chan struct{}),
		Activity: make(chan ActivityEvent, activityBuffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.drop()
		return s, Start{}
	}
	if h.subs[tenant] == nil {
		h.subs[tenant] = map[*Subscriber]struct{}{}
	}
	h.subs[tenant][s] = struct{}{}
	h.clients.Inc()
	s.actAt = append(Position(nil), h.actNext...)
	st := Start{Pos: append(Position(nil), h.next...)}
	if resume != nil {
		if h.resumable(resume) {
			st.Pos = resume
			h.eachInRing(func(ev AlertEvent) {
				if ev.Offset >= resume[ev.Partition] && filter(ev) {
					st.Replay = append(st.Replay, ev)
				}
			})
			return s, st
		}
		st.Reset = true
		h.resets.Inc()
	}
	for _, ev := range h.active {
		if filter(ev) {
			st.Snapshot = append(st.Snapshot, ev)
		}
	}
	sortEvents(st.Snapshot)
	return s, st
}

// resumable reports whether every transition at or after p is in the ring
// or not yet read.
func (h *Hub) resumable(p Position) bool {
	if len(h.next) == 0 || len(p) != len(h.next) {
		return false
	}
	for i, o := range p {
		if o < h.from[i] {
			return false
		}
	}
	return true
}

func (h *Hub) eachInRing(f func(AlertEvent)) {
	for i := range h.ringLen {
		f(h.ring[(h.ringStart+i)%len(h.ring)])
	}
}

// Caught returns the position past every event published for s if all
// of them have been taken from s.C, so that a stream may advance its id to
// it: the hub's position, or for a subscriber of one tenant that tenant's.
func (h *Hub) Caught(s *Subscriber) (Position, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return caughtAt(h.next, h.tenantNext, s.tenant, len(s.C))
}

// caughtAt is the position a subscriber of tenant ("" for several) may
// advance to, with queued events not yet taken: all, or tenant's own.
func caughtAt(all Position, byTenant map[string]Position, tenant string, queued int) (Position, bool) {
	next := all
	if tenant != "" {
		next = byTenant[tenant]
	}
	if queued > 0 || len(next) == 0 {
		return nil, false
	}
	return append(Position(nil), next...), true
}

// Unsubscribe removes a client.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(s)
	s.drop()
}

// Publish fans an event out. A transition seen before within DedupWindow
// (re-emitted after a crash, same episode and state) is not sent again; an
// event without EpisodeID is a record that is not a transition, of which
// only the place counts. Events of a partition must come in offset order.
func (h *Hub) Publish(ev AlertEvent) {
	if ev.EpisodeID != "" && bytes.ContainsAny(ev.Data, "\r\n") {
		// An SSE data line must not break.
		var buf bytes.Buffer
		if json.Compact(&buf, ev.Data) == nil {
			ev.Data = buf.Bytes()
		} else {
			ev.EpisodeID = ""
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.advance(ev.Partition, ev.Offset)
	if ev.EpisodeID == "" {
		return
	}
	h.tenantNext[ev.Tenant] = advance(h.tenantNext[ev.Tenant], ev)
	if h.duplicate(ev) {
		return
	}
	switch ev.State {
	case "pending", "firing":
		h.active[ev.EpisodeID] = ev
	default:
		delete(h.active, ev.EpisodeID)
	}
	if ev.At.Before(h.decided) {
		// Read as history: it sets the active alerts, but a resuming client
		// is not replayed from here (another replica could judge it apart).
		h.from[ev.Partition] = max(h.from[ev.Partition], ev.Offset+1)
	} else {
		h.keep(ev)
	}
	h.events.Inc()
	// Sends never block: a client that fell behind is dropped rather
	// than hold the hub (and every other client) up.
	for _, group := range []map[*Subscriber]struct{}{h.subs[ev.Tenant], h.subs[""]} {
		for s := range group {
			if !s.filter(ev) {
				continue
			}
			select {
			case s.C <- ev:
			default:
				h.remove(s)
				h.dropped.Inc()
				s.drop()
			}
		}
	}
}

// remove forgets a subscriber (h.mu held).
func (h *Hub) remove(s *Subscriber) {
	group := h.subs[s.tenant]
	if _, ok := group[s]; !ok {
		return
	}
	delete(group, s)
	if len(group) == 0 {
		delete(h.subs, s.tenant)
	}
	h.clients.Dec()
}

type seenEntry struct {
	key string
	at  time.Time
}

// maxSeen bounds the transitions remembered for deduplication, whatever
// DedupWindow holds; beyond it the oldest are forgotten early.
const maxSeen = 200_000

// duplicate reports whether ev's episode and state were sent within
// DedupWindow before it in its partition, and remembers them otherwise.
func (h *Hub) duplicate(ev AlertEvent) bool {
	key := ev.EpisodeID + "/" + ev.State
	order := h.order[ev.Partition]
	for len(order) > 0 && ev.At.Sub(order[0].at) > h.opts.DedupWindow {
		h.forget(order[0])
		order = order[1:]
	}
	if at, ok := h.seen[key]; ok && ev.At.Sub(at) <= h.opts.DedupWindow {
		h.order[ev.Partition] = order
		return true
	}
	h.seen[key] = ev.At
	h.order[ev.Partition] = append(order, seenEntry{key: key, at: ev.At})
	if len(h.seen) > maxSeen {
		for p, o := range h.order {
			n := len(o) / 4
			for _, e := range o[:n] {
				h.forget(e)
			}
			h.order[p] = o[n:]
		}
	}
	return false
}

func (h *Hub) forget(e seenEntry) {
	if at, ok := h.seen[e.key]; ok && at.Equal(e.at) {
		delete(h.seen, e.key)
	}
}

func (h *Hub) advance(p int32, off int64) {
	for int(p) >= len(h.next) { // partitions Init did not announce (tests)
		h.next, h.from = append(h.next, 0), append(h.from, 0)
	}
	if off+1 > h.next[p] {
		h.next[p] = off + 1
	}
}

// keep puts ev into the replay ring, evicting the oldest transition.
func (h *Hub) keep(ev AlertEvent) {
	if h.ringLen == len(h.ring) {
		old := h.ring[h.ringStart]
		if old.Offset+1 > h.from[old.Partition] {
			h.from[old.Partition] = old.Offset + 1
		}
		h.ring[h.ringStart] = ev
		h.ringStart = (h.ringStart + 1) % len(h.ring)
		return
	}
	h.ring[(h.ringStart+h.ringLen)%len(h.ring)] = ev
	h.ringLen++
}

// Close ends every stream.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, group := range h.subs {
		for s := range group {
			h.remove(s)
			s.drop()
		}
	}
}

// sortEvents orders events by broker time, then by partition and offset,
// so that a snapshot reads the same on every replica and every time.
func sortEvents(evs []AlertEvent) {
	slices.SortStableFunc(evs, func(a, b AlertEvent) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.Partition != b.Partition {
			return cmp.Compare(a.Partition, b.Partition)
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
}
