package chaos

import (
	"fmt"
	"strconv"
	"time"
)

// The everyday inputs the harness mixes into the stream, besides the
// load generator's records.

// junkRecord is a raw record that is not an event, and the reason the DLQ
// must give it.
type junkRecord struct {
	what   string
	value  []byte
	reason string
}

// splitEvent is a pretty-printed event as kcat sends it: one record per
// line. Neither line is JSON; joined they would be an event of a host no
// other record names, so a row of it would show.
func splitEvent(n int, ts time.Time) []junkRecord {
	lines := []string{
		fmt.Sprintf(`{"tenant_id": %q, "host": "pieces-%d",`, junkTenant, n),
		fmt.Sprintf(`  "metric": "cpu_load", "value": 1, "ts_event": %q}`, ts.UTC().Format(time.RFC3339Nano)),
	}
	out := make([]junkRecord, len(lines))
	for i, l := range lines {
		out[i] = junkRecord{what: fmt.Sprintf("line %d of split event %d", i+1, n), value: []byte(l), reason: "split_record"}
	}
	return out
}

// junkBurst is n records that open JSON and never close it, alternately
// `[` and `{"a":[`.
func junkBurst(n int) []junkRecord {
	out := make([]junkRecord, n)
	for i := range out {
		v := `[`
		if i%2 == 1 {
			v = `{"a":[`
		}
		out[i] = junkRecord{what: "burst record " + strconv.Itoa(i), value: []byte(v), reason: "split_record"}
	}
	return out
}

// strays are what else lands on a raw topic by mistake.
func strays() []junkRecord {
	return []junkRecord{
		{what: "plain text", value: []byte(`hello from a misconfigured agent`), reason: "invalid_json"},
		{what: "an HTML error page", value: []byte(`<html><body><h1>502 Bad Gateway</h1></body></html>`), reason: "invalid_json"},
		{what: "a broken object", value: []byte(`{"tenant_id": "junk" "host": "h", "metric": "m", "value": 1}`), reason: "invalid_json"},
	}
}

// liveSource is a source the harness drives on the wall clock, as a real
// agent reports: sample i is due at start + i × every and carries that
// time as its event time, whenever it is sent (a pause of the stream only
// delays it).
type liveSource struct {
	tenant, host string
	start        time.Time
	every        time.Duration
	next         int
}

// due returns the indexes of the samples due at now.
func (l *liveSource) due(now time.Time) []int {
	var out []int
	for ; !l.start.Add(time.Duration(l.next) * l.every).After(now); l.next++ {
		out = append(out, l.next)
	}
	return out
}

// at is sample i's planned time.
func (l *liveSource) at(i int) time.Time { return l.start.Add(time.Duration(i) * l.every) }

// event is the JSON of one event of the source.
func (l *liveSource) event(metric string, value float64, ts time.Time) []byte {
	return fmt.Appendf(nil, `{"tenant_id":%q,"host":%q,"metric":%q,"value":%s,"ts_event":%q}`,
		l.tenant, l.host, metric, strconv.FormatFloat(value, 'f', -1, 64), ts.UTC().Format(time.RFC3339Nano))
}

// metricOf alternates the two metrics of the scenario.
func metricOf(i int) string {
	if i%2 == 0 {
		return "cpu_load"
	}
	return "mem_used_pct"
}

// skewedSample describes the extra sample the skewed source sends with
// its sample i, if any: a few are 50 minutes ahead of their time (the
// ingest stage refuses them as future), a few 15 s ahead (accepted: within
// max_future). Both are cpu_load, so that mem_used_pct's silence would
// show if the source clock jumped. The extra 125 ms keeps their times off
// the on-time samples' quarter seconds.
func skewedSample(i int) (ahead time.Duration, ok bool) {
	switch i % 24 {
	case 9:
		return 50*time.Minute + 125*time.Millisecond, true
	case 21:
		return 15*time.Second + 125*time.Millisecond, true
	}
	return 0, false
}

// liveValue is a live source's value of sample i: ordinary, no alert.
func liveValue(i int) float64 {
	if metricOf(i) == "cpu_load" {
		return float64(30 + i%20)
	}
	return float64(50 + i%9)
}

// httpResent says whether the HTTP source posts its event i twice.
func httpResent(i int) bool { return i%3 == 1 }
