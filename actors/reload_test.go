package actors

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventops/eventops/rules"
)

func parse(t *testing.T, src string) *rules.RuleSet {
	t.Helper()
	rs, err := rules.Parse("r.yml", []byte(src), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const oneRule = `
metrics: [{name: cpu_load}]
groups:
  - name: g
    rules:
      - alert: A
        expr: last("cpu_load") > 1
`

const twoRules = oneRule + `
      - alert: B
        expr: last("cpu_load") > 2
`

func TestReloadRefusesABadFileWhole(t *testing.T) {
	holder := NewRuleHolder(parse(t, oneRule))
	next := twoRules
	load := func() (*rules.RuleSet, error) { return rules.Parse("r.yml", []byte(next), rules.Options{}) }
	reg := prometheus.NewRegistry()
	r := NewReloader(holder, nil, load, reg, nil)

	if _, err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if holder.Current().Len() != 2 {
		t.Fatalf("%d rules after a good reload", holder.Current().Len())
	}
	idA := holder.Current().Rules()
	var firstID rules.RuleID
	for r := range idA {
		firstID = r.ID()
		break
	}

	next = twoRules + "      - alert: C\n        expr: last(\"nope\") > 3\n"
	_, err := r.Reload()
	var errs rules.Errors
	if err == nil || !errors.As(err, &errs) || errs[0].Line == 0 {
		t.Fatalf("a bad file was not refused with its position: %v", err)
	}
	if holder.Current().Len() != 2 {
		t.Fatal("a refused file half-applied")
	}
	if got := testutil.ToFloat64(r.ok); got != 0 {
		t.Fatalf("last reload successful = %v", got)
	}
	if got := testutil.ToFloat64(r.total.WithLabelValues("failure")); got != 1 {
		t.Fatalf("failures = %v", got)
	}
	// Unchanged rules keep their IDs, so their states survive a reload.
	next = twoRules
	if _, err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if holder.Current().Rule(firstID) == nil {
		t.Fatal("an unchanged rule changed its ID")
	}
}
