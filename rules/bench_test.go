package rules

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/eventops/eventops/features"
)

func BenchmarkEval(b *testing.B) {
	r := mustRule(b, `expr: avg("cpu", "1m") > 90 && last("cpu") > 50`, Options{})
	f := feats("avg(cpu,1m)", 50, "last(cpu)", 60)
	b.ReportAllocs()
	for b.Loop() {
		r.Eval(f, 0)
	}
}

func BenchmarkEvalStep(b *testing.B) {
	r := mustRule(b, "expr: avg(\"cpu\", \"1m\") > 90\nclear: avg(\"cpu\", \"1m\") < 85", Options{})
	f := cpu(95)
	st, _ := Step(r, src, State{}, r.Eval(f, 0), 0)
	b.ReportAllocs()
	for b.Loop() {
		st, _ = Step(r, src, st, r.Eval(f, 1), 1)
	}
}

// BenchmarkAdvance is a timer run of a source: every rule of the example file
// evaluated over real feature series (most of the time is the feature
// engine's). BenchmarkAdvanceEvent is one cpu_load sample: only the rules
// reading cpu_load (or any metric) are evaluated.
func BenchmarkAdvance(b *testing.B) { benchmarkAdvance(b, "") }

func BenchmarkAdvanceEvent(b *testing.B) { benchmarkAdvance(b, "cpu_load") }

func benchmarkAdvance(b *testing.B, metric string) {
	rs, err := LoadFiles(Options{}, "testdata/good/host.rules.yml")
	if err != nil {
		b.Fatal(err)
	}
	f := SeriesFeatures{}
	for _, m := range rs.Metrics() {
		c, _ := rs.FeatureConfig(m.Name)
		f[m.Name] = features.NewSeries(c)
	}
	for i := int64(0); i < 600; i++ {
		for _, s := range f {
			s.Add(i*1000, float64(50+i%40))
		}
	}
	var states States
	s := Source{Tenant: "acme", Host: "h"}
	src := f.source()
	b.ReportAllocs()
	for b.Loop() {
		rs.Advance(&states, s, src, 600_000, metric, nil)
	}
}

func BenchmarkAppendStates(b *testing.B) {
	lc := sampleLifecycles()[7]
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = lc.AppendBinary(buf[:0])
	}
}

func BenchmarkDecodeStates(b *testing.B) {
	lc := sampleLifecycles()[7]
	enc, _ := lc.AppendBinary(nil)
	b.ReportAllocs()
	for b.Loop() {
		DecodeLifecycle(enc)
	}
}

// BenchmarkSourcePath is the per-sample work of a source actor in the
// scenario the features stage is sized for: 10 metrics per source (the five
// the built-in rules read and five others), one sample per metric every
// 10 s of event time, each sample applied as an actor does (AdvanceUntil
// its time, Series.Add, AdvanceAt with its metric) over the built-in rules
// (a copy of cmd/eventops/default_rules.yml). The series hold 2 h of
// history, so every window is full. One op is one sample.
func BenchmarkSourcePath(b *testing.B) {
	step := sourcePath(b)
	b.ReportAllocs()
	for b.Loop() {
		step()
	}
}

// sourcePath sets up BenchmarkSourcePath's source, fed for 2 h of event
// time, and returns the step that feeds and evaluates its next sample.
func sourcePath(tb testing.TB) func() {
	data, err := os.ReadFile("testdata/default_rules.yml")
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := Parse("default_rules.yml", data, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	names := []string{"cpu_load", "mem_used_pct", "disk_used_pct", "latency_ms", "http_requests_total"}
	for m := len(names); m < 10; m++ {
		names = append(names, fmt.Sprintf("synthetic_%02d", m))
	}
	f := SeriesFeatures{}
	series := make([]*features.Series, len(names))
	for i, name := range names {
		c, ok := rs.FeatureConfig(name)
		if !ok {
			c = rs.Options().Features
		}
		series[i] = features.NewSeries(c)
		f[name] = series[i]
	}
	// Values shaped like the load generator's, two decimals, far from the
	// rules' thresholds: no transition in steady state.
	rng := rand.New(rand.NewPCG(1, 2))
	const rounds = 1024
	vals := make([][rounds]float64, len(names))
	for m := range names {
		for r := range rounds {
			t, noise := float64(r), rng.Float64()*2-1
			var v float64
			switch names[m] {
			case "cpu_load":
				v = 45 + 25*math.Sin(t/30) + 5*noise
			case "mem_used_pct":
				v = 60 + 10*math.Sin(t/90) + 2*noise
			case "disk_used_pct":
				v = 40 + t*0.0001
			case "latency_ms":
				v = 80 + 60*math.Abs(noise)
			case "http_requests_total":
				v = float64(r * 10)
			default:
				v = 100 + 50*math.Sin(t/20+float64(m)) + 10*noise
			}
			vals[m][r] = math.Round(v*100) / 100
		}
	}
	const interval = int64(10_000)
	var lc Lifecycle
	src := Source{Tenant: "tenant-00", Host: "host-00000"}
	round, m := int64(0), 0
	sf := f.source()
	step := func() {
		ts := 1_700_000_000_000 + round*interval
		rs.AdvanceUntil(&lc, src, sf, ts, nil)
		v := vals[m][round%rounds]
		if _, err := series[m].Add(ts, v); err != nil {
			tb.Fatal(err)
		}
		if rs.Reads(names[m]) {
			// As the actor notes the samples rules read, for explanations.
			sf.NoteSample(series[m], ts, v, SampleOrigin{Topic: "ingest.raw.agent", Offset: round})
		}
		rs.AdvanceAt(&lc, src, sf, ts, names[m], nil)
		if m++; m == len(names) {
			m, round = 0, round+1
		}
	}
	for range 2 * 360 * len(names) {
		step()
	}
	if len(lc.Alerts) != 0 {
		tb.Fatalf("alerts in steady state: %+v", lc.Alerts)
	}
	return step
}
