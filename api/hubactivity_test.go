package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/tables"
)

func activityAt(p int32, off int64, tenant string, id int64) api.ActivityEvent {
	return tables.ActivityRecord{Tenant: tenant, EpisodeID: "ep-" + tenant, Host: "web-1", State: "firing", ID: id,
		Activity: []byte(fmt.Sprintf(`{"id":%d}`, id)), Partition: p, Offset: off}
}

func activityIDs(evs []api.ActivityEvent) string {
	var out []int64
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return fmt.Sprint(out)
}

// A resuming subscriber is replayed the activity of its tenant after its
// place, while the hub keeps it; from a place older than that, or without
// one, none; a hub that does not read the topic gives no place.
func TestHubResumesActivity(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet, ActivityReplay: 3})
	hub.Init(api.Position{0}, time.Time{})
	hub.InitActivity([]int64{0, 0})
	hub.MarkReady()
	all := func(api.AlertEvent) bool { return true }
	hub.PublishActivity(activityAt(0, 0, "acme", 1))
	hub.PublishActivity(activityAt(1, 0, "beta", 2))
	hub.PublishActivity(activityAt(0, 1, "acme", 3))
	hub.PublishActivity(activityAt(0, 1, "acme", 3)) // once
	hub.PublishActivity(activityAt(1, 1, "acme", 4))

	sub, _ := hub.SubscribeTenant("acme", all, nil)
	defer hub.Unsubscribe(sub)
	for _, c := range []struct {
		resume   api.Position
		place    string
		replayed string
	}{
		{api.Position{1, 0}, "1.0", "[3 4]"},
		{api.Position{2, 2}, "2.2", "[]"},
		{api.Position{0, 0}, "2.2", "[]"}, // activity 1 left the ring
		{nil, "2.2", "[]"},
		{api.Position{1}, "2.2", "[]"}, // another partition count
	} {
		place, replay := hub.ResumeActivity(sub, c.resume)
		if place.String() != c.place || activityIDs(replay) != c.replayed {
			t.Errorf("resume from %v: place %v, replayed %s; want %s, %s", c.resume, place, activityIDs(replay), c.place, c.replayed)
		}
	}
	// beta's subscriber is replayed beta's alone.
	beta, _ := hub.SubscribeTenant("beta", all, nil)
	defer hub.Unsubscribe(beta)
	if _, replay := hub.ResumeActivity(beta, api.Position{1, 0}); activityIDs(replay) != "[2]" {
		t.Errorf("beta replayed %s", activityIDs(replay))
	}
	// Without InitActivity, activity is live only.
	live := api.NewHub(api.HubOptions{Logger: quiet})
	s2, _ := live.SubscribeTenant("acme", all, nil)
	defer live.Unsubscribe(s2)
	if place, replay := live.ResumeActivity(s2, api.Position{0}); place != nil || replay != nil {
		t.Errorf("a hub without the topic: place %v, replay %v", place, replay)
	}
}
