package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
)

const shadowRules = `
metrics:
  - {name: temp, kind: gauge}
groups:
  - name: notify
    rules:
      - alert: Hot
        expr: last("temp") > 50
        clear: last("temp") < 40
        labels: {severity: critical}
      - alert: HotTrial
        expr: last("temp") > 50
        clear: last("temp") < 40
        labels: {severity: critical}
        mode: shadow
`

// sendTemp posts one temp sample of h1 to POST /ingest (keyed tenant/host,
// so a source's samples keep their order), at an event time after the
// previous one's: two samples of one millisecond are one sample sent twice.
func sendTemp(t *testing.T, p *proc, last *time.Time, v float64) {
	t.Helper()
	ts := time.Now().UTC().Truncate(time.Millisecond)
	if !ts.After(*last) {
		ts = last.Add(10 * time.Millisecond)
	}
	*last = ts
	body := fmt.Sprintf(`{"tenant_id":"acme","host":"h1","metric":"temp","value":%v,"ts_event":%q}`, v, ts.Format(time.RFC3339Nano))
	resp, err := http.Post(p.HTTP+"/ingest", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 || !strings.Contains(string(b), `"accepted":1,`) {
		t.Fatalf("POST /ingest: %d %s", resp.StatusCode, b)
	}
}

// shadowRow is a row of the alerts table.
type shadowRow struct {
	state, episode, reason string
	shadow                 bool
}

func (n *notifyEnv) rowsOf(alertname string) []shadowRow {
	n.t.Helper()
	rows, err := n.conn.Query(context.Background(), `SELECT state, episode_id, coalesce(payload->>'reason', ''), shadow
		FROM alerts WHERE alertname = $1 AND source_id = 'h1' ORDER BY ts, id`, alertname)
	if err != nil {
		n.t.Fatal(err)
	}
	defer rows.Close()
	var out []shadowRow
	for rows.Next() {
		var r shadowRow
		if err := rows.Scan(&r.state, &r.episode, &r.reason, &r.shadow); err != nil {
			n.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// waitRows waits until alertname has n rows and returns them.
func (n *notifyEnv) waitRows(alertname string, count int) []shadowRow {
	n.t.Helper()
	var rows []shadowRow
	eventually(n.t, 30*time.Second, fmt.Sprintf("%d rows of %s", count, alertname), func() error {
		if rows = n.rowsOf(alertname); len(rows) != count {
			return fmt.Errorf("%+v", rows)
		}
		return nil
	})
	return rows
}

// deliveredOf returns "status episode" of every alert of alertname the
// receiver accepted (the episode read from its generator URL).
func deliveredOf(hook *receiver, alertname string) []string {
	var out []string
	for _, q := range hook.requests() {
		if q.status/100 != 2 {
			continue
		}
		for _, a := range q.msg.Alerts {
			if a.Labels["alertname"] == alertname {
				ep := strings.TrimPrefix(a.GeneratorURL, "http://eventops.test:8088/alerts/")
				out = append(out, a.Status+" "+strings.TrimSuffix(ep, "?tenant=acme"))
			}
		}
	}
	return out
}

// A shadow rule fires and resolves beside a live rule of the same
// condition: the receiver gets the live rule's notices and nothing of the
// shadow rule's, whose transitions are in PostgreSQL with shadow = true,
// on the alert stream with "shadow": true, and selected by
// GET /alerts?shadow=only. A reload that promotes it while it fires keeps
// the episode (no end, no new firing), its end is live, and its next
// episode reaches the receiver.
func TestShadowRuleNeverReachesReceivers(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnvRules(t, shadowRules, alertingFile(hook.srv.URL, 100))
	p := n.start()
	stream := streamAlerts(t, p.HTTP+"/alerts/stream?host=h1")
	var last time.Time

	// A whole episode in shadow.
	sendTemp(t, p, &last, 90)
	n.waitRows("HotTrial", 1)
	sendTemp(t, p, &last, 10)
	trial := n.waitRows("HotTrial", 2)
	live := n.waitRows("Hot", 2)
	for i, want := range []string{"firing", "resolved"} {
		if trial[i].state != want || !trial[i].shadow || live[i].state != want || live[i].shadow {
			t.Fatalf("rows: shadow rule %+v, live rule %+v", trial, live)
		}
	}
	first := trial[0].episode
	eventually(t, 30*time.Second, "the live rule's notices and the shadow transitions counted", func() error {
		if got := deliveredOf(hook, "Hot"); len(got) != 2 {
			return fmt.Errorf("live notices %v", got)
		}
		if v := notifyMetric(t, p, "eventops_notify_transitions_total", `outcome="shadow"`); v != 2 {
			return fmt.Errorf("%v shadow transitions counted", v)
		}
		return nil
	})
	if got := deliveredOf(hook, "HotTrial"); len(got) != 0 {
		t.Fatalf("the shadow rule reached the receiver: %v", got)
	}

	// The stream carries the mark; the live rule's transitions have none.
	eventually(t, 30*time.Second, "the four transitions on the stream", func() error {
		stream.mu.Lock()
		defer stream.mu.Unlock()
		seen := map[string]bool{}
		for _, e := range stream.events {
			var tr rules.Transition
			if err := json.Unmarshal([]byte(e), &tr); err != nil {
				return err
			}
			if tr.Shadow != (tr.AlertName == "HotTrial") || tr.Shadow != strings.Contains(e, `"shadow":true`) {
				return fmt.Errorf("stream event %s", e)
			}
			seen[tr.AlertName+" "+tr.State] = true
		}
		if len(seen) != 4 {
			return fmt.Errorf("seen %v", seen)
		}
		return nil
	})

	// The history selects by mode.
	resp, err := http.Get(p.HTTP + "/alerts?tenant=acme&shadow=only")
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Alerts []store.Alert }
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || len(page.Alerts) != 2 {
		t.Fatalf("shadow=only: %+v %v", page, err)
	}
	for _, a := range page.Alerts {
		if a.AlertName != "HotTrial" || !a.Shadow {
			t.Fatalf("shadow=only: %+v", a)
		}
	}

	// Promotion while firing: one line and a reload.
	sendTemp(t, p, &last, 90)
	n.waitRows("HotTrial", 3)
	if err := os.WriteFile(n.rules, []byte(strings.Replace(shadowRules, "mode: shadow", "mode: live", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := postReload(t, p.HTTP); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	sendTemp(t, p, &last, 95)
	sendTemp(t, p, &last, 10)
	trial = n.waitRows("HotTrial", 4)
	second := trial[2].episode
	if trial[2].state != "firing" || !trial[2].shadow || trial[3] != (shadowRow{state: "resolved", episode: second}) || second == first {
		t.Fatalf("the promoted episode: %+v", trial)
	}
	n.waitRows("Hot", 4)

	// Live now: its next episode reaches the receiver.
	sendTemp(t, p, &last, 90)
	trial = n.waitRows("HotTrial", 5)
	third := trial[4].episode
	if trial[4].state != "firing" || trial[4].shadow {
		t.Fatalf("after the promotion: %+v", trial[4])
	}
	eventually(t, 30*time.Second, "the promoted rule's firing notice", func() error {
		if got := deliveredOf(hook, "HotTrial"); len(got) != 1 || got[0] != "firing "+third {
			return fmt.Errorf("notices of the promoted rule %v", got)
		}
		return nil
	})
	if v := notifyMetric(t, p, "eventops_notify_transitions_total", `outcome="shadow"`); v != 3 {
		t.Fatalf("%v shadow transitions counted, want 3", v)
	}
	p.stop(60 * time.Second)
}

// The README's shadow rule file loads with one rule in shadow, whose ID is
// the one it has live, and `eventops rules check` prints what the README
// shows.
func TestReadmeShadowRules(t *testing.T) {
	blocks := readmeBlocks(t, "Shadow rules", "yaml")
	if len(blocks) != 1 {
		t.Fatalf("the Shadow rules section has %d yaml blocks, want the rule file", len(blocks))
	}
	rs, err := rules.Parse("shadow.rules.yml", []byte(blocks[0]), rules.Options{})
	if err != nil {
		t.Fatalf("the README's shadow rule file does not load:\n%v", err)
	}
	promoted, err := rules.Parse("shadow.rules.yml", []byte(strings.Replace(blocks[0], "mode: shadow", "mode: live", 1)), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var shadow []string
	for r := range rs.Rules() {
		if r.Shadow() {
			shadow = append(shadow, r.Name())
			if p := promoted.Rule(r.ID()); p == nil || p.Shadow() {
				t.Errorf("%s: promoted, it has another ID or is still in shadow", r.Name())
			}
		}
	}
	if len(shadow) != 1 || rs.Len() < 2 {
		t.Fatalf("%d rules, in shadow %v", rs.Len(), shadow)
	}

	var session []readmeCommand
	for _, b := range readmeBlocks(t, "Shadow rules", "sh") {
		for _, c := range splitCommands(t, b) {
			if strings.HasPrefix(c.text, "eventops rules check") {
				session = append(session, c)
			}
		}
	}
	if len(session) != 1 || len(session[0].want) != 1 {
		t.Fatalf("the Shadow rules section shows %d rule checks: %+v", len(session), session)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shadow.rules.yml"), []byte(blocks[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(eventopsBinary(t), strings.Fields(session[0].text)[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != session[0].want[0] {
		t.Fatalf("%s: %v\n%s\nthe README shows:\n%s", session[0].text, err, out, session[0].want[0])
	}
}

// A live rule demoted to shadow by a reload while it fires keeps its
// episode, whose end is stored marked shadow and still reaches the
// receiver that was sent its firing; its next episode is shadow, unsent.
func TestShadowDemotionWhileFiringResolves(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	live := strings.Replace(shadowRules, "        mode: shadow\n", "", 1)
	n := newNotifyEnvRules(t, live, alertingFile(hook.srv.URL, 100))
	p := n.start()
	var last time.Time

	sendTemp(t, p, &last, 90)
	ep := n.waitRows("HotTrial", 1)[0].episode
	eventually(t, 30*time.Second, "the firing notice", func() error {
		if got := deliveredOf(hook, "HotTrial"); len(got) != 1 || got[0] != "firing "+ep {
			return fmt.Errorf("notices %v", got)
		}
		return nil
	})

	if err := os.WriteFile(n.rules, []byte(shadowRules), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := postReload(t, p.HTTP); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	sendTemp(t, p, &last, 10)
	rows := n.waitRows("HotTrial", 2)
	if rows[1] != (shadowRow{state: "resolved", episode: ep, shadow: true}) {
		t.Fatalf("the demoted episode: %+v", rows)
	}
	eventually(t, 30*time.Second, "the end of the demoted episode", func() error {
		if got := deliveredOf(hook, "HotTrial"); len(got) != 2 || got[1] != "resolved "+ep {
			return fmt.Errorf("notices %v", got)
		}
		return nil
	})

	sendTemp(t, p, &last, 90)
	sendTemp(t, p, &last, 10)
	rows = n.waitRows("HotTrial", 4)
	if !rows[2].shadow || !rows[3].shadow || rows[2].episode == ep {
		t.Fatalf("the next episode: %+v", rows)
	}
	n.waitRows("Hot", 4)
	eventually(t, 30*time.Second, "the live rule's four notices", func() error {
		if got := deliveredOf(hook, "Hot"); len(got) != 4 {
			return fmt.Errorf("notices %v", got)
		}
		return nil
	})
	if got := deliveredOf(hook, "HotTrial"); len(got) != 2 {
		t.Fatalf("the shadow episode reached the receiver: %v", got)
	}
	p.stop(60 * time.Second)
}
