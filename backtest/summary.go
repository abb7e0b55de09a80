package backtest

import (
	"cmp"
	"slices"
	"time"

	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
)

// RuleSummary is what one rule did over a backtest's range.
type RuleSummary struct {
	Group     string       `json:"group"`
	AlertName string       `json:"alertname"`
	RuleID    rules.RuleID `json:"rule_id"`
	// Episodes counts the episodes with a transition in the range: those
	// that started in it and, read with a lead-in (Options.LeadIn), those
	// under way at its start (Carried of them, told by Options.Open or
	// seen changing in the range); Fired those of them that fired, in the
	// range or before it.
	Episodes int `json:"episodes"`
	Carried  int `json:"carried"`
	Fired    int `json:"fired"`
	// FiringMilli is the time its episodes spent firing in the range, in
	// milliseconds, an episode still firing at the range's end counted up
	// to it.
	FiringMilli int64 `json:"firing_ms"`
	// Series counts the series (tenant, host, tags) with an episode.
	Series int `json:"series"`
	// Shadow: the rule is in shadow mode; its alerts reach no receiver, so
	// it has no notifications.
	Shadow bool `json:"shadow,omitempty"`
	// NotForTenant: the summary is of one tenant's sources (Tenant), and
	// the rule's group is scoped to other tenants: it had nothing to do.
	NotForTenant bool `json:"not_for_tenant,omitempty"`
	Notifications
}

// Notifications count what receivers would have been sent (see Pages).
type Notifications struct {
	// Pages are the notifications that told a receiver of a newly firing
	// alert; Resolved those that told only of resolutions; Repeats the
	// repeat_interval reminders of alerts still firing. A rule's counts
	// are the notifications that carried one of its alerts that way, so a
	// notification grouping two rules counts for both.
	Pages    int `json:"pages"`
	Resolved int `json:"resolved"`
	Repeats  int `json:"repeats"`
}

// Summary is the per-rule account of a backtest.
type Summary struct {
	// Until is the end of the range: open episodes fire up to it and
	// notification timers run up to it.
	Until rules.Timestamp `json:"until"`
	Rules []RuleSummary   `json:"rules"`
	// Total counts the notifications of every rule, each once.
	Total Notifications `json:"total"`
	// Routing says how notifications were counted: "receivers file" or
	// the default (DefaultRouting).
	Routing string `json:"routing"`
	// NotApplied lists what the notify stage does live that the count
	// leaves out.
	NotApplied []string `json:"not_applied"`
}

// DefaultRouting describes the routing a summary without a receivers
// file assumes.
const DefaultRouting = "default: group_by [alertname] (and tenant), group_wait 30s, group_interval 5m, repeat_interval 4h, send_resolved"

// notApplied is what the count of notifications does not model: it has
// no record of silences or acks, and inhibition and flapping depend on
// the notify stage's stored state.
var notApplied = []string{"silences", "acks", "inhibit_rules", "flapping"}

// defaultReceivers is the receivers file DefaultRouting describes.
const defaultReceivers = `
route: {receiver: default, group_by: [alertname]}
receivers: [{name: default, webhook_configs: [{url: "http://backtest.invalid/"}]}]
`

// Summarizer folds a backtest's transitions into episodes and, at the
// end, into a Summary. Its memory grows with the episodes, not with the
// transitions.
type Summarizer struct {
	spans Spans
	// labels are each episode's labels, which route its notifications.
	labels map[string]map[string]string
	// labelSets keeps each distinct label set once (see Spans.tags).
	labelSets labelSets
	// shadow are the episodes of rules in shadow mode, which notify no one.
	shadow map[string]bool
}

// Add folds one transition in.
func (s *Summarizer) Add(tr *rules.Transition) {
	s.note(tr)
	s.spans.Add(tr)
}

// AddOpen folds in an episode open at the range's start (see
// Spans.AddOpen): its notices are replayed from when it fired, and only
// the notifications sent from the range's start on are counted (see
// SummaryOptions.From).
func (s *Summarizer) AddOpen(tr *rules.Transition) {
	s.note(tr)
	s.spans.AddOpen(tr)
}

// note keeps the labels and shadow mark of tr's episode.
func (s *Summarizer) note(tr *rules.Transition) {
	if s.labels == nil {
		s.labels = map[string]map[string]string{}
	}
	if _, ok := s.labels[tr.EpisodeID]; !ok {
		s.labels[tr.EpisodeID] = s.labelSets.intern(tr.Labels)
	}
	if tr.Shadow {
		if s.shadow == nil {
			s.shadow = map[string]bool{}
		}
		s.shadow[tr.EpisodeID] = true
	}
}

// Spans returns the episodes folded so far.
func (s *Summarizer) Spans() *Spans { return &s.spans }

// SummaryOptions say how a summary counts.
type SummaryOptions struct {
	// From is the start of the backtest's range: episodes that ended
	// before it, firing time before it and notifications sent before it
	// (those of episodes under way at its start) are not counted, but
	// they set the groups' timers; zero takes the start the episodes open
	// at it were told with (AddOpen), or counts all without them.
	From time.Time
	// Until is the end of the backtest's range; zero takes the time of the
	// last transition.
	Until time.Time
	// Receivers routes and groups notifications; nil takes the default
	// (DefaultRouting).
	Receivers *notify.Config
	// Rules, when given, lists every rule of the set in the summary, those
	// without an episode too.
	Rules *rules.RuleSet
	// Tenant, when the backtest read one tenant's sources only, marks the
	// rules of Rules that do not apply to it (NotForTenant).
	Tenant string
}

// Summarize folds trs into a Summary; see Summarizer.
func Summarize(trs []*rules.Transition, opts SummaryOptions) *Summary {
	var s Summarizer
	for _, tr := range trs {
		s.Add(tr)
	}
	return s.Summary(opts)
}

type ruleKey struct {
	group, alertname string
	id               rules.RuleID
}

// Summary returns the per-rule account of the episodes folded in.
func (s *Summarizer) Summary(opts SummaryOptions) *Summary {
	if opts.Until.IsZero() {
		opts.Until = lastTime(s.spans.List())
	}
	if opts.From.IsZero() {
		for _, sp := range s.spans.List() {
			if sp.from != 0 {
				opts.From = sp.from.Time()
				break
			}
		}
	}
	until := rules.Timestamp(opts.Until.UnixMilli())
	out := &Summary{Until: until, Rules: []RuleSummary{}, Routing: "receivers file", NotApplied: notApplied}
	cfg := opts.Receivers
	if cfg == nil {
		out.Routing = DefaultRouting
		var err error
		if cfg, err = notify.Parse([]byte(defaultReceivers)); err != nil {
			panic("backtest: the default receivers do not parse: " + err.Error())
		}
	}
	byRule := map[ruleKey]*RuleSummary{}
	row := func(k ruleKey) *RuleSummary {
		r := byRule[k]
		if r == nil {
			r = &RuleSummary{Group: k.group, AlertName: k.alertname, RuleID: k.id}
			byRule[k] = r
		}
		return r
	}
	if opts.Rules != nil {
		for r := range opts.Rules.Rules() {
			rr := row(ruleKey{r.Group(), r.Name(), r.ID()})
			rr.Shadow = r.Shadow()
			rr.NotForTenant = opts.Tenant != "" && !r.AppliesTo(opts.Tenant)
		}
	}
	series := map[ruleKey]map[string]bool{}
	from := fromMilli(opts.From)
	for _, sp := range s.spans.List() {
		if sp.endedBefore(from) {
			continue
		}
		k := ruleKey{sp.Group, sp.AlertName, sp.RuleID}
		r := row(k)
		r.Shadow = r.Shadow || s.shadow[sp.EpisodeID]
		r.Episodes++
		if sp.Carried {
			r.Carried++
		}
		if sp.Fired() {
			r.Fired++
		}
		r.FiringMilli += sp.FiringMilli(from, int64(until))
		if series[k] == nil {
			series[k] = map[string]bool{}
		}
		series[k][sp.Tenant+"\x00"+sp.Host+"\x00"+seriesKey(sp.Tags)] = true
	}
	for k, set := range series {
		byRule[k].Series = len(set)
	}
	pages(cfg, s.spans.List(), s.labels, s.shadow, opts.From, opts.Until, func(sp *Span, n Notifications) {
		r := row(ruleKey{sp.Group, sp.AlertName, sp.RuleID})
		r.Pages += n.Pages
		r.Resolved += n.Resolved
		r.Repeats += n.Repeats
	}, &out.Total)
	for _, r := range byRule {
		out.Rules = append(out.Rules, *r)
	}
	slices.SortFunc(out.Rules, func(a, b RuleSummary) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.AlertName, b.AlertName), cmp.Compare(a.RuleID, b.RuleID))
	})
	return out
}

// fromMilli is from in unix milliseconds, 0 when zero.
func fromMilli(from time.Time) int64 {
	if from.IsZero() {
		return 0
	}
	return from.UnixMilli()
}

// lastTime is the time of the last transition of spans.
func lastTime(spans ...[]*Span) time.Time {
	var last rules.Timestamp
	for _, l := range spans {
		for _, sp := range l {
			last = max(last, sp.PendingAt, sp.FiringAt, sp.EndAt)
		}
	}
	return last.Time()
}
