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
	t.Parallel()
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

const reloadEndsV1 = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
  - {name: mem_used_pct, kind: gauge, unit: percent}
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        labels: {severity: critical}
      - alert: MemHigh
        expr: last("mem_used_pct") > 95
        labels: {severity: warning}
`

// A reload that edits one rule and removes another ends their alerts: each
// firing episode gets a resolved transition that says why, in PostgreSQL
// and on the stream, also for sources whose actors had left memory; the
// edited rule then runs its own lifecycle.
func TestReloadEndsTheAlertsOfEditedAndRemovedRules(t *testing.T) {
	t.Parallel()
	env := newDevEnv(t)
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(reloadEndsV1), 0o644); err != nil {
		t.Fatal(err)
	}
	p := env.start(t, "--rules", file, "--flush-interval", "500ms", "--source-idle-timeout", "1s")
	now := time.Now().UTC().Truncate(time.Second)
	var events strings.Builder
	for _, host := range []string{"h1", "h2"} {
		fmt.Fprintf(&events, `{"tenant_id":"acme","host":%q,"metric":"cpu_load","value":95,"ts_event":%q}`+"\n", host, now.Format(time.RFC3339))
	}
	fmt.Fprintf(&events, `{"tenant_id":"acme","host":"h1","metric":"mem_used_pct","value":99,"ts_event":%q}`+"\n", now.Format(time.RFC3339))
	kcat(t, events.String(), "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P")

	type alert struct {
		EpisodeID string `json:"episode_id"`
		Host      string `json:"host"`
		AlertName string `json:"alertname"`
		State     string `json:"state"`
		Reason    string `json:"reason"`
	}
	alerts := func(state string) []alert {
		var page struct{ Alerts []alert }
		if _, err := getJSON(p.HTTP+"/alerts?tenant=acme&state="+state, &page); err != nil {
			t.Fatal(err)
		}
		return page.Alerts
	}
	eventually(t, 30*time.Second, "three firing alerts", func() error {
		if n := len(alerts("firing")); n != 3 {
			return fmt.Errorf("%d firing", n)
		}
		return nil
	})
	fired := map[string]alert{}
	for _, a := range alerts("firing") {
		fired[a.EpisodeID] = a
	}
	// Both sources go idle: their actors leave memory, their states stay.
	eventually(t, 30*time.Second, "idle actors to leave memory", func() error {
		if got := metricValue(t, p.HTTP, "eventops_source_actors"); got != "0" {
			return fmt.Errorf("%s actors", got)
		}
		return nil
	})

	edited := strings.Replace(reloadEndsV1, `> 90`, `> 80`, 1)
	edited = edited[:strings.Index(edited, "      - alert: MemHigh")]
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := postReload(t, p.HTTP); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	eventually(t, 30*time.Second, "a resolved transition for every fired episode", func() error {
		resolved := map[string]alert{}
		for _, a := range alerts("resolved") {
			resolved[a.EpisodeID] = a
		}
		for ep, f := range fired {
			r, ok := resolved[ep]
			want := "rule_changed"
			if f.AlertName == "MemHigh" {
				want = "rule_removed"
			}
			switch {
			case !ok:
				return fmt.Errorf("%s of %s not resolved", f.AlertName, f.Host)
			case r.Reason != want:
				return fmt.Errorf("%s of %s resolved with reason %q, want %q", f.AlertName, f.Host, r.Reason, want)
			}
		}
		return nil
	})
	// The edited rule fires anew, as its own episodes.
	eventually(t, 30*time.Second, "the edited rule's own episodes", func() error {
		n := 0
		for _, a := range alerts("firing") {
			if _, old := fired[a.EpisodeID]; !old && a.AlertName == "HighCPU" {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("%d new HighCPU episodes", n)
		}
		return nil
	})
	p.stop(60 * time.Second)
}
