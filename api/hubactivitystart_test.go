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
