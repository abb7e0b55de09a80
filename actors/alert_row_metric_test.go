package actors_test

import (
	"testing"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

// The metric column of an alert row names the metric the rule read; for
// a rule with a selector it is the selector cut at its first comma.
func TestTheAlertRowOfASelectorRuleNamesItsMetric(t *testing.T) {
	tr := &rules.Transition{AlertName: "Root", State: rules.StateFiring,
		Features: map[string]features.Float{`avg(disk_used_pct{env="prod",mount="/"},5m)`: 95}}
	if got := actors.AlertRow(tr, nil).Metric; got != "disk_used_pct" {
		t.Fatalf("metric %q, want disk_used_pct", got)
	}
}
