package api

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/store"
)

// SilenceStore keeps silences.
type SilenceStore interface {
	CreateSilence(ctx context.Context, s store.Silence) (store.Silence, error)
	QuerySilences(ctx context.Context, q store.SilenceQuery) ([]store.Silence, error)
	ExpireSilence(ctx context.Context, tenant, id string) (store.Silence, error)
}

// Limits of silences.
const (
	// DefaultMaxSilenceMatchers bounds the matchers of one silence.
	DefaultMaxSilenceMatchers = 32
	// DefaultMaxSilences bounds a tenant's pending and active silences.
	DefaultMaxSilences = 1000
	maxSilenceBody     = 64 << 10
	maxCreatedBy       = 256
	maxComment         = 4096
)

// silenceJSON is a silence with its state now.
type silenceJSON struct {
	store.Silence
	Status string `json:"status"`
}

func withStatus(s store.Silence, now time.Time) silenceJSON {
	return silenceJSON{Silence: s, Status: s.State(now)}
}

type silenceRequest struct {
	Tenant    string     `json:"tenant"`
	Matchers  []string   `json:"matchers"`
	StartsAt  *time.Time `json:"starts_at"`
	EndsAt    *time.Time `json:"ends_at"`
	CreatedBy string     `json:"created_by"`
	Comment   string     `json:"comment"`
}

// silences returns the silence store: Options.Silences, or the query store
// when it keeps silences too (one PostgreSQL holds both).
func (s *Server) silences() (SilenceStore, error) {
	return optionalStore(s.opts.Silences, s.opts.Store, "silences")
}

// optionalStore is what serves a part of the API that a replica may lack:
// the store given for it, else the query store when it serves that part
// too, else ErrUnavailable naming what (plural: "silences are not served").
func optionalStore[T any](given T, queries Queries, what string) (T, error) {
	if any(given) != nil {
		return given, nil
	}
	if t, ok := any(queries).(T); ok {
		return t, nil
	}
	verb := "is"
	if strings.HasSuffix(what, "s") {
		verb = "are"
	}
	return given, fmt.Errorf("%w: %s %s not served by this replica", ErrUnavailable, what, verb)
}

// createSilence serves POST /silences.
func (s *Server) createSilence(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant"}); err != nil {
		return err
	}
	if err := requireContentType(c, fiber.MIMEApplicationJSON); err != nil {
		return err
	}
	body, err := readBody(c, maxSilenceBody, false)
	if err != nil {
		return err
	}
	var req silenceRequest
	if err := decodeBody(body, &req, "a silence"); err != nil {
		return err
	}
	named := req.Tenant
	if q := c.Query("tenant"); q != "" {
		if named != "" && named != q {
			return badRequest("tenant %q of the body differs from the tenant parameter %q", named, q)
		}
		named = q
	}
	tenant, err := s.requestTenantOf(c, named)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	sil, err := parseSilence(req, tenant, now, s.opts.MaxSilenceMatchers)
	if err != nil {
		return err
	}
	// Who made it is the key's name (its ID without one), not what the
	// client says; created_by stays the client's label for itself.
	if a, _ := s.requestAccess(c); a.key.ID != "" {
		by := a.key.Name
		if by == "" {
			by = "key " + a.key.ID
		}
		if sil.CreatedBy != by {
			by += " (" + sil.CreatedBy + ")"
		}
		if len(by) > 2*maxCreatedBy {
			by = strings.ToValidUTF8(by[:2*maxCreatedBy], "")
		}
		sil.CreatedBy = by
	}
	ss, err := s.silences()
	if err != nil {
		return err
	}
	if err := s.checkSilenceCount(c.UserContext(), ss, tenant); err != nil {
		return err
	}
	out, err := ss.CreateSilence(c.UserContext(), sil)
	if err != nil {
		return err
	}
	c.Location("/silences/" + out.ID + "?tenant=" + url.QueryEscape(tenant))
	return c.Status(fiber.StatusCreated).JSON(withStatus(out, now))
}

// parseSilence checks a request; every error names the field.
func parseSilence(req silenceRequest, tenant string, now time.Time, maxMatchers int) (store.Silence, error) {
	sil := store.Silence{Tenant: tenant, CreatedBy: req.CreatedBy, Comment: req.Comment}
	if len(req.Matchers) == 0 {
		return sil, badRequest(`matchers: at least one is required (e.g. ["alertname=\"HighCPU\""])`)
	}
	var all notify.Matchers
	for i, m := range req.Matchers {
		ms, err := notify.ParseMatchers(m)
		if err != nil {
			return sil, badRequest("matchers[%d]: %v", i, err)
		}
		all = append(all, ms...)
	}
	if len(all) > maxMatchers {
		return sil, badRequest("matchers: %d matchers, at most %d", len(all), maxMatchers)
	}
	if all.MatchesEverything() {
		return sil, badRequest("matchers: at least one matcher must not match an empty value (this silence would mute every alert of %s)", tenant)
	}
	// The silence is its tenant's already: a matcher on the tenant label
	// narrows nothing.
	var narrowing notify.Matchers
	for _, m := range all {
		if m.Name != "tenant" {
			narrowing = append(narrowing, m)
		}
	}
	if !narrowing.Narrow() {
		return sil, badRequest(`matchers: at least one must name the values it silences (name="value", or name=~"a|b"): this silence would mute nearly every alert of %s`, tenant)
	}
	sil.Matchers = all.Strings()
	sil.StartsAt = now
	if req.StartsAt != nil {
		sil.StartsAt = req.StartsAt.UTC()
	}
	if req.EndsAt == nil {
		return sil, badRequest("ends_at: is required (RFC 3339)")
	}
	sil.EndsAt = req.EndsAt.UTC()
	if !sil.EndsAt.After(sil.StartsAt) {
		return sil, badRequest("ends_at (%s) must be after starts_at (%s)", sil.EndsAt.Format(time.RFC3339), sil.StartsAt.Format(time.RFC3339))
	}
	if !sil.EndsAt.After(now) {
		return sil, badRequest("ends_at (%s) is in the past", sil.EndsAt.Format(time.RFC3339))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"created_by", sil.CreatedBy, maxCreatedBy}, {"comment", sil.Comment, maxComment}} {
		switch {
		case strings.TrimSpace(f.v) == "":
			return sil, badRequest("%s: is required", f.name)
		case len(f.v) > f.max:
			return sil, badRequest("%s: longer than %d bytes", f.name, f.max)
		case !validText([]byte(f.v)):
			return sil, badRequest("%s: not valid UTF-8 text without NUL bytes", f.name)
		}
	}
	return sil, nil
}

type silencesResponse struct {
	Tenant   string        `json:"tenant"`
	Silences []silenceJSON `json:"silences"`
}

// checkSilenceCount refuses a new silence when the tenant already has
// MaxSilences pending or active (429): every transition of the tenant is
// checked against all of them.
func (s *Server) checkSilenceCount(ctx context.Context, ss SilenceStore, tenant string) error {
	n := 0
	for _, state := range []string{store.SilencePending, store.SilenceActive} {
		list, err := ss.QuerySilences(ctx, store.SilenceQuery{Tenant: tenant, State: state, Limit: s.opts.MaxSilences + 1})
		if err != nil {
			return err
		}
		n += len(list)
	}
	if n >= s.opts.MaxSilences {
		return &Problem{Type: "about:blank", Title: "Too Many Requests", Status: fiber.StatusTooManyRequests,
			Detail: fmt.Sprintf("tenant %q has %d pending or active silences, its limit: expire one (DELETE /silences/{id}) first", tenant, n)}
	}
	return nil
}

// listSilences serves GET /silences: a tenant's silences, newest first.
func (s *Server) listSilences(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant", "status"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	// The filter has the name of the field it filters on.
	q := store.SilenceQuery{Tenant: tenant, State: strings.Clone(c.Query("status"))}
	if q.State != "" && !contains(store.SilenceStates(), q.State) {
		return badRequest("unknown status %q (use one of %s)", q.State, strings.Join(store.SilenceStates(), ", "))
	}
	ss, err := s.silences()
	if err != nil {
		return err
	}
	list, err := ss.QuerySilences(c.UserContext(), q)
	if err != nil {
		return err
	}
	now := time.Now()
	resp := silencesResponse{Tenant: tenant, Silences: make([]silenceJSON, len(list))}
	for i, sil := range list {
		resp.Silences[i] = withStatus(sil, now)
	}
	return c.JSON(resp)
}

// expireSilence serves DELETE /silences/{id}: the silence ends now.
func (s *Server) expireSilence(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	if !validID(id) {
		return badRequest("silence id %q is not an id (letters, digits, '-' and '_', at most 128)", id)
	}
	ss, err := s.silences()
	if err != nil {
		return err
	}
	sil, err := ss.ExpireSilence(c.UserContext(), tenant, id)
	if errors.Is(err, store.ErrNoRows) {
		return fmt.Errorf("%w: tenant %s has no silence %s", ErrNotFound, tenant, id)
	}
	if err != nil {
		return err
	}
	return c.JSON(withStatus(sil, time.Now()))
}
