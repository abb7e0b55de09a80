package rules

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestRunTestFilePassing(t *testing.T) {
	res, err := RunTestFile("testdata/ruletest/passing.test.yml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tests != 4 || !res.OK() {
		t.Fatalf("tests %d, failures:\n%v", res.Tests, res.Failures)
	}
}

func TestRunTestFileFailing(t *testing.T) {
	res, err := RunTestFile("testdata/ruletest/failing.test.yml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Failures {
		got = append(got, f.Error())
	}
	want := []string{
		`test wrong expectations: alertname HighCPU at 1m: 
  expected: firing {host="host-a", severity="critical", team="infra", tenant="acme"} {}
  got:      pending {host="host-a", severity="critical", team="infra", tenant="acme"} {summary="CPU on host-a is 95% ()"}`,
		`test wrong expectations: alertname HighCPU at 3m: 
  expected: firing {host="host-a", severity="critical", team="infra", tenant="acme"} {summary="CPU is high"}
  got:      firing {host="host-a", severity="critical", team="infra", tenant="acme"} {summary="CPU on host-a is 95% ()"}`,
		`test #2: input_series #1: metric "memory" is not in the metrics catalog`,
	}
	if res.Tests != 2 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunTestsFileErrors(t *testing.T) {
	read := func(name string) ([]byte, error) {
		if name == "dir/bad.rules.yml" {
			return []byte("groups: [{name: g, rules: [{alert: A}]}]\n"), nil
		}
		return nil, os.ErrNotExist
	}
	cases := []struct {
		name, src, want string
	}{
		{"unknown key", "rule_files: [x]\ntests:\n  - nmae: typo\n", "dir/t.yml:3: unknown key \"nmae\" in test"},
		{"no rule files", "tests: []\n", "dir/t.yml:1: rule_files: at least one rule file is required"},
		{"bad durations", "rule_files: [x]\ntests:\n  - interval: soon\n    alert_rule_test: [{eval_time: 5x}]\n",
			"dir/t.yml:3: test #1: interval: bad duration \"soon\"\ndir/t.yml:3: test #1: alert_rule_test #1: eval_time: bad duration \"5x\"\ndir/t.yml:3: test #1: alert_rule_test #1: missing alertname"},
		{"missing rule file", "rule_files: [nope.yml]\n", "rule test dir/t.yml: file does not exist"},
		{"bad rule file", "rule_files: [bad.rules.yml]\n", "dir/bad.rules.yml:1: alert \"A\": missing expr"},
		{"yaml syntax", "rule_files: [x\n", "dir/t.yml:1: invalid YAML: did not find expected ',' or ']'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := RunTests("dir/t.yml", []byte(c.src), read, Options{})
			if err == nil || err.Error() != c.want {
				t.Errorf("err = %v\nwant  %s", err, c.want)
			}
		})
	}
	_, err := RunTests("dir/t.yml", []byte("rule_files: [bad.rules.yml]\n"), read, Options{})
	var errs Errors
	if !errors.As(err, &errs) {
		t.Errorf("rule file errors are %T, want Errors", err)
	}
}

func TestParseSeriesValues(t *testing.T) {
	cases := map[string]string{
		"1 2 3":       "1 2 3",
		"_ 1 _x2 4":   "_ 1 _ _ 4",
		"50+10x3":     "50 60 70 80",
		"10-2.5x2":    "10 7.5 5",
		"-1+1x2":      "-1 0 1",
		"7x2":         "7 7 7",
		"1e3+1e2x1":   "1000 1100",
		"1e-3-1e-3x1": "0.001 0",
		"":            "",
	}
	for in, want := range cases {
		vals, err := parseSeriesValues(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var got []string
		for _, v := range vals {
			if v.gap {
				got = append(got, "_")
			} else {
				got = append(got, strconvF(v.v))
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q = %q, want %q", in, strings.Join(got, " "), want)
		}
	}
	for _, in := range []string{"a", "1+x2", "1x-1", "stale", "1+1xb", "1x9999999", "1+Infx2"} {
		if _, err := parseSeriesValues(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func strconvF(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
