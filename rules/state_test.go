package rules

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// fakeFeatures serves features by name (avg(cpu,1m)); absent names have no
// data. seconds_since_last is derived from lastSeen when set.
type fakeFeatures struct {
	vals     map[string]float64
	lastSeen map[string]int64 // metric ("" = any) -> unix ms of its newest sample
}

func (f fakeFeatures) SeriesCount(string) int { return 1 }

func (f fakeFeatures) SeriesTags(string, int) []Label { return nil }

func (f fakeFeatures) Stat(metric string, _ []Label, stat string, window time.Duration, _ int64) (float64, bool) {
	v, ok := f.vals[FeatureRef{Stat: stat, Metric: metric, Window: window}.String()]
	return v, ok
}

func (f fakeFeatures) SecondsSinceLast(metric string, _ []Label, now int64) (float64, bool) {
	t, ok := f.lastSeen[metric]
	if !ok {
		return 0, false
	}
	return math.Max(0, float64(now-t)/1000), true
}

func feats(kv ...any) fakeFeatures {
	f := fakeFeatures{vals: map[string]float64{}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.vals[kv[i].(string)] = toF(kv[i+1])
	}
	return f
}

func toF(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	panic("bad value")
}

func cpu(v float64) fakeFeatures { return feats("avg(cpu,1m)", v) }

var noData = fakeFeatures{}

const minute = int64(60_000)

// mustRule loads a one-rule file over the metrics cpu and hb.
func mustRule(t testing.TB, rule string, opts Options) *Rule {
	t.Helper()
	src := "metrics: [{name: cpu}, {name: hb}]\ngroups:\n  - name: g\n    rules:\n      - alert: A\n" + indent(rule, "        ")
	rs, err := Parse("test.yml", []byte(src), opts)
	if err != nil {
		t.Fatalf("load:\n%s\n%v", src, err)
	}
	return rs.rules[0]
}

// indent dedents s (by its least indented non-blank line) and indents it by
// prefix.
func indent(s, prefix string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); common < 0 || n < common {
			common = n
		}
	}
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			l = l[common:]
		}
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// step is one evaluation at an explicit time, with the transition it must
// emit ("" for none; "firing+resend" for a reminder) and the phase after it.
type step struct {
	at    int64
	f     fakeFeatures
	want  string
	phase Phase
}

var src = Source{Tenant: "acme", Host: "host-a"}

func runSteps(t *testing.T, r *Rule, steps []step) []*Transition {
	t.Helper()
	var st State
	var out []*Transition
	for i, s := range steps {
		var tr *Transition
		st, tr = Step(r, src, st, r.Eval(s.f, s.at), s.at)
		got := ""
		if tr != nil {
			got = tr.State
			if tr.Resend {
				got += "+resend"
			}
			out = append(out, tr)
		}
		if got != s.want || st.Phase != s.phase {
			t.Fatalf("step %d at %dms: transition %q phase %s, want %q phase %s (state %+v)", i, s.at, got, st.Phase, s.want, s.phase, st)
		}
	}
	return out
}

func TestStepLifecycle(t *testing.T) {
	cases := []struct {
		name  string
		rule  string
		opts  Options
		steps []step
	}{
		{
			name: "for 0 fires at once and resolves when false",
			rule: `expr: avg("cpu", "1m") > 90`,
			steps: []step{
				{0, cpu(50), "", Inactive},
				{1000, cpu(95), StateFiring, Firing},
				{2000, cpu(96), "", Firing},
				{3000, cpu(80), StateResolved, Inactive},
				{4000, cpu(80), "", Inactive},
			},
		},
		{
			name: "pending until for elapses, then firing",
			rule: "expr: avg(\"cpu\", \"1m\") > 90\nfor: 5m",
			steps: []step{
				{0, cpu(95), StatePending, Pending},
				{4 * minute, cpu(95), "", Pending},
				{5*minute - 1, cpu(95), "", Pending},
				{5 * minute, cpu(95), StateFiring, Firing},
				{6 * minute, cpu(10), StateResolved, Inactive},
			},
		},
		{
			name: "pending ends without firing",
			rule: "expr: avg(\"cpu\", \"1m\") > 90\nfor: 5m",
			steps: []step{
				{0, cpu(95), StatePending, Pending},
				{minute, cpu(50), StateInactive, Inactive},
				{2 * minute, cpu(95), StatePending, Pending}, // a new episode
			},
		},
		{
			name: "unknown never advances pending to firing",
			rule: "expr: avg(\"cpu\", \"1m\") > 90\nfor: 5m",
			steps: []step{
				{0, cpu(95), StatePending, Pending},
				{5 * minute, noData, "", Pending},
				{9 * minute, noData, "", Pending},
				{10 * minute, cpu(95), StateFiring, Firing},
			},
		},
		{
			name: "unknown never resolves firing",
			rule: `expr: avg("cpu", "1m") > 90`,
			steps: []step{
				{0, cpu(95), StateFiring, Firing},
				{minute, noData, "", Firing},
				{60 * minute, noData, "", Firing},
				{61 * minute, cpu(10), StateResolved, Inactive},
			},
		},
		{
			name: "keep_firing_for holds a firing alert",
			rule: "expr: avg(\"cpu\", \"1m\") > 90\nkeep_firing_for: 2m",
			steps: []step{
				{0, cpu(95), StateFiring, Firing},
				{minute, cpu(50), "", Firing},       // clearing starts
				{2 * minute, cpu(95), "", Firing},   // condition back: count restarts
				{3 * minute, cpu(50), "", Firing},   // clearing again
				{4 * minute, noData, "", Firing},    // unknown keeps the count
				{5*minute - 1, cpu(50), "", Firing}, // 1ms short
				{5 * minute, cpu(50), StateResolved, Inactive},
			},
		},
		{
			name: "hysteresis: a hovering value does not flap",
			rule: "expr: avg(\"cpu\", \"1m\") > 90\nclear: avg(\"cpu\", \"1m\") < 85",
			steps: []step{
				{0, cpu(91), StateFiring, Firing},
				{1000, cpu(89), "", Firing},
				{2000, cpu(91), "", Firing},
				{3000, cpu(86), "", Firing},
				{4000, cpu(90.5), "", Firing},
				{5000, cpu(85), "", Firing},
				{6000, cpu(84.9), StateResolved, Inactive},
				{7000, cpu(89), "", Inactive}, // below expr: stays inactive
				{8000, cpu(91), StateFiring, Firing},
			},
		},
		{
			name: "without clear the same values flap",
			rule: `expr: avg("cpu", "1m") > 90`,
			steps: []step{
				{0, cpu(91), StateFiring, Firing},
				{1000, cpu(89), StateResolved, Inactive},
				{2000, cpu(91), StateFiring, Firing},
				{3000, cpu(86), StateResolved, Inactive},
			},
		},
		{
			name: "hysteresis with keep_firing_for: clear must hold for the duration",
			rule: "expr: avg(\"cpu\", \"1m\") > 90\nclear: avg(\"cpu\", \"1m\") < 85\nkeep_firing_for: 1m",
			steps: []step{
				{0, cpu(95), StateFiring, Firing},
				{minute, cpu(80), "", Firing},          // clear holds from here
				{minute + 30_000, cpu(87), "", Firing}, // in the band: count restarts
				{2 * minute, cpu(80), "", Firing},
				{3 * minute, cpu(80), StateResolved, Inactive},
			},
		},
		{
			name: "resend reminders while firing",
			rule: `expr: avg("cpu", "1m") > 90`,
			opts: Options{ResendInterval: 10 * time.Minute},
			steps: []step{
				{0, cpu(95), StateFiring, Firing},
				{9 * minute, cpu(95), "", Firing},
				{10 * minute, noData, StateFiring + "+resend", Firing},
				{15 * minute, cpu(95), "", Firing},
				{20 * minute, cpu(95), StateFiring + "+resend", Firing},
				{21 * minute, cpu(10), StateResolved, Inactive},
			},
		},
		{
			name: "no-data rule fires on silence and resolves when data returns",
			rule: `expr: seconds_since_last("hb") > 300`,
			steps: []step{
				{0, fakeFeatures{lastSeen: map[string]int64{"hb": 0}}, "", Inactive},
				{300_000, fakeFeatures{lastSeen: map[string]int64{"hb": 0}}, "", Inactive},
				{300_001, fakeFeatures{lastSeen: map[string]int64{"hb": 0}}, StateFiring, Firing},
				{900_000, fakeFeatures{lastSeen: map[string]int64{"hb": 0}}, "", Firing},
				{900_500, fakeFeatures{lastSeen: map[string]int64{"hb": 900_500}}, StateResolved, Inactive},
			},
		},
		{
			name: "no-data rule on a metric never seen stays inactive",
			rule: `expr: seconds_since_last("hb") > 300`,
			steps: []step{
				{0, noData, "", Inactive},
				{time.Hour.Milliseconds(), noData, "", Inactive},
			},
		},
		{
			name: "mixed conditions: unknown when a read feature has no data",
			rule: `expr: avg("cpu", "1m") > 90 && last("cpu") > 90`,
			steps: []step{
				{0, cpu(95), "", Inactive}, // last(cpu) missing
				{1, feats("avg(cpu,1m)", 95, "last(cpu)", 99), StateFiring, Firing},
				{2, cpu(10), "", Firing}, // last(cpu) missing: unknown
				{3, feats("avg(cpu,1m)", 10, "last(cpu)", 99), StateResolved, Inactive},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runSteps(t, mustRule(t, c.rule, c.opts), c.steps)
		})
	}
}

func TestStepEpisodeAndPayload(t *testing.T) {
	r := mustRule(t, `
expr: avg("cpu", "1m") > 90
for: 1m
labels: {severity: critical, team: infra}
annotations: {summary: '{{ $labels.host }} at {{ $value }} ({{ $meta.owner }}, {{ $meta.tags.env }})'}
`, Options{})
	s := Source{Tenant: "acme", Host: "host-a", Meta: Meta{Owner: "ops", Tags: map[string]string{"env": "prod"}}}
	var st State
	var trs []*Transition
	for _, e := range []struct {
		at int64
		v  float64
	}{{10_000, 95}, {70_000, 97}, {80_000, 50}} {
		var tr *Transition
		st, tr = Step(r, s, st, r.Eval(cpu(e.v), e.at), e.at)
		trs = append(trs, tr)
	}
	want := EpisodeID("acme", "host-a", r.ID(), 10_000)
	for i, tr := range trs {
		if tr == nil || tr.EpisodeID != formatEpisode(want) {
			t.Fatalf("transition %d: %+v, want episode %x", i, tr, want)
		}
	}
	if trs[0].Value != 95 || trs[1].Value != 97 || trs[2].Value != 50 {
		t.Errorf("values %v %v %v", trs[0].Value, trs[1].Value, trs[2].Value)
	}
	if got := trs[1].Annotations["summary"]; got != "host-a at 97 (ops, prod)" {
		t.Errorf("summary = %q", got)
	}
	if EpisodeID("acme", "host-a", r.ID(), 10_001) == want || EpisodeID("acme", "host-b", r.ID(), 10_000) == want {
		t.Error("episode IDs collide")
	}

	b, err := json.Marshal(trs[2])
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"alertname":"A","rule_id":"` + r.ID().String() + `","group":"g","tenant":"acme","host":"host-a",` +
		`"state":"resolved","severity":"critical",` +
		`"labels":{"alertname":"A","host":"host-a","severity":"critical","team":"infra","tenant":"acme"},` +
		`"annotations":{"summary":"host-a at 50 (ops, prod)"},"value":50,"features":{"avg(cpu,1m)":50},` +
		`"active_at":"1970-01-01T00:00:10.000Z","starts_at":"1970-01-01T00:01:10.000Z","ends_at":"1970-01-01T00:01:20.000Z",` +
		`"episode_id":"` + formatEpisode(want) + `","at":"1970-01-01T00:01:20.000Z"}`
	if string(b) != wantJSON {
		t.Errorf("json:\n%s\nwant:\n%s", b, wantJSON)
	}
	var back Transition
	if err := json.Unmarshal(b, &back); err != nil || back.StartsAt != 70_000 || back.EndsAt == nil || *back.EndsAt != 80_000 || back.RuleID != r.ID() {
		t.Errorf("json round trip: %v %+v", err, back)
	}
}

func TestTransitionNonFiniteValue(t *testing.T) {
	r := mustRule(t, `expr: avg("cpu", "1m") / 0 > 1`, Options{})
	_, tr := Step(r, src, State{}, r.Eval(cpu(5), 0), 0)
	if tr == nil {
		t.Fatal("+Inf > 1 should fire")
	}
	b, err := json.Marshal(tr)
	if err != nil || !strings.Contains(string(b), `"value":null`) {
		t.Errorf("json %s, %v", b, err)
	}
}

// TestRestartKeepsPending: a for: 5m alert pending for 3 minutes before a
// restart fires at 5 minutes, not 8 — the state goes through the codec.
func TestRestartKeepsPending(t *testing.T) {
	r := mustRule(t, "expr: avg(\"cpu\", \"1m\") > 90\nfor: 5m", Options{})
	var st State
	st, _ = Step(r, src, st, r.Eval(cpu(95), 0), 0)
	st, _ = Step(r, src, st, r.Eval(cpu(95), 3*minute), 3*minute)
	var lc Lifecycle
	lc.Alerts.Set(r.ID(), st)
	b, err := lc.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := DecodeLifecycle(b)
	if err != nil {
		t.Fatal(err)
	}
	st = restored.Alerts.Get(r.ID())
	if d, ok := NextDeadline(r, st, noData, 3*minute); !ok || d != 5*minute {
		t.Fatalf("deadline after restart = %d %v", d, ok)
	}
	st, tr := Step(r, src, st, r.Eval(cpu(95), 5*minute), 5*minute)
	if tr == nil || tr.State != StateFiring || st.FiringSince != 5*minute {
		t.Fatalf("after restart: %+v %+v", st, tr)
	}
}

func TestNextDeadline(t *testing.T) {
	hbAt := func(ms int64) fakeFeatures { return fakeFeatures{lastSeen: map[string]int64{"hb": ms, "": ms}} }
	cases := []struct {
		name string
		rule string
		opts Options
		st   State
		f    fakeFeatures
		now  int64
		want int64 // 0: none
	}{
		{"inactive threshold rule", `expr: avg("cpu", "1m") > 90`, Options{}, State{}, cpu(1), 0, 0},
		{"pending for", "expr: avg(\"cpu\", \"1m\") > 90\nfor: 5m", Options{}, State{Phase: Pending, ActiveSince: 1000}, cpu(95), 2000, 1000 + 5*minute},
		{"pending for already elapsed", "expr: avg(\"cpu\", \"1m\") > 90\nfor: 5m", Options{}, State{Phase: Pending, ActiveSince: 0}, noData, 6 * minute, 0},
		{"keep_firing_for", "expr: avg(\"cpu\", \"1m\") > 90\nkeep_firing_for: 2m", Options{}, State{Phase: Firing, Clearing: true, ClearSince: minute}, cpu(1), 90_000, 3 * minute},
		{"resend", `expr: avg("cpu", "1m") > 90`, Options{ResendInterval: 10 * time.Minute}, State{Phase: Firing, LastSent: minute}, cpu(95), 2 * minute, 11 * minute},
		{"no-data strict", `expr: seconds_since_last("hb") > 300`, Options{}, State{}, hbAt(1000), 2000, 1000 + 300_001},
		{"no-data inclusive", `expr: seconds_since_last("hb") >= 300`, Options{}, State{}, hbAt(1000), 2000, 1000 + 300_000},
		{"no-data constant on the left", `expr: 5 * 60 < seconds_since_last()`, Options{}, State{}, hbAt(0), 0, 300_001},
		{"no-data fractional", `expr: seconds_since_last("hb") > 0.5`, Options{}, State{}, hbAt(0), 0, 501},
		{"no-data already crossed", `expr: seconds_since_last("hb") > 300`, Options{}, State{Phase: Firing}, hbAt(0), 400_000, 0},
		{"no-data in clear", "expr: avg(\"cpu\", \"1m\") > 90\nclear: seconds_since_last(\"hb\") < 60", Options{}, State{Phase: Firing}, hbAt(0), 1000, 60_000},
		{"earliest wins", "expr: seconds_since_last(\"hb\") > 300\nfor: 1m", Options{}, State{Phase: Pending, ActiveSince: 0}, hbAt(-400_000), 0, minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRule(t, c.rule, c.opts)
			got, ok := NextDeadline(r, c.st, c.f, c.now)
			if ok != (c.want != 0) || got != c.want {
				t.Errorf("NextDeadline = %d %v, want %d", got, ok, c.want)
			}
		})
	}
}

// TestNoDataWithDeadlines drives a no-data rule only by the deadlines it asks
// for, as an actor's timer would: no sample arrives after time 0.
func TestNoDataWithDeadlines(t *testing.T) {
	r := mustRule(t, "expr: seconds_since_last(\"hb\") > 300\nfor: 1m", Options{})
	f := fakeFeatures{lastSeen: map[string]int64{"hb": 0}}
	var st State
	now := int64(0)
	var got []string
	for i := 0; i < 10; i++ {
		var tr *Transition
		st, tr = Step(r, src, st, r.Eval(f, now), now)
		if tr != nil {
			got = append(got, tr.State+"@"+FormatDuration(time.Duration(now)*time.Millisecond))
		}
		next, ok := NextDeadline(r, st, f, now)
		if !ok {
			break
		}
		now = next
	}
	if want := "pending@5m1ms firing@6m1ms"; strings.Join(got, " ") != want {
		t.Errorf("transitions %v, want %s", got, want)
	}
}
