package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

func (s *Server) promMetrics(c *fiber.Ctx) error {
	if s.opts.Gatherer == nil {
		return ErrNotFound
	}
	h := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	h(c.Context())
	return nil
}
