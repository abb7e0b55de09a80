package api

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/eventops/eventops/store"
)

// MaxPoints bounds the points of one series in a response; MaxTotalPoints
// bounds the points of a whole response; MaxTagFilters bounds tag.K=V.
const (
	MaxPoints      = 11_000
	MaxTotalPoints = 200_000
	MaxTagFilters  = 16
	// MaxStep is the widest downsampling bucket (366 days).
	MaxStep = 366 * 24 * time.Hour
)

// seriesResponse is the body of GET /metrics/{name}.
type seriesResponse struct {
	Tenant string         `json:"tenant"`
	Host   string         `json:"host,omitempty"`
	Name   string         `json:"name"`
	From   *time.Time     `json:"from,omitempty"`
	To     *time.Time     `json:"to,omitempty"`
	Step   string         `json:"step,omitempty"`
	Agg    string         `json:"agg,omitempty"`
	Series []store.Series `json:"series"`
}

func (s *Server) metricSeries(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant", "host", "from", "to", "step", "agg", "limit"}, "tag."); err != nil {
		return err
	}
	tenant, err := s.requestTenant(c)
	if err != nil {
		return err
	}
	q, err := parseSeriesQuery(c, tenant)
	if err != nil {
		return err
	}
	if err := s.boundQueryRange(&q, time.Now()); err != nil {
		return err
	}
	series, err := s.opts.Store.QuerySeries(c.UserContext(), q)
	if errors.Is(err, store.ErrTooManyPoints) {
		return badRequest("the query matches more than %d points: narrow it with host, tag filters, from and to, a larger step or a smaller limit", MaxTotalPoints)
	}
	if err != nil {
		return err
	}
	resp := seriesResponse{Tenant: q.Tenant, Host: q.Host, Name: q.Name, Series: series}
	if !q.From.IsZero() {
		resp.From = &q.From
	}
	if !q.To.IsZero() {
		resp.To = &q.To
	}
	if q.Step > 0 {
		resp.Step, resp.Agg = q.Step.String(), q.Agg
	}
	return c.JSON(resp)
}

// parseSeriesQuery reads the parameters of GET /metrics/{name} for tenant.
func parseSeriesQuery(c *fiber.Ctx, tenant string) (store.SeriesQuery, error) {
	q := store.SeriesQuery{
		Tenant:   tenant,
		Host:     strings.Clone(c.Query("host")),
		Name:     strings.Clone(c.Params("name")),
		MaxTotal: MaxTotalPoints,
	}
	if !validName(q.Name) {
		return q, badRequest("metric name %q must be letters, digits, '_' or ':' (at most 128)", q.Name)
	}
	if len(q.Host) > 256 {
		return q, badRequest("host is longer than 256 bytes")
	}
	var err error
	if q.From, q.To, err = parseRange(c); err != nil {
		return q, err
	}
	if step := c.Query("step"); step != "" {
		if q.Step, err = parseStep(step); err != nil {
			return q, err
		}
		q.Agg = strings.Clone(c.Query("agg", "avg"))
		if !contains(store.Aggregations(), q.Agg) {
			return q, badRequest("unknown aggregation %q (use one of %s)", q.Agg, strings.Join(store.Aggregations(), ", "))
		}
		if q.From.IsZero() {
			return q, badRequest("step needs a from time")
		}
		to := q.To
		if to.IsZero() {
			to = time.Now()
		}
		if n := to.Sub(q.From) / q.Step; n > MaxPoints {
			return q, badRequest("step %s is too small for the range %s: it would make %d points, more than %d",
				q.Step, to.Sub(q.From).Round(time.Second), n, MaxPoints)
		}
	} else if c.Query("agg") != "" {
		return q, badRequest("agg needs a step")
	}
	q.Limit = MaxPoints
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxPoints {
			return q, badRequest("limit %q must be a whole number from 1 to %d", l, MaxPoints)
		}
		q.Limit = n
	}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		key, ok := strings.CutPrefix(string(k), "tag.")
		if !ok || err != nil {
			return
		}
		switch _, dup := q.Tags[key]; {
		case key == "":
			err = badRequest("tag filter %q names no tag: use tag.KEY=VALUE", string(k))
		case dup:
			err = badRequest("tag filter %q is given more than once", string(k))
		case len(q.Tags) == MaxTagFilters:
			err = badRequest("more than %d tag filters", MaxTagFilters)
		case len(key) > 256 || len(v) > 1024:
			err = badRequest("tag filter %q is too long (keys at most 256 bytes, values 1024)", string(k))
		default:
			if q.Tags == nil {
				q.Tags = map[string]string{}
			}
			q.Tags[key] = string(v)
		}
	})
	return q, err
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ':') {
			return false
		}
	}
	return true
}

// parseTime reads RFC 3339 or Unix seconds (with a fraction).
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && f >= 0 && f < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, badRequest("%s %q is neither RFC 3339 (2025-10-21T10:00:00Z) nor Unix seconds", name, v)
}

// parseStep reads a Go duration ("30s", "5m") or seconds ("30").
func parseStep(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, badRequest("step %q is not a duration (30s, 5m, 1h) or a number of seconds", v)
		}
		if f > MaxStep.Seconds() {
			return 0, badRequest("step %q must be at most %s", v, MaxStep)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < time.Second {
		return 0, badRequest("step %q must be at least 1s", v)
	}
	if d > MaxStep {
		return 0, badRequest("step %q must be at most %s", v, MaxStep)
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
