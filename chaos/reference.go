package chaos

import (
	"fmt"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// rowKey identifies a metrics row: a series (its name, metric{tags}) at a
// time.
type rowKey struct {
	tenant, host, series string
	tsMicro              int64
}

// sample is one accepted event of a source.
type sample struct {
	metric  string
	tags    tables.Tags
	tsMicro int64
	value   float64
}

// instance is an alert of a rule for a series (its tags as a selector).
type instance struct {
	rule   rules.RuleID
	series string
}

// Reasons of the resolved transition of an episode whose rule a reload
// took away.
const (
	reasonRuleChanged = "rule_changed"
	reasonRuleRemoved = "rule_removed"
)

// reference is what a single process makes of the records the harness
// sent: it is fed each source's accepted events in the source's order, as
// the features stage gets them, and the reload between the same two
// records of every source. Copies of records sent again are not fed: the
// pipeline must make nothing of them.
type reference struct {
	rs *rules.RuleSet
	// rows are the accepted events, with their values.
	rows map[rowKey]float64
	// series are the windowed features of every source's series, for the
	// rules and by series name (tables.SeriesName).
	series map[string]*rules.SourceFeatures // by "tenant/host"
	named  map[string]map[string]*features.Series
	states map[string]*rules.States
	newest map[string]int64
	// transitions are the expected alert rows: episode → states.
	transitions map[string]map[string]bool
	// episodes holds the first transition of each episode (its alert,
	// tenant and host).
	episodes map[string]*rules.Transition
	// firing is the episode each rule has firing for each series, per
	// source.
	firing map[string]map[instance]string
	// reloaded are the episodes the reload resolves, with their reason.
	reloaded map[string]string
}

func newReference(rs *rules.RuleSet) *reference {
	return &reference{
		rs:          rs,
		rows:        map[rowKey]float64{},
		series:      map[string]*rules.SourceFeatures{},
		named:       map[string]map[string]*features.Series{},
		states:      map[string]*rules.States{},
		newest:      map[string]int64{},
		transitions: map[string]map[string]bool{},
		episodes:    map[string]*rules.Transition{},
		firing:      map[string]map[instance]string{},
		reloaded:    map[string]string{},
	}
}

// add applies the events of one record of one source as the pipeline does
// with a signal: each sample into its series, then the rules at the
// source's newest event time. It returns the transitions.
func (ref *reference) add(tenant, host string, samples []sample) ([]*rules.Transition, error) {
	key := tenant + "/" + host
	if ref.series[key] == nil {
		ref.series[key] = &rules.SourceFeatures{}
		ref.named[key] = map[string]*features.Series{}
		ref.states[key] = &rules.States{}
		ref.firing[key] = map[instance]string{}
	}
	metric := ""
	for _, s := range samples {
		name := tables.SeriesName(s.metric, s.tags)
		ref.rows[rowKey{tenant, host, name, s.tsMicro}] = s.value
		labels := s.tags.Labels()
		ser := ref.series[key].Get(s.metric, labels)
		if ser == nil {
			ser = features.NewSeries(ref.rs.MetricConfig(s.metric))
			ref.series[key].Set(s.metric, labels, ser)
			ref.named[key][name] = ser
		}
		ms := s.tsMicro / 1000
		out, err := ser.Add(ms, s.value)
		if err != nil || out != features.Applied {
			return nil, fmt.Errorf("reference: %s %s at %s: %v %v (the scenario keeps every sample within the lateness bound)",
				key, s.metric, time.UnixMicro(s.tsMicro).UTC(), out, err)
		}
		ref.newest[key] = max(ref.newest[key], ms)
		switch metric {
		case "":
			metric = s.metric
		case s.metric:
		default:
			metric = "*"
		}
	}
	if metric == "*" {
		metric = ""
	}
	var out []*rules.Transition
	ref.rs.Advance(ref.states[key], rules.Source{Tenant: tenant, Host: host}, ref.series[key],
		ref.newest[key], metric, func(tr *rules.Transition) {
			ref.record(key, tr)
			out = append(out, tr)
		})
	return out, nil
}

func (ref *reference) record(key string, tr *rules.Transition) {
	if ref.transitions[tr.EpisodeID] == nil {
		ref.transitions[tr.EpisodeID] = map[string]bool{}
		ref.episodes[tr.EpisodeID] = tr
	}
	ref.transitions[tr.EpisodeID][tr.State] = true
	inst := instance{tr.RuleID, tables.SeriesName("", tables.TagsFromMap(tr.Tags))}
	switch tr.State {
	case rules.StateFiring:
		ref.firing[key][inst] = tr.EpisodeID
	case rules.StateResolved:
		delete(ref.firing[key], inst)
	}
}

// resolvedBy returns the episodes a reload to rs resolves, with the reason
// of their resolved transition: every episode firing for a rule rs no
// longer has (a removed rule, or an edited one: its ID changed).
func (ref *reference) resolvedBy(rs *rules.RuleSet) map[string]string {
	names := map[string]bool{}
	for r := range rs.Rules() {
		names[r.Group()+"/"+r.Name()] = true
	}
	out := map[string]string{}
	for _, firing := range ref.firing {
		for inst, ep := range firing {
			if rs.Rule(inst.rule) != nil {
				continue
			}
			old := ref.rs.Rule(inst.rule)
			out[ep] = reasonRuleRemoved
			if names[old.Group()+"/"+old.Name()] {
				out[ep] = reasonRuleChanged
			}
		}
	}
	return out
}

// reload puts rs in force between two records of every source, resolving
// the episodes resolvedBy names.
func (ref *reference) reload(rs *rules.RuleSet) {
	for ep, reason := range ref.resolvedBy(rs) {
		ref.reloaded[ep] = reason
		ref.transitions[ep][rules.StateResolved] = true
		tr := ref.episodes[ep]
		delete(ref.firing[tr.Tenant+"/"+tr.Host], instance{tr.RuleID, tables.SeriesName("", tables.TagsFromMap(tr.Tags))})
	}
	ref.rs = rs
}

// accepted counts the rows the pipeline must store.
func (ref *reference) accepted() int { return len(ref.rows) }
