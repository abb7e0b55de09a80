package rules

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/eventops/eventops/features"
)

const retireRules = `
metrics: [{name: cpu}, {name: disk}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: last("cpu") > 90
        labels: {severity: critical, team: infra}
        annotations: {summary: 'CPU on {{ $labels.host }} is {{ $value }}'}
      - alert: DiskFull
        expr: last("disk") > 90
        for: 5m
`

// retireSource is a source of cpu and disk driven as an actor drives it.
type retireSource struct {
	lc    Lifecycle
	f     SeriesFeatures
	got   []*Transition
	src   Source
	clock int64
}

func newRetireSource() *retireSource {
	return &retireSource{src: Source{Tenant: "acme", Host: "h"}, f: SeriesFeatures{
		"cpu": features.NewSeries(features.DefaultConfig()), "disk": features.NewSeries(features.DefaultConfig())}}
}

func (s *retireSource) emit(tr *Transition) { s.got = append(s.got, tr) }

func (s *retireSource) sample(rs *RuleSet, metric string, v float64) {
	s.clock += 10_000
	rs.AdvanceUntil(&s.lc, s.src, s.f, s.clock, s.emit)
	s.f[metric].Add(s.clock, v)
	rs.AdvanceAt(&s.lc, s.src, s.f, s.clock, metric, s.emit)
}

// reload is what a reload does for this source: the set goes in force and
// every source is evaluated (a timer run at the source's clock).
func (s *retireSource) reload(rs *RuleSet) {
	rs.AdvanceUntil(&s.lc, s.src, s.f, s.clock+1_000, s.emit)
}

// take returns the transitions since the last take, as
// "alertname:state[:reason]", and the transitions. The alerts of retired
// rules end first, in rule ID order: take sorts them by name.
func (s *retireSource) take() (string, []*Transition) {
	got := s.got
	s.got = nil
	n := 0
	for n < len(got) && got[n].Reason != "" {
		n++
	}
	slices.SortFunc(got[:n], func(a, b *Transition) int { return strings.Compare(b.AlertName, a.AlertName) })
	var names []string
	for _, tr := range got {
		name := tr.AlertName + ":" + tr.State
		if tr.Reason != "" {
			name += ":" + tr.Reason
		}
		names = append(names, name)
	}
	return strings.Join(names, " "), got
}

func parseRules(t *testing.T, src string) *RuleSet {
	t.Helper()
	rs, err := Parse("r.yml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestReloadEndsAlertsOfChangedRules: a firing alert whose rule a reload
// changes resolves (reason rule_changed) with the labels and annotations it
// fired with, then the new rule lives its own episodes; a pending alert of
// a removed rule ends (inactive, rule_removed).
func TestReloadEndsAlertsOfChangedRules(t *testing.T) {
	rs1 := parseRules(t, retireRules)
	s := newRetireSource()
	s.sample(rs1, "cpu", 95)
	s.sample(rs1, "disk", 95)
	if got, _ := s.take(); got != "HighCPU:firing DiskFull:pending" {
		t.Fatalf("before the reload: %s", got)
	}
	old := slices.Clone(s.lc.Alerts)

	edited := strings.Replace(retireRules, "> 90\n        labels", "> 80\n        labels", 1)
	edited = edited[:strings.Index(edited, "      - alert: DiskFull")]
	rs2 := parseRules(t, edited).Replacing(rs1)
	s.reload(rs2)
	got, trs := s.take()
	if got != "HighCPU:resolved:rule_changed DiskFull:inactive:rule_removed HighCPU:firing" {
		t.Fatalf("after the reload: %s", got)
	}
	cpuOld, disk, cpuNew := trs[0], trs[1], trs[2]
	if cpuOld.EpisodeID != formatEpisode(old[indexOf(old, cpuOld.RuleID)].Episode) || cpuOld.RuleID == cpuNew.RuleID ||
		cpuOld.EpisodeID == cpuNew.EpisodeID {
		t.Errorf("the old episode must end and a new one start: %+v / %+v", cpuOld, cpuNew)
	}
	wantLabels := map[string]string{"alertname": "HighCPU", "severity": "critical", "team": "infra", "tenant": "acme", "host": "h"}
	if !maps.Equal(cpuOld.Labels, wantLabels) || cpuOld.Annotations["summary"] != "CPU on h is 95" || cpuOld.Group != "host" ||
		cpuOld.At != Timestamp(s.clock) || cpuOld.EndsAt == nil || *cpuOld.EndsAt != Timestamp(s.clock) {
		t.Errorf("resolved transition of the changed rule: %+v", cpuOld)
	}
	if disk.EndsAt == nil || disk.StartsAt != Timestamp(20_000) {
		t.Errorf("inactive transition of the removed rule: %+v", disk)
	}
	b, _ := json.Marshal(cpuOld)
	if !strings.Contains(string(b), `"reason":"rule_changed"`) {
		t.Errorf("json %s", b)
	}
	if b, _ := json.Marshal(cpuNew); strings.Contains(string(b), "reason") {
		t.Errorf("a transition of the condition has no reason: %s", b)
	}

	// The new rule's own lifecycle goes on.
	s.sample(rs2, "cpu", 50)
	if got, _ := s.take(); got != "HighCPU:resolved" {
		t.Fatalf("new rule: %s", got)
	}
	if len(s.lc.Alerts) != 0 {
		t.Fatalf("states left: %+v", s.lc.Alerts)
	}
}

func indexOf(s States, id RuleID) int {
	i, _ := s.find(id, nil)
	return i
}

// TestRetiredRulesOutliveReloads: a source evaluated only after several
// reloads still ends its alerts with the rule that fired them.
func TestRetiredRulesOutliveReloads(t *testing.T) {
	rs1 := parseRules(t, retireRules)
	s := newRetireSource()
	s.sample(rs1, "cpu", 95)
	s.take()
	noCPU := retireRules[:strings.Index(retireRules, "      - alert: HighCPU")] + retireRules[strings.Index(retireRules, "      - alert: DiskFull"):]
	rs2 := parseRules(t, noCPU).Replacing(rs1)
	rs3 := parseRules(t, strings.Replace(noCPU, "for: 5m", "for: 1m", 1)).Replacing(rs2)
	s.reload(rs3)
	got, trs := s.take()
	if got != "HighCPU:resolved:rule_removed" || trs[0].Annotations["summary"] != "CPU on h is 95" {
		t.Fatalf("after two reloads: %s %+v", got, trs)
	}
}

// TestRetiredRuleFromState: after a restart with another rule file no set
// has the rule: the alert ends with the labels its state kept, without
// annotations; a state of the version 1 encoding, without them, ends with
// the source's labels.
func TestRetiredRuleFromState(t *testing.T) {
	rs1 := parseRules(t, retireRules)
	s := newRetireSource()
	s.sample(rs1, "cpu", 95)
	s.sample(rs1, "disk", 95)
	s.take()
	b, err := s.lc.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.lc, err = DecodeLifecycle(b); err != nil {
		t.Fatal(err)
	}
	restarted := parseRules(t, strings.Replace(retireRules, "for: 5m", "for: 1m", 1)[:strings.Index(retireRules, "      - alert: HighCPU")]+
		"      - alert: DiskFull\n        expr: last(\"disk\") > 95\n")
	s.reload(restarted)
	got, trs := s.take()
	if got != "HighCPU:resolved:rule_removed DiskFull:inactive:rule_changed" {
		t.Fatalf("after a restart: %s", got)
	}
	wantLabels := map[string]string{"alertname": "HighCPU", "severity": "critical", "team": "infra", "tenant": "acme", "host": "h"}
	if tr := trs[0]; !maps.Equal(tr.Labels, wantLabels) || tr.Severity != "critical" || tr.Group != "host" || len(tr.Annotations) != 0 || tr.Value != 95 {
		t.Errorf("from the state: %+v", tr)
	}

	// Version 1: no identity.
	var v1 Lifecycle
	v1.Alerts.Set(RuleID(7), State{Phase: Firing, ActiveSince: 1, FiringSince: 2, Value: 9, Episode: 5})
	s.lc = v1
	s.reload(restarted)
	got, trs = s.take()
	if got != ":resolved:rule_removed" || !maps.Equal(trs[0].Labels, map[string]string{"tenant": "acme", "host": "h"}) ||
		trs[0].EpisodeID != formatEpisode(5) || trs[0].RuleID != 7 {
		t.Fatalf("version 1 state: %s %+v", got, trs)
	}
}

// TestTenantExcluded: a group that no longer applies to the tenant ends
// the tenant's alerts of its rules (the rules keep their IDs).
func TestTenantExcluded(t *testing.T) {
	rs1 := parseRules(t, retireRules)
	s := newRetireSource()
	s.sample(rs1, "cpu", 95)
	s.take()
	rs2 := parseRules(t, strings.Replace(retireRules, "name: host\n", "name: host\n    tenants: [other]\n", 1)).Replacing(rs1)
	s.reload(rs2)
	if got, trs := s.take(); got != "HighCPU:resolved:tenant_excluded" || trs[0].Annotations["summary"] != "CPU on h is 95" {
		t.Fatalf("%s", got)
	}
}

// TestReplacingIsBounded: a set keeps at most maxRetired rules aside, the
// most recently retired first.
func TestReplacingIsBounded(t *testing.T) {
	manyRules := func(prefix string, n int) *RuleSet {
		var b strings.Builder
		b.WriteString("metrics: [{name: cpu}]\ngroups:\n  - name: g\n    rules:\n")
		for i := range n {
			fmt.Fprintf(&b, "      - {alert: %s%d, expr: 'last(\"cpu\") > %d'}\n", prefix, i, i)
		}
		return parseRules(t, b.String())
	}
	first, second := manyRules("A", maxRetired-10), manyRules("B", 20)
	rs := second.Replacing(first)
	rs = manyRules("C", 1).Replacing(rs)
	if len(rs.retiredIDs) != maxRetired || len(rs.retired) != maxRetired {
		t.Fatalf("%d retired rules kept", len(rs.retiredIDs))
	}
	for i, id := range rs.retiredIDs[:20] {
		if rs.retired[id].name != fmt.Sprintf("B%d", i) {
			t.Fatalf("retired #%d is %s: the newest go first", i, rs.retired[id].name)
		}
	}
	if rs.Len() != 1 || second.retired != nil {
		t.Fatal("Replacing changed the sets")
	}
}
