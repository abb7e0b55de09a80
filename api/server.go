package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// Queries is what the API reads from the store.
type Queries interface {
	QuerySeries(ctx context.Context, q store.SeriesQuery) ([]store.Series, error)
}

// FeatureReader returns a source's live state as last flushed, nil when
// there is none (processors.FeatureView).
type FeatureReader interface {
	SourceState(ctx context.Context, tenant, host string) (*tables.SourceState, error)
}

// Options configure the server.
type Options struct {
	// Addr to listen on (default :8088).
	Addr     string
	Store    Queries
	Hub      *Hub
	Features FeatureReader
	// Alerts and Sources serve the alert history, /sources and /tenants
	// (nil: 503).
	Alerts  AlertReader
	Sources SourceReader
	// MetricNames lists a source's metrics (GET /sources/{host}/metrics;
	// nil: 503).
	MetricNames MetricNameReader
	// Rules lists the rules in force (GET /rules; nil: 503).
	Rules RuleLister
	// RulesInForce returns the rule set the replicas run: a backtest loads
	// its rules with that set's options and, for a single expression, its
	// metric catalog (nil: the defaults and no catalog).
	RulesInForce func() *rules.RuleSet
	// History is what POST /rules/backtest replays (nil: Store when it
	// scans samples too, else 503), with the engine settings of Engine
	// (the replicas': series per source, series staleness; its Rules are
	// the request's).
	History backtest.History
	Engine  backtest.Options
	// BacktestMaxRange bounds from..to of a backtest (default 31 days);
	// BacktestMaxSamples the samples it reads (default 500,000; more is
	// 422).
	BacktestMaxRange   time.Duration
	BacktestMaxSamples int
	// Silences keeps silences (/silences); nil: Store when it keeps them
	// too, else 503.
	Silences SilenceStore
	// Activity keeps what people do with alert episodes (ack, assign,
	// notes); nil: Store when it keeps it too, else 503.
	Activity ActivityStore
	// Notifications reads the notification log (/notifications), and the
	// flapping state (/flapping) when it is a FlappingReader too; nil:
	// Store when it keeps them too, else 503.
	Notifications NotificationLogReader
	// Ready reports why the replica is not ready, nil when it is.
	Ready func(ctx context.Context) error
	// Reload reloads the rule file (POST /-/reload); nil: 503.
	Reload func() (ReloadResult, error)
	// Gatherer serves the service's own metrics at /-/metrics.
	Gatherer prometheus.Gatherer
	// Registerer takes the API's own metrics (request durations, ingest).
	Registerer prometheus.Registerer
	// Heartbeat is the pause between SSE keep-alive comments (default 15s).
	Heartbeat time.Duration
	// StreamWait is how long a stream opened while the alert hub is still
	// catching up waits for it before it is refused with 503 (default 5s).
	StreamWait time.Duration
	// StreamsPerKey, StreamsPerTenant and StreamsTotal cap the alert
	// streams open at once for one key (or, without keys, one client
	// address), one tenant (all tenants count as "*"), and in all
	// (defaults 10, 50, 1000): more is 429.
	StreamsPerKey, StreamsPerTenant, StreamsTotal int
	// StreamWriteTimeout is how long a stream's write may wait for a
	// client that does not read before the stream ends (default 15s).
	StreamWriteTimeout time.Duration
	// QueryTimeout bounds one request's database reads (default 30s);
	// QueryMaxRange the time range of a metric query (default 366 days).
	QueryTimeout  time.Duration
	QueryMaxRange time.Duration
	// QueriesPerTenant and QueriesTotal bound the database reads the API
	// runs at once for one tenant and in all (defaults 2 and 4): more is
	// 429.
	QueriesPerTenant, QueriesTotal int
	// MaxSilences bounds a tenant's pending and active silences (default
	// 1000); MaxSilenceMatchers the matchers of one (default 32).
	MaxSilences, MaxSilenceMatchers int
	// Static is the dashboard, served at /.
	Static fs.FS
	// ShutdownTimeout bounds the drain of open requests (default 10 s).
	ShutdownTimeout time.Duration

	// Keys, when set, requires an API key (or a session obtained with one)
	// on every route that reads or writes a tenant's data. Nil serves every
	// tenant to every request.
	Keys *KeyRing
	// LocalOnly, without Keys, answers only requests from the loopback
	// interface (eventops dev).
	LocalOnly bool
	// AllowedHosts are the Host names (or host:port) the API answers to,
	// besides loopback names, while it is open without Keys.
	AllowedHosts []string
	// TrustedProxies are the addresses (IPs or CIDRs) whose X-Forwarded-*
	// headers are believed (the Secure flag of the session cookie follows
	// X-Forwarded-Proto from them only). None by default.
	TrustedProxies []string
	// SessionSecret signs session cookies; replicas behind one address
	// need the same. Empty: a random secret (sessions hold on this replica).
	SessionSecret []byte
	// SessionTTL is how long a browser session lasts (default 12h).
	SessionTTL time.Duration
	// CORSOrigins are the origins other than the API's own that browsers
	// may call it from; none by default. "*" admits reads from every
	// origin, and writes from none but those named.
	CORSOrigins []string

	// Producer publishes what POST /ingest accepts (nil: 503), and the
	// alert activity this replica records, to ops.alert.activity.v1 (nil:
	// the activity reaches this replica's streams alone).
	Producer Producer
	// Normalize are the ingest stage's checks, shared by POST /ingest.
	Normalize normalize.Options
	// IngestMaxBody bounds a POST /ingest body (default 8 MiB).
	IngestMaxBody int
	// IngestRate is each tenant's ingest rate in events/s, IngestBurst the
	// events it may send at once (0: no limit).
	IngestRate  float64
	IngestBurst int
	// IngestTimeout bounds the wait for the broker (default 10s).
	IngestTimeout time.Duration

	Logger *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	opts Options
	app  *fiber.App
	log  *slog.Logger
	// stop ends every open stream when the server shuts down: fiber does
	// not end them itself.
	stop          chan struct{}
	sessionSecret []byte
	keyring       atomic.Pointer[keysInForce]
	streams       *streamLimits
	queries       *queryLimits
	// metricsHandler serves /-/metrics (one, so that its in-flight
	// bound holds).
	metricsHandler fasthttp.RequestHandler
	limiter        *tenantLimiter
	ingestMetrics  *ingestMetrics
	httpDuration   *prometheus.HistogramVec
	// unpublished counts the alert activity the broker did not take
	// (activity.go).
	unpublished prometheus.Counter
}

// New builds the server and its routes.
func New(opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = ":8088"
	}
	if opts.StreamWait <= 0 {
		opts.StreamWait = 5 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.IngestMaxBody <= 0 {
		opts.IngestMaxBody = DefaultIngestMaxBody
	}
	if opts.IngestTimeout <= 0 {
		opts.IngestTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	defaultTo(&opts.StreamsPerKey, DefaultStreamsPerKey)
	defaultTo(&opts.StreamsPerTenant, DefaultStreamsPerTenant)
	defaultTo(&opts.StreamsTotal, DefaultStreamsTotal)
	defaultTo(&opts.QueryTimeout, DefaultQueryTimeout)
	defaultTo(&opts.QueryMaxRange, DefaultQueryMaxRange)
	defaultTo(&opts.QueriesPerTenant, DefaultQueriesPerTenant)
	defaultTo(&opts.QueriesTotal, DefaultQueriesTotal)
	defaultTo(&opts.BacktestMaxRange, DefaultBacktestMaxRange)
	defaultTo(&opts.BacktestMaxSamples, DefaultBacktestMaxSamples)
	defaultTo(&opts.MaxSilences, DefaultMaxSilences)
	defaultTo(&opts.MaxSilenceMatchers, DefaultMaxSilenceMatchers)
	defaultTo(&opts.StreamWriteTimeout, 15*time.Second)
	s := &Server{opts: opts, log: opts.Logger.With("component", "api"), stop: make(chan struct{}),
		sessionSecret: opts.SessionSecret, limiter: newTenantLimiter(opts.IngestRate, opts.IngestBurst),
		ingestMetrics:  newIngestMetrics(opts.Registerer),
		streams:        newStreamLimits(opts.StreamsPerKey, opts.StreamsPerTenant, opts.StreamsTotal),
		queries:        newQueryLimits(opts.QueriesPerTenant, opts.QueriesTotal),
		metricsHandler: newMetricsHandler(opts.Gatherer),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventops_http_request_duration_seconds",
			Help:    "HTTP request durations by method, route pattern and status (a stream's until its headers are sent).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"method", "route", "code"}),
		unpublished: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventops_alert_activity_unpublished_total",
			Help: "Alert activity recorded in PostgreSQL that the broker did not take: only the streams of the replica that took it showed it."}),
	}
	if len(s.sessionSecret) == 0 {
		s.sessionSecret = make([]byte, 32)
		_, _ = rand.Read(s.sessionSecret)
	}
	s.keyring.Store(&keysInForce{ring: opts.Keys.withIDs(s.sessionSecret), replaced: make(chan struct{})})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.httpDuration, s.unpublished)
	}
	bodyLimit := max(maxSilenceBody, maxBacktestBody)
	if opts.IngestMaxBody > bodyLimit {
		bodyLimit = opts.IngestMaxBody
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "eventops",
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		// Bodies are streamed: each route reads at most its own limit
		// (limitBody, readBody), and none is buffered before its route
		// is known and the request authenticated.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    bodyLimit,
		EnableTrustedProxyCheck:      true,
		TrustedProxies:               opts.TrustedProxies,
	})
	s.routes()
	return s
}

func (s *Server) routes() {
	a := s.app
	a.Use(s.observe)
	a.Use(securityHeaders)
	if len(s.opts.CORSOrigins) > 0 {
		a.Use(cors.New(cors.Config{
			AllowOrigins:  strings.Join(s.opts.CORSOrigins, ","),
			AllowMethods:  "GET,POST,DELETE,HEAD",
			AllowHeaders:  "Authorization,X-API-Key,Content-Type,Last-Event-ID",
			ExposeHeaders: "Retry-After",
			MaxAge:        600,
		}))
	}
	a.Use(s.limitBody)
	a.Use(s.checkHost)
	a.Use(s.sameOrigin)
	// Every route but the public ones needs access before anything else
	// is looked at (routes added later included).
	a.Use(s.authenticate)
	// Routes that read or write the database run in a query slot and
	// under the query timeout (limitQueries is a handler of each such
	// route).
	q := s.limitQueries
	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)
	a.Get("/-/metrics", s.promMetrics)
	a.Post("/-/reload", s.reload)
	a.Get("/auth/session", s.session)
	a.Post("/auth/session", s.login)
	a.Delete("/auth/session", s.logout)
	a.Post("/ingest", s.ingest)
	a.Post(pathOTLP, s.otlpMetrics)
	a.Post(pathRemoteWrite, s.remoteWrite)
	a.Post(pathInfluxV2, s.influxWrite)
	a.Post(pathInfluxV1, s.influxWrite)
	a.Get("/metrics/:name", q, s.metricSeries)
	a.Get("/alerts", q, s.alertHistory)
	a.Get("/alerts/stream", s.alertStream)
	a.Get("/alerts/:id", q, s.alertEpisode)
	a.Get("/alerts/:id/activity", q, s.alertActivity)
	a.Post("/alerts/:id/ack", q, s.ackAlert)
	a.Post("/alerts/:id/assign", q, s.assignAlert)
	a.Post("/alerts/:id/notes", q, s.noteAlert)
	a.Get("/sources", q, s.sources)
	a.Get("/sources/:host/metrics", q, s.sourceMetrics)
	a.Get("/tenants", q, s.tenants)
	a.Get("/rules", s.rules)
	a.Post("/rules/backtest", q, s.backtestRules)
	a.Get("/silences", q, s.listSilences)
	a.Get("/notifications", q, s.notificationHistory)
	a.Get("/flapping", q, s.flappingAlerts)
	a.Post("/silences", q, s.createSilence)
	a.Delete("/silences/:id", q, s.expireSilence)
	a.Get("/openapi.yaml", s.openAPI)
	a.Get("/features/:tenant/:host", s.sourceFeatures)
	if s.opts.Static != nil {
		a.Use("/", filesystem.New(filesystem.Config{Root: httpFS(s.opts.Static), Index: "index.html"}))
	}
	a.Use(func(c *fiber.Ctx) error {
		return fmt.Errorf("%w: no route for %s %s", ErrNotFound, c.Method(), c.Path())
	})
}

// publicPaths need no key: they show no tenant's data.
var publicPaths = map[string]bool{"/healthz": true, "/readyz": true, "/-/metrics": true, "/openapi.yaml": true, "/auth/session": true, "/": true}

// authenticate resolves the request's access (401 without a valid key
// where keys are required) for every path but the public ones and the
// dashboard's files.
func (s *Server) authenticate(c *fiber.Ctx) error {
	if publicPaths[c.Path()] || s.isStatic(c.Path()) {
		return c.Next()
	}
	if _, err := s.requestAccess(c); err != nil {
		return err
	}
	return c.Next()
}

func (s *Server) isStatic(path string) bool {
	if s.opts.Static == nil || (c0(path) != '/') {
		return false
	}
	st, err := fs.Stat(s.opts.Static, strings.TrimPrefix(path, "/"))
	return err == nil && !st.IsDir()
}

func c0(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// observe times every request by its route pattern (never the raw path,
// which would make a series per metric name or episode).
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	code := c.Response().StatusCode()
	if err != nil {
		code = problemFor(err).Status
	}
	route := c.Route().Path
	if c.Route().Method == "USE" || route == "" {
		route = "other" // the dashboard's files and unknown paths
	}
	// Labels outlive the request: c.Method() and c.Route() point into
	// buffers the server reuses, so every label is a constant or a copy.
	s.httpDuration.WithLabelValues(methodLabel(c.Method()), strings.Clone(route), strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	return err
}

// methodLabel is the method as a constant string, "other" for methods the
// API does not serve (a label value per invented method would be a series
// each).
func methodLabel(m string) string {
	for _, k := range []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodDelete, fiber.MethodOptions} {
		if m == k {
			return k
		}
	}
	return "other"
}

// keys is the key ring in force (nil: the API is open).
func (s *Server) keys() *KeyRing { return s.keyring.Load().ring }

// keysInForce is a key ring and the channel closed when another replaces
// it, so that what outlives its request (an alert stream) learns that the
// key it was opened with may be gone.
type keysInForce struct {
	ring     *KeyRing
	replaced chan struct{}
}

// holds reports whether k (the zero Key when the API is open) is still in
// force, for the same tenant.
func (f *keysInForce) holds(k Key) bool {
	if f.ring == nil || k.ID == "" {
		return f.ring == nil
	}
	held, ok := f.ring.byHash[k.hash]
	return ok && held.Tenant == k.Tenant
}

// SetKeys puts a new key ring in force (the keys file was read again):
// removed keys, and the sessions and alert streams opened with them, stop
// working at once. A server started without keys stays open.
func (s *Server) SetKeys(kr *KeyRing) error {
	if kr == nil || s.keys() == nil {
		return fmt.Errorf("api: keys can be replaced, not added or removed as a whole")
	}
	old := s.keyring.Swap(&keysInForce{ring: kr.withIDs(s.sessionSecret), replaced: make(chan struct{})})
	close(old.replaced)
	return nil
}

// App exposes the fiber app to tests (app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Run serves until ctx ends, then ends open streams and drains requests.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("API listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	close(s.stop)
	if err := s.app.ShutdownWithTimeout(s.opts.ShutdownTimeout); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return <-errc
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(c.UserContext()); err != nil {
			// The reason stays in the log: database and broker errors
			// name hosts, users and databases.
			s.log.Debug("not ready", "err", err)
			return &Problem{Type: "about:blank", Title: "Service Unavailable", Status: fiber.StatusServiceUnavailable,
				Detail: "not ready: " + readyReason(err)}
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

func (s *Server) sourceFeatures(c *fiber.Ctx) error {
	if err := checkParams(c, nil); err != nil {
		return err
	}
	tenant, err := s.requestTenantOf(c, c.Params("tenant"))
	if err != nil {
		return err
	}
	if s.opts.Features == nil {
		return fmt.Errorf("%w: live features are not served by this replica", ErrUnavailable)
	}
	host := strings.Clone(c.Params("host"))
	st, err := s.opts.Features.SourceState(c.UserContext(), tenant, host)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("%w: no live features for source %s/%s", ErrNotFound, tenant, host)
	}
	b, err := json.Marshal(sourceSnapshot(tenant, host, st, time.Now()))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

// NotReadyError is a readiness failure whose Reason may be shown to any
// client (it names what is missing, not where).
type NotReadyError struct {
	Reason string
	Err    error
}

func (e *NotReadyError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// readyReason is what a client is told of a readiness failure: the
// reasons of its NotReadyErrors, and no more than that of the others.
func readyReason(err error) string {
	var reasons []string
	var walk func(error)
	walk = func(err error) {
		var nr *NotReadyError
		switch {
		case err == nil:
		case errors.As(err, &nr):
			reasons = append(reasons, nr.Reason)
		default:
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
				return
			}
			reasons = append(reasons, "a dependency is not reachable (the reason is in the log)")
		}
	}
	walk(err)
	return strings.Join(reasons, "; ")
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// defaultTo sets *v to d when it is not positive (unset).
func defaultTo[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
