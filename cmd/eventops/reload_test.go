package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const reloadRulesV1 = `
metrics: [{name: cpu_load, kind: gauge, unit: percent}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        labels: {severity: critical}
`

func postReload(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricValue(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/-/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}

// POST /-/reload and SIGHUP put an edited rule file in force; a broken one
// is refused whole with its errors, and the rules in force keep running.
func TestRuleReload(t *testing.T) {
	env := newDevEnv(t)
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(reloadRulesV1), 0o644); err != nil {
		t.Fatal(err)
	}
	p := env.start(t, "--rules", file)

	if err := os.WriteFile(file, []byte(reloadRulesV1+"      - alert: Broken\n        expr: avg(\"nope\", \"1m\") > 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := postReload(t, p.HTTP)
	if code != 400 || !strings.Contains(body, "rules.yml:10") || !strings.Contains(body, "nope") {
		t.Fatalf("broken file: %d %s", code, body)
	}
	if got := metricValue(t, p.HTTP, "eventops_rules"); got != "1" {
		t.Fatalf("rules in force after a refused reload: %q", got)
	}

	if err := os.WriteFile(file, []byte(reloadRulesV1+"      - alert: WarmCPU\n        expr: avg(\"cpu_load\", \"1m\") > 70\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body = postReload(t, p.HTTP)
	if code != 200 || !strings.Contains(body, `"rules":2`) {
		t.Fatalf("good file: %d %s", code, body)
	}
	// The new rule applies to the next event.
	kcat(t, fmt.Sprintf(`{"tenant_id":"acme","host":"h1","metric":"cpu_load","value":75,"ts_event":%q}`+"\n",
		time.Now().Format(time.RFC3339)), "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P")
	alert := readAlert(t, p.HTTP+"/alerts/stream?host=h1", 30*time.Second)
	if !strings.Contains(alert, `"alertname":"WarmCPU"`) {
		t.Fatalf("alert %s", alert)
	}

	if err := os.WriteFile(file, []byte(reloadRulesV1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "SIGHUP reload", func() error {
		if got := metricValue(t, p.HTTP, "eventops_rules"); got != "1" {
			return fmt.Errorf("%s rules in force", got)
		}
		return nil
	})
	if got := metricValue(t, p.HTTP, `eventops_rules_reloads_total{result="failure"}`); got != "1" {
		t.Fatalf("failed reloads %q", got)
	}
	p.stop(60 * time.Second)
}
