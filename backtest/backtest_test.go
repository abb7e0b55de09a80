package backtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/backtest"
	"github.com/eventops/eventops/engine"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

func TestRunStops(t *testing.T) {
	rs := identityRuleSet(t)
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	h := genSources(rand.New(rand.NewPCG(1, 7)), start, 40*time.Minute, false)
	q := store.SignalScan{From: start, To: start.Add(time.Hour)}

	if _, err := backtest.Run(context.Background(), h, q, backtest.Options{}, nil); !errors.Is(err, backtest.ErrNoRules) {
		t.Errorf("without rules: %v, want ErrNoRules", err)
	}

	// emit's first error ends the run: the signal it came in is the last
	// one read.
	stop := errors.New("enough")
	hc := &counting{h: h}
	emitted, readAtStop := 0, 0
	st, err := backtest.Run(context.Background(), hc, q, backtest.Options{Rules: rs}, func(*rules.Transition) error {
		emitted++
		if emitted == 3 {
			readAtStop = hc.read
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || emitted != 3 || hc.read != readAtStop || st.Signals != int64(readAtStop) {
		t.Errorf("emit failing at the 3rd transition (signal %d): err %v, %d emitted, %d signals read, %d counted",
			readAtStop, err, emitted, hc.read, st.Signals)
	}

	// A cancelled context ends the run with its error, even from a
	// History that does not look at it.
	ctx, cancel := context.WithCancel(context.Background())
	hc = &counting{h: h}
	emitted, readAtStop = 0, 0
	_, err = backtest.Run(ctx, hc, q, backtest.Options{Rules: rs}, func(*rules.Transition) error {
		if emitted++; emitted == 2 {
			readAtStop = hc.read
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || hc.read != readAtStop+1 {
		t.Errorf("cancelled at the 2nd transition (signal %d): err %v, %d signals read", readAtStop, err, hc.read)
	}
}

// counting is a History that counts the signals it hands out and does not
// look at its context.
type counting struct {
	h    history
	read int
}

func (c *counting) ScanSignals(_ context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	return c.h.ScanSignals(context.Background(), q, func(s *tables.Signal) error {
		c.read++
		return fn(s)
	})
}

// TestRunRefusesAsLive: what the windows refuse live (a value that is not
// a number, a series beyond max_series_per_source) is refused in a
// backtest and counted by reason.
func TestRunRefusesAsLive(t *testing.T) {
	rs := identityRuleSet(t)
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	at := func(s int64, metric string, v float64, mount string) *tables.Signal {
		sm := tables.Sample{Metric: metric, Value: v, TsMicro: start.Add(time.Duration(s) * time.Second).UnixMicro()}
		if mount != "" {
			sm.Tags = tables.TagsFromMap(map[string]string{"mount": mount})
		}
		return &tables.Signal{Tenant: "acme", Host: "a", Samples: []tables.Sample{sm}}
	}
	nan := 0.0
	h := history{at(0, "cpu", 50, ""), at(1, "disk", 50, "/"), at(2, "disk", 50, "/data"), at(3, "cpu", nan/nan, "")}
	st, err := backtest.Run(context.Background(), h, store.SignalScan{From: start, To: start.Add(time.Minute)},
		backtest.Options{Rules: rs, MaxSeries: 2}, func(*rules.Transition) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Refused[engine.ReasonSeriesLimit] != 1 || st.Refused["invalid"] != 1 || len(st.Refused) != 2 || st.Samples != 4 {
		t.Errorf("stats %+v, want one series_limit and one invalid of 4 samples", st)
	}
}

// TestLateSampleIsReplayedAsLive: samples of a metric a rule reads that
// arrive after newer ones of their source, one within the lateness bound
// (folded in) and one beyond it (refused), are applied by a backtest in
// the order they arrived, at the source's clock, as live applied them: the
// same transitions, and the same sample refused. (In event-time order,
// the sample at 100 s would fire the alert at 100 s and resolve it at
// 110 s, and the one at 60 s would be applied.)
func TestLateSampleIsReplayedAsLive(t *testing.T) {
	rs, err := rules.Parse("late.yml", []byte(`
metrics: [{name: cpu, kind: gauge, lateness: 30s}]
groups:
  - name: host
    rules:
      - {alert: HighCPU, expr: 'last("cpu") > 90'}
      - {alert: CPUMax, expr: 'max("cpu", "5m") > 97'}
`), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	sig := func(s int64, v float64) *tables.Signal {
		return &tables.Signal{Tenant: "acme", Host: "a", Samples: []tables.Sample{
			{Metric: "cpu", Value: v, TsMicro: start.Add(time.Duration(s) * time.Second).UnixMicro()}}}
	}
	// Arrival order: 110 s, then 100 s (10 s late), then 60 s (50 s late,
	// beyond the bound), then 130 s.
	arrived := history{sig(110, 50), sig(100, 95), sig(60, 99), sig(130, 40)}

	var lv []*rules.Transition
	refused := map[string]int64{}
	src := engine.New("acme", "a", &tables.SourceState{Offset: -1}, engine.Options{Hooks: engine.Hooks{
		Transition: func(tr *rules.Transition) { lv = append(lv, tr) },
		Refused:    func(_ *tables.Signal, _ *tables.Sample, reason, _ string) { refused[reason]++ },
	}})
	r := engine.NewRules(rs)
	for i, s := range arrived {
		wall := start.Add(131*time.Second + time.Duration(i)*time.Second).UnixMilli()
		c := *s
		c.IngestMicro = wall * 1000
		src.Apply(r, &c, wall, wall)
	}
	bt, st := replay(t, rs, arrived, store.SignalScan{From: start, To: start.Add(time.Hour)})
	if len(lv) != 0 || refused[features.ReasonTooLate] != 1 {
		t.Fatalf("live: last(cpu) was at most 50 at every evaluation and the sample at 60 s too late, yet %d transitions, refused %v", len(lv), refused)
	}
	if trs := bt["acme/a"]; len(trs) != 0 {
		t.Errorf("backtest: want no transition, as live, got %d: %v", len(trs), trs)
	}
	if !maps.Equal(st.Refused, refused) {
		t.Errorf("backtest refused %v, live %v", st.Refused, refused)
	}
}

// BenchmarkRun replays the random streams of the identity test (three
// sources, six hours) and reports the samples replayed per second.
func BenchmarkRun(b *testing.B) {
	rs := identityRuleSet(b)
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	h := genSources(rand.New(rand.NewPCG(3, 7)), start, 6*time.Hour, false)
	q := store.SignalScan{From: start, To: start.Add(7 * time.Hour)}
	var samples int64
	b.ReportAllocs()
	for b.Loop() {
		st, err := backtest.Run(context.Background(), h, q, backtest.Options{Rules: rs}, func(*rules.Transition) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		samples += st.Samples
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
}

// TestLeadIn: a backtest of a range that starts mid-history applies the
// lead-in before it, so its windows hold at the range's start what they
// held live, and emits only the transitions decided in the range: those of
// a backtest over the whole history from the range's start on, episode IDs
// included. Without a lead-in, the windows start empty at From and the
// alert fires earlier, or again.
func TestLeadIn(t *testing.T) {
	rs, err := rules.Parse("leadin.yml", []byte(`
metrics: [{name: cpu, kind: gauge}]
groups:
  - name: host
    rules:
      - {alert: BusyCPU, expr: 'avg("cpu", "5m") > 30'}
`), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	from := start.Add(30 * time.Minute)
	to := from.Add(20 * time.Minute)
	// CPU every 10 s, at 100 for the minutes in high (relative to from),
	// 0 otherwise.
	stream := func(high ...[2]time.Duration) history {
		var h history
		for at := start; at.Before(to); at = at.Add(10 * time.Second) {
			v := 0.0
			for _, hi := range high {
				if d := at.Sub(from); d >= hi[0] && d < hi[1] {
					v = 100
				}
			}
			h = append(h, &tables.Signal{Tenant: "acme", Host: "a", Samples: []tables.Sample{
				{Metric: "cpu", Value: v, TsMicro: at.UnixMicro()}}})
		}
		return h
	}
	run := func(h history, from time.Time, leadIn time.Duration) []string {
		t.Helper()
		var out []string
		_, err := backtest.Run(context.Background(), h, store.SignalScan{From: from, To: to},
			backtest.Options{Rules: rs, LeadIn: leadIn}, func(tr *rules.Transition) error {
				out = append(out, same(tr))
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct {
		name   string
		high   [][2]time.Duration
		leadIn time.Duration
	}{
		// High from 1 to 3 min after from: the default lead-in (the
		// 5 min window) fills the window at from with zeros.
		{"default", [][2]time.Duration{{time.Minute, 3 * time.Minute}}, 0},
		// High from 2 min before from: the alert fires in the lead-in
		// (not emitted) and resolves in the range, in the episode live
		// had (10 min: windows full before it fires).
		{"firing at from", [][2]time.Duration{{-2 * time.Minute, time.Minute}}, 10 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := stream(c.high...)
			whole := run(h, start, -1)
			want := atOrAfter(t, whole, from)
			if len(want) == 0 || len(want) == len(whole) && c.high[0][0] < 0 {
				t.Fatalf("the whole history gives %d transitions, %d from %s", len(whole), len(want), from)
			}
			if got := run(h, from, c.leadIn); !slices.Equal(got, want) {
				t.Errorf("with a lead-in:\n got %v\nwant %v", got, want)
			}
			if got := run(h, from, -1); slices.Equal(got, want) {
				t.Errorf("without a lead-in, the same transitions: %v", got)
			}
		})
	}
}

// atOrAfter keeps the transitions (as same gives them) decided at or after
// from.
func atOrAfter(t *testing.T, trs []string, from time.Time) []string {
	t.Helper()
	var out []string
	for _, s := range trs {
		var tr rules.Transition
		if err := json.Unmarshal([]byte(s), &tr); err != nil {
			t.Fatal(err)
		}
		if !tr.At.Time().Before(from) {
			out = append(out, s)
		}
	}
	return out
}
