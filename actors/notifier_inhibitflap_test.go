package actors_test

import (
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
)

// An inhibiting alert that flaps and resolves while its notifications are
// held releases what it inhibited: the HighCPU it muted while it fired is
// sent when it resolves, not kept silent because the resolution of a
// flapping alert is not told.
func TestNotifierFlappingSourceReleasesWhenItResolves(t *testing.T) {
	w := newWebhook(t)
	st := newMemNotifyStore()
	policy := func(rules.RuleID) notify.FlapPolicy { return notify.FlapPolicy{Changes: 4, Window: time.Hour} }
	n := startNotifierWith(t, actors.NotifierOptions{Config: notifyConfig(t, w.url, inhibitRules), Store: st, DrainTimeout: 5 * time.Second,
		FlapPolicy: policy})
	at := time.Now()
	change := func(i int) {
		t.Helper()
		if err := notifyAndWait(t, n, flapChange("HostDown", "down", i, at.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	// Four changes: HostDown flaps; the fifth (down2 firing) is held.
	for i := range 5 {
		change(i)
	}
	waitLogged(t, st, "flapping down2 firing")
	cpu := trOf("HighCPU", "acme", rules.StateFiring, "h1", "cpu1")
	cpu.At = rules.Timestamp(at.Add(5 * time.Minute).UnixMilli())
	if err := notifyAndWait(t, n, cpu); err != nil {
		t.Fatal(err)
	}
	waitLogged(t, st, "inhibited cpu1 firing")
	// down2 resolves, held: HighCPU is no longer inhibited.
	change(5)
	waitLogged(t, st, "flapping down2 resolved", "sent cpu1 firing")
}
