package notify

import (
	"testing"
	"time"
)

// An acknowledged episode is left out of repeat_interval reminders until
// its ack expires; a reminder with only acknowledged episodes is not sent
// and is looked at again when the first ack expires. New alerts and the
// resolved notice are not held.
func TestGroupLeavesAcknowledgedEpisodesOutOfReminders(t *testing.T) {
	timing := Timing{GroupWait: 10 * time.Second, GroupInterval: 60 * time.Second, RepeatInterval: 600 * time.Second}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	acks := Acks{}
	var asked int
	g := NewGroup[string]("k", nil, timing, true, t0)
	g.SetAcks(func(alerts []Alert, now time.Time) Acks {
		asked++
		return acks
	})
	firing := func(ep string) Alert { return Alert{EpisodeID: ep, Status: StatusFiring, Fingerprint: ep} }
	flush := func(now time.Time) string {
		t.Helper()
		if !g.Due(now) {
			t.Fatalf("%s: not due", now.Sub(t0))
		}
		b, _ := g.Flush(now)
		if b == nil {
			return "none"
		}
		g.Result(b, Delivered, now, 0)
		return describe(b)
	}
	next := func(now time.Time) time.Duration {
		at, ok := g.NextAt(now)
		if !ok {
			return -1
		}
		return at.Sub(t0)
	}

	g.Add(Incoming[string]{Alert: firing("e1"), Token: "a"}, at(0))
	g.Add(Incoming[string]{Alert: firing("e2"), Token: "b"}, at(0))
	if got := flush(at(10)); got != "firing:e1 firing:e2 | a b" {
		t.Fatalf("first notification %q", got)
	}
	if asked != 0 {
		t.Fatalf("acks asked %d times before any reminder", asked)
	}
	// e1 is acknowledged until resolved: the reminder tells e2 only.
	acks["e1"] = time.Time{}
	if got := flush(at(610)); got != "firing:e2 | repeat" {
		t.Fatalf("reminder %q", got)
	}
	// e2 too, until 1500 s: no reminder at 1210, asked again at 1500.
	acks["e2"] = at(1500)
	if got := flush(at(1210)); got != "none" {
		t.Fatalf("held reminder %q", got)
	}
	if n := next(at(1210)); n != 1500*time.Second {
		t.Fatalf("next look at %v, want when e2's ack expires (1500s)", n)
	}
	if g.Due(at(1499)) {
		t.Fatal("due before the ack expires")
	}
	// e2's ack expired: it is reminded again, e1 still not.
	if got := flush(at(1500)); got != "firing:e2 | repeat" {
		t.Fatalf("reminder after the ack expired %q", got)
	}
	// Both acknowledged until resolved: held, looked at a repeat_interval
	// later.
	acks["e2"] = time.Time{}
	if got := flush(at(2100)); got != "none" || next(at(2100)) != 2700*time.Second {
		t.Fatalf("held reminder %q, next %v", got, next(at(2100)))
	}
	// A new alert is sent at once with the others (news is not held), and
	// e1's resolved notice goes out.
	g.Add(Incoming[string]{Alert: firing("e3"), Token: "c"}, at(2200))
	if got := flush(at(2200)); got != "firing:e1 firing:e2 firing:e3 | c" {
		t.Fatalf("new alert %q", got)
	}
	g.Add(Incoming[string]{Alert: Alert{EpisodeID: "e1", Status: StatusResolved, Fingerprint: "e1"}, Token: "d"}, at(2300))
	if got := flush(at(2300)); got != "resolved:e1 firing:e2 firing:e3 | d" {
		t.Fatalf("resolved notice %q", got)
	}
}
