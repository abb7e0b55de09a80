package backtest

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/eventops/eventops/rules"
)

// Span is one episode of one alert, as its transitions draw it: pending
// from PendingAt, firing from FiringAt (0: it never fired), ended at EndAt
// with EndState resolved or inactive (0 and "": still open when the range
// ended). Times are unix milliseconds of event time. A carried episode
// was open when the range started (pending or firing, from before it).
type Span struct {
	EpisodeID string            `json:"episode_id"`
	RuleID    rules.RuleID      `json:"rule_id"`
	Group     string            `json:"group"`
	AlertName string            `json:"alertname"`
	Tenant    string            `json:"tenant"`
	Host      string            `json:"host"`
	Tags      map[string]string `json:"tags,omitempty"`
	PendingAt rules.Timestamp   `json:"pending_at"`
	FiringAt  rules.Timestamp   `json:"firing_at,omitempty"`
	EndAt     rules.Timestamp   `json:"end_at,omitempty"`
	EndState  string            `json:"end_state,omitempty"`
	// Reason is why the episode ended other than by its condition
	// (series_gone, rule_removed, ...).
	Reason string `json:"reason,omitempty"`
	// Resends counts the reminders of the firing alert.
	Resends int `json:"resends,omitempty"`
	// Carried: the episode was open at the range's start (FiringAt before
	// it: live paged it before); its time firing counts from the start.
	Carried bool `json:"carried,omitempty"`
	// from is the range's start for a carried episode (0: unknown).
	from rules.Timestamp
}

// Fired reports whether the episode fired.
func (s *Span) Fired() bool { return s.FiringAt != 0 }

// FiringMilli is how long the episode fired from from (ms; 0: from when
// it fired; a carried episode's from is at least the range's start) up to
// its end, or up to until while still open.
func (s *Span) FiringMilli(from, until int64) int64 {
	if !s.Fired() {
		return 0
	}
	end := until
	if s.EndAt != 0 {
		end = int64(s.EndAt)
	}
	return max(0, end-max(int64(s.FiringAt), from, int64(s.from)))
}

// endedBefore reports whether the episode ended before from (ms; 0: never):
// it belongs to what came before a range that starts at from.
func (s *Span) endedBefore(from int64) bool { return s.EndAt != 0 && int64(s.EndAt) < from }

// Spans folds transitions into episodes, one Span per episode ID, in the
// order of their first transitions. Its memory grows with the number of
// episodes, not of transitions.
type Spans struct {
	list  []*Span
	index map[string]int
	// tags keeps each distinct set of series tags once: a series that
	// flaps has many episodes, and every transition brings its own map.
	tags labelSets
}

// AddOpen folds in an episode open at the range's start, as
// backtest.Options.Open describes it (its At is the start): its span
// starts pending at ActiveAt, firing at StartsAt when it fires, carried.
func (s *Spans) AddOpen(tr *rules.Transition) {
	sp := s.span(tr)
	sp.Carried, sp.from = true, tr.At
	if tr.State == rules.StateFiring && sp.FiringAt == 0 {
		sp.FiringAt = tr.StartsAt
	}
}

// span returns tr's episode, added in with its first transition.
func (s *Spans) span(tr *rules.Transition) *Span {
	if s.index == nil {
		s.index = map[string]int{}
	}
	i, ok := s.index[tr.EpisodeID]
	if !ok {
		i = len(s.list)
		s.index[tr.EpisodeID] = i
		s.list = append(s.list, &Span{EpisodeID: tr.EpisodeID, RuleID: tr.RuleID, Group: tr.Group,
			AlertName: tr.AlertName, Tenant: tr.Tenant, Host: tr.Host, Tags: s.tags.intern(tr.Tags), PendingAt: tr.ActiveAt})
		// An episode first seen past its start (a reminder or its end) was
		// open before the transitions began, as if carried in without its
		// record; a reminder fired at StartsAt (see Add for resolved).
		if tr.Resend || tr.State == rules.StateResolved || tr.State == rules.StateInactive {
			s.list[i].Carried = true
		}
		if tr.Resend {
			s.list[i].FiringAt = tr.StartsAt
		}
	}
	return s.list[i]
}

// Add folds one transition in. A transition seen again (the same episode
// and state, as a replay writes it) changes nothing.
func (s *Spans) Add(tr *rules.Transition) {
	sp := s.span(tr)
	switch tr.State {
	case rules.StateFiring:
		if tr.Resend {
			sp.Resends++
		} else if sp.FiringAt == 0 {
			sp.FiringAt = tr.StartsAt
		}
	case rules.StateResolved, rules.StateInactive:
		if tr.State == rules.StateResolved && sp.FiringAt == 0 {
			// Resolved ends a firing alert: its firing came before the
			// transitions began (a range read from mid-episode).
			sp.FiringAt = tr.StartsAt
		}
		if sp.EndState == "" {
			sp.EndState, sp.Reason, sp.EndAt = tr.State, tr.Reason, tr.At
			if tr.EndsAt != nil {
				sp.EndAt = *tr.EndsAt
			}
		}
	}
}

// List returns the episodes in the order of their first transitions.
func (s *Spans) List() []*Span { return s.list }

// Sorted returns the episodes ordered by rule (group, alert name), then
// tenant, host, series tags and start time: the order reports print.
func (s *Spans) Sorted() []*Span {
	out := slices.Clone(s.list)
	slices.SortStableFunc(out, func(a, b *Span) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.AlertName, b.AlertName),
			cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Host, b.Host),
			cmp.Compare(seriesKey(a.Tags), seriesKey(b.Tags)), cmp.Compare(a.PendingAt, b.PendingAt))
	})
	return out
}

// seriesKey is a series' tags as one comparable string, sorted by name;
// names and values are quoted, so that no text inside a value (a comma,
// an equals sign) makes two series one.
func seriesKey(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		b = strconv.AppendQuote(b, k)
		b = append(b, '=')
		b = strconv.AppendQuote(b, tags[k])
		b = append(b, ',')
	}
	return string(b)
}

// labelSets holds one copy of each distinct label (or tag) set; the sets
// are never modified.
type labelSets map[string]map[string]string

// intern returns the set held equal to m, holding m if there is none.
func (l *labelSets) intern(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	k := seriesKey(m)
	if held, ok := (*l)[k]; ok {
		return held
	}
	if *l == nil {
		*l = labelSets{}
	}
	(*l)[k] = m
	return m
}
