package actors_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
)

// An alert that fires and resolves forty times, a minute apart, under a
// policy of 4 changes in an hour: its first three changes are sent, the
// fourth as the summary of its entry into flapping, the thirty-six after
// it are held and logged, and an hour after the last change the summary of
// its exit tells its state then. Five alerts told, not forty.
func TestNotifierFlappingSendsSummaries(t *testing.T) {
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
			if err := notifyAndWait(t, n, trn); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		var told []string
		summaries := 0
		for range w.requests() {
			m := <-w.got
			for _, a := range m.Alerts {
				told = append(told, a.Status)
				if a.Annotations["flapping"] != "" {
					summaries++
				}
			}
		}
		want := "firing resolved firing resolved resolved"
		if got := strings.Join(told, " "); got != want || summaries != 2 {
			t.Fatalf("told %q with %d summaries, want %q and 2", got, summaries, want)
		}
		held := 0
		for _, o := range st.outcomes() {
			if strings.HasPrefix(o, "flapping ") {
				held++
			}
		}
		// 36 held, and the entry and the exit.
		if held != 38 {
			t.Fatalf("%d flapping entries in the log: %v", held, st.outcomes())
		}
		n.stopInBubble(t)
	})
}
