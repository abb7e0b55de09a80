package actors_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// history is a hand-written actors.History over a list of signals: it
// answers a scan as the store does (the tenant and host asked, the event
// times in [From, To), in order), fails with err, or, for the hosts in
// block, waits until release is closed (or the scan's context ends).
type history struct {
	mu      sync.Mutex
	sigs    []*tables.Signal
	err     error
	block   map[string]bool
	release chan struct{}
	asked   []store.SignalScan
}

func (h *history) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	h.mu.Lock()
	h.asked = append(h.asked, q)
	sigs, err, block, release := h.sigs, h.err, h.block[q.Host], h.release
	h.mu.Unlock()
	if block {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	for _, sig := range sigs {
		if q.Tenant != "" && sig.Tenant != q.Tenant || q.Host != "" && sig.Host != q.Host {
			continue
		}
		if ts := time.UnixMicro(sig.Samples[0].TsMicro); ts.Before(q.From) || !ts.Before(q.To) {
			continue
		}
		if err := fn(sig); err != nil {
			return err
		}
	}
	return nil
}

func (h *history) queries() []store.SignalScan {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]store.SignalScan(nil), h.asked...)
}

// add stores one sample of metric for tenant/host at ts.
func (h *history) add(tenant, host, metric string, ts time.Time, v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sigs = append(h.sigs, &tables.Signal{Tenant: tenant, Host: host,
		Samples: []tables.Sample{{Metric: metric, Value: v, TsMicro: ts.UnixMicro(), Unit: "percent"}}})
}

// outcomes reads eventops_warm_starts_total by outcome.
func outcomes(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "eventops_warm_starts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				out[m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	return out
}

// hourOfHistory stores, for acme/host-a, a cpu_load sample a minute for
// the 59 minutes before now (95 each, older than the last minute, so that
// only a rule that evaluated them would fire on them), one from 90 minutes
// ago (outside the longest window), and for globex/host-a, another tenant's
// host of the same name, a sample a minute of 1000.
func hourOfHistory(now time.Time) *history {
	h := &history{}
	h.add("acme", "host-a", "cpu_load", now.Add(-90*time.Minute), 5000)
	for i := 59; i >= 2; i-- {
		h.add("acme", "host-a", "cpu_load", now.Add(-time.Duration(i)*time.Minute), 95)
		h.add("globex", "host-a", "cpu_load", now.Add(-time.Duration(i)*time.Minute), 1000)
	}
	return h
}

// A source new to the replica has its windows filled from the stored hour
// before its first signal, its own tenant's only; the rules do not
// evaluate the history (no alert, though its values are over the
// threshold), and the live sample then applies as usual.
func TestWarmStartFillsANewSourcesWindows(t *testing.T) {
	reg := prometheus.NewRegistry()
	hist := &history{}
	h := openPartition(t, actors.SourcesOptions{Registerer: reg, Warm: actors.WarmStart{History: hist}}, false)
	now := h.clock.Now()
	*hist = *hourOfHistory(now)
	h.deliver("host-a", 0, "cpu_load", sampleAt{now, 10})
	h.waitDurable("acme/host-a", 0)

	st := h.broker.lastState(t, "acme/host-a")
	w, ok := st.Metric("cpu_load").Series.Window(time.Hour)
	if want := (58*95 + 10) / 59.0; !ok || w.Count != 59 || w.Avg != want || w.Last != 10 {
		t.Fatalf("the 1h window holds %+v, want 59 samples averaging %v", w, want)
	}
	if w, _ := st.Metric("cpu_load").Series.Window(time.Minute); w.Count != 1 {
		t.Fatalf("the 1m window holds %+v, want the live sample", w)
	}
	for _, r := range h.broker.topic(tables.AlertsTopic) {
		t.Errorf("a warm start emitted %s", r.Value)
	}
	if got := outcomes(t, reg); got[actors.WarmWarmed] != 1 || len(got) != 1 {
		t.Fatalf("warm starts by outcome: %v", got)
	}
	q := hist.queries()
	if len(q) != 1 || q[0].Tenant != "acme" || q[0].Host != "host-a" || !q[0].To.Equal(now) || !q[0].From.Equal(now.Add(-time.Hour)) {
		t.Fatalf("warm start read %+v", q)
	}

	// A source that left memory and comes back has its state: no warm-up.
	h.deliver("host-a", 1, "cpu_load", sampleAt{now.Add(time.Second), 20})
	h.waitDurable("acme/host-a", 1)
	if n := len(hist.queries()); n != 1 {
		t.Fatalf("%d warm-ups of a source that has its state", n)
	}
}

// A warm-up that fails, or outlasts its timeout, starts its source cold,
// is counted, and holds back neither the source's signals nor others'.
func TestAFailedWarmUpStartsCold(t *testing.T) {
	f := func(t *testing.T, hist *history, outcome string) {
		reg := prometheus.NewRegistry()
		h := openPartition(t, actors.SourcesOptions{Registerer: reg,
			Warm: actors.WarmStart{History: hist, Timeout: 300 * time.Millisecond}}, false)
		now := h.clock.Now()
		h.deliver("host-a", 0, "cpu_load", sampleAt{now, 10})
		h.deliver("host-a", 1, "cpu_load", sampleAt{now.Add(time.Second), 20})
		h.waitDurable("acme/host-a", 1)
		w, _ := h.broker.lastState(t, "acme/host-a").Metric("cpu_load").Series.Window(time.Hour)
		if w.Count != 2 || w.Last != 20 {
			t.Fatalf("the 1h window holds %+v, want the two live samples", w)
		}
		if got := outcomes(t, reg); got[outcome] != 1 || len(got) != 1 {
			t.Fatalf("warm starts by outcome: %v, want one %s", got, outcome)
		}
	}
	t.Run("error", func(t *testing.T) {
		f(t, &history{err: errors.New("connection refused")}, actors.WarmFailed)
	})
	t.Run("timeout", func(t *testing.T) {
		f(t, &history{block: map[string]bool{"host-a": true}, release: make(chan struct{})}, actors.WarmTimeout)
	})
	t.Run("limit", func(t *testing.T) {
		hist := hourOfHistory(time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC))
		reg := prometheus.NewRegistry()
		h := openPartition(t, actors.SourcesOptions{Registerer: reg, Warm: actors.WarmStart{History: hist, MaxSamples: 10}}, false)
		h.deliver("host-a", 0, "cpu_load", sampleAt{h.clock.Now(), 10})
		h.waitDurable("acme/host-a", 0)
		if w, _ := h.broker.lastState(t, "acme/host-a").Metric("cpu_load").Series.Window(time.Hour); w.Count != 1 {
			t.Fatalf("the 1h window holds %+v", w)
		}
		if got := outcomes(t, reg); got[actors.WarmLimit] != 1 {
			t.Fatalf("warm starts by outcome: %v", got)
		}
	})
}

// The signals of a source that arrive while its warm-up reads are held,
// unacknowledged, and applied in order after the history; other sources
// go on meanwhile.
func TestSignalsArrivingDuringAWarmUpWaitForIt(t *testing.T) {
	reg := prometheus.NewRegistry()
	hist := &history{}
	h := openPartition(t, actors.SourcesOptions{Registerer: reg, Warm: actors.WarmStart{History: hist, Timeout: time.Minute}}, false)
	now := h.clock.Now()
	*hist = *hourOfHistory(now)
	hist.block, hist.release = map[string]bool{"host-a": true}, make(chan struct{})
	for i := range int64(3) {
		h.deliver("host-a", i, "cpu_load", sampleAt{now.Add(time.Duration(i) * time.Second), float64(10 * (i + 1))})
	}
	h.deliver("host-b", 3, "cpu_load", sampleAt{now, 1})
	h.waitDurable("acme/host-b", 3)
	h.mu.Lock()
	_, early := h.durable["acme/host-a"]
	h.mu.Unlock()
	if early {
		t.Fatal("a signal held by a warm-up was acknowledged before its state")
	}
	close(hist.release)
	h.waitDurable("acme/host-a", 2)
	w, _ := h.broker.lastState(t, "acme/host-a").Metric("cpu_load").Series.Window(time.Hour)
	if want := (58*95 + 10 + 20 + 30) / 61.0; w.Count != 61 || w.Avg != want || w.Last != 30 {
		t.Fatalf("the 1h window holds %+v, want 61 samples averaging %v, the last 30", w, want)
	}
	if got := outcomes(t, reg); got[actors.WarmWarmed] != 1 || got[actors.WarmEmpty] != 1 {
		t.Fatalf("warm starts by outcome: %v", got)
	}
}

// gaugeRules and counterRules differ by the kind of cpu_load, which
// changes the layout of its windows; neither keeps a rule deadline, so
// that an idle source leaves memory.
const gaugeRules = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
  - {name: mem_used_pct, kind: gauge, unit: percent}
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
`

var counterRules = strings.Replace(gaugeRules, "cpu_load, kind: gauge", "cpu_load, kind: counter", 1)

// A series whose stored windows no longer decode under its metric's
// configuration (a reload changed it) is warmed from the history up to its
// source's clock when its actor starts again; the source's other series
// keep their windows untouched.
func TestAResetSeriesIsWarmedWhenItsSourceStarts(t *testing.T) {
	reg := prometheus.NewRegistry()
	hist := &history{}
	holder := actors.NewRuleHolder(parseRules(t, gaugeRules))
	h := openPartition(t, actors.SourcesOptions{Rules: holder, Registerer: reg, IdleTimeout: time.Millisecond,
		Warm: actors.WarmStart{History: hist}}, true)
	now := h.clock.Now()
	h.deliver("host-a", 0, "cpu_load", sampleAt{now, 10})
	h.deliver("host-a", 1, "mem_used_pct", sampleAt{now, 40})
	h.waitDurable("acme/host-a", 1)
	h.clock.Add(time.Second)
	until(t, "the source to leave memory", func() bool { return len(h.part.Keys()) == 0 })

	*hist = *hourOfHistory(now)
	hist.add("acme", "host-a", "cpu_load", now, 10)
	hist.add("acme", "host-a", "mem_used_pct", now.Add(-time.Minute*30), 77)
	next := parseRules(t, counterRules)
	holder.Swap(next)
	h.deliver("host-a", 2, "cpu_load", sampleAt{now.Add(time.Second), 11})
	h.waitDurable("acme/host-a", 2)

	st := stateUnder(t, h, "acme/host-a", next)
	cpu := st.Metric("cpu_load").Series
	if !cpu.Config().Counter {
		t.Fatal("the series kept its old configuration")
	}
	if w, _ := cpu.Window(time.Hour); w.Count != 60 || w.Last != 11 {
		t.Fatalf("the reset series' 1h window holds %+v, want 58 stored samples, the one applied before and the new one", w)
	}
	if w, _ := st.Metric("mem_used_pct").Series.Window(time.Hour); w.Count != 1 || w.Last != 40 {
		t.Fatalf("a series that was not reset was warmed: %+v", w)
	}
	// The source's first start found no history; its second warmed.
	if got := outcomes(t, reg); got[actors.WarmEmpty] != 1 || got[actors.WarmWarmed] != 1 || len(got) != 2 {
		t.Fatalf("warm starts by outcome: %v", got)
	}
}

func parseRules(t *testing.T, src string) *rules.RuleSet {
	t.Helper()
	rs, err := rules.Parse("test.yml", []byte(src), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// stateUnder is the newest state of key in the table, decoded under the
// feature configurations of rs.
func stateUnder(t *testing.T, h *partitionHarness, key string, rs *rules.RuleSet) *tables.SourceState {
	t.Helper()
	var last []byte
	for _, r := range h.broker.topic(tables.FeaturesTable) {
		if string(r.Key) == key {
			last = r.Value
		}
	}
	st, reset, err := tables.DecodeSourceState(last, func(m string) features.Config { return rs.MetricConfig(m) })
	if err != nil || len(reset) > 0 {
		t.Fatalf("state of %s: %v, reset %v", key, err, reset)
	}
	return st
}

// A reload that changes a metric's configuration reaches the series of a
// source in memory as it reaches those in the table: a series whose
// windows no longer fit starts afresh, and is warmed from the history up
// to its source's clock before the next signal applies.
func TestAReloadWarmsTheResetSeriesOfASourceInMemory(t *testing.T) {
	reg := prometheus.NewRegistry()
	hist := &history{}
	holder := actors.NewRuleHolder(parseRules(t, gaugeRules))
	h := openPartition(t, actors.SourcesOptions{Rules: holder, Registerer: reg, Warm: actors.WarmStart{History: hist}}, false)
	now := h.clock.Now()
	h.deliver("host-a", 0, "cpu_load", sampleAt{now, 10})
	h.waitDurable("acme/host-a", 0)

	*hist = *hourOfHistory(now)
	hist.add("acme", "host-a", "cpu_load", now, 10)
	next := parseRules(t, counterRules)
	holder.Swap(next)
	h.sources.Reevaluate()
	h.deliver("host-a", 1, "cpu_load", sampleAt{now.Add(time.Second), 11})
	h.waitDurable("acme/host-a", 1)

	cpu := stateUnder(t, h, "acme/host-a", next).Metric("cpu_load").Series
	if w, _ := cpu.Window(time.Hour); !cpu.Config().Counter || w.Count != 60 || w.Last != 11 {
		t.Fatalf("after the reload the series (counter %v) holds %+v, want 58 stored samples, the one applied before and the new one",
			cpu.Config().Counter, w)
	}
	if got := outcomes(t, reg); got[actors.WarmEmpty] != 1 || got[actors.WarmWarmed] != 1 || len(got) != 2 {
		t.Fatalf("warm starts by outcome: %v", got)
	}
}

// A warm-up admits series as live samples do: within max_series_per_source,
// in the order the history has them (as a source that ran through it
// would have), and what it leaves out goes nowhere: history is not input,
// so nothing of it reaches the DLQ.
func TestAWarmUpKeepsTheSeriesBound(t *testing.T) {
	hist := &history{}
	h := openPartition(t, actors.SourcesOptions{MaxSeries: 2, Warm: actors.WarmStart{History: hist}}, false)
	now := h.clock.Now()
	for i, metric := range []string{"cpu_load", "mem_used_pct", "disk_used_pct"} {
		for m := 30; m >= 1; m-- {
			hist.add("acme", "host-a", metric, now.Add(-time.Duration(m)*time.Minute+time.Duration(i)*time.Second), 1)
		}
	}
	h.deliver("host-a", 0, "cpu_load", sampleAt{now, 1})
	h.waitDurable("acme/host-a", 0)
	st := h.broker.lastState(t, "acme/host-a")
	if len(st.Metrics) != 2 || st.Metric("cpu_load") == nil || st.Metric("mem_used_pct") == nil {
		t.Fatalf("%d series kept: %+v", len(st.Metrics), st.Metrics)
	}
	if w, _ := st.Metric("cpu_load").Series.Window(time.Hour); w.Count != 31 {
		t.Fatalf("the 1h window holds %+v, want 31 samples", w)
	}
	if recs := h.broker.topic(tables.DLQTopic); len(recs) != 0 {
		t.Fatalf("a warm-up sent %d records to the DLQ", len(recs))
	}
}

// A first signal whose samples have several event times starts the
// source's clock at the signal's own: the rules evaluate once, after its
// samples, never on the history alone.
func TestAWarmSourcesFirstSignalOfSeveralTimesAnnouncesNoHistory(t *testing.T) {
	hist := &history{}
	h := openPartition(t, actors.SourcesOptions{Warm: actors.WarmStart{History: hist}}, false)
	now := h.clock.Now()
	*hist = *hourOfHistory(now)
	h.deliver("host-a", 0, "cpu_load", sampleAt{now.Add(-30 * time.Second), 10}, sampleAt{now, 10})
	h.waitDurable("acme/host-a", 0)
	if w, _ := h.broker.lastState(t, "acme/host-a").Metric("cpu_load").Series.Window(time.Hour); w.Count != 60 {
		t.Fatalf("the 1h window holds %+v, want 60 samples", w)
	}
	for _, r := range h.broker.topic(tables.AlertsTopic) {
		t.Errorf("a warm start emitted %s", r.Value)
	}
}

// A warm-up over a window longer than series_stale_after admits only the
// series the history shows alive within it of the first signal, as a
// source that ran through the history would still hold: series that
// stopped long before neither take the source's series budget from its
// live ones nor are announced gone.
func TestAWarmUpLeavesOutSeriesStaleAtTheFirstSignal(t *testing.T) {
	opts := rules.Options{}
	opts.Features.Windows = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 24 * time.Hour}
	rs, err := rules.Parse("test.yml", []byte(gaugeRules), opts)
	if err != nil {
		t.Fatal(err)
	}
	hist := &history{}
	h := openPartition(t, actors.SourcesOptions{Rules: actors.NewRuleHolder(rs), MaxSeries: 2,
		Warm: actors.WarmStart{History: hist}}, false)
	now := h.clock.Now()
	hist.add("acme", "host-a", "disk_used_pct", now.Add(-20*time.Hour), 1)
	hist.add("acme", "host-a", "mem_used_pct", now.Add(-10*time.Hour), 1)
	hist.add("acme", "host-a", "cpu_load", now.Add(-12*time.Hour), 5)
	hist.add("acme", "host-a", "cpu_load", now.Add(-30*time.Minute), 7)
	h.deliver("host-a", 0, "cpu_load", sampleAt{now, 9})
	h.waitDurable("acme/host-a", 0)

	if recs := h.broker.topic(tables.DLQTopic); len(recs) != 0 {
		t.Fatalf("%d live samples refused after a warm-up: %s", len(recs), recs[0].Value)
	}
	st := stateUnder(t, h, "acme/host-a", rs)
	if len(st.Metrics) != 1 || st.Metric("cpu_load") == nil {
		t.Fatalf("series after the warm-up: %+v", st.Metrics)
	}
	if w, _ := st.Metric("cpu_load").Series.Window(24 * time.Hour); w.Count != 3 || w.Last != 9 {
		t.Fatalf("the 24h window holds %+v, want the live series' 2 stored samples and the live one", w)
	}
}

// A series reset by a reload is warmed up to the newest sample its source
// may have applied: a source whose clock runs ahead (within max_future)
// applied samples after its event time, which is capped at their receive
// time, and those stay in the reset series' windows; a stored sample the
// source has yet to apply is not counted twice.
func TestAResetSeriesKeepsTheSamplesOfAClockRunningAhead(t *testing.T) {
	hist := &history{}
	holder := actors.NewRuleHolder(parseRules(t, gaugeRules))
	h := openPartition(t, actors.SourcesOptions{Rules: holder, Warm: actors.WarmStart{History: hist}}, false)
	now := h.clock.Now()
	ahead := 20 * time.Second
	h.deliver("host-a", 0, "cpu_load", sampleAt{now.Add(ahead), 10})
	h.waitDurable("acme/host-a", 0)

	*hist = *hourOfHistory(now)
	hist.add("acme", "host-a", "cpu_load", now.Add(ahead), 10)
	// The next signal, stored by the sink before the source applies it.
	hist.add("acme", "host-a", "cpu_load", now.Add(time.Second+ahead), 11)
	next := parseRules(t, counterRules)
	holder.Swap(next)
	h.sources.Reevaluate()
	h.clock.Add(time.Second)
	h.deliver("host-a", 1, "cpu_load", sampleAt{now.Add(time.Second + ahead), 11})
	h.waitDurable("acme/host-a", 1)

	cpu := stateUnder(t, h, "acme/host-a", next).Metric("cpu_load").Series
	if w, _ := cpu.Window(time.Hour); !cpu.Config().Counter || w.Count != 60 || w.Last != 11 {
		t.Fatalf("after the reload the series holds %+v, want 58 stored samples, the one applied before and the new one", w)
	}
	if recs := h.broker.topic(tables.DLQTopic); len(recs) != 0 {
		t.Fatalf("%d samples refused: %s", len(recs), recs[0].Value)
	}
}
