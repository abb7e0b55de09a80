package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// Replicas that started reading the topic at different times judge a
// re-emitted transition alike: a client that moves from one to the other is
// never sent, as new, a copy of something the first one kept from it. The
// replica that cannot judge (it did not read the window before) sends a
// reset instead of a replay.
func TestStreamDuplicatesAreJudgedAlikeOnEveryReplica(t *testing.T) {
	at := func(ev api.AlertEvent, sec int) api.AlertEvent {
		ev.At = time.Unix(1_000_000+int64(sec), 0)
		return ev
	}
	log := []api.AlertEvent{
		at(alertEv(0, 0, "acme", "h1", "e1", "firing", "critical"), 0),
		at(alertEv(0, 1, "acme", "h2", "e2", "firing", "critical"), 600),
		// The rule engine emitted e1's firing again after a crash.
		at(alertEv(0, 2, "acme", "h1", "e1", "firing", "critical"), 1200),
		at(alertEv(0, 3, "acme", "h3", "e3", "firing", "critical"), 1800),
	}
	// A read the whole topic; B started reading at offset 1 (its lookback
	// began after e1's first copy).
	hubA, hubB := api.NewHub(api.HubOptions{Logger: quiet}), api.NewHub(api.HubOptions{Logger: quiet})
	hubA.Init(api.Position{0}, time.Time{})
	hubB.Init(api.Position{1}, time.Unix(1_000_000+300, 0))
	for _, ev := range log {
		hubA.Publish(ev)
		if ev.Offset >= 1 {
			hubB.Publish(ev)
		}
	}
	hubA.MarkReady()
	hubB.MarkReady()
	baseA := serve(t, api.New(api.Options{Hub: hubA, Logger: quiet, Heartbeat: time.Hour}))
	baseB := serve(t, api.New(api.Options{Hub: hubB, Logger: quiet, Heartbeat: time.Hour}))

	// From A, a client that had e1 and e2 resumes and is sent e3 only.
	r, _ := openStream(t, baseA, "", "Last-Event-ID", "2")
	if got := datas(r.events(1)); got != "e3/firing" {
		t.Fatalf("resume on A: %s", got)
	}
	r.resp.Body.Close()
	// B read e1's copy as history: it does not replay it as news.
	r, _ = openStream(t, baseB, "", "Last-Event-ID", "2")
	got := r.events(1)
	if got[0].event != "reset" {
		t.Fatalf("resume on B: %+v", got)
	}
	r.resp.Body.Close()
}

// A copy older than the dedup window is news again.
func TestStreamDuplicateWindow(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet, DedupWindow: time.Minute})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	base := serve(t, api.New(api.Options{Hub: hub, Logger: quiet, Heartbeat: time.Hour}))
	c, _ := openStream(t, base, "")
	for i, sec := range []int64{0, 30, 200} {
		ev := alertEv(0, int64(i), "acme", "h1", "e1", "firing", "critical")
		ev.At = time.Unix(sec, 0)
		hub.Publish(ev)
	}
	hub.Publish(alertEv(0, 3, "acme", "h1", "e9", "firing", "critical"))
	if got := datas(c.events(3)); got != "e1/firing e1/firing e9/firing" {
		t.Fatalf("sent %s", got)
	}
}

// A stream opened before the hub has read the topic is refused with 503
// and Retry-After rather than sent history as news.
func TestStreamWaitsForTheHub(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	base := serve(t, api.New(api.Options{Hub: hub, Logger: quiet, Heartbeat: time.Hour, StreamWait: 50 * time.Millisecond}))
	_, status := openStream(t, base, "")
	if status != 503 {
		t.Fatalf("status %d", status)
	}
	hub.Init(api.Position{0}, time.Time{})
	hub.Publish(alertEv(0, 0, "acme", "h1", "e1", "firing", "critical"))
	hub.MarkReady()
	c, _ := openStream(t, base, "")
	f := c.events(1)
	if !strings.Contains(f[0].data, "e1") || f[0].id != "1" {
		t.Fatalf("first frame %+v", f[0])
	}
}
