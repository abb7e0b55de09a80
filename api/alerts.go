package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/eventops/eventops/store"
)

// AlertReader reads the alert history.
type AlertReader interface {
	QueryAlerts(ctx context.Context, q store.AlertQuery) (store.AlertPage, error)
	AlertEpisode(ctx context.Context, tenant, episodeID string) (store.Episode, error)
}

// Page sizes of GET /alerts.
const (
	DefaultAlertLimit = 100
	MaxAlertLimit     = 1000
)

// alertStates are the states a transition may have.
var alertStates = []string{"pending", "firing", "resolved", "inactive"}

type alertsResponse struct {
	Tenant     string        `json:"tenant"`
	Alerts     []store.Alert `json:"alerts"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// alertHistory serves GET /alerts: alert transitions of a tenant, newest
// first, a page at a time.
func (s *Server) alertHistory(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant", "host", "state", "severity", "shadow", "from", "to", "limit", "cursor"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	if s.opts.Alerts == nil {
		return fmt.Errorf("%w: the alert history is not served by this replica", ErrUnavailable)
	}
	q := store.AlertQuery{Tenant: tenant, Host: strings.Clone(c.Query("host")), State: strings.Clone(c.Query("state")),
		Severity: strings.Clone(c.Query("severity")), Limit: DefaultAlertLimit}
	switch sh := c.Query("shadow"); sh {
	case "":
	case store.ShadowOnly, store.ShadowExclude:
		q.Shadow = strings.Clone(sh)
	default:
		return badRequest("unknown shadow %q (use %s or %s; absent: both)", sh, store.ShadowOnly, store.ShadowExclude)
	}
	if q.State != "" && !contains(alertStates, q.State) {
		return badRequest("unknown state %q (use one of %s)", q.State, strings.Join(alertStates, ", "))
	}
	if len(q.Host) > 256 || len(q.Severity) > 256 {
		return badRequest("host and severity are at most 256 bytes")
	}
	if q.From, q.To, err = parseRange(c); err != nil {
		return err
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxAlertLimit {
			return badRequest("limit %q must be a whole number from 1 to %d", l, MaxAlertLimit)
		}
		q.Limit = n
	}
	digest := queryDigest("alerts", q.Tenant, q.Host, q.State, q.Severity, c.Query("from"), c.Query("to"))
	if q.Shadow != "" {
		// Appended only when set, so that a cursor of a query without it stays valid.
		digest = queryDigest("alerts", digest, q.Shadow)
	}
	if cs := c.Query("cursor"); cs != "" {
		cur, err := decodeCursor(cs, digest)
		if err != nil {
			return err
		}
		q.After = &store.AlertKey{Ts: time.UnixMicro(cur.T).UTC(), ID: cur.I}
	}
	page, err := s.opts.Alerts.QueryAlerts(c.UserContext(), q)
	if err != nil {
		return err
	}
	resp := alertsResponse{Tenant: tenant, Alerts: page.Alerts}
	if page.Next != nil {
		resp.NextCursor = cursor{Q: digest, T: page.Next.Ts.UnixMicro(), I: page.Next.ID}.encode()
	}
	return c.JSON(resp)
}

// alertEpisode serves GET /alerts/{id}: the episode with its transitions.
func (s *Server) alertEpisode(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	if s.opts.Alerts == nil {
		return fmt.Errorf("%w: the alert history is not served by this replica", ErrUnavailable)
	}
	id := strings.Clone(c.Params("id"))
	if !validID(id) {
		return badRequest("alert id %q is not an episode id (letters, digits, '-' and '_', at most 128)", id)
	}
	ep, err := s.opts.Alerts.AlertEpisode(c.UserContext(), tenant, id)
	if errors.Is(err, store.ErrNoRows) {
		return fmt.Errorf("%w: tenant %s has no alert episode %s", ErrNotFound, tenant, id)
	}
	if err != nil {
		return err
	}
	return c.JSON(ep)
}

func validID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parseRange reads from and to, which must be in order when both are set.
func parseRange(c *fiber.Ctx) (from, to time.Time, err error) {
	if from, err = parseTime("from", c.Query("from")); err != nil {
		return
	}
	if to, err = parseTime("to", c.Query("to")); err != nil {
		return
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		err = badRequest("bad time range: from (%s) must be before to (%s)", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	return
}
