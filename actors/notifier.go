package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
)

// NotifyStore is the part of the store the notifier reads and writes.
type NotifyStore interface {
	ActiveSilences(ctx context.Context, tenant string, at time.Time) ([]store.Silence, error)
	SentNotifications(ctx context.Context, episodeID string) ([]store.SentState, error)
	RecordNotifications(ctx context.Context, ns []store.Notification) error
}

// ErrUndelivered is what a transition's done function gets when the
// notifier stopped before the transition was delivered: its input must
// not be committed, so that it is read again on the next start.
var ErrUndelivered = errors.New("notify: not delivered before shutdown")

// NotifierOptions configure the notifier.
type NotifierOptions struct {
	// Config is the receiver file; nil sends nothing.
	Config *notify.Config
	Store  NotifyStore
	// ExternalURL is the base of links when the file names none.
	ExternalURL string
	// Client sends the webhooks (default: a client of its own; each
	// webhook's timeout bounds each attempt).
	Client *http.Client
	// RetryMin and RetryMax bound the pause between attempts of a failing
	// notification (default 200 ms doubling to 30 s).
	RetryMin, RetryMax time.Duration
	// MaxInflight bounds the requests out at once per webhook (default 4).
	MaxInflight int
	// DrainTimeout bounds the delivery of what waits when Run's context
	// ends (default 10 s).
	DrainTimeout time.Duration
	// Now is the clock (default time.Now).
	Now        func() time.Time
	UserAgent  string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (o NotifierOptions) defaults() NotifierOptions {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 200 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 4
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UserAgent == "" {
		o.UserAgent = "eventops"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Notifier sends alert transitions to the receivers of the receiver file.
// Notify never blocks: an intake actor looks up silences and what was
// sent before (in order), and one actor per webhook keeps its aggregation
// groups, timers and retries. It implements processors.NotifyTarget.
//
// Delivery: a transition is settled (its input committed) only once every
// webhook it goes to accepted it (2xx) and what was sent is recorded in
// PostgreSQL (notifications, keyed by episode, state, receiver and
// webhook), or once a full queue refused it, a silence muted it, or a
// webhook refused it for good (4xx). A transition read again, or emitted
// again by the rule engine with the same (episode_id, state), is skipped
// for every webhook the record says has it. A crash between a 2xx and its
// record sends that notification again: at least once, never lost.
type Notifier struct {
	opts        NotifierOptions
	system      *actor.ActorSystem
	externalURL string
	hooks       map[string][]*hook // by receiver name
	all         []*hook
	intake      *actor.PID
	m           notifierMetrics

	// ctx ends when the drain is over: requests and lookups stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // closed, against Notify
	closed bool
	// outstanding counts tokens not settled; zero is signalled on idle.
	outstanding atomic.Int64
	idle        chan struct{}
}

type notifierMetrics struct {
	transitions  *prometheus.CounterVec
	refused      *prometheus.CounterVec
	queued       *prometheus.GaugeVec
	requests     *prometheus.CounterVec
	lookupErrors prometheus.Counter
}

// NewNotifier spawns the intake actor and one actor per webhook.
func NewNotifier(system *actor.ActorSystem, opts NotifierOptions) *Notifier {
	opts = opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{opts: opts, system: system, hooks: map[string][]*hook{}, ctx: ctx, cancel: cancel,
		idle: make(chan struct{}, 1), externalURL: opts.ExternalURL}
	n.m = notifierMetrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_notify_transitions_total",
			Help: "Alert transitions the notify stage handled, by outcome (not_notified: pending or inactive; unrouted; silenced; queued).",
		}, []string{"outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_notify_refused_total",
			Help: "Transitions a webhook's full queue refused (they are not sent to it).",
		}, []string{"receiver", "integration"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventops_notify_queued", Help: "Transitions a webhook holds undelivered.",
		}, []string{"receiver", "integration"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_notify_requests_total",
			Help: "Webhook requests, by outcome (delivered; retry: network error, 5xx or 429; failed: other 4xx, dropped).",
		}, []string{"receiver", "integration", "outcome"}),
		lookupErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventops_notify_lookup_errors_total", Help: "Failed reads of silences or sent notifications (retried).",
		}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(n.m.transitions, n.m.refused, n.m.queued, n.m.requests, n.m.lookupErrors)
	}
	if c := opts.Config; c != nil {
		if c.ExternalURL != "" {
			n.externalURL = c.ExternalURL
		}
		for _, r := range c.Receivers {
			for i, w := range r.Webhooks {
				h := &hook{n: n, receiver: r.Name, integration: "webhook/" + strconv.Itoa(i), cfg: w,
					capacity: int64(c.QueueCapacity), sem: make(chan struct{}, opts.MaxInflight)}
				h.refused = n.m.refused.WithLabelValues(h.receiver, h.integration)
				h.queued = n.m.queued.WithLabelValues(h.receiver, h.integration)
				ha := &hookActor{h: h, groups: map[string]*hookGroup{}}
				h.pid = system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return ha }))
				n.hooks[r.Name] = append(n.hooks[r.Name], h)
				n.all = append(n.all, h)
			}
		}
	}
	ia := &intakeActor{n: n}
	n.intake = system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return ia }))
	return n
}

// Sends reports whether any webhook is configured.
func (n *Notifier) Sends() bool { return len(n.all) > 0 }

// Queued returns the transitions held undelivered, over all webhooks.
func (n *Notifier) Queued() int64 { return n.outstanding.Load() }

// Notify hands over a transition; done is called once every receiver it
// goes to has it delivered, refused or silenced (nil), or once the
// notifier stopped without delivering it (ErrUndelivered).
func (n *Notifier) Notify(tr *rules.Transition, done func(error)) {
	a, ok := notify.FromTransition(tr, n.externalURL)
	if !ok {
		n.m.transitions.WithLabelValues("not_notified").Inc()
		done(nil)
		return
	}
	if n.opts.Config == nil {
		n.m.transitions.WithLabelValues("unrouted").Inc()
		done(nil)
		return
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		done(ErrUndelivered)
		return
	}
	req := &intakeReq{alert: a, ticket: &ticket{done: done}}
	for _, r := range n.opts.Config.Route.Match(a.Labels) {
		for _, h := range n.hooks[r.Receiver] {
			if !h.reserve() {
				h.refused.Inc()
				n.opts.Logger.Warn("webhook queue full: transition refused", "receiver", h.receiver, "integration", h.integration,
					"tenant", a.Tenant, "alertname", a.Labels["alertname"], "episode", a.EpisodeID, "state", a.Status)
				continue
			}
			req.targets = append(req.targets, target{route: r, tok: &token{hook: h, ticket: req.ticket}})
		}
	}
	if len(req.targets) == 0 {
		n.m.transitions.WithLabelValues("unrouted").Inc()
		done(nil)
		return
	}
	req.ticket.left = len(req.targets)
	n.outstanding.Add(int64(len(req.targets)))
	n.m.transitions.WithLabelValues("queued").Inc()
	n.system.Root.Send(n.intake, req)
}

// Run returns once ctx has ended and what the notifier held is delivered,
// or DrainTimeout has passed; then what is left is settled with
// ErrUndelivered.
func (n *Notifier) Run(ctx context.Context) error {
	<-ctx.Done()
	for _, h := range n.all {
		n.system.Root.Send(h.pid, drainStart{})
	}
	deadline := time.NewTimer(n.opts.DrainTimeout)
	defer deadline.Stop()
wait:
	for n.outstanding.Load() > 0 {
		select {
		case <-n.idle:
		case <-deadline.C:
			break wait
		}
	}
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	if left := n.outstanding.Load(); left > 0 {
		n.opts.Logger.Warn("notifications undelivered at shutdown; their transitions are read again on the next start", "transitions", left)
	}
	n.cancel()
	// The intake forwards what it holds before it answers, so the webhook
	// actors see everything before their own drain ends.
	var errs []error
	if _, err := n.system.Root.RequestFuture(n.intake, drainEnd{}, time.Minute).Result(); err != nil {
		errs = append(errs, fmt.Errorf("notify intake: %w", err))
	}
	for _, h := range n.all {
		if _, err := n.system.Root.RequestFuture(h.pid, drainEnd{}, time.Minute).Result(); err != nil {
			errs = append(errs, fmt.Errorf("notify %s/%s: %w", h.receiver, h.integration, err))
		}
		n.system.Root.Stop(h.pid)
	}
	n.system.Root.Stop(n.intake)
	return errors.Join(errs...)
}

// ticket is one transition's done function, called once every target has
// settled.
type ticket struct {
	mu   sync.Mutex
	left int
	err  error
	done func(error)
}

func (t *ticket) settle(err error) {
	t.mu.Lock()
	if err != nil && t.err == nil {
		t.err = err
	}
	t.left--
	last, e := t.left == 0, t.err
	t.mu.Unlock()
	if last {
		t.done(e)
	}
}

// token is a transition's place in one webhook's queue.
type token struct {
	hook   *hook
	ticket *ticket
	once   sync.Once
}

func (t *token) settle(err error) {
	t.once.Do(func() {
		t.hook.release()
		if t.hook.n.outstanding.Add(-1) == 0 {
			select {
			case t.hook.n.idle <- struct{}{}:
			default:
			}
		}
		t.ticket.settle(err)
	})
}

func settleAll(toks []*token, err error) {
	for _, t := range toks {
		t.settle(err)
	}
}

type target struct {
	route *notify.Route
	tok   *token
}

// Messages of the notifier's actors.
type (
	intakeReq struct {
		alert   notify.Alert
		targets []target
		ticket  *ticket
	}
	admit struct {
		alert                    notify.Alert
		route                    *notify.Route
		firingSent, resolvedSent bool
		tok                      *token
	}
	flushDue struct {
		key string
		gen uint64
	}
	sendDone struct {
		key     string
		batch   *notify.Batch[*token]
		outcome notify.Outcome
	}
	drainStart struct{}
	drainEnd   struct{}
)

// intakeActor handles transitions one at a time, in the order they were
// read: it looks up the tenant's silences and what each webhook was sent
// of the episode, then hands the transition to the webhooks' actors.
type intakeActor struct{ n *Notifier }

func (a *intakeActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *intakeReq:
		a.n.admit(m)
	case drainEnd:
		c.Respond(true)
	}
}

func (n *Notifier) admit(m *intakeReq) {
	var silences []store.Silence
	var sent []store.SentState
	backoff := time.Duration(0)
	for {
		var err error
		silences, err = n.opts.Store.ActiveSilences(n.ctx, m.alert.Tenant, n.opts.Now())
		if err == nil {
			sent, err = n.opts.Store.SentNotifications(n.ctx, m.alert.EpisodeID)
		}
		if err == nil {
			break
		}
		if n.ctx.Err() != nil {
			for _, t := range m.targets {
				t.tok.settle(ErrUndelivered)
			}
			return
		}
		n.m.lookupErrors.Inc()
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		n.opts.Logger.Warn("reading silences and sent notifications failed; retrying", "tenant", m.alert.Tenant, "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-n.ctx.Done():
		}
	}
	now := n.opts.Now()
	for _, s := range silences {
		sil := notify.Silence{ID: s.ID, StartsAt: s.StartsAt, EndsAt: s.EndsAt}
		for _, ms := range s.Matchers {
			parsed, err := notify.ParseMatchers(ms)
			if err != nil {
				n.opts.Logger.Error("silence has a matcher that does not parse; it is ignored", "silence", s.ID, "tenant", s.Tenant, "err", err)
				sil.Matchers = nil
				break
			}
			sil.Matchers = append(sil.Matchers, parsed...)
		}
		if len(sil.Matchers) > 0 && sil.Mutes(m.alert.Labels, now) {
			n.m.transitions.WithLabelValues("silenced").Inc()
			n.opts.Logger.Info("alert silenced", "tenant", m.alert.Tenant, "alertname", m.alert.Labels["alertname"],
				"host", m.alert.Labels["host"], "state", m.alert.Status, "episode", m.alert.EpisodeID, "silence", s.ID)
			for _, t := range m.targets {
				t.tok.settle(nil)
			}
			return
		}
	}
	for _, t := range m.targets {
		ad := &admit{alert: m.alert, route: t.route, tok: t.tok}
		for _, s := range sent {
			if s.Receiver == t.tok.hook.receiver && s.Integration == t.tok.hook.integration {
				ad.firingSent = ad.firingSent || s.State == notify.StatusFiring
				ad.resolvedSent = ad.resolvedSent || s.State == notify.StatusResolved
			}
		}
		n.system.Root.Send(t.tok.hook.pid, ad)
	}
}

// hook is one webhook of a receiver: its bounded queue and its requests.
type hook struct {
	n           *Notifier
	receiver    string
	integration string
	cfg         *notify.Webhook
	capacity    int64
	reserved    atomic.Int64
	sem         chan struct{}
	pid         *actor.PID
	refused     prometheus.Counter
	queued      prometheus.Gauge
}

func (h *hook) reserve() bool {
	for {
		cur := h.reserved.Load()
		if cur >= h.capacity {
			return false
		}
		if h.reserved.CompareAndSwap(cur, cur+1) {
			h.queued.Inc()
			return true
		}
	}
}

func (h *hook) release() {
	h.reserved.Add(-1)
	h.queued.Dec()
}

// hookActor owns one webhook's aggregation groups.
type hookActor struct {
	h        *hook
	self     *actor.PID
	groups   map[string]*hookGroup
	draining bool
}

type hookGroup struct {
	g        *notify.Group[*token]
	timer    *time.Timer
	gen      uint64
	batch    *notify.Batch[*token]
	failures int
}

func (a *hookActor) Receive(c actor.Context) {
	now := a.h.n.opts.Now()
	switch m := c.Message().(type) {
	case *actor.Started:
		a.self = c.Self()
	case *admit:
		labels := m.route.GroupLabels(m.alert.Labels)
		key := m.route.GroupKey(labels)
		hg := a.groups[key]
		if hg == nil {
			hg = &hookGroup{g: notify.NewGroup[*token](key, labels, m.route.Timing, a.h.cfg.SendResolved, now)}
			a.groups[key] = hg
		}
		settleAll(hg.g.Add(notify.Incoming[*token]{Alert: m.alert, FiringSent: m.firingSent, ResolvedSent: m.resolvedSent, Token: m.tok}, now), nil)
		a.schedule(key, hg, now)
	case flushDue:
		if hg := a.groups[m.key]; hg != nil && hg.gen == m.gen {
			hg.timer = nil
			a.schedule(m.key, hg, now)
		}
	case *sendDone:
		hg := a.groups[m.key]
		if hg == nil || hg.batch != m.batch {
			return
		}
		hg.batch = nil
		if m.outcome == notify.Retry {
			hg.failures++
		} else {
			hg.failures = 0
		}
		settleAll(hg.g.Result(m.batch, m.outcome, now, a.h.backoff(hg.failures)), nil)
		a.schedule(m.key, hg, now)
	case drainStart:
		a.draining = true
		for key, hg := range a.groups {
			a.schedule(key, hg, now)
		}
	case drainEnd:
		for _, hg := range a.groups {
			if hg.timer != nil {
				hg.timer.Stop()
			}
			settleAll(hg.g.Held(), ErrUndelivered)
			if hg.batch != nil {
				settleAll(hg.batch.Tokens, ErrUndelivered)
			}
		}
		clear(a.groups)
		c.Respond(true)
	case *actor.Stopping:
		for _, hg := range a.groups {
			if hg.timer != nil {
				hg.timer.Stop()
			}
		}
	}
}

// schedule flushes the group if it is due, or arms its timer; an empty
// group is dropped.
func (a *hookActor) schedule(key string, hg *hookGroup, now time.Time) {
	if hg.timer != nil {
		hg.timer.Stop()
		hg.timer = nil
	}
	hg.gen++
	if hg.g.Due(now, a.draining) {
		b, rel := hg.g.Flush(now)
		settleAll(rel, nil)
		if b != nil {
			hg.batch = b
			go a.h.send(key, b, a.self)
			return
		}
	}
	if hg.g.Empty() {
		delete(a.groups, key)
		return
	}
	at, ok := hg.g.NextAt(now, a.draining)
	if !ok {
		return
	}
	gen, self, root := hg.gen, a.self, a.h.n.system.Root
	hg.timer = time.AfterFunc(max(at.Sub(now), 0), func() { root.Send(self, flushDue{key: key, gen: gen}) })
}

// backoff is the pause after failures in a row, with ±10 % jitter so that
// the groups of one dead receiver do not retry in step.
func (h *hook) backoff(failures int) time.Duration {
	if failures == 0 {
		return 0
	}
	d := notify.Backoff(failures, h.n.opts.RetryMin, h.n.opts.RetryMax)
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// send makes one attempt at delivering b and, once the webhook accepted
// it, records what it was sent; the outcome goes back to the actor.
func (h *hook) send(key string, b *notify.Batch[*token], self *actor.PID) {
	outcome := h.attempt(b)
	h.n.m.requests.WithLabelValues(h.receiver, h.integration, outcome.String()).Inc()
	if outcome == notify.Delivered {
		h.record(b)
	}
	h.n.system.Root.Send(self, &sendDone{key: key, batch: b, outcome: outcome})
}

func (h *hook) attempt(b *notify.Batch[*token]) notify.Outcome {
	select {
	case h.sem <- struct{}{}:
	case <-h.n.ctx.Done():
		return notify.Retry
	}
	defer func() { <-h.sem }()
	msg := notify.NewMessage(h.receiver, b.GroupKey, b.GroupLabels, b.Alerts, h.n.externalURL, h.cfg.MaxAlerts)
	body, err := json.Marshal(msg)
	if err != nil {
		h.n.opts.Logger.Error("notification does not encode; dropped", "receiver", h.receiver, "err", err)
		return notify.Failed
	}
	ctx, cancel := context.WithTimeout(h.n.ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		h.n.opts.Logger.Error("webhook request cannot be built; dropped", "receiver", h.receiver, "err", err)
		return notify.Failed
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", h.n.opts.UserAgent)
	log := h.n.opts.Logger.With("receiver", h.receiver, "integration", h.integration, "group", b.GroupKey, "alerts", len(b.Alerts))
	resp, err := h.n.opts.Client.Do(req)
	if err != nil {
		log.Warn("webhook failed; retrying", "err", err)
		return notify.Retry
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		log.Debug("notification delivered", "status", code, "repeat", b.Repeat)
		return notify.Delivered
	case code == http.StatusTooManyRequests || code >= 500:
		log.Warn("webhook answered an error; retrying", "status", code)
		return notify.Retry
	default:
		log.Error("webhook refused the notification; dropped", "status", code)
		return notify.Failed
	}
}

// record stores what b told the receiver, retrying until it is durable or
// the notifier stops (the notification was delivered either way; without
// the record a copy of its transitions emitted again would be sent again).
func (h *hook) record(b *notify.Batch[*token]) {
	rows := make([]store.Notification, len(b.Alerts))
	now := h.n.opts.Now()
	for i, a := range b.Alerts {
		rows[i] = store.Notification{EpisodeID: a.EpisodeID, State: a.Status, Receiver: h.receiver, Integration: h.integration,
			Tenant: a.Tenant, GroupKey: b.GroupKey, Fingerprint: a.Fingerprint, SentAt: now}
	}
	var backoff time.Duration
	for {
		err := h.n.opts.Store.RecordNotifications(h.n.ctx, rows)
		if err == nil {
			return
		}
		if h.n.ctx.Err() != nil {
			h.n.opts.Logger.Warn("a delivered notification could not be recorded before shutdown", "receiver", h.receiver, "err", err)
			return
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		h.n.opts.Logger.Warn("recording a delivered notification failed; retrying", "receiver", h.receiver, "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-h.n.ctx.Done():
		}
	}
}
