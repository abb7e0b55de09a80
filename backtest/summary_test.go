package backtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"testing"
	"time"

	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
)

// t0 is the start of the hand-built histories, in unix milliseconds.
var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).UnixMilli()

func sec(s int64) int64 { return t0 + s*1000 }

// episode returns the transitions of one episode of rule (group/alertname,
// id) on host: pending at pending, firing at firing (<0: never), ended at
// end (<0: still open) as resolved when it fired, else inactive. Times are
// seconds after t0.
func episode(ep, group, alertname string, id rules.RuleID, host string, tags map[string]string, pending, firing, end int64) []*rules.Transition {
	labels := map[string]string{"alertname": alertname, "tenant": "acme", "host": host, "severity": "warning"}
	for k, v := range tags {
		labels[k] = v
	}
	mk := func(state string, at, starts int64) *rules.Transition {
		return &rules.Transition{EpisodeID: ep, AlertName: alertname, RuleID: id, Group: group, Tenant: "acme", Host: host,
			Tags: tags, Labels: labels, Severity: "warning", State: state, ActiveAt: rules.Timestamp(sec(pending)),
			StartsAt: rules.Timestamp(starts), At: rules.Timestamp(sec(at))}
	}
	trs := []*rules.Transition{mk(rules.StatePending, pending, sec(pending))}
	if firing >= 0 {
		trs = append(trs, mk(rules.StateFiring, firing, sec(firing)))
	}
	if end >= 0 {
		state, starts := rules.StateInactive, sec(pending)
		if firing >= 0 {
			state, starts = rules.StateResolved, sec(firing)
		}
		tr := mk(state, end, starts)
		e := rules.Timestamp(sec(end))
		tr.EndsAt = &e
		trs = append(trs, tr)
	}
	return trs
}

// history is two rules on two hosts: HighCPU fires on h1 (60s..600s) and
// h2 (65s.., open) five seconds apart, and goes pending on h1 again
// without firing; DiskFull fires on h1's / from the start and stays open.
func history() []*rules.Transition {
	var trs []*rules.Transition
	trs = append(trs, episode("e1", "host", "HighCPU", 1, "h1", nil, 0, 60, 600)...)
	trs = append(trs, episode("e2", "host", "HighCPU", 1, "h1", nil, 1200, -1, 1260)...)
	trs = append(trs, episode("e3", "host", "HighCPU", 1, "h2", nil, 5, 65, -1)...)
	trs = append(trs, episode("e4", "disk", "DiskFull", 2, "h1", map[string]string{"mount": "/"}, 0, 0, -1)...)
	return trs
}

func ruleRow(t *testing.T, s *Summary, alertname string) RuleSummary {
	t.Helper()
	for _, r := range s.Rules {
		if r.AlertName == alertname {
			return r
		}
	}
	t.Fatalf("no summary of %s in %+v", alertname, s.Rules)
	return RuleSummary{}
}

func TestSummaryCountsEpisodesFiringTimeAndSeries(t *testing.T) {
	s := Summarize(history(), SummaryOptions{Until: time.UnixMilli(sec(3600))})
	cpu := ruleRow(t, s, "HighCPU")
	want := RuleSummary{Group: "host", AlertName: "HighCPU", RuleID: 1, Episodes: 3, Fired: 2,
		FiringMilli: (600-60)*1000 + (3600-65)*1000, Series: 2,
		// The two hosts fire 5 s apart, inside group_wait: one page; h1's
		// resolution is told at once, with h2 still firing in it.
		Notifications: Notifications{Pages: 1, Resolved: 1}}
	if cpu != want {
		t.Errorf("HighCPU:\n got %+v\nwant %+v", cpu, want)
	}
	disk := ruleRow(t, s, "DiskFull")
	want = RuleSummary{Group: "disk", AlertName: "DiskFull", RuleID: 2, Episodes: 1, Fired: 1, FiringMilli: 3600 * 1000, Series: 1,
		Notifications: Notifications{Pages: 1}}
	if disk != want {
		t.Errorf("DiskFull:\n got %+v\nwant %+v", disk, want)
	}
	if s.Total != (Notifications{Pages: 2, Resolved: 1}) {
		t.Errorf("total %+v, want 2 pages and 1 resolved notice", s.Total)
	}
	if s.Rules[0].AlertName != "DiskFull" || s.Routing != DefaultRouting || len(s.NotApplied) == 0 {
		t.Errorf("order, routing or caveats: %+v", s)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
}

func TestSummaryPagesFollowTheReceiversGrouping(t *testing.T) {
	f := func(groupBy string, wantCPU, wantTotal int) {
		t.Helper()
		cfg, err := notify.Parse([]byte(`
route:
  receiver: oncall
  group_by: ` + groupBy + `
  group_wait: 30s
receivers:
  - name: oncall
    webhook_configs: [{url: "http://pager.example/"}]
`))
		if err != nil {
			t.Fatal(err)
		}
		s := Summarize(history(), SummaryOptions{Until: time.UnixMilli(sec(3600)), Receivers: cfg})
		if got := ruleRow(t, s, "HighCPU").Pages; got != wantCPU {
			t.Errorf("group_by %s: HighCPU %d pages, want %d", groupBy, got, wantCPU)
		}
		if s.Total.Pages != wantTotal || s.Routing != "receivers file" {
			t.Errorf("group_by %s: %d pages in all, want %d (routing %q)", groupBy, s.Total.Pages, wantTotal, s.Routing)
		}
	}
	// Two hosts firing together are one page when grouped by alert name,
	// two when grouped by host as well.
	f("[alertname]", 1, 2)
	f("[alertname, host]", 2, 3)
	// Grouped by tenant alone (tenant is always a group label): DiskFull
	// is paged at 30s, both HighCPU alerts together group_interval later.
	f("[]", 1, 2)
}

func TestSummaryRepeatsAndReceiversWithoutResolved(t *testing.T) {
	cfg, err := notify.Parse([]byte(`
route:
  receiver: oncall
  group_by: [alertname]
  repeat_interval: 1h
receivers:
  - name: oncall
    webhook_configs: [{url: "http://pager.example/", send_resolved: false}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(history(), SummaryOptions{Until: time.UnixMilli(sec(3*3600 + 100)), Receivers: cfg})
	// DiskFull: paged at 30s, reminded at 1h00m30s, 2h00m30s and 3h00m30s.
	if got := ruleRow(t, s, "DiskFull").Notifications; got != (Notifications{Pages: 1, Repeats: 3}) {
		t.Errorf("DiskFull %+v", got)
	}
	// HighCPU: paged at 90s (group_wait after h1 fired at 60s), h1's
	// resolution not told, h2 reminded at 1h01m30s, 2h01m30s, 3h01m30s.
	if got := ruleRow(t, s, "HighCPU").Notifications; got != (Notifications{Pages: 1, Repeats: 3}) {
		t.Errorf("HighCPU %+v", got)
	}
}

func TestSummaryListsRulesWithoutEpisodes(t *testing.T) {
	rs, err := rules.Parse("r.yml", []byte(`
metrics: [{name: cpu_load}]
groups:
  - name: host
    rules:
      - alert: Quiet
        expr: avg("cpu_load", "1m") > 99
`), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(history(), SummaryOptions{Until: time.UnixMilli(sec(3600)), Rules: rs})
	q := ruleRow(t, s, "Quiet")
	if q.Episodes != 0 || q.RuleID == 0 || len(s.Rules) != 3 {
		t.Errorf("Quiet %+v, %d rules", q, len(s.Rules))
	}
}

// A rule in shadow mode has its episodes counted, and pages no one.
func TestSummaryShadowRulesPageNoOne(t *testing.T) {
	trs := history()
	for _, tr := range trs {
		if tr.AlertName == "DiskFull" {
			tr.Shadow = true
		}
	}
	s := Summarize(trs, SummaryOptions{Until: time.UnixMilli(sec(3600))})
	disk := ruleRow(t, s, "DiskFull")
	if !disk.Shadow || disk.Episodes != 1 || disk.FiringMilli != 3600*1000 || disk.Notifications != (Notifications{}) {
		t.Errorf("DiskFull in shadow: %+v", disk)
	}
	if cpu := ruleRow(t, s, "HighCPU"); cpu.Shadow || cpu.Pages != 1 || s.Total != (Notifications{Pages: 1, Resolved: 1}) {
		t.Errorf("HighCPU %+v, total %+v", cpu, s.Total)
	}
}

// Without Until, open episodes fire up to the last transition (DiskFull
// fired at 0, the last transition is h1's end of pending at 1260s).
func TestSummaryUntilDefaultsToTheLastTransition(t *testing.T) {
	s := Summarize(history(), SummaryOptions{})
	if disk := ruleRow(t, s, "DiskFull"); disk.FiringMilli != 1260*1000 || s.Until != rules.Timestamp(sec(1260)) {
		t.Errorf("DiskFull %+v until %v", disk, s.Until)
	}
	c := Compare(spansOf(history()), nil, CompareOptions{})
	if c.Until != rules.Timestamp(sec(1260)) || c.Rules[0].FiringMilliOld != 1260*1000 {
		t.Errorf("compare until %v, %+v", c.Until, c.Rules[0].DiffCounts)
	}
}

// A rule that flaps on a few series makes many episodes: the summarizer
// keeps each series' labels and tags once, not once per episode.
func TestSummarizerKeepsASeriesLabelsOnce(t *testing.T) {
	const episodes, hosts = 20_000, 50
	var s Summarizer
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range episodes {
		host := fmt.Sprint("host-", i%hosts)
		for _, tr := range episode(fmt.Sprintf("%016x", i), "disk", "DiskFull", 1, host,
			map[string]string{"mount": "/var", "device": "sda1"}, int64(i)*60, int64(i)*60+10, int64(i)*60+30) {
			// The engine builds a transition's labels and tags anew.
			tr.Labels, tr.Tags = maps.Clone(tr.Labels), maps.Clone(tr.Tags)
			s.Add(tr)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(&s)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / episodes
	t.Logf("%d bytes kept per episode", per)
	if per > 600 {
		t.Errorf("%d bytes kept per episode", per)
	}
	if sp := s.Spans().List(); len(sp) != episodes || sp[hosts].Tags["mount"] != "/var" || s.labels[sp[hosts].EpisodeID]["host"] != "host-0" {
		t.Errorf("%d episodes, %+v", len(sp), sp[hosts])
	}
}

// A rule file without rules (or a range without episodes) lists no rule:
// an empty list, never null, for those who read the JSON.
func TestEmptySummaryAndComparisonListNoRules(t *testing.T) {
	f := func(what string, v any) {
		t.Helper()
		b, err := json.Marshal(v)
		var doc map[string]json.RawMessage
		if err == nil {
			err = json.Unmarshal(b, &doc)
		}
		if err != nil || string(doc["rules"]) != "[]" {
			t.Errorf("%s: %s %v", what, b, err)
		}
	}
	f("summary", Summarize(nil, SummaryOptions{Until: time.UnixMilli(sec(60))}))
	f("comparison", Compare(nil, nil, CompareOptions{Until: time.UnixMilli(sec(60))}))
}

// A summary of one tenant's sources tells a rule scoped to other tenants
// (which had nothing to do there) from a rule that never fired.
func TestSummaryMarksRulesNotForTheTenant(t *testing.T) {
	rs, err := rules.Parse("r.yml", []byte(`
metrics: [{name: cpu_load}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 99
  - name: globex
    tenants: [globex]
    rules:
      - alert: GlobexCPU
        expr: avg("cpu_load", "1m") > 50
`), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(history(), SummaryOptions{Until: time.UnixMilli(sec(3600)), Rules: rs, Tenant: "acme"})
	if g := ruleRow(t, s, "GlobexCPU"); !g.NotForTenant || g.Episodes != 0 {
		t.Errorf("GlobexCPU %+v", g)
	}
	if h := ruleRow(t, s, "HighCPU"); h.NotForTenant {
		t.Errorf("HighCPU %+v", h)
	}
	// Over every tenant, every rule applies somewhere.
	s = Summarize(history(), SummaryOptions{Until: time.UnixMilli(sec(3600)), Rules: rs})
	if g := ruleRow(t, s, "GlobexCPU"); g.NotForTenant {
		t.Errorf("GlobexCPU over every tenant %+v", g)
	}
}

// With a lead-in (Options.LeadIn), the transitions start at the range's
// start, mid-episode: an episode that fired before it and resolved in it
// shows only its resolution. It fired, for the part of the range it
// covers, and its resolution is told; its page went out before the range.
func TestSummaryOfARangeThatStartsMidEpisode(t *testing.T) {
	from := sec(300)
	var trs []*rules.Transition
	for _, tr := range episode("e1", "host", "HighCPU", 1, "h1", nil, 0, 60, 600) {
		if int64(tr.At) >= from {
			trs = append(trs, tr)
		}
	}
	s := Summarize(trs, SummaryOptions{From: time.UnixMilli(from), Until: time.UnixMilli(sec(3600))})
	want := RuleSummary{Group: "host", AlertName: "HighCPU", RuleID: 1, Episodes: 1, Carried: 1, Fired: 1, FiringMilli: 300_000, Series: 1,
		Notifications: Notifications{Resolved: 1}}
	if got := ruleRow(t, s, "HighCPU"); got != want {
		t.Errorf("HighCPU:\n got %+v\nwant %+v", got, want)
	}
	c := Compare(spansOf(trs), spansOf(trs), CompareOptions{From: time.UnixMilli(from), Until: time.UnixMilli(sec(3600))})
	if d := c.Rules[0].DiffCounts; d.FiredOld != 1 || d.FiringMilliOld != 300_000 || d.Differs() {
		t.Errorf("compare %+v", d)
	}
}

// Transitions from before the range (a lead-in's) set the scene: an
// episode over before the range is not counted, one firing through the
// whole range is, with its firing time in the range and no page (it was
// paged before).
func TestSummaryOfTransitionsFromBeforeTheRange(t *testing.T) {
	from := sec(1000)
	var trs []*rules.Transition
	trs = append(trs, episode("over", "host", "HighCPU", 1, "h1", nil, 0, 60, 600)...)
	trs = append(trs, episode("through", "host", "HighCPU", 1, "h2", nil, 0, 60, -1)...)
	s := Summarize(trs, SummaryOptions{From: time.UnixMilli(from), Until: time.UnixMilli(sec(3600))})
	want := RuleSummary{Group: "host", AlertName: "HighCPU", RuleID: 1, Episodes: 1, Fired: 1, FiringMilli: 2600_000, Series: 1}
	if got := ruleRow(t, s, "HighCPU"); got != want || s.Total != (Notifications{}) {
		t.Errorf("HighCPU:\n got %+v\nwant %+v\ntotal %+v", got, want, s.Total)
	}
	c := Compare(spansOf(trs), nil, CompareOptions{From: time.UnixMilli(from), Until: time.UnixMilli(sec(3600))})
	if d := c.Rules[0].DiffCounts; d.EpisodesOld != 1 || d.Removed != 1 || d.FiringMilliOld != 2600_000 {
		t.Errorf("compare %+v", d)
	}
}
