package api

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Errors lists per-item problems (e.g. the lines of an ingest body).
	Errors []ItemError `json:"errors,omitempty"`
}

// ItemError is one item's problem inside a larger request.
type ItemError struct {
	// Index is the item's position (0-based) among the request's events.
	Index int `json:"index"`
	// Line is the item's line (1-based) in an NDJSON body.
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// Errors handlers return; the error handler maps them to statuses.
var (
	ErrNotFound     = errors.New("not found")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrUnavailable  = errors.New("unavailable")
)

// badRequest makes a 400 problem with a precise detail.
func badRequest(format string, args ...any) error {
	return &Problem{Type: "about:blank", Title: "Bad Request", Status: fiber.StatusBadRequest, Detail: fmt.Sprintf(format, args...)}
}

// problemFor maps any error to a problem: the one place errors become
// HTTP statuses.
func problemFor(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return &Problem{Type: "about:blank", Title: statusTitle(fe.Code), Status: fe.Code, Detail: fe.Message}
	}
	codes := []struct {
		err    error
		status int
	}{
		{ErrNotFound, fiber.StatusNotFound},
		{ErrUnauthorized, fiber.StatusUnauthorized},
		{ErrForbidden, fiber.StatusForbidden},
		{ErrUnavailable, fiber.StatusServiceUnavailable},
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return &Problem{Type: "about:blank", Title: statusTitle(c.status), Status: c.status, Detail: err.Error()}
		}
	}
	return &Problem{Type: "about:blank", Title: "Internal Server Error", Status: fiber.StatusInternalServerError,
		Detail: "the server could not complete the request"}
}

func statusTitle(code int) string {
	if t := fiberStatusMessage(code); t != "" {
		return t
	}
	return "Error"
}

func fiberStatusMessage(code int) string { return fiber.NewError(code).Message }

// errorHandler writes every error as application/problem+json.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	p := problemFor(err)
	switch {
	case p.Status == fiber.StatusServiceUnavailable && c.Path() == "/readyz":
		// Not ready yet (a start, a dependency away): that is what the
		// route is asked, not a failure.
		s.log.Debug("not ready", "err", err)
	case p.Status == fiber.StatusServiceUnavailable:
		s.log.Warn("request refused: unavailable", "method", c.Method(), "path", c.Path(), "err", err)
	case p.Status >= 500:
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	if ok, err := protocolError(c, p); ok {
		return err
	}
	p.Instance = c.OriginalURL()
	c.Set(fiber.HeaderContentType, "application/problem+json")
	b, _ := jsonMarshal(p)
	return c.Status(p.Status).Send(b)
}
