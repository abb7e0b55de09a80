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
	"net/url"
	"strconv"
	"strings"
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
	SentNotifications(ctx context.Context, tenant, episodeID string) ([]store.SentState, error)
	RecordNotifications(ctx context.Context, ns []store.Notification) error
	// FiringAlerts and SetFiring keep the firing alerts that take part in
	// inhibition: the notifier's memory of them outlives it.
	FiringAlerts(ctx context.Context, tenant string, limit int) ([]store.FiringAlert, error)
	SetFiring(ctx context.Context, tenant, episodeID string, alert []byte) error
	LogNotifications(ctx context.Context, es []store.LogEntry) error
	// FlapState, SetFlapState and FlappingAlerts keep what the notifier
	// counts to tell a flapping alert.
	FlapState(ctx context.Context, tenant, fingerprint string) ([]byte, error)
	SetFlapState(ctx context.Context, tenant, fingerprint string, state []byte, flapping bool) error
	// EndFlapping stores the state of an alert that stopped flapping in
	// place of was, reporting false when the stored state is no longer
	// was: another replica ended it, or a transition changed it.
	EndFlapping(ctx context.Context, tenant, fingerprint string, was, state []byte) (bool, error)
	FlappingAlerts(ctx context.Context, limit int) ([]store.FlapState, error)
}

// maxFiringAlerts bounds the firing alerts of a tenant read to decide an
// inhibition.
const maxFiringAlerts = 10_000

// Timer is an armed timer (*time.Timer is one).
type Timer interface{ Stop() bool }

// ErrUndelivered is what a transition's done function gets when the
// notifier hands it back undelivered: its partition's session ended, or
// the notifier stopped, before it was delivered. Its input must not be
// committed, so that the partition's next owner reads it again.
var ErrUndelivered = errors.New("notify: handed back undelivered")

// NotifierOptions configure the notifier.
type NotifierOptions struct {
	// Config is the receiver file; nil sends nothing.
	Config *notify.Config
	Store  NotifyStore
	// Acks tells which episodes are acknowledged, asked before a
	// repeat_interval reminder (default: Store, when it reads acks).
	Acks AckReader
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
	// IntakeCapacity bounds the transitions waiting for their lookups of
	// silences and sent notifications (default 256); Notify blocks beyond
	// it.
	IntakeCapacity int
	// DrainTimeout bounds how long Run, once its context ended, waits for
	// what the notifier holds to settle (default 10 s): batches being sent
	// finish, the rest is handed back as the stage's partitions end.
	DrainTimeout time.Duration
	// FlapPolicy returns the flapping policy of a rule (default:
	// notify.DefaultFlapPolicy for every rule).
	FlapPolicy func(rules.RuleID) notify.FlapPolicy
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AfterFunc arms the notifier's timers: group_wait, group_interval,
	// repeat_interval, the end of a time interval, the end of flapping
	// (default time.AfterFunc). A test passes time in with it and Now.
	AfterFunc  func(d time.Duration, f func()) Timer
	UserAgent  string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (o NotifierOptions) defaults() NotifierOptions {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Client.CheckRedirect == nil {
		// A redirect is answered, not followed: a receiver (or whoever
		// took its address) must not send the alerts on to another one.
		c := *o.Client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		o.Client = &c
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
	if o.IntakeCapacity <= 0 {
		o.IntakeCapacity = 256
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AfterFunc == nil {
		o.AfterFunc = func(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
	}
	if o.FlapPolicy == nil {
		o.FlapPolicy = func(rules.RuleID) notify.FlapPolicy { return notify.DefaultFlapPolicy }
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
// An intake actor looks up silences and what was sent before (in order),
// and one actor per webhook keeps its aggregation groups, timers and
// retries. It implements processors.NotifyTarget.
//
// Delivery is at least once per (episode, state, receiver, webhook),
// deduplicated by the notifications table. A transition is settled (its
// input committed) once every webhook it goes to accepted it (2xx) and
// what was sent is recorded in PostgreSQL, or once a silence muted it, a
// webhook refused it for good (4xx), or the full queue of a failing
// webhook refused it (counted). A transition read again, or emitted again
// by the rule engine with the same (episode_id, state), is skipped for
// every webhook the record says has it. Everything else is handed back
// (ErrUndelivered) to be read again by its partition's next owner: when a
// partition's session ends, what waits for its lookups (PostgreSQL down),
// for room in the intake or a queue, for group_wait, group_interval or a
// retry is handed back at once, and the alerts of that partition leave
// their groups (no repeat, no late resolved notice from this owner); a
// batch being sent gets the stage's grace to be delivered and recorded.
// Duplicates come only from the window between a webhook's 2xx and its
// record: a crash there, or a partition handed over while the record
// still waits (PostgreSQL down for longer than the grace).
type Notifier struct {
	opts        NotifierOptions
	system      *actor.ActorSystem
	externalURL string
	hooks       map[string][]*hook // by receiver name
	all         []*hook
	intake      *actor.PID
	// intakeSlots holds a token per transition the intake has not
	// finished with.
	intakeSlots chan struct{}
	m           notifierMetrics

	// ctx ends when the drain is over: requests and lookups stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // closed, against Notify
	closed bool
	// sessions are the partition sessions watched for their end.
	sessionsMu sync.Mutex
	sessions   map[context.Context]struct{}
	// outstanding counts transitions not settled; zero is signalled on
	// idle.
	outstanding atomic.Int64
	idle        chan struct{}
	// parsed holds each silence's matchers, compiled once per version of
	// the silence (its id and updated_at), not on every transition.
	parsedMu sync.Mutex
	parsed   map[string]parsedSilence
	// acks is asked at repeat time which episodes are acknowledged.
	acks *ackHook
	// flapTimers end the flapping of alerts that settle without another
	// transition, by tenant/fingerprint.
	flapMu     sync.Mutex
	flapTimers map[string]Timer
}

type parsedSilence struct {
	updated  time.Time
	matchers notify.Matchers // nil: a matcher did not parse
}

// maxParsedSilences bounds the compiled silences kept; past it the cache
// starts over.
const maxParsedSilences = 100_000

type notifierMetrics struct {
	transitions  *prometheus.CounterVec
	refused      *prometheus.CounterVec
	handedBack   prometheus.Counter
	queued       *prometheus.GaugeVec
	requests     *prometheus.CounterVec
	lookupErrors prometheus.Counter
}

// NewNotifier spawns the intake actor and one actor per webhook.
func NewNotifier(system *actor.ActorSystem, opts NotifierOptions) *Notifier {
	opts = opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{opts: opts, system: system, hooks: map[string][]*hook{}, ctx: ctx, cancel: cancel, parsed: map[string]parsedSilence{},
		intakeSlots: make(chan struct{}, opts.IntakeCapacity), sessions: map[context.Context]struct{}{},
		idle: make(chan struct{}, 1), externalURL: opts.ExternalURL, flapTimers: map[string]Timer{}}
	n.m = notifierMetrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_notify_transitions_total",
			Help: "Alert transitions the notify stage handled, by outcome (shadow: of a rule in shadow mode, never sent; not_notified: pending or inactive; unrouted; silenced; inhibited; flapping: held while the alert flaps; queued: handed to the webhooks' queues).",
		}, []string{"outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_notify_refused_total",
			Help: "Transitions the full queue of a failing webhook refused (they are not sent to it).",
		}, []string{"receiver", "integration"}),
		handedBack: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventops_notify_handed_back_total",
			Help: "Transitions handed back undelivered, to be read again by their partition's next owner.",
		}),
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
	n.acks = newAckHook(opts)
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(n.m.transitions, n.m.refused, n.m.handedBack, n.m.queued, n.m.requests, n.m.lookupErrors)
	}
	if c := opts.Config; c != nil {
		if c.ExternalURL != "" {
			n.externalURL = c.ExternalURL
		}
		for _, r := range c.Receivers {
			for i, w := range r.Webhooks {
				h := &hook{n: n, receiver: r.Name, integration: "webhook/" + strconv.Itoa(i), cfg: w,
					capacity: int64(c.QueueCapacity), sem: make(chan struct{}, opts.MaxInflight), room: make(chan struct{}, 1)}
				h.refused = n.m.refused.WithLabelValues(h.receiver, h.integration)
				h.queued = n.m.queued.WithLabelValues(h.receiver, h.integration)
				ha := &hookActor{h: h, groups: map[string]*hookGroup{}}
				h.pid = system.Root.Spawn(props(notifyDispatcher, ha))
				n.hooks[r.Name] = append(n.hooks[r.Name], h)
				n.all = append(n.all, h)
			}
		}
	}
	ia := &intakeActor{n: n}
	n.intake = system.Root.Spawn(props(notifyDispatcher, ia))
	return n
}

// Sends reports whether any webhook is configured.
func (n *Notifier) Sends() bool { return len(n.all) > 0 }

// Queued returns the transitions held unsettled.
func (n *Notifier) Queued() int64 { return n.outstanding.Load() }

// Notify hands over a transition read in a partition's session, session
// being the goka callback's ctx.Context(). done is called once every
// receiver it goes to has it delivered, refused or silenced (nil), or once
// it is handed back (ErrUndelivered). Notify blocks while the intake is
// full; it hands the transition back when session ends first. A
// transition of a rule in shadow mode is settled (nil) at once, unsent,
// save the end of an episode that began live (the rule was demoted while
// it fired): the receivers told it fires are told it resolved.
func (n *Notifier) Notify(session context.Context, tr *rules.Transition, done func(error)) {
	if tr.Shadow && tr.State != rules.StateResolved {
		// A shadow rule proves itself in PostgreSQL and on the stream:
		// it is not routed, grouped or checked for flapping, and it
		// neither inhibits nor is inhibited (it is never recorded firing).
		n.m.transitions.WithLabelValues("shadow").Inc()
		done(nil)
		return
	}
	a, ok := notify.FromTransition(tr, n.externalURL)
	if !ok {
		n.m.transitions.WithLabelValues("not_notified").Inc()
		done(nil)
		return
	}
	// A shadow end goes on only once the intake has found the episode
	// sent or recorded firing (shadowEnd).
	n.enqueue(&intakeReq{alert: a, session: session, shadowEnd: tr.Shadow}, done)
}

// enqueue hands req to the intake; a flapping exit (req.flapExit) finds
// its targets there.
func (n *Notifier) enqueue(req *intakeReq, done func(error)) {
	if !req.flapExit {
		req.targets = n.targets(req.alert)
		req.inhibition = n.inhibits(req.alert)
		if len(req.targets) == 0 && !req.inhibition {
			outcome := "unrouted"
			if req.shadowEnd {
				outcome = "shadow"
			}
			n.m.transitions.WithLabelValues(outcome).Inc()
			done(nil)
			return
		}
	}
	targets, session := req.targets, req.session
	// The intake holds a share of the ticket of its own until it is done
	// with the transition, so that the alerts it releases (inhibited by
	// it) can join the ticket before it settles.
	tk := &ticket{n: n, left: len(targets) + 1, done: done}
	req.ticket = tk
	n.outstanding.Add(1)
	select {
	case n.intakeSlots <- struct{}{}:
	case <-session.Done():
		tk.handBack(len(targets) + 1)
		return
	case <-n.ctx.Done():
		tk.handBack(len(targets) + 1)
		return
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		<-n.intakeSlots
		tk.handBack(len(targets) + 1)
		return
	}
	n.watch(session)
	n.system.Root.Send(n.intake, req)
}

// targets returns the webhooks of the routes a goes to.
func (n *Notifier) targets(a notify.Alert) []target {
	var targets []target
	if n.opts.Config != nil {
		for _, r := range n.opts.Config.Route.Match(a.Labels) {
			for _, h := range n.hooks[r.Receiver] {
				targets = append(targets, target{route: r, hook: h})
			}
		}
	}
	return targets
}

// inhibits reports whether a takes part in inhibition, as a source or a
// target.
func (n *Notifier) inhibits(a notify.Alert) bool {
	if n.opts.Config == nil {
		return false
	}
	rs := n.opts.Config.InhibitRules
	return notify.IsSource(rs, a) || notify.IsTarget(rs, a)
}

// watch withdraws what the webhooks hold of session's transitions once it
// ends.
func (n *Notifier) watch(session context.Context) {
	n.sessionsMu.Lock()
	defer n.sessionsMu.Unlock()
	if _, ok := n.sessions[session]; ok {
		return
	}
	n.sessions[session] = struct{}{}
	context.AfterFunc(session, func() {
		n.sessionsMu.Lock()
		delete(n.sessions, session)
		n.sessionsMu.Unlock()
		for _, h := range n.all {
			n.system.Root.Send(h.pid, withdraw{})
		}
	})
}

// Run returns once ctx has ended and what the notifier held is settled,
// or DrainTimeout has passed; then what is left is handed back. Nothing is
// rushed out: a transition waiting for group_wait is read again by the
// next owner (or on the next start), which sends it in its own time.
func (n *Notifier) Run(ctx context.Context) error {
	rearmed := make(chan struct{})
	go func() {
		defer close(rearmed)
		if n.Sends() {
			n.rearmFlapping(ctx)
		}
	}()
	<-ctx.Done()
	<-rearmed
	n.flapMu.Lock()
	for _, t := range n.flapTimers {
		t.Stop()
	}
	clear(n.flapTimers)
	n.flapMu.Unlock()
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
	n    *Notifier
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
	if !last {
		return
	}
	if e != nil {
		t.n.m.handedBack.Inc()
	}
	t.done(e)
	if t.n.outstanding.Add(-1) == 0 {
		select {
		case t.n.idle <- struct{}{}:
		default:
		}
	}
}

// add gives the ticket n more targets; the caller holds a share of it
// still, so it has not settled.
func (t *ticket) add(n int) {
	t.mu.Lock()
	t.left += n
	t.mu.Unlock()
}

// handBack settles n of the ticket's targets undelivered.
func (t *ticket) handBack(n int) {
	for range n {
		t.settle(ErrUndelivered)
	}
}

// token is a transition's place in one webhook's queue.
type token struct {
	hook    *hook
	ticket  *ticket
	session context.Context
	once    sync.Once
	// freed: the token gave its place in the queue back (it settled, or
	// a time interval mutes it).
	freed atomic.Bool
}

func (t *token) settle(err error) {
	t.once.Do(func() {
		t.free()
		t.ticket.settle(err)
	})
}

// free gives the token's place in the queue back, once.
func (t *token) free() {
	if t.freed.CompareAndSwap(false, true) {
		t.hook.release()
	}
}

// ended reports whether the session the token's transition was read in
// has ended: the notifier no longer holds it for that partition.
func (t *token) ended() bool { return t.session.Err() != nil }

func settleAll(toks []*token, err error) {
	for _, t := range toks {
		t.settle(err)
	}
}

type target struct {
	route *notify.Route
	hook  *hook
}

// Messages of the notifier's actors.
type (
	intakeReq struct {
		alert   notify.Alert
		session context.Context
		targets []target
		// inhibition: the alert is an inhibition source or target.
		inhibition bool
		// flapExit: no transition; the alert of tenant and fingerprint
		// may have settled.
		flapExit bool
		// shadowEnd: the resolved transition of a rule in shadow mode,
		// told only when its episode began live.
		shadowEnd bool
		ticket    *ticket
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
	// withdraw: a partition session ended; what the webhook holds of
	// ended sessions is handed back.
	withdraw struct{}
	drainEnd struct{}
)

// intakeActor handles transitions one at a time, in the order they were
// read: it looks up the tenant's silences and what each webhook was sent
// of the episode, then hands the transition to the webhooks' actors.
type intakeActor struct{ n *Notifier }

func (a *intakeActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *intakeReq:
		a.n.admit(m)
		<-a.n.intakeSlots
	case drainEnd:
		c.Respond(true)
	}
}

// admit looks the transition up and hands it to each webhook it goes to,
// once that webhook's queue has room for it. It hands the transition back
// when its session ends (or the notifier stops) first. An inhibited
// firing transition is logged and settled; a resolved inhibition source
// releases the firing alerts it inhibited, whose deliveries join its
// ticket.
func (n *Notifier) admit(m *intakeReq) {
	if m.flapExit {
		n.admitFlapExit(m)
		return
	}
	tk, a := m.ticket, m.alert
	silences, sent, err := n.lookup(m)
	if err != nil {
		tk.handBack(len(m.targets) + 1)
		return
	}
	var firing []notify.Alert
	if m.inhibition {
		if firing, err = n.inhibitionState(m, true); err != nil {
			tk.handBack(len(m.targets) + 1)
			return
		}
	}
	live := !m.shadowEnd
	if !live {
		if live, err = n.begunLive(m, sent, firing); err != nil {
			tk.handBack(len(m.targets) + 1)
			return
		}
	}
	if !live {
		// Nothing was sent or recorded of it, but a group may still hold
		// its firing, unsent (demoted within group_wait): the end goes to
		// the groups, which drop both, and is neither checked for
		// flapping nor silenced nor logged.
		n.m.transitions.WithLabelValues("shadow").Inc()
		if !n.queue(m.session, a, m.targets, sent, tk, true) {
			tk.settle(ErrUndelivered)
			return
		}
		tk.settle(nil)
		return
	}
	if len(m.targets) > 0 {
		ev, policy, err := n.observeFlapping(m.session, a)
		if err != nil {
			tk.handBack(len(m.targets) + 1)
			return
		}
		switch ev {
		case notify.FlapHeld:
			// Held or not, a resolved source no longer inhibits.
			if m.inhibition && a.Status == notify.StatusResolved && !n.release(m, a, firing, silences) {
				tk.handBack(len(m.targets))
				return
			}
			n.withhold(m, a, store.OutcomeFlapping, "held: the alert is flapping ("+policy.String()+")")
			return
		case notify.FlapEnter, notify.FlapExit:
			a = notify.FlapSummary(a, policy, ev == notify.FlapEnter)
			why := "started flapping (" + policy.String() + "): this notification is the summary; the next are held until it settles"
			if ev == notify.FlapExit {
				why = "stopped flapping: this notification is the summary of its state now"
				sent = summaryOpen(a, m.targets, sent)
			}
			if err := n.decided(m.session, a, m.targets, store.OutcomeFlapping, why); err != nil {
				tk.handBack(len(m.targets) + 1)
				return
			}
		}
	}
	if a.Status == notify.StatusFiring && len(m.targets) > 0 {
		if src, ok := notify.InhibitedBy(n.opts.Config.InhibitRules, firing, a); ok {
			n.opts.Logger.Info("alert inhibited", "tenant", a.Tenant, "alertname", a.Labels["alertname"], "host", a.Labels["host"],
				"episode", a.EpisodeID, "by", src.EpisodeID)
			n.withhold(m, a, store.OutcomeInhibited, notify.InhibitionReason(n.opts.Config.InhibitRules, src, a))
			return
		}
	}
	if !n.dispatch(m.session, a, m.targets, silences, sent, tk) {
		tk.settle(ErrUndelivered)
		return
	}
	if m.inhibition && a.Status == notify.StatusResolved && !n.release(m, a, firing, silences) {
		return
	}
	tk.settle(nil)
}

// begunLive reports whether the episode m ends was live before its rule
// went to shadow mode: a webhook was sent its firing, it is recorded
// firing among the inhibition sources, or its firing is held while the
// alert flaps (the exit from flapping would tell it).
func (n *Notifier) begunLive(m *intakeReq, sent []store.SentState, firing []notify.Alert) (bool, error) {
	a := m.alert
	for _, s := range sent {
		if s.State == notify.StatusFiring {
			return true, nil
		}
	}
	for _, f := range firing {
		if f.EpisodeID == a.EpisodeID {
			return true, nil
		}
	}
	if len(m.targets) == 0 {
		return false, nil
	}
	st, _, err := n.flapState(m.session, a.Tenant, a.Fingerprint)
	return st.Held != nil && st.Held.EpisodeID == a.EpisodeID, err
}

// release sends the firing alerts that a, a resolved inhibition source,
// inhibited and no other alert inhibits; their deliveries join m's ticket.
// It returns false when it handed back the intake's share of the ticket.
func (n *Notifier) release(m *intakeReq, a notify.Alert, firing []notify.Alert, silences []store.Silence) bool {
	tk := m.ticket
	for _, r := range notify.Released(n.opts.Config.InhibitRules, firing, a) {
		targets := n.targets(r)
		if len(targets) == 0 {
			continue
		}
		n.opts.Logger.Info("inhibiting alert resolved: inhibited alert sent", "tenant", r.Tenant, "alertname", r.Labels["alertname"],
			"host", r.Labels["host"], "episode", r.EpisodeID, "source", a.EpisodeID)
		var rsent []store.SentState
		err := n.retry(m.session, "reading sent notifications", func(ctx context.Context) (err error) {
			rsent, err = n.opts.Store.SentNotifications(ctx, r.Tenant, r.EpisodeID)
			return err
		})
		if err != nil {
			tk.handBack(1)
			return false
		}
		tk.add(len(targets))
		if !n.dispatch(m.session, r, targets, silences, rsent, tk) {
			tk.settle(ErrUndelivered)
			return false
		}
	}
	return true
}

// withhold settles m without sending it, once its decision (outcome,
// reason) is logged for each target; it hands m back when the log cannot
// be written before its session ends.
func (n *Notifier) withhold(m *intakeReq, a notify.Alert, outcome, reason string) {
	n.m.transitions.WithLabelValues(outcome).Inc()
	if err := n.decided(m.session, a, m.targets, outcome, reason); err != nil {
		m.ticket.handBack(len(m.targets) + 1)
		return
	}
	for range len(m.targets) + 1 {
		m.ticket.settle(nil)
	}
}

// dispatch hands a to each of its targets, or settles them when a
// silence mutes it. It returns false when it handed the rest back.
func (n *Notifier) dispatch(session context.Context, a notify.Alert, targets []target, silences []store.Silence, sent []store.SentState, tk *ticket) bool {
	if len(targets) == 0 {
		return true
	}
	if s, muted := n.silencedBy(silences, a); muted {
		n.m.transitions.WithLabelValues("silenced").Inc()
		n.opts.Logger.Info("alert silenced", "tenant", a.Tenant, "alertname", a.Labels["alertname"],
			"host", a.Labels["host"], "state", a.Status, "episode", a.EpisodeID, "silence", s)
		if err := n.decided(session, a, targets, store.OutcomeSilenced, "silenced by silence "+s); err != nil {
			tk.handBack(len(targets))
			return false
		}
		for range targets {
			tk.settle(nil)
		}
		return true
	}
	n.m.transitions.WithLabelValues("queued").Inc()
	return n.queue(session, a, targets, sent, tk, false)
}

// queue hands a to each of its targets' queues, with what each was sent
// of its episode. It returns false when it handed the rest back. With
// shadow (the end of an episode never sent), a full queue drops it
// uncounted and unlogged: it had nothing to deliver.
func (n *Notifier) queue(session context.Context, a notify.Alert, targets []target, sent []store.SentState, tk *ticket, shadow bool) bool {
	for i, t := range targets {
		h := t.hook
		ok, err := h.reserve(session)
		if err != nil {
			tk.handBack(len(targets) - i)
			return false
		}
		if !ok && shadow {
			tk.settle(nil)
			continue
		}
		if !ok {
			h.refused.Inc()
			n.opts.Logger.Warn("queue of a failing webhook full: transition refused", "receiver", h.receiver, "integration", h.integration,
				"tenant", a.Tenant, "alertname", a.Labels["alertname"], "episode", a.EpisodeID, "state", a.Status)
			n.logBestEffort(logEntry(a, h, "", store.OutcomeRefused, "the queue of a failing webhook is full", true))
			tk.settle(nil)
			continue
		}
		ad := &admit{alert: a, route: t.route, tok: &token{hook: h, ticket: tk, session: session}}
		for _, s := range sent {
			if s.Receiver == h.receiver && s.Integration == h.integration {
				ad.firingSent = ad.firingSent || s.State == notify.StatusFiring
				ad.resolvedSent = ad.resolvedSent || s.State == notify.StatusResolved
			}
		}
		n.system.Root.Send(h.pid, ad)
	}
	return true
}

// inhibitionState returns the tenant's firing alerts as they were before
// m (m's own included when it was firing) and, with record, records m's
// alert as firing or no longer firing.
func (n *Notifier) inhibitionState(m *intakeReq, record bool) ([]notify.Alert, error) {
	a := m.alert
	var rows []store.FiringAlert
	err := n.retry(m.session, "reading firing alerts", func(ctx context.Context) (err error) {
		rows, err = n.opts.Store.FiringAlerts(ctx, a.Tenant, maxFiringAlerts)
		return err
	})
	if err != nil {
		return nil, err
	}
	firing := n.decodeFiring(a.Tenant, rows)
	if !record {
		return firing, nil
	}
	var body []byte
	if a.Status == notify.StatusFiring {
		if body, err = json.Marshal(a); err != nil {
			return nil, err
		}
	}
	err = n.retry(m.session, "recording a firing alert", func(ctx context.Context) error {
		return n.opts.Store.SetFiring(ctx, a.Tenant, a.EpisodeID, body)
	})
	return firing, err
}

// decodeFiring returns the alerts of tenant's firing rows.
func (n *Notifier) decodeFiring(tenant string, rows []store.FiringAlert) []notify.Alert {
	firing := make([]notify.Alert, 0, len(rows))
	for _, r := range rows {
		var f notify.Alert
		if err := json.Unmarshal(r.Alert, &f); err != nil || f.Tenant != tenant {
			n.opts.Logger.Error("a recorded firing alert does not decode; ignored", "tenant", tenant, "episode", r.EpisodeID, "err", err)
			continue
		}
		firing = append(firing, f)
	}
	return firing
}

// quiet is a webhook's notify.AckFunc: of the alerts a repeat_interval
// reminder would tell again, those acknowledged, and those a firing alert
// inhibits now (an alert sent before its source fired), which are logged
// as inhibited. When the firing alerts cannot be read the reminder goes
// out, as with acks.
func (h *hook) quiet(alerts []notify.Alert, now time.Time) notify.Acks {
	n := h.n
	out := n.acks.acknowledged(alerts, now)
	if n.opts.Config == nil || len(n.opts.Config.InhibitRules) == 0 {
		return out
	}
	rs := n.opts.Config.InhibitRules
	byTenant := map[string][]notify.Alert{}
	for _, a := range alerts {
		if _, acked := out[a.EpisodeID]; !acked && notify.IsTarget(rs, a) {
			byTenant[a.Tenant] = append(byTenant[a.Tenant], a)
		}
	}
	var es []store.LogEntry
	for tenant, targets := range byTenant {
		ctx, cancel := context.WithTimeout(n.ctx, ackReadTimeout)
		rows, err := n.opts.Store.FiringAlerts(ctx, tenant, maxFiringAlerts)
		cancel()
		if err != nil {
			n.m.lookupErrors.Inc()
			n.opts.Logger.Warn("reading firing alerts before a reminder failed; the reminder is sent", "tenant", tenant, "err", err)
			continue
		}
		firing := n.decodeFiring(tenant, rows)
		for _, a := range targets {
			if src, ok := notify.InhibitedBy(rs, firing, a); ok {
				if out == nil {
					out = notify.Acks{}
				}
				out[a.EpisodeID] = time.Time{}
				es = append(es, logEntry(a, h, "", store.OutcomeInhibited, notify.InhibitionReason(rs, src, a), true))
			}
		}
	}
	if len(es) > 0 {
		go n.logBestEffort(es...)
	}
	return out
}

// observeFlapping counts a's transition in its alert's flapping state,
// stored before the transition settles, and arms the timer that ends the
// flapping of an alert that settles without another transition.
func (n *Notifier) observeFlapping(session context.Context, a notify.Alert) (notify.FlapEvent, notify.FlapPolicy, error) {
	policy := n.opts.FlapPolicy(a.RuleID)
	st, _, err := n.flapState(session, a.Tenant, a.Fingerprint)
	if err != nil {
		return notify.FlapNone, policy, err
	}
	next, ev := policy.Observe(st, a, a.At)
	if ev == notify.FlapNone && len(next.Changes) == len(st.Changes) && next.Status == st.Status {
		return ev, policy, nil
	}
	body, err := json.Marshal(next)
	if err != nil {
		return notify.FlapNone, policy, err
	}
	err = n.retry(session, "recording the flapping state of an alert", func(ctx context.Context) error {
		return n.opts.Store.SetFlapState(ctx, a.Tenant, a.Fingerprint, body, next.Flapping)
	})
	if err != nil {
		return notify.FlapNone, policy, err
	}
	if next.Flapping {
		n.armFlapExit(a.Tenant, a.Fingerprint, next.QuietAt())
	}
	return ev, policy, nil
}

// flapState reads the flapping state of a tenant's alert, and the stored
// form it was read from.
func (n *Notifier) flapState(session context.Context, tenant, fingerprint string) (notify.FlapState, []byte, error) {
	var st notify.FlapState
	var raw []byte
	err := n.retry(session, "reading the flapping state of an alert", func(ctx context.Context) (err error) {
		raw, err = n.opts.Store.FlapState(ctx, tenant, fingerprint)
		return err
	})
	if err != nil || raw == nil {
		return st, raw, err
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		n.opts.Logger.Error("a flapping state does not decode; it starts again", "tenant", tenant, "fingerprint", fingerprint, "err", err)
		return notify.FlapState{}, raw, nil
	}
	return st, raw, nil
}

// armFlapExit (re)sets the timer that looks at a flapping alert at at.
func (n *Notifier) armFlapExit(tenant, fingerprint string, at time.Time) {
	key := tenant + "/" + fingerprint
	n.flapMu.Lock()
	defer n.flapMu.Unlock()
	if t := n.flapTimers[key]; t != nil {
		t.Stop()
	}
	n.flapTimers[key] = n.opts.AfterFunc(max(at.Sub(n.opts.Now()), 0), func() {
		n.flapMu.Lock()
		delete(n.flapTimers, key)
		n.flapMu.Unlock()
		n.enqueue(&intakeReq{alert: notify.Alert{Tenant: tenant, Fingerprint: fingerprint}, session: n.ctx, flapExit: true}, func(err error) {
			if err != nil {
				n.opts.Logger.Info("the end of a flapping alert was not told before shutdown; it is on the next start", "tenant", tenant, "fingerprint", fingerprint)
			}
		})
	})
}

// admitFlapExit ends the flapping of an alert that had no transition for
// its window: the transition held last is sent as the summary of its
// state now.
func (n *Notifier) admitFlapExit(m *intakeReq) {
	tk, tenant, fingerprint := m.ticket, m.alert.Tenant, m.alert.Fingerprint
	st, was, err := n.flapState(m.session, tenant, fingerprint)
	if err != nil {
		tk.handBack(1)
		return
	}
	if !st.Settled(n.opts.Now()) {
		if st.Flapping {
			n.armFlapExit(tenant, fingerprint, st.QuietAt())
		}
		tk.settle(nil)
		return
	}
	held := st.Held
	st.Flapping, st.Held = false, nil
	body, err := json.Marshal(st)
	// Every replica that started while the alert flapped looks at its end:
	// the one whose state change is stored tells it.
	ended := false
	if err == nil {
		err = n.retry(m.session, "recording the flapping state of an alert", func(ctx context.Context) (err error) {
			ended, err = n.opts.Store.EndFlapping(ctx, tenant, fingerprint, was, body)
			return err
		})
	}
	if err != nil || held == nil || !ended {
		// Nothing was held: the receivers were told its state last.
		tk.settle(err)
		return
	}
	// Handed back undelivered (the notifier stops), the alert is flapping
	// again in the store, so that the next start tells its end.
	done := tk.done
	tk.done = func(err error) {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if rerr := n.opts.Store.SetFlapState(ctx, tenant, fingerprint, was, true); rerr != nil {
				n.opts.Logger.Warn("the end of a flapping alert was not told and cannot be put back; it is not told", "tenant", tenant,
					"fingerprint", fingerprint, "err", rerr)
			}
		}
		done(err)
	}
	a := notify.FlapSummary(*held, n.opts.FlapPolicy(held.RuleID), false)
	m.alert, m.targets, m.inhibition = a, n.targets(a), n.inhibits(a)
	silences, sent, err := n.lookup(m)
	var firing []notify.Alert
	if err == nil && m.inhibition {
		firing, err = n.inhibitionState(m, false)
	}
	if err != nil {
		tk.handBack(1)
		return
	}
	if a.Status == notify.StatusFiring && len(m.targets) > 0 {
		if _, ok := notify.InhibitedBy(n.opts.Config.InhibitRules, firing, a); ok {
			tk.settle(nil)
			return
		}
	}
	n.opts.Logger.Info("flapping alert settled: its state is sent", "tenant", tenant, "alertname", a.Labels["alertname"], "host", a.Labels["host"],
		"episode", a.EpisodeID, "state", a.Status)
	if err := n.decided(m.session, a, m.targets, store.OutcomeFlapping, "stopped flapping (no change for "+rules.FormatDuration(st.Window)+
		"): this notification is the summary of its state now"); err != nil {
		tk.handBack(1)
		return
	}
	tk.add(len(m.targets))
	if !n.dispatch(m.session, a, m.targets, silences, summaryOpen(a, m.targets, sent), tk) {
		tk.settle(ErrUndelivered)
		return
	}
	tk.settle(nil)
}

// summaryOpen is sent as if each target had been told a's episode firing
// when a is resolved: the summary of a flapping alert that resolved closes
// what its receivers had open of it (receivers key on the fingerprint,
// which every episode shares).
func summaryOpen(a notify.Alert, targets []target, sent []store.SentState) []store.SentState {
	if a.Status != notify.StatusResolved {
		return sent
	}
	out := append([]store.SentState(nil), sent...)
	for _, t := range targets {
		out = append(out, store.SentState{Receiver: t.hook.receiver, Integration: t.hook.integration, State: notify.StatusFiring})
	}
	return out
}

// rearmFlapping arms the exit timers of the alerts flapping when the
// notifier starts (an earlier process armed them).
func (n *Notifier) rearmFlapping(ctx context.Context) {
	var states []store.FlapState
	err := n.retry(ctx, "reading flapping alerts", func(ctx context.Context) (err error) {
		states, err = n.opts.Store.FlappingAlerts(ctx, maxFiringAlerts)
		return err
	})
	if err != nil {
		return
	}
	for _, f := range states {
		var st notify.FlapState
		if json.Unmarshal(f.State, &st) == nil && st.Flapping {
			n.armFlapExit(f.Tenant, f.Fingerprint, st.QuietAt())
		}
	}
}

// decided logs a decision about a for each of its targets.
func (n *Notifier) decided(session context.Context, a notify.Alert, targets []target, outcome, reason string) error {
	es := make([]store.LogEntry, len(targets))
	for i, t := range targets {
		es[i] = logEntry(a, t.hook, "", outcome, reason, true)
	}
	return n.retry(session, "logging a notification decision", func(ctx context.Context) error {
		return n.opts.Store.LogNotifications(ctx, es)
	})
}

// logEntry is a line of the notification log about a at h.
func logEntry(a notify.Alert, h *hook, groupKey, outcome, reason string, decision bool) store.LogEntry {
	e := store.LogEntry{Tenant: a.Tenant, EpisodeID: a.EpisodeID, State: a.Status, AlertName: a.Labels["alertname"],
		Receiver: h.receiver, Integration: h.integration, Outcome: outcome, Reason: reason, GroupKey: groupKey, At: h.n.opts.Now()}
	if decision {
		e.Dedup = strings.Join([]string{a.EpisodeID, a.Status, h.receiver, h.integration, outcome, reason}, "|")
	}
	return e
}

// logBestEffort logs es once; a failure is logged, not retried (the log
// records what happened, it decides nothing).
func (n *Notifier) logBestEffort(es ...store.LogEntry) {
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	if err := n.opts.Store.LogNotifications(ctx, es); err != nil {
		n.opts.Logger.Warn("writing the notification log failed", "entries", len(es), "err", err)
	}
}

// retry calls f until it succeeds or session ends or the notifier stops
// (ErrUndelivered).
func (n *Notifier) retry(session context.Context, what string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(session)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)()
	backoff := time.Duration(0)
	for {
		if ctx.Err() != nil {
			return ErrUndelivered
		}
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ErrUndelivered
		}
		n.m.lookupErrors.Inc()
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		n.opts.Logger.Warn(what+" failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
	}
}

// lookup reads the tenant's silences and what was sent of the episode,
// retrying failures until they succeed or the transition's session ends
// or the notifier stops (ErrUndelivered).
func (n *Notifier) lookup(m *intakeReq) (silences []store.Silence, sent []store.SentState, err error) {
	err = n.retry(m.session, "reading silences and sent notifications of tenant "+m.alert.Tenant, func(ctx context.Context) (err error) {
		if silences, err = n.opts.Store.ActiveSilences(ctx, m.alert.Tenant, n.opts.Now()); err != nil {
			return err
		}
		sent, err = n.opts.Store.SentNotifications(ctx, m.alert.Tenant, m.alert.EpisodeID)
		return err
	})
	return silences, sent, err
}

// silencedBy returns the silence that mutes a, if any.
func (n *Notifier) silencedBy(silences []store.Silence, a notify.Alert) (id string, muted bool) {
	now := n.opts.Now()
	for _, s := range silences {
		sil := notify.Silence{ID: s.ID, StartsAt: s.StartsAt, EndsAt: s.EndsAt, Matchers: n.silenceMatchers(s)}
		if len(sil.Matchers) > 0 && sil.Mutes(a.Labels, now) {
			return s.ID, true
		}
	}
	return "", false
}

// silenceMatchers returns s's compiled matchers (nil when one does not
// parse), compiling them the first time this version of s is seen.
func (n *Notifier) silenceMatchers(s store.Silence) notify.Matchers {
	n.parsedMu.Lock()
	defer n.parsedMu.Unlock()
	if p, ok := n.parsed[s.ID]; ok && p.updated.Equal(s.UpdatedAt) {
		return p.matchers
	}
	var ms notify.Matchers
	for _, m := range s.Matchers {
		parsed, err := notify.ParseMatchers(m)
		if err != nil {
			n.opts.Logger.Error("silence has a matcher that does not parse; it is ignored", "silence", s.ID, "tenant", s.Tenant, "err", err)
			ms = nil
			break
		}
		ms = append(ms, parsed...)
	}
	if len(n.parsed) >= maxParsedSilences {
		clear(n.parsed)
	}
	n.parsed[s.ID] = parsedSilence{updated: s.UpdatedAt, matchers: ms}
	return ms
}

// hook is one webhook of a receiver: its bounded queue and its requests.
type hook struct {
	n           *Notifier
	receiver    string
	integration string
	cfg         *notify.Webhook
	capacity    int64
	reserved    atomic.Int64
	// failing: the last attempt failed in a way worth retrying.
	failing atomic.Bool
	// room is signalled when a place frees up or the webhook starts
	// failing, for the intake waiting in reserve.
	room    chan struct{}
	sem     chan struct{}
	pid     *actor.PID
	refused prometheus.Counter
	queued  prometheus.Gauge
}

// reserve takes a place in the webhook's queue. While the queue is full it
// waits, unless the webhook is failing: then it reports false (refused).
// It returns ErrUndelivered when session ends or the notifier stops while
// it waits.
func (h *hook) reserve(session context.Context) (bool, error) {
	for {
		if h.tryReserve() {
			return true, nil
		}
		if h.failing.Load() {
			return false, nil
		}
		select {
		case <-h.room:
		case <-session.Done():
			return false, ErrUndelivered
		case <-h.n.ctx.Done():
			return false, ErrUndelivered
		}
	}
}

func (h *hook) tryReserve() bool {
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
	h.wake()
}

func (h *hook) setFailing(failing bool) {
	if h.failing.Swap(failing) != failing && failing {
		h.wake()
	}
}

func (h *hook) wake() {
	select {
	case h.room <- struct{}{}:
	default:
	}
}

// hookActor owns one webhook's aggregation groups.
type hookActor struct {
	h      *hook
	self   *actor.PID
	groups map[string]*hookGroup
}

type hookGroup struct {
	g        *notify.Group[*token]
	route    *notify.Route
	timer    Timer
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
		if m.tok.ended() {
			// Its partition was released while it waited for the intake.
			m.tok.settle(ErrUndelivered)
			return
		}
		labels := m.route.GroupLabels(m.alert.Labels)
		key := m.route.GroupKey(labels)
		hg := a.groups[key]
		if hg == nil {
			hg = &hookGroup{g: notify.NewGroup[*token](key, labels, m.route.Timing, a.h.cfg.SendResolved, now), route: m.route}
			hg.g.SetAcks(a.h.quiet)
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
		// A failed attempt keeps its tokens, but not for a session that
		// ended while it was out.
		a.handBack(hg.g.Withdraw((*token).ended))
		a.schedule(m.key, hg, now)
	case withdraw:
		var back []*token
		for key, hg := range a.groups {
			back = append(back, hg.g.Withdraw((*token).ended)...)
			a.schedule(key, hg, now)
		}
		a.handBack(back)
	case drainEnd:
		var back []*token
		for _, hg := range a.groups {
			if hg.timer != nil {
				hg.timer.Stop()
			}
			back = append(back, hg.g.Withdraw(func(*token) bool { return true })...)
			if hg.batch != nil {
				back = append(back, hg.batch.Tokens...)
			}
		}
		clear(a.groups)
		a.handBack(back)
		c.Respond(true)
	case *actor.Stopping:
		for _, hg := range a.groups {
			if hg.timer != nil {
				hg.timer.Stop()
			}
		}
	}
}

// handBack settles toks undelivered.
func (a *hookActor) handBack(toks []*token) {
	if len(toks) == 0 {
		return
	}
	a.h.n.opts.Logger.Info("notifications not sent before their partition was released: handed back, read again by its next owner or on the next start",
		"receiver", a.h.receiver, "integration", a.h.integration, "transitions", len(toks))
	settleAll(toks, ErrUndelivered)
}

// schedule flushes the group if it is due, or arms its timer; an empty
// group is dropped. A group due while its route is muted (a
// mute_time_intervals window, or outside its active_time_intervals) keeps
// what it holds, logs it as muted, and looks again when the interval may
// end.
func (a *hookActor) schedule(key string, hg *hookGroup, now time.Time) {
	if hg.timer != nil {
		hg.timer.Stop()
		hg.timer = nil
	}
	hg.gen++
	if hg.g.Due(now) {
		if why, muted, until := hg.route.Muted(now); muted {
			if pending := hg.g.Pending(); len(pending) > 0 {
				es := make([]store.LogEntry, len(pending))
				for i, al := range pending {
					es[i] = logEntry(al, a.h, key, store.OutcomeMuted, why, true)
				}
				go a.h.n.logBestEffort(es...)
			}
			// What a time interval mutes waits for the interval, not for
			// the webhook: it leaves the queue, which bounds what a failing
			// webhook holds, so that it does not stop the intake (and every
			// other alert) until the interval ends.
			for _, t := range hg.g.Held() {
				t.free()
			}
			a.arm(key, hg, until, now)
			return
		}
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
	if at, ok := hg.g.NextAt(now); ok {
		a.arm(key, hg, at, now)
	}
}

// arm sets the group's timer for at.
func (a *hookActor) arm(key string, hg *hookGroup, at, now time.Time) {
	gen, self, root := hg.gen, a.self, a.h.n.system.Root
	hg.timer = a.h.n.opts.AfterFunc(max(at.Sub(now), 0), func() { root.Send(self, flushDue{key: key, gen: gen}) })
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
	outcome, why := h.attempt(b)
	h.setFailing(outcome == notify.Retry)
	h.n.m.requests.WithLabelValues(h.receiver, h.integration, outcome.String()).Inc()
	if outcome == notify.Delivered {
		h.record(b)
	}
	es := make([]store.LogEntry, len(b.Alerts))
	for i, a := range b.Alerts {
		if outcome == notify.Delivered {
			es[i] = logEntry(a, h, b.GroupKey, store.OutcomeSent, why, false)
		} else {
			es[i] = logEntry(a, h, b.GroupKey, store.OutcomeFailed, why, false)
		}
	}
	h.n.logBestEffort(es...)
	h.n.system.Root.Send(self, &sendDone{key: key, batch: b, outcome: outcome})
}

// attempt makes one request and says how it ended, and why in words for
// the notification log.
func (h *hook) attempt(b *notify.Batch[*token]) (notify.Outcome, string) {
	select {
	case h.sem <- struct{}{}:
	case <-h.n.ctx.Done():
		return notify.Retry, "not attempted: shutting down"
	}
	defer func() { <-h.sem }()
	msg := notify.NewMessage(h.receiver, b.GroupKey, b.GroupLabels, b.Alerts, h.n.externalURL, h.cfg.MaxAlerts)
	body, err := json.Marshal(msg)
	if err != nil {
		h.n.opts.Logger.Error("notification does not encode; dropped", "receiver", h.receiver, "err", err)
		return notify.Failed, "does not encode: dropped"

	}
	ctx, cancel := context.WithTimeout(h.n.ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		h.n.opts.Logger.Error("webhook request cannot be built; dropped", "receiver", h.receiver, "url", notify.RedactURL(h.cfg.URL), "err", redactURLError(err, h.cfg.URL))
		return notify.Failed, "request cannot be built: dropped"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", h.n.opts.UserAgent)
	log := h.n.opts.Logger.With("receiver", h.receiver, "integration", h.integration, "group", b.GroupKey, "alerts", len(b.Alerts))
	resp, err := h.n.opts.Client.Do(req)
	if err != nil {
		rerr := redactURLError(err, h.cfg.URL)
		log.Warn("webhook failed; retrying", "url", notify.RedactURL(h.cfg.URL), "err", rerr)
		return notify.Retry, "request failed: " + rerr.Error() + "; retrying"
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		log.Debug("notification delivered", "status", code, "repeat", b.Repeat)
		return notify.Delivered, "status " + strconv.Itoa(code)
	case code == http.StatusTooManyRequests || code >= 500:
		log.Warn("webhook answered an error; retrying", "status", code)
		return notify.Retry, "status " + strconv.Itoa(code) + "; retrying"
	default:
		log.Error("webhook refused the notification; dropped", "status", code)
		return notify.Failed, "status " + strconv.Itoa(code) + "; dropped"
	}
}

// redactURLError is err without the webhook's URL in it (the URL's
// secrets stay out of the log).
func redactURLError(err error, raw string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, notify.RedactURL(raw), ue.Err)
	}
	if raw != "" && strings.Contains(err.Error(), raw) {
		return errors.New(strings.ReplaceAll(err.Error(), raw, notify.RedactURL(raw)))
	}
	return err
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
