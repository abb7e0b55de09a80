package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/tables"
)

// check compares what the replicas made of the stream with the reference,
// waiting (up to Settle) for the pipeline to catch up first.
func (r *run) check(ctx context.Context, ref *reference) error {
	conn, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(r.o.Settle)

	// Rows: wait until as many as expected are there (or the time is up),
	// then compare each.
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM metrics WHERE tenant <> 'probe'`).Scan(&n); err != nil {
			return err
		}
		if n >= len(ref.rows) || time.Now().After(deadline) {
			break
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	rows, err := conn.Query(ctx, `SELECT tenant, source_id, metric, ts, value FROM metrics WHERE tenant <> 'probe'`)
	if err != nil {
		return err
	}
	seen := map[rowKey]int{}
	for rows.Next() {
		var k rowKey
		var ts time.Time
		var v float64
		if err := rows.Scan(&k.tenant, &k.host, &k.metric, &ts, &v); err != nil {
			rows.Close()
			return err
		}
		k.tsMicro = ts.UnixMicro()
		seen[k]++
		want, ok := ref.rows[k]
		switch {
		case !ok:
			r.row.Problems = appendCapped(r.row.Problems, fmt.Sprintf("a row that no valid event made: %+v", k))
		case want != v:
			r.row.WrongValues++
		}
		if seen[k] == 2 {
			r.row.Duplicated++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for k := range ref.rows {
		if seen[k] == 0 {
			r.row.Lost++
		}
	}

	// Alerts: every expected (episode, state) once, and nothing else.
	for {
		got, err := alertRows(ctx, conn)
		if err != nil {
			return err
		}
		missing, extra := diffAlerts(ref.transitions, got)
		if missing+extra == 0 || time.Now().After(deadline) {
			r.row.WrongAlerts = missing + extra
			break
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}

	// Features of every source, from any replica's API (the view of the
	// table, at most a flush interval behind).
	api := r.replicas[0].base()
	for key, metrics := range ref.series {
		tenant, host, _ := strings.Cut(key, "/")
		var last error
		for {
			last = compareFeatures(api, tenant, host, metrics)
			if last == nil || time.Now().After(deadline) {
				break
			}
			if err := pause(ctx, 250*time.Millisecond); err != nil {
				return err
			}
		}
		if last != nil {
			r.row.WrongFeatures++
			r.row.Problems = appendCapped(r.row.Problems, last.Error())
		}
	}

	// Poison: every record in the DLQ with its reason.
	if len(r.poison) > 0 {
		missing, err := checkDLQ(ctx, r.brokerAdr, r.poison, time.Until(deadline)+30*time.Second)
		if err != nil {
			return err
		}
		r.row.PoisonMissing = len(missing)
		for _, m := range missing {
			r.row.Problems = appendCapped(r.row.Problems, m)
		}
	}
	return nil
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func appendCapped(list []string, s string) []string {
	if len(list) < 20 {
		return append(list, s)
	}
	return list
}

func alertRows(ctx context.Context, conn *pgx.Conn) (map[string]map[string]int, error) {
	rows, err := conn.Query(ctx, `SELECT episode_id, state FROM alerts WHERE tenant <> 'probe' AND episode_id IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[string]map[string]int{}
	for rows.Next() {
		var ep, st string
		if err := rows.Scan(&ep, &st); err != nil {
			return nil, err
		}
		if got[ep] == nil {
			got[ep] = map[string]int{}
		}
		got[ep][st]++
	}
	return got, rows.Err()
}

func diffAlerts(want map[string]map[string]bool, got map[string]map[string]int) (missing, extra int) {
	for ep, states := range want {
		for st := range states {
			if got[ep][st] == 0 {
				missing++
			}
		}
	}
	for ep, states := range got {
		for st, n := range states {
			if !want[ep][st] {
				extra += n
			} else if n > 1 {
				extra += n - 1
			}
		}
	}
	return missing, extra
}

// compareFeatures checks every window of every metric of a source.
func compareFeatures(api, tenant, host string, want map[string]*features.Series) error {
	resp, err := http.Get(api + "/features/" + tenant + "/" + host)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("features of %s/%s: %s", tenant, host, resp.Status)
	}
	var snap struct {
		Metrics map[string]struct {
			Windows map[string]map[string]float64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return err
	}
	for name, ref := range want {
		got := snap.Metrics[name].Windows
		for _, d := range ref.Config().Windows {
			w, _ := ref.Window(d)
			g := got[features.WindowLabel(d)]
			for stat, pair := range map[string][2]float64{
				"count": {g["count"], float64(w.Count)}, "sum": {g["sum"], w.Sum}, "min": {g["min"], w.Min},
				"max": {g["max"], w.Max}, "avg": {g["avg"], w.Avg}, "stddev": {g["stddev"], w.Stddev},
				"first": {g["first"], w.First}, "last": {g["last"], w.Last}, "rate_per_sec": {g["rate_per_sec"], w.RatePerSec},
			} {
				if math.Abs(pair[0]-pair[1]) > 1e-6*math.Max(1, math.Abs(pair[1])) {
					return fmt.Errorf("%s/%s %s %s %s = %v, reference %v", tenant, host, name, features.WindowLabel(d), stat, pair[0], pair[1])
				}
			}
		}
	}
	return nil
}

// checkDLQ reads the DLQ and returns the poison records missing from it or
// carrying another reason.
func checkDLQ(ctx context.Context, broker string, want map[string]string, timeout time.Duration) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(tables.DLQTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	found := map[string]string{}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for len(found) < len(want) {
		fs := cl.PollFetches(cctx)
		if cctx.Err() != nil {
			break
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if _, ok := want[string(rec.Key)]; ok {
				found[string(rec.Key)] = tables.Header(rec, tables.HeaderReason)
			}
		})
	}
	var missing []string
	for key, reason := range want {
		switch got, ok := found[key]; {
		case !ok:
			missing = append(missing, fmt.Sprintf("poison %s is not in the DLQ", key))
		case got != reason:
			missing = append(missing, fmt.Sprintf("poison %s is in the DLQ as %s, want %s", key, got, reason))
		}
	}
	return missing, nil
}
