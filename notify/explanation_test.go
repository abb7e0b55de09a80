package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/rules"
)

// The webhook body carries each alert's explanation as a field of its own,
// which Alertmanager receivers ignore; an alert without one has no field.
func TestMessageCarriesTheExplanation(t *testing.T) {
	tr := transition(rules.StateResolved, "web-1", "e1", 80, t0.Add(2*time.Minute))
	tr.Explanation = &rules.Explanation{Condition: `last("cpu_load") > 90`, Features: []rules.FeatureReading{},
		Resolution: &rules.Resolution{By: rules.ResolvedByCondition, Value: 80}}
	explained, _ := FromTransition(tr, "")
	plain, _ := FromTransition(transition(rules.StateFiring, "web-2", "e2", 95, t0), "")
	b, err := json.Marshal(NewMessage("ops", "k", nil, []Alert{explained, plain}, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Alerts []map[string]json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := `{"condition":"last(\"cpu_load\") \u003e 90","features":[],"resolution":{"by":"condition","value":80}}`
	if got := string(m.Alerts[0]["explanation"]); got != want {
		t.Errorf("explanation %s, want %s", got, want)
	}
	if _, has := m.Alerts[1]["explanation"]; has || strings.Count(string(b), "explanation") != 1 {
		t.Errorf("payload %s", b)
	}
}
