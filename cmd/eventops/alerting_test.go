package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
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

func inhibitionFile(url string) string {
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
inhibit_rules:
  - source_matchers: ['alertname="HostDown"']
    target_matchers: ['alertname="HighCPU"']
    equal: [host]
`, url)
}

// A firing HostDown mutes the HighCPU of the same host of the same tenant:
// the HighCPU transition is stored and logged as inhibited (by what), not
// sent, also after a restart; once HostDown resolves the HighCPU still
// firing is sent. Another tenant's HighCPU on a host of the same name is
// sent at once.
func TestAlertingInhibition(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnvRules(t, alertingRules, inhibitionFile(hook.srv.URL))
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
