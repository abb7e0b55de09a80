package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzQueryParameters sends arbitrary paths and query strings to the query
// routes of a server over a real, seeded PostgreSQL with two tenants. No
// request may fail inside (a 500 would be an SQL or scan error), and no
// answer may hold a row of a tenant other than the one it answers for.
//
//	go test ./api -run '^$' -fuzz FuzzQueryParameters -fuzztime 60s
func FuzzQueryParameters(f *testing.F) {
	srv := newServer(seeded(f))
	seeds := []struct {
		route       uint8
		seg, params string
	}{
		{0, "cpu", "tenant=acme&host=host-a"},
		{0, "cpu", "tenant=other"},
		{0, "cpu", "tenant=acme&from=1761040800&to=1761041400&step=60&agg=last&tag.env=prod"},
		{0, "cpu_load", "tenant=acme&tag.env=prod&tag.x=%27%20OR%201=1--"},
		{0, "cpu", "tenant=acme%27%20OR%20%271%27=%271"},
		{0, "%25", "tenant=acme"},
		{0, "cpu", "tenant=acme&tenant=other"},
		{0, "cpu", "tenant=acme&host=%00"},
		{0, "cpu", "tenant=acme&tag.env=%00"},
		{0, "cpu", "tenant=acme&from=-1e308&step=1"},
		{0, "cpu", "tenant=acme&from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z&step=86400s&agg=sum"},
		{1, "", "tenant=acme&limit=3&state=firing&severity=critical&host=host-a"},
		{1, "", "tenant=other&from=2025-10-21T10:00:00Z"},
		{1, "", "tenant=acme&cursor=eyJ2IjoxLCJxIjoiIiwidCI6LTEsImkiOi0xfQ"},
		{1, "", "tenant=acme&host=%00&severity=%ff"},
		{2, "acme-ep1", "tenant=acme"},
		{2, "other-ep1", "tenant=acme"},
		{3, "", "tenant=acme&limit=1"},
		{3, "", "tenant=%00"},
		{4, "", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.seg, s.params)
	}
	f.Fuzz(func(t *testing.T, route uint8, seg, params string) {
		var path string
		switch route % 5 {
		case 0:
			path = "/metrics/" + seg
		case 1:
			path = "/alerts"
		case 2:
			path = "/alerts/" + seg
		case 3:
			path = "/sources"
		case 4:
			path = "/tenants"
		}
		req, err := http.NewRequest(http.MethodGet, "http://localhost"+path+"?"+params, nil)
		if err != nil || strings.ContainsAny(seg, "/?#") || len(req.URL.RequestURI()) > 3000 {
			// Not a request a client can send to that route, or one whose
			// request line is beyond fasthttp's 4 KiB header buffer (a
			// real server answers 431 before any handler runs).
			return
		}
		resp, err := srv.App().Test(req, 30_000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 500 {
			var p map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&p)
			t.Fatalf("GET %s?%s: %d %v", path, params, resp.StatusCode, p)
		}
		if resp.StatusCode != 200 {
			return
		}
		var body any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s?%s: %v", path, params, err)
		}
		top, _ := body.(map[string]any)
		tenant, _ := top["tenant"].(string)
		if route%5 != 4 && tenant == "" {
			t.Fatalf("GET %s?%s: answer names no tenant: %v", path, params, body)
		}
		checkTenant(t, path+"?"+params, tenant, body)
	})
}

// checkTenant walks an answer: every "tenant" field is the answer's tenant,
// and every host is one of that tenant's.
func checkTenant(t *testing.T, req, tenant string, v any) {
	switch v := v.(type) {
	case map[string]any:
		if tenant != "" {
			if got, ok := v["tenant"].(string); ok && got != tenant {
				t.Fatalf("GET %s answered for %s with a row of %s: %v", req, tenant, got, v)
			}
			if host, ok := v["host"].(string); ok && host != "" && v["series"] == nil {
				found := false
				for _, h := range hostsOf[tenant] {
					found = found || h == host
				}
				if !found {
					t.Fatalf("GET %s answered for %s with host %s: %v", req, tenant, host, v)
				}
			}
		}
		for _, x := range v {
			checkTenant(t, req, tenant, x)
		}
	case []any:
		for _, x := range v {
			checkTenant(t, req, tenant, x)
		}
	}
}
