package actors_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/rules"
)

// A HighCPU sent before the HostDown of its host fired gets no
// repeat_interval reminder while HostDown fires (it is inhibited now), and
// gets them again once HostDown resolved; HostDown's own reminders go out.
func TestNotifierInhibitedAlertIsNotReminded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := inProcessWebhook(t)
		st := newMemNotifyStore()
		n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, inhibitRules), Store: st, DrainTimeout: 5 * time.Second,
			Client: w.client()})
		notify := func(trn *rules.Transition) {
			t.Helper()
			done := make(chan error, 1)
			n.Notify(context.Background(), trn, func(err error) { done <- err })
			synctest.Wait()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		alertnames := func() []string {
			var out []string
			for len(w.got) > 0 {
				m := <-w.got
				for _, a := range m.Alerts {
					out = append(out, a.Labels["alertname"]+" "+a.Status)
				}
			}
			slices.Sort(out)
			return out
		}
		notify(trOf("HighCPU", "acme", rules.StateFiring, "h1", "cpu1"))
		time.Sleep(10 * time.Minute)
		notify(trOf("HostDown", "acme", rules.StateFiring, "h1", "down1"))
		if got := alertnames(); !slices.Equal(got, []string{"HighCPU firing", "HostDown firing"}) {
			t.Fatalf("sent %v", got)
		}
		// An hour later: HostDown is reminded, HighCPU is not.
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := alertnames(); !slices.Equal(got, []string{"HostDown firing"}) {
			t.Fatalf("reminders while HostDown fires: %v", got)
		}
		if !slices.Contains(st.outcomes(), "inhibited cpu1 firing") {
			t.Fatalf("log %v", st.outcomes())
		}
		notify(trOf("HostDown", "acme", rules.StateResolved, "h1", "down1"))
		if got := alertnames(); !slices.Equal(got, []string{"HostDown resolved"}) {
			t.Fatalf("at HostDown's end: %v", got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := alertnames(); !slices.Equal(got, []string{"HighCPU firing"}) {
			t.Fatalf("reminders after HostDown resolved: %v", got)
		}
		n.stopInBubble(t)
	})
}
