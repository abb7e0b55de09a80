package actors_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// evictRules have no deadline once their alerts fire (a source with one
// keeps its actor), and windows long enough to span the idle time.
const evictRules = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
  - {name: mem_used_pct, kind: gauge, unit: percent}
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "15m") > 90
        for: 20s
        labels: {severity: critical}
      - alert: MemHot
        expr: max("mem_used_pct", "15m") > 95
        labels: {severity: warning}
`

// A source whose actor leaves memory after IdleTimeout without a signal
// comes back with its next signal exactly as a twin that never left: the
// same windows, alert states and episodes, written as the same bytes, and
// the same transitions after it.
func TestAnEvictedSourceComesBackAsItsTwinThatStayed(t *testing.T) {
	// The idle timer runs on the wall clock for IdleTimeout and then judges
	// idleness on the harness's clock: a short one is checked soon.
	const idle = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	evicted := openPartition(t, actors.SourcesOptions{Rules: evictHolder(t), IdleTimeout: idle, Registerer: reg}, true)
	stayed := openPartition(t, actors.SourcesOptions{Rules: evictHolder(t), IdleTimeout: -1}, true)
	twins := []*partitionHarness{evicted, stayed}

	off := int64(0)
	send := func(series string, v float64) {
		for _, h := range twins {
			h.deliver("host-a", off, series, sampleAt{h.clock.Now(), v})
		}
		off++
	}
	// Two cores run hot long enough for HighCPU to fire on each, one
	// cools down again; memory peaks once (MemHot fires and stays firing,
	// its window holding the peak).
	for step := range 8 {
		if step > 0 {
			for _, h := range twins {
				h.clock.Add(10 * time.Second)
			}
		}
		send(`cpu_load{core="0"}`, 95+float64(step%3))
		send(`cpu_load{core="1"}`, 92)
		send("mem_used_pct", []float64{60, 97, 70}[min(step, 2)])
	}
	for _, h := range twins {
		h.waitDurable("acme/host-a", off-1)
	}
	before := alertRecords(t, stayed)
	if len(before) < 3 {
		t.Fatalf("transitions before the idle time %q: want HighCPU on both cores and MemHot", before)
	}
	if got := alertRecords(t, evicted); !slices.Equal(got, before) {
		t.Fatalf("the twins differ before the idle time:\n%q\n%q", got, before)
	}

	// Silence past the idle timeout (two minutes: the windows still hold
	// every sample): one twin's actor leaves memory. (It may have left
	// between the signals above too, when the clock moved on 10 s, but not
	// since the last: no time passed since on the harness's clock.)
	evictions := counterValue(t, reg, "eventops_source_actors_evicted_total")
	for _, h := range twins {
		h.clock.Add(2 * time.Minute)
	}
	until(t, "the idle source to be evicted", func() bool {
		return counterValue(t, reg, "eventops_source_actors_evicted_total") > evictions && len(evicted.part.Keys()) == 0
	})
	if keys := stayed.part.Keys(); !slices.Equal(keys, []string{"acme/host-a"}) {
		t.Fatalf("the twin that stays in memory holds %v", keys)
	}

	// The next signal: the evicted twin rebuilds the source from the table.
	send(`cpu_load{core="1"}`, 50)
	for _, h := range twins {
		h.waitDurable("acme/host-a", off-1)
	}
	if len(evicted.part.Keys()) != 1 {
		t.Fatal("the next signal did not bring the source back")
	}
	got, want := lastStateBytes(t, evicted), lastStateBytes(t, stayed)
	if !bytes.Equal(got, want) {
		t.Errorf("the state written after the comeback differs from the twin's:\n%s\n%s",
			describeState(t, evicted), describeState(t, stayed))
	}
	if g, w := alertRecords(t, evicted), alertRecords(t, stayed); !slices.Equal(g, w) {
		t.Errorf("transitions differ:\n%q\n%q", g, w)
	}
	st := evicted.broker.lastState(t, "acme/host-a")
	if len(st.Alerts) == 0 {
		t.Fatal("no alert state after the comeback")
	}
	if w, ok := st.Series("cpu_load", tables.Tags{{Key: "core", Value: "0"}}).Series.Window(15 * time.Minute); !ok || w.Count != 8 {
		t.Fatalf("core 0's 15m window after the comeback %+v", w)
	}
}

func evictHolder(t *testing.T) *actors.RuleHolder {
	t.Helper()
	rs, err := rules.Parse("test.yml", []byte(evictRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return actors.NewRuleHolder(rs)
}

// alertRecords lists the alert records a harness wrote: rule, series,
// state, episode and time.
func alertRecords(t *testing.T, h *partitionHarness) []string {
	t.Helper()
	var out []string
	for _, r := range h.broker.topic(tables.AlertsTopic) {
		var tr rules.Transition
		if err := json.Unmarshal(r.Value, &tr); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %v %s %s %s %s", tr.AlertName, tr.Tags, tr.State, tr.Reason, tr.EpisodeID, r.Value))
	}
	return out
}

func lastStateBytes(t *testing.T, h *partitionHarness) []byte {
	t.Helper()
	var last []byte
	for _, r := range h.broker.topic(tables.FeaturesTable) {
		last = r.Value
	}
	if last == nil {
		t.Fatal("no state written")
	}
	return last
}

func describeState(t *testing.T, h *partitionHarness) string {
	st := h.broker.lastState(t, "acme/host-a")
	s := fmt.Sprintf("event %d arrival %d offset %d deadline %d alerts:", st.EventMilli, st.ArrivalMilli, st.Offset, st.NextDeadline)
	for _, a := range st.Alerts {
		s += fmt.Sprintf(" %+v", a)
	}
	for _, m := range st.Metrics {
		w, _ := m.Series.Window(15 * time.Minute)
		s += fmt.Sprintf("\n  %s%v seen %d: %+v", m.Name, m.Tags, m.SeenMilli, w)
	}
	return s
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

// Signals that keep arriving while their source's actor may leave memory
// at any moment (its idle time passes between every two of them) are all
// applied: each either reaches the actor before it leaves, or starts it
// again from the state it left in the table. And an actor started again
// still leaves once idle, also when the clock passed its idle time while
// it was starting.
func TestSignalsRacingTheirSourcesEvictionAreAllApplied(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := openPartition(t, actors.SourcesOptions{Rules: evictHolder(t), IdleTimeout: time.Millisecond,
		FlushInterval: time.Millisecond, Registerer: reg}, true)
	const signals = 400
	for off := range int64(signals) {
		h.clock.Add(time.Second)
		h.deliver("host-a", off, `cpu_load{core="0"}`, sampleAt{h.clock.Now(), 10})
		if off%50 == 49 {
			// Now and then the source stays silent until it left.
			h.waitDurable("acme/host-a", off)
			h.clock.Add(time.Second)
			until(t, "the source to leave memory", func() bool { return len(h.part.Keys()) == 0 })
		}
	}
	h.waitDurable("acme/host-a", signals-1)
	if n := counterValue(t, reg, "eventops_source_actors_evicted_total"); n < signals/50 {
		t.Fatalf("%v evictions", n)
	}
	st := h.broker.lastState(t, "acme/host-a")
	if w, ok := st.Series("cpu_load", tables.Tags{{Key: "core", Value: "0"}}).Series.Window(15 * time.Minute); !ok || w.Count != signals {
		t.Fatalf("the 15m window holds %+v, want %d samples", w, signals)
	}
}
