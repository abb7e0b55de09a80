package actors_test

import (
	"slices"
	"testing"

	"github.com/eventops/eventops/rules"
)

// shadowOf marks a transition as a shadow rule's.
func shadowOf(t *rules.Transition) *rules.Transition {
	t.Shadow = true
	return t
}

// A shadow rule's transitions are settled at once and counted, never sent,
// logged or recorded; the live transition handed over after them is sent,
// alone.
func TestNotifierSkipsShadowTransitions(t *testing.T) {
	w := newWebhook(t)
	st := newMemNotifyStore()
	n := startNotifier(t, notifyConfig(t, w.url, ""), st, 0)
	for _, state := range []string{rules.StatePending, rules.StateFiring, rules.StateResolved} {
		if err := notifyAndWait(t, n, shadowOf(tr(state, "h1", "shadow1"))); err != nil {
			t.Fatalf("%s: %v", state, err)
		}
	}
	if err := notifyAndWait(t, n, tr(rules.StateFiring, "h2", "live1")); err != nil {
		t.Fatal(err)
	}
	m := w.next(t)
	if len(m.Alerts) != 1 || m.Alerts[0].Labels["host"] != "h2" {
		t.Fatalf("notification %+v", m)
	}
	if w.requests() != 1 {
		t.Fatalf("%d requests: a shadow transition was sent", w.requests())
	}
	for _, e := range st.entries() {
		if e.EpisodeID == "shadow1" {
			t.Fatalf("a shadow transition was logged: %+v", e)
		}
	}
	if got := n.metric(t, "eventops_notify_transitions_total", map[string]string{"outcome": "shadow"}); got != 3 {
		t.Fatalf("shadow transitions counted: %v, want 3", got)
	}
}

// A firing shadow alert does not inhibit a live one, and a live source
// does not inhibit a shadow target, which is not sent either: it is not
// in the inhibition state, so the source's end releases nothing of it.
func TestNotifierShadowTakesNoPartInInhibition(t *testing.T) {
	w := newWebhook(t)
	st := newMemNotifyStore()
	n := startNotifier(t, notifyConfig(t, w.url, inhibitRules), st, 0)
	mustNotify := func(trn *rules.Transition) {
		t.Helper()
		if err := notifyAndWait(t, n, trn); err != nil {
			t.Fatal(err)
		}
	}
	mustNotify(shadowOf(trOf("HostDown", "acme", "firing", "h1", "down-shadow")))
	mustNotify(trOf("HighCPU", "acme", "firing", "h1", "cpu1"))
	if m := w.next(t); m.Alerts[0].Labels["alertname"] != "HighCPU" || m.Alerts[0].Labels["host"] != "h1" {
		t.Fatalf("the live alert must be sent, not inhibited by a shadow one: %+v", m)
	}
	if slices.Contains(st.outcomes(), "inhibited cpu1 firing") {
		t.Fatalf("inhibited by a shadow alert: %v", st.outcomes())
	}

	mustNotify(trOf("HostDown", "acme", "firing", "h2", "down2"))
	if m := w.next(t); m.Alerts[0].Labels["alertname"] != "HostDown" || m.Alerts[0].Labels["host"] != "h2" {
		t.Fatalf("notification %+v", m)
	}
	mustNotify(shadowOf(trOf("HighCPU", "acme", "firing", "h2", "cpu-shadow")))
	mustNotify(trOf("HostDown", "acme", "resolved", "h2", "down2"))
	waitLogged(t, st, "sent down2 resolved")
	for _, o := range st.outcomes() {
		if o == "inhibited cpu-shadow firing" || o == "sent cpu-shadow firing" {
			t.Fatalf("a shadow target took part in inhibition: %v", st.outcomes())
		}
	}
	st.mu.Lock()
	for _, f := range st.firing["acme"] {
		if f.EpisodeID == "down-shadow" || f.EpisodeID == "cpu-shadow" {
			t.Errorf("a shadow alert is recorded firing: %s", f.EpisodeID)
		}
	}
	st.mu.Unlock()
	if w.requests() != 3 {
		t.Fatalf("%d requests, want 3 (cpu1, down2 firing and resolved)", w.requests())
	}
}
