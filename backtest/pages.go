package backtest

import (
	"cmp"
	"container/heap"
	"slices"
	"strconv"
	"time"

	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
)

// What a notification told of one rule's alerts, or of all of them.
type told int

const (
	toldNothing  told = iota
	toldRepeat        // a repeat_interval reminder
	toldResolved      // resolutions only
	toldFiring        // a newly firing alert: a page
)

func (n *Notifications) count(t told) {
	switch t {
	case toldFiring:
		n.Pages++
	case toldResolved:
		n.Resolved++
	case toldRepeat:
		n.Repeats++
	}
}

// notice is an episode's firing or resolved notice, at the event time the
// notify stage would have been handed it.
type notice struct {
	at   time.Time
	span *Span
	tr   *rules.Transition
}

// simGroup is one aggregation group of one webhook, as a hook actor of
// the notifier keeps it (actors/notifier.go), with event time for its
// clock and every attempt delivered at once.
type simGroup struct {
	key   string
	g     *notify.Group[struct{}]
	route *notify.Route
	// firingTold: the episodes whose firing the webhook was sent.
	firingTold map[string]bool
	gen        int
}

// pages replays the firing and resolved notices of spans (but those of
// shadow episodes, which reach no receiver), in event-time order, through cfg's routes and the notify package's groups, up to
// until, and calls tally with each rule's part of every notification sent;
// total counts every notification once.
func pages(cfg *notify.Config, spans []*Span, labels map[string]map[string]string, shadow map[string]bool, from, until time.Time,
	tally func(*Span, Notifications), total *Notifications) {
	var notices []notice
	for _, sp := range spans {
		if !sp.Fired() || shadow[sp.EpisodeID] {
			continue
		}
		tr := &rules.Transition{AlertName: sp.AlertName, RuleID: sp.RuleID, Group: sp.Group, Tenant: sp.Tenant, Host: sp.Host,
			State: rules.StateFiring, Labels: labels[sp.EpisodeID], Tags: sp.Tags, ActiveAt: sp.PendingAt,
			StartsAt: sp.FiringAt, EpisodeID: sp.EpisodeID, At: sp.FiringAt}
		notices = append(notices, notice{at: sp.FiringAt.Time(), span: sp, tr: tr})
		if sp.EndState == rules.StateResolved {
			end := *tr
			end.State, end.At = rules.StateResolved, sp.EndAt
			end.EndsAt = &sp.EndAt
			notices = append(notices, notice{at: sp.EndAt.Time(), span: sp, tr: &end})
		}
	}
	slices.SortStableFunc(notices, func(a, b notice) int { return a.at.Compare(b.at) })

	s := &sim{cfg: cfg, groups: map[string]*simGroup{}, spans: map[string]*Span{}, tally: tally, total: total, from: from}
	for _, n := range notices {
		if n.at.After(until) {
			break
		}
		s.advance(n.at, false)
		s.add(n)
	}
	s.advance(until, true)
}

type sim struct {
	cfg    *notify.Config
	groups map[string]*simGroup
	timers timerHeap
	seq    int
	// spans are the episodes by ID, to tally a notification's alerts.
	spans map[string]*Span
	tally func(*Span, Notifications)
	total *Notifications
	// from: notifications sent before it (of episodes under way at the
	// range's start) set the groups' timers but are not counted.
	from time.Time
}

// add hands a notice to the groups of the webhooks its routes name.
func (s *sim) add(n notice) {
	a, ok := notify.FromTransition(n.tr, "")
	if !ok {
		return
	}
	s.spans[n.span.EpisodeID] = n.span
	for _, r := range s.cfg.Route.Match(a.Labels) {
		rcv := s.cfg.Receiver(r.Receiver)
		if rcv == nil {
			continue
		}
		labels := r.GroupLabels(a.Labels)
		for i, w := range rcv.Webhooks {
			key := rcv.Name + "/" + strconv.Itoa(i) + "/" + r.GroupKey(labels)
			sg := s.groups[key]
			if sg == nil {
				sg = &simGroup{key: key, g: notify.NewGroup[struct{}](key, labels, r.Timing, w.SendResolved, n.at),
					route: r, firingTold: map[string]bool{}}
				s.groups[key] = sg
			}
			sg.g.Add(notify.Incoming[struct{}]{Alert: a}, n.at)
			s.schedule(sg, n.at)
		}
	}
}

// advance runs the groups' timers due before at (up to and including it
// with inclusive).
func (s *sim) advance(at time.Time, inclusive bool) {
	for len(s.timers) > 0 {
		t := s.timers[0]
		if t.at.After(at) || !inclusive && t.at.Equal(at) {
			return
		}
		heap.Pop(&s.timers)
		if sg := s.groups[t.key]; sg != nil && sg.gen == t.gen {
			s.schedule(sg, t.at)
		}
	}
}

// schedule flushes sg if it is due at now, unless its route is muted
// then, and arms its next timer; an empty group is dropped.
func (s *sim) schedule(sg *simGroup, now time.Time) {
	sg.gen++
	if sg.g.Due(now) {
		if _, muted, until := sg.route.Muted(now); muted {
			if until.After(now) {
				s.arm(sg, until)
			}
			return
		}
		if b, _ := sg.g.Flush(now); b != nil {
			s.delivered(sg, b, !now.Before(s.from))
			sg.g.Result(b, notify.Delivered, now, 0)
		}
	}
	if sg.g.Empty() {
		delete(s.groups, sg.key)
		return
	}
	if at, ok := sg.g.NextAt(now); ok {
		s.arm(sg, at)
	}
}

func (s *sim) arm(sg *simGroup, at time.Time) {
	s.seq++
	heap.Push(&s.timers, timer{at: at, seq: s.seq, key: sg.key, gen: sg.gen})
}

// delivered tallies notification b of sg, when counted.
func (s *sim) delivered(sg *simGroup, b *notify.Batch[struct{}], counted bool) {
	byRule := map[ruleKey]told{}
	first := map[ruleKey]*Span{}
	all := toldNothing
	for _, a := range b.Alerts {
		sp := s.spans[a.EpisodeID]
		k := ruleKey{sp.Group, sp.AlertName, sp.RuleID}
		t := toldNothing
		switch {
		case a.Status == notify.StatusResolved:
			t = toldResolved
			delete(sg.firingTold, a.EpisodeID)
		case !sg.firingTold[a.EpisodeID]:
			t = toldFiring
			sg.firingTold[a.EpisodeID] = true
		case b.Repeat:
			t = toldRepeat
		}
		if _, ok := first[k]; !ok {
			first[k] = sp
		}
		byRule[k] = max(byRule[k], t)
		all = max(all, t)
	}
	if !counted {
		return
	}
	for k, t := range byRule {
		var n Notifications
		n.count(t)
		s.tally(first[k], n)
	}
	s.total.count(all)
}

// timer is a group's next flush; gen tells a timer that a later schedule
// replaced.
type timer struct {
	at       time.Time
	seq, gen int
	key      string
}

type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	return cmp.Or(h[i].at.Compare(h[j].at), cmp.Compare(h[i].seq, h[j].seq)) < 0
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
