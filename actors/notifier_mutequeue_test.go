package actors_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
)

// Notifications held by a maintenance window do not fill their webhook's
// queue: more muted alerts than queue_capacity leave the intake free, so
// an alert of a route outside the window is sent at once, and every muted
// alert is sent when the window ends.
func TestNotifierMutedHoldsOutsideTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now().UTC() // Saturday 2000-01-01 00:00 UTC
		w := inProcessWebhook(t)
		st := newMemNotifyStore()
		cfg, err := notify.Parse([]byte(`
queue_capacity: 2
route:
  receiver: ops
  group_by: [alertname, host]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
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
		const muted = 5
		done := make(chan error, muted+1)
		for i := range muted {
			n.Notify(context.Background(), tr(rules.StateFiring, fmt.Sprintf("h%d", i), fmt.Sprintf("e%d", i)), func(err error) { done <- err })
			synctest.Wait()
		}
		down := trOf("HostDown", "acme", rules.StateFiring, "db1", "down1")
		n.Notify(context.Background(), down, func(err error) { done <- err })
		synctest.Wait()
		if w.requests() != 1 {
			t.Fatalf("%d requests in the window, want the HostDown alert's", w.requests())
		}
		if m := w.next(t); m.Alerts[0].Labels["alertname"] != "HostDown" {
			t.Fatalf("sent %+v", m)
		}
		time.Sleep(time.Until(start.Add(2*time.Hour + time.Second)))
		synctest.Wait()
		if w.requests() != 1+muted {
			t.Fatalf("%d requests after the window, want %d", w.requests(), 1+muted)
		}
		for _, err := range settled(t, done, muted+1) {
			if err != nil {
				t.Fatal(err)
			}
		}
		n.stopInBubble(t)
	})
}
