package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/eventops/eventops/store"
)

// SourceReader reads the sources view.
type SourceReader interface {
	QuerySources(ctx context.Context, q store.SourceQuery) ([]store.Source, string, error)
	Tenants(ctx context.Context) ([]store.Tenant, error)
}

// Page sizes of GET /sources.
const (
	DefaultSourceLimit = 1000
	MaxSourceLimit     = 10_000
)

type sourcesResponse struct {
	Tenant     string         `json:"tenant"`
	Sources    []store.Source `json:"sources"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// sources serves GET /sources: a tenant's sources by host, with their
// last-seen time and metadata.
func (s *Server) sources(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant", "limit", "cursor"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	if s.opts.Sources == nil {
		return fmt.Errorf("%w: sources are not served by this replica", ErrUnavailable)
	}
	q := store.SourceQuery{Tenant: tenant, Limit: DefaultSourceLimit}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxSourceLimit {
			return badRequest("limit %q must be a whole number from 1 to %d", l, MaxSourceLimit)
		}
		q.Limit = n
	}
	digest := queryDigest("sources", tenant)
	if cs := c.Query("cursor"); cs != "" {
		cur, err := decodeCursor(cs, digest)
		if err != nil {
			return err
		}
		if cur.H == "" {
			return badRequest("cursor is not valid: not a cursor of /sources")
		}
		q.After = cur.H
	}
	srcs, next, err := s.opts.Sources.QuerySources(c.UserContext(), q)
	if err != nil {
		return err
	}
	resp := sourcesResponse{Tenant: tenant, Sources: srcs}
	if next != "" {
		resp.NextCursor = cursor{Q: digest, H: next}.encode()
	}
	return c.JSON(resp)
}

// tenants serves GET /tenants: the tenants the request may read that have
// sources, for operators.
func (s *Server) tenants(c *fiber.Ctx) error {
	if err := checkParams(c, nil); err != nil {
		return err
	}
	a, err := s.requestAccess(c)
	if err != nil {
		return err
	}
	if s.opts.Sources == nil {
		return fmt.Errorf("%w: tenants are not served by this replica", ErrUnavailable)
	}
	all, err := s.opts.Sources.Tenants(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]store.Tenant, 0, len(all))
	for _, t := range all {
		if a.sees(t.Tenant) {
			out = append(out, t)
		}
	}
	return c.JSON(fiber.Map{"tenants": out})
}

// MetricNameReader lists the metrics a source has stored.
type MetricNameReader interface {
	SourceMetrics(ctx context.Context, tenant, host string) ([]string, error)
}

// sourceMetrics serves GET /sources/{host}/metrics: the names of the
// metrics a source has stored (for the dashboard's metric picker).
func (s *Server) sourceMetrics(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	if s.opts.MetricNames == nil {
		return fmt.Errorf("%w: metric names are not served by this replica", ErrUnavailable)
	}
	host := strings.Clone(c.Params("host"))
	if host == "" || len(host) > 256 {
		return badRequest("host must be 1 to 256 bytes")
	}
	names, err := s.opts.MetricNames.SourceMetrics(c.UserContext(), tenant, host)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tenant": tenant, "host": host, "metrics": names})
}
