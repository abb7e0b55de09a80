package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

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
