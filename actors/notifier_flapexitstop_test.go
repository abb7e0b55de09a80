package actors_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
)

// A notifier that stops while the summary of a flapping alert's end is
// not delivered yet (its webhook fails) hands it back; the next start
// sends it (the alert is flapping again in the store), instead of never
// telling its last state.
func TestNotifierFlapExitHandedBackIsSentOnTheNextStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fail := make([]int, 10_000)
		for i := range fail {
			fail[i] = 503
		}
		w := inProcessWebhook(t, append([]int{200, 200, 200, 200}, fail...)...)
		st := newMemNotifyStore()
		policy := func(rules.RuleID) notify.FlapPolicy { return notify.FlapPolicy{Changes: 4, Window: time.Hour} }
		cfg, err := notify.Parse([]byte(`
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: ops
    webhook_configs:
      - url: ` + w.url + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		start := func() *testNotifier {
			return startNotifierWith(t, actors.NotifierOptions{Config: cfg, Store: st, DrainTimeout: 5 * time.Second,
				Client: w.client(), FlapPolicy: policy})
		}
		n := start()
		for i := range 6 {
			done := make(chan error, 1)
			n.Notify(context.Background(), flapChange("HighCPU", "e", i, time.Now()), func(err error) { done <- err })
			time.Sleep(time.Minute)
			synctest.Wait()
		}
		// The last change (e2 resolved) is held; an hour later the alert
		// settles and its summary is tried while the webhook fails when
		// the notifier stops.
		time.Sleep(time.Hour - time.Minute + time.Second)
		synctest.Wait()
		n.stopInBubble(t)
		w.mu.Lock()
		w.script = nil
		before := len(w.bodies)
		w.mu.Unlock()
		n = start()
		time.Sleep(time.Minute)
		synctest.Wait()
		n.stopInBubble(t)
		found := false
		for _, m := range w.bodies[before:] {
			for _, a := range m.Alerts {
				found = found || a.Status == "resolved" && strings.HasPrefix(a.Annotations["flapping"], "false")
			}
		}
		if !found {
			t.Fatalf("the end of the flapping was not told after the restart: %d requests", w.requests()-before)
		}
	})
}
