package rules

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestEvalAndValue checks conditions and the value derived from them (the
// left-hand side of the top comparison; through || the true operand's).
func TestEvalAndValue(t *testing.T) {
	f := feats("avg(cpu,1m)", 95, "last(cpu)", 5, "delta(cpu,5m)", -12, "max(cpu,5m)", 99, "count(cpu,15m)", 30)
	cases := []struct {
		expr   string
		active Truth
		value  float64
	}{
		{`avg("cpu", "1m") > 90`, True, 95},
		{`90 < avg("cpu", "1m")`, True, 95},
		{`avg("cpu", "1m") > 90 && count("cpu", "15m") >= 20`, True, 95},
		{`avg("cpu", "1m") > 200 || last("cpu") > 1`, True, 5},
		{`avg("cpu", "1m") > 90 || last("cpu") > 1`, True, 95},
		{`avg("cpu", "1m") > 200 or last("cpu") > 100`, False, 5},
		{`!(avg("cpu", "1m") < 10)`, True, 95},
		{`avg("cpu", "1m") * 2 > 100`, True, 190},
		{`abs(delta("cpu", "5m")) > 10`, True, 12},
		{`max("cpu", "5m") - avg("cpu", "1m") >= 4`, True, 4},
		{`last("cpu") > 1 ? avg("cpu", "1m") > 90 : max("cpu", "5m") > 90`, True, 95},
		{`true`, True, 0},
		{`avg("cpu", "1m") > 90 and not false`, True, 95},
		{`avg("cpu", "1m") == 95 && last("cpu") != 4`, True, 95},
		{`1 < 2 < 3`, True, 1}, // no feature: the left-hand side still
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			r := mustRule(t, "expr: '"+c.expr+"'", Options{})
			res := r.Eval(f, 0)
			if res.Active != c.active || res.Err != nil {
				t.Fatalf("active = %s (%v), want %s", res.Active, res.Err, c.active)
			}
			if v := r.value(res.Values); v != c.value {
				t.Errorf("value = %v, want %v", v, c.value)
			}
		})
	}
}

func TestEvalUnknownAndClear(t *testing.T) {
	r := mustRule(t, "expr: avg(\"cpu\", \"1m\") > 90\nclear: last(\"cpu\") < 85", Options{})
	res := r.Eval(cpu(95), 0)
	if res.Active != True || res.Clear != Unknown || !math.IsNaN(res.Values[1]) {
		t.Fatalf("%+v", res)
	}
	res = r.Eval(feats("last(cpu)", 80), 0)
	if res.Active != Unknown || res.Clear != True {
		t.Fatalf("%+v", res)
	}
	if v := r.value(res.Values); !math.IsNaN(v) {
		t.Errorf("value without data = %v", v)
	}
}

func TestConstantFoldingErrorIsALoadError(t *testing.T) {
	src := "metrics: [{name: cpu}]\ngroups: [{name: g, rules: [{alert: A, expr: 'avg(\"cpu\", \"1m\") > 1 && 7 % 0 == 1'}]}]\n"
	if _, err := Parse("x.yml", []byte(src), Options{}); err == nil {
		t.Fatal("7 % 0 loaded")
	}
}

func TestTemplates(t *testing.T) {
	r := mustRule(t, `
expr: avg("cpu", "1m") > 90
labels: {team: infra}
annotations:
  summary: '{{ $labels.alertname }} {{ $labels.team }} {{ $labels.tenant }}/{{ $labels.host }} {{ $value }} {{ $labels.missing }}|'
  meta: '{{ $meta.owner }} {{ $meta.region }} {{ $meta.service }} {{ $meta.tags.env }} {{ $meta.tags.missing }}|'
  funcs: '{{ humanize 1234567 }} {{ humanize 0.0012 }} {{ humanizePercentage 0.256 }} {{ humanizeDuration 3725 }} {{ toUpper "a" }} {{ printf "%.1f" $value }}'
  features: '{{ index $features "avg(cpu,1m)" }}'
  short: '{{ slice $labels.host 0 3 }}'
`, Options{})
	s := Source{Tenant: "acme", Host: "h1", Meta: Meta{Owner: "ops", Region: "eu", Service: "api", Tags: map[string]string{"env": "prod"}}}
	_, tr := Step(r, s, State{}, r.Eval(cpu(95.25), 0), 0)
	want := map[string]string{
		"summary":  "A infra acme/h1 95.25 |",
		"meta":     "ops eu api prod |",
		"funcs":    "1.235M 1.2m 25.6% 1h 2m 5s A 95.2",
		"features": "95.25",
		"short":    "<error expanding template: template: short:1:3: executing \"short\" at <slice $labels.host 0 3>: error calling slice: index out of range: 3>",
	}
	for k, w := range want {
		got := tr.Annotations[k]
		if k == "short" {
			got = strings.ReplaceAll(got, templateHeader, "")
			if !strings.HasPrefix(got, "<error expanding template:") || !strings.Contains(got, "index out of range") {
				t.Errorf("%s = %q, want an error marker", k, got)
			}
			continue
		}
		if got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
}

func TestHumanize(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", 999: "999", 1000: "1k", 1500: "1.5k", -2e6: "-2M", 0.5: "500m", 2e-6: "2u"} {
		if got := humanize(v); got != want {
			t.Errorf("humanize(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0ms", 0.25: "250ms", 59: "59s", 60: "1m", 90061: "1d 1h 1m 1s", -61: "-1m 1s"} {
		if got := humanizeDuration(v); got != want {
			t.Errorf("humanizeDuration(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0": 0, "0s": 0, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "1d": 24 * time.Hour,
		"2w": 14 * 24 * time.Hour, "1y": 365 * 24 * time.Hour, "500ms": 500 * time.Millisecond,
		"1m500ms": time.Minute + 500*time.Millisecond,
	}
	for in, want := range good {
		if d, err := ParseDuration(in); err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v", in, d, err, want)
		}
	}
	for _, in := range []string{"", "5", "5x", "-1m", "1.5m", "m", "1m1h", "1m1m", "1ms1s", "99999999999999999999s", "106752d"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
	if got := FormatDuration(90*time.Minute + 5*time.Millisecond); got != "1h30m5ms" {
		t.Errorf("FormatDuration = %q", got)
	}
}
