package actors_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/rules"
)

// A source's resolution handed back after the notifier forgot the source
// (its partition moved while the webhook failed) releases its targets when
// it is read again.
func TestNotifierSourceResolvedReadAgainReleases(t *testing.T) {
	fail := make([]int, 1000)
	for i := range fail {
		fail[i] = 503
	}
	w := newWebhook(t, append([]int{200}, fail...)...)
	st := newMemNotifyStore()
	n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, inhibitRules), Store: st, DrainTimeout: 5 * time.Second})
	if err := notifyAndWait(t, n, trOf("HostDown", "acme", rules.StateFiring, "h1", "down1")); err != nil {
		t.Fatal(err)
	}
	if err := notifyAndWait(t, n, trOf("HighCPU", "acme", rules.StateFiring, "h1", "cpu1")); err != nil {
		t.Fatal(err)
	}
	session, release := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, release)
	if err := notifyAndWaitIn(t, n, session, trOf("HostDown", "acme", rules.StateResolved, "h1", "down1")); !errors.Is(err, actors.ErrUndelivered) {
		t.Fatalf("settled with %v, want handed back", err)
	}
	w.mu.Lock()
	w.script = nil
	w.mu.Unlock()
	if err := notifyAndWait(t, n, trOf("HostDown", "acme", rules.StateResolved, "h1", "down1")); err != nil {
		t.Fatal(err)
	}
	waitLogged(t, st, "sent cpu1 firing", "sent down1 resolved")
}
