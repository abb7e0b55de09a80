package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/eventops/eventops/store"
)

// Query limits: what one tenant's reads may cost the database.
const (
	// DefaultQueryTimeout bounds one request's database work.
	DefaultQueryTimeout = 30 * time.Second
	// DefaultQueryMaxRange bounds the time range of a metric query.
	DefaultQueryMaxRange = 366 * 24 * time.Hour
	// DefaultQueriesPerTenant and DefaultQueriesTotal bound the database
	// reads the API runs at once for one tenant and in all: the API's
	// share of the connection pool, so that the sink and the notifier
	// always have connections left.
	DefaultQueriesPerTenant = 2
	DefaultQueriesTotal     = 4
)

// queryLimits counts the database reads in flight.
type queryLimits struct {
	perTenant, total int

	mu       sync.Mutex
	byTenant map[string]int
	open     int
}

func newQueryLimits(perTenant, total int) *queryLimits {
	return &queryLimits{perTenant: perTenant, total: total, byTenant: map[string]int{}}
}

func (l *queryLimits) acquire(tenant string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var over string
	switch {
	case l.byTenant[tenant] >= l.perTenant:
		over = fmt.Sprintf("tenant %q has %d queries running, its limit", tenant, l.byTenant[tenant])
	case l.open >= l.total:
		over = fmt.Sprintf("this server runs %d queries, its limit", l.open)
	}
	if over != "" {
		return &Problem{Type: "about:blank", Title: "Too Many Requests", Status: fiber.StatusTooManyRequests,
			Detail: over + ": retry shortly"}
	}
	l.open++
	l.byTenant[tenant]++
	return nil
}

func (l *queryLimits) release(tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byTenant[tenant]--; l.byTenant[tenant] <= 0 {
		delete(l.byTenant, tenant)
	}
}

// readsDatabase reports whether a request's route reads PostgreSQL.
func readsDatabase(method, path string) bool {
	if method != fiber.MethodGet && method != fiber.MethodHead {
		return false
	}
	switch {
	case path == "/alerts/stream":
		return false
	case strings.HasPrefix(path, "/metrics/"), path == "/alerts", strings.HasPrefix(path, "/alerts/"),
		path == "/sources", strings.HasPrefix(path, "/sources/"), path == "/tenants", path == "/silences":
		return true
	}
	return false
}

// limitQueries runs a database read in one of the API's query slots (429
// when its tenant's or the server's are taken) and under QueryTimeout:
// PostgreSQL cancels the statement when the deadline passes.
func (s *Server) limitQueries(c *fiber.Ctx) error {
	if !readsDatabase(c.Method(), c.Path()) {
		return c.Next()
	}
	a, err := s.requestAccess(c)
	tenant := strings.Clone(c.Query("tenant"))
	if err != nil || (tenant != "" && !a.sees(tenant)) {
		// Refused before any read: it takes no one's slot (naming another
		// tenant must not use up that tenant's).
		return c.Next()
	}
	if tenant == "" {
		tenant, _ = a.only()
	}
	if tenant == "" {
		tenant = AllTenants
	}
	if err := s.queries.acquire(tenant); err != nil {
		c.Set(fiber.HeaderRetryAfter, "1")
		return err
	}
	defer s.queries.release(tenant)
	ctx, cancel := context.WithTimeout(c.UserContext(), s.opts.QueryTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	err = c.Next()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return &Problem{Type: "about:blank", Title: "Service Unavailable", Status: fiber.StatusServiceUnavailable,
			Detail: fmt.Sprintf("the query took longer than %s and was cancelled: narrow it with host, tag filters, from and to", s.opts.QueryTimeout)}
	}
	return err
}

// checkQueryRange refuses a metric query over a longer time range than
// QueryMaxRange: an aggregated query (to defaults to now), or a raw one
// that names both ends. A raw query with an open end reads at most its
// limit of points per series.
func (s *Server) checkQueryRange(q store.SeriesQuery) error {
	if q.From.IsZero() || (q.Step == 0 && q.To.IsZero()) {
		return nil
	}
	to := q.To
	if to.IsZero() {
		to = time.Now()
	}
	if span := to.Sub(q.From); span > s.opts.QueryMaxRange {
		return badRequest("the range from %s to %s is %s, longer than the limit of %s: narrow from and to",
			q.From.Format(time.RFC3339), to.Format(time.RFC3339), span.Round(time.Hour), s.opts.QueryMaxRange)
	}
	return nil
}
