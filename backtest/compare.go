package backtest

import (
	"cmp"
	"slices"
	"time"

	"github.com/eventops/eventops/rules"
)

// Kinds of EpisodeChange.
const (
	ChangeAdded   = "added"   // an episode of the new rules only
	ChangeRemoved = "removed" // an episode of the old rules only
	ChangeEarlier = "earlier" // paired; the new one went pending earlier
	ChangeLater   = "later"   // paired; the new one went pending later
	// ChangeChanged: paired, pending at the same time, but it fired at
	// another time (or only on one side), or ended at another time.
	ChangeChanged = "changed"
)

// DiffCounts count how the episodes of the new rules differ from those of
// the old, over one series or one rule.
type DiffCounts struct {
	EpisodesOld int `json:"episodes_old"`
	EpisodesNew int `json:"episodes_new"`
	FiredOld    int `json:"fired_old"`
	FiredNew    int `json:"fired_new"`
	Added       int `json:"added"`
	Removed     int `json:"removed"`
	Earlier     int `json:"earlier"`
	Later       int `json:"later"`
	Changed     int `json:"changed"`
	// Firing times in milliseconds, an open episode counted up to the end
	// of the range; FiringDeltaMilli is new minus old.
	FiringMilliOld   int64 `json:"firing_ms_old"`
	FiringMilliNew   int64 `json:"firing_ms_new"`
	FiringDeltaMilli int64 `json:"firing_delta_ms"`
}

// Differs reports whether anything changed.
func (d *DiffCounts) Differs() bool {
	return d.Added+d.Removed+d.Earlier+d.Later+d.Changed > 0 || d.FiringDeltaMilli != 0
}

func (d *DiffCounts) add(o DiffCounts) {
	d.EpisodesOld += o.EpisodesOld
	d.EpisodesNew += o.EpisodesNew
	d.FiredOld += o.FiredOld
	d.FiredNew += o.FiredNew
	d.Added += o.Added
	d.Removed += o.Removed
	d.Earlier += o.Earlier
	d.Later += o.Later
	d.Changed += o.Changed
	d.FiringMilliOld += o.FiringMilliOld
	d.FiringMilliNew += o.FiringMilliNew
	d.FiringDeltaMilli += o.FiringDeltaMilli
}

// EpisodeChange is one episode that differs: Old and New are the paired
// episodes (one of them nil for added and removed); ShiftMilli is how much
// later the new one went pending (negative: earlier).
type EpisodeChange struct {
	Kind       string `json:"kind"`
	Old        *Span  `json:"old,omitempty"`
	New        *Span  `json:"new,omitempty"`
	ShiftMilli int64  `json:"shift_ms,omitempty"`
}

// SeriesDiff is how one series' episodes of one rule differ.
type SeriesDiff struct {
	Tenant string            `json:"tenant"`
	Host   string            `json:"host"`
	Tags   map[string]string `json:"tags,omitempty"`
	DiffCounts
	Changes []EpisodeChange `json:"changes"`
}

// RuleDiff is how one rule's episodes differ; Series lists the series
// with a difference.
type RuleDiff struct {
	Group     string `json:"group"`
	AlertName string `json:"alertname"`
	// OldRuleID and NewRuleID are the rule's IDs in each file (absent
	// where the file has no such rule, or it had no episode and the rule
	// sets were not given).
	OldRuleID rules.RuleID `json:"old_rule_id,omitempty"`
	NewRuleID rules.RuleID `json:"new_rule_id,omitempty"`
	DiffCounts
	Series []SeriesDiff `json:"series"`
}

// Comparison is the difference between two backtests of one history.
type Comparison struct {
	Until rules.Timestamp `json:"until"`
	Rules []RuleDiff      `json:"rules"`
}

// CompareOptions say what Compare compares over.
type CompareOptions struct {
	// From is the start of the range: episodes that ended before it and
	// firing time before it are not counted; zero counts all.
	From time.Time
	// Until is the end of the range: open episodes end there; zero takes
	// the time of the last transition of either side.
	Until time.Time
	// Old and New, when given, list every rule of both files, those
	// without an episode too, with their IDs.
	Old, New *rules.RuleSet
}

// Compare tells how the episodes of new differ from those of old, the
// same history run through two rule files.
//
// Rules are matched by group and alert name (a changed expression or
// threshold changes a rule's ID; two rules sharing a group and alert name
// are compared as one), and episodes within a series (tenant, host, tags)
// of a rule. An episode spans [pending, end), an open one up to the range's
// end. Episodes are paired in order of their pending times: an old and a
// new episode that overlap are paired, and otherwise the one that ends
// first is unpaired, and the walk goes on. So each episode is paired at
// most once, with the first episode of the other side it overlaps that
// no earlier one took: where a raised threshold splits one episode in two,
// the first of the two is paired (later) and the second is added; where a
// lowered one merges two, the second old one is removed. Added minus
// removed is always the change in the number of episodes. A paired
// episode is earlier or later by its pending time, and changed when it
// went pending at the same time but fired or ended at another.
func Compare(old, new []*Span, opts CompareOptions) *Comparison {
	if opts.Until.IsZero() {
		opts.Until = lastTime(old, new)
	}
	until := int64(opts.Until.UnixMilli())
	type rk struct{ group, alertname string }
	type sides struct{ old, new []*Span }
	bySeries := map[rk]map[string]*sides{}
	rows := map[rk]*RuleDiff{}
	row := func(group, alertname string) *RuleDiff {
		k := rk{group, alertname}
		if rows[k] == nil {
			rows[k] = &RuleDiff{Group: group, AlertName: alertname}
			bySeries[k] = map[string]*sides{}
		}
		return rows[k]
	}
	if opts.Old != nil {
		for r := range opts.Old.Rules() {
			row(r.Group(), r.Name()).OldRuleID = r.ID()
		}
	}
	if opts.New != nil {
		for r := range opts.New.Rules() {
			row(r.Group(), r.Name()).NewRuleID = r.ID()
		}
	}
	from := fromMilli(opts.From)
	for i, list := range [][]*Span{old, new} {
		for _, sp := range list {
			if sp.endedBefore(from) {
				continue
			}
			rd := row(sp.Group, sp.AlertName)
			if i == 0 && rd.OldRuleID == 0 {
				rd.OldRuleID = sp.RuleID
			}
			if i == 1 && rd.NewRuleID == 0 {
				rd.NewRuleID = sp.RuleID
			}
			m := bySeries[rk{sp.Group, sp.AlertName}]
			key := sp.Tenant + "\x00" + sp.Host + "\x00" + seriesKey(sp.Tags)
			if m[key] == nil {
				m[key] = &sides{}
			}
			if i == 0 {
				m[key].old = append(m[key].old, sp)
			} else {
				m[key].new = append(m[key].new, sp)
			}
		}
	}
	out := &Comparison{Until: rules.Timestamp(until), Rules: []RuleDiff{}}
	for k, rd := range rows {
		for _, sd := range bySeries[k] {
			d := compareSeries(sd.old, sd.new, from, until)
			rd.add(d.DiffCounts)
			if d.Differs() {
				rd.Series = append(rd.Series, d)
			}
		}
		slices.SortFunc(rd.Series, func(a, b SeriesDiff) int {
			return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Host, b.Host), cmp.Compare(seriesKey(a.Tags), seriesKey(b.Tags)))
		})
		if rd.Series == nil {
			rd.Series = []SeriesDiff{}
		}
		out.Rules = append(out.Rules, *rd)
	}
	slices.SortFunc(out.Rules, func(a, b RuleDiff) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.AlertName, b.AlertName))
	})
	return out
}

// compareSeries pairs one series' episodes of one rule (see Compare).
func compareSeries(old, new []*Span, from, until int64) SeriesDiff {
	byStart := func(a, b *Span) int { return cmp.Compare(a.PendingAt, b.PendingAt) }
	old, new = slices.SortedStableFunc(slices.Values(old), byStart), slices.SortedStableFunc(slices.Values(new), byStart)
	var sd SeriesDiff
	if len(old) > 0 {
		sd.Tenant, sd.Host, sd.Tags = old[0].Tenant, old[0].Host, old[0].Tags
	} else {
		sd.Tenant, sd.Host, sd.Tags = new[0].Tenant, new[0].Host, new[0].Tags
	}
	sd.EpisodesOld, sd.EpisodesNew = len(old), len(new)
	for _, sp := range old {
		sd.FiringMilliOld += sp.FiringMilli(from, until)
		if sp.Fired() {
			sd.FiredOld++
		}
	}
	for _, sp := range new {
		sd.FiringMilliNew += sp.FiringMilli(from, until)
		if sp.Fired() {
			sd.FiredNew++
		}
	}
	sd.FiringDeltaMilli = sd.FiringMilliNew - sd.FiringMilliOld
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || i < len(old) && end(old[i], until) <= int64(new[j].PendingAt):
			sd.Removed++
			sd.Changes = append(sd.Changes, EpisodeChange{Kind: ChangeRemoved, Old: old[i]})
			i++
		case i == len(old) || end(new[j], until) <= int64(old[i].PendingAt):
			sd.Added++
			sd.Changes = append(sd.Changes, EpisodeChange{Kind: ChangeAdded, New: new[j]})
			j++
		default: // they overlap
			o, n := old[i], new[j]
			c := EpisodeChange{Old: o, New: n, ShiftMilli: int64(n.PendingAt - o.PendingAt)}
			switch {
			case c.ShiftMilli < 0:
				c.Kind = ChangeEarlier
				sd.Earlier++
			case c.ShiftMilli > 0:
				c.Kind = ChangeLater
				sd.Later++
			case o.FiringAt != n.FiringAt || o.EndAt != n.EndAt:
				c.Kind = ChangeChanged
				sd.Changed++
			}
			if c.Kind != "" {
				sd.Changes = append(sd.Changes, c)
			}
			i++
			j++
		}
	}
	if sd.Changes == nil {
		sd.Changes = []EpisodeChange{}
	}
	return sd
}

// end is when an episode's span ends: its end, or until while open; an
// episode that ended where it started spans a millisecond, so that it
// overlaps what covers its start.
func end(sp *Span, until int64) int64 {
	e := until
	if sp.EndAt != 0 {
		e = int64(sp.EndAt)
	}
	return max(e, int64(sp.PendingAt)+1)
}
