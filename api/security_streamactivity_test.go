package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// activityStreamHub is a hub that has read ops.alert.activity.v1 (two
// partitions, from offset 2 on partition 0) with room for four
// activities: acme's 1 (0.2), beta's 2 (1.0), acme's 3 (0.3), acme's 4
// (1.1), beta's 5 (0.4) and acme's 6 (1.2); 1 and 2 left the ring, so a
// place before 0.3 or 1.1 is too old.
func activityStreamHub(t *testing.T) (*api.Hub, string) {
	t.Helper()
	hub := api.NewHub(api.HubOptions{Logger: quiet, ActivityReplay: 4})
	hub.Init(api.Position{0}, time.Time{})
	hub.InitActivity([]int64{2, 0})
	for _, a := range []api.ActivityEvent{activityAt(0, 2, "acme", 1), activityAt(1, 0, "beta", 2), activityAt(0, 3, "acme", 3),
		activityAt(1, 1, "acme", 4), activityAt(0, 4, "beta", 5), activityAt(1, 2, "acme", 6)} {
		hub.PublishActivity(a)
	}
	hub.MarkReady()
	srv := api.New(api.Options{Hub: hub, Logger: quiet, Keys: keysFor(t, "acme", "beta"), Heartbeat: time.Hour})
	return hub, serve(t, srv)
}

// activityUntil reads c's activity frames up to the one of id last, and
// returns their ids and the last one's stream id.
func activityUntil(t *testing.T, c *sseClient, last int64) (string, string) {
	t.Helper()
	var ids []string
	for {
		f := c.next(30*time.Second, false)
		if f.event != "activity" {
			continue
		}
		var a struct{ ID int64 }
		if err := json.Unmarshal([]byte(f.data), &a); err != nil {
			t.Fatalf("activity frame %+v: %v", f, err)
		}
		ids = append(ids, fmt.Sprint(a.ID))
		if a.ID == last {
			return strings.Join(ids, " "), f.id
		}
	}
}

// Whatever Last-Event-ID a client sends, its stream opens, replays the
// activity of its own tenant after a place the hub still keeps, once, and
// otherwise none; the activity that follows comes once, live.
func TestStreamActivityResumeWithHostileLastEventID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		id, key, replayed string
	}{
		{"0~3.1", "key-acme", "3 4 6"},
		{"0~4.2", "key-acme", "6"},
		{"0~5.3", "key-acme", ""},
		{"0~3.1", "key-beta", "5"}, // beta's own only, from a place acme's stream wrote
		{"0~3.1", "key-admin", "3 4 5 6"},
		{"0~2.0", "key-acme", ""},                    // older than the hub keeps
		{"0~3.0", "key-acme", ""},                    // on one partition
		{"0", "key-acme", ""},                        // an id from before activity had places
		{"0~", "key-acme", ""},                       //
		{"~3.1", "key-acme", "3 4 6"},                // no alert place: a reset, but the activity place holds
		{"0~3.1~3.1", "key-acme", ""},                // many '~'
		{"0~~3.1", "key-acme", ""},                   //
		{"0~-1.-1", "key-acme", ""},                  // negative
		{"0~3.-1", "key-acme", ""},                   //
		{"0~3", "key-acme", ""},                      // another partition count
		{"0~3.1.0", "key-acme", ""},                  //
		{"0~3.1.", "key-acme", ""},                   //
		{"0~.3.1", "key-acme", ""},                   //
		{"0~x.1", "key-acme", ""},                    //
		{"0~99999999999999999999.1", "key-acme", ""}, // past int64
		{"0~0x3.1", "key-acme", ""},                  //
		{"0~" + strings.Repeat("3.", 1000) + "1", "key-acme", ""},
		{"99999999999999999999~3.1", "key-acme", "3 4 6"},
		{"-5~3.1", "key-acme", "3 4 6"},
	} {
		hub, base := activityStreamHub(t)
		s, code := openStream(t, base, "", "Authorization", "Bearer "+c.key, "Last-Event-ID", c.id)
		if code != 200 {
			t.Errorf("Last-Event-ID %.40q: %d", c.id, code)
			continue
		}
		live := activityAt(0, 5, "acme", 7)
		if c.key == "key-beta" {
			live = activityAt(0, 5, "beta", 7)
		}
		hub.PublishActivity(live)
		want := strings.TrimSpace(c.replayed + " 7")
		if got, id := activityUntil(t, s, 7); got != want || !strings.Contains(id, "~6.") {
			t.Errorf("Last-Event-ID %.40q (%s): activity %s with id %q; want %s, then an id past 0.5", c.id, c.key, got, id, want)
		}
	}
}

// A filtered stream's heartbeat moves its id past the activity its filter
// skipped and not past any it has yet to send: resuming from that id, the
// client is replayed exactly its own tenant's activity that came after.
func TestStreamActivityHeartbeatOnAFilteredStream(t *testing.T) {
	t.Parallel()
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.InitActivity([]int64{0, 0})
	hub.MarkReady()
	base := serve(t, api.New(api.Options{Hub: hub, Logger: quiet, Keys: keysFor(t, "acme", "beta"), Heartbeat: 10 * time.Millisecond}))
	at := func(p int32, off int64, tenant, sev string, id int64) api.ActivityEvent {
		a := activityAt(p, off, tenant, id)
		a.Severity = sev
		return a
	}
	s, _ := openStream(t, base, "?severity=critical", "Authorization", "Bearer key-acme")
	admin, _ := openStream(t, base, "", "Authorization", "Bearer key-admin")
	hub.PublishActivity(at(0, 0, "acme", "warning", 1))  // filtered out
	hub.PublishActivity(at(1, 0, "beta", "critical", 2)) // another tenant's
	hub.PublishActivity(at(0, 1, "acme", "critical", 3))
	hub.PublishActivity(at(1, 1, "beta", "critical", 4))
	if got, _ := activityUntil(t, admin, 4); got != "1 2 3 4" {
		t.Errorf("the admin stream got %s", got)
	}
	if got, id := activityUntil(t, s, 3); got != "3" || !strings.HasSuffix(id, "~2.0") {
		t.Fatalf("acme's critical stream got %s, id %q", got, id)
	}
	// The heartbeat id goes past acme's activity, beta's is none of its
	// business.
	var id string
	eventually(t, 30*time.Second, func() bool {
		f := s.next(30*time.Second, true)
		if f.event != "" {
			t.Fatalf("sent %+v", f)
		}
		id = f.id
		return strings.HasSuffix(id, "~2.0")
	})
	hub.PublishActivity(at(0, 2, "acme", "warning", 5))
	hub.PublishActivity(at(1, 2, "acme", "critical", 6))
	hub.PublishActivity(at(0, 3, "beta", "critical", 7))
	hub.PublishActivity(at(0, 4, "acme", "critical", 8))
	again, _ := openStream(t, base, "?severity=critical", "Authorization", "Bearer key-acme", "Last-Event-ID", id)
	hub.PublishActivity(at(1, 3, "acme", "critical", 9))
	if got, _ := activityUntil(t, again, 9); got != "6 8 9" {
		t.Errorf("resumed from %q: %s, want 6 8 9", id, got)
	}
}
