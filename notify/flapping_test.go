package notify

import (
	"testing"
	"time"
)

// Forty changes a minute apart with a policy of 4 in an hour: the fourth
// enters, the thirty-six after are held, and an hour of quiet settles it;
// a change after that finds one change in the window and is not flapping.
func TestFlapping(t *testing.T) {
	p := FlapPolicy{Changes: 4, Window: time.Hour}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var st FlapState
	count := map[FlapEvent]int{}
	for i := range 40 {
		status := StatusFiring
		if i%2 == 1 {
			status = StatusResolved
		}
		var ev FlapEvent
		st, ev = p.Observe(st, Alert{Status: status}, t0.Add(time.Duration(i)*time.Minute))
		if i == 3 && ev != FlapEnter {
			t.Fatalf("change %d: %v", i, ev)
		}
		count[ev]++
		// A copy read again changes nothing; a copy of the entry is the
		// entry again (its summary may not have been sent).
		want := map[FlapEvent]bool{FlapNone: true, FlapHeld: true}
		if i == 3 {
			want = map[FlapEvent]bool{FlapEnter: true}
		}
		if again, ev2 := p.Observe(st, Alert{Status: status}, t0.Add(time.Duration(i)*time.Minute)); len(again.Changes) != len(st.Changes) ||
			!want[ev2] {
			t.Fatalf("copy of change %d: %v", i, ev2)
		}
	}
	if count[FlapNone] != 3 || count[FlapEnter] != 1 || count[FlapHeld] != 36 || count[FlapExit] != 0 {
		t.Fatalf("events %v", count)
	}
	// A crash reads the last two transitions again: not two more changes.
	for i, status := range []string{StatusFiring, StatusResolved} {
		again, _ := p.Observe(st, Alert{Status: status}, t0.Add(time.Duration(38+i)*time.Minute))
		if !again.Changes[len(again.Changes)-1].Equal(t0.Add(39 * time.Minute)) {
			t.Fatalf("a copy read again counted as a change: %v", again.Changes)
		}
	}
	if st.Held == nil || st.Held.Status != StatusResolved {
		t.Fatalf("held %+v", st.Held)
	}
	last := t0.Add(39 * time.Minute)
	if st.Settled(last.Add(59*time.Minute)) || !st.Settled(last.Add(time.Hour)) {
		t.Fatal("settled at the wrong time")
	}
	// Exit at a transition: a change two hours later finds one change in
	// the window.
	st2, ev := p.Observe(st, Alert{Status: StatusFiring}, last.Add(2*time.Hour))
	if ev != FlapExit || st2.Flapping {
		t.Fatalf("after quiet: %v %+v", ev, st2)
	}
	// Off: never flapping; turning it off ends flapping.
	if _, ev := (FlapPolicy{}).Observe(st, Alert{Status: StatusFiring}, last); ev != FlapExit {
		t.Fatalf("policy off: %v", ev)
	}
	if s := FlapSummary(Alert{Annotations: map[string]string{"a": "b"}}, p, true); s.Annotations["flapping"] == "" || s.Annotations["a"] != "b" || !s.Flapping {
		t.Fatalf("summary %+v", s)
	}
}

// The state names its alert by the labels of its last change, and a copy
// read again does not change them.
func TestFlappingKeepsTheLabels(t *testing.T) {
	p := FlapPolicy{Changes: 4, Window: time.Hour}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	labels := map[string]string{"alertname": "Hot", "host": "h1"}
	st, _ := p.Observe(FlapState{}, Alert{Status: StatusFiring, Labels: labels}, t0)
	if st.Labels["host"] != "h1" {
		t.Fatalf("labels %v", st.Labels)
	}
	again, _ := p.Observe(st, Alert{Status: StatusFiring, Labels: map[string]string{"host": "other"}}, t0)
	if again.Labels["host"] != "h1" {
		t.Fatalf("a copy read again changed the labels: %v", again.Labels)
	}
}
