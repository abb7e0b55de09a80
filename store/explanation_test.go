package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
)

// A transition's explanation is stored in its own column and read back with
// the episode and the history; a row whose payload has none (written before
// transitions carried one) reads back without.
func TestAlertExplanationIsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	expl := `{"condition":"last(\"cpu_load\") > 90","features":[{"feature":"last(cpu_load)","value":95,"samples":1}],` +
		`"samples":[{"metric":"cpu_load","value":95,"at":"2025-10-21T10:00:00.000Z","origin":{"topic":"ingest.raw.agent","partition":0,"offset":7}}]}`
	old := alertRow("acme", "a", "ep-old", "firing", "critical", t0)
	old.Payload = []byte(`{"state":"firing","episode_id":"ep-old"}`)
	fresh := alertRow("acme", "a", "ep-new", "firing", "critical", t0.Add(time.Second))
	fresh.Payload = []byte(`{"state":"firing","episode_id":"ep-new","explanation":` + expl + `}`)
	if res, err := s.WriteAlerts(ctx, []store.AlertRow{old, fresh}); err != nil || res.Inserted != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := count(t, s, `SELECT count(*) FROM alerts WHERE explanation->'samples'->0->'origin'->>'offset' = '7'`); n != 1 {
		t.Fatalf("%d rows with the explanation's sample origin", n)
	}
	ep, err := s.AlertEpisode(ctx, "acme", "ep-new")
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(ep.Transitions[0].Explanation, &got); err != nil {
		t.Fatalf("explanation %q: %v", ep.Transitions[0].Explanation, err)
	}
	_ = json.Unmarshal([]byte(expl), &want)
	if b1, _ := json.Marshal(got); string(b1) != mustJSON(want) {
		t.Errorf("explanation %s, want %s", b1, mustJSON(want))
	}
	ep, err = s.AlertEpisode(ctx, "acme", "ep-old")
	if err != nil || ep.Transitions[0].Explanation != nil {
		t.Fatalf("old row: explanation %q, %v", ep.Transitions[0].Explanation, err)
	}
	page, err := s.QueryAlerts(ctx, store.AlertQuery{Tenant: "acme"})
	if err != nil || len(page.Alerts) != 2 || page.Alerts[0].Explanation == nil || page.Alerts[1].Explanation != nil {
		t.Fatalf("history %+v %v", page.Alerts, err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
