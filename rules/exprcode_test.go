package rules

import (
	"math"
	"testing"
)

// codeVals are feature values that exercise every branch of the
// comparisons and arithmetic: signs, zero, integers, NaN and infinities.
var codeVals = []float64{0, 1, -1, 2.5, -3, 90, 95.5, 1e300, -1e-300, math.Inf(1), math.Inf(-1), math.NaN()}

// checkCodeMatchesVM evaluates every program of every rule of rs with the
// rules package's evaluator and with expr's VM, over combinations of
// codeVals, and fails on any difference. It returns how many evaluations
// the evaluator handled itself.
func checkCodeMatchesVM(t *testing.T, rs *RuleSet) (handled int) {
	t.Helper()
	for r := range rs.Rules() {
		for _, p := range []*program{r.exprProg, r.clearProg, r.valueProg} {
			if p == nil || p.code == nil {
				continue
			}
			vals := make([]float64, len(r.features))
			for k := 0; k < 64; k++ {
				for i := range vals {
					vals[i] = codeVals[(k*(i+1)+i*5)%len(codeVals)]
				}
				cv, ok := p.code.eval(vals)
				out, err := r.exec(p, vals)
				if !ok {
					continue
				}
				if p == r.valueProg && cv.kind == kindInt {
					// The VM casts a value expression's result to float64.
					cv = codeValue{kind: kindFloat, f: float64(cv.i)}
				}
				handled++
				if err != nil {
					t.Fatalf("%s: %v: VM error %v, evaluator %+v", r.Expr(), vals, err, cv)
				}
				if !sameValue(cv, out) {
					t.Fatalf("%s: %v: VM %#v, evaluator %+v", r.Expr(), vals, out, cv)
				}
			}
		}
	}
	return handled
}

func sameValue(cv codeValue, out any) bool {
	switch v := out.(type) {
	case bool:
		return cv.kind == kindBool && (cv.i != 0) == v
	case int:
		return cv.kind == kindInt && cv.i == v
	case float64:
		return cv.kind == kindFloat && (math.Float64bits(cv.f) == math.Float64bits(v) || math.IsNaN(cv.f) && math.IsNaN(v))
	}
	return false
}

func TestCodeMatchesVM(t *testing.T) {
	exprs := []string{
		`avg("cpu", "1m") > 90`,
		`avg("cpu", "1m") > 90 && last("cpu") > 50`,
		`rate("cpu", "15m") > 0.01 && last("cpu") > 80`,
		`p99("cpu", "5m") > 250 && count("cpu", "5m") >= 10`,
		`zscore("cpu", "15m") > 4 && count("cpu", "15m") >= 20`,
		`avg("cpu", "1m") > 200 || last("cpu") > 1`,
		`!(avg("cpu", "1m") < 10) or not (last("cpu") == 1)`,
		`avg("cpu", "1m") * 2 + 1 > 100 - last("cpu") / 3`,
		`abs(delta("cpu", "5m")) > 10 && abs(-3) == 3`,
		`last("cpu") > 1 ? avg("cpu", "1m") > 90 : max("cpu", "5m") > 90`,
		`(last("cpu") > 1 ? 2.25 : 3.5) * avg("cpu", "1m") != 7`,
		`avg("cpu", "1m") > 0 && (last("cpu") > 1 ? 2 : 3.5) < 3 && (last("cpu") > 2 ? 1 : 0.5) + 1 == 2`,
		`avg("cpu", "1m") ** 2 >= 4 && avg("cpu", "1m") ^ 0.5 <= 3`,
		`(last("cpu") > 1 ? 7 : 8) % 3 == 1 || 7 % 3 == 1`,
		`-avg("cpu", "1m") < +last("cpu")`,
		`avg("cpu", "1m") > 0 && (1 < 2 && 2.5 >= 2 && 3 != 3.0 || true == false)`,
		`avg("cpu", "1m") > -1 && (1 > 0) == (avg("cpu", "1m") > 0)`,
		`seconds_since_last("cpu") > 300 || avg("cpu", "1m") / 0 >= -1`,
		`9223372036854775807 + 1 < 0`,
		`true`,
	}
	for _, e := range exprs {
		t.Run(e, func(t *testing.T) {
			src := "metrics: [{name: cpu}]\ngroups: [{name: g, rules: [{alert: A, expr: " + quoteYAML(e) + "}]}]\n"
			rs, err := Parse("t.yml", []byte(src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			for r := range rs.Rules() {
				if r.exprProg.code == nil {
					t.Fatalf("not compiled for the evaluator")
				}
			}
			if checkCodeMatchesVM(t, rs) == 0 {
				t.Fatal("the evaluator handled nothing")
			}
		})
	}
	// An integer modulo by zero is a run-time error: the VM decides, and
	// reports it.
	r := mustRule(t, `expr: '1 % (last("cpu") > 0 ? 0 : 1) == 0'`, Options{})
	if res := r.Eval(feats("last(cpu)", 3), 0); res.Err == nil || res.Active != Unknown {
		t.Fatalf("modulo by zero: %+v", res)
	}
}

// FuzzCodeMatchesVM: for any expression that loads, the rules package's
// evaluator and expr's VM agree wherever the evaluator decides.
func FuzzCodeMatchesVM(f *testing.F) {
	for _, s := range []string{
		`avg("cpu", "1m") > 90`,
		`abs(delta("cpu", "5m")) > 1 ? true : last("cpu") % 2 == 1`,
		`!(zscore("cpu", "15m") > 3) and ewma("cpu", "1m") ** 2 != 4`,
		`(count("cpu", "5m") > 2 ? 1 : 2.5) + 3 * -last("cpu") <= 7 / 2`,
		`count("cpu", "5m") == 3 || 2 == 2.0 && false != (1 < 2)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		src := "metrics: [{name: cpu}]\ngroups: [{name: g, rules: [{alert: A, expr: " + quoteYAML(expr) + "}]}]\n"
		rs, err := Parse("fuzz.yml", []byte(src), Options{})
		if err != nil {
			return
		}
		checkCodeMatchesVM(t, rs)
	})
}
