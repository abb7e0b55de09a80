package rules

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventops/eventops/features"
	"gopkg.in/yaml.v3"
)

// A rule-test file, in the spirit of promtool test rules:
//
//	rule_files: [host.rules.yml]       # relative to the test file
//	tests:
//	  - name: cpu fires after for       # optional
//	    interval: 1m                    # between input values (default 1m)
//	    tenant: acme                    # default source (default "test"/"test")
//	    host: host-a
//	    meta: {owner: team-a, region: eu, service: api, tags: {env: prod}}
//	    input_series:
//	      - metric: cpu_load
//	        values: "50+10x10"          # promtool notation; "_" is a gap
//	        host: host-b                # optional: another source
//	    alert_rule_test:
//	      - eval_time: 10m              # offset from time 0 (unix epoch)
//	        alertname: HighCPU
//	        exp_alerts:                 # every pending/firing alert, exactly
//	          - state: firing           # firing (default) or pending
//	            exp_labels: {severity: critical, team: infra}
//	            exp_annotations: {summary: "CPU on host-a is 100%"}
type testFile struct {
	RuleFiles []string   `yaml:"rule_files"`
	Tests     []testCase `yaml:"tests"`
}

type testCase struct {
	Name     string       `yaml:"name"`
	Interval string       `yaml:"interval"`
	Tenant   string       `yaml:"tenant"`
	Host     string       `yaml:"host"`
	Meta     Meta         `yaml:"meta"`
	Series   []testSeries `yaml:"input_series"`
	Alerts   []testAlerts `yaml:"alert_rule_test"`
	line     int
	interval time.Duration
}

type testSeries struct {
	Metric string `yaml:"metric"`
	Values string `yaml:"values"`
	Tenant string `yaml:"tenant"`
	Host   string `yaml:"host"`
}

type testAlerts struct {
	EvalTime  string          `yaml:"eval_time"`
	AlertName string          `yaml:"alertname"`
	ExpAlerts []expectedAlert `yaml:"exp_alerts"`
	evalTime  time.Duration
}

type expectedAlert struct {
	State       string            `yaml:"state"`
	Labels      map[string]string `yaml:"exp_labels"`
	Annotations map[string]string `yaml:"exp_annotations"`
}

var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type rules\.(\w+)$`)

// testSectionNames name the test-file types in messages.
var testSectionNames = map[string]string{
	"testFile": "test file", "testCase": "test", "testSeries": "input_series",
	"testAlerts": "alert_rule_test", "expectedAlert": "exp_alerts", "Meta": "meta",
}

// TestFailure is one failed expectation of a rule test.
type TestFailure struct {
	Test      string        // the test's name, or "#N" (1-based) without one
	EvalTime  time.Duration // offset of the check; 0 for input problems
	AlertName string
	Message   string
}

func (f TestFailure) Error() string {
	if f.AlertName == "" {
		return fmt.Sprintf("test %s: %s", f.Test, f.Message)
	}
	return fmt.Sprintf("test %s: alertname %s at %s: %s", f.Test, f.AlertName, FormatDuration(f.EvalTime), f.Message)
}

// TestResult is the outcome of a rule-test file.
type TestResult struct {
	Tests    int // test cases run
	Failures []TestFailure
}

// OK reports whether every expectation held.
func (r TestResult) OK() bool { return len(r.Failures) == 0 }

// RunTestFile runs the rule-test file at path, reading rule files relative to
// it. The error is for files that cannot be read or parsed (rule files report
// Errors); failed expectations are in the result.
func RunTestFile(path string, opts Options) (TestResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return TestResult{}, fmt.Errorf("rule test: %w", err)
	}
	return RunTests(path, data, os.ReadFile, opts)
}

// RunTests runs a rule-test file given as bytes; name is its path, against
// which rule_files are resolved and read with readFile.
//
// Each test simulates one per-source actor per tenant/host: samples of all
// input series are applied in time order (sample i at i*interval), each as
// a source actor applies it (RuleSet.AdvanceUntil its time, Add,
// RuleSet.AdvanceApplied), and the deadlines are stepped through up to each
// eval_time. The check at eval_time sees the state after every sample and
// deadline at or before eval_time, exactly what production would show; no
// extra evaluation happens at eval_time itself.
func RunTests(name string, data []byte, readFile func(string) ([]byte, error), opts Options) (TestResult, error) {
	tf, err := parseTestFile(name, data)
	if err != nil {
		return TestResult{}, err
	}
	if len(tf.RuleFiles) == 0 {
		return TestResult{}, Errors{{File: name, Line: 1, Msg: "rule_files: at least one rule file is required"}}
	}
	srcs := make([]source, 0, len(tf.RuleFiles))
	for _, rf := range tf.RuleFiles {
		p := rf
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(name), rf)
		}
		b, err := readFile(p)
		if err != nil {
			return TestResult{}, fmt.Errorf("rule test %s: %w", name, err)
		}
		srcs = append(srcs, source{name: p, data: b})
	}
	rs, err := build(srcs, opts)
	if err != nil {
		return TestResult{}, err
	}
	var res TestResult
	for i := range tf.Tests {
		tc := &tf.Tests[i]
		label := tc.Name
		if label == "" {
			label = "#" + strconv.Itoa(i+1)
		}
		res.Tests++
		res.Failures = append(res.Failures, runTest(rs, label, tc)...)
	}
	return res, nil
}

func parseTestFile(name string, data []byte) (tf testFile, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Errors{{File: name, Line: 1, Msg: fmt.Sprintf("invalid YAML: %v", r)}}
		}
	}()
	var errs Errors
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		parseYAML(name, data, &errs)
		if len(errs) == 0 {
			errs = Errors{{File: name, Line: 1, Msg: err.Error()}}
		}
		return tf, errs
	}
	if root.Kind == 0 {
		return tf, Errors{{File: name, Line: 1, Msg: "empty test file"}}
	}
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		for _, msg := range yamlErrorLines(err) {
			line := 1
			if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			}
			if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
				msg = fmt.Sprintf("unknown key %q in %s", m[1], testSectionNames[m[2]])
			}
			errs = append(errs, Error{File: name, Line: line, Msg: msg})
		}
		return tf, errs
	}
	// Lines of the test cases, for messages about them.
	if doc := &root; doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 && doc.Content[0].Kind == yaml.MappingNode {
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "tests" && m.Content[i+1].Kind == yaml.SequenceNode {
				for j, item := range m.Content[i+1].Content {
					if j < len(tf.Tests) {
						tf.Tests[j].line = item.Line
					}
				}
			}
		}
	}
	for i := range tf.Tests {
		tc := &tf.Tests[i]
		errorf := func(format string, args ...any) {
			errs = append(errs, Error{File: name, Line: tc.line, Msg: fmt.Sprintf("test #%d: ", i+1) + fmt.Sprintf(format, args...)})
		}
		tc.interval = time.Minute
		if tc.Interval != "" {
			d, err := ParseDuration(tc.Interval)
			if err != nil || d <= 0 {
				errorf("interval: bad duration %q", tc.Interval)
			}
			tc.interval = d
		}
		if tc.Tenant == "" {
			tc.Tenant = "test"
		}
		if tc.Host == "" {
			tc.Host = "test"
		}
		for j := range tc.Alerts {
			a := &tc.Alerts[j]
			d, err := ParseDuration(a.EvalTime)
			if err != nil {
				errorf("alert_rule_test #%d: eval_time: bad duration %q", j+1, a.EvalTime)
			}
			a.evalTime = d
			if a.AlertName == "" {
				errorf("alert_rule_test #%d: missing alertname", j+1)
			}
			for k, e := range a.ExpAlerts {
				if e.State != "" && e.State != StateFiring && e.State != StatePending {
					errorf("alert_rule_test #%d: exp_alerts #%d: state %q: want firing or pending", j+1, k+1, e.State)
				}
			}
		}
		for j, s := range tc.Series {
			if s.Metric == "" {
				errorf("input_series #%d: missing metric", j+1)
			}
		}
	}
	if len(errs) > 0 {
		return tf, errs
	}
	return tf, nil
}

// testSource is the simulated actor of one tenant/host.
type testSource struct {
	src     Source
	feats   SourceFeatures
	alerts  Lifecycle
	last    map[alertInstance]*Transition // latest transition per rule and series
	samples []testSample
	next    int // index of the next sample to apply
}

// alertInstance is a rule and a series (its tags, as a selector).
type alertInstance struct {
	rule   RuleID
	series string
}

type testSample struct {
	t      int64
	metric string
	tags   []Label
	v      float64
	order  int
}

func runTest(rs *RuleSet, label string, tc *testCase) []TestFailure {
	var fails []TestFailure
	fail := func(at time.Duration, alert, format string, args ...any) {
		fails = append(fails, TestFailure{Test: label, EvalTime: at, AlertName: alert, Message: fmt.Sprintf(format, args...)})
	}
	sources := map[[2]string]*testSource{}
	var order []*testSource
	for i, s := range tc.Series {
		tenant, host := cmp.Or(s.Tenant, tc.Tenant), cmp.Or(s.Host, tc.Host)
		key := [2]string{tenant, host}
		ts := sources[key]
		if ts == nil {
			ts = &testSource{src: Source{Tenant: tenant, Host: host, Meta: tc.Meta}, last: map[alertInstance]*Transition{}}
			sources[key] = ts
			order = append(order, ts)
		}
		metric, tags, err := ParseSeries(s.Metric)
		if err != nil {
			fail(0, "", "input_series #%d: %v", i+1, err)
			continue
		}
		cfg, ok := rs.FeatureConfig(metric)
		if !ok {
			fail(0, "", "input_series #%d: metric %q is not in the metrics catalog", i+1, metric)
			continue
		}
		if ts.feats.Get(metric, tags) == nil {
			ts.feats.Set(metric, tags, features.NewSeries(cfg))
		}
		vals, err := parseSeriesValues(s.Values)
		if err != nil {
			fail(0, "", "input_series #%d (%s): %v", i+1, s.Metric, err)
			continue
		}
		for j, v := range vals {
			if !v.gap {
				ts.samples = append(ts.samples, testSample{t: int64(j) * tc.interval.Milliseconds(), metric: metric, tags: tags, v: v.v, order: len(ts.samples)})
			}
		}
	}
	if len(fails) > 0 {
		return fails
	}
	for _, ts := range order {
		slices.SortStableFunc(ts.samples, func(a, b testSample) int { return cmp.Compare(a.t, b.t) })
	}

	checks := slices.Clone(tc.Alerts)
	slices.SortStableFunc(checks, func(a, b testAlerts) int { return cmp.Compare(a.evalTime, b.evalTime) })
	for _, check := range checks {
		// Sources are independent: each applies its samples up to the
		// horizon, then steps through its deadlines up to it.
		horizon := check.evalTime.Milliseconds()
		for _, ts := range order {
			ts.advance(rs, horizon, func(msg string) { fail(0, "", "%s", msg) })
		}
		got := presentAlerts(rs, order, check.AlertName)
		want := make([]string, 0, len(check.ExpAlerts))
		for _, e := range check.ExpAlerts {
			labels := map[string]string{LabelTenant: tc.Tenant, LabelHost: tc.Host}
			for k, v := range e.Labels {
				labels[k] = v
			}
			want = append(want, formatAlert(cmp.Or(e.State, StateFiring), labels, e.Annotations))
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			fail(check.evalTime, check.AlertName, "\n  expected: %s\n  got:      %s", listAlerts(want), listAlerts(got))
		}
	}
	return fails
}

// advance applies the source's samples up to horizon as a source actor
// does, then its deadlines up to horizon, telling refuse about each sample
// the series refused.
func (ts *testSource) advance(rs *RuleSet, horizon int64, refuse func(string)) {
	record := func(tr *Transition) {
		ts.last[alertInstance{tr.RuleID, FormatSelector(seriesOf(tr))}] = tr
	}
	for ; ts.next < len(ts.samples) && ts.samples[ts.next].t <= horizon; ts.next++ {
		s := ts.samples[ts.next]
		rs.AdvanceUntil(&ts.alerts, ts.src, &ts.feats, s.t, record)
		if out, err := ts.feats.Get(s.metric, s.tags).Add(s.t, s.v); err != nil || out != features.Applied {
			refuse(fmt.Sprintf("input %s{%s}=%v at %s for %s/%s: %v %v", s.metric, FormatSelector(s.tags), s.v, FormatDuration(time.Duration(s.t)*time.Millisecond), ts.src.Tenant, ts.src.Host, out, err))
			continue
		}
		rs.AdvanceApplied(&ts.alerts, ts.src, &ts.feats, s.t, []SeriesKey{{Metric: s.metric, Tags: s.tags}}, record)
	}
	rs.AdvanceUntil(&ts.alerts, ts.src, &ts.feats, horizon, record)
}

// seriesOf is the series of a transition, its tags sorted by name.
func seriesOf(tr *Transition) []Label {
	out := make([]Label, 0, len(tr.Tags))
	for k, v := range tr.Tags {
		out = append(out, Label{Name: k, Value: v})
	}
	slices.SortFunc(out, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// presentAlerts lists the pending and firing alerts named alertname, with
// the labels and annotations of their latest transition, sorted.
func presentAlerts(rs *RuleSet, order []*testSource, alertname string) []string {
	out := []string{}
	for _, ts := range order {
		for _, e := range ts.alerts.Alerts {
			r := rs.Rule(e.Rule)
			if r == nil || r.name != alertname {
				continue
			}
			tr := ts.last[alertInstance{e.Rule, FormatSelector(e.Series)}]
			if tr == nil {
				continue
			}
			labels := make(map[string]string, len(tr.Labels))
			for k, v := range tr.Labels {
				if k != LabelAlertName {
					labels[k] = v
				}
			}
			out = append(out, formatAlert(e.Phase.String(), labels, tr.Annotations))
		}
	}
	slices.Sort(out)
	return out
}

func formatAlert(state string, labels, annotations map[string]string) string {
	return state + " " + formatMap(labels) + " " + formatMap(annotations)
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
	}
	b.WriteByte('}')
	return b.String()
}

func listAlerts(as []string) string {
	if len(as) == 0 {
		return "(none)"
	}
	return strings.Join(as, "\n            ")
}
