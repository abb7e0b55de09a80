package api_test

import (
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// A fresh stream's activity place is where the hub stood when it
// subscribed: an activity that comes between the subscription and the
// stream asking for its place is in the subscriber's queue and after that
// place, so that the stream sends it rather than take it for one the
// client has.
func TestFreshActivityPlaceIsTheSubscriptions(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.InitActivity([]int64{4, 0})
	hub.MarkReady()
	all := func(api.AlertEvent) bool { return true }
	for i, resume := range []api.Position{nil, {0, 0}, {1}} { // fresh, too old, another partition count
		sub, _ := hub.SubscribeTenant("acme", all, nil)
		hub.PublishActivity(activityAt(0, 4, "acme", int64(i+1)))
		place, replay := hub.ResumeActivity(sub, resume)
		got := <-sub.Activity
		if len(replay) != 0 || place[got.Partition] > got.Offset {
			t.Errorf("resume from %v: place %v, replay %d: the queued activity at %d.%d is before the place and is never sent",
				resume, place, len(replay), got.Partition, got.Offset)
		}
		hub.Unsubscribe(sub)
		hub.InitActivity([]int64{4, 0})
	}
}

// At the edge of the activities it keeps, the hub replays all it has from
// the oldest kept place, and nothing from one before it: a client is
// replayed the kept activity exactly once or told nothing, never part.
func TestActivityResumeAtTheEdgeOfTheRing(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.InitActivity([]int64{0})
	hub.MarkReady()
	all := func(api.AlertEvent) bool { return true }
	for off := range int64(1001) { // one more than the hub keeps
		hub.PublishActivity(activityAt(0, off, "acme", off+1))
	}
	sub, _ := hub.SubscribeTenant("acme", all, nil)
	defer hub.Unsubscribe(sub)
	for _, c := range []struct {
		resume   int64
		place    string
		replayed int
		first    int64
	}{
		{0, "1001", 0, 0}, // activity 1 (offset 0) left
		{1, "1", 1000, 2}, // the oldest kept
		{1000, "1000", 1, 1001},
		{1001, "1001", 0, 0},
	} {
		place, replay := hub.ResumeActivity(sub, api.Position{c.resume})
		if place.String() != c.place || len(replay) != c.replayed || len(replay) > 0 && replay[0].ID != c.first {
			t.Errorf("resume from %d: place %v, %d replayed; want %s, %d from id %d", c.resume, place, len(replay), c.place, c.replayed, c.first)
		}
		for i := 1; i < len(replay); i++ {
			if replay[i].Offset != replay[i-1].Offset+1 {
				t.Fatalf("resume from %d: replay skips from %d to %d", c.resume, replay[i-1].Offset, replay[i].Offset)
			}
		}
	}
}

// An activity this replica sent its streams before the topic brought it
// (its publish was reported failed, yet the broker took it) is kept with
// its place all the same: a client that was away then is replayed it, as
// by any other replica.
func TestActivitySentBeforeTheTopicIsReplayed(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.InitActivity([]int64{0})
	hub.MarkReady()
	all := func(api.AlertEvent) bool { return true }
	hub.PublishActivity(activityAt(0, 0, "acme", 1))
	local := activityAt(0, -1, "acme", 2)
	local.Offset = -1
	live, _ := hub.SubscribeTenant("acme", all, nil)
	defer hub.Unsubscribe(live)
	hub.PublishActivity(local)
	hub.PublishActivity(activityAt(0, 1, "acme", 2))
	hub.PublishActivity(activityAt(0, 2, "acme", 3))
	if got := len(live.Activity); got != 2 {
		t.Errorf("a live subscriber was sent %d activities, want 2 and 3 once each", got)
	}
	sub, _ := hub.SubscribeTenant("acme", all, nil)
	defer hub.Unsubscribe(sub)
	if place, replay := hub.ResumeActivity(sub, api.Position{1}); place.String() != "1" || activityIDs(replay) != "[2 3]" {
		t.Errorf("resume from 1: place %v, replayed %s; want 1, [2 3]", place, activityIDs(replay))
	}
}
