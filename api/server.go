package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/store"
)

// Queries is what the API reads from the store.
type Queries interface {
	QuerySeries(ctx context.Context, q store.SeriesQuery) ([]store.Series, error)
}

// FeatureReader returns a source's live feature state as JSON, or
// ErrNotFound.
type FeatureReader interface {
	SourceFeatures(ctx context.Context, tenant, host string) ([]byte, error)
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
	// Ready reports why the replica is not ready, nil when it is.
	Ready func(ctx context.Context) error
	// Reload reloads the rule file (POST /-/reload); nil: 503.
	Reload func() (ReloadResult, error)
	// Gatherer serves the service's own metrics at /-/metrics.
	Gatherer prometheus.Gatherer
	// Heartbeat is the pause between SSE keep-alive comments (default 15s).
	Heartbeat time.Duration
	// Static is the dashboard, served at /.
	Static fs.FS
	// ShutdownTimeout bounds the drain of open requests (default 10 s).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	opts Options
	app  *fiber.App
	log  *slog.Logger
	// stop ends every open stream when the server shuts down: fiber does
	// not end them itself.
	stop chan struct{}
}

// New builds the server and its routes.
func New(opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = ":8088"
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger.With("component", "api"), stop: make(chan struct{})}
	s.app = fiber.New(fiber.Config{
		AppName:               "eventops",
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		BodyLimit:             16 << 20,
	})
	s.routes()
	return s
}

func (s *Server) routes() {
	a := s.app
	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)
	a.Get("/-/metrics", s.promMetrics)
	a.Post("/-/reload", s.reload)
	a.Get("/metrics/:name", s.metricSeries)
	a.Get("/alerts", s.alertHistory)
	a.Get("/alerts/stream", s.alertStream)
	a.Get("/alerts/:id", s.alertEpisode)
	a.Get("/sources", s.sources)
	a.Get("/tenants", s.tenants)
	a.Get("/openapi.yaml", s.openAPI)
	a.Get("/features/:tenant/:host", s.sourceFeatures)
	if s.opts.Static != nil {
		a.Use("/", filesystem.New(filesystem.Config{Root: httpFS(s.opts.Static), Index: "index.html"}))
	}
	a.Use(func(c *fiber.Ctx) error {
		return fmt.Errorf("%w: no route for %s %s", ErrNotFound, c.Method(), c.Path())
	})
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
			return &Problem{Type: "about:blank", Title: "Service Unavailable", Status: fiber.StatusServiceUnavailable,
				Detail: "not ready: " + err.Error()}
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

func (s *Server) sourceFeatures(c *fiber.Ctx) error {
	if s.opts.Features == nil {
		return fmt.Errorf("%w: live features are not served by this replica", ErrUnavailable)
	}
	tenant, host := c.Params("tenant"), c.Params("host")
	b, err := s.opts.Features.SourceFeatures(c.UserContext(), tenant, host)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: no live features for source %s/%s", ErrNotFound, tenant, host)
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
