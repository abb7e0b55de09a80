package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// A client that goes away gives its stream's place back: EventSource
// reconnects after 3 s, so a flaky network or a reloading tab must not
// find its own key locked out. Today the place is held until the stream
// next writes (an alert, or a heartbeat: 15 s by default, and it may take
// two), so a client that reconnects more often than that is refused its
// own stream; with no alert and a long heartbeat it stays refused.
func TestAttackDisconnectedStreamFreesItsPlace(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	srv := api.New(api.Options{Hub: hub, Logger: quiet, Keys: keysFor(t, "acme"), Heartbeat: time.Hour, StreamsPerKey: 1})
	base := serve(t, srv)
	first, code := openStream(t, base, "", "Authorization", "Bearer key-acme")
	if code != 200 {
		t.Fatalf("first stream: %d", code)
	}
	first.resp.Body.Close() // the client goes away (the TCP connection closes)
	<-first.closed
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, code := openStream(t, base, "", "Authorization", "Bearer key-acme")
		if code == 200 {
			c.resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key's only stream place is still taken 5s after its client went away: %d", code)
		}
		<-time.After(50 * time.Millisecond) // the poll interval
	}
}

// A tenant's stream tells nothing of other tenants: its heartbeat ids
// carry the hub's global position in ops.alert.v1, which moves with every
// other tenant's transitions, so a tenant key watches other tenants' alert
// volume per partition.
func TestAttackHeartbeatIDsDoNotCountOtherTenants(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	srv := api.New(api.Options{Hub: hub, Logger: quiet, Keys: keysFor(t, "acme", "globex"), Heartbeat: 20 * time.Millisecond})
	base := serve(t, srv)
	c, code := openStream(t, base, "", "Authorization", "Bearer key-acme")
	if code != 200 {
		t.Fatalf("stream: %d", code)
	}
	for i := range 7 {
		hub.Publish(alertEv(0, int64(i), "globex", "gx", fmt.Sprintf("gx-%d", i), "firing", "critical"))
	}
	for range 10 {
		f := c.next(5*time.Second, true)
		if f.event == "" && f.id == "7" {
			t.Fatalf("acme's heartbeat id %q counts globex's 7 transitions", f.id)
		}
	}
}
