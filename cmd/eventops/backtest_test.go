package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
)

// backtestRules pend, fire and resolve (for, clear, keep_firing_for), one
// per series of a tagged metric, and on silence (seconds_since_last).
const backtestRules = `
metrics:
  - {name: temp, kind: gauge}
  - {name: load, kind: gauge}
  - {name: disk, kind: gauge}
  - {name: net, kind: gauge, lateness: 30s}
groups:
  - name: bt
    rules:
      - alert: TempHigh
        expr: avg("temp", "1m") > 50
        clear: avg("temp", "1m") < 40
        for: 10s
        keep_firing_for: 6s
      - alert: LoadSpike
        expr: last("load") > 90
        for: 4s
      - alert: DiskFull
        expr: max("disk", "1m") > 95
      - alert: TempSilent
        expr: seconds_since_last("temp") > 5
`

// btEvent is one agent event of the stream.
type btEvent struct {
	host, metric string
	at           time.Time
	value        float64
	mount        string
}

func (e btEvent) line() string {
	tags := ""
	if e.mount != "" {
		tags = fmt.Sprintf(`,"tags":{"mount":%q}`, e.mount)
	}
	return fmt.Sprintf("acme/%s|{\"tenant_id\":\"acme\",\"host\":%q,\"metric\":%q,\"value\":%v,\"ts_event\":%q%s}\n",
		e.host, e.host, e.metric, e.value, e.at.Format(time.RFC3339Nano), tags)
}

// btStream is a source's history over 5 minutes from start, in event-time
// order, no two samples at one time: temperature every 2 s, calm, then
// high (TempHigh pends, fires, keeps firing, resolves on clear), silent
// for 30 s (TempSilent fires and resolves), high and calm again; load
// every 3 s with two spikes, one long enough to fire; disk of two mounts, one
// of them full for a while.
func btStream(host string, start time.Time) []btEvent {
	var evs []btEvent
	for s := 0; s < 300; s += 2 {
		if s >= 160 && s < 190 {
			continue
		}
		v := 30.0 + float64(s%7)
		if s >= 40 && s < 100 || s >= 200 && s < 250 {
			v = 70 + float64(s%5)
		}
		evs = append(evs, btEvent{host, "temp", start.Add(time.Duration(s) * time.Second), v, ""})
	}
	for s := 1; s < 300; s += 3 {
		v := 40.0
		if s >= 61 && s < 80 || s == 151 {
			v = 95
		}
		evs = append(evs, btEvent{host, "load", start.Add(time.Duration(s)*time.Second + 500*time.Millisecond), v, ""})
	}
	for s := 5; s < 300; s += 10 {
		full := 80.0
		if s >= 105 && s < 155 {
			full = 99
		}
		evs = append(evs,
			btEvent{host, "disk", start.Add(time.Duration(s)*time.Second + 250*time.Millisecond), full, "/"},
			btEvent{host, "disk", start.Add(time.Duration(s)*time.Second + 750*time.Millisecond), 50, "/data"})
	}
	slices.SortStableFunc(evs, func(a, b btEvent) int { return a.at.Compare(b.at) })
	return evs
}

// heldBack is the order in which a source's events (in event-time order)
// arrive when some of the metrics the rules read are late: every third
// load and every fifth temperature arrive right after the first event of
// their source 12 s newer (within the default lateness bound, 1 min), and
// the temperatures at beyond arrive 80 s late (refused live). A held event
// always arrives after a newer one of its source, never while its source
// is silent.
func heldBack(evs []btEvent, beyond ...time.Time) []btEvent {
	type held struct {
		e  btEvent
		by time.Duration
	}
	var out []btEvent
	var hs []held
	n := map[string]int{}
	for _, e := range evs {
		n[e.metric]++
		switch {
		case e.metric == "temp" && slices.ContainsFunc(beyond, e.at.Equal):
			hs = append(hs, held{e, 80 * time.Second})
		case e.metric == "load" && n["load"]%3 == 0, e.metric == "temp" && n["temp"]%5 == 0:
			hs = append(hs, held{e, 12 * time.Second})
		default:
			out = append(out, e)
		}
	}
	for _, h := range hs {
		i := slices.IndexFunc(out, func(e btEvent) bool { return e.at.Sub(h.e.at) >= h.by })
		if i < 0 {
			i = len(out) - 1
		}
		out = slices.Insert(out, i+1, h.e)
	}
	return out
}

// storedTransitions reads the transitions of a source from the alerts
// table.
func storedTransitions(t *testing.T, st *store.Store, host string) []*rules.Transition {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(),
		`SELECT payload FROM alerts WHERE tenant = 'acme' AND source_id = $1 ORDER BY ts, id`, host)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*rules.Transition
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		tr := &rules.Transition{}
		if err := json.Unmarshal(b, tr); err != nil {
			t.Fatal(err)
		}
		out = append(out, tr)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// decided is what a transition says, but for its explanation (live ones
// name the raw records of their samples, a backtest's cannot).
func decided(tr *rules.Transition) string {
	c := *tr
	c.Explanation = nil
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// inTimeOrder is what trs decided, in the order of the alerts table: by
// time, and transitions of one time as a set.
func inTimeOrder(trs []*rules.Transition) []string {
	type entry struct {
		at rules.Timestamp
		s  string
	}
	es := make([]entry, len(trs))
	for i, tr := range trs {
		es[i] = entry{tr.At, decided(tr)}
	}
	slices.SortFunc(es, func(a, b entry) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.s, b.s)) })
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.s
	}
	return out
}

// TestBacktestEqualsLiveEndToEnd is the identity property on the whole
// pipeline: streams sent through `eventops dev` (the embedded broker, the
// actors, PostgreSQL) leave transitions in the alerts table, and a
// backtest of the same rules over the same range, read back from
// PostgreSQL, gives the same ones: episode IDs, values and times included.
// Source h-in arrives in event-time order. Source h-late arrives out of
// order within its lateness bound: its records are interleaved with
// h-in's two minutes behind them (the topic is out of event-time order),
// and its net samples, which no rule reads, arrive up to 20 s late and out
// of order among themselves. Source h-ooo's samples of the metrics the
// rules read arrive out of order (heldBack): within the bound, folded in
// live at the source's clock, and two beyond it, refused live (the DLQ
// has them); the backtest, reading each source in the order it arrived,
// does the same. (Read in event-time order, it would not.)
func TestBacktestEqualsLiveEndToEnd(t *testing.T) {
	t.Parallel()
	env := newDevEnv(t)
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(backtestRules), 0o644); err != nil {
		t.Fatal(err)
	}
	p := env.start(t, "--rules", file)
	rs, err := rules.Parse("rules.yml", []byte(backtestRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// The history is old enough that nothing of it is ahead of its
	// receive time; it is sent at once.
	start := time.Now().Add(-15 * time.Minute).Truncate(time.Second)
	in := btStream("h-in", start)
	late := btStream("h-late", start.Add(-2*time.Minute))
	oooStart := start.Add(-time.Minute)
	ooo := btStream("h-ooo", oooStart)
	oooArrived := heldBack(ooo, oooStart.Add(50*time.Second), oooStart.Add(210*time.Second))
	var lateNet []btEvent
	for s := 0; s < 300; s += 8 {
		// In pairs, the newer first: the older one is 4 s late in its
		// own series too.
		at := start.Add(-2*time.Minute + time.Duration(s)*time.Second + 100*time.Millisecond)
		lateNet = append(lateNet, btEvent{"h-late", "net", at.Add(4 * time.Second), float64(s + 4), ""},
			btEvent{"h-late", "net", at, float64(s), ""})
	}
	var b strings.Builder
	for i, e := range in {
		b.WriteString(e.line())
		if i < len(late) {
			b.WriteString(late[i].line())
		}
		if i < len(oooArrived) {
			b.WriteString(oooArrived[i].line())
		}
		// A net sample arrives after h-late's sample 16 s newer than
		// it: up to 20 s late, within the 30 s bound.
		for len(lateNet) > 0 && i < len(late) && late[i].at.Sub(lateNet[0].at) >= 16*time.Second {
			b.WriteString(lateNet[0].line())
			lateNet = lateNet[1:]
		}
	}
	for _, e := range late[min(len(in), len(late)):] {
		b.WriteString(e.line())
	}
	for _, e := range oooArrived[min(len(in), len(oooArrived)):] {
		b.WriteString(e.line())
	}
	for _, e := range lateNet {
		b.WriteString(e.line())
	}
	sent := strings.Count(b.String(), "\n")
	kcat(t, b.String(), "-b", p.Kafka[0], "-t", "ingest.raw.agent", "-P", "-K", "|")

	st, err := store.Open(context.Background(), store.Options{URL: env.dbURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	eventually(t, 60*time.Second, "every sample stored", func() error {
		var n int
		if err := st.Pool().QueryRow(context.Background(),
			`SELECT count(*) FROM metrics WHERE tenant = 'acme' AND source_id IN ('h-in', 'h-late', 'h-ooo')`).Scan(&n); err != nil {
			return err
		}
		if n != sent {
			return fmt.Errorf("%d of %d samples stored", n, sent)
		}
		return nil
	})

	// The backtest runs to 10 s after the last sample: past the silence
	// alert and the end of the last keep_firing_for.
	to := in[len(in)-1].at.Add(10 * time.Second)
	got := map[string][]*rules.Transition{}
	stats, err := backtest.Run(context.Background(), st, store.SignalScan{Tenant: "acme", From: start.Add(-3 * time.Minute), To: to},
		backtest.Options{Rules: rs}, func(tr *rules.Transition) error {
			got[tr.Host] = append(got[tr.Host], tr)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Sources != 3 || stats.Samples != int64(sent) || len(stats.Refused) != 1 || stats.Refused["too_late"] != 2 {
		t.Errorf("backtest stats %+v, want 3 sources, %d samples, two refused too_late", stats, sent)
	}
	// Live refused the same two.
	dlq := readDLQ(t, p.Kafka[0], 2, 30*time.Second)
	if tooLate := dlq["too_late"]; len(tooLate) != 2 || len(dlq) != 1 {
		t.Errorf("live refused %v, want two samples too_late", dlq)
	} else {
		for _, r := range tooLate {
			if !strings.Contains(string(r.Value), `"host":"h-ooo"`) || !strings.Contains(string(r.Value), `"metric":"temp"`) {
				t.Errorf("live refused %s", r.Value)
			}
		}
	}
	// Live, a source's clock runs on by wall time after its last sample:
	// its transitions up to the backtest's end are in the alerts table
	// about 10 s after the stream arrived, the silence alert 5 s after
	// the last sample first.
	seen := map[string]bool{}
	eventually(t, 30*time.Second, "live and backtest transitions equal", func() error {
		var diffs []string
		for host, evs := range map[string][]btEvent{"h-in": in, "h-late": late, "h-ooo": ooo} {
			var want []*rules.Transition
			stored := storedTransitions(t, st, host)
			if !slices.ContainsFunc(stored, func(tr *rules.Transition) bool {
				return tr.AlertName == "TempSilent" && tr.State == rules.StateFiring && tr.At.Time().After(evs[len(evs)-1].at)
			}) {
				return fmt.Errorf("%s: live, TempSilent has not fired after the last sample yet", host)
			}
			for _, tr := range stored {
				if tr.At.Time().After(to) {
					return fmt.Errorf("%s: a transition after the backtest's end: %s", host, decided(tr))
				}
				want = append(want, tr)
				seen[tr.AlertName+" "+tr.State] = true
			}
			if ws, gs := inTimeOrder(want), inTimeOrder(got[host]); !slices.Equal(ws, gs) {
				diffs = append(diffs, fmt.Sprintf("%s: live stored %d transitions, the backtest gave %d:\nlive:\n%s\nbacktest:\n%s",
					host, len(ws), len(gs), strings.Join(ws, "\n"), strings.Join(gs, "\n")))
			}
		}
		if len(diffs) > 0 {
			return errors.New(strings.Join(diffs, "\n"))
		}
		return nil
	})
	// The streams did what they are for.
	for _, k := range []string{"TempHigh pending", "TempHigh firing", "TempHigh resolved", "LoadSpike pending",
		"LoadSpike firing", "LoadSpike resolved", "LoadSpike inactive", "DiskFull firing", "DiskFull resolved",
		"TempSilent firing", "TempSilent resolved"} {
		if !seen[k] {
			t.Errorf("no %s in the alerts table", k)
		}
	}
	p.stop(60 * time.Second)
}
