package rules

import (
	"math"
	"time"

	"github.com/eventops/eventops/features"
)

// SeriesFeatures serves Features from the feature series of one source, by
// metric name. It is how an actor (and the rule-test runner) connects the
// feature engine to rules.
type SeriesFeatures map[string]*features.Series

// Stat reads a stat of a metric's series; last with window 0 is the newest
// sample. Windows end at the series' newest event time, so windowed stats do
// not change while a source is silent: only seconds_since_last does.
func (s SeriesFeatures) Stat(metric, stat string, window time.Duration, nowMilli int64) (float64, bool) {
	ser := s[metric]
	if ser == nil {
		return 0, false
	}
	if stat == features.StatLast && window == 0 {
		_, v, ok := ser.Last()
		return v, ok
	}
	return ser.Stat(stat, window, nowMilli)
}

// SecondsSinceLast is the age of the newest sample of metric, or of the
// newest sample of any metric when metric is "".
func (s SeriesFeatures) SecondsSinceLast(metric string, nowMilli int64) (float64, bool) {
	if metric != "" {
		ser := s[metric]
		if ser == nil {
			return 0, false
		}
		if _, _, ok := ser.Last(); !ok {
			return 0, false
		}
		return ser.SecondsSinceLast(nowMilli), true
	}
	age, ok := math.Inf(1), false
	for _, ser := range s {
		if _, _, has := ser.Last(); has {
			age, ok = min(age, ser.SecondsSinceLast(nowMilli)), true
		}
	}
	return age, ok
}
