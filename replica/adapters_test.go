package replica

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/rules"
)

// GET /rules answers tenant keys: it must not show where the rule file
// lives on the server (a path names the deployment's layout, its user or
// its mounts). Each rule's file is named by its base name at most.
func TestRulesDoNotShowServerPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc", "eventops-secret-layout")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(file, []byte(cpuRules), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.LoadFiles(rules.Options{}, file)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Rules: ruleLister{actors.NewRuleHolder(rs)}, Logger: slog.New(slog.DiscardHandler)})
	resp, err := srv.App().Test(httptest.NewRequest("GET", "http://localhost/rules?tenant=acme", nil), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"file":"rules.yml"`) {
		t.Fatalf("GET /rules: %d %s, want the rules with their file's base name", resp.StatusCode, b)
	}
	if strings.Contains(string(b), dir) {
		t.Errorf("GET /rules shows the server path %q: %s", dir, b)
	}
}

// cpuRules is a rule file of one alert on cpu_load.
const cpuRules = `
metrics: [{name: cpu_load, kind: gauge, unit: percent}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        labels: {severity: critical}
`
