package bench_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/bench"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
)

// liveHeapProbe is a History that collects garbage every `every` signals
// it hands out and keeps the most the heap held live then: the peak live
// heap of a replay, measured at set points of the run, without timing.
type liveHeapProbe struct {
	h     backtest.History
	every int
	peak  uint64
}

func (p *liveHeapProbe) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	n := 0
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	return p.h.ScanSignals(ctx, q, func(sig *tables.Signal) error {
		if n++; n%p.every == 0 {
			runtime.GC()
			metrics.Read(live)
			p.peak = max(p.peak, live[0].Value.Uint64())
		}
		return fn(sig)
	})
}

// inMemory is a History that reads its whole range before it hands out
// the first signal: what ScanSignals must not do.
type inMemory struct{ h backtest.History }

func (m inMemory) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	var all []*tables.Signal
	if err := m.h.ScanSignals(ctx, q, func(sig *tables.Signal) error {
		all = append(all, sig)
		return nil
	}); err != nil {
		return err
	}
	for _, sig := range all {
		if err := fn(sig); err != nil {
			return err
		}
	}
	return nil
}

// A backtest's memory does not grow with the history it replays: over 8
// times as many samples of the same sources and series, the peak live
// heap stays within a margin, where a History that reads the range into
// memory first grows by the samples it holds.
func TestBacktestMemoryDoesNotGrowWithHistory(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: storetest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := bench.BacktestRules()
	if err != nil {
		t.Fatal(err)
	}
	large := bench.History{Sources: 20, Series: 5, Steps: 4000, Interval: 10 * time.Second,
		Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	small := large
	small.Steps = 500 // the same sources and series, the first eighth of the time
	start := time.Now()
	if n, err := bench.WriteHistory(ctx, s, large, 20_000); err != nil || n != large.Samples() {
		t.Fatalf("wrote %d rows: %v", n, err)
	}
	t.Logf("written in %s", time.Since(start))
	peak := func(h backtest.History, hist bench.History) uint64 {
		t.Helper()
		// 40 measures per replay, whatever its length.
		p := &liveHeapProbe{h: h, every: hist.Sources * hist.Steps / 40}
		defer func(start time.Time) { t.Logf("replayed in %s", time.Since(start)) }(time.Now())
		st, err := backtest.Run(ctx, p, hist.Scan(), backtest.Options{Rules: rs}, func(*rules.Transition) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if st.Samples != hist.Samples() || st.Transitions == 0 {
			t.Fatalf("replayed %d samples of %d, %d transitions", st.Samples, hist.Samples(), st.Transitions)
		}
		return p.peak
	}
	const mib = 1 << 20
	smallPeak, largePeak := peak(s, small), peak(s, large)
	t.Logf("peak live heap: %.1f MiB over %d samples, %.1f MiB over %d", float64(smallPeak)/mib, small.Samples(),
		float64(largePeak)/mib, large.Samples())
	// The margin: a tenth, and 1 MiB for what the runtime and the pool
	// keep beside the replay.
	if margin := smallPeak/10 + mib; largePeak > smallPeak+margin {
		t.Errorf("the peak live heap grew from %.1f MiB to %.1f MiB with the history", float64(smallPeak)/mib, float64(largePeak)/mib)
	}

	// The measurement sees a replay that holds its history: 350,000 more
	// samples in memory weigh far more than the margin.
	smallAll, largeAll := peak(inMemory{s}, small), peak(inMemory{s}, large)
	t.Logf("reading the range first: %.1f MiB, then %.1f MiB", float64(smallAll)/mib, float64(largeAll)/mib)
	if largeAll < smallAll+10*(smallPeak/10+mib) {
		t.Errorf("a replay holding its history: %.1f MiB, then %.1f MiB", float64(smallAll)/mib, float64(largeAll)/mib)
	}
}
