package actors_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
)

// together holds the first of its callers, once armed, until a second
// has come (or a second passed): the two replicas act on the same reads.
type together struct {
	armed   atomic.Bool
	arrived chan struct{}
	both    chan struct{}
	once    sync.Once
}

func newTogether() *together {
	return &together{arrived: make(chan struct{}, 1), both: make(chan struct{})}
}

func (g *together) wait() {
	if !g.armed.Load() {
		return
	}
	select {
	case g.arrived <- struct{}{}:
		// Alone after a second (of the bubble's clock): the other replica
		// does not come.
		select {
		case <-g.both:
		case <-time.After(time.Second):
		}
	default:
		g.once.Do(func() { close(g.both) })
	}
}

// readTogether lets two replicas read a flapping state and then what was
// sent of it at once.
type readTogether struct {
	*memNotifyStore
	flap, sent *together
}

func (s *readTogether) FlapState(ctx context.Context, tenant, fingerprint string) ([]byte, error) {
	b, err := s.memNotifyStore.FlapState(ctx, tenant, fingerprint)
	s.flap.wait()
	return b, err
}

func (s *readTogether) SentNotifications(ctx context.Context, tenant, episode string) ([]store.SentState, error) {
	sent, err := s.memNotifyStore.SentNotifications(ctx, tenant, episode)
	s.sent.wait()
	return sent, err
}

// Two replicas share the store; the one started while an alert flaps
// looks after its end too. When it settles, its receivers get one summary
// of its state, not one per replica, even when both read its state at
// once.
func TestNotifierFlapExitOncePerAlert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := inProcessWebhook(t)
		st := &readTogether{memNotifyStore: newMemNotifyStore(), flap: newTogether(), sent: newTogether()}
		policy := func(rules.RuleID) notify.FlapPolicy { return notify.FlapPolicy{Changes: 4, Window: time.Hour} }
		start := func() *testNotifier {
			return startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, ""), Store: st, DrainTimeout: 5 * time.Second,
				Client: w.client(), FlapPolicy: policy})
		}
		n1 := start()
		for i := range 5 {
			if err := notifyAndWait(t, n1, flapChange("HighCPU", "e", i, time.Now())); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
		}
		synctest.Wait()
		before := w.requests()
		n2 := start()
		st.flap.armed.Store(true)
		st.sent.armed.Store(true)
		time.Sleep(time.Hour + 10*time.Minute)
		synctest.Wait()
		n1.stopInBubble(t)
		n2.stopInBubble(t)
		summaries := 0
		for _, m := range w.bodies {
			for _, a := range m.Alerts {
				if strings.HasPrefix(a.Annotations["flapping"], "false") {
					summaries++
				}
			}
		}
		if w.requests()-before != 1 || summaries != 1 {
			t.Fatalf("%d requests after the flapping (%d exit summaries), want 1", w.requests()-before, summaries)
		}
	})
}
