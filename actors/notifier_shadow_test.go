package actors_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
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

// A live rule demoted to shadow while it fires: its episode's end comes
// marked shadow, and the receivers that were told it fires are told it
// resolved; as an inhibition source it releases what it inhibited.
// The end of an episode that was shadow throughout is still not sent.
func TestNotifierDemotedAlertResolves(t *testing.T) {
	w := newWebhook(t)
	st := newMemNotifyStore()
	n := startNotifier(t, notifyConfig(t, w.url, inhibitRules), st, 0)
	mustNotify := func(trn *rules.Transition) {
		t.Helper()
		if err := notifyAndWait(t, n, trn); err != nil {
			t.Fatal(err)
		}
	}
	mustNotify(trOf("HostDown", "acme", rules.StateFiring, "h1", "down1"))
	if m := w.next(t); m.Alerts[0].Labels["alertname"] != "HostDown" || m.Alerts[0].Status != "firing" {
		t.Fatalf("notification %+v", m)
	}
	mustNotify(trOf("HighCPU", "acme", rules.StateFiring, "h1", "cpu1"))
	waitLogged(t, st, "inhibited cpu1 firing")

	// The rule is demoted; a reminder comes shadow, then its end.
	mustNotify(shadowOf(trOf("HostDown", "acme", rules.StateFiring, "h1", "down1")))
	mustNotify(shadowOf(trOf("HostDown", "acme", rules.StateResolved, "h1", "down1")))
	waitLogged(t, st, "sent down1 resolved", "sent cpu1 firing")

	mustNotify(shadowOf(trOf("HostDown", "acme", rules.StateResolved, "h2", "down-shadow")))
	for _, e := range st.entries() {
		if e.EpisodeID == "down-shadow" {
			t.Fatalf("a shadow episode's end was logged: %+v", e)
		}
	}
	if w.requests() != 3 {
		t.Fatalf("%d requests, want 3 (down1 firing and resolved, cpu1 firing)", w.requests())
	}
}

// A rule demoted within group_wait of its firing: the firing waits in its
// group, unsent, when the shadow end comes. The group drops both: the
// receiver is not sent a firing that nothing would ever resolve.
func TestNotifierDemotedWithinGroupWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := inProcessWebhook(t)
		cfg, err := notify.Parse([]byte(`
route:
  receiver: ops
  group_wait: 30s
receivers:
  - name: ops
    webhook_configs:
      - url: ` + w.url + `
`))
		if err != nil {
			t.Fatal(err)
		}
		st := newMemNotifyStore()
		n := startNotifierWith(t, actors.NotifierOptions{Config: cfg, Store: st, DrainTimeout: 5 * time.Second, Client: w.client()})
		firing := make(chan error, 1)
		n.Notify(context.Background(), tr(rules.StateFiring, "h1", "cpu1"), func(err error) { firing <- err })
		synctest.Wait()
		ended := make(chan error, 1)
		n.Notify(context.Background(), shadowOf(tr(rules.StateResolved, "h1", "cpu1")), func(err error) { ended <- err })
		time.Sleep(time.Minute)
		synctest.Wait()
		if err := <-firing; err != nil {
			t.Fatal(err)
		}
		if err := <-ended; err != nil {
			t.Fatal(err)
		}
		if len(w.got) != 0 {
			t.Fatalf("sent %+v: a firing whose end was not told", <-w.got)
		}
		n.stopInBubble(t)
	})
}

// The end of a shadow episode meets the full queue of a failing webhook:
// it is settled, neither counted refused nor logged, as it was nothing
// to deliver.
func TestNotifierShadowEndNotRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		afterStopInBubble(t)
		w := inProcessWebhook(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
		st := newMemNotifyStore()
		n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, ""), Store: st,
			DrainTimeout: 5 * time.Second, Client: w.client()})
		done := make(chan error, 2)
		n.Notify(context.Background(), tr(rules.StateFiring, "h1", "e1"), func(err error) { done <- err })
		w.next(t)
		n.Notify(context.Background(), tr(rules.StateFiring, "h2", "e2"), func(err error) { done <- err })
		if err := notifyAndWait(t, n, shadowOf(tr(rules.StateResolved, "h3", "shadow1"))); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"receiver": "ops", "integration": "webhook/0"}
		if got := n.metric(t, "eventops_notify_refused_total", labels); got != 0 {
			t.Fatalf("refused %v, want 0", got)
		}
		for _, e := range st.entries() {
			if e.EpisodeID == "shadow1" {
				t.Fatalf("a shadow episode's end was logged: %+v", e)
			}
		}
		for _, err := range settled(t, done, 2) {
			if err != nil {
				t.Fatal(err)
			}
		}
		n.stopInBubble(t)
	})
}

// A flapping alert whose firing is held when its rule is demoted: its
// shadow end is what the exit from flapping tells, not the held firing,
// which nothing would resolve after.
func TestNotifierDemotedWhileFlapping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := inProcessWebhook(t)
		st := newMemNotifyStore()
		policy := func(rules.RuleID) notify.FlapPolicy { return notify.FlapPolicy{Changes: 4, Window: time.Hour} }
		n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, ""), Store: st, DrainTimeout: 5 * time.Second,
			Client: w.client(), FlapPolicy: policy})
		for i := range 40 {
			state := rules.StateFiring
			if i%2 == 1 {
				state = rules.StateResolved
			}
			trn := tr(state, "h1", fmt.Sprintf("e%d", i/2))
			trn.At = rules.Timestamp(time.Now().UnixMilli())
			if i == 39 {
				shadowOf(trn)
			}
			if err := notifyAndWait(t, n, trn); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		var told []string
		for range w.requests() {
			m := <-w.got
			for _, a := range m.Alerts {
				told = append(told, a.Status)
			}
		}
		if got, want := strings.Join(told, " "), "firing resolved firing resolved resolved"; got != want {
			t.Fatalf("told %q, want %q", got, want)
		}
		n.stopInBubble(t)
	})
}
