package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
)

// world is generated data of several tenants. Every name of a tenant's
// data (hosts, metrics, episodes, rules, secrets) contains the tenant's
// name, so that finding a tenant's name in an answer finds its data.
type world struct {
	tenants []string
	hosts   map[string][]string
	metrics map[string][]string
	eps     map[string][]string
}

func genWorld(r *rand.Rand) world {
	w := world{hosts: map[string][]string{}, metrics: map[string][]string{}, eps: map[string][]string{}}
	n := 3 + r.IntN(3)
	for len(w.tenants) < n {
		b := make([]byte, 7)
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		t := "tn" + string(b)
		if _, dup := w.hosts[t]; dup {
			continue
		}
		w.tenants = append(w.tenants, t)
		for i := range 1 + r.IntN(3) {
			w.hosts[t] = append(w.hosts[t], fmt.Sprintf("%s-h%d", t, i))
		}
		for i := range 1 + r.IntN(3) {
			w.metrics[t] = append(w.metrics[t], fmt.Sprintf("m_%s_%d", t, i))
		}
	}
	return w
}

// seed writes the world's metrics and alerts to PostgreSQL and its alerts
// to the hub.
func (w *world) seed(t testing.TB, r *rand.Rand, s *store.Store, hub *api.Hub) {
	ctx := context.Background()
	var rows []store.MetricRow
	var alerts []store.AlertRow
	off := int64(0)
	for _, tn := range w.tenants {
		for _, h := range w.hosts[tn] {
			for _, m := range w.metrics[tn] {
				for i := range 1 + r.IntN(5) {
					rows = append(rows, store.MetricRow{Ts: t0.Add(time.Duration(i) * time.Minute), Tenant: tn, SourceID: h, Metric: m,
						Value: r.Float64() * 100, Unit: "u_" + tn, Tags: []byte(`{"owner":"` + tn + `"}`),
						Meta: []byte(`{"owner":"team-` + tn + `"}`), IngestedAt: t0})
				}
			}
			ep := fmt.Sprintf("ep-%s-%d", tn, len(w.eps[tn]))
			w.eps[tn] = append(w.eps[tn], ep)
			v := 95.0
			for k, st := range []string{"pending", "firing"} {
				ts := t0.Add(time.Duration(k) * time.Second)
				alerts = append(alerts, store.AlertRow{Ts: ts, Tenant: tn, SourceID: h, Metric: w.metrics[tn][0], Severity: "critical",
					Rule: "rule-" + tn, Value: &v, Message: "secret of " + tn, EpisodeID: ep, State: st, AlertName: "Alert_" + tn,
					Labels: []byte(`{"team":"` + tn + `"}`), Annotations: []byte(`{}`), Features: []byte(`{}`), StartsAt: &ts})
				hub.Publish(alertEv(0, off, tn, h, ep, st, "critical"))
				off++
			}
		}
	}
	if _, err := s.WriteMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
}

func (w *world) owner(host string) string {
	for tn, hs := range w.hosts {
		for _, h := range hs {
			if h == host {
				return tn
			}
		}
	}
	return ""
}

// worldFeatures serves a feature snapshot for each source of the world.
type worldFeatures struct{ w *world }

func (f worldFeatures) SourceState(_ context.Context, tenant, host string) (*tables.SourceState, error) {
	if f.w.owner(host) != tenant {
		return nil, nil
	}
	return &tables.SourceState{Metrics: []tables.MetricState{{Name: f.w.metrics[tenant][0], Series: features.NewSeries(features.Config{})}}}, nil
}

// worldRules has a rule for all tenants and one scoped to each tenant.
type worldRules struct{ w *world }

func (r worldRules) Rules(tenant string) []api.RuleInfo {
	out := []api.RuleInfo{{Name: "Global", Expr: "1 > 0", AllTenants: true}}
	for _, tn := range r.w.tenants {
		if tenant == "" || tenant == tn {
			out = append(out, api.RuleInfo{Name: "Rule_" + tn, Expr: `avg("m_` + tn + `_0", "1m") > 1`})
		}
	}
	return out
}

// credential is how a request authenticates.
type credential struct {
	name    string
	tenant  string // "" none, "*" admin
	headers []string
}

// With tenant A's key, nothing of tenant B ever comes back, on any route
// the app serves (found by listing its routes, so that a route added later
// is covered too) and on the stream; naming B is 403; no key is 401.
func TestTenantIsolationProperty(t *testing.T) {
	for seed := uint64(1); seed <= 2; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { isolation(t, seed) })
	}
}

func isolation(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed*7919))
	w := genWorld(r)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	hub := api.NewHub(api.HubOptions{Logger: quiet, Registerer: reg})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	w.seed(t, r, s, hub)
	prod := &fakeProducer{}
	srv := api.New(api.Options{
		Store: s, Alerts: s, Sources: s, MetricNames: s, Hub: hub, Features: worldFeatures{&w}, Rules: worldRules{&w},
		Producer: prod, Keys: keysFor(t, w.tenants...), Gatherer: reg, Registerer: reg, Logger: quiet, Heartbeat: time.Hour,
		Reload: func() (api.ReloadResult, error) { return api.ReloadResult{}, nil },
		Ready:  func(context.Context) error { return nil },
		Static: staticFS(),
	})

	creds := []credential{{name: "no key"}, {name: "admin", tenant: "*", headers: bearer("key-admin")}}
	for _, tn := range w.tenants {
		creds = append(creds, credential{name: "key of " + tn, tenant: tn, headers: bearer("key-" + tn)})
	}
	// A browser session of the first tenant.
	login := do(t, srv, "POST", "/auth/session", `{"key":"key-`+w.tenants[0]+`"}`)
	cookie := strings.SplitN(login.header.Get("Set-Cookie"), ";", 2)[0]
	creds = append(creds, credential{name: "session of " + w.tenants[0], tenant: w.tenants[0], headers: []string{"Cookie", cookie}})

	public := map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /-/metrics": true, "GET /openapi.yaml": true,
		"GET /auth/session": true, "POST /auth/session": true, "DELETE /auth/session": true, "GET /": true}
	tenantName := regexp.MustCompile(`tn[a-z]{7}`)
	routes := map[string]bool{"GET /": true}
	for _, rt := range srv.App().GetRoutes(true) {
		if rt.Method != http.MethodHead {
			routes[rt.Method+" "+rt.Path] = true
		}
	}
	var keys []string
	for k := range routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	adminSaw := map[string]bool{} // routes where the admin read a tenant's data
	requests := 0
	for _, route := range keys {
		method, pattern, _ := strings.Cut(route, " ")
		if pattern == "/alerts/stream" {
			continue // below, with a real connection
		}
		for _, target := range w.tenants {
			path := fill(pattern, &w, target)
			for _, query := range []string{"", "?tenant=" + target} {
				body := ""
				switch route {
				case "POST /ingest":
					body = ev(target, w.hosts[target][0], w.metrics[target][0], 1)
				case "POST /auth/session":
					body = `{"key":"key-` + target + `"}`
				case "POST /silences":
					body = `{"matchers":["alertname=\"X\""]}`
				}
				for _, c := range creds {
					resp := do(t, srv, method, path+query, body, c.headers...)
					requests++
					visible := c.tenant == "*" || c.tenant == target
					// named: the request mentions the tenant (an echo of it
					// is no leak); asks: it asks for the tenant's data by
					// the tenant parameter or path segment.
					named := strings.Contains(path+query+body, target)
					asks := query != "" || strings.Contains(pattern, ":tenant")
					switch {
					case c.tenant == "" && !public[route]:
						if resp.status != 401 {
							t.Fatalf("%s %s without a key: %d %s", method, path+query, resp.status, resp.body)
						}
					case asks && !visible && !public[route] && resp.status != 403 && resp.status != 400:
						t.Fatalf("%s %s %s: %d %s, want 403", c.name, method, path+query, resp.status, resp.body)
					case resp.status >= 500:
						t.Fatalf("%s %s %s: %d %s", c.name, method, path+query, resp.status, resp.body)
					}
					// What came back names no tenant the credential may
					// not read, except a tenant the request itself named.
					for _, found := range tenantName.FindAllString(string(resp.body), -1) {
						if c.tenant == "*" || found == c.tenant || (found == target && named) {
							continue
						}
						t.Fatalf("%s %s %s: the answer shows tenant %s: %s", c.name, method, path+query, found, resp.body)
					}
					if c.tenant == "*" && resp.status/100 == 2 && strings.Contains(string(resp.body), target) && !public[route] {
						adminSaw[route] = true
					}
				}
			}
		}
	}
	// The property is not vacuous: the data routes did show data.
	for _, route := range []string{"GET /metrics/:name", "GET /alerts", "GET /alerts/:id", "GET /sources", "GET /sources/:host/metrics",
		"GET /tenants", "GET /rules", "GET /features/:tenant/:host"} {
		if !adminSaw[route] {
			t.Errorf("the admin key never read a tenant's data on %s", route)
		}
	}
	// Ingest: the admin published every tenant's events, a tenant key
	// its own only (one record per accepted request).
	published := map[string]int{}
	for _, rec := range prod.records() {
		if rec.Topic == tables.ActivityTopic {
			// What the activity routes recorded, published for every
			// replica's streams: keyed and marked with its own tenant.
			if a, err := tables.DecodeActivity(rec.Value); err != nil || !strings.HasPrefix(string(rec.Key), a.Tenant+"/") {
				t.Errorf("activity record %s %s: %v", rec.Key, rec.Value, err)
			}
			continue
		}
		published[tenantName.FindString(string(rec.Key))]++
	}
	for _, tn := range w.tenants {
		// As admin and as its own key, with and without a (refused)
		// tenant parameter, and the first tenant's session too.
		want := 2
		if tn == w.tenants[0] {
			want = 3
		}
		if published[tn] != want {
			t.Errorf("%d records of %s published, want %d", published[tn], tn, want)
		}
	}

	// The stream: each credential sees exactly its tenants' alerts.
	base := serve(t, srv)
	for _, c := range creds[1:] {
		if c.tenant != "*" {
			for _, other := range w.tenants {
				if other != c.tenant {
					if _, status := openStream(t, base, "?tenant="+other, c.headers...); status != 403 {
						t.Fatalf("%s streaming %s: %d", c.name, other, status)
					}
					break
				}
			}
		}
		st, status := openStream(t, base, "", c.headers...)
		if status != 200 {
			t.Fatalf("%s: stream %d", c.name, status)
		}
		want := 0
		for _, tn := range w.tenants {
			if c.tenant == "*" || c.tenant == tn {
				want += len(w.hosts[tn]) // the active (firing) episodes
			}
		}
		for _, f := range st.events(want) {
			if found := tenantName.FindString(f.data); c.tenant != "*" && found != c.tenant {
				t.Fatalf("%s: the stream sent %s", c.name, f.data)
			}
		}
		st.resp.Body.Close()
		requests++
	}
	if _, status := openStream(t, base, ""); status != 401 {
		t.Fatalf("stream without a key: %d", status)
	}
	// Live transitions of every tenant, then one of each: a tenant's
	// stream gets its own sentinel and nothing of the others before it.
	off := int64(1000)
	for _, c := range creds[2:] {
		st, _ := openStream(t, base, "?state=resolved", c.headers...)
		for _, tn := range w.tenants {
			off++
			hub.Publish(alertEv(0, off, tn, w.hosts[tn][0], "live-"+c.name+"-"+tn, "resolved", "critical"))
		}
		f := st.next(5*time.Second, false)
		if found := tenantName.FindString(f.data); found != c.tenant {
			t.Fatalf("%s: live stream sent %s first", c.name, f.data)
		}
		st.resp.Body.Close()
	}
	t.Logf("seed %d: %d tenants, %d routes, %d requests", seed, len(w.tenants), len(keys), requests)
}

// fill puts the target tenant's names into a route pattern.
func fill(pattern string, w *world, tenant string) string {
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		switch p {
		case ":tenant":
			parts[i] = tenant
		case ":host":
			parts[i] = w.hosts[tenant][0]
		case ":name":
			parts[i] = w.metrics[tenant][0]
		case ":id":
			parts[i] = w.eps[tenant][0]
		default:
			if strings.HasPrefix(p, ":") {
				parts[i] = tenant
			}
		}
	}
	return strings.Join(parts, "/")
}

func staticFS() fstest.MapFS {
	return fstest.MapFS{"index.html": {Data: []byte("<html>dashboard</html>")}}
}
