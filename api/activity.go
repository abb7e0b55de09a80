package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// ActivityStore records and reads what people do with alert episodes:
// acknowledge, assign, note (store.Store).
type ActivityStore interface {
	AddActivity(ctx context.Context, a store.Activity) (store.Activity, bool, error)
	AlertActivity(ctx context.Context, tenant, episodeID string) ([]store.Activity, error)
}

// Limits of alert activity.
const (
	maxActivityBody = 16 << 10
	maxAssignee     = 256
	maxNote         = 4096
	// MaxAckDuration bounds how long an ack may hold: an ack that outlives
	// everyone's memory of it is a silence.
	MaxAckDuration = 90 * 24 * time.Hour
)

// ackRequest is the body of POST /alerts/{id}/ack (it may be empty).
type ackRequest struct {
	// ExpiresAt or ExpiresIn (a Go duration) end the ack early; without
	// either it holds until the episode resolves.
	ExpiresAt *time.Time `json:"expires_at"`
	ExpiresIn string     `json:"expires_in"`
	Comment   string     `json:"comment"`
}

type assignRequest struct {
	Assignee string `json:"assignee"`
}

type noteRequest struct {
	Text string `json:"text"`
}

// activityResponse is GET /alerts/{id}/activity: the episode's audit
// trail and what it adds up to now.
type activityResponse struct {
	Tenant    string `json:"tenant"`
	EpisodeID string `json:"episode_id"`
	State     string `json:"state"`
	// Acknowledged is the ack in force (nil: none, it expired, or the
	// episode resolved).
	Acknowledged *store.Activity `json:"acknowledged"`
	// Assignee is whom the episode was assigned to last.
	Assignee string           `json:"assignee,omitempty"`
	Activity []store.Activity `json:"activity"`
}

// activityStore returns Options.Activity, or the query store when it
// keeps activity too.
func (s *Server) activityStore() (ActivityStore, error) {
	return optionalStore(s.opts.Activity, s.opts.Store, "alert activity")
}

// activityEpisode reads the episode of the request's tenant named by the
// path: another tenant's episode is as unknown as one that never was.
func (s *Server) activityEpisode(c *fiber.Ctx) (store.Episode, error) {
	if err := checkParams(c, []string{"tenant"}); err != nil {
		return store.Episode{}, err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return store.Episode{}, err
	}
	id := strings.Clone(c.Params("id"))
	if !validID(id) {
		return store.Episode{}, badRequest("alert id %q is not an episode id (letters, digits, '-' and '_', at most 128)", id)
	}
	if s.opts.Alerts == nil {
		return store.Episode{}, fmt.Errorf("%w: the alert history is not served by this replica", ErrUnavailable)
	}
	ep, err := s.opts.Alerts.AlertEpisode(c.UserContext(), tenant, id)
	if errors.Is(err, store.ErrNoRows) && s.opts.Hub != nil {
		// On the stream already, not yet in PostgreSQL.
		if ev, ok := s.opts.Hub.Active(tenant, id); ok {
			return store.Episode{EpisodeID: id, Tenant: tenant, Host: ev.Host, Severity: ev.Severity, State: ev.State}, nil
		}
	}
	if errors.Is(err, store.ErrNoRows) {
		return store.Episode{}, fmt.Errorf("%w: tenant %s has no alert episode %s", ErrNotFound, tenant, id)
	}
	return ep, err
}

// ended reports whether an episode is over (an ack of it means nothing).
func ended(ep store.Episode) bool { return ep.State == "resolved" || ep.State == "inactive" }

// decodeActivity reads a JSON body of at most maxActivityBody into v;
// empty is allowed when emptyOK.
func decodeActivity(c *fiber.Ctx, v any, emptyOK bool) error {
	body, err := readBody(c, maxActivityBody, false)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return badRequest("the body is empty: send a JSON object")
	}
	if err := requireContentType(c, fiber.MIMEApplicationJSON); err != nil {
		return err
	}
	return decodeBody(body, v, "valid here")
}

// checkText refuses a text field that is empty (when required), too long,
// or not text PostgreSQL holds; the error names the field.
func checkText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return badRequest("%s: is required", field)
	case len(v) > max:
		return badRequest("%s: longer than %d bytes", field, max)
	case !validText([]byte(v)):
		return badRequest("%s: not valid UTF-8 text without NUL bytes", field)
	}
	return nil
}

// actorOf is who a request acts as: its key's name (its ID without one),
// "anonymous" when the API is open.
func actorOf(a access) string {
	switch {
	case a.key.ID == "":
		return "anonymous"
	case a.key.Name != "":
		return a.key.Name
	}
	return "key " + a.key.ID
}

// ackAlert serves POST /alerts/{id}/ack.
func (s *Server) ackAlert(c *fiber.Ctx) error {
	var req ackRequest
	if err := decodeActivity(c, &req, true); err != nil {
		return err
	}
	now := time.Now().UTC()
	act := store.Activity{Kind: store.ActivityAck, Note: req.Comment}
	if err := checkText("comment", req.Comment, maxNote, false); err != nil {
		return err
	}
	switch {
	case req.ExpiresAt != nil && req.ExpiresIn != "":
		return badRequest("expires_at, expires_in: give one, not both")
	case req.ExpiresAt != nil:
		exp := req.ExpiresAt.UTC().Truncate(time.Microsecond)
		act.ExpiresAt = &exp
	case req.ExpiresIn != "":
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return badRequest("expires_in: %q is not a positive duration (e.g. 30m, 4h)", req.ExpiresIn)
		}
		exp := now.Add(d).Truncate(time.Millisecond)
		act.ExpiresAt = &exp
	}
	if e := act.ExpiresAt; e != nil && !e.After(now) {
		return badRequest("expires_at: %s is not in the future", e.Format(time.RFC3339))
	}
	if e := act.ExpiresAt; e != nil && e.Sub(now) > MaxAckDuration {
		return badRequest("expires_at: an ack holds at most %s (a longer one is a silence)", MaxAckDuration)
	}
	ep, err := s.activityEpisode(c)
	if err != nil {
		return err
	}
	if ended(ep) {
		return &Problem{Type: "about:blank", Title: "Conflict", Status: fiber.StatusConflict,
			Detail: fmt.Sprintf("alert episode %s of tenant %s is %s: there is nothing to acknowledge", ep.EpisodeID, ep.Tenant, ep.State)}
	}
	return s.addActivity(c, ep, act)
}

// assignAlert serves POST /alerts/{id}/assign.
func (s *Server) assignAlert(c *fiber.Ctx) error {
	var req assignRequest
	if err := decodeActivity(c, &req, false); err != nil {
		return err
	}
	req.Assignee = strings.TrimSpace(req.Assignee)
	if err := checkText("assignee", req.Assignee, maxAssignee, true); err != nil {
		return err
	}
	ep, err := s.activityEpisode(c)
	if err != nil {
		return err
	}
	return s.addActivity(c, ep, store.Activity{Kind: store.ActivityAssign, Assignee: req.Assignee})
}

// noteAlert serves POST /alerts/{id}/notes. Notes are taken on resolved
// episodes too: that is where a post-mortem starts.
func (s *Server) noteAlert(c *fiber.Ctx) error {
	var req noteRequest
	if err := decodeActivity(c, &req, false); err != nil {
		return err
	}
	if err := checkText("text", req.Text, maxNote, true); err != nil {
		return err
	}
	ep, err := s.activityEpisode(c)
	if err != nil {
		return err
	}
	return s.addActivity(c, ep, store.Activity{Kind: store.ActivityNote, Note: req.Text})
}

// activityAnswer is what an activity request answers: the audit row, and
// when it could not be published, what the alert streams miss.
type activityAnswer struct {
	store.Activity
	// StreamWarning says the activity is recorded but reaches only the
	// alert streams of the replica that took it.
	StreamWarning string `json:"stream_warning,omitempty"`
}

// addActivity records act for ep with the request's key as the actor,
// tells the alert streams of every replica, and answers 201 (200 for an
// ack that was in force already).
func (s *Server) addActivity(c *fiber.Ctx, ep store.Episode, act store.Activity) error {
	as, err := s.activityStore()
	if err != nil {
		return err
	}
	a, err := s.requestAccess(c)
	if err != nil {
		return err
	}
	act.Tenant, act.EpisodeID, act.Actor, act.KeyID = ep.Tenant, ep.EpisodeID, actorOf(a), a.key.ID
	out, created, err := as.AddActivity(c.UserContext(), act)
	if err != nil {
		return err
	}
	if !created {
		return c.JSON(out)
	}
	answer := activityAnswer{Activity: out}
	if err := s.publishActivity(c.UserContext(), ep, out); err != nil {
		answer.StreamWarning = "recorded, but only the alert streams of the server that took it were told: " + err.Error()
	}
	return c.Status(fiber.StatusCreated).JSON(answer)
}

// publishActivity sends a recorded activity to ops.alert.activity.v1, from
// which every replica's alert feed hands it to its streams. The audit row
// is in PostgreSQL already, whatever happens here: when the broker does not
// take the record, the activity goes to this replica's streams alone, and
// the error says so.
func (s *Server) publishActivity(ctx context.Context, ep store.Episode, out store.Activity) error {
	data, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("alert activity %d: %w", out.ID, err)
	}
	rec := tables.ActivityRecord{Tenant: ep.Tenant, Host: ep.Host, Severity: ep.Severity, State: ep.State,
		EpisodeID: ep.EpisodeID, ID: out.ID, Activity: data, Offset: -1}
	if s.opts.Producer == nil {
		s.localActivity(rec)
		return nil // one replica alone: its streams are all there are
	}
	err = s.produceActivity(ctx, rec)
	if err != nil {
		s.unpublished.Inc()
		s.log.Warn("alert activity not published: only this replica's streams have it",
			"tenant", ep.Tenant, "episode", ep.EpisodeID, "activity", out.ID, "err", err)
		s.localActivity(rec)
	}
	return err
}

func (s *Server) produceActivity(ctx context.Context, rec tables.ActivityRecord) error {
	v, err := tables.EncodeActivity(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.IngestTimeout)
	defer cancel()
	r := &kgo.Record{Topic: tables.ActivityTopic, Key: []byte(tables.ActivityKey(rec.Tenant, rec.EpisodeID)), Value: v}
	if err := s.opts.Producer.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("publishing to %s: %w", tables.ActivityTopic, err)
	}
	return nil
}

// localActivity sends rec to this replica's streams (the hub sends one
// activity once, should the topic bring it too). json.Marshal wrote its
// activity on one line, as a stream's data line needs it.
func (s *Server) localActivity(rec tables.ActivityRecord) {
	if s.opts.Hub != nil {
		s.opts.Hub.PublishActivity(rec)
	}
}

// alertActivity serves GET /alerts/{id}/activity.
func (s *Server) alertActivity(c *fiber.Ctx) error {
	ep, err := s.activityEpisode(c)
	if err != nil {
		return err
	}
	as, err := s.activityStore()
	if err != nil {
		return err
	}
	list, err := as.AlertActivity(c.UserContext(), ep.Tenant, ep.EpisodeID)
	if err != nil {
		return err
	}
	resp := activityResponse{Tenant: ep.Tenant, EpisodeID: ep.EpisodeID, State: ep.State, Activity: list}
	now := time.Now()
	for i := range list {
		switch a := &list[i]; a.Kind {
		case store.ActivityAck:
			resp.Acknowledged = a
		case store.ActivityAssign:
			resp.Assignee = a.Assignee
		}
	}
	if ack := resp.Acknowledged; ack != nil && (ended(ep) || ack.ExpiresAt != nil && !now.Before(*ack.ExpiresAt)) {
		resp.Acknowledged = nil
	}
	return c.JSON(resp)
}
