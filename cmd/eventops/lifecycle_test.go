package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const lifecycleRules = `
metrics:
  - {name: temp, kind: gauge}
  - {name: temp_slow, kind: gauge}
  - {name: load, kind: gauge}
  - {name: heartbeat, kind: gauge}
groups:
  - name: lifecycle
    rules:
      - alert: TempFor
        expr: last("temp") > 50
        for: 3s
      - alert: TempSlow
        expr: last("temp_slow") > 50
        for: 30s
      - alert: LoadHysteresis
        expr: last("load") > 90
        clear: last("load") < 85
      - alert: NoHeartbeat
        expr: seconds_since_last("heartbeat") > 3
`

type lifecycle struct {
	t    *testing.T
	env  devEnv
	conn *pgx.Conn
	file string
	p    *proc // the running eventops dev
}

func newLifecycle(t *testing.T) *lifecycle {
	env := newDevEnv(t)
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(lifecycleRules), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), env.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &lifecycle{t: t, env: env, conn: conn, file: file}
}

func (l *lifecycle) start() *proc {
	l.p = l.env.start(l.t, "--rules", l.file)
	return l.p
}

// send writes events of one host, keyed so they stay in order.
func (l *lifecycle) send(host, metric string, at time.Time, values ...float64) {
	var b strings.Builder
	for i, v := range values {
		fmt.Fprintf(&b, "acme/%s|{\"tenant_id\":\"acme\",\"host\":%q,\"metric\":%q,\"value\":%v,\"ts_event\":%q}\n",
			host, host, metric, v, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano))
	}
	kcat(l.t, b.String(), "-b", l.p.Kafka[0], "-t", "ingest.raw.agent", "-P", "-K", "|")
}

type transition struct {
	State    string
	ActiveAt time.Time `json:"active_at"`
	StartsAt time.Time `json:"starts_at"`
	Episode  string    `json:"episode_id"`
}

// transitions returns the stored transitions of an alert, in order.
func (l *lifecycle) transitions(alert, host string) []transition {
	rows, err := l.conn.Query(context.Background(),
		`SELECT payload FROM alerts WHERE alertname = $1 AND source_id = $2 ORDER BY ts, id`, alert, host)
	if err != nil {
		l.t.Fatal(err)
	}
	defer rows.Close()
	var out []transition
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			l.t.Fatal(err)
		}
		var tr transition
		if err := json.Unmarshal(b, &tr); err != nil {
			l.t.Fatal(err)
		}
		out = append(out, tr)
	}
	return out
}

func states(trs []transition) string {
	var s []string
	for _, tr := range trs {
		s = append(s, tr.State)
	}
	return strings.Join(s, ",")
}

// waitStates polls until the alert's stored transitions are exactly want.
func (l *lifecycle) waitStates(alert, host, want string, timeout time.Duration) []transition {
	var trs []transition
	eventually(l.t, timeout, alert+" on "+host+" = "+want, func() error {
		trs = l.transitions(alert, host)
		if got := states(trs); got != want {
			return fmt.Errorf("transitions %q", got)
		}
		return nil
	})
	return trs
}

func TestAlertLifecycleOnTheEmbeddedBroker(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t)
	p := l.start()
	now := time.Now().Truncate(time.Second)

	// A `for` alert fires once: pending at the first high sample, firing
	// three seconds (of event time) later, nothing more while it stays high.
	l.send("h-for", "temp", now, 60, 61, 62, 63, 64, 65, 66)
	trs := l.waitStates("TempFor", "h-for", "pending,firing", 30*time.Second)
	if d := trs[1].StartsAt.Sub(trs[1].ActiveAt); d != 3*time.Second {
		t.Errorf("fired %s after it became active, want 3s", d)
	}

	// A value hovering around the threshold does not flap: the alert fires
	// once and resolves only when the clear condition holds.
	l.send("h-hyst", "load", now, 91, 89, 91, 88, 92, 86, 91)
	l.waitStates("LoadHysteresis", "h-hyst", "firing", 30*time.Second)
	l.send("h-hyst", "load", now.Add(10*time.Second), 80)
	l.waitStates("LoadHysteresis", "h-hyst", "firing,resolved", 30*time.Second)

	// A silent source raises a no-data alert with no new event, and the
	// alert resolves when data returns.
	l.send("h-silent", "heartbeat", time.Now(), 1)
	l.waitStates("NoHeartbeat", "h-silent", "firing", 30*time.Second)
	l.send("h-silent", "heartbeat", time.Now(), 1)
	l.waitStates("NoHeartbeat", "h-silent", "firing,resolved", 30*time.Second)

	// The `for` alert stayed firing the whole time: still two transitions.
	if got := states(l.transitions("TempFor", "h-for")); got != "pending,firing" {
		t.Errorf("TempFor transitions %q", got)
	}
	p.stop(60 * time.Second)
}

// A `for: 30s` alert that was pending before a restart fires 30 s after it
// became active, not 30 s after the restart, and without a new event. (The
// 30 s leave a restart on a slow machine the time to restore the state
// before the alert is due.)
func TestRestartWhilePendingFiresOnTime(t *testing.T) {
	t.Parallel()
	const forDur = 30 * time.Second
	l := newLifecycle(t)
	p := l.start()
	l.send("h-slow", "temp_slow", time.Now(), 60)
	l.waitStates("TempSlow", "h-slow", "pending", 30*time.Second)
	p.stop(60 * time.Second)

	// Had the restart reset the clock, the alert would fire forDur after
	// the new process began, so after this.
	restartedAt := time.Now()
	p = l.start()
	trs := l.waitStates("TempSlow", "h-slow", "pending,firing", 60*time.Second)
	if d := trs[1].StartsAt.Sub(trs[1].ActiveAt); d < forDur || !trs[1].StartsAt.Before(restartedAt.Add(forDur)) {
		t.Errorf("fired %s after it became active and %s after the restart began, want %s after it became active",
			d, trs[1].StartsAt.Sub(restartedAt).Round(time.Millisecond), forDur)
	}
	if trs[0].Episode != trs[1].Episode {
		t.Errorf("the restart started a new episode: %s, %s", trs[0].Episode, trs[1].Episode)
	}
	p.stop(60 * time.Second)
}
