package actors_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/rules"
)

const inhibitRules = `inhibit_rules:
  - source_matchers: ['alertname="HostDown"']
    target_matchers: ['alertname="HighCPU"']
    equal: [host]
`

// trOf is tr for another alert name and tenant.
func trOf(alertname, tenant, state, host, episode string) *rules.Transition {
	t := tr(state, host, episode)
	t.AlertName, t.Tenant = alertname, tenant
	t.Labels["alertname"], t.Labels["tenant"] = alertname, tenant
	return t
}

// A firing HostDown inhibits the HighCPU of the same host in the same
// tenant: logged with what inhibited it, not sent, and sent once HostDown
// resolves. Another host's and another tenant's HighCPU are sent at once.
// A notifier started again on the same store still knows the source.
func TestNotifierInhibition(t *testing.T) {
	w := newWebhook(t)
	st := newMemNotifyStore()
	n := startNotifier(t, notifyConfig(t, w.url, inhibitRules), st, 0)
	mustNotify := func(n *testNotifier, trn *rules.Transition) {
		t.Helper()
		if err := notifyAndWait(t, n, trn); err != nil {
			t.Fatal(err)
		}
	}
	mustNotify(n, trOf("HostDown", "acme", "firing", "h1", "down1"))
	if m := w.next(t); m.Alerts[0].Labels["alertname"] != "HostDown" {
		t.Fatalf("first notification %+v", m)
	}
	mustNotify(n, trOf("HighCPU", "acme", "firing", "h1", "cpu1"))
	if !slices.Contains(st.outcomes(), "inhibited cpu1 firing") {
		t.Fatalf("log %v", st.outcomes())
	}
	if got := st.entries()[len(st.entries())-1].Reason; got != "inhibited by HostDown{host=h1, tenant=acme} episode down1" {
		t.Fatalf("reason %q", got)
	}
	// Another host, another tenant: not inhibited.
	mustNotify(n, trOf("HighCPU", "acme", "firing", "h2", "cpu2"))
	if m := w.next(t); m.Alerts[0].Labels["host"] != "h2" {
		t.Fatalf("notification %+v", m)
	}
	mustNotify(n, trOf("HighCPU", "globex", "firing", "h1", "cpu3"))
	if m := w.next(t); m.Alerts[0].Labels["tenant"] != "globex" {
		t.Fatalf("notification %+v", m)
	}
	if w.requests() != 3 {
		t.Fatalf("%d requests: the inhibited alert was sent", w.requests())
	}

	// A restart: the source is remembered.
	n.stop(t)
	n = startNotifier(t, notifyConfig(t, w.url, inhibitRules), st, 0)
	mustNotify(n, trOf("HighCPU", "acme", "firing", "h1", "cpu4"))
	if got := fmt.Sprint(st.outcomes()); !slices.Contains(st.outcomes(), "inhibited cpu4 firing") {
		t.Fatalf("after a restart: %s", got)
	}
	if w.requests() != 3 {
		t.Fatalf("%d requests after the restart", w.requests())
	}
	// HostDown resolves: its resolved notice and the HighCPU alerts still
	// firing go out, settled with the resolved transition.
	mustNotify(n, trOf("HostDown", "acme", "resolved", "h1", "down1"))
	waitLogged(t, st, "sent cpu1 firing", "sent cpu4 firing", "sent down1 resolved")
}

// waitLogged waits until the notification log holds each of want
// ("outcome episode state").
func waitLogged(t *testing.T, st *memNotifyStore, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		missing := ""
		for _, w := range want {
			if !slices.Contains(st.outcomes(), w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within 20s: %v", missing, st.outcomes())
		}
		<-time.After(5 * time.Millisecond)
	}
}
