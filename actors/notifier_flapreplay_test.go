package actors_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
)

// logFailingStore fails writes of the notification log while fail is set.
type logFailingStore struct {
	*memNotifyStore
	fail atomic.Bool
}

func (s *logFailingStore) LogNotifications(ctx context.Context, es []store.LogEntry) error {
	if s.fail.Load() {
		return errors.New("log down")
	}
	return s.memNotifyStore.LogNotifications(ctx, es)
}

// flapChange is the i-th state change of alertname's alert on h1 at at:
// firing when i is even, resolved when odd, of episode prefix(i/2).
func flapChange(alertname, prefix string, i int, at time.Time) *rules.Transition {
	state := rules.StateFiring
	if i%2 == 1 {
		state = rules.StateResolved
	}
	trn := trOf(alertname, "acme", state, "h1", fmt.Sprintf("%s%d", prefix, i/2))
	trn.At = rules.Timestamp(at.UnixMilli())
	return trn
}

// The transition that starts an alert's flapping, handed back before its
// summary was sent (its partition moved while PostgreSQL was down) and
// read again, is sent as that summary: it is not held as if the receivers
// had been told the alert flaps.
func TestNotifierFlapEntryReadAgainIsSent(t *testing.T) {
	w := newWebhook(t)
	st := &logFailingStore{memNotifyStore: newMemNotifyStore()}
	policy := func(rules.RuleID) notify.FlapPolicy { return notify.FlapPolicy{Changes: 4, Window: time.Hour} }
	n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, ""), Store: st, DrainTimeout: 5 * time.Second,
		FlapPolicy: policy})
	at := time.Now()
	trOfChange := func(i int) *rules.Transition {
		return flapChange("HighCPU", "e", i, at.Add(time.Duration(i)*time.Minute))
	}
	for i := range 3 {
		if err := notifyAndWait(t, n, trOfChange(i)); err != nil {
			t.Fatal(err)
		}
		w.next(t)
	}
	// The fourth change enters flapping; its partition is released while
	// the log cannot be written.
	st.fail.Store(true)
	session, release := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, release)
	if err := notifyAndWaitIn(t, n, session, trOfChange(3)); !errors.Is(err, actors.ErrUndelivered) {
		t.Fatalf("settled with %v, want handed back", err)
	}
	st.fail.Store(false)
	if err := notifyAndWait(t, n, trOfChange(3)); err != nil {
		t.Fatal(err)
	}
	m := w.next(t)
	if len(m.Alerts) != 1 || m.Alerts[0].Status != "resolved" || m.Alerts[0].Annotations["flapping"] == "" {
		t.Fatalf("sent %+v, want the summary of the entry into flapping", m)
	}
}
