package rules

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/internal/race"
)

// detRuleTemplates are the rules TestTimersAreDeterministic draws from:
// no-data comparisons (their deadlines depend on the features), windowed
// conditions, and both mixed, with hysteresis on some.
var detRuleTemplates = []string{
	`expr: seconds_since_last("a") > %d`,
	`expr: seconds_since_last() > %d`,
	`expr: seconds_since_last("b") >= %d and last("a") > 50`,
	`expr: avg("a", "1m") > 50`,
	`expr: last("b") > 70 or seconds_since_last("b") > %d`,
	`expr: seconds_since_last("a") < %d`,
	"expr: max(\"b\", \"1m\") > 60\nclear: seconds_since_last(\"b\") > %d",
	"expr: seconds_since_last(\"a\") > %d\nclear: seconds_since_last(\"a\") < 5",
	`expr: 1 > 0`,
}

// randomRules draws a rule file: 3 to 7 rules with random thresholds, for,
// keep_firing_for, and sometimes reminders.
func randomRules(t *testing.T, rng *rand.Rand) *RuleSet {
	t.Helper()
	var b strings.Builder
	b.WriteString("metrics: [{name: a}, {name: b}]\ngroups:\n  - name: g\n    rules:\n")
	for i := range 3 + rng.IntN(5) {
		tmpl := detRuleTemplates[rng.IntN(len(detRuleTemplates))]
		if strings.Contains(tmpl, "%d") {
			tmpl = fmt.Sprintf(tmpl, []int{3, 20, 45, 90}[rng.IntN(4)])
		}
		rule := fmt.Sprintf("alert: R%d\n%s\nfor: %s\nkeep_firing_for: %s\n", i, tmpl,
			[]string{"0s", "10s", "45s"}[rng.IntN(3)], []string{"0s", "0s", "20s"}[rng.IntN(3)])
		b.WriteString(indent("- "+strings.ReplaceAll(rule, "\n", "\n  "), "      "))
	}
	opts := Options{}
	if rng.IntN(3) == 0 {
		opts.ResendInterval = 40 * time.Second
	}
	rs, err := Parse("random.yml", []byte(b.String()), opts)
	if err != nil {
		t.Fatalf("%s\n%v", b.String(), err)
	}
	return rs
}

type detSample struct {
	ts     int64
	metric string
	v      float64
}

// randomStream draws samples of a and b: mostly seconds apart, with
// silences of up to a few minutes (so no-data deadlines fall between
// samples) and some late samples.
func randomStream(rng *rand.Rand) []detSample {
	var out []detSample
	ts := int64(1_700_000_000_000)
	for range 150 {
		switch r := rng.IntN(20); {
		case r == 0:
			ts += 60_000 + rng.Int64N(180_000)
		case r < 3:
			ts += 10_000 + rng.Int64N(40_000)
		default:
			ts += 100 + rng.Int64N(5_000)
		}
		at := ts
		if rng.IntN(10) == 0 {
			at -= rng.Int64N(30_000)
		}
		out = append(out, detSample{at, []string{"a", "b"}[rng.IntN(2)], float64(rng.IntN(100))})
	}
	return out
}

// detSource is one source actor's state as the test drives it.
type detSource struct {
	rs      *RuleSet
	src     Source
	lc      Lifecycle
	feats   SeriesFeatures
	newest  int64
	emitted []string
}

func newDetSource(rs *RuleSet) *detSource {
	d := &detSource{rs: rs, src: Source{Tenant: "acme", Host: "h"}, feats: SeriesFeatures{}}
	for _, m := range rs.Metrics() {
		c, _ := rs.FeatureConfig(m.Name)
		d.feats[m.Name] = features.NewSeries(c)
	}
	return d
}

func (d *detSource) emit(tr *Transition) {
	b, err := json.Marshal(tr)
	if err != nil {
		panic(err)
	}
	d.emitted = append(d.emitted, string(b))
}

// sample applies a sample as an actor does.
func (d *detSource) sample(t *testing.T, s detSample) {
	d.rs.AdvanceUntil(&d.lc, d.src, d.feats, s.ts, d.emit)
	out, err := d.feats[s.metric].Add(s.ts, s.v)
	if err != nil {
		t.Fatal(err)
	}
	if out != features.Applied {
		return
	}
	d.newest = max(d.newest, s.ts)
	d.rs.AdvanceAt(&d.lc, d.src, d.feats, d.newest, s.metric, d.emit)
}

// snapshot is what a flush writes: the encoded alert lifecycle and series.
type snapshot struct {
	lc      []byte
	series  map[string][]byte
	newest  int64
	next    int // the next sample to apply
	emitted int
}

func (d *detSource) snapshot(t *testing.T, next int) snapshot {
	b, err := d.lc.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{lc: b, series: map[string][]byte{}, newest: d.newest, next: next, emitted: len(d.emitted)}
	for name, ser := range d.feats {
		s.series[name] = ser.AppendBinary(nil)
	}
	return s
}

// restore is the next owner starting from a snapshot.
func (d *detSource) restore(t *testing.T, s snapshot) {
	lc, err := DecodeLifecycle(s.lc)
	if err != nil {
		t.Fatal(err)
	}
	d.lc, d.newest = lc, s.newest
	for name, b := range s.series {
		c, _ := d.rs.FeatureConfig(name)
		ser, _, err := features.DecodeSeries(c, b)
		if err != nil {
			t.Fatal(err)
		}
		d.feats[name] = ser
	}
	d.emitted = d.emitted[:s.emitted]
}

// TestTimersAreDeterministic: what a source emits depends on its input and
// state only, not on when its timers ran nor on which process evaluated
// it. For random rules and streams, the transitions of a run without any
// timer (deadlines are reached by the samples' own catch-up and a last
// AdvanceUntil) are compared with runs where timers run at random times
// (never past the next sample's event time: a timer cannot know of a
// sample not yet arrived) and where the owner crashes and the next one
// resumes from the last flushed state: the old owner's transitions since
// that flush must be the new owner's, and the transitions that stay must
// be the reference's, JSON byte for byte (times, episode IDs, values).
func TestTimersAreDeterministic(t *testing.T) {
	// Under the race detector, which finds nothing in this single-goroutine
	// code and slows it several times over, and under -short: a quarter of
	// the cases. Plain go test and make fuzz run all 100.
	cases := 100
	if testing.Short() || race.Enabled {
		cases = 25
	}
	for c := range cases {
		rng := rand.New(rand.NewPCG(uint64(c), 42))
		rs := randomRules(t, rng)
		stream := randomStream(rng)
		end := stream[len(stream)-1].ts + 10*minute

		ref := newDetSource(rs)
		for _, s := range stream {
			ref.sample(t, s)
		}
		ref.rs.AdvanceUntil(&ref.lc, ref.src, ref.feats, end, ref.emit)

		for variant := range 4 {
			d := newDetSource(rs)
			flushed := d.snapshot(t, 0)
			var until int64
			for i := 0; i < len(stream); {
				s := stream[i]
				// Timers between samples, at random times up to the
				// sample's event time; none before the first sample (an
				// actor starts with its source's first signal).
				for i > 0 && until < s.ts && rng.IntN(3) > 0 {
					until += rng.Int64N(s.ts-until) + 1
					d.rs.AdvanceUntil(&d.lc, d.src, d.feats, until, d.emit)
				}
				if rng.IntN(10) == 0 {
					flushed = d.snapshot(t, i)
				}
				if variant > 0 && rng.IntN(25) == 0 {
					lost := slices.Clone(d.emitted[flushed.emitted:])
					d.restore(t, flushed)
					if want := ref.emitted[flushed.emitted:]; len(lost) > len(want) || !slices.Equal(lost, want[:len(lost)]) {
						t.Fatalf("case %d variant %d: the owner before the crash emitted\n%s\nthe reference\n%s\n%s", c, variant, strings.Join(lost, "\n"), strings.Join(want, "\n"), describe(rs))
					}
					i, until = flushed.next, 0
					continue
				}
				d.sample(t, s)
				i++
			}
			for until < end {
				until = min(end, until+rng.Int64N(5*minute)+1)
				d.rs.AdvanceUntil(&d.lc, d.src, d.feats, until, d.emit)
			}
			if !slices.Equal(d.emitted, ref.emitted) {
				k := 0
				for k < min(len(d.emitted), len(ref.emitted)) && d.emitted[k] == ref.emitted[k] {
					k++
				}
				t.Fatalf("case %d variant %d: %d transitions, want %d; from #%d:\n%s\nwant\n%s\n%s", c, variant, len(d.emitted), len(ref.emitted), k,
					strings.Join(d.emitted[k:min(k+3, len(d.emitted))], "\n"), strings.Join(ref.emitted[k:min(k+3, len(ref.emitted))], "\n"), describe(rs))
			}
		}
	}
}

func describe(rs *RuleSet) string {
	var b strings.Builder
	for r := range rs.Rules() {
		fmt.Fprintf(&b, "%s: %s (clear %q) for %s keep %s\n", r.Name(), r.Expr(), r.Clear(), r.For(), r.KeepFiringFor())
	}
	return b.String()
}

// TestTimerStartedEpisodeSurvivesACrash is the case a timer decides alone:
// a source goes silent, a no-data rule fires on a deadline, the owner
// crashes before its state is flushed. The next owner, minutes later,
// emits the same firing transition (same episode, same times), and the
// old owner's and the new owner's timers agree whenever they run.
func TestTimerStartedEpisodeSurvivesACrash(t *testing.T) {
	rs, err := Parse("r.yml", []byte(`
metrics: [{name: hb}]
groups:
  - name: g
    rules:
      - alert: SourceDown
        expr: seconds_since_last("hb") > 120
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_761_040_800_000) // 10:00:00
	owner := newDetSource(rs)
	owner.sample(t, detSample{t0, "hb", 1})
	flushed := owner.snapshot(t, 1)

	// The old owner's timer at 10:02:03, the new owner's at 10:07.
	next, ok := owner.rs.AdvanceUntil(&owner.lc, owner.src, owner.feats, t0+123_000, owner.emit)
	if ok || len(owner.emitted) != 1 {
		t.Fatalf("old owner: %v, next %d %v", owner.emitted, next, ok)
	}
	next2 := newDetSource(rs)
	next2.restore(t, flushed)
	next2.rs.AdvanceUntil(&next2.lc, next2.src, next2.feats, t0+7*minute, next2.emit)
	if !slices.Equal(next2.emitted, owner.emitted) {
		t.Fatalf("the next owner emitted\n%v\nthe old one\n%v", next2.emitted, owner.emitted)
	}
	var tr Transition
	if err := json.Unmarshal([]byte(owner.emitted[0]), &tr); err != nil {
		t.Fatal(err)
	}
	r := collect(rs.Rules())[0]
	if tr.State != StateFiring || tr.At != Timestamp(t0+120_001) || tr.EpisodeID != formatEpisode(EpisodeID("acme", "h", r.ID(), t0+120_001)) {
		t.Fatalf("firing %+v: want it at the deadline 10:02:00.001", tr)
	}
}
