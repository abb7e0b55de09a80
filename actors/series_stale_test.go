package actors_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

func transitionsOf(t *testing.T, h *partitionHarness, alertname string) []rules.Transition {
	t.Helper()
	var out []rules.Transition
	for _, r := range h.broker.topic(tables.AlertsTopic) {
		var tr rules.Transition
		if err := json.Unmarshal(r.Value, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.AlertName == alertname {
			out = append(out, tr)
		}
	}
	return out
}

// A no-data rule (seconds_since_last("mem_used_pct") > 120) fires when
// its metric stops while the source goes on reporting others. The
// metric is still missing an hour later: its alert must keep firing, not
// resolve because the silent series left the state (series_gone).
func TestANoDataAlertStaysFiringWhenItsSeriesGoesStale(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{SeriesStaleAfter: 5 * time.Minute}, false)
	off := int64(0)
	send := func(series string, v float64) {
		h.deliver("host-a", off, series, sampleAt{h.clock.Now(), v})
		off++
	}
	send("mem_used_pct", 50)
	send("cpu_load", 10)
	for range 60 { // 10 minutes of cpu_load, no mem_used_pct
		h.clock.Add(10 * time.Second)
		send("cpu_load", 10)
	}
	h.waitDurable("acme/host-a", off-1)
	var got []string
	for _, tr := range transitionsOf(t, h, "MemNoData") {
		got = append(got, tr.State+" "+tr.Reason)
	}
	if len(got) != 1 || got[0] != "firing " {
		t.Fatalf("MemNoData transitions %q: mem_used_pct is still missing, the alert must stay firing", got)
	}
}

// MemNoData (seconds_since_last("mem_used_pct") > 120) never fires when
// series_stale_after is shorter than its threshold: the silent series
// leaves the state first, and with it the only thing the rule reads. A
// daily job's metric with "no run for 25h" under the default 1h is the
// same. Nothing at start warns about it.
func TestANoDataAlertFiresWhenItsThresholdIsBeyondSeriesStaleAfter(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{SeriesStaleAfter: time.Minute}, false)
	off := int64(0)
	send := func(series string, v float64) {
		h.deliver("host-a", off, series, sampleAt{h.clock.Now(), v})
		off++
	}
	send("mem_used_pct", 50)
	send("cpu_load", 10)
	for range 30 { // 5 minutes of cpu_load, no mem_used_pct
		h.clock.Add(10 * time.Second)
		send("cpu_load", 10)
	}
	h.waitDurable("acme/host-a", off-1)
	if got := transitionsOf(t, h, "MemNoData"); len(got) == 0 {
		t.Fatal("mem_used_pct has been missing for 5 minutes and MemNoData (over 120s) never fired")
	}
}

// A device whose clock runs two hours behind (local time sent as UTC)
// reports cpu_load steadily, while the host's own agent reports
// mem_used_pct on time. cpu_load is not stale (a sample every 10 s), yet
// it is judged by the source's event time: it leaves the state at every
// look and comes back with the next sample, so its window never holds more
// than minutes and HighCPU fires, resolves (series_gone) and fires again
// as new episodes, though cpu_load stayed at 95 all along.
func TestASeriesBehindItsSourceClockIsNotStale(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{SeriesStaleAfter: 8 * time.Minute}, false)
	off := int64(0)
	for range 60 { // 10 minutes
		now := h.clock.Now()
		h.deliver("host-a", off, "mem_used_pct", sampleAt{now, 50})
		h.deliver("host-a", off+1, "cpu_load", sampleAt{now.Add(-2 * time.Hour), 95})
		off += 2
		h.clock.Add(10 * time.Second)
	}
	h.waitDurable("acme/host-a", off-1)
	var got []string
	for _, tr := range transitionsOf(t, h, "HighCPU") {
		got = append(got, tr.State+" "+tr.Reason)
	}
	if len(got) != 1 || got[0] != "firing " {
		t.Fatalf("HighCPU transitions %q, want one firing", got)
	}
}
