package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/eventops/eventops/store"
)

// NotificationLogReader reads the notify stage's log of decisions and
// delivery attempts.
type NotificationLogReader interface {
	QueryNotificationLog(ctx context.Context, q store.LogQuery) ([]store.LogEntry, int64, error)
}

// Page sizes of GET /notifications.
const (
	DefaultNotificationLimit = 100
	MaxNotificationLimit     = 1000
)

type notificationsResponse struct {
	Tenant        string           `json:"tenant"`
	Notifications []store.LogEntry `json:"notifications"`
	NextCursor    string           `json:"next_cursor,omitempty"`
}

// notificationLog returns Options.Notifications, or the query store when
// it keeps the log too.
func (s *Server) notificationLog() (NotificationLogReader, error) {
	return optionalStore(s.opts.Notifications, s.opts.Store, "the notification history")
}

// notificationHistory serves GET /notifications: what the notify stage
// decided and attempted for a tenant's alerts (sent, failed, silenced,
// inhibited, muted, flapping, refused, and why), newest first, a page at a
// time.
func (s *Server) notificationHistory(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant", "episode", "receiver", "limit", "cursor"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	r, err := s.notificationLog()
	if err != nil {
		return err
	}
	q := store.LogQuery{Tenant: tenant, EpisodeID: strings.Clone(c.Query("episode")), Receiver: strings.Clone(c.Query("receiver")),
		Limit: DefaultNotificationLimit}
	if q.EpisodeID != "" && !validID(q.EpisodeID) {
		return badRequest("episode %q is not an episode id (letters, digits, '-' and '_', at most 128)", q.EpisodeID)
	}
	if len(q.Receiver) > 256 {
		return badRequest("receiver is at most 256 bytes")
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxNotificationLimit {
			return badRequest("limit %q must be a whole number from 1 to %d", l, MaxNotificationLimit)
		}
		q.Limit = n
	}
	digest := queryDigest("notifications", q.Tenant, q.EpisodeID, q.Receiver)
	if cs := c.Query("cursor"); cs != "" {
		cur, err := decodeCursor(cs, digest)
		if err != nil {
			return err
		}
		q.Before = cur.I
	}
	entries, next, err := r.QueryNotificationLog(c.UserContext(), q)
	if err != nil {
		return err
	}
	resp := notificationsResponse{Tenant: tenant, Notifications: entries}
	if next != 0 {
		resp.NextCursor = cursor{Q: digest, I: next}.encode()
	}
	return c.JSON(resp)
}
