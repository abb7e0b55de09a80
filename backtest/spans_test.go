package backtest

import (
	"testing"

	"github.com/eventops/eventops/rules"
)

func tr(ep, state string, active, starts, at int64) *rules.Transition {
	t := &rules.Transition{EpisodeID: ep, AlertName: "HighCPU", Group: "host", Tenant: "acme", Host: "h1",
		State: state, ActiveAt: rules.Timestamp(active), StartsAt: rules.Timestamp(starts), At: rules.Timestamp(at)}
	if state == rules.StateResolved || state == rules.StateInactive {
		e := rules.Timestamp(at)
		t.EndsAt = &e
	}
	return t
}

func TestSpansFoldEpisodes(t *testing.T) {
	var s Spans
	s.Add(tr("e1", rules.StatePending, 1000, 1000, 1000))
	s.Add(tr("e1", rules.StateFiring, 1000, 4000, 4000))
	s.Add(tr("e2", rules.StatePending, 5000, 5000, 5000))
	resend := tr("e1", rules.StateFiring, 1000, 4000, 6000)
	resend.Resend = true
	s.Add(resend)
	s.Add(tr("e1", rules.StateResolved, 1000, 4000, 9000))
	s.Add(tr("e1", rules.StateResolved, 1000, 4000, 9500)) // read again: changes nothing
	s.Add(tr("e2", rules.StateInactive, 5000, 5000, 7000))
	s.Add(tr("e3", rules.StatePending, 10000, 10000, 10000))
	s.Add(tr("e3", rules.StateFiring, 10000, 12000, 12000))

	l := s.List()
	if len(l) != 3 {
		t.Fatalf("got %d spans, want 3", len(l))
	}
	e1, e2, e3 := l[0], l[1], l[2]
	if e1.PendingAt != 1000 || e1.FiringAt != 4000 || e1.EndAt != 9000 || e1.EndState != rules.StateResolved || e1.Resends != 1 {
		t.Errorf("e1 = %+v", *e1)
	}
	if e1.FiringMilli(0, 20000) != 5000 {
		t.Errorf("e1 fired %d ms, want 5000", e1.FiringMilli(0, 20000))
	}
	if e2.Fired() || e2.EndState != rules.StateInactive || e2.EndAt != 7000 || e2.FiringMilli(0, 20000) != 0 {
		t.Errorf("e2 = %+v", *e2)
	}
	if e3.EndAt != 0 || e3.FiringMilli(0, 20000) != 8000 {
		t.Errorf("e3 open: %+v fired %d", *e3, e3.FiringMilli(0, 20000))
	}
}

func TestSpansSortedByRuleThenSeries(t *testing.T) {
	var s Spans
	b := tr("b", rules.StatePending, 2000, 2000, 2000)
	b.Tags = map[string]string{"mount": "/var"}
	a := tr("a", rules.StatePending, 3000, 3000, 3000)
	a.Tags = map[string]string{"mount": "/"}
	c := tr("c", rules.StatePending, 1000, 1000, 1000)
	c.AlertName = "DiskFull"
	s.Add(b)
	s.Add(a)
	s.Add(c)
	got := ""
	for _, sp := range s.Sorted() {
		got += sp.EpisodeID
	}
	if got != "cab" {
		t.Errorf("order %q, want cab", got)
	}
}

// TestSpansFirstSeenPastTheirStart: an episode whose first transition is
// its resolution (no record of it being open at the start) fired, at its
// StartsAt, and was open before: it is carried.
func TestSpansFirstSeenPastTheirStart(t *testing.T) {
	var s Spans
	s.Add(tr("e1", rules.StateResolved, 1000, 4000, 9000))
	sp := s.List()[0]
	if !sp.Fired() || sp.FiringAt != 4000 || !sp.Carried || sp.EndAt != 9000 || sp.FiringMilli(0, 20000) != 5000 {
		t.Errorf("e1 = %+v", *sp)
	}
}
