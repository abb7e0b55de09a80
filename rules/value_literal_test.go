package rules

import (
	"testing"
	"time"
)

// A float literal in a condition's value survives the way the value is
// derived from the condition ("2.0" is printed back as "2").
func TestValueOfAMixedConditional(t *testing.T) {
	src := "metrics: [{name: x}, {name: y}]\ngroups:\n  - name: g\n    rules:\n      - alert: A\n" +
		"        expr: '(last(\"x\") > 5 ? 2.0 : 3.5) * last(\"y\") > 100'\n"
	rs, err := Parse("t.yml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var r *Rule
	for x := range rs.Rules() {
		r = x
	}
	f := fakeFeatures{vals: map[string]float64{
		FeatureRef{Stat: "last", Metric: "x"}.String(): 6,
		FeatureRef{Stat: "last", Metric: "y"}.String(): 60,
	}}
	res := r.Eval(f, time.Hour.Milliseconds())
	if res.Active != True || len(res.Values) == 0 {
		t.Fatalf("result %+v", res)
	}
	if v := r.value(res.Values); v != 120 {
		t.Fatalf("value %v, want 120", v)
	}
}
