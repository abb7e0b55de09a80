package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// maxScrapesInFlight bounds concurrent /-/metrics answers: a scrape is
// public and asks the brokers for lag, so more wait for a 503.
const maxScrapesInFlight = 2

func newMetricsHandler(g prometheus.Gatherer) fasthttp.RequestHandler {
	if g == nil {
		return nil
	}
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{MaxRequestsInFlight: maxScrapesInFlight}))
}

func (s *Server) promMetrics(c *fiber.Ctx) error {
	if s.metricsHandler == nil {
		return ErrNotFound
	}
	s.metricsHandler(c.Context())
	return nil
}
