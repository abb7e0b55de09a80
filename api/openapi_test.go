package api_test

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"

	"github.com/eventops/eventops/api"
)

// Every route the Fiber app registers is in openapi.yaml, and every path
// and method of openapi.yaml is a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var spec struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &spec); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", spec.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "options", "head", "trace":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}

	srv := api.New(api.Options{Logger: quiet, Static: fstest.MapFS{"index.html": {Data: []byte("<html>")}}})
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	served := map[string]bool{}
	for _, r := range srv.App().GetRoutes(true) { // without middleware
		if r.Method == http.MethodHead { // fiber adds HEAD to every GET
			continue
		}
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	// The dashboard is served by middleware at /.
	if r := get(t, srv, "/"); r.status != 200 || !strings.Contains(string(r.body), "<html>") {
		t.Fatalf("GET / answered %d %s", r.status, r.body)
	}
	served["GET /"] = true

	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes not described in api/openapi.yaml: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("api/openapi.yaml describes routes the app does not serve: %v", extra)
	}

	r := get(t, srv, "/openapi.yaml")
	if r.status != 200 || r.ctype != "application/yaml" || string(r.body) != string(api.OpenAPI()) {
		t.Fatalf("GET /openapi.yaml: %d %s", r.status, r.ctype)
	}
}
