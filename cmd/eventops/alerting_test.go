package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/eventops/eventops/notify"
)

const alertingRules = `
metrics:
  - {name: up, kind: gauge}
  - {name: cpu, kind: gauge}
groups:
  - name: hosts
    rules:
      - alert: HostDown
        expr: last("up") < 1
        labels: {severity: critical}
      - alert: HighCPU
        expr: last("cpu") > 90
        labels: {severity: warning}
`

// sendMetric writes one sample of metric for tenant/host.
func (n *notifyEnv) sendMetric(tenant, host, metric string, v float64) {
	line := fmt.Sprintf("%s/%s|{\"tenant_id\":%q,\"host\":%q,\"metric\":%q,\"value\":%v,\"ts_event\":%q}\n",
		tenant, host, tenant, host, metric, v, time.Now().UTC().Format(time.RFC3339Nano))
	kcat(n.t, line, "-b", n.p.Kafka[0], "-t", "ingest.raw.agent", "-P", "-K", "|")
}

// logged waits until the notification log has a row of tenant's alert on
// host with outcome, and returns its reason.
func (n *notifyEnv) logged(tenant, alertname, host, state, outcome string) string {
	var reason string
	eventually(n.t, 30*time.Second, outcome+" "+alertname+" "+host, func() error {
		return n.conn.QueryRow(context.Background(), `SELECT l.reason FROM notification_log l
			JOIN alerts a ON a.episode_id = l.episode_id AND a.tenant = l.tenant AND a.state = l.state
			WHERE l.tenant = $1 AND l.alertname = $2 AND a.source_id = $3 AND l.state = $4 AND l.outcome = $5 LIMIT 1`,
			tenant, alertname, host, state, outcome).Scan(&reason)
	})
	return reason
}

// deliveredAlerts returns "alertname status tenant/host" of every alert
// of the accepted requests.
func deliveredAlerts(r *receiver) []string {
	var out []string
	for _, q := range r.requests() {
		if q.status/100 != 2 {
			continue
		}
		for _, a := range q.msg.Alerts {
			out = append(out, a.Labels["alertname"]+" "+a.Status+" "+a.Labels["tenant"]+"/"+a.Labels["host"])
		}
	}
	return out
}

// inhibitionFile is a receivers file with the inhibit rules of the
// README's example.
func inhibitionFile(t *testing.T, url string) string {
	return fmt.Sprintf(`
route:
  receiver: ops
  group_by: [alertname, host]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ops
    webhook_configs:
      - url: %s
`, url) + readmeInhibitRules(t)
}

// readmeAlertingExample is the README's receivers file with inhibit_rules
// and time_intervals.
func readmeAlertingExample(t *testing.T) string {
	t.Helper()
	blocks := readmeBlocks(t, "Receivers and silences", "yaml")
	for _, b := range blocks {
		if strings.HasPrefix(b, "# alerting.yml\n") {
			return b
		}
	}
	t.Fatalf("the Receivers and silences section has no alerting.yml among its %d yaml blocks", len(blocks))
	return ""
}

// readmeInhibitRules is the inhibit_rules section of the README's example.
func readmeInhibitRules(t *testing.T) string {
	t.Helper()
	ex := readmeAlertingExample(t)
	start, end := strings.Index(ex, "\ninhibit_rules:\n"), strings.Index(ex, "\ntime_intervals:\n")
	if start < 0 || end < start {
		t.Fatalf("the README's alerting.yml has no inhibit_rules before time_intervals:\n%s", ex)
	}
	return ex[start+1 : end+1]
}

// The README's receivers files load; the one with inhibit_rules and
// time_intervals does what the README says of it.
func TestReadmeReceiversExamples(t *testing.T) {
	blocks := readmeBlocks(t, "Receivers and silences", "yaml")
	if len(blocks) != 2 {
		t.Fatalf("the Receivers and silences section has %d yaml blocks, want the receivers file and alerting.yml", len(blocks))
	}
	for _, b := range blocks {
		if _, err := notify.ParseFile("README", []byte(b)); err != nil {
			t.Fatalf("a receivers file of the README does not load:\n%v\n%s", err, b)
		}
	}
	c, err := notify.ParseFile("alerting.yml", []byte(readmeAlertingExample(t)))
	if err != nil {
		t.Fatal(err)
	}
	alert := func(name, host string) notify.Alert {
		return notify.Alert{EpisodeID: name + host, Tenant: "acme", Status: notify.StatusFiring,
			Labels: map[string]string{"alertname": name, "host": host, "tenant": "acme"}}
	}
	if _, ok := notify.InhibitedBy(c.InhibitRules, []notify.Alert{alert("HostDown", "h1")}, alert("HighCPU", "h1")); !ok {
		t.Error("HostDown does not inhibit the HighCPU of its host")
	}
	if _, ok := notify.InhibitedBy(c.InhibitRules, []notify.Alert{alert("HostDown", "h1")}, alert("HighCPU", "h2")); ok {
		t.Error("HostDown inhibits the HighCPU of another host")
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	db, info := c.Route.Match(map[string]string{"team": "db"})[0], c.Route.Match(map[string]string{"severity": "info"})[0]
	for _, tc := range []struct {
		r     *notify.Route
		at    time.Time
		muted bool
	}{
		{db, time.Date(2026, 3, 7, 2, 30, 0, 0, berlin), true},    // a Saturday, 02:30 in Berlin
		{db, time.Date(2026, 3, 7, 4, 0, 0, 0, berlin), false},    // the window ends at 04:00
		{db, time.Date(2026, 3, 31, 12, 0, 0, 0, berlin), true},   // the last day of the month
		{info, time.Date(2026, 3, 9, 10, 0, 0, 0, berlin), false}, // a Monday, office hours
		{info, time.Date(2026, 3, 8, 10, 0, 0, 0, berlin), true},  // a Sunday
	} {
		if why, muted, _ := tc.r.Muted(tc.at); muted != tc.muted {
			t.Errorf("route %s at %v: muted %v (%s), want %v", tc.r.Key(), tc.at, muted, why, tc.muted)
		}
	}
}

// A firing HostDown mutes the HighCPU of the same host of the same tenant:
// the HighCPU transition is stored and logged as inhibited (by what), not
// sent, also after a restart; once HostDown resolves the HighCPU still
// firing is sent. Another tenant's HighCPU on a host of the same name is
// sent at once.
func TestAlertingInhibition(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnvRules(t, alertingRules, inhibitionFile(t, hook.srv.URL))
	p := n.start()
	n.sendMetric("acme", "h1", "up", 0)
	eventually(t, 30*time.Second, "HostDown sent", func() error {
		if countOf(deliveredAlerts(hook), "HostDown firing acme/h1") != 1 {
			return fmt.Errorf("delivered %v", deliveredAlerts(hook))
		}
		return nil
	})
	n.sendMetric("acme", "h1", "cpu", 95)
	n.sendMetric("globex", "h1", "cpu", 95)
	if reason := n.logged("acme", "HighCPU", "h1", "firing", "inhibited"); !strings.HasPrefix(reason, "inhibited by HostDown{host=h1, tenant=acme} episode ") {
		t.Fatalf("reason %q", reason)
	}
	eventually(t, 30*time.Second, "globex's HighCPU sent", func() error {
		if countOf(deliveredAlerts(hook), "HighCPU firing globex/h1") != 1 {
			return fmt.Errorf("delivered %v", deliveredAlerts(hook))
		}
		return nil
	})
	p.stop(60 * time.Second)

	// After a restart the notifier still knows HostDown fires: a second
	// host's HighCPU is sent, h1's stays inhibited.
	p = n.start()
	n.sendMetric("acme", "h2", "cpu", 95)
	eventually(t, 30*time.Second, "h2's HighCPU sent", func() error {
		if countOf(deliveredAlerts(hook), "HighCPU firing acme/h2") != 1 {
			return fmt.Errorf("delivered %v", deliveredAlerts(hook))
		}
		return nil
	})
	if got := countOf(deliveredAlerts(hook), "HighCPU firing acme/h1"); got != 0 {
		t.Fatalf("the inhibited alert was sent: %v", deliveredAlerts(hook))
	}
	n.sendMetric("acme", "h1", "up", 1)
	eventually(t, 30*time.Second, "HighCPU of h1 sent after HostDown resolved", func() error {
		d := deliveredAlerts(hook)
		if countOf(d, "HostDown resolved acme/h1") != 1 || countOf(d, "HighCPU firing acme/h1") != 1 {
			return fmt.Errorf("delivered %v", d)
		}
		return nil
	})
	n.logged("acme", "HighCPU", "h1", "firing", "sent")
	p.stop(60 * time.Second)
}

const flappingRules = `
metrics:
  - {name: temp, kind: gauge}
groups:
  - name: notify
    rules:
      - alert: Hot
        expr: last("temp") > 50
        clear: last("temp") < 40
        flapping: {changes: 4, window: 1h}
`

// alternate sends count samples of host, hot and cold in turn, so that
// Hot fires and resolves count times: one sample at a time, each
// evaluated before the next is sent (the feature stage evaluates a batch of
// samples once).
func (n *notifyEnv) alternate(host string, count int) {
	for i := range count {
		v := 90.0
		if i%2 == 1 {
			v = 10
		}
		n.send(host, v)
		eventually(n.t, 30*time.Second, fmt.Sprintf("transition %d of %s", i+1, host), func() error {
			var trs int
			if err := n.conn.QueryRow(context.Background(), `SELECT count(*) FROM alerts WHERE alertname = 'Hot' AND source_id = $1 AND state IN ('firing', 'resolved')`,
				host).Scan(&trs); err != nil {
				return err
			}
			if trs != i+1 {
				return fmt.Errorf("%d transitions", trs)
			}
			return nil
		})
	}
}

// A rule whose alert fires and resolves forty times: its receiver gets
// the first changes and one summary of its entry into flapping, not forty
// pages; the rest are logged as held for flapping.
func TestAlertingFlappingSendsOneSummary(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnvRules(t, flappingRules, alertingFile(hook.srv.URL, 100))
	p := n.start()
	n.alternate("h1", 40)
	eventually(t, 60*time.Second, "36 transitions held for flapping", func() error {
		var held int
		if err := n.conn.QueryRow(context.Background(), `SELECT count(*) FROM notification_log WHERE outcome = 'flapping' AND reason LIKE 'held:%'`).Scan(&held); err != nil {
			return err
		}
		if held != 36 {
			var trs int
			var outcomes string
			_ = n.conn.QueryRow(context.Background(), `SELECT count(*) FROM alerts WHERE alertname = 'Hot'`).Scan(&trs)
			_ = n.conn.QueryRow(context.Background(), `SELECT coalesce(string_agg(outcome || ' ' || state || ' ' || reason, '; ' ORDER BY id), '') FROM notification_log`).Scan(&outcomes)
			return fmt.Errorf("%d held; %d transitions stored; log: %s", held, trs, outcomes)
		}
		return nil
	})
	var told, summaries int
	for _, q := range hook.requests() {
		for _, a := range q.msg.Alerts {
			told++
			if strings.HasPrefix(a.Annotations["flapping"], "true:") {
				summaries++
			}
		}
	}
	if told > 5 || summaries != 1 {
		t.Fatalf("%d alerts told, %d entry summaries: %+v", told, summaries, hook.requests())
	}
	p.stop(60 * time.Second)
}

// The dashboard's notification history panel shows what a receiver was
// sent and what a silence held back, with why, and narrows to an episode.
func TestDashboardNotificationHistory(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnv(t, alertingFile(hook.srv.URL, 100))
	p := n.start()
	sendJSON(t, http.MethodPost, p.HTTP+"/silences", "", `{"tenant":"acme","matchers":["host=\"h2\""],"ends_at":"`+
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`","created_by":"test","comment":"maintenance"}`, nil)
	n.send("h1", 90)
	n.send("h2", 90)
	n.logged("acme", "Hot", "h1", "firing", "sent")
	n.logged("acme", "Hot", "h2", "firing", "silenced")
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(p.HTTP+"/#tenant=acme")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	waitJS(t, ctx, 30*time.Second, "the sent and the silenced notification in the panel", `(() => {
		const li = [...document.querySelectorAll('#notifications li')];
		const sent = li.find((e) => e.dataset.outcome === 'sent');
		const silenced = li.find((e) => e.dataset.outcome === 'silenced');
		return !!sent && sent.textContent.includes('status 200') && !!silenced && silenced.textContent.includes('silenced by silence ');
	})()`)
	clickJS(t, ctx, `#notifications li[data-outcome="silenced"] a.episode`)
	waitJS(t, ctx, 15*time.Second, "the panel narrowed to the silenced episode", `(() => {
		const li = [...document.querySelectorAll('#notifications li')];
		return li.length === 1 && li[0].dataset.outcome === 'silenced' && !document.getElementById('notifications-filter').hidden;
	})()`)
	p.stop(60 * time.Second)
}

// eventops alerting check reports every problem of a receivers file as
// FILE:LINE: message, inhibit_rules and time_intervals included, and
// exits 1; a good file is summed up and exits 0.
func TestAlertingCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	good := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(bad, []byte(`route:
  receiver: ops
  routes:
    - matchers: ['team="db"']
      mute_time_intervals: [weekend]
receivers:
  - name: ops
inhibit_rules:
  - source_matchers: ['alertname="HostDown"']
    target_matchers: ['alertname~HighCPU']
    equal: [host]
time_intervals:
  - name: weekends
    time_intervals:
      - weekdays: [caturday]
        location: Mars/Olympus
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(inhibitionFile(t, "http://127.0.0.1:9/hook")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(eventopsBinary(t), "alerting", "check", good, bad)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1\n%s", err, stderr.String())
	}
	if want := good + ": 1 receivers, 1 routes, 1 inhibit rules, 0 time intervals: OK\n"; stdout.String() != want {
		t.Fatalf("stdout %q, want %q", stdout.String(), want)
	}
	for _, want := range []string{
		bad + `:5: route.routes[0].mute_time_intervals[0]: no time interval is named "weekend"`,
		bad + `:10: inhibit_rules[0].target_matchers[0]: matchers "alertname~HighCPU": expected =, !=, =~ or !~ after alertname`,
		bad + `:15: time_intervals[0].time_intervals[0].weekdays[0]: "caturday": "caturday" is not in 0..6`,
		bad + `:16: time_intervals[0].time_intervals[0].location: "Mars/Olympus" is not a time zone`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %s:\n%s", want, stderr.String())
		}
	}
}
