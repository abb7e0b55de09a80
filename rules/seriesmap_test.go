package rules

import (
	"time"

	"github.com/eventops/eventops/features"
)

// SeriesFeatures is the tests' shorthand for a source's series: keyed by
// series name as rules write them, cpu_load or cpu_load{core="0"}. It
// serves Features through a SourceFeatures built on each call, so a test
// may add series at any time.
type SeriesFeatures map[string]*features.Series

func (m SeriesFeatures) source() *SourceFeatures {
	var s SourceFeatures
	for k, ser := range m {
		metric, tags, err := ParseSeries(k)
		if err != nil {
			panic(err)
		}
		s.Set(metric, tags, ser)
	}
	return &s
}

func (m SeriesFeatures) SeriesCount(metric string) int { return m.source().SeriesCount(metric) }

func (m SeriesFeatures) SeriesTags(metric string, i int) []Label {
	return m.source().SeriesTags(metric, i)
}

func (m SeriesFeatures) Stat(metric string, tags []Label, stat string, window time.Duration, now int64) (float64, bool) {
	return m.source().Stat(metric, tags, stat, window, now)
}

func (m SeriesFeatures) SecondsSinceLast(metric string, tags []Label, now int64) (float64, bool) {
	return m.source().SecondsSinceLast(metric, tags, now)
}
