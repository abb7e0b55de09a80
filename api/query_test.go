package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var t0 = time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)

// hostsOf are the seeded sources of each tenant; "other" is the tenant no
// acme answer may ever show.
var hostsOf = map[string][]string{"acme": {"host-a", "host-b"}, "other": {"secret-1"}}

// seeded returns a migrated store holding two tenants' metrics, alerts and
// sources.
func seeded(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []store.MetricRow
	add := func(tenant, host, metric, tags string, i int, v float64) {
		rows = append(rows, store.MetricRow{Ts: t0.Add(time.Duration(i) * time.Minute), Tenant: tenant, SourceID: host,
			Metric: metric, Value: v, Unit: "percent", Tags: []byte(tags), Meta: []byte(`{"owner":"team-` + tenant + `"}`), IngestedAt: t0})
	}
	for i := range 10 {
		add("acme", "host-a", "cpu_load", `{"env":"prod"}`, i, float64(90+i))
		add("acme", "host-a", "cpu_user", `{"env":"prod"}`, i, float64(i))
		add("acme", "host-b", "cpu_load", `{"env":"dev"}`, i, float64(10+i))
		add("acme", "host-b", "cpufreq", `{"env":"dev"}`, i, 3000)
		add("other", "secret-1", "cpu_load", `{"env":"prod"}`, i, 666)
	}
	if _, err := s.WriteMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	var alerts []store.AlertRow
	for i := range 6 {
		for _, tenant := range []string{"acme", "other"} {
			host := hostsOf[tenant][i%len(hostsOf[tenant])]
			ep := fmt.Sprintf("%s-ep%d", tenant, i)
			v := 95.0
			for k, state := range []string{"pending", "firing", "resolved"}[:1+i%3] {
				ts := t0.Add(time.Duration(i)*time.Minute + time.Duration(k)*time.Second)
				alerts = append(alerts, store.AlertRow{Ts: ts, Tenant: tenant, SourceID: host, Metric: "cpu_load",
					Severity: []string{"critical", "warning"}[i%2], Rule: "HighCPU", Value: &v, Message: "msg of " + tenant,
					EpisodeID: ep, State: state, AlertName: "HighCPU", Labels: []byte(`{}`), Annotations: []byte(`{}`),
					Features: []byte(`{}`), StartsAt: &ts, Shadow: i == 3})
			}
		}
	}
	if _, err := s.WriteAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	return s
}

func newServer(s *store.Store) *api.Server {
	return api.New(api.Options{Store: s, Alerts: s, Sources: s, Logger: quiet})
}

type response struct {
	status int
	ctype  string
	body   []byte
}

func get(t testing.TB, srv *api.Server, target string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://localhost"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.App().Test(req, 30_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header.Get("Content-Type"), b}
}

type seriesBody struct {
	Tenant, Host, Name, Step, Agg string
	From, To                      *time.Time
	Series                        []struct {
		Host, Metric, Unit string
		Points             []struct {
			Ts    time.Time
			Value float64
		}
	}
}

func TestMetricSeriesParameters(t *testing.T) {
	// A query without from reads QueryMaxRange back from now: a range
	// that reaches the fixtures' time.
	s := seeded(t)
	srv := api.New(api.Options{Store: s, Alerts: s, Sources: s, Logger: quiet, QueryMaxRange: time.Since(t0) + 24*time.Hour})
	f := func(target string, check func(b seriesBody) error) {
		t.Helper()
		r := get(t, srv, target)
		if r.status != 200 || r.ctype != "application/json" {
			t.Fatalf("%s: %d %s %s", target, r.status, r.ctype, r.body)
		}
		var b seriesBody
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if err := check(b); err != nil {
			t.Fatalf("%s: %v\n%s", target, err, r.body)
		}
	}
	shape := func(want string) func(b seriesBody) error {
		return func(b seriesBody) error {
			var got []string
			for _, s := range b.Series {
				got = append(got, fmt.Sprintf("%s/%s:%d", s.Host, s.Metric, len(s.Points)))
			}
			if g := strings.Join(got, " "); g != want {
				return fmt.Errorf("series %s, want %s", g, want)
			}
			return nil
		}
	}
	// The original quick-start query, unchanged: the family, raw points.
	f("/metrics/cpu?tenant=acme&host=host-a", func(b seriesBody) error {
		if b.Tenant != "acme" || b.Host != "host-a" || b.Name != "cpu" || b.Step != "" || b.From == nil || b.To == nil || b.From.After(t0) {
			return fmt.Errorf("header %+v", b)
		}
		s := b.Series[0]
		if s.Unit != "percent" || !s.Points[0].Ts.Equal(t0) || s.Points[0].Value != 90 || !s.Points[9].Ts.Equal(t0.Add(9*time.Minute)) {
			return fmt.Errorf("first series %+v", s)
		}
		return shape("host-a/cpu_load:10 host-a/cpu_user:10")(b)
	})
	f("/metrics/cpu?tenant=acme", shape("host-a/cpu_load:10 host-a/cpu_user:10 host-b/cpu_load:10"))
	f("/metrics/cpu_load?tenant=acme", shape("host-a/cpu_load:10 host-b/cpu_load:10"))
	f("/metrics/cpufreq?tenant=acme", shape("host-b/cpufreq:10"))
	f("/metrics/nothing?tenant=acme", shape(""))
	f("/metrics/cpu?tenant=nobody", shape(""))
	// Tag filters.
	f("/metrics/cpu?tenant=acme&tag.env=dev", shape("host-b/cpu_load:10"))
	f("/metrics/cpu?tenant=acme&tag.env=prod&host=host-a", shape("host-a/cpu_load:10 host-a/cpu_user:10"))
	f("/metrics/cpu?tenant=acme&tag.env=staging", shape(""))
	f("/metrics/cpu?tenant=acme&tag.missing=x", shape(""))
	// from and to, as RFC 3339 and as Unix seconds: [from, to).
	for _, q := range []string{
		"from=2025-10-21T10:02:00Z&to=2025-10-21T10:05:00Z",
		fmt.Sprintf("from=%d&to=%d", t0.Add(2*time.Minute).Unix(), t0.Add(5*time.Minute).Unix()),
		"from=2025-10-21T12:02:00%2B02:00&to=2025-10-21T10:05:00.000Z",
	} {
		f("/metrics/cpu_load?tenant=acme&host=host-a&"+q, func(b seriesBody) error {
			p := b.Series[0].Points
			if len(p) != 3 || !p[0].Ts.Equal(t0.Add(2*time.Minute)) || b.From == nil || !b.From.Equal(t0.Add(2*time.Minute)) {
				return fmt.Errorf("points %+v", p)
			}
			return nil
		})
	}
	f("/metrics/cpu_load?tenant=acme&host=host-a&from=1761040920.5", func(b seriesBody) error {
		if p := b.Series[0].Points; len(p) != 7 || !p[0].Ts.Equal(t0.Add(3*time.Minute)) {
			return fmt.Errorf("points %+v", p)
		}
		return nil
	})
	// limit keeps the newest points of each series.
	f("/metrics/cpu?tenant=acme&limit=2", func(b seriesBody) error {
		for _, s := range b.Series {
			if len(s.Points) != 2 || !s.Points[1].Ts.Equal(t0.Add(9*time.Minute)) {
				return fmt.Errorf("series %+v", s)
			}
		}
		return nil
	})
	// Every aggregation over 5-minute buckets of host-a's 90..99.
	want := map[string][2]float64{"avg": {92, 97}, "min": {90, 95}, "max": {94, 99}, "sum": {460, 485}, "count": {5, 5}, "last": {94, 99}}
	for agg, w := range want {
		f("/metrics/cpu_load?tenant=acme&host=host-a&from=2025-10-21T10:00:00Z&to=2025-10-21T10:10:00Z&step=5m&agg="+agg, func(b seriesBody) error {
			p := b.Series[0].Points
			if b.Step != "5m0s" || b.Agg != agg || len(p) != 2 || p[0].Value != w[0] || p[1].Value != w[1] || !p[1].Ts.Equal(t0.Add(5*time.Minute)) {
				return fmt.Errorf("%s: %+v", agg, b)
			}
			return nil
		})
	}
	// step in seconds, agg defaults to avg.
	f("/metrics/cpu_load?tenant=acme&host=host-b&from=1761040800&to=2025-10-21T11:00:00Z&step=600", func(b seriesBody) error {
		if p := b.Series[0].Points; b.Agg != "avg" || len(p) != 1 || p[0].Value != 14.5 {
			return fmt.Errorf("%+v", b)
		}
		return nil
	})
}

// problem checks that target fails with status and a detail containing
// every one of wants.
func problem(t *testing.T, srv *api.Server, target string, status int, wants ...string) {
	t.Helper()
	r := get(t, srv, target)
	if r.status != status || r.ctype != "application/problem+json" {
		t.Fatalf("%s: %d %s %s, want %d problem", target, r.status, r.ctype, r.body, status)
	}
	var p api.Problem
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != status || p.Title == "" {
		t.Fatalf("%s: problem %s (%v)", target, r.body, err)
	}
	for _, w := range wants {
		if !strings.Contains(p.Detail, w) {
			t.Fatalf("%s: detail %q lacks %q", target, p.Detail, w)
		}
	}
}

func TestMetricSeriesBadParameters(t *testing.T) {
	srv := newServer(seeded(t))
	for _, c := range []struct {
		target string
		wants  []string
	}{
		{"/metrics/cpu", []string{"tenant is required"}},
		{"/metrics/cpu?tenant=", []string{"tenant is required"}},
		{"/metrics/cpu%3Bdrop?tenant=acme", []string{"metric name", "cpu%3Bdrop"}},
		{"/metrics/cpu%27--?tenant=acme", []string{"metric name"}},
		{"/metrics/" + strings.Repeat("m", 129) + "?tenant=acme", []string{"metric name"}},
		{"/metrics/cpu?tenant=acme&from=yesterday", []string{`from "yesterday" is neither RFC 3339`}},
		{"/metrics/cpu?tenant=acme&to=-5", []string{`to "-5"`}},
		{"/metrics/cpu?tenant=acme&from=2025-10-21T11:00:00Z&to=2025-10-21T10:00:00Z", []string{"bad time range", "must be before"}},
		{"/metrics/cpu?tenant=acme&from=1761040800&to=1761040800", []string{"bad time range"}},
		{"/metrics/cpu?tenant=acme&from=1761040800&step=1m&agg=median", []string{`unknown aggregation "median"`, "avg, min, max, sum, count, last"}},
		{"/metrics/cpu?tenant=acme&agg=max", []string{"agg needs a step"}},
		{"/metrics/cpu?tenant=acme&step=1m", []string{"step needs a from time"}},
		{"/metrics/cpu?tenant=acme&from=2025-10-01T00:00:00Z&to=2025-10-21T00:00:00Z&step=1m", []string{"step 1m0s is too small for the range", "28800 points"}},
		{"/metrics/cpu?tenant=acme&from=1761040800&step=500ms", []string{"at least 1s"}},
		{"/metrics/cpu?tenant=acme&from=1761040800&step=fast", []string{"not a duration"}},
		{"/metrics/cpu?tenant=acme&from=1761040800&step=1e300", []string{"at most"}},
		{"/metrics/cpu?tenant=acme&limit=0", []string{"limit \"0\" must be a whole number from 1 to 11000"}},
		{"/metrics/cpu?tenant=acme&limit=11001", []string{"limit"}},
		{"/metrics/cpu?tenant=acme&limit=ten", []string{"limit"}},
		{"/metrics/cpu?tenant=acme&hots=host-a", []string{`unknown parameter "hots"`}},
		{"/metrics/cpu?tenant=acme&host=a&host=b", []string{`"host" is given more than once`}},
		{"/metrics/cpu?tenant=acme&tag.=prod", []string{"names no tag"}},
		{"/metrics/cpu?tenant=acme&host=%00", []string{`parameter "host" is not valid UTF-8 text without NUL bytes`}},
		{"/metrics/cpu?tenant=%ff", []string{`parameter "tenant" is not valid UTF-8`}},
		{"/metrics/cpu?tenant=acme&tag.env=a&tag.env=b", []string{"given more than once"}},
	} {
		problem(t, srv, c.target, 400, c.wants...)
	}
	var many strings.Builder
	for i := range api.MaxTagFilters + 1 {
		fmt.Fprintf(&many, "&tag.k%d=v", i)
	}
	problem(t, srv, "/metrics/cpu?tenant=acme"+many.String(), 400, "more than 16 tag filters")
}

type alertsBody struct {
	Tenant     string
	Alerts     []store.Alert
	NextCursor string `json:"next_cursor"`
}

func TestAlertHistory(t *testing.T) {
	srv := newServer(seeded(t))
	page := func(target string) alertsBody {
		t.Helper()
		r := get(t, srv, target)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", target, r.status, r.body)
		}
		var b alertsBody
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Every page, newest first, through the cursors: acme has 1+2+3+1+2+3
	// transitions.
	var all []store.Alert
	target := "/alerts?tenant=acme&limit=4"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pages do not end")
		}
		b := page(target)
		all = append(all, b.Alerts...)
		if b.NextCursor == "" {
			break
		}
		target = "/alerts?tenant=acme&limit=4&cursor=" + url.QueryEscape(b.NextCursor)
	}
	if len(all) != 12 {
		t.Fatalf("%d alerts, want 12", len(all))
	}
	for i, a := range all {
		if a.Tenant != "acme" || a.Message != "msg of acme" {
			t.Fatalf("alert %+v", a)
		}
		if i > 0 && a.Ts.After(all[i-1].Ts) {
			t.Fatalf("not newest first: %v after %v", a.Ts, all[i-1].Ts)
		}
	}
	if all[0].EpisodeID != "acme-ep5" || all[0].State != "resolved" {
		t.Fatalf("newest %+v", all[0])
	}
	count := func(q string, want int) {
		t.Helper()
		if got := len(page("/alerts?tenant=acme&" + q).Alerts); got != want {
			t.Fatalf("%s: %d alerts, want %d", q, got, want)
		}
	}
	count("host=host-a", 6)
	count("host=host-b", 6)
	count("host=secret-1", 0)
	count("state=firing", 4)
	count("state=resolved&severity=critical", 1)
	count("severity=warning", 6)
	count("from=2025-10-21T10:03:00Z", 6)
	count("from=2025-10-21T10:01:00Z&to=1761041040", 6)
	// Episode 3 (one transition) is of a rule in shadow mode.
	count("shadow=only", 1)
	count("shadow=exclude", 11)
	count("shadow=only&state=pending", 1)
	if a := page("/alerts?tenant=acme&shadow=only").Alerts[0]; a.EpisodeID != "acme-ep3" || !a.Shadow {
		t.Fatalf("shadow alert %+v", a)
	}
	if r := get(t, srv, "/alerts?tenant=acme&shadow=exclude"); strings.Contains(string(r.body), `"shadow"`) {
		t.Fatalf("live alerts carry no shadow key: %s", r.body)
	}
	shadowFirst := page("/alerts?tenant=acme&shadow=exclude&limit=2")
	problem(t, srv, "/alerts?tenant=acme&limit=2&cursor="+url.QueryEscape(shadowFirst.NextCursor), 400, "cursor belongs to another query")
	if b := page("/alerts?tenant=acme&shadow=exclude&limit=2&cursor=" + url.QueryEscape(shadowFirst.NextCursor)); len(b.Alerts) != 2 {
		t.Fatalf("second page of shadow=exclude: %+v", b)
	}
	if b := page("/alerts?tenant=nobody"); len(b.Alerts) != 0 || b.Alerts == nil {
		t.Fatalf("unknown tenant: %+v", b)
	}

	first := page("/alerts?tenant=acme&limit=2")
	for _, c := range []struct {
		target string
		wants  []string
	}{
		{"/alerts", []string{"tenant is required"}},
		{"/alerts?tenant=acme&state=burning", []string{`unknown state "burning"`, "pending, firing, resolved, inactive"}},
		{"/alerts?tenant=acme&limit=1001", []string{"from 1 to 1000"}},
		{"/alerts?tenant=acme&limit=-1", []string{"limit"}},
		{"/alerts?tenant=acme&from=2025-10-21T11:00:00Z&to=2025-10-21T10:00:00Z", []string{"bad time range"}},
		{"/alerts?tenant=acme&to=soon", []string{`to "soon"`}},
		{"/alerts?tenant=acme&cursor=not-a-cursor", []string{"cursor is not valid"}},
		{"/alerts?tenant=acme&cursor=%7B%7D", []string{"cursor is not valid"}},
		{"/alerts?tenant=acme&cursor=eyJ2IjoxLCJxIjoieCJ9", []string{"cursor belongs to another query"}},
		{"/alerts?tenant=acme&limit=2&state=firing&cursor=" + url.QueryEscape(first.NextCursor), []string{"cursor belongs to another query"}},
		{"/alerts?tenant=other&limit=2&cursor=" + url.QueryEscape(first.NextCursor), []string{"cursor belongs to another query"}},
		{"/alerts?tenant=acme&sevrity=critical", []string{`unknown parameter "sevrity"`}},
		{"/alerts?tenant=acme&shadow=yes", []string{`unknown shadow "yes"`, "only or exclude"}},
	} {
		problem(t, srv, c.target, 400, c.wants...)
	}
}

func TestAlertEpisode(t *testing.T) {
	srv := newServer(seeded(t))
	r := get(t, srv, "/alerts/acme-ep2?tenant=acme")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var ep store.Episode
	if err := json.Unmarshal(r.body, &ep); err != nil {
		t.Fatal(err)
	}
	if ep.EpisodeID != "acme-ep2" || ep.State != "resolved" || ep.Host != "host-a" || len(ep.Transitions) != 3 ||
		ep.Transitions[0].State != "pending" || ep.Transitions[2].State != "resolved" || ep.StartsAt == nil {
		t.Fatalf("episode %s", r.body)
	}
	problem(t, srv, "/alerts/other-ep2?tenant=acme", 404, "no alert episode other-ep2")
	problem(t, srv, "/alerts/nope?tenant=acme", 404, "nope")
	problem(t, srv, "/alerts/acme-ep2", 400, "tenant is required")
	problem(t, srv, "/alerts/bad%21id?tenant=acme", 400, "is not an episode id")
	problem(t, srv, "/alerts/acme-ep2?tenant=acme&state=firing", 400, `unknown parameter "state"`)
}

func TestSourcesAndTenants(t *testing.T) {
	srv := newServer(seeded(t))
	var body struct {
		Tenant  string
		Sources []struct {
			Tenant, Host string
			FirstSeen    time.Time `json:"first_seen"`
			Meta         map[string]string
		}
		NextCursor string `json:"next_cursor"`
	}
	var hosts []string
	target := "/sources?tenant=acme&limit=1"
	for range 3 {
		r := get(t, srv, target)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		body.NextCursor = ""
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		for _, s := range body.Sources {
			if s.Tenant != "acme" || s.Meta["owner"] != "team-acme" || !s.FirstSeen.Equal(t0) {
				t.Fatalf("source %+v", s)
			}
			hosts = append(hosts, s.Host)
		}
		if body.NextCursor == "" {
			break
		}
		target = "/sources?tenant=acme&limit=1&cursor=" + url.QueryEscape(body.NextCursor)
	}
	if strings.Join(hosts, ",") != "host-a,host-b" {
		t.Fatalf("hosts %v", hosts)
	}
	r := get(t, srv, "/sources?tenant=acme")
	if !strings.Contains(string(r.body), `"last_seen":"2025-10-21T10:09:00Z"`) {
		t.Fatalf("last_seen missing: %s", r.body)
	}
	problem(t, srv, "/sources", 400, "tenant is required")
	problem(t, srv, "/sources?tenant=acme&limit=10001", 400, "from 1 to 10000")
	problem(t, srv, "/sources?tenant=acme&cursor=zzz", 400, "cursor is not valid")
	problem(t, srv, "/sources?tenant=acme&host=host-a", 400, `unknown parameter "host"`)

	r = get(t, srv, "/tenants")
	var tb struct{ Tenants []store.Tenant }
	if err := json.Unmarshal(r.body, &tb); err != nil || r.status != 200 {
		t.Fatalf("%d %s %v", r.status, r.body, err)
	}
	if len(tb.Tenants) != 2 || tb.Tenants[0].Tenant != "acme" || tb.Tenants[0].Sources != 2 || tb.Tenants[1].Tenant != "other" {
		t.Fatalf("tenants %+v", tb.Tenants)
	}
	problem(t, srv, "/tenants?tenant=acme", 400, `unknown parameter "tenant"`)
}

// A replica built without the history readers says so.
func TestHistoryUnavailableWithoutReaders(t *testing.T) {
	srv := api.New(api.Options{Logger: quiet})
	for _, target := range []string{"/alerts?tenant=acme", "/alerts/x?tenant=acme", "/sources?tenant=acme", "/tenants"} {
		problem(t, srv, target, 503)
	}
}
