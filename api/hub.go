package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// AlertEvent is one alert transition as the stream sends it.
type AlertEvent struct {
	// ID is "<partition>-<offset>" on ops.alert.v1.
	ID        string
	Data      []byte
	Tenant    string
	Host      string
	Severity  string
	State     string
	EpisodeID string
	// At is the broker time of the record (for resuming).
	At time.Time
}

// alertHeader is the part of a transition the hub filters on.
type alertHeader struct {
	Tenant    string `json:"tenant"`
	Host      string `json:"host"`
	Severity  string `json:"severity"`
	State     string `json:"state"`
	EpisodeID string `json:"episode_id"`
}

// HubOptions configure the alert hub.
type HubOptions struct {
	Brokers []string
	// Lookback is how far back in ops.alert.v1 the hub starts reading, to
	// know which alerts are active when a client connects (default 24h).
	Lookback time.Duration
	// ClientBuffer bounds the events waiting for one client (default 256).
	ClientBuffer int
	Registerer   prometheus.Registerer
	Logger       *slog.Logger
}

// Hub fans ops.alert.v1 out to SSE clients. Every replica runs its own,
// reading all partitions without a consumer group.
type Hub struct {
	opts HubOptions

	mu     sync.Mutex
	subs   map[*Subscriber]struct{}
	active map[string]AlertEvent // episode → its pending or firing event
	seen   map[string]struct{}   // episode/state pairs already sent
	order  []string              // seen, oldest first, to bound it
	closed bool

	clients prometheus.Gauge
	dropped prometheus.Counter
	events  prometheus.Counter
}

// NewHub makes a hub; Run feeds it.
func NewHub(opts HubOptions) *Hub {
	if opts.Lookback <= 0 {
		opts.Lookback = 24 * time.Hour
	}
	if opts.ClientBuffer <= 0 {
		opts.ClientBuffer = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Hub{
		opts: opts, subs: map[*Subscriber]struct{}{}, active: map[string]AlertEvent{}, seen: map[string]struct{}{},
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventops_sse_clients", Help: "Open alert streams."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_sse_dropped_clients_total",
			Help: "Alert stream clients disconnected because they fell behind."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_sse_events_total",
			Help: "Alert transitions the hub fanned out."}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.clients, h.dropped, h.events)
	}
	return h
}

// Subscriber is one client's feed.
type Subscriber struct {
	C      chan AlertEvent
	filter func(AlertEvent) bool
	// Gone is closed when the hub drops the subscriber (it fell behind or
	// the hub closed).
	Gone chan struct{}
	once sync.Once
}

func (s *Subscriber) drop() { s.once.Do(func() { close(s.Gone) }) }

// Subscribe registers a client and returns the active alerts matching
// filter, so that a new client starts with the current picture.
func (h *Hub) Subscribe(filter func(AlertEvent) bool) (*Subscriber, []AlertEvent) {
	s := &Subscriber{C: make(chan AlertEvent, h.opts.ClientBuffer), filter: filter, Gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.drop()
		return s, nil
	}
	h.subs[s] = struct{}{}
	h.clients.Inc()
	var snap []AlertEvent
	for _, ev := range h.active {
		if filter(ev) {
			snap = append(snap, ev)
		}
	}
	sortEvents(snap)
	return s, snap
}

// Unsubscribe removes a client.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		h.clients.Dec()
	}
	s.drop()
}

// Publish fans an event out. A transition seen before (re-emitted after a
// crash, same episode and state) is not sent again.
func (h *Hub) Publish(ev AlertEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := ev.EpisodeID + "/" + ev.State
	if _, dup := h.seen[key]; dup {
		return
	}
	h.seen[key] = struct{}{}
	h.order = append(h.order, key)
	if len(h.order) > 100_000 {
		for _, k := range h.order[:50_000] {
			delete(h.seen, k)
		}
		h.order = append(h.order[:0], h.order[50_000:]...)
	}
	switch ev.State {
	case "pending", "firing":
		h.active[ev.EpisodeID] = ev
	default:
		delete(h.active, ev.EpisodeID)
	}
	h.events.Inc()
	for s := range h.subs {
		if !s.filter(ev) {
			continue
		}
		select {
		case s.C <- ev:
		default:
			// The client fell behind: drop it rather than block the hub.
			delete(h.subs, s)
			h.clients.Dec()
			h.dropped.Inc()
			s.drop()
		}
	}
}

// Close ends every stream.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		h.clients.Dec()
		s.drop()
	}
}

// Run reads ops.alert.v1 until ctx ends, then closes the hub.
func (h *Hub) Run(ctx context.Context) error {
	defer h.Close()
	start := time.Now().Add(-h.opts.Lookback)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(h.opts.Brokers...),
		kgo.ConsumeTopics(tables.AlertsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(start.UnixMilli())),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		return fmt.Errorf("alert hub: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			h.opts.Logger.Warn("alert hub fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			var hd alertHeader
			if err := json.Unmarshal(r.Value, &hd); err != nil || hd.EpisodeID == "" {
				return // the sink sends such records to the DLQ
			}
			data := r.Value
			if bytes.ContainsAny(data, "\r\n") {
				// An SSE data line must not break.
				var buf bytes.Buffer
				if json.Compact(&buf, data) != nil {
					return
				}
				data = buf.Bytes()
			}
			h.Publish(AlertEvent{
				ID: fmt.Sprintf("%d-%d", r.Partition, r.Offset), Data: data, Tenant: hd.Tenant, Host: hd.Host,
				Severity: hd.Severity, State: hd.State, EpisodeID: hd.EpisodeID, At: r.Timestamp,
			})
		})
	}
}

func sortEvents(evs []AlertEvent) {
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].At.Before(evs[j-1].At); j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
}
