package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/notify"
)

const notifyRules = `
metrics:
  - {name: temp, kind: gauge}
groups:
  - name: notify
    rules:
      - alert: Hot
        expr: last("temp") > 50
        clear: last("temp") < 40
        labels: {severity: critical, team: infra}
        annotations:
          summary: 'temp on {{ $labels.host }} is {{ $value }}'
`

// receiver is a webhook receiver: it records every request and answers
// with status(n) for the n-th (from 0).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status func(n int) int
	reqs   []hookRequest
}

type hookRequest struct {
	status int
	msg    notify.Message
	raw    []byte
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var m notify.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body is not JSON: %v: %s", err, b)
		}
		r.mu.Lock()
		code := r.status(len(r.reqs))
		r.reqs = append(r.reqs, hookRequest{status: code, msg: m, raw: b})
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setStatus(f func(n int) int) {
	r.mu.Lock()
	r.status = f
	r.mu.Unlock()
}

func (r *receiver) requests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookRequest(nil), r.reqs...)
}

// alerts returns "status host" of every alert of the accepted requests.
func (r *receiver) delivered() []string {
	var out []string
	for _, q := range r.requests() {
		if q.status/100 != 2 {
			continue
		}
		for _, a := range q.msg.Alerts {
			out = append(out, a.Status+" "+a.Labels["host"])
		}
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// notifyEnv is eventops dev with a rule file and a receivers file.
type notifyEnv struct {
	t        *testing.T
	env      devEnv
	conn     *pgx.Conn
	rules    string
	alerting string
	p        *proc // the running eventops dev
}

func newNotifyEnv(t *testing.T, alerting string) *notifyEnv {
	return newNotifyEnvRules(t, notifyRules, alerting)
}

// newNotifyEnvRules is newNotifyEnv with a rule file of its own.
func newNotifyEnvRules(t *testing.T, ruleFile, alerting string) *notifyEnv {
	env := newDevEnv(t)
	dir := t.TempDir()
	n := &notifyEnv{t: t, env: env, rules: filepath.Join(dir, "rules.yml"), alerting: filepath.Join(dir, "alerting.yml")}
	for f, body := range map[string]string{n.rules: ruleFile, n.alerting: alerting} {
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(context.Background(), env.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	n.conn = conn
	return n
}

func (n *notifyEnv) start() *proc {
	n.p = n.env.start(n.t, "--rules", n.rules, "--alerting", n.alerting, "--shutdown-timeout", "6s")
	return n.p
}

// send writes one temp sample of host, keyed so that a host's samples stay
// in order.
func (n *notifyEnv) send(host string, v float64) {
	line := fmt.Sprintf("acme/%s|{\"tenant_id\":\"acme\",\"host\":%q,\"metric\":\"temp\",\"value\":%v,\"ts_event\":%q}\n",
		host, host, v, time.Now().UTC().Format(time.RFC3339Nano))
	kcat(n.t, line, "-b", n.p.Kafka[0], "-t", "ingest.raw.agent", "-P", "-K", "|")
}

// stored waits until the alerts table holds host's transitions to state.
func (n *notifyEnv) stored(host, state string) string {
	var ep string
	eventually(n.t, 30*time.Second, "the "+state+" row of "+host, func() error {
		return n.conn.QueryRow(context.Background(), `SELECT episode_id FROM alerts WHERE alertname = 'Hot' AND source_id = $1 AND state = $2`,
			host, state).Scan(&ep)
	})
	return ep
}

// metricValue reads a sample of the process's own metrics (0 if absent).
func notifyMetric(t *testing.T, p *proc, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(p.HTTP + "/-/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

func alertingFile(url string, capacity int) string {
	return fmt.Sprintf(`
external_url: http://eventops.test:8088
queue_capacity: %d
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ops
    webhook_configs:
      - url: %s
        timeout: 5s
`, capacity, url)
}

// A webhook receiver gets the Alertmanager-shaped body, retried while it
// answers 500; a silenced alert is stored in PostgreSQL but not sent.
func TestNotifyWebhookAndSilences(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(n int) int {
		if n < 2 {
			return 500
		}
		return 200
	})
	n := newNotifyEnv(t, alertingFile(hook.srv.URL, 100))
	p := n.start()
	if !strings.Contains(p.Log(), "notify: receivers loaded") {
		t.Fatalf("no startup log of the receivers:\n%s", p.Log())
	}

	n.send("h1", 90)
	ep := n.stored("h1", "firing")
	eventually(t, 30*time.Second, "the firing notification", func() error {
		if got := countOf(hook.delivered(), "firing h1"); got != 1 {
			return fmt.Errorf("%d delivered, %d requests", got, len(hook.requests()))
		}
		return nil
	})
	reqs := hook.requests()
	if len(reqs) != 3 || reqs[0].status != 500 || reqs[1].status != 500 || reqs[2].status != 200 {
		t.Fatalf("requests %+v, want two 500s then a 200", reqs)
	}
	if string(reqs[0].raw) != string(reqs[2].raw) {
		t.Errorf("the retry sent another body:\n%s\n%s", reqs[0].raw, reqs[2].raw)
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[2].raw, &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
		"commonAnnotations", "externalURL", "alerts"} {
		if _, ok := body[k]; !ok {
			t.Errorf("body lacks %s: %s", k, reqs[2].raw)
		}
	}
	m := reqs[2].msg
	if m.Version != "4" || m.Status != "firing" || m.Receiver != "ops" || m.GroupKey != `{}:{alertname="Hot", tenant="acme"}` ||
		m.GroupLabels["alertname"] != "Hot" || m.GroupLabels["tenant"] != "acme" || m.CommonLabels["team"] != "infra" ||
		m.ExternalURL != "http://eventops.test:8088" || m.TruncatedAlerts != 0 || len(m.Alerts) != 1 {
		t.Fatalf("message %s", reqs[2].raw)
	}
	a := m.Alerts[0]
	if a.Status != "firing" || a.Labels["host"] != "h1" || a.Labels["severity"] != "critical" || a.Annotations["summary"] != "temp on h1 is 90" ||
		!a.EndsAt.IsZero() || a.StartsAt.IsZero() || a.GeneratorURL != "http://eventops.test:8088/alerts/"+ep+"?tenant=acme" ||
		!regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(a.Fingerprint) {
		t.Fatalf("alert %s", reqs[2].raw)
	}

	// Silence h2, then make it fire: the transition is stored, not sent.
	resp, err := http.Post(p.HTTP+"/silences", "application/json", strings.NewReader(`{"tenant":"acme","matchers":["host=\"h2\""],
		"ends_at":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`","created_by":"test","comment":"maintenance"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("POST /silences: %d", resp.StatusCode)
	}
	n.send("h2", 95)
	n.stored("h2", "firing")
	eventually(t, 30*time.Second, "the silenced transition", func() error {
		if v := notifyMetric(t, p, "eventops_notify_transitions_total", `outcome="silenced"`); v != 1 {
			return fmt.Errorf("silenced %v", v)
		}
		return nil
	})
	// h1 resolves: its resolved notice goes out; h2's never does.
	n.send("h1", 10)
	eventually(t, 30*time.Second, "the resolved notice", func() error {
		if got := countOf(hook.delivered(), "resolved h1"); got != 1 {
			return fmt.Errorf("%v", hook.delivered())
		}
		return nil
	})
	for _, d := range hook.delivered() {
		if strings.HasSuffix(d, " h2") {
			t.Fatalf("the silenced alert was sent: %v", hook.delivered())
		}
	}
	p.stop(60 * time.Second)
}

// SIGKILL while an alert is firing and its notification was sent; after
// the restart there is no second firing notification, and one resolved
// notice once the value drops.
func TestNotifyKillWhileFiringSendsNoSecondNotification(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnv(t, alertingFile(hook.srv.URL, 100))
	p := n.start()
	n.send("h1", 90)
	ep := n.stored("h1", "firing")
	// Sent, and recorded as sent: the window of a duplicate (a crash
	// between the webhook's 200 and this row) is over.
	eventually(t, 30*time.Second, "the firing notification, recorded", func() error {
		var rows int
		if err := n.conn.QueryRow(context.Background(), `SELECT count(*) FROM notifications WHERE episode_id = $1 AND state = 'firing'`, ep).Scan(&rows); err != nil {
			return err
		}
		if got := countOf(hook.delivered(), "firing h1"); got != 1 || rows != 1 {
			return fmt.Errorf("%d delivered, %d recorded", got, rows)
		}
		return nil
	})
	p.kill()

	p = n.start()
	// The rule engine may emit the firing transition again after a crash
	// (same episode and state): write such a copy, as it was stored, on
	// the partition of h1. It is read before the resolved transition that
	// follows on that partition, and must not be sent again.
	var payload []byte
	if err := n.conn.QueryRow(context.Background(), `SELECT payload FROM alerts WHERE episode_id = $1 AND state = 'firing'`, ep).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	kcat(t, "acme/h1|"+string(payload)+"\n", "-b", p.Kafka[0], "-t", "ops.alert.v1", "-P", "-K", "|", "-X", "topic.partitioner=fnv1a_random")
	n.send("h1", 10)
	eventually(t, 60*time.Second, "the resolved notice", func() error {
		if got := countOf(hook.delivered(), "resolved h1"); got != 1 {
			return fmt.Errorf("delivered %v", hook.delivered())
		}
		return nil
	})
	if got := countOf(hook.delivered(), "firing h1"); got != 1 {
		t.Fatalf("%d firing notifications of h1, want 1: %v", got, hook.delivered())
	}
	// Besides the copy and the resolved one, the original firing transition
	// is read again when the kill came before its offset was committed
	// (every 500 ms).
	if got := notifyMetric(t, p, "eventops_events_in_total", `stage="notify"`); got < 2 {
		t.Fatalf("the notify stage read %v transitions after the restart, want the copy and the resolved one at least", got)
	}
	var resolved int
	if err := n.conn.QueryRow(context.Background(), `SELECT count(*) FROM notifications WHERE episode_id = $1 AND state = 'resolved'`, ep).Scan(&resolved); err != nil || resolved != 1 {
		t.Fatalf("resolved recorded %d %v", resolved, err)
	}
	p.stop(60 * time.Second)
}

// A receiver that is down: its queue (capacity 1) holds the first alert,
// later ones are refused and counted, evaluation and storage go on, and a
// clean stop leaves the undelivered alert uncommitted: after a restart it
// is delivered.
func TestNotifyFullQueueRefusesAndCounts(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 503 })
	n := newNotifyEnv(t, alertingFile(hook.srv.URL, 1))
	p := n.start()
	n.send("h1", 90)
	eventually(t, 30*time.Second, "the first attempt", func() error {
		if len(hook.requests()) == 0 {
			return fmt.Errorf("no request")
		}
		return nil
	})
	n.send("h2", 90)
	n.send("h3", 90)
	n.stored("h2", "firing")
	n.stored("h3", "firing")
	eventually(t, 30*time.Second, "the refusals", func() error {
		if v := notifyMetric(t, p, "eventops_notify_refused_total", `receiver="ops"`, `integration="webhook/0"`); v != 2 {
			return fmt.Errorf("refused %v", v)
		}
		return nil
	})
	if v := notifyMetric(t, p, "eventops_notify_queued", `receiver="ops"`); v != 1 {
		t.Fatalf("queued %v", v)
	}
	for _, q := range hook.requests() {
		for _, a := range q.msg.Alerts {
			if a.Labels["host"] != "h1" {
				t.Fatalf("a refused alert was sent: %s", q.raw)
			}
		}
	}
	p.stop(60 * time.Second)
	if !strings.Contains(p.Log(), "handed back") {
		t.Errorf("no log of the undelivered transition at shutdown:\n%s", p.Log())
	}

	hook.setStatus(func(int) int { return 200 })
	p = n.start()
	eventually(t, 60*time.Second, "h1 delivered after the restart", func() error {
		if got := countOf(hook.delivered(), "firing h1"); got != 1 {
			return fmt.Errorf("delivered %v", hook.delivered())
		}
		return nil
	})
	p.stop(60 * time.Second)
}

// Without a receivers file the stage runs, sends nothing, and says so.
func TestNotifyWithoutReceiversSaysSo(t *testing.T) {
	t.Parallel()
	env := newDevEnv(t)
	p := env.start(t)
	if !strings.Contains(p.Log(), "no receivers file (alerting)") {
		t.Fatalf("no startup log:\n%s", p.Log())
	}
	p.stop(60 * time.Second)
}
