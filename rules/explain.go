package rules

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/eventops/eventops/features"
)

// MaxExplanationBytes bounds the JSON of one transition's explanation. The
// newest samples go first when it does not fit, then the features read
// last, then the end of the condition texts; the explanation says what it
// left out.
const MaxExplanationBytes = 2 << 10

// explainSamples is how many of the newest samples of each metric a rule
// reads an explanation lists (before the size bound).
const explainSamples = 4

// Resolution causes, the "by" of an explanation's resolution besides the
// reasons a rule ends without its condition (ReasonRuleRemoved, ...).
const (
	// ResolvedByClear: the rule's clear condition held (for
	// keep_firing_for).
	ResolvedByClear = "clear"
	// ResolvedByCondition: the rule's expr stopped holding (a rule without
	// clear), for keep_firing_for; for an inactive transition, the pending
	// episode's expr stopped holding.
	ResolvedByCondition = "condition"
	// ResolvedByNoData: the series the alert was about left the source
	// (no sample for series_stale_after): there is no data to judge.
	ResolvedByNoData = "no_data"
)

// Explanation says why a transition happened, from what the rule read when
// it decided: the condition as written, each feature with its value and
// the samples its window covered, the comparison and the side of its
// threshold the value is on, the newest samples of the metrics read with
// the records they came in, and for an ended alert what ended it. It is
// built by the evaluation that decided, and is at most MaxExplanationBytes
// of JSON.
type Explanation struct {
	// Condition is the rule's expr as written; Clear its clear, if any.
	Condition string `json:"condition,omitempty"`
	Clear     string `json:"clear,omitempty"`
	// Crossed is the comparison that decided: of expr, or of clear for an
	// alert resolved by it. Absent when the condition has no comparison.
	Crossed *Crossing `json:"crossed,omitempty"`
	// Features are the features the rule read, in the order it names them.
	Features []FeatureReading `json:"features"`
	// Samples are the newest samples of the series the rule read, newest
	// first per metric.
	Samples []SampleReading `json:"samples,omitempty"`
	// SamplesOmitted and FeaturesOmitted count what was left out to keep
	// the explanation within MaxExplanationBytes; CutText is set when the
	// condition texts were cut too.
	SamplesOmitted  int  `json:"samples_omitted,omitempty"`
	FeaturesOmitted int  `json:"features_omitted,omitempty"`
	CutText         bool `json:"cut_text,omitempty"`
	// Resolution says what ended a resolved or inactive transition.
	Resolution *Resolution `json:"resolution,omitempty"`
}

// Crossing is a comparison of a condition at the decision.
type Crossing struct {
	// Comparison is the comparison as the rule engine prints it.
	Comparison string `json:"comparison"`
	// Op is its operator with the value on the left (a negation applied).
	Op string `json:"op"`
	// Value is the side that reads features, Threshold the other side.
	Value     features.Float `json:"value"`
	Threshold features.Float `json:"threshold"`
	// Side is where Value is against Threshold: above, below or equal
	// (absent when either has no data).
	Side string `json:"side,omitempty"`
}

// FeatureReading is one feature a rule read.
type FeatureReading struct {
	// Feature is its name, as in Transition.Features.
	Feature string `json:"feature"`
	// Value is null when the feature had no data.
	Value features.Float `json:"value"`
	// Window is the window, or the half-life of ewma and ewmvar; absent for
	// last(metric) and seconds_since_last.
	Window string `json:"window,omitempty"`
	// Samples is the number of samples the window held; From and To the
	// event times of its first and last (for last(metric) and
	// seconds_since_last, the newest sample). Absent for ewma, ewmvar and
	// features without data.
	Samples *int64     `json:"samples,omitempty"`
	From    *Timestamp `json:"from,omitempty"`
	To      *Timestamp `json:"to,omitempty"`
}

// SampleReading is one sample of a series a rule read.
type SampleReading struct {
	Metric string         `json:"metric"`
	Value  features.Float `json:"value"`
	At     Timestamp      `json:"at"`
	// Origin is the raw record the sample came in, when the source still
	// knew it; absent for samples that came in no raw record (those read
	// from the OTLP topic).
	Origin *SampleOrigin `json:"origin,omitempty"`
}

// SampleOrigin names the raw record a sample came in: its topic, partition
// and offset.
type SampleOrigin struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Resolution is what ended an alert or a pending episode.
type Resolution struct {
	// By is clear, condition or no_data, or the reason of an end a reload
	// decided (rule_removed, rule_changed, tenant_excluded).
	By string `json:"by"`
	// Value is the value that cleared it: the value side of the deciding
	// comparison, else the rule's value (the last known one when nothing
	// was evaluated).
	Value features.Float `json:"value"`
}

// SeriesDetails is what an explanation reads about a series beyond the
// values of its features. A Features that implements it (SourceFeatures
// does) gets explanations with sample counts, time ranges and samples.
type SeriesDetails interface {
	// Coverage is the sample count and the first and last event times of
	// the window of the series of metric with tags; window 0 is the
	// newest sample.
	Coverage(metric string, tags []Label, window time.Duration) (count, from, to int64, ok bool)
	// AppendRecent appends up to n of the newest samples of the series,
	// newest first.
	AppendRecent(dst []SampleReading, metric string, tags []Label, n int) []SampleReading
}

// comparison is the comparison of a condition its value comes from (see
// valueSource), compiled: the side that reads features and the other.
type comparison struct {
	text             string
	op               string
	value, threshold *program
	valueRef         int // feature index when the value side is one feature, else -1
	thresholdRef     int
}

// topComparison finds the comparison of a condition that valueSource takes
// the value from, and the operator with that side on the left (negations
// applied).
func topComparison(n ast.Node, negated bool) (cmp *ast.BinaryNode, valueLeft bool, op string) {
	switch n := n.(type) {
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			return topComparison(n.Node, !negated)
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			if c, l, op := topComparison(n.Left, negated); c != nil {
				return c, l, op
			}
			return topComparison(n.Right, negated)
		case "<", ">", "<=", ">=", "==", "!=":
			op = n.Operator
			valueLeft = readsFeatures(n.Left) || !readsFeatures(n.Right)
			if !valueLeft {
				op = flipComparison(op)
			}
			if negated {
				op = negateComparison(op)
			}
			return n, valueLeft, op
		}
	}
	return nil, false, ""
}

func negateComparison(op string) string {
	switch op {
	case "<":
		return ">="
	case ">":
		return "<="
	case "<=":
		return ">"
	case ">=":
		return "<"
	case "==":
		return "!="
	}
	return "=="
}

// compileComparison compiles the top comparison of the condition src for
// explanations; nil when it has none or its sides do not compile as values.
func (c *exprCompiler) compileComparison(src string) *comparison {
	tree, err := parser.ParseWithConfig(src, newExprConfig(c.maxNodes, reflect.Bool))
	if err != nil {
		return nil
	}
	n, valueLeft, op := topComparison(tree.Node, false)
	if n == nil {
		return nil
	}
	vside, tside := n.Left, n.Right
	if !valueLeft {
		vside, tside = tside, vside
	}
	vp, ee := c.compileValue(vside.String())
	if len(ee) > 0 {
		return nil
	}
	tp, ee := c.compileValue(tside.String())
	if len(ee) > 0 {
		return nil
	}
	cmp := &comparison{text: n.String(), op: op, value: vp, threshold: tp, valueRef: -1, thresholdRef: -1}
	if vp.single >= 0 {
		cmp.value, cmp.valueRef = nil, vp.single
	}
	if tp.single >= 0 {
		cmp.threshold, cmp.thresholdRef = nil, tp.single
	}
	return cmp
}

// crossing evaluates cmp over the values of an evaluation.
func (r *Rule) crossing(cmp *comparison, vals []float64) *Crossing {
	v := r.valueOf(cmp.value, cmp.valueRef, vals)
	t := r.valueOf(cmp.threshold, cmp.thresholdRef, vals)
	c := &Crossing{Comparison: cmp.text, Op: cmp.op, Value: features.Float(v), Threshold: features.Float(t)}
	switch {
	case math.IsNaN(v) || math.IsNaN(t):
	case v > t:
		c.Side = "above"
	case v < t:
		c.Side = "below"
	default:
		c.Side = "equal"
	}
	return c
}

// explain builds the explanation of tr, which r decided from res, the
// evaluation of the series memo.tags at memo.now.
func (r *Rule) explain(tr *Transition, m *memoFeatures, res Result) *Explanation {
	e := &Explanation{Condition: r.expr, Clear: r.clear, Features: make([]FeatureReading, 0, len(r.features))}
	ended := tr.State == StateResolved || tr.State == StateInactive
	cmp := r.exprCmp
	if ended {
		e.Resolution = &Resolution{By: ResolvedByCondition, Value: tr.Value}
		if tr.State == StateResolved && r.clearProg != nil {
			e.Resolution.By, cmp = ResolvedByClear, r.clearCmp
		}
	}
	if cmp != nil && len(res.Values) == len(r.features) {
		e.Crossed = r.crossing(cmp, res.Values)
		if e.Resolution != nil && !math.IsNaN(float64(e.Crossed.Value)) {
			e.Resolution.Value = e.Crossed.Value
		}
	}
	details, _ := m.f.(SeriesDetails)
	for i, f := range r.features {
		fr := FeatureReading{Feature: f.String(), Value: features.Float(math.NaN())}
		if i < len(res.Values) {
			fr.Value = features.Float(res.Values[i])
		}
		if f.Window > 0 {
			fr.Window = FormatDuration(f.Window)
		}
		half := f.Stat == features.StatEWMA || f.Stat == features.StatEWMVar
		if details != nil && f.Metric != "" && !half && !math.IsNaN(float64(fr.Value)) && matches(m.tags, parsedSelector(r, i)) {
			if n, from, to, ok := details.Coverage(f.Metric, m.tags, f.Window); ok {
				a, b := Timestamp(from), Timestamp(to)
				fr.Samples, fr.From, fr.To = &n, &a, &b
			}
		}
		e.Features = append(e.Features, fr)
	}
	if details != nil {
		var seen []string
		for i, f := range r.features {
			if f.Metric == "" || slices.Contains(seen, f.Metric) || !matches(m.tags, parsedSelector(r, i)) {
				continue
			}
			seen = append(seen, f.Metric)
			e.Samples = details.AppendRecent(e.Samples, f.Metric, m.tags, explainSamples)
		}
	}
	e.bound()
	return e
}

// parsedSelector is the parsed selector of r's i-th feature.
func parsedSelector(r *Rule, i int) []Label {
	if r.tableSel == nil || i >= len(r.tableIdx) {
		return nil
	}
	return r.tableSel[r.tableIdx[i]]
}

// explainEnd is the explanation of an alert that ended without an
// evaluation (its series left, or a reload ended its rule): by says what
// ended it, and the value is the last the state knew.
func explainEnd(r *Rule, by string, value float64) *Explanation {
	e := &Explanation{Features: []FeatureReading{}, Resolution: &Resolution{By: by, Value: features.Float(value)}}
	if r != nil {
		e.Condition, e.Clear = r.expr, r.clear
	}
	e.bound()
	return e
}

// Size is the length of the explanation's JSON.
func (e *Explanation) Size() int {
	b, err := json.Marshal(e)
	if err != nil {
		return 0
	}
	return len(b)
}

// bound leaves out, until the JSON fits in MaxExplanationBytes, the oldest
// samples, then the last features, then the end of the condition texts.
func (e *Explanation) bound() {
	size := e.Size()
	for size > MaxExplanationBytes && len(e.Samples) > 0 {
		e.Samples = e.Samples[:len(e.Samples)-1]
		e.SamplesOmitted++
		size = e.Size()
	}
	for size > MaxExplanationBytes && len(e.Features) > 0 {
		e.Features = e.Features[:len(e.Features)-1]
		e.FeaturesOmitted++
		size = e.Size()
	}
	if size > MaxExplanationBytes {
		e.CutText = true
		for _, s := range []*string{&e.Clear, &e.Condition} {
			for size > MaxExplanationBytes && *s != "" {
				keep := len(*s) - (size - MaxExplanationBytes) - len("…")
				if keep <= 0 {
					*s = ""
				} else {
					*s = cutString(*s, keep) + "…"
				}
				size = e.Size()
			}
		}
		if size > MaxExplanationBytes {
			e.Crossed = nil
		}
	}
}

// cutString cuts s to at most n bytes at a rune boundary.
func cutString(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
