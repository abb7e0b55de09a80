package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stop eventops dev after some events, start it again on the same data
// directory, send more: PostgreSQL holds each event once and the windowed
// features count each event once. (Unkeyed records spread over the raw
// topic's partitions and may reach the features stage out of order; the
// events span 20 s, within the default lateness of 1m.)
func TestRestartLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	env := newDevEnv(t)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	var p *proc
	send := func(from, to int) {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, `{"tenant_id":"acme","host":"host-r","metric":"cpu_load","value":%d,"ts_event":"%s"}`+"\n",
				i, base.Add(time.Duration(i)*100*time.Millisecond).Format(time.RFC3339Nano))
		}
		kcat(t, b.String(), "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows := func(want int) func() error {
		return func() error {
			var n, distinct int
			err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT ts) FROM metrics WHERE source_id = 'host-r'`).Scan(&n, &distinct)
			if err != nil {
				return err
			}
			if n != want || distinct != want {
				return fmt.Errorf("%d rows (%d distinct), want %d", n, distinct, want)
			}
			return nil
		}
	}
	featureCount := func(want int) func() error {
		return func() error {
			var snap struct {
				Metrics map[string]struct {
					Windows map[string]struct{ Count int }
				}
			}
			if _, err := getJSON(p.HTTP+"/features/acme/host-r", &snap); err != nil {
				return err
			}
			if got := snap.Metrics["cpu_load"].Windows["1h"].Count; got != want {
				return fmt.Errorf("1h count %d, want %d", got, want)
			}
			return nil
		}
	}

	p = env.start(t, "--flush-interval", "1s")
	send(0, 100)
	eventually(t, 60*time.Second, "100 rows", rows(100))
	eventually(t, 30*time.Second, "features of 100 events", featureCount(100))
	p.stop(60 * time.Second)
	// A new replica has no local table storage: the second run restores
	// every source's state from the table's changelog.
	if err := os.RemoveAll(filepath.Join(env.dataDir, "goka")); err != nil {
		t.Fatal(err)
	}

	p = env.start(t, "--flush-interval", "1s")
	send(100, 200)
	eventually(t, 60*time.Second, "200 rows", rows(200))
	eventually(t, 30*time.Second, "features of 200 events", featureCount(200))
	p.stop(60 * time.Second)
}
