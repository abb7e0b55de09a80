package api

import (
	"context"
	"fmt"
	"io"
	"net"
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

// limitQueries runs a database read or write in one of the API's query slots (429
// when its tenant's or the server's are taken) and under QueryTimeout:
// PostgreSQL cancels the statement when the deadline passes. It is a
// handler of each route that reads or writes the database, so that it applies to
// whatever spelling of the path the router matches to that route.
//
// A tenant the request may not read is refused first: its slots are not
// charged, nor is their use told.
func (s *Server) limitQueries(c *fiber.Ctx) error {
	a, err := s.requestAccess(c)
	if err != nil {
		return err
	}
	tenant := strings.Clone(c.Query("tenant"))
	if tenant != "" && !a.sees(tenant) {
		return forbiddenTenant(tenant)
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
	slot := &querySlot{release: sync.OnceFunc(func() { s.queries.release(tenant) })}
	c.Locals(querySlotLocal, slot)
	defer func() {
		if !slot.held {
			slot.release()
		}
	}()
	ctx, cancel := context.WithTimeout(c.UserContext(), s.opts.QueryTimeout)
	defer cancel()
	// A client that goes away cancels its query.
	defer cancelWhenClientGoes(c.Context().Conn(), cancel)()
	c.SetUserContext(ctx)
	err = c.Next()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return &Problem{Type: "about:blank", Title: "Service Unavailable", Status: fiber.StatusServiceUnavailable,
			Detail: fmt.Sprintf("the query took longer than %s and was cancelled: narrow it with host, tag filters, from and to", s.opts.QueryTimeout)}
	}
	return err
}

// querySlot is the query slot a request runs in. A handler that answers
// with a large body it built in memory keeps the slot until the body is
// written (sendInSlot): the slot then bounds that memory as well, whereas
// once released a client that does not read could hold one such body per
// request it sends.
type querySlot struct {
	release func()
	held    bool
}

const querySlotLocal = "eventops.query_slot"

// sendInSlot answers body as JSON within the request's query slot: the
// slot is released once the body is written, or its write failed, or
// QueryTimeout passed since the write began (a client too slow to take
// it is cut off).
func (s *Server) sendInSlot(c *fiber.Ctx, body []byte) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	slot, _ := c.Locals(querySlotLocal).(*querySlot)
	if slot == nil {
		return c.Send(body)
	}
	slot.held = true
	// The write deadline holds for the rest of the connection, the last
	// buffered bytes included: the connection ends with this answer.
	c.Context().SetConnectionClose()
	c.Context().SetBodyStream(&slotBody{body: body, conn: c.Context().Conn(), timeout: s.opts.QueryTimeout, release: slot.release}, len(body))
	return nil
}

// slotBody is a body written in its request's query slot. The server
// closes it once written, failed or dropped, which frees the slot.
type slotBody struct {
	body    []byte
	conn    net.Conn
	timeout time.Duration
	started bool
	release func()
}

func (b *slotBody) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		if b.conn != nil {
			_ = b.conn.SetWriteDeadline(time.Now().Add(b.timeout))
		}
	}
	if len(b.body) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.body)
	b.body = b.body[n:]
	return n, nil
}

func (b *slotBody) Close() error {
	b.body = nil
	b.release()
	return nil
}

// boundQueryRange gives a metric query both ends and refuses a range
// longer than QueryMaxRange. Without bounds PostgreSQL would number every
// row of a series' history before its per-series limit applies. A missing
// to is now, plus how far ahead of its arrival ingest accepts an event
// time (so that the newest points are in); a missing from is
// QueryMaxRange before to.
func (s *Server) boundQueryRange(q *store.SeriesQuery, now time.Time) error {
	if q.To.IsZero() {
		q.To = now.Add(s.opts.Normalize.Defaults().MaxFuture).UTC()
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-s.opts.QueryMaxRange)
	}
	if span := q.To.Sub(q.From); span > s.opts.QueryMaxRange {
		return badRequest("the range from %s to %s is %s, longer than the limit of %s: narrow from and to",
			q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), span.Round(time.Hour), s.opts.QueryMaxRange)
	}
	return nil
}
