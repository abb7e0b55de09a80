package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// activityStream reads the activity events of an alert stream, as their
// kind and note, into a channel.
func activityStream(t *testing.T, url, key string) <-chan string {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("stream %s: %d", url, resp.StatusCode)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan string, 100)
	go func() {
		_ = sseEventsOf(resp.Body, "activity", func(data string) bool {
			var a struct{ Kind, Note string }
			_ = json.Unmarshal([]byte(data), &a)
			out <- a.Kind + " " + a.Note
			return true
		})
	}()
	return out
}

func nextOf(t *testing.T, c <-chan string, what string) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(patience(30 * time.Second)):
		t.Fatalf("no activity on %s", what)
		return ""
	}
}

// An ack taken by one replica shows on the alert stream of another
// replica (an API-only one on the same broker and PostgreSQL), once, as on
// the replica that took it.
func TestAckShowsOnEveryReplicasStream(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnv(t, ackAlerting(hook.srv.URL))
	keysFile := filepath.Join(t.TempDir(), "keys")
	const acmeKey = "acme-oncall-key-0123456789abcdef"
	if err := os.WriteFile(keysFile, []byte(api.HashKey(acmeKey)+" acme oncall alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.p = n.env.start(t, "--rules", n.rules, "--alerting", n.alerting, "--shutdown-timeout", "6s", "--api-keys-file", keysFile)
	a := n.p
	b := startEventops(t, nil, "run", "--brokers", a.Kafka[0], "--database-url", n.env.dbURL, "--stages", "api",
		"--http-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--rules", n.rules, "--api-keys-file", keysFile, "--shutdown-timeout", "6s")

	n.send("h1", 90)
	ep := n.stored("h1", "firing")
	onA := activityStream(t, a.HTTP+"/alerts/stream", acmeKey)
	onB := activityStream(t, b.HTTP+"/alerts/stream", acmeKey)
	if code, body := postActivity(t, a.HTTP, acmeKey, "/alerts/"+ep+"/ack", `{"comment":"looking"}`); code != 201 || strings.Contains(body, "stream_warning") {
		t.Fatalf("ack on A: %d %s", code, body)
	}
	if code, body := postActivity(t, b.HTTP, acmeKey, "/alerts/"+ep+"/notes", `{"text":"fan replaced"}`); code != 201 {
		t.Fatalf("note on B: %d %s", code, body)
	}
	for name, c := range map[string]<-chan string{"A": onA, "B": onB} {
		if got := nextOf(t, c, name); got != "ack looking" {
			t.Fatalf("stream of %s: %q first, want the ack", name, got)
		}
		if got := nextOf(t, c, name); got != "note fan replaced" {
			t.Fatalf("stream of %s: %q after the ack, want the note", name, got)
		}
	}
	b.stop(60 * time.Second)
	a.stop(60 * time.Second)
}
