package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadGoodFiles(t *testing.T) {
	paths, err := filepath.Glob("testdata/good/*.yml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no good files: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			rs, err := LoadFiles(Options{}, p)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if rs.Len() == 0 {
				t.Fatal("no rules")
			}
		})
	}
}

func TestLoadGoodDetails(t *testing.T) {
	rs, err := LoadFiles(Options{}, "testdata/good/host.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Rule{}
	for r := range rs.Rules() {
		byName[r.Name()] = r
	}
	cpu := byName["HighCPU"]
	if cpu.Severity() != "critical" || cpu.Group() != "host" || cpu.Clear() == "" {
		t.Errorf("HighCPU: severity %q group %q clear %q", cpu.Severity(), cpu.Group(), cpu.Clear())
	}
	if !cpu.AppliesTo("acme") || cpu.AppliesTo("other") {
		t.Error("HighCPU tenant scope")
	}
	if got := byName["DiskFillingUp"].Severity(); got != DefaultSeverity {
		t.Errorf("default severity = %q", got)
	}
	if byName["DiskFillingUp"].For() != 5*time.Minute || byName["SlowP99"].KeepFiringFor() != 2*time.Minute {
		t.Error("durations")
	}
	if !byName["NoHeartbeat"].NoData() || byName["HighCPU"].NoData() {
		t.Error("NoData")
	}
	if byName["NoHeartbeat"].UsesMetric("cpu_load") || !byName["NoHeartbeat"].UsesMetric("heartbeat") || !byName["SourceSilent"].UsesMetric("cpu_load") {
		t.Error("UsesMetric")
	}
	m, ok := rs.Metric("cpu_load")
	if !ok || m.Lateness != 30*time.Second || m.Unit != "percent" {
		t.Errorf("metric cpu_load = %+v", m)
	}
	cfg, _ := rs.FeatureConfig("http_requests_total")
	if !cfg.Counter {
		t.Error("counter config")
	}
	var names []string
	for _, f := range byName["DiskFillingUp"].Features() {
		names = append(names, f.String())
	}
	if got := strings.Join(names, " "); got != "rate(disk_used_pct,15m) last(disk_used_pct)" {
		t.Errorf("features = %s", got)
	}
	if got := len(collect(rs.RulesFor("other"))); got != 5 {
		t.Errorf("rules for other tenant = %d", got)
	}
}

func collect[T any](seq func(func(T) bool)) []T {
	var out []T
	seq(func(v T) bool { out = append(out, v); return true })
	return out
}

// TestLoadBadFiles asserts the exact messages of every bad file: each problem
// of a file is reported, as FILE:LINE: message, in line order.
func TestLoadBadFiles(t *testing.T) {
	cases := map[string][]string{
		"expr.yml": {
			`9: alert "UnknownMetric": expr: unknown metric "cpu" (not in metrics:)`,
			`11: alert "BadWindow": expr: window "2m" is not a configured window (1m, 5m, 15m, 1h)`,
			`11: alert "BadWindow": expr: window "soon" is not a configured window (1m, 5m, 15m, 1h)`,
			`13: alert "BadHalfLife": expr: half-life "5m" is not a configured half-life (1m, 10m)`,
			`15: alert "GaugeRate": expr: counter_rate needs a counter, but "cpu_load" is a gauge`,
			`17: alert "NotLiteral": expr: avg: argument 1 must be a string literal`,
			`19: alert "Identifier": expr: unknown name "cpu_load": read metrics with functions, e.g. avg("cpu_load", "5m")`,
			`21: alert "NotBool": expr: expected bool, but got float64`,
			`23: alert "Syntax": expr: unexpected token Operator(">") at column 24`,
			`25: alert "Builtin": expr: unknown function "len"`,
			`27: alert "Closure": expr: function "all" is not allowed`,
			`29: alert "Since": expr: seconds_since_last must be compared directly with a constant, e.g. seconds_since_last("heartbeat") > 300, so that its deadline can be computed`,
			`31: alert "Arity": expr: avg takes (metric, window), got 1 arguments`,
			`31: alert "Arity": expr: last takes (metric) or (metric, window), got 3 arguments`,
			`35: alert "Block": expr: unknown metric "nope" (not in metrics:)`,
			`38: alert "BadClear": clear: expected bool, but got float64`,
			`40: alert "Member": expr: field and index access is not allowed`,
			`42: alert "Let": expr: variables and sequences are not allowed`,
			`44: alert "TooBig": expr: expression too large (more than 256 nodes)`,
			`46: alert "StringCompare": expr: string "a" is only allowed as a metric, window or half-life argument`,
		},
		"shapes.yml": {
			`1: metrics must be a list, not a mapping`,
			`7: alert "A": labels must be a mapping, not a list`,
			`8: alert "A": annotations "summary" must be a scalar, not a mapping`,
			`10: rules must be a list, not a mapping`,
			`11: group must be a mapping, not a scalar`,
		},
		"structure.yml": {
			`4: metric "cpu_load": lateness 10m exceeds the smallest window 1m`,
			`6: metric "mem": unknown kind "histogram" (allowed: gauge, counter)`,
			`7: unknown key "color" in metric (allowed: name, kind, unit, lateness)`,
			`8: metric: missing name`,
			`9: metric "cpu_load": duplicate (first at line 2)`,
			`12: unknown key "interval" in group (allowed: name, tenants, rules)`,
			`16: alert "HighCPU": for: bad duration "5x": not a duration (want e.g. "30s", "5m", "1h30m", "1d")`,
			`17: alert "HighCPU": keep_firing_for: bad duration "-1m": not a duration (want e.g. "30s", "5m", "1h30m", "1d")`,
			`18: alert "HighCPU": unknown severity "page" (allowed: critical, warning, info)`,
			`18: alert "HighCPU": label "tenant" is reserved: it is set on every alert`,
			`18: alert "HighCPU": label name "bad-name" must match ^[a-zA-Z_][a-zA-Z0-9_]*$`,
			`20: alert "HighCPU": annotation "summary": template: summary:1: function "humanise" not defined`,
			`21: alert "HighCPU": annotation "description": template: description:1:8: executing "description" at <.Nope.Deeper>: can't evaluate field Nope`,
			`22: alert "HighCPU": duplicate in group "host" (first at line 14)`,
			`24: alert "NoExpr": missing expr`,
			`28: alert "Extra": unknown key "summary" in rule (allowed: alert, expr, clear, for, keep_firing_for, labels, annotations, flapping, mode)`,
			`29: recording rules (record:) are not supported; features are computed by the feature engine`,
			`31: group "host": duplicate (first at line 11)`,
			`33: group: missing name`,
			`35: group "scoped": tenants is empty; remove it to apply the group to all tenants`,
		},
		"mode.yml": {
			`7: alert "Typo": unknown mode "shadw" (allowed: live, shadow)`,
			`10: alert "Mapping": mode must be a scalar, not a mapping`,
			`13: alert "Upper": unknown mode "Shadow" (allowed: live, shadow)`,
		},
		"syntax.yml": {
			`3: invalid YAML: did not find expected '-' indicator`,
		},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join("testdata/bad", name)
			_, err := LoadFiles(Options{}, p)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			for i := range want {
				want[i] = p + ":" + want[i]
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	// Every bad file has a case.
	entries, _ := os.ReadDir("testdata/bad")
	for _, e := range entries {
		if _, ok := cases[e.Name()]; !ok {
			t.Errorf("testdata/bad/%s has no expected messages", e.Name())
		}
	}
}

func TestLoadSplitFiles(t *testing.T) {
	rs, err := LoadFiles(Options{}, "testdata/good/split/metrics.yml", "testdata/good/split/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	if rs.Len() != 1 || len(rs.Metrics()) != 1 {
		t.Fatalf("rules %d metrics %d", rs.Len(), len(rs.Metrics()))
	}
	// Loaded alone, the rules file still has its own copy of the catalog.
	if _, err := LoadFiles(Options{}, "testdata/good/split/rules.yml"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadAcrossFilesErrors(t *testing.T) {
	a := []byte("metrics: [{name: m, kind: gauge}]\ngroups: [{name: g, rules: [{alert: A, expr: 'last(\"m\") > 1'}]}]\n")
	b := []byte("metrics: [{name: m, kind: counter}]\ngroups: [{name: g, rules: []}]\n")
	_, err := build([]source{{"a.yml", a}, {"b.yml", b}}, Options{})
	want := "b.yml:1: metric \"m\": defined differently at a.yml:1\nb.yml:2: group \"g\": duplicate (first at a.yml:2)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestParseEmptyAndOptions(t *testing.T) {
	rs, err := Parse("empty.yml", nil, Options{})
	if err != nil || rs.Len() != 0 {
		t.Fatalf("empty file: %v", err)
	}
	// A window is allowed only when configured.
	src := []byte("metrics: [{name: m}]\ngroups: [{name: g, rules: [{alert: A, expr: 'avg(\"m\", \"2m\") > 1'}]}]\n")
	if _, err := Parse("w.yml", src, Options{}); err == nil {
		t.Fatal("2m accepted with default windows")
	}
	opts := Options{}
	opts.Features.Windows = []time.Duration{time.Minute, 2 * time.Minute}
	if _, err := Parse("w.yml", src, opts); err != nil {
		t.Fatalf("2m with configured windows: %v", err)
	}
}

func TestRuleIDStability(t *testing.T) {
	load := func(src string) *Rule {
		t.Helper()
		rs, err := Parse("id.yml", []byte(src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return rs.rules[0]
	}
	base := load(`
metrics: [{name: m}]
groups:
  - name: g
    rules:
      - alert: A
        expr: avg("m", "1m") > 1
        labels: {team: x}
        annotations: {summary: one}
`)
	same := load(`
metrics: [{name: m}, {name: other}]
groups:
  - name: g
    tenants: [acme]
    rules:
      - alert: A
        expr: |
          avg("m", "1m")   >   1
        labels: {team: x, severity: warning}
        annotations: {summary: two}
`)
	if base.ID() != same.ID() {
		t.Errorf("reformatting, annotations, tenants or an explicit default severity changed the ID")
	}
	for _, changed := range []string{
		"groups: [{name: g2, rules: [{alert: A, expr: 'avg(\"m\", \"1m\") > 1', labels: {team: x}}]}]",
		"groups: [{name: g, rules: [{alert: B, expr: 'avg(\"m\", \"1m\") > 1', labels: {team: x}}]}]",
		"groups: [{name: g, rules: [{alert: A, expr: 'avg(\"m\", \"1m\") > 2', labels: {team: x}}]}]",
		"groups: [{name: g, rules: [{alert: A, expr: 'avg(\"m\", \"1m\") > 1', clear: 'avg(\"m\", \"1m\") < 1', labels: {team: x}}]}]",
		"groups: [{name: g, rules: [{alert: A, expr: 'avg(\"m\", \"1m\") > 1', for: 1m, labels: {team: x}}]}]",
		"groups: [{name: g, rules: [{alert: A, expr: 'avg(\"m\", \"1m\") > 1', keep_firing_for: 1m, labels: {team: x}}]}]",
		"groups: [{name: g, rules: [{alert: A, expr: 'avg(\"m\", \"1m\") > 1', labels: {team: y}}]}]",
		"groups: [{name: g, rules: [{alert: A, expr: 'avg(\"m\", \"1m\") > 1', labels: {team: x, severity: critical}}]}]",
	} {
		if r := load("metrics: [{name: m}]\n" + changed); r.ID() == base.ID() {
			t.Errorf("ID unchanged by %s", changed)
		}
	}
	var id RuleID
	if err := id.UnmarshalText([]byte(base.ID().String())); err != nil || id != base.ID() {
		t.Errorf("RuleID text round trip: %v", err)
	}
}

// The fingerprint of a rule set changes with its rules and their tenants,
// and only with them.
func TestFingerprint(t *testing.T) {
	parse := func(src string) *RuleSet {
		t.Helper()
		src = "metrics: [{name: x, kind: gauge}, {name: y, kind: gauge}]\n" + src
		rs, err := Parse("f.yml", []byte(src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	a := parse("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: last(\"x\") > 1\n      - alert: B\n        expr: last(\"y\") > 1\n")
	reordered := parse("groups:\n  - name: g\n    rules:\n      - alert: B\n        expr: last(\"y\") > 1\n      - alert: A\n        expr: last(\"x\") > 1\n")
	edited := parse("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: last(\"x\") > 2\n      - alert: B\n        expr: last(\"y\") > 1\n")
	scoped := parse("groups:\n  - name: g\n    tenants: [acme]\n    rules:\n      - alert: A\n        expr: last(\"x\") > 1\n      - alert: B\n        expr: last(\"y\") > 1\n")
	if a.Fingerprint() != reordered.Fingerprint() {
		t.Fatal("the order of the rules changes the fingerprint")
	}
	if a.Fingerprint() == edited.Fingerprint() || a.Fingerprint() == scoped.Fingerprint() {
		t.Fatal("an edit or a tenant scope leaves the fingerprint as it was")
	}
	if a.Replacing(edited).Fingerprint() != a.Fingerprint() {
		t.Fatal("a replacing set's fingerprint is not its rules'")
	}
}

// A metric declared without a kind, or not declared, is a counter when its
// name says so, as Prometheus names counters; a declared kind wins.
func TestKindOfName(t *testing.T) {
	rs, err := Parse("k.yml", []byte(`
metrics:
  - name: requests_total
  - name: rpc_duration_seconds_count
  - name: queue_total
    kind: gauge
  - name: cpu_load
groups: []
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for metric, want := range map[string]bool{
		"requests_total": true, "rpc_duration_seconds_count": true, "queue_total": false, "cpu_load": false,
		"undeclared_total": true, "undeclared_sum": true, "le_bucket": true, "undeclared": false, "total": false,
	} {
		if got := rs.MetricConfig(metric).Counter; got != want {
			t.Errorf("%s: counter %v, want %v", metric, got, want)
		}
	}
}
