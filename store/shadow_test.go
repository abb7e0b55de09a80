package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
)

// TestAlertShadowIsStoredAndFiltered: the shadow mark of a transition is
// written, read back by the history and the episode, and selects rows.
func TestAlertShadowIsStoredAndFiltered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migrated(t)
	t0 := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	shadow := alertRow("acme", "a", "epS", "firing", "critical", t0)
	shadow.Shadow = true
	live := alertRow("acme", "a", "epL", "firing", "critical", t0.Add(time.Second))
	if res, err := s.WriteAlerts(ctx, []store.AlertRow{shadow, live}); err != nil || res.Inserted != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	for _, c := range []struct {
		filter string
		want   []string
	}{{"", []string{"epL", "epS"}}, {store.ShadowOnly, []string{"epS"}}, {store.ShadowExclude, []string{"epL"}}} {
		page, err := s.QueryAlerts(ctx, store.AlertQuery{Tenant: "acme", Shadow: c.filter})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range page.Alerts {
			got = append(got, a.EpisodeID)
			if a.Shadow != (a.EpisodeID == "epS") {
				t.Errorf("%s: shadow = %v", a.EpisodeID, a.Shadow)
			}
		}
		if len(got) != len(c.want) || (len(got) > 0 && (got[0] != c.want[0] || got[len(got)-1] != c.want[len(c.want)-1])) {
			t.Errorf("shadow=%q: %v, want %v", c.filter, got, c.want)
		}
	}
	ep, err := s.AlertEpisode(ctx, "acme", "epS")
	if err != nil || !ep.Shadow || !ep.Transitions[0].Shadow {
		t.Fatalf("episode %+v %v", ep, err)
	}
	if ep, err := s.AlertEpisode(ctx, "acme", "epL"); err != nil || ep.Shadow {
		t.Fatalf("live episode %+v %v", ep, err)
	}
}
