package actors_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
)

const muteRoutes = `time_intervals:
  - name: maintenance
    time_intervals:
      - weekdays: [saturday]
        times: [{start_time: '00:00', end_time: '02:00'}]
`

// A notification due in a mute_time_intervals window is held (its
// transition not settled) and logged as muted; at the window's end what
// still fires is sent, and an episode that fired and resolved within the
// window is never sent. Time passes in the bubble, not on the wall.
func TestNotifierMuteTimeInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now().UTC() // the bubble starts on Saturday 2000-01-01 00:00 UTC
		if start.Weekday() != time.Saturday || start.Hour() != 0 {
			t.Fatalf("bubble starts at %v", start)
		}
		w := inProcessWebhook(t)
		st := newMemNotifyStore()
		cfg, err := notify.Parse([]byte(`
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['alertname="HighCPU"']
      mute_time_intervals: [maintenance]
receivers:
  - name: ops
    webhook_configs:
      - url: ` + w.url + "\n" + muteRoutes))
		if err != nil {
			t.Fatal(err)
		}
		n := startNotifierWith(t, actors.NotifierOptions{Config: cfg, Store: st, DrainTimeout: 5 * time.Second, Client: w.client()})
		done := make(chan error, 3)
		n.Notify(context.Background(), tr(rules.StateFiring, "h1", "e1"), func(err error) { done <- err })
		time.Sleep(10 * time.Minute)
		n.Notify(context.Background(), tr(rules.StateFiring, "h2", "e2"), func(err error) { done <- err })
		time.Sleep(10 * time.Minute)
		n.Notify(context.Background(), tr(rules.StateResolved, "h2", "e2"), func(err error) { done <- err })
		synctest.Wait()
		if w.requests() != 0 {
			t.Fatalf("%d requests in the maintenance window", w.requests())
		}
		if len(done) != 0 {
			t.Fatal("a muted transition was settled before it was sent")
		}
		if !slices.Contains(st.outcomes(), "muted e1 firing") {
			t.Fatalf("log %v", st.outcomes())
		}
		for _, e := range st.entries() {
			if e.Outcome == "muted" && e.Reason != "in mute_time_intervals maintenance" {
				t.Fatalf("reason %q", e.Reason)
			}
		}
		time.Sleep(time.Until(start.Add(2 * time.Hour)))
		m := w.next(t)
		if at := time.Now().UTC(); at.Before(start.Add(2*time.Hour)) || at.After(start.Add(2*time.Hour+time.Second)) {
			t.Fatalf("sent at %v, want at the window's end", at)
		}
		if len(m.Alerts) != 1 || m.Alerts[0].Labels["host"] != "h1" || m.Alerts[0].Status != "firing" {
			t.Fatalf("sent %+v", m)
		}
		for _, err := range settled(t, done, 3) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if w.requests() != 1 {
			t.Fatalf("%d requests", w.requests())
		}
		n.stopInBubble(t)
	})
}
