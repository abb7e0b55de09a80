package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
)

// backtestRulesInForce are the rules the replicas run in these tests: their
// catalog is what a single expression may read.
const backtestRulesInForce = `metrics:
  - name: cpu_load
    kind: gauge
    unit: percent
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
`

func rulesInForce(t testing.TB) func() *rules.RuleSet {
	rs, err := rules.Parse("rules.yml", []byte(backtestRulesInForce), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return func() *rules.RuleSet { return rs }
}

// backtestT0 is where the test history starts.
var backtestT0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// hotHistory is cpu_load of host of tenant every 10 s for 30 minutes from
// backtestT0: 50, then 95 from minute 10 to 20, then 50 again.
func hotHistory(tenant, host string) []*tables.Signal {
	var out []*tables.Signal
	for s := 0; s < 30*60; s += 10 {
		v := 50.0
		if s >= 10*60 && s < 20*60 {
			v = 95
		}
		ts := backtestT0.Add(time.Duration(s) * time.Second)
		out = append(out, &tables.Signal{Tenant: tenant, Host: host, Origin: tables.Origin{Partition: -1},
			Samples: []tables.Sample{{Metric: "cpu_load", Unit: "percent", Value: v, TsMicro: ts.UnixMicro()}}})
	}
	return out
}

// sliceHistory is a history of signals kept in memory. It selects by
// tenant, host (empty: every one) and time as the store does, unless
// leaky, when it returns every signal of the range whatever the tenant
// and host (a store bug the API must not pass on). block holds every scan until its context ends.
type sliceHistory struct {
	signals []*tables.Signal
	leaky   bool
	block   bool

	mu        sync.Mutex
	scans     []store.SignalScan
	started   chan struct{}
	cancelled chan struct{}
}

func (h *sliceHistory) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	h.mu.Lock()
	h.scans = append(h.scans, q)
	h.mu.Unlock()
	if h.block {
		h.started <- struct{}{}
		<-ctx.Done()
		h.cancelled <- struct{}{}
		return ctx.Err()
	}
	for _, sig := range h.signals {
		if err := ctx.Err(); err != nil {
			return err
		}
		ts := time.UnixMicro(sig.Samples[0].TsMicro)
		if ts.Before(q.From) || !ts.Before(q.To) {
			continue
		}
		if !h.leaky && ((q.Tenant != "" && sig.Tenant != q.Tenant) || (q.Host != "" && sig.Host != q.Host)) {
			continue
		}
		if err := fn(sig); err != nil {
			return err
		}
	}
	return nil
}

func (h *sliceHistory) scanned() []store.SignalScan {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]store.SignalScan(nil), h.scans...)
}

// backtestAnswer is the part of POST /rules/backtest's answer the tests read.
type backtestAnswer struct {
	Tenant   string
	Episodes int
	Fired    int
	Spans    []struct {
		AlertName string    `json:"alertname"`
		Tenant    string    `json:"tenant"`
		Host      string    `json:"host"`
		PendingAt time.Time `json:"pending_at"`
		FiringAt  time.Time `json:"firing_at"`
		EndAt     time.Time `json:"end_at"`
		EndState  string    `json:"end_state"`
		Carried   bool      `json:"carried"`
	}
	Transitions []struct {
		State string
		Host  string
	}
	Truncated bool
	Stats     struct{ Samples int64 }
}

type problemAnswer struct {
	Status int
	Detail string
	Errors []struct {
		Line   int
		Reason string
		Detail string
	}
}

func backtestBody(fields map[string]string) string {
	b, _ := json.Marshal(fields)
	return string(b)
}

func decodeAs[T any](t *testing.T, r fullResponse) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	return v
}

func newBacktestServer(t *testing.T, h *sliceHistory, o api.Options) *api.Server {
	o.Logger, o.History, o.RulesInForce = quiet, h, rulesInForce(t)
	if o.Keys == nil {
		o.Keys = keysFor(t, "acme", "other")
	}
	return api.New(o)
}

// A rule that does not load is a 400 problem that names every problem: by
// line of the rule file, or by field of a single expression. Nothing is
// read from the history.
func TestBacktestRefusesRulesThatDoNotLoad(t *testing.T) {
	h := &sliceHistory{}
	srv := newBacktestServer(t, h, api.Options{})
	from := backtestT0.Format(time.RFC3339)
	f := func(name string, body map[string]string, wantDetail string, wantLine int) {
		t.Helper()
		body["from"] = from
		r := do(t, srv, "POST", "/rules/backtest", backtestBody(body), bearer("key-acme")...)
		if r.status != 400 || r.ctype != "application/problem+json" {
			t.Fatalf("%s: %d %s %s", name, r.status, r.ctype, r.body)
		}
		p := decodeAs[problemAnswer](t, r)
		if !strings.Contains(p.Detail, wantDetail) {
			t.Errorf("%s: detail %q lacks %q", name, p.Detail, wantDetail)
		}
		if wantLine > 0 && (len(p.Errors) == 0 || p.Errors[0].Line != wantLine || p.Errors[0].Reason != "invalid_rule") {
			t.Errorf("%s: errors %+v, want the first at line %d", name, p.Errors, wantLine)
		}
	}
	f("unknown metric in a file", map[string]string{"rules": "metrics:\n  - name: cpu_load\ngroups:\n  - name: g\n    rules:\n      - alert: A\n        expr: avg(\"mem\", \"1m\") > 1\n"},
		`line 7: alert "A": expr: unknown metric "mem"`, 7)
	f("not YAML", map[string]string{"rules": "groups: [\n"}, "the rules do not load", 0)
	f("bad for of an expression", map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "for": "soon"}, `the rules do not load: for: bad duration "soon"`, 0)
	f("unknown window of an expression", map[string]string{"expr": `avg("cpu_load", "7m") > 90`}, `expr: window "7m" is not a configured window`, 0)
	f("metric outside the catalog in force", map[string]string{"expr": `avg("mem_used", "1m") > 90`}, `expr: unknown metric "mem_used" (not among the metrics of the rules in force)`, 0)
	f("both forms", map[string]string{"expr": `last("cpu_load") > 1`, "rules": backtestRulesInForce}, "either rules", 0)
	f("neither", map[string]string{}, "rules (a rule file) or expr", 0)
	if n := len(h.scanned()); n != 0 {
		t.Fatalf("%d scans of the history for requests refused", n)
	}
}

// The range is required to start, ends by default now, and is at most
// BacktestMaxRange long.
func TestBacktestBoundsItsRange(t *testing.T) {
	h := &sliceHistory{}
	srv := newBacktestServer(t, h, api.Options{BacktestMaxRange: 24 * time.Hour})
	f := func(from, to, want string) {
		t.Helper()
		r := do(t, srv, "POST", "/rules/backtest", backtestBody(map[string]string{"expr": `last("cpu_load") > 90`, "from": from, "to": to}), bearer("key-acme")...)
		if p := decodeAs[problemAnswer](t, r); r.status != 400 || !strings.Contains(p.Detail, want) {
			t.Fatalf("from %q to %q: %d %s, want 400 with %q", from, to, r.status, r.body, want)
		}
	}
	f("", "", "from is required")
	f("2026-03-02T10:00:00Z", "2026-03-02T10:00:00Z", "is not before to")
	f("2026-03-01T09:00:00Z", "2026-03-02T10:00:00Z", "longer than the limit of 24h0m0s of a backtest")
	f("yesterday", "", `from "yesterday" is neither RFC 3339`)
	f("2026-01-01T00:00:00Z", "", "longer than the limit") // to is now
	if n := len(h.scanned()); n != 0 {
		t.Fatalf("%d scans of the history for requests refused", n)
	}
}

// A tenant's backtest reads its tenant's samples only: a tenant key cannot
// name another tenant, the scan is of its own, and a history that returns
// another tenant's samples (a store bug) gets an error, not an answer that
// counts them.
func TestBacktestReadsItsTenantOnly(t *testing.T) {
	// The same host in both tenants: only other's is hot.
	signals := append(hotHistory("other", "web-1"), coolHistory("acme", "web-1")...)
	h := &sliceHistory{signals: signals}
	srv := newBacktestServer(t, h, api.Options{})
	body := backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "for": "1m", "host": "web-1",
		"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)})

	if r := do(t, srv, "POST", "/rules/backtest?tenant=other", body, bearer("key-acme")...); r.status != 403 {
		t.Fatalf("acme's key naming tenant other: %d %s", r.status, r.body)
	}
	r := do(t, srv, "POST", "/rules/backtest", body, bearer("key-acme")...)
	a := decodeAs[backtestAnswer](t, r)
	if r.status != 200 || a.Tenant != "acme" || a.Episodes != 0 || len(a.Spans) != 0 || a.Stats.Samples != 180 {
		t.Fatalf("acme's backtest: %d %s", r.status, r.body)
	}
	r = do(t, srv, "POST", "/rules/backtest?tenant=other", body, bearer("key-admin")...)
	if a = decodeAs[backtestAnswer](t, r); r.status != 200 || a.Tenant != "other" || a.Fired != 1 || a.Spans[0].Tenant != "other" {
		t.Fatalf("other's backtest by the admin: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "POST", "/rules/backtest", body, bearer("key-admin")...); r.status != 400 {
		t.Fatalf("the admin without a tenant: %d %s", r.status, r.body)
	}
	// The scan starts a lead-in before from: the longest window the rule
	// reads (1m) plus its for (1m), so that its windows are full at from
	// and an alert that held throughout is firing there.
	for _, q := range h.scanned() {
		if q.Host != "web-1" || !q.From.Equal(backtestT0.Add(-2*time.Minute)) || !q.To.Equal(backtestT0.Add(30*time.Minute)) {
			t.Fatalf("scan %+v", q)
		}
	}

	h.leaky = true
	r = do(t, srv, "POST", "/rules/backtest", body, bearer("key-acme")...)
	if r.status != 500 || strings.Contains(string(r.body), "other") || strings.Contains(string(r.body), "spans") {
		t.Fatalf("acme's backtest over a history that returns other's samples: %d %s", r.status, r.body)
	}
}

// coolHistory is cpu_load of host of tenant every 10 s for 30 minutes,
// never above 60.
func coolHistory(tenant, host string) []*tables.Signal {
	out := hotHistory(tenant, host)
	for _, sig := range out {
		sig.Samples[0].Value = 55
	}
	return out
}

// A backtest of a hot spell draws its episode: pending once the one-minute
// average passes 90, firing a minute later (for: 1m), resolved once it
// falls back under it.
func TestBacktestDrawsTheEpisodesOfAnExpression(t *testing.T) {
	h := &sliceHistory{signals: hotHistory("acme", "web-1")}
	srv := newBacktestServer(t, h, api.Options{})
	r := do(t, srv, "POST", "/rules/backtest", backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "for": "1m",
		"host": "web-1", "from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)}), bearer("key-acme")...)
	a := decodeAs[backtestAnswer](t, r)
	if r.status != 200 || a.Episodes != 1 || a.Fired != 1 || len(a.Spans) != 1 || a.Truncated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	sp := a.Spans[0]
	hotAt, coolAt := backtestT0.Add(10*time.Minute), backtestT0.Add(20*time.Minute)
	if sp.AlertName != "Preview" || sp.Host != "web-1" || sp.PendingAt.Before(hotAt) || sp.PendingAt.After(hotAt.Add(time.Minute)) ||
		!sp.FiringAt.Equal(sp.PendingAt.Add(time.Minute)) || sp.EndState != rules.StateResolved ||
		sp.EndAt.Before(coolAt) || sp.EndAt.After(coolAt.Add(time.Minute)) {
		t.Fatalf("span %+v, want pending from about %s, firing a minute later, resolved about %s", sp, hotAt, coolAt)
	}
	var states []string
	for _, tr := range a.Transitions {
		states = append(states, tr.State)
	}
	if strings.Join(states, ",") != "pending,firing,resolved" {
		t.Fatalf("transitions %v", states)
	}

	// The same rule as a rule file, with a higher threshold: nothing.
	file := strings.Replace(backtestRulesInForce, "> 90", "> 99", 1)
	r = do(t, srv, "POST", "/rules/backtest", backtestBody(map[string]string{"rules": file,
		"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)}), bearer("key-acme")...)
	if a = decodeAs[backtestAnswer](t, r); r.status != 200 || a.Episodes != 0 || len(a.Transitions) != 0 || a.Stats.Samples != 180 {
		t.Fatalf("a rule that never holds: %d %s", r.status, r.body)
	}
}

// An episode open at from (the lead-in left it firing) is a carried span
// that fired before from: whether it resolves in the range or fires
// through it, without a transition.
func TestBacktestDrawsEpisodesOpenAtFrom(t *testing.T) {
	h := &sliceHistory{signals: hotHistory("acme", "web-1")}
	srv := newBacktestServer(t, h, api.Options{})
	post := func(from, to time.Duration, leadIn string) (fullResponse, backtestAnswer) {
		t.Helper()
		r := do(t, srv, "POST", "/rules/backtest", backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "for": "1m",
			"host": "web-1", "from": backtestT0.Add(from).Format(time.RFC3339), "to": backtestT0.Add(to).Format(time.RFC3339),
			"lead_in": leadIn}), bearer("key-acme")...)
		if r.status != 200 {
			return r, backtestAnswer{}
		}
		return r, decodeAs[backtestAnswer](t, r)
	}
	// Hot from minute 10 to 20: firing from about 11, resolved about 20.
	r, a := post(15*time.Minute, 30*time.Minute, "10m")
	from := backtestT0.Add(15 * time.Minute)
	if r.status != 200 || a.Episodes != 1 || a.Fired != 1 || len(a.Spans) != 1 || len(a.Transitions) != 1 || a.Transitions[0].State != rules.StateResolved {
		t.Fatalf("from minute 15: %d %s", r.status, r.body)
	}
	if sp := a.Spans[0]; !sp.Carried || sp.FiringAt.IsZero() || !sp.FiringAt.Before(from) || sp.EndState != rules.StateResolved || !sp.EndAt.After(from) {
		t.Fatalf("from minute 15: span %+v, want carried, firing before from, resolved after", sp)
	}
	// Minutes 13 to 18: firing throughout, no transition.
	r, a = post(13*time.Minute, 18*time.Minute, "10m")
	if r.status != 200 || a.Episodes != 1 || a.Fired != 1 || len(a.Transitions) != 0 || !a.Spans[0].Carried || !a.Spans[0].EndAt.IsZero() {
		t.Fatalf("minutes 13 to 18: %d %s", r.status, r.body)
	}
	// lead_in 0: the source starts empty at from, nothing is open there;
	// the episode starts anew.
	if r, a = post(13*time.Minute, 18*time.Minute, "0"); r.status != 200 || a.Episodes != 1 || a.Spans[0].Carried ||
		!a.Spans[0].PendingAt.Equal(backtestT0.Add(13*time.Minute)) {
		t.Fatalf("lead_in 0: %d %s", r.status, r.body)
	}
	if r, _ = post(13*time.Minute, 18*time.Minute, "soon"); r.status != 400 || !strings.Contains(string(r.body), "lead_in") {
		t.Fatalf("lead_in soon: %d %s", r.status, r.body)
	}
}

// A backtest reads at most BacktestMaxSamples: past it, it stops and
// answers 422 rather than a replay that stopped halfway.
func TestBacktestStopsPastItsSampleLimit(t *testing.T) {
	h := &sliceHistory{signals: hotHistory("acme", "web-1")}
	body := backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`,
		"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)})
	srv := newBacktestServer(t, h, api.Options{BacktestMaxSamples: 100})
	r := do(t, srv, "POST", "/rules/backtest", body, bearer("key-acme")...)
	if p := decodeAs[problemAnswer](t, r); r.status != 422 || r.ctype != "application/problem+json" || !strings.Contains(p.Detail, "more than 100 samples") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	srv = newBacktestServer(t, h, api.Options{BacktestMaxSamples: 180})
	if r := do(t, srv, "POST", "/rules/backtest", body, bearer("key-acme")...); r.status != 200 {
		t.Fatalf("at the limit: %d %s", r.status, r.body)
	}
	// The samples of the lead-in count too: a range of one minute (6
	// samples) read with a lead-in of 20 minutes is past a limit of 100,
	// and the answer names lead_in as well as the range.
	body = backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "lead_in": "20m",
		"from": backtestT0.Add(25 * time.Minute).Format(time.RFC3339), "to": backtestT0.Add(26 * time.Minute).Format(time.RFC3339)})
	srv = newBacktestServer(t, h, api.Options{BacktestMaxSamples: 100})
	r = do(t, srv, "POST", "/rules/backtest", body, bearer("key-acme")...)
	if p := decodeAs[problemAnswer](t, r); r.status != 422 || !strings.Contains(p.Detail, "more than 100 samples") || !strings.Contains(p.Detail, "lead_in") {
		t.Fatalf("with a lead-in: %d %s", r.status, r.body)
	}
}

// A backtest runs in one of its tenant's query slots, and a client that
// goes away ends its scan at once (not at the query timeout), which frees
// the slot.
func TestBacktestEndsWhenItsClientGoesAway(t *testing.T) {
	h := &sliceHistory{block: true, started: make(chan struct{}, 4), cancelled: make(chan struct{}, 4)}
	srv := newBacktestServer(t, h, api.Options{QueryTimeout: time.Hour, QueriesPerTenant: 1})
	base := serve(t, srv)
	body := backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "from": backtestT0.Format(time.RFC3339),
		"to": backtestT0.Add(time.Hour).Format(time.RFC3339)})
	send := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/rules/backtest", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer key-acme")
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	}
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 1)
		go func() {
			// The slot of the one before is freed just after its scan
			// ended: a 429 until then.
			for {
				resp, err := send(ctx)
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 429 {
					errs <- err
					return
				}
				<-time.After(10 * time.Millisecond)
			}
		}()
		select {
		case <-h.started:
		case <-time.After(time.Minute):
			t.Fatalf("backtest %d: the scan did not start", i)
		}
		// The tenant's one slot is taken.
		wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := send(wait)
		stop()
		if err != nil || resp.StatusCode != 429 {
			t.Fatalf("a second backtest while the first runs: %v %v", resp, err)
		}
		resp.Body.Close()
		cancel() // the client closes its connection
		<-errs
		select {
		case <-h.cancelled:
		case <-time.After(time.Minute):
			t.Fatalf("backtest %d: the scan of a client that went away still runs", i)
		}
	}
	if n := len(h.scanned()); n != 2 {
		t.Fatalf("%d scans, want 2", n)
	}
}

// Over the real store: the same host in two tenants, hot in one only. A
// tenant's backtest replays its own rows and no other's; the sample bound
// holds on what PostgreSQL returns.
func TestBacktestOverPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []store.MetricRow
	for _, sigs := range [][]*tables.Signal{hotHistory("other", "web-1"), coolHistory("acme", "web-1")} {
		for _, sig := range sigs {
			sm := sig.Samples[0]
			rows = append(rows, store.MetricRow{Ts: time.UnixMicro(sm.TsMicro).UTC(), Tenant: sig.Tenant, SourceID: sig.Host, Metric: sm.Metric,
				Value: sm.Value, Unit: sm.Unit, Tags: []byte(`{}`), Meta: []byte(`{}`), IngestedAt: backtestT0})
		}
	}
	if _, err := st.WriteMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Store: st, Logger: quiet, Keys: keysFor(t, "acme", "other"), RulesInForce: rulesInForce(t)})
	body := backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "for": "1m",
		"from": backtestT0.Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)})
	r := do(t, srv, "POST", "/rules/backtest", body, bearer("key-acme")...)
	if a := decodeAs[backtestAnswer](t, r); r.status != 200 || a.Tenant != "acme" || a.Episodes != 0 || a.Stats.Samples != 180 {
		t.Fatalf("acme's backtest: %d %s", r.status, r.body)
	}
	r = do(t, srv, "POST", "/rules/backtest", body, bearer("key-other")...)
	a := decodeAs[backtestAnswer](t, r)
	if r.status != 200 || a.Fired != 1 || a.Stats.Samples != 180 || a.Spans[0].Tenant != "other" || a.Spans[0].Host != "web-1" {
		t.Fatalf("other's backtest: %d %s", r.status, r.body)
	}
	if sp := a.Spans[0]; sp.PendingAt.Before(backtestT0.Add(10*time.Minute)) || !sp.FiringAt.Equal(sp.PendingAt.Add(time.Minute)) {
		t.Fatalf("other's span %+v", sp)
	}
	small := api.New(api.Options{Store: st, Logger: quiet, Keys: keysFor(t, "acme", "other"), RulesInForce: rulesInForce(t), BacktestMaxSamples: 179})
	if r := do(t, small, "POST", "/rules/backtest", body, bearer("key-acme")...); r.status != 422 {
		t.Fatalf("over the sample bound: %d %s", r.status, r.body)
	}
}

// A backtest's range ends now at the latest: the sources' timers run to
// its end, and time after now has not happened (no-data alerts would fire
// in it, firing episodes run on through it).
func TestBacktestRangeEndsNowAtTheLatest(t *testing.T) {
	h := &sliceHistory{}
	srv := newBacktestServer(t, h, api.Options{})
	now := time.Now()
	r := do(t, srv, "POST", "/rules/backtest", backtestBody(map[string]string{"expr": `last("cpu_load") > 90`,
		"from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(24 * time.Hour).Format(time.RFC3339)}), bearer("key-acme")...)
	scans := h.scanned()
	if r.status != 200 || len(scans) != 1 || scans[0].To.After(time.Now()) {
		t.Fatalf("%d %s, scans %+v", r.status, r.body, scans)
	}
}

// The lead-in a backtest takes by default (the rules' window, for and
// keep_firing_for) is bounded as one asked for is: at most
// BacktestMaxRange before from.
func TestBacktestBoundsItsDefaultLeadIn(t *testing.T) {
	h := &sliceHistory{signals: hotHistory("acme", "web-1")}
	srv := newBacktestServer(t, h, api.Options{BacktestMaxRange: time.Hour})
	body := backtestBody(map[string]string{"expr": `avg("cpu_load", "1m") > 90`, "for": "3h", "host": "web-1",
		"from": backtestT0.Add(10 * time.Minute).Format(time.RFC3339), "to": backtestT0.Add(30 * time.Minute).Format(time.RFC3339)})
	if r := do(t, srv, "POST", "/rules/backtest", body, bearer("key-acme")...); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, q := range h.scanned() {
		if !q.From.Equal(backtestT0.Add(10*time.Minute - time.Hour)) {
			t.Fatalf("scan %+v, want a lead-in of at most an hour", q)
		}
	}
}
