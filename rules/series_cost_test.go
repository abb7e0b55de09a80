package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventops/eventops/features"
)

// countingFeatures counts the stats rules read.
type countingFeatures struct {
	*SourceFeatures
	stats int
}

func (c *countingFeatures) Stat(metric string, tags []Label, stat string, window time.Duration, now int64) (float64, bool) {
	c.stats++
	return c.SourceFeatures.Stat(metric, tags, stat, window, now)
}

// A sample of one series is evaluated for that series: the other series
// of its metric did not change (their windows end at their own newest
// sample, and their deadlines are timers). Reading every series of the
// metric at every sample makes the work per sample grow with the number
// of series of the source (a 500-core host: 500 evaluations per sample).
func TestASampleEvaluatesItsOwnSeriesOnly(t *testing.T) {
	rs := parseRules(t, `
metrics: [{name: cpu_load}]
groups:
  - name: g
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
`)
	s := newSeriesSource(rs)
	const n = 200
	for i := range n {
		s.add(t, fmt.Sprintf(`cpu_load{core="%d"}`, i), 1000, 10)
	}
	// One more sample of core 0, evaluated as an actor does.
	ser0 := []Label{{Name: "core", Value: "0"}}
	ser := s.feats.Get("cpu_load", ser0)
	if _, err := ser.Add(2000, 20); err != nil {
		t.Fatal(err)
	}
	cf := &countingFeatures{SourceFeatures: &s.feats}
	s.rs.AdvanceApplied(&s.lc, s.src, cf, 2000, []SeriesKey{{Metric: "cpu_load", Tags: ser0}}, nil)
	if cf.stats > 1 {
		t.Fatalf("one sample of one series read %d stats (the metric has %d series)", cf.stats, n)
	}
}

func BenchmarkAdvancePerSeriesCount(b *testing.B) {
	for _, n := range []int{1, 64, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rs, err := Parse("r.yml", []byte("metrics: [{name: cpu_load}]\ngroups: [{name: g, rules: [{alert: HighCPU, expr: 'avg(\"cpu_load\", \"1m\") > 90'}]}]"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			s := newSeriesSource(rs)
			cfg, _ := rs.FeatureConfig("cpu_load")
			for i := range n {
				ser := features.NewSeries(cfg)
				ser.Add(1000, 10)
				s.feats.Set("cpu_load", []Label{{Name: "core", Value: fmt.Sprintf("%04d", i)}}, ser)
			}
			tags := []Label{{Name: "core", Value: "0000"}}
			ser := s.feats.Get("cpu_load", tags)
			applied := []SeriesKey{{Metric: "cpu_load", Tags: tags}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				at := int64(2000 + i)
				ser.Add(at, 20)
				s.rs.AdvanceApplied(&s.lc, s.src, &s.feats, at, applied, nil)
			}
		})
	}
}
