package rules

import (
	"math"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Features is what a rule reads about one source (tenant/host). The caller
// implements it over the source's feature series (see SeriesFeatures).
type Features interface {
	// Stat is the value of a stat of a metric over a window at nowMilli, and
	// whether it has data. Stat names are the expression function names
	// (avg, p99, counter_rate, ewma, ...). Window is the half-life for ewma
	// and ewmvar, and 0 for last(metric): the latest value.
	Stat(metric, stat string, window time.Duration, nowMilli int64) (float64, bool)
	// SecondsSinceLast is the age in seconds of the newest sample of metric,
	// or of any metric of the source when metric is "". It has no data when
	// no such sample was ever seen.
	SecondsSinceLast(metric string, nowMilli int64) (float64, bool)
}

// Truth is the outcome of a condition: it holds, it does not, or it cannot be
// decided because a feature it reads has no data.
type Truth uint8

const (
	Unknown Truth = iota // zero value: not decided
	False
	True
)

func (t Truth) String() string {
	switch t {
	case False:
		return "false"
	case True:
		return "true"
	}
	return "unknown"
}

func truth(b bool) Truth {
	if b {
		return True
	}
	return False
}

// Result is one evaluation of a rule for a source.
type Result struct {
	// Active is the rule's expr. It is Unknown when a feature expr reads has
	// no data (or the evaluation failed, see Err).
	Active Truth
	// Clear is the rule's clear condition, Unknown when the rule has none or
	// a feature it reads has no data.
	Clear Truth
	// Values are the values of the rule's features (Rule.Features), NaN for
	// those without data.
	Values []float64
	// Err is a run-time error of an expression (such as an integer modulo by
	// zero); the condition it belongs to is then Unknown.
	Err error
}

// Eval evaluates r at nowMilli over f. It reads every feature of the rule once
// and runs the compiled conditions over those values; a condition reading a
// feature without data is Unknown rather than evaluated on a made-up value.
func (r *Rule) Eval(f Features, nowMilli int64) Result {
	res := Result{Values: make([]float64, len(r.features))}
	// Which features have data: a bit set, or a slice for rules reading more
	// than 64 features.
	var known uint64
	var missing []bool
	if len(r.features) > 64 {
		missing = make([]bool, len(r.features))
	}
	for i, ref := range r.features {
		var v float64
		var ok bool
		if ref.Stat == StatSecondsSinceLast {
			v, ok = f.SecondsSinceLast(ref.Metric, nowMilli)
		} else {
			v, ok = f.Stat(ref.Metric, ref.Stat, ref.Window, nowMilli)
		}
		if !ok {
			v = math.NaN()
			if missing != nil {
				missing[i] = true
			}
		} else if i < 64 {
			known |= 1 << i
		}
		res.Values[i] = v
	}
	has := func(p *program) bool {
		for _, i := range p.refs {
			if missing != nil {
				if missing[i] {
					return false
				}
			} else if known&(1<<i) == 0 {
				return false
			}
		}
		return true
	}
	if r.exprProg != nil && has(r.exprProg) {
		res.Active, res.Err = r.run(r.exprProg, res.Values)
	}
	if r.clearProg != nil && has(r.clearProg) {
		var err error
		res.Clear, err = r.run(r.clearProg, res.Values)
		if res.Err == nil {
			res.Err = err
		}
	}
	return res
}

// machine is a reusable VM with its environment, pooled per rule set: VMs are
// not safe for concurrent use, rule sets are.
type machine struct {
	vm  vm.VM
	env evalEnv
}

func (r *Rule) exec(p *program, vals []float64) (any, error) {
	m := r.vms.Get().(*machine)
	m.env.vals = vals
	out, err := m.vm.Run(p.prog, &m.env)
	m.env.vals = nil
	r.vms.Put(m)
	return out, err
}

func (r *Rule) run(p *program, vals []float64) (Truth, error) {
	out, err := r.exec(p, vals)
	if err != nil {
		return Unknown, err
	}
	b, ok := out.(bool)
	if !ok {
		return Unknown, nil
	}
	return truth(b), nil
}

// value is the rule's value for an evaluation (see valueSource): the left-hand
// side of the top comparison, else the first feature, else 0. NaN when a
// feature it reads has no data.
func (r *Rule) value(vals []float64) float64 {
	switch {
	case r.valueRef >= 0 && r.valueRef < len(vals):
		return vals[r.valueRef]
	case r.valueProg == nil:
		return 0
	}
	for _, i := range r.valueProg.refs {
		if i >= len(vals) || math.IsNaN(vals[i]) {
			return math.NaN()
		}
	}
	out, err := r.exec(r.valueProg, vals)
	if err != nil {
		return math.NaN()
	}
	v, err := toFloat(out)
	if err != nil {
		return math.NaN()
	}
	return v
}
