package rules

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/features"
)

const seriesRules = `
metrics:
  - name: cpu_load
  - name: a
  - name: b
  - name: disk_used_pct
groups:
  - name: g
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        clear: avg("cpu_load", "1m") < 85
        for: 1m
      - alert: Rising
        expr: rate("cpu_load", "5m") > 0.5
      - alert: Both
        expr: last("a") > 1 && last("b") > 1
      - alert: Sum
        expr: last("a") + last("b") > 10
      - alert: Root
        expr: avg("disk_used_pct{mount=\"/\"}", "5m") > 90
`

// seriesSource is a source actor's series and alerts as the tests drive
// them: each sample is AdvanceUntil, Add, AdvanceAt, as an actor does.
type seriesSource struct {
	rs     *RuleSet
	src    Source
	lc     Lifecycle
	feats  SourceFeatures
	newest int64
	out    []*Transition
	// perSeries: a sample evaluates its own series only, as an actor does
	// (AdvanceApplied), not every series of its metric (AdvanceAt).
	perSeries bool
}

func newSeriesSource(rs *RuleSet) *seriesSource {
	return &seriesSource{rs: rs, src: Source{Tenant: "acme", Host: "h"}}
}

func (s *seriesSource) add(t *testing.T, series string, at int64, v float64) {
	t.Helper()
	metric, tags, err := ParseSeries(series)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(tr *Transition) { s.out = append(s.out, tr) }
	s.rs.AdvanceUntil(&s.lc, s.src, &s.feats, at, emit)
	ser := s.feats.Get(metric, tags)
	if ser == nil {
		cfg, _ := s.rs.FeatureConfig(metric)
		ser = features.NewSeries(cfg)
		s.feats.Set(metric, tags, ser)
	}
	if out, err := ser.Add(at, v); err != nil || out != features.Applied {
		t.Fatalf("add %s at %d: %v %v", series, at, out, err)
	}
	s.newest = max(s.newest, at)
	if s.perSeries {
		held, _ := s.feats.TagsOf(metric, ser)
		s.rs.AdvanceApplied(&s.lc, s.src, &s.feats, s.newest, []SeriesKey{{Metric: metric, Tags: held}}, emit)
		return
	}
	s.rs.AdvanceAt(&s.lc, s.src, &s.feats, s.newest, metric, emit)
}

// of returns the transitions of the series with tags (as a selector), as
// JSON lines.
func (s *seriesSource) of(sel string) []string {
	var out []string
	for _, tr := range s.out {
		if FormatSelector(labelsOf(tr.Tags)) == sel {
			b, _ := json.Marshal(tr)
			out = append(out, string(b))
		}
	}
	return out
}

func labelsOf(m map[string]string) []Label {
	var out []Label
	for k, v := range m {
		out = append(out, Label{Name: k, Value: v})
	}
	slices.SortFunc(out, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Two series of one metric, their samples interleaved in any order, give
// each the features and the alerts of its own stream alone.
func TestInterleavedSeriesAreIndependent(t *testing.T) {
	rs := parseRules(t, seriesRules)
	transitions := 0
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		type point struct {
			core string
			at   int64
			v    float64
		}
		var stream []point
		level := [2]float64{80, 80}
		for tick := range int64(240) {
			// Both cores report at every tick, in a random order; their
			// levels wander apart so that each fires at its own times.
			order := []int{0, 1}
			rng.Shuffle(2, func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, c := range order {
				level[c] = min(100, max(60, level[c]+rng.Float64()*6-3))
				stream = append(stream, point{core: string(rune('0' + c)), at: 1_000_000 + tick*5_000, v: level[c]})
			}
		}
		both := newSeriesSource(rs)
		both.perSeries = seed%2 == 1
		alone := [2]*seriesSource{newSeriesSource(rs), newSeriesSource(rs)}
		for _, p := range stream {
			name := `cpu_load{core="` + p.core + `"}`
			both.add(t, name, p.at, p.v)
			alone[p.core[0]-'0'].add(t, name, p.at, p.v)
		}
		for c, a := range alone {
			sel := `core="` + string(rune('0'+c)) + `"`
			if got, want := both.of(sel), a.of(sel); !slices.Equal(got, want) {
				t.Fatalf("seed %d core %d: interleaved\n%s\nalone\n%s", seed, c, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			tags := []Label{{Name: "core", Value: string(rune('0' + c))}}
			for _, stat := range []string{"avg", "rate", "p99", "stddev"} {
				g, gok := both.feats.Stat("cpu_load", tags, stat, 5*time.Minute, both.newest)
				w, wok := a.feats.Stat("cpu_load", tags, stat, 5*time.Minute, a.newest)
				if g != w || gok != wok {
					t.Fatalf("seed %d core %d %s: interleaved %v, alone %v", seed, c, stat, g, w)
				}
			}
		}
		transitions += len(both.out)
	}
	if transitions < 40 {
		t.Fatalf("%d transitions: the scenario tests little", transitions)
	}
}

// A rule over one metric fires for the hot series only, with its tags among
// the labels and in the episode ID, and resolves when that series cools.
func TestRulePerSeries(t *testing.T) {
	rs := parseRules(t, seriesRules)
	s := newSeriesSource(rs)
	for i := range int64(20) {
		s.add(t, `cpu_load{core="0"}`, i*10_000, 20)
		s.add(t, `cpu_load{core="1"}`, i*10_000, 95)
	}
	if got := s.of(`core="0"`); len(got) != 0 {
		t.Fatalf("the cool core has alerts: %v", got)
	}
	hot := s.of(`core="1"`)
	if len(hot) != 2 || !strings.Contains(hot[1], `"state":"firing"`) || !strings.Contains(hot[1], `"core":"1"`) {
		t.Fatalf("hot core: %v", hot)
	}
	var tr Transition
	_ = json.Unmarshal([]byte(hot[1]), &tr)
	if tr.Labels["core"] != "1" || tr.EpisodeID == formatEpisode(EpisodeID("acme", "h", tr.RuleID, int64(tr.ActiveAt))) {
		t.Fatalf("labels %v episode %s", tr.Labels, tr.EpisodeID)
	}
	for i := int64(20); i < 40; i++ {
		s.add(t, `cpu_load{core="0"}`, i*10_000, 20)
		s.add(t, `cpu_load{core="1"}`, i*10_000, 20)
	}
	hot = s.of(`core="1"`)
	if !strings.Contains(hot[len(hot)-1], `"state":"resolved"`) {
		t.Fatalf("the core that cooled: %v", hot)
	}
}

// A rule over several metrics joins them on equal tags; where one side has
// no series with the other's tags the condition is unknown and nothing
// fires.
func TestRuleJoinsOnEqualTags(t *testing.T) {
	rs := parseRules(t, seriesRules)
	s := newSeriesSource(rs)
	s.add(t, `a{x="1"}`, 1000, 5)
	s.add(t, `b{x="1"}`, 1000, 6)
	s.add(t, `a{x="2"}`, 1000, 50)
	s.add(t, `b{y="2"}`, 1000, 50)
	names := func(sel string) []string {
		var out []string
		for _, tr := range s.out {
			if FormatSelector(labelsOf(tr.Tags)) == sel {
				out = append(out, tr.AlertName+" "+tr.State)
			}
		}
		return out
	}
	if got := names(`x="1"`); !slices.Equal(got, []string{"Both firing", "Sum firing"}) {
		t.Fatalf("x=1: %v", got)
	}
	if got := append(names(`x="2"`), names(`y="2"`)...); len(got) != 0 {
		t.Fatalf("unmatched series fire: %v", got)
	}
}

// A selector narrows the series a rule is evaluated for.
func TestSelectorNarrowsSeries(t *testing.T) {
	rs := parseRules(t, seriesRules)
	s := newSeriesSource(rs)
	s.add(t, `disk_used_pct{mount="/"}`, 1000, 95)
	s.add(t, `disk_used_pct{mount="/data"}`, 1000, 99)
	s.add(t, `disk_used_pct`, 1000, 99)
	if len(s.out) != 1 || s.out[0].AlertName != "Root" || s.out[0].Labels["mount"] != "/" ||
		s.out[0].Features[`avg(disk_used_pct{mount="/"},5m)`] != 95 {
		t.Fatalf("transitions %+v", s.out)
	}
}

// The alert of a series the source no longer has ends with reason
// series_gone.
func TestAlertOfAGoneSeriesEnds(t *testing.T) {
	rs := parseRules(t, seriesRules)
	s := newSeriesSource(rs)
	s.add(t, `a{x="1"}`, 1000, 5)
	s.add(t, `b{x="1"}`, 1000, 6)
	s.feats.Delete("b", []Label{{Name: "x", Value: "1"}})
	s.feats.Delete("a", []Label{{Name: "x", Value: "1"}})
	s.rs.AdvanceAt(&s.lc, s.src, &s.feats, 2000, "", func(tr *Transition) { s.out = append(s.out, tr) })
	if len(s.lc.Alerts) != 0 {
		t.Fatalf("states left %+v", s.lc.Alerts)
	}
	last := s.out[len(s.out)-1]
	if last.State != StateResolved || last.Reason != ReasonSeriesGone || last.Labels["x"] != "1" {
		t.Fatalf("last transition %+v", last)
	}
}

// Series tags survive the lifecycle's encoding, and a state of the
// previous encoding is the series without tags.
func TestLifecycleKeepsSeries(t *testing.T) {
	rs := parseRules(t, seriesRules)
	s := newSeriesSource(rs)
	for i := range int64(12) {
		s.add(t, `cpu_load{core="1"}`, i*10_000, 95)
		s.add(t, `cpu_load{core="0"}`, i*10_000, 95)
		s.add(t, `cpu_load`, i*10_000, 95)
	}
	b, err := s.lc.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeLifecycle(b)
	if err != nil || len(got.Alerts) != 3 || got.Alerts[0].Series != nil || got.Alerts[1].Series[0].Value != "0" ||
		got.Alerts[2].Series[0].Value != "1" {
		t.Fatalf("decoded %+v %v", got.Alerts, err)
	}
}

func TestSelectorErrors(t *testing.T) {
	for _, expr := range []string{
		`avg("cpu_load{core=0}", "1m") > 1`,
		`avg("cpu_load{core=\"0\"", "1m") > 1`,
		`avg("cpu_load{core!=\"0\"}", "1m") > 1`,
		`avg("cpu_load{core=\"0\",core=\"1\"}", "1m") > 1`,
		`avg("{core=\"0\"}", "1m") > 1`,
		`avg("cpu_load{core=\"0\"} x", "1m") > 1`,
	} {
		src := "metrics: [{name: cpu_load}]\ngroups: [{name: g, rules: [{alert: A, expr: '" + strings.ReplaceAll(expr, "'", "''") + "'}]}]"
		if _, err := Parse("r.yml", []byte(src), Options{}); err == nil {
			t.Errorf("%s loads", expr)
		}
	}
	metric, sel, err := ParseSeries(`m{ b = "x\"y" , a="\\"}`)
	if err != nil || metric != "m" || FormatSelector(sel) != `a="\\",b="x\"y"` {
		t.Fatalf("%s %v %v", metric, sel, err)
	}
}

// A no-data rule is per series: the series that goes silent fires, by the
// source's timer, while the other one keeps reporting.
func TestNoDataPerSeries(t *testing.T) {
	rs := parseRules(t, `
metrics: [{name: heartbeat}]
groups: [{name: g, rules: [{alert: Silent, expr: 'seconds_since_last("heartbeat") > 60'}]}]`)
	s := newSeriesSource(rs)
	s.add(t, `heartbeat{job="a"}`, 0, 1)
	for at := int64(10_000); at <= 50_000; at += 10_000 {
		s.add(t, `heartbeat{job="b"}`, at, 1)
	}
	// Nothing more arrives: the deadline of job a is 60 s after its last
	// sample, that of job b 60 s after its own.
	next, ok := rs.AdvanceUntil(&s.lc, s.src, &s.feats, 70_000, func(tr *Transition) { s.out = append(s.out, tr) })
	if len(s.out) != 1 || s.out[0].Tags["job"] != "a" || s.out[0].At != 60_001 || !ok || next != 110_001 {
		t.Fatalf("transitions %+v, next %d %v", s.out, next, ok)
	}
}
