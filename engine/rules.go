package engine

import (
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

// Rules is a rule set with the feature configurations of the metrics it
// does not declare, made once.
type Rules struct {
	set            *rules.RuleSet
	gauge, counter features.Config
}

// NewRules wraps rs.
func NewRules(rs *rules.RuleSet) *Rules {
	base := rs.Options().Features
	return &Rules{set: rs, gauge: rules.Metric{Kind: rules.Gauge}.FeatureConfig(base),
		counter: rules.Metric{Kind: rules.Counter}.FeatureConfig(base)}
}

// Set returns the rule set.
func (r *Rules) Set() *rules.RuleSet { return r.set }

// FeatureConfig returns a metric's feature configuration: its catalog entry
// if it has one, the defaults with the kind its name implies otherwise
// (rules.RuleSet.MetricConfig).
func (r *Rules) FeatureConfig(metric string) features.Config {
	if c, ok := r.set.FeatureConfig(metric); ok {
		return c
	}
	if rules.KindOf(metric) == rules.Counter {
		return r.counter
	}
	return r.gauge
}
