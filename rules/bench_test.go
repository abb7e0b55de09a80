package rules

import (
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
	b.ReportAllocs()
	for b.Loop() {
		rs.Advance(&states, s, f, 600_000, metric, nil)
	}
}

func BenchmarkAppendStates(b *testing.B) {
	s := sampleStates()[3]
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.AppendBinary(buf[:0])
	}
}

func BenchmarkDecodeStates(b *testing.B) {
	enc, _ := sampleStates()[3].MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		DecodeStates(enc)
	}
}
