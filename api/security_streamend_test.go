package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// A key removed from the keys file ends what it opened: its requests and
// sessions are refused at once, and the alert streams it (or a session of
// it) holds open end without delivering another alert.
func TestRemovedKeyEndsItsOpenStreams(t *testing.T) {
	hub := api.NewHub(api.HubOptions{Logger: quiet})
	hub.Init(api.Position{0}, time.Time{})
	hub.MarkReady()
	srv := api.New(api.Options{Hub: hub, Logger: quiet, Keys: keysFor(t, "acme", "globex"), Heartbeat: time.Hour})
	base := serve(t, srv)

	login := do(t, srv, "POST", "/auth/session", `{"key":"key-acme"}`)
	if login.status != 200 {
		t.Fatalf("login: %d %s", login.status, login.body)
	}
	cookie := strings.SplitN(login.header.Get("Set-Cookie"), ";", 2)[0]

	byKey, code := openStream(t, base, "", "Authorization", "Bearer key-acme")
	if code != 200 {
		t.Fatalf("stream with the key: %d", code)
	}
	bySession, code := openStream(t, base, "", "Cookie", cookie)
	if code != 200 {
		t.Fatalf("stream with the session: %d", code)
	}

	kept, code := openStream(t, base, "", "Authorization", "Bearer key-globex")
	if code != 200 {
		t.Fatalf("stream with globex's key: %d", code)
	}

	// The keys file loses acme's key.
	if err := srv.SetKeys(keysFor(t, "globex")); err != nil {
		t.Fatal(err)
	}
	if r := do(t, srv, "GET", "/alerts/stream", "", bearer("key-acme")...); r.status != 401 {
		t.Fatalf("a new stream with the removed key: %d", r.status)
	}

	for name, c := range map[string]*sseClient{"key": byKey, "session": bySession} {
		deadline := time.Now().Add(5 * time.Second)
		for i := 0; ; i++ {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the stream of the removed key neither ended nor delivered within 5s", name)
			}
			hub.Publish(alertEv(0, int64(len(name)*1000+i), "acme", "h", fmt.Sprintf("%s-%d", name, i), "firing", "critical"))
			select {
			case <-c.closed:
				goto next
			case f := <-c.frames:
				if f.event == "alert" {
					t.Errorf("%s: the stream of the removed key delivered acme's alert %s after the key was removed", name, f.data)
					goto next
				}
			case <-time.After(50 * time.Millisecond): // the poll interval
			}
		}
	next:
	}
	// A key that stays keeps its stream.
	hub.Publish(alertEv(0, 99999, "globex", "g", "kept", "firing", "critical"))
	for {
		if f := kept.next(5*time.Second, false); f.event == "alert" {
			break
		}
	}
}

// A client that goes away gives its stream's place back: EventSource
// reconnects after 3 s, so a flaky network or a reloading tab must not
// find its own key locked out, even with no alert and a long heartbeat
// (the stream's next write).
func TestDisconnectedStreamFreesItsPlace(t *testing.T) {
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
// move past its own tenant's transitions only, never with the hub's
// position in ops.alert.v1, which other tenants' transitions move.
func TestHeartbeatIDsDoNotCountOtherTenants(t *testing.T) {
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
