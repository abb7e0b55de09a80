package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// ackAlerting repeats every second, so that the test sees reminders stop
// and start again without waiting long.
func ackAlerting(url string) string {
	return fmt.Sprintf(`
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: ops
    webhook_configs:
      - url: %s
        timeout: 5s
`, url)
}

// postActivity sends a POST /alerts/{id}/{what} with key and returns the
// status and body.
func postActivity(t *testing.T, base, key, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// An acknowledged episode gets no repeat_interval reminders until its ack
// expires, then gets them again; the ack, an assignment and a note are in
// PostgreSQL with the key's name; another tenant's key gets 404.
func TestAckStopsRemindersUntilItExpires(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, func(int) int { return 200 })
	n := newNotifyEnv(t, ackAlerting(hook.srv.URL))
	keysFile := filepath.Join(t.TempDir(), "keys")
	const acmeKey, betaKey = "acme-oncall-key-0123456789abcdef", "beta-oncall-key-0123456789abcdef"
	if err := os.WriteFile(keysFile, []byte(api.HashKey(acmeKey)+" acme oncall alice\n"+api.HashKey(betaKey)+" beta oncall bob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.p = n.env.start(t, "--rules", n.rules, "--alerting", n.alerting, "--shutdown-timeout", "6s", "--api-keys-file", keysFile)
	p := n.p

	n.send("h1", 90)
	ep := n.stored("h1", "firing")
	firings := func() int { return countOf(hook.delivered(), "firing h1") }
	eventually(t, 30*time.Second, "reminders every second", func() error {
		if got := firings(); got < 3 {
			return fmt.Errorf("%d firing notifications", got)
		}
		return nil
	})

	if code, body := postActivity(t, p.HTTP, betaKey, "/alerts/"+ep+"/ack", ``); code != 404 || strings.Contains(body, "h1") {
		t.Fatalf("another tenant's ack: %d %s", code, body)
	}
	// Acknowledged for a few seconds: reminders stop. A reminder is held
	// each time one falls due; between two held ones nothing is sent.
	if code, body := postActivity(t, p.HTTP, acmeKey, "/alerts/"+ep+"/ack", `{"expires_in":"6s","comment":"looking"}`); code != 201 {
		t.Fatalf("ack: %d %s", code, body)
	}
	held := func() float64 { return notifyMetric(t, p, "eventops_notify_reminders_acknowledged_total") }
	eventually(t, 30*time.Second, "a reminder held", func() error {
		if held() < 1 {
			return fmt.Errorf("none held")
		}
		return nil
	})
	before := firings()
	eventually(t, 30*time.Second, "three reminders held", func() error {
		if h := held(); h < 3 {
			return fmt.Errorf("%v held", h)
		}
		return nil
	})
	if got := firings(); got != before {
		t.Fatalf("%d reminders sent while the episode was acknowledged", got-before)
	}
	// The ack expires: reminders start again.
	eventually(t, 30*time.Second, "reminders after the ack expired", func() error {
		if got := firings(); got <= before {
			return fmt.Errorf("%d firing notifications, %d before", got, before)
		}
		return nil
	})

	if code, body := postActivity(t, p.HTTP, acmeKey, "/alerts/"+ep+"/assign", `{"assignee":"alice"}`); code != 201 {
		t.Fatalf("assign: %d %s", code, body)
	}
	if code, body := postActivity(t, p.HTTP, acmeKey, "/alerts/"+ep+"/notes", `{"text":"fan replaced"}`); code != 201 {
		t.Fatalf("note: %d %s", code, body)
	}
	rows, err := n.conn.Query(context.Background(), `SELECT kind, actor, coalesce(assignee, note, '') FROM alert_activity
		WHERE tenant = 'acme' AND episode_id = $1 ORDER BY id`, ep)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for rows.Next() {
		var kind, actor, what string
		if err := rows.Scan(&kind, &actor, &what); err != nil {
			t.Fatal(err)
		}
		trail = append(trail, kind+" "+actor+" "+what)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(trail, "|"), "ack oncall alice looking|assign oncall alice alice|note oncall alice fan replaced"; got != want {
		t.Fatalf("audit trail %q, want %q", got, want)
	}
	p.stop(60 * time.Second)
}
