package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// BacktestOptions configure Backtest: a history of Sources sources with
// Series series each (metrics and tags), one sample per series every
// Interval of event time, Samples samples in all, replayed Runs times.
type BacktestOptions struct {
	Samples         int64
	Sources, Series int
	Interval        time.Duration
	Runs            int
}

// History is a stored history: Sources × Series series, Steps samples
// each, Interval apart from Start. Its samples are a function of their
// source, series and step, so the same History is the same data.
type History struct {
	Sources, Series, Steps int
	Interval               time.Duration
	Start                  time.Time
}

// Samples is how many samples h holds.
func (h History) Samples() int64 { return int64(h.Sources) * int64(h.Series) * int64(h.Steps) }

// Scan selects the whole history.
func (h History) Scan() store.SignalScan {
	return store.SignalScan{From: h.Start, To: h.Start.Add(time.Duration(h.Steps) * h.Interval)}
}

// Span is the event time the history covers.
func (h History) Span() time.Duration { return time.Duration(h.Steps) * h.Interval }

// historySeries are the series of a source, the first Series of them:
// several metrics, some with several tag sets.
var historySeries = []struct{ metric, unit, tags string }{
	{"cpu_load", "percent", `{"core":"0"}`},
	{"cpu_load", "percent", `{"core":"1"}`},
	{"mem_used_pct", "percent", `{}`},
	{"disk_used_pct", "percent", `{"dev":"sda","mount":"/"}`},
	{"latency_ms", "ms", `{"route":"/api"}`},
	{"disk_used_pct", "percent", `{"dev":"sdb","mount":"/data"}`},
	{"latency_ms", "ms", `{"route":"/static"}`},
	{"cpu_load", "percent", `{"core":"2"}`},
}

// MaxHistorySeries is the most series per source a History has.
var MaxHistorySeries = len(historySeries)

// historyValue is sample step of series k of source s: a slow wave per
// source that takes CPU, memory and disk above their rules' thresholds
// for a while now and then, with a jitter, and latency with rare spikes.
func historyValue(s, k, step int) float64 {
	jitter := float64(uint32(s*7919+k*104729+step*31)*2654435761%1000) / 1000 // 0..1
	wave := math.Sin(2 * math.Pi * float64(step+s*97) / float64(600+s*13))
	switch historySeries[k].metric {
	case "latency_ms":
		if (step+s)%997 == 0 {
			return 900 + 100*jitter
		}
		return 80 + 40*jitter
	case "disk_used_pct":
		return 75 + 20*wave + 3*jitter
	default:
		return 60 + 35*wave + 5*jitter
	}
}

// WriteHistory writes h with the store's batch writer (COPY), batch rows
// at a time in time order, as a sink would, and returns how many rows it
// wrote.
func WriteHistory(ctx context.Context, s *store.Store, h History, batch int) (int64, error) {
	if h.Series > len(historySeries) {
		return 0, fmt.Errorf("bench: at most %d series per source", len(historySeries))
	}
	hosts := make([]string, h.Sources)
	for i := range hosts {
		hosts[i] = "host-" + strconv.Itoa(i)
	}
	meta := []byte(`{"owner":"bench","region":"eu-west","service":"api"}`)
	rows := make([]store.MetricRow, 0, batch)
	var written int64
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		res, err := s.WriteMetrics(ctx, rows)
		if err != nil {
			return err
		}
		if len(res.Bad) > 0 {
			return fmt.Errorf("bench: %d rows refused: %v", len(res.Bad), res.Bad[0].Err)
		}
		written += res.Inserted
		rows = rows[:0]
		return nil
	}
	for step := range h.Steps {
		ts := h.Start.Add(time.Duration(step) * h.Interval)
		for src := range h.Sources {
			for k := range h.Series {
				sr := &historySeries[k]
				rows = append(rows, store.MetricRow{Ts: ts, Tenant: "bench", SourceID: hosts[src], Metric: sr.metric,
					Value: historyValue(src, k, step), Unit: sr.unit, Tags: []byte(sr.tags), Meta: meta, IngestedAt: ts})
				if len(rows) == batch {
					if err := flush(); err != nil {
						return written, err
					}
				}
			}
		}
	}
	return written, flush()
}

// backtestRules are the rules a backtest benchmark replays: averages,
// a percentile, a rate, for, clear and keep_firing_for, over the
// history's metrics and tags.
const backtestRules = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
  - {name: mem_used_pct, kind: gauge, unit: percent}
  - {name: disk_used_pct, kind: gauge, unit: percent}
  - {name: latency_ms, kind: gauge, unit: ms}
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        clear: avg("cpu_load", "1m") < 85
        for: 30s
      - alert: MemoryPressure
        expr: avg("mem_used_pct", "5m") > 90
        for: 2m
      - alert: RootDiskFull
        expr: max("disk_used_pct{mount=\"/\"}", "5m") > 94
      - alert: DiskFillingUp
        expr: rate("disk_used_pct", "15m") > 0.005 && last("disk_used_pct") > 85
        for: 5m
      - alert: SlowP99
        expr: p99("latency_ms", "5m") > 250 && count("latency_ms", "5m") >= 10
        keep_firing_for: 1m
`

// BacktestRules returns the rule set the backtest benchmark replays.
func BacktestRules() (*rules.RuleSet, error) {
	return rules.Parse("bench-backtest.yml", []byte(backtestRules), rules.Options{})
}

// BacktestRun is one replay of a history.
type BacktestRun struct {
	Wall time.Duration `json:"wall_ns"`
	CPU  time.Duration `json:"cpu_ns"`
	// Engine is the part of Wall spent in the engine (backtest.Run's
	// callback for each signal); the rest went to reading the history.
	Engine time.Duration `json:"engine_ns"`
	// SamplesPerSec is samples over wall time; RealTime is the history's
	// span over wall time: how much faster than live the replay went.
	SamplesPerSec float64 `json:"samples_per_sec"`
	RealTime      float64 `json:"real_time_ratio"`
	// PeakHeapInUse is the most the heap's objects (live or not yet
	// collected, runtime/metrics /memory/classes/heap/objects) weighed at
	// any sample, every 5 ms; PeakHeapLive the most a collection found
	// live (/gc/heap/live); HeapBefore is the live heap before the run.
	PeakHeapInUse int64 `json:"peak_heap_in_use_bytes"`
	PeakHeapLive  int64 `json:"peak_heap_live_bytes"`
	HeapBefore    int64 `json:"heap_before_bytes"`
	GCs           int64 `json:"gc_cycles"`
	backtest.Stats
}

// ReplayHistory runs backtest.Run over q of h with rs once and measures
// it: wall and CPU time and the heap, sampled every 5 ms.
func ReplayHistory(ctx context.Context, h backtest.History, q store.SignalScan, rs *rules.RuleSet) (BacktestRun, error) {
	runtime.GC()
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(heap)
	var run BacktestRun
	run.HeapBefore = int64(heap[1].Value.Uint64())
	gc0 := heap[2].Value.Uint64()
	done := make(chan struct{})
	peaks := make(chan [2]int64, 1)
	go func() {
		var p [2]int64
		s := slices.Clone(heap[:2])
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			p[0], p[1] = max(p[0], int64(s[0].Value.Uint64())), max(p[1], int64(s[1].Value.Uint64()))
			select {
			case <-done:
				peaks <- p
				return
			case <-t.C:
			}
		}
	}()
	th := &timedHistory{h: h}
	start, cpu0 := time.Now(), CPU()
	st, err := backtest.Run(ctx, th, q, backtest.Options{Rules: rs}, func(*rules.Transition) error { return nil })
	run.Engine = th.in
	run.Wall, run.CPU = time.Since(start), CPU()-cpu0
	close(done)
	p := <-peaks
	if err != nil {
		return run, err
	}
	metrics.Read(heap)
	run.PeakHeapInUse, run.PeakHeapLive, run.GCs = p[0], p[1], int64(heap[2].Value.Uint64()-gc0)
	run.Stats = st
	run.SamplesPerSec = float64(st.Samples) / run.Wall.Seconds()
	run.RealTime = float64(q.To.Sub(q.From)) / float64(run.Wall)
	return run, nil
}

// timedHistory adds up the time its callers spend in fn.
type timedHistory struct {
	h  backtest.History
	in time.Duration
}

func (t *timedHistory) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	return t.h.ScanSignals(ctx, q, func(sig *tables.Signal) error {
		start := time.Now()
		err := fn(sig)
		t.in += time.Since(start)
		return err
	})
}

// BacktestResult is what `eventops bench --backtest` reports.
type BacktestResult struct {
	Machine  string `json:"machine"`
	Scenario string `json:"scenario"`
	Samples  int64  `json:"samples"`
	// Span is the event time of the history.
	Span time.Duration `json:"span_ns"`
	// WriteRowsPerSec is how fast the history went into PostgreSQL.
	WriteRowsPerSec float64       `json:"write_rows_per_sec"`
	Runs            []BacktestRun `json:"runs"`
	// Median holds the median of each figure over the runs.
	Median BacktestRun `json:"median"`
}

// Backtest writes a history of o.Backtest's shape to a fresh database,
// then replays it with backtest.Run o.Backtest.Runs times, reading it from
// PostgreSQL with store.ScanSignals, and reports each run and the medians.
func Backtest(ctx context.Context, o Options) (BacktestResult, error) {
	bo := o.Backtest
	if bo.Sources <= 0 || bo.Series <= 0 || bo.Series > len(historySeries) || bo.Samples < int64(bo.Sources*bo.Series) || bo.Interval <= 0 || bo.Runs <= 0 {
		return BacktestResult{}, fmt.Errorf("bench: backtest of %d samples over %d sources × %d series (at most %d) every %s, %d runs",
			bo.Samples, bo.Sources, bo.Series, len(historySeries), bo.Interval, bo.Runs)
	}
	rs, err := BacktestRules()
	if err != nil {
		return BacktestResult{}, err
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return BacktestResult{}, err
	}
	dir, err := os.MkdirTemp(o.DataDir, "bench-")
	if err != nil {
		return BacktestResult{}, err
	}
	e := &env{dir: dir}
	if !o.Keep {
		e.closers = append(e.closers, func() { os.RemoveAll(dir) })
	}
	defer e.close()
	if err := os.Chmod(dir, 0o755); err != nil {
		return BacktestResult{}, err
	}
	if err := e.database(ctx, &o); err != nil {
		return BacktestResult{}, err
	}
	s, err := store.Open(ctx, store.Options{URL: e.dbURL, Logger: o.Logger})
	if err != nil {
		return BacktestResult{}, err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return BacktestResult{}, err
	}
	steps := int((bo.Samples + int64(bo.Sources*bo.Series) - 1) / int64(bo.Sources*bo.Series))
	// A fixed start: the same data, on the same day partitions, each time.
	h := History{Sources: bo.Sources, Series: bo.Series, Steps: steps, Interval: bo.Interval,
		Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	res := BacktestResult{Machine: Machine(), Samples: h.Samples(), Span: h.Span(),
		Scenario: fmt.Sprintf("%d samples: %d sources × %d series × %d samples, one every %s (%s of event time); %d rules; %d runs",
			h.Samples(), h.Sources, h.Series, h.Steps, h.Interval, h.Span(), countRules(rs), bo.Runs)}
	o.say("writing %d samples to PostgreSQL", h.Samples())
	start := time.Now()
	n, err := WriteHistory(ctx, s, h, 20_000)
	if err != nil {
		return res, err
	}
	res.WriteRowsPerSec = float64(n) / time.Since(start).Seconds()
	// The planner's statistics, as autovacuum would have them, before any
	// run rather than during one.
	if _, err := s.Pool().Exec(ctx, "VACUUM ANALYZE metrics"); err != nil {
		return res, err
	}
	for i := range bo.Runs {
		o.say("backtest run %d of %d", i+1, bo.Runs)
		run, err := ReplayHistory(ctx, s, h.Scan(), rs)
		if err != nil {
			return res, err
		}
		if run.Samples != h.Samples() {
			return res, fmt.Errorf("bench: the backtest read %d samples of %d", run.Samples, h.Samples())
		}
		res.Runs = append(res.Runs, run)
	}
	res.Median = medianRun(res.Runs)
	return res, nil
}

func countRules(rs *rules.RuleSet) int {
	n := 0
	for range rs.Rules() {
		n++
	}
	return n
}

// medianRun takes the median of each figure of runs.
func medianRun(runs []BacktestRun) BacktestRun {
	med := func(f func(r *BacktestRun) float64) float64 {
		v := make([]float64, len(runs))
		for i := range runs {
			v[i] = f(&runs[i])
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m := runs[len(runs)/2] // the counts are the same in every run
	m.Wall = time.Duration(med(func(r *BacktestRun) float64 { return float64(r.Wall) }))
	m.CPU = time.Duration(med(func(r *BacktestRun) float64 { return float64(r.CPU) }))
	m.Engine = time.Duration(med(func(r *BacktestRun) float64 { return float64(r.Engine) }))
	m.SamplesPerSec = med(func(r *BacktestRun) float64 { return r.SamplesPerSec })
	m.RealTime = med(func(r *BacktestRun) float64 { return r.RealTime })
	m.PeakHeapInUse = int64(med(func(r *BacktestRun) float64 { return float64(r.PeakHeapInUse) }))
	m.PeakHeapLive = int64(med(func(r *BacktestRun) float64 { return float64(r.PeakHeapLive) }))
	m.HeapBefore = int64(med(func(r *BacktestRun) float64 { return float64(r.HeapBefore) }))
	m.GCs = int64(med(func(r *BacktestRun) float64 { return float64(r.GCs) }))
	return m
}
