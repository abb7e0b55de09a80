package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/notify"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// crashWindow bounds the time between a notification's 2xx and the SIGKILL
// of the replica that sent it for a copy sent again to be the documented
// crash window (the notifier records a delivery right after the 2xx).
const crashWindow = 2 * time.Second

// viewGrace bounds the wait for what is durable to show: the features API
// reads a view of the features table, which follows the stage's flushes.
const viewGrace = 30 * time.Second

// check compares what the replicas made of the run with the reference,
// once every stage has committed everything (up to Settle).
func (r *run) check(ctx context.Context, ref *reference, feed *feeder) error {
	if err := r.waitCommitted(ctx, allStages, r.o.Settle); err != nil {
		r.problem("after the stream: " + err.Error())
	}
	grace := time.Now().Add(viewGrace)
	conn, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	r.row.Events = int64(ref.accepted())
	if err := r.checkRows(ctx, conn, ref, grace); err != nil {
		return err
	}
	reloadBad, err := r.checkAlerts(ctx, conn, ref, grace)
	if err != nil {
		return err
	}
	if err := r.checkFeatures(ctx, ref, feed, grace); err != nil {
		return err
	}
	r.checkDLQ(ctx, feed, grace)
	r.checkDeliveries(ctx, ref, reloadBad, grace)
	r.row.ReloadResolutions, r.row.ReloadMissing = len(ref.reloaded), len(reloadBad)
	return nil
}

// checkRows compares metrics with the accepted events: each once, with its
// value.
func (r *run) checkRows(ctx context.Context, conn *pgx.Conn, ref *reference, grace time.Time) error {
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM metrics WHERE tenant <> 'probe'`).Scan(&n); err != nil {
			return err
		}
		if n >= len(ref.rows) || time.Now().After(grace) {
			break
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	rows, err := conn.Query(ctx, `SELECT tenant, source_id, metric, tags, ts, value FROM metrics WHERE tenant <> 'probe'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := map[rowKey]int{}
	for rows.Next() {
		var k rowKey
		var metric string
		var tags map[string]string
		var ts time.Time
		var v float64
		if err := rows.Scan(&k.tenant, &k.host, &metric, &tags, &ts, &v); err != nil {
			return err
		}
		k.series = tables.SeriesName(metric, tables.TagsFromMap(tags))
		k.tsMicro = ts.UnixMicro()
		seen[k]++
		want, ok := ref.rows[k]
		switch {
		case !ok:
			r.problem(fmt.Sprintf("a row that no accepted event made: %s/%s %s at %s = %v", k.tenant, k.host, k.series, ts.UTC(), v))
		case want != v:
			r.row.WrongValues++
		}
		if seen[k] == 2 {
			r.row.Duplicated++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for k := range ref.rows {
		if seen[k] == 0 {
			r.row.Lost++
		}
	}
	return nil
}

// checkAlerts compares the alerts table with the reference's transitions:
// every expected (episode, state) once, and nothing else. It returns the
// episodes the reload was to resolve that have no resolved row with the
// reason.
func (r *run) checkAlerts(ctx context.Context, conn *pgx.Conn, ref *reference, grace time.Time) (map[string]bool, error) {
	for {
		got, err := alertRows(ctx, conn)
		if err != nil {
			return nil, err
		}
		missing, extra := diffAlerts(ref.transitions, got)
		if missing+extra == 0 || time.Now().After(grace) {
			r.row.WrongAlerts = missing + extra
			for _, d := range describeAlertDiff(ref, got) {
				r.problem(d)
			}
			break
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE alertname = 'MemoryNoData'`).Scan(&r.row.SkewNoData); err != nil {
		return nil, err
	}
	eps := make([]string, 0, len(ref.reloaded))
	for ep := range ref.reloaded {
		eps = append(eps, ep)
	}
	rows, err := conn.Query(ctx, `SELECT episode_id, coalesce(payload->>'reason', '') FROM alerts WHERE state = 'resolved' AND episode_id = ANY($1)`, eps)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	reasons := map[string]string{}
	for rows.Next() {
		var ep, reason string
		if err := rows.Scan(&ep, &reason); err != nil {
			return nil, err
		}
		reasons[ep] = reason
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	bad := map[string]bool{}
	for ep, want := range ref.reloaded {
		got, ok := reasons[ep]
		switch {
		case !ok:
			r.problem(fmt.Sprintf("the reload did not resolve %s: no resolved row", describeEpisode(ref, ep)))
		case got != want:
			r.problem(fmt.Sprintf("the reload resolved %s with reason %q, want %q", describeEpisode(ref, ep), got, want))
		default:
			continue
		}
		bad[ep] = true
	}
	return bad, nil
}

func describeEpisode(ref *reference, ep string) string {
	if tr := ref.episodes[ep]; tr != nil {
		return fmt.Sprintf("%s of %s/%s (episode %s)", tr.AlertName, tr.Tenant, tr.Host, ep)
	}
	return "episode " + ep
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

// describeAlertDiff names the alert rows missing and extra.
func describeAlertDiff(ref *reference, got map[string]map[string]int) []string {
	var out []string
	for ep, states := range ref.transitions {
		for st := range states {
			if got[ep][st] == 0 {
				out = append(out, fmt.Sprintf("alerts: no %s row of %s", st, describeEpisode(ref, ep)))
			}
		}
	}
	for ep, states := range got {
		for st, n := range states {
			if !ref.transitions[ep][st] {
				out = append(out, fmt.Sprintf("alerts: %d %s rows of episode %s, which the reference does not have", n, st, ep))
			} else if n > 1 {
				out = append(out, fmt.Sprintf("alerts: %d %s rows of %s", n, st, describeEpisode(ref, ep)))
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkFeatures compares every source's features with the reference's,
// and counts the copies of resent events the features took as new samples.
func (r *run) checkFeatures(ctx context.Context, ref *reference, feed *feeder, grace time.Time) error {
	apis := r.apis()
	if len(apis) == 0 {
		return fmt.Errorf("no replica serves the API")
	}
	for key, want := range ref.named {
		tenant, host, _ := strings.Cut(key, "/")
		var snap featureSnapshot
		var last error
		for {
			if snap, last = fetchFeatures(ctx, apis[0], tenant, host); last == nil {
				last = diffFeatures(snap, tenant, host, want)
			}
			if last == nil || time.Now().After(grace) {
				break
			}
			if err := pause(ctx, 250*time.Millisecond); err != nil {
				return err
			}
		}
		if last != nil {
			r.row.WrongFeatures++
			r.problem(last.Error())
		}
		if copies := feed.resentOf(key); len(copies) > 0 && snap != nil {
			r.row.Resends += len(copies)
			r.row.ResendsTwice += appliedTwice(snap, want, copies)
		}
	}
	return nil
}

// featureSnapshot is GET /features/{tenant}/{host}: series → window →
// statistic.
type featureSnapshot map[string]map[string]map[string]float64

func fetchFeatures(ctx context.Context, api, tenant, host string) (featureSnapshot, error) {
	body, err := call(ctx, http.MethodGet, api+"/features/"+tenant+"/"+host)
	if err != nil {
		return nil, fmt.Errorf("features of %s/%s: %w", tenant, host, err)
	}
	var snap struct {
		Metrics map[string]struct {
			Windows map[string]map[string]float64
		}
	}
	if err := json.Unmarshal(body, &snap); err != nil {
		return nil, fmt.Errorf("features of %s/%s: %w", tenant, host, err)
	}
	out := featureSnapshot{}
	for m, v := range snap.Metrics {
		out[m] = v.Windows
	}
	return out, nil
}

// diffFeatures checks every statistic of every window of every series
// (by name).
func diffFeatures(got featureSnapshot, tenant, host string, want map[string]*features.Series) error {
	for name, ref := range want {
		for _, d := range ref.Config().Windows {
			w, _ := ref.Window(d)
			g := got[name][features.WindowLabel(d)]
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

// appliedTwice counts the copies a source's features counted: per series,
// the samples its widest window counts beyond the reference's, at most
// the copies of that series.
func appliedTwice(got featureSnapshot, want map[string]*features.Series, copies []sample) int {
	per := map[string]int{}
	for _, c := range copies {
		per[tables.SeriesName(c.metric, c.tags)]++
	}
	n := 0
	for metric, k := range per {
		ref := want[metric]
		if ref == nil {
			continue
		}
		ws := ref.Config().Windows
		widest := ws[len(ws)-1]
		w, _ := ref.Window(widest)
		extra := int(got[metric][features.WindowLabel(widest)]["count"]) - int(w.Count)
		n += min(max(extra, 0), k)
	}
	return n
}

// checkDLQ checks that every input the harness expects in the DLQ is there
// with its reason, and that nothing else is, but for copies of resent
// events the features stage may set aside.
func (r *run) checkDLQ(ctx context.Context, feed *feeder, grace time.Time) {
	injected := feed.dlqWants()
	r.row.Injected = len(injected)
	wants := append(injected, r.poison...)
	found := r.dlq.waitFound(ctx, wants, grace)
	for i, w := range wants {
		var bad string
		switch e := found[i]; {
		case e == nil:
			bad = fmt.Sprintf("%s is not in the DLQ", w.what)
		case e.reason != w.reason:
			bad = fmt.Sprintf("%s is in the DLQ as %s, want %s", w.what, e.reason, w.reason)
		default:
			continue
		}
		if i < len(injected) {
			r.row.InjectedMissing++
		} else {
			r.row.PoisonMissing++
		}
		r.problem(bad)
	}
	entries, _ := r.dlq.read()
	skewKey := skewTenant + "/" + skewHost
	for _, e := range entries {
		if matchesAny(e, wants) {
			continue
		}
		what := fmt.Sprintf("%s stage, reason %s, key %q: %.200s", e.stage, e.reason, e.key, e.value)
		switch {
		case string(e.key) == skewKey:
			r.row.SkewRefused++
			r.problem("a sample of the skewed source within max_future was refused: " + what)
		case e.stage == tables.StageFeatures && feed.isResent(e):
		default:
			r.problem("an unexpected DLQ record: " + what)
		}
	}
}

func matchesAny(e dlqEntry, wants []*dlqWant) bool {
	for _, w := range wants {
		if w.match(e) {
			return true
		}
	}
	return false
}

// checkDeliveries compares what the webhook received with the reference:
// one firing and one resolved notification per episode of a host that is
// not silenced, each once; a copy is allowed only in the crash window.
func (r *run) checkDeliveries(ctx context.Context, ref *reference, reloadBad map[string]bool, grace time.Time) {
	type key struct{ episode, status string }
	want := map[key]bool{}
	for ep, states := range ref.transitions {
		if !deliverable(ref.episodes[ep]) {
			continue
		}
		for st := range states {
			if st == notify.StatusFiring || st == notify.StatusResolved {
				want[key{ep, st}] = true
			}
		}
	}
	r.row.Deliveries = len(want)
	got := map[key][]delivery{}
	for {
		clear(got)
		for _, d := range r.hook.deliveries() {
			got[key{d.episode, d.status}] = append(got[key{d.episode, d.status}], d)
		}
		all := true
		for k := range want {
			all = all && len(got[k]) > 0
		}
		if all || time.Now().After(grace) || pause(ctx, 250*time.Millisecond) != nil {
			break
		}
	}
	r.row.DeliveredBy = map[string]int{}
	for k := range want {
		if len(got[k]) == 0 {
			r.row.DeliveriesLost++
			r.problem(fmt.Sprintf("the %s notice of %s was not delivered", k.status, describeEpisode(ref, k.episode)))
			if _, reloaded := ref.reloaded[k.episode]; reloaded && k.status == rules.StateResolved {
				reloadBad[k.episode] = true
			}
		}
	}
	for k, ds := range got {
		for _, d := range ds {
			r.row.DeliveredBy[r.senderOf(d.sender, d.at)]++
		}
		if !want[k] {
			r.row.DeliveriesUnexpected += len(ds)
			r.problem(fmt.Sprintf("%d unexpected %s notices of %s/%s %s (episode %s), first from %s", len(ds), k.status,
				ds[0].tenant, ds[0].host, ds[0].alertname, k.episode, r.senderOf(ds[0].sender, ds[0].at)))
			continue
		}
		for j := 1; j < len(ds); j++ {
			prev, again := ds[j-1], ds[j]
			line := fmt.Sprintf("the %s notice of %s: sent by %s at %s and again by %s at %s", k.status, describeEpisode(ref, k.episode),
				r.senderOf(prev.sender, prev.at), prev.at.Format("15:04:05.000"), r.senderOf(again.sender, again.at), again.at.Format("15:04:05.000"))
			if k, ok := r.killedAfter(prev); ok {
				r.row.DeliveriesCrashWindow++
				r.row.CrashWindow = append(r.row.CrashWindow, fmt.Sprintf("%s (%s was SIGKILLed %s after the first)", line, k.name,
					k.at.Sub(prev.at).Round(time.Millisecond)))
				continue
			}
			r.row.DeliveriesDuplicated++
			r.problem(line)
		}
	}
}

// killedAfter returns the SIGKILL of the replica run that sent d, if it
// came within crashWindow after d.
func (r *run) killedAfter(d delivery) (kill, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.kills {
		if k.addr == d.sender && !k.at.Before(d.at) && k.at.Sub(d.at) <= crashWindow {
			return k, true
		}
	}
	return kill{}, false
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
