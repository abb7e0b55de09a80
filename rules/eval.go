package rules

import (
	"math"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Features is what a rule reads about one source (tenant/host): its
// series, each a metric with a set of tags (labels sorted by name). The
// caller implements it over the source's feature series (see
// SourceFeatures).
type Features interface {
	// SeriesCount is the number of series of metric, and SeriesTags the
	// tags of the i-th in tag order (CompareLabels).
	SeriesCount(metric string) int
	SeriesTags(metric string, i int) []Label
	// Stat is the value of a stat of the series of metric with exactly
	// tags over a window at nowMilli, and whether it has data. Stat names
	// are the expression function names (avg, p99, counter_rate, ewma,
	// ...). Window is the half-life for ewma and ewmvar, and 0 for
	// last(metric): the latest value.
	Stat(metric string, tags []Label, stat string, window time.Duration, nowMilli int64) (float64, bool)
	// SecondsSinceLast is the age in seconds of the newest sample of the
	// series of metric with tags, or of any series of the source when
	// metric is "" (tags are then ignored). It has no data when no such
	// sample was ever seen.
	SecondsSinceLast(metric string, tags []Label, nowMilli int64) (float64, bool)
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
func (r *Rule) Eval(f Features, nowMilli int64) Result { return r.EvalSeries(f, nil, nowMilli) }

// EvalSeries evaluates r for the series with tags: every feature reads the
// series of its metric with exactly these tags, and has no data when they
// do not match its selector.
func (r *Rule) EvalSeries(f Features, tags []Label, nowMilli int64) Result {
	m := memoFeatures{f: f, now: nowMilli, refs: r.table, sels: r.tableSel, tags: tags}
	return r.eval(&m, make([]float64, len(r.features)))
}

// eval is Eval reading through m into vals (len(r.features) long), which
// becomes Result.Values. It does not allocate unless the rule reads more
// than 64 features.
func (r *Rule) eval(m *memoFeatures, vals []float64) Result {
	res := Result{Values: vals}
	// Which features have data: a bit set, or a slice for rules reading more
	// than 64 features.
	var known uint64
	var missing []bool
	if len(r.features) > 64 {
		missing = make([]bool, len(r.features))
	}
	for i, g := range r.tableIdx {
		v, ok := m.get(g)
		if !ok {
			v = math.NaN()
			if missing != nil {
				missing[i] = true
			}
		} else if i < 64 {
			known |= 1 << i
		}
		vals[i] = v
	}
	if r.exprProg != nil && r.exprProg.has(known, missing) {
		res.Active, res.Err = r.run(r.exprProg, vals)
	}
	if r.clearProg != nil && r.clearProg.has(known, missing) {
		var err error
		res.Clear, err = r.run(r.clearProg, vals)
		if res.Err == nil {
			res.Err = err
		}
	}
	return res
}

// has reports whether every feature p reads has data.
func (p *program) has(known uint64, missing []bool) bool {
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

// machine is a reusable VM with its environment, pooled per rule set: VMs are
// not safe for concurrent use, rule sets are.
type machine struct {
	vm  vm.VM
	env evalEnv
}

// exec runs p on expr's VM. The values are copied into the machine so that
// vals never escapes (callers pass stack buffers).
func (r *Rule) exec(p *program, vals []float64) (any, error) {
	m := r.vms.Get().(*machine)
	m.env.vals = append(m.env.vals[:0], vals...)
	out, err := m.vm.Run(p.prog, &m.env)
	r.vms.Put(m)
	return out, err
}

func (r *Rule) run(p *program, vals []float64) (Truth, error) {
	if p.code != nil {
		if out, ok := p.code.eval(vals); ok {
			if out.kind != kindBool {
				return Unknown, nil
			}
			return truth(out.i != 0), nil
		}
	}
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
func (r *Rule) value(vals []float64) float64 { return r.valueOf(r.valueProg, r.valueRef, vals) }

// valueOf is the value of feature ref when it is one (>= 0), else of the
// numeric program p (0 without one); NaN when a feature it reads has no
// data.
func (r *Rule) valueOf(p *program, ref int, vals []float64) float64 {
	switch {
	case ref >= 0 && ref < len(vals):
		return vals[ref]
	case p == nil:
		return 0
	}
	for _, i := range p.refs {
		if i >= len(vals) || math.IsNaN(vals[i]) {
			return math.NaN()
		}
	}
	if c := p.code; c != nil {
		if out, ok := c.eval(vals); ok {
			switch out.kind {
			case kindInt, kindFloat:
				return out.float()
			}
			return math.NaN()
		}
	}
	out, err := r.exec(p, vals)
	if err != nil {
		return math.NaN()
	}
	v, err := toFloat(out)
	if err != nil {
		return math.NaN()
	}
	return v
}
