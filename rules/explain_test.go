package rules_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

// explainRun feeds samples of cpu_load (one every 10 s, from t0) to a
// source under the rules of file, and keeps every transition and a naive
// copy of the samples, against which explanations are checked.
type explainRun struct {
	t     *testing.T
	rs    *rules.RuleSet
	lc    rules.Lifecycle
	feats rules.SourceFeatures
	ser   *features.Series
	pts   [][2]float64 // ts, value
	trs   []*rules.Transition
}

const explainT0 = int64(1_750_000_000_000)

func newExplainRun(t *testing.T, file string) *explainRun {
	t.Helper()
	rs, err := rules.Parse("explain.yml", []byte(file), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &explainRun{t: t, rs: rs, ser: features.NewSeries(rs.MetricConfig("cpu_load"))}
	r.feats.Set("cpu_load", nil, r.ser)
	return r
}

func (r *explainRun) add(values ...float64) {
	for _, v := range values {
		ts := explainT0 + int64(len(r.pts))*10_000
		if out, err := r.ser.Add(ts, v); out != features.Applied || err != nil {
			r.t.Fatalf("add %v: %v %v", v, out, err)
		}
		r.feats.NoteSample(r.ser, ts, v, rules.SampleOrigin{Topic: "ingest.raw.agent", Partition: 3, Offset: int64(100 + len(r.pts))})
		r.pts = append(r.pts, [2]float64{float64(ts), v})
		r.rs.AdvanceAt(&r.lc, rules.Source{Tenant: "acme", Host: "host-a"}, &r.feats, ts, "cpu_load", r.collect)
	}
}

func (r *explainRun) collect(tr *rules.Transition) { r.trs = append(r.trs, tr) }

// last is the newest transition in state.
func (r *explainRun) last(state string) *rules.Transition {
	r.t.Helper()
	for i := len(r.trs) - 1; i >= 0; i-- {
		if r.trs[i].State == state {
			return r.trs[i]
		}
	}
	r.t.Fatalf("no %s transition in %d", state, len(r.trs))
	return nil
}

// window is the naive reference of a window of the samples so far: the
// samples in (newest - d, newest].
func (r *explainRun) window(d time.Duration) (n int64, avg, maxV float64, from, to int64) {
	newest := int64(r.pts[len(r.pts)-1][0])
	sum := 0.0
	maxV = math.Inf(-1)
	for _, p := range r.pts {
		ts := int64(p[0])
		if ts <= newest-d.Milliseconds() {
			continue
		}
		if n == 0 {
			from = ts
		}
		n++
		sum += p[1]
		maxV = math.Max(maxV, p[1])
		to = ts
	}
	return n, sum / float64(n), maxV, from, to
}

// checkFeature compares a feature reading of an explanation with the
// reference at the time of the transition.
func (r *explainRun) checkFeature(fr rules.FeatureReading, name string, want float64, n, from, to int64, window string) {
	r.t.Helper()
	if fr.Feature != name || fr.Window != window {
		r.t.Errorf("feature %q window %q, want %q %q", fr.Feature, fr.Window, name, window)
	}
	if math.Abs(float64(fr.Value)-want) > 1e-9 {
		r.t.Errorf("%s = %v, reference %v", name, fr.Value, want)
	}
	if fr.Samples == nil || *fr.Samples != n || fr.From == nil || int64(*fr.From) != from || fr.To == nil || int64(*fr.To) != to {
		r.t.Errorf("%s coverage %v %v %v, reference %d samples from %d to %d", name, fr.Samples, fr.From, fr.To, n, from, to)
	}
}

// checkSamples checks that an explanation lists the newest samples, newest
// first, with the records they came in.
func (r *explainRun) checkSamples(e *rules.Explanation, upTo int) {
	r.t.Helper()
	if len(e.Samples) == 0 {
		r.t.Fatal("no samples")
	}
	for i, s := range e.Samples {
		k := upTo - 1 - i
		if s.Metric != "cpu_load" || int64(s.At) != int64(r.pts[k][0]) || float64(s.Value) != r.pts[k][1] {
			r.t.Errorf("sample %d: %+v, want %v", i, s, r.pts[k])
		}
		if s.Origin == nil || *s.Origin != (rules.SampleOrigin{Topic: "ingest.raw.agent", Partition: 3, Offset: int64(100 + k)}) {
			r.t.Errorf("sample %d origin %+v", i, s.Origin)
		}
	}
}

func TestExplanationOfFiringAndResolvedMatchesTheFeatures(t *testing.T) {
	r := newExplainRun(t, `
metrics: [{name: cpu_load}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90 && max("cpu_load", "5m") > 0
`)
	r.add(50, 60, 95, 99, 98, 97, 99)
	fired := r.last(rules.StateFiring)
	e := fired.Explanation
	if e == nil {
		t.Fatal("firing transition without explanation")
	}
	if b, _ := json.Marshal(e); testing.Verbose() {
		t.Logf("%s", b)
	}
	firedAt := int(fired.At-rules.Timestamp(explainT0))/10_000 + 1
	all := r.pts
	r.pts = r.pts[:firedAt]
	n, avg, _, from, to := r.window(time.Minute)
	n5, _, max5, from5, to5 := r.window(5 * time.Minute)
	if e.Condition != `avg("cpu_load", "1m") > 90 && max("cpu_load", "5m") > 0` {
		t.Errorf("condition %q", e.Condition)
	}
	if len(e.Features) != 2 {
		t.Fatalf("features %+v", e.Features)
	}
	r.checkFeature(e.Features[0], `avg(cpu_load,1m)`, avg, n, from, to, "1m")
	r.checkFeature(e.Features[1], `max(cpu_load,5m)`, max5, n5, from5, to5, "5m")
	if c := e.Crossed; c == nil || c.Op != ">" || float64(c.Threshold) != 90 || c.Side != "above" || math.Abs(float64(c.Value)-avg) > 1e-9 {
		t.Errorf("crossed %+v, reference avg %v", e.Crossed, avg)
	}
	if e.Resolution != nil {
		t.Errorf("a firing transition with a resolution: %+v", e.Resolution)
	}
	r.checkSamples(e, firedAt)
	r.pts = all

	r.add(10, 10, 10, 10)
	res := r.last(rules.StateResolved)
	e = res.Explanation
	if e == nil || e.Resolution == nil {
		t.Fatalf("resolved explanation %+v", e)
	}
	resolvedAt := int(res.At-rules.Timestamp(explainT0))/10_000 + 1
	r.pts = r.pts[:resolvedAt]
	n, avg, _, from, to = r.window(time.Minute)
	r.checkFeature(e.Features[0], `avg(cpu_load,1m)`, avg, n, from, to, "1m")
	if e.Resolution.By != rules.ResolvedByCondition || math.Abs(float64(e.Resolution.Value)-avg) > 1e-9 {
		t.Errorf("resolution %+v, want by condition at %v", e.Resolution, avg)
	}
	if c := e.Crossed; c == nil || c.Side != "below" {
		t.Errorf("crossed %+v", e.Crossed)
	}
	r.checkSamples(e, resolvedAt)
}

func TestExplanationSaysWhatResolved(t *testing.T) {
	t.Run("clear", func(t *testing.T) {
		r := newExplainRun(t, `
metrics: [{name: cpu_load}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: last("cpu_load") > 90
        clear: last("cpu_load") < 70
`)
		r.add(95, 80, 60)
		e := r.last(rules.StateResolved).Explanation
		if e == nil || e.Resolution == nil || e.Resolution.By != rules.ResolvedByClear || e.Resolution.Value != 60 {
			t.Fatalf("explanation %+v", e)
		}
		if e.Clear != `last("cpu_load") < 70` || e.Crossed == nil || e.Crossed.Op != "<" || e.Crossed.Threshold != 70 || e.Crossed.Side != "below" {
			t.Errorf("clear %q crossed %+v", e.Clear, e.Crossed)
		}
		if fr := e.Features[0]; fr.Samples == nil || *fr.Samples != 1 || int64(*fr.To) != int64(r.pts[2][0]) {
			t.Errorf("last(cpu_load) coverage %+v", fr)
		}
	})
	t.Run("condition", func(t *testing.T) {
		r := newExplainRun(t, `
metrics: [{name: cpu_load}]
groups:
  - name: host
    rules:
      - alert: LowCPU
        expr: not (last("cpu_load") >= 10)
`)
		r.add(5, 12)
		e := r.last(rules.StateResolved).Explanation
		if e == nil || e.Resolution == nil || e.Resolution.By != rules.ResolvedByCondition || e.Resolution.Value != 12 {
			t.Fatalf("explanation %+v", e)
		}
		if e.Crossed == nil || e.Crossed.Op != "<" || e.Crossed.Side != "above" {
			t.Errorf("crossed %+v", e.Crossed)
		}
	})
	t.Run("no data", func(t *testing.T) {
		r := newExplainRun(t, `
metrics: [{name: cpu_load}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: last("cpu_load") > 90
`)
		r.add(95)
		r.feats.Delete("cpu_load", nil)
		r.rs.AdvanceAt(&r.lc, rules.Source{Tenant: "acme", Host: "host-a"}, &r.feats, explainT0+60_000, "", r.collect)
		tr := r.last(rules.StateResolved)
		if e := tr.Explanation; e == nil || e.Resolution == nil || e.Resolution.By != rules.ResolvedByNoData || e.Resolution.Value != 95 {
			t.Fatalf("explanation %+v", tr.Explanation)
		}
	})
}

// A rule reading many features explains itself in at most
// MaxExplanationBytes, samples left out first, and says so.
func TestExplanationIsBounded(t *testing.T) {
	var terms []string
	for _, stat := range []string{"avg", "min", "max", "sum", "count", "first", "last", "stddev", "p50", "p95", "p99", "delta"} {
		for _, w := range []string{"1m", "5m"} {
			terms = append(terms, fmt.Sprintf(`%s("cpu_load", %q) > -1000000`, stat, w))
		}
	}
	r := newExplainRun(t, fmt.Sprintf(`
metrics: [{name: cpu_load}]
groups:
  - name: host
    rules:
      - alert: Everything
        expr: %s
`, strings.Join(terms, " && ")))
	r.add(1, 2, 3, 4, 5)
	tr := r.last(rules.StateFiring)
	e := tr.Explanation
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > rules.MaxExplanationBytes {
		t.Errorf("explanation of %d bytes", len(b))
	}
	if e.SamplesOmitted == 0 || len(e.Samples) != 0 || e.FeaturesOmitted == 0 || len(e.Features) == 0 {
		t.Errorf("%d samples (%d omitted), %d features (%d omitted)", len(e.Samples), e.SamplesOmitted, len(e.Features), e.FeaturesOmitted)
	}
	if len(e.Features)+e.FeaturesOmitted != len(terms) {
		t.Errorf("%d + %d features of %d", len(e.Features), e.FeaturesOmitted, len(terms))
	}
}

// Samples that came in no raw record (read from the OTLP topic) are listed without
// an origin; a series whose samples left the source's ring still lists its
// newest sample, without one.
func TestExplanationSamplesWithoutOrigin(t *testing.T) {
	var feats rules.SourceFeatures
	cfg := features.DefaultConfig()
	a, b := features.NewSeries(cfg), features.NewSeries(cfg)
	feats.Set("cpu_load", nil, a)
	feats.Set("mem", nil, b)
	a.Add(explainT0, 42)
	feats.NoteSample(a, explainT0, 42, rules.SampleOrigin{Topic: "ingest.raw.agent", Partition: -1, Offset: 5})
	got := feats.AppendRecent(nil, "cpu_load", nil, 4)
	if len(got) != 1 || got[0].Value != 42 || got[0].Origin != nil {
		t.Fatalf("OTLP sample %+v", got)
	}
	for i := range 20 {
		ts := explainT0 + int64(i+1)*1000
		b.Add(ts, float64(i))
		feats.NoteSample(b, ts, float64(i), rules.SampleOrigin{Topic: "ingest.raw.agent", Partition: 1, Offset: int64(i)})
	}
	if got := feats.AppendRecent(nil, "mem", nil, 4); len(got) != 4 || got[0].Value != 19 || got[3].Value != 16 || got[0].Origin.Offset != 19 {
		t.Fatalf("mem samples %+v", got)
	}
	got = feats.AppendRecent(nil, "cpu_load", nil, 4)
	if len(got) != 1 || got[0].Value != 42 || int64(got[0].At) != explainT0 || got[0].Origin != nil {
		t.Fatalf("cpu_load after its samples left the ring: %+v", got)
	}
}

// A source read back from its encoded state (after an eviction, a restart
// or a rebalance) lists the same samples as the one that stayed in memory;
// only their origins, which live in memory, are gone.
func TestExplanationSamplesSurviveTheStateRoundTrip(t *testing.T) {
	cfg := features.DefaultConfig()
	var stayed rules.SourceFeatures
	a, other := features.NewSeries(cfg), features.NewSeries(cfg)
	stayed.Set("cpu_load", nil, a)
	stayed.Set("mem", nil, other)
	for i := range 12 {
		ts := explainT0 + int64(i)*10_000
		a.Add(ts, float64(50+i))
		stayed.NoteSample(a, ts, float64(50+i), rules.SampleOrigin{Topic: "ingest.raw.agent", Partition: 2, Offset: int64(i)})
		// Samples of another series take most of the ring.
		other.Add(ts+1, 1)
		stayed.NoteSample(other, ts+1, 1, rules.SampleOrigin{Topic: "ingest.raw.agent", Partition: 2, Offset: int64(1000 + i)})
	}
	b, _, err := features.DecodeSeries(cfg, a.AppendBinary(nil))
	if err != nil {
		t.Fatal(err)
	}
	var back rules.SourceFeatures
	back.Set("cpu_load", nil, b)

	want := stayed.AppendRecent(nil, "cpu_load", nil, 4)
	got := back.AppendRecent(nil, "cpu_load", nil, 4)
	if len(want) != 4 || len(got) != 4 {
		t.Fatalf("listed %d in memory and %d read back, want 4 each", len(want), len(got))
	}
	for i := range want {
		if float64(want[i].Value) != float64(61-i) || int64(want[i].At) != explainT0+int64(11-i)*10_000 {
			t.Errorf("sample %d in memory: %+v", i, want[i])
		}
		if want[i].Value != got[i].Value || want[i].At != got[i].At || want[i].Metric != got[i].Metric {
			t.Errorf("sample %d: %+v in memory, %+v read back", i, want[i], got[i])
		}
		if got[i].Origin != nil {
			t.Errorf("sample %d read back names a record: %+v", i, got[i].Origin)
		}
	}
	// The ring holds the newest noted samples (8, shared by both series):
	// the newest samples of cpu_load still name their records.
	if want[0].Origin == nil || want[0].Origin.Offset != 11 {
		t.Errorf("newest sample's origin %+v", want[0].Origin)
	}
}
