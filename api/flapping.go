package api

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
)

// FlappingReader reads the alerts the notify stage holds as flapping.
type FlappingReader interface {
	TenantFlappingAlerts(ctx context.Context, tenant string, limit int) ([]store.FlapState, error)
}

// MaxFlappingAlerts bounds the answer of GET /flapping.
const MaxFlappingAlerts = 1000

// flappingAlert is one alert the notify stage holds as flapping, as it
// last recorded it.
type flappingAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	// Status is the last status the notify stage saw.
	Status string `json:"status"`
	// Changes are the state changes it counts within Window.
	Changes    int       `json:"changes"`
	Window     string    `json:"window"`
	LastChange time.Time `json:"last_change"`
	// SettlesAt is when it stops flapping without another change; the
	// notify stage tells it then (a notify stage that is behind or down
	// tells it later, and until then the alert is listed).
	SettlesAt time.Time `json:"settles_at"`
	// UpdatedAt is when the notify stage recorded this state.
	UpdatedAt time.Time `json:"updated_at"`
}

type flappingResponse struct {
	Tenant string          `json:"tenant"`
	Alerts []flappingAlert `json:"alerts"`
}

// flappingReader returns Options.Notifications when it reads the flapping
// state too, or the query store when it does.
func (s *Server) flappingReader() (FlappingReader, error) {
	if r, ok := s.opts.Notifications.(FlappingReader); ok {
		return r, nil
	}
	if r, ok := s.opts.Store.(FlappingReader); ok {
		return r, nil
	}
	return nil, fmt.Errorf("%w: the flapping state is not served by this replica", ErrUnavailable)
}

// flappingAlerts serves GET /flapping: a tenant's alerts the notify stage
// holds as flapping now (their notifications held until they settle),
// the latest recorded first.
func (s *Server) flappingAlerts(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant"}); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	r, err := s.flappingReader()
	if err != nil {
		return err
	}
	states, err := r.TenantFlappingAlerts(c.UserContext(), tenant, MaxFlappingAlerts)
	if err != nil {
		return err
	}
	resp := flappingResponse{Tenant: tenant, Alerts: make([]flappingAlert, 0, len(states))}
	for _, f := range states {
		var st notify.FlapState
		if json.Unmarshal(f.State, &st) != nil || !st.Flapping {
			continue
		}
		a := flappingAlert{Fingerprint: f.Fingerprint, Labels: st.Labels, Status: st.Status, Changes: len(st.Changes),
			Window: rules.FormatDuration(st.Window), SettlesAt: st.QuietAt().UTC(), UpdatedAt: f.UpdatedAt}
		if a.Labels == nil && st.Held != nil {
			a.Labels = st.Held.Labels
		}
		if n := len(st.Changes); n > 0 {
			a.LastChange = st.Changes[n-1].UTC()
		}
		resp.Alerts = append(resp.Alerts, a)
	}
	return c.JSON(resp)
}
