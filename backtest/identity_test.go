package backtest_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
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

// identityRules exercise for, clear, keep_firing_for, tags (a rule per
// series and a selector), seconds_since_last and a join of two metrics.
const identityRules = `
metrics:
  - {name: cpu, kind: gauge, lateness: 30s}
  - {name: disk, kind: gauge, lateness: 30s}
  - {name: mem, kind: gauge, lateness: 30s}
  - {name: net, kind: gauge, lateness: 30s}
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu", "1m") > 80
        clear: avg("cpu", "1m") < 60
        for: 30s
        keep_firing_for: 20s
      - alert: DiskFull
        expr: last("disk") > 90
        for: 15s
      - alert: RootDiskFull
        expr: max("disk{mount=\"/\"}", "1m") > 95
      - alert: CPUSilent
        expr: seconds_since_last("cpu") > 45
      - alert: MemAndCPU
        expr: avg("mem", "1m") > 70 && last("cpu") > 50
        for: 20s
`

// staleAfter is short, so that series leave their sources within a run.
const staleAfter = 5 * time.Minute

func identityRuleSet(t testing.TB) *rules.RuleSet {
	t.Helper()
	rs, err := rules.Parse("identity.yml", []byte(identityRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// history is a History over signals in memory, in the order they arrived,
// as the store keeps them: read by tenant and host, each source's signals
// in the order they arrived, without a receive time.
type history []*tables.Signal

func (h history) ScanSignals(ctx context.Context, q store.SignalScan, fn func(*tables.Signal) error) error {
	sorted := slices.Clone(h)
	slices.SortStableFunc(sorted, func(a, b *tables.Signal) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Host, b.Host))
	})
	for _, s := range sorted {
		ts := time.UnixMicro(s.Samples[0].TsMicro)
		if q.Tenant != "" && s.Tenant != q.Tenant || q.Host != "" && s.Host != q.Host ||
			ts.Before(q.From) || !ts.Before(q.To) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		c := *s
		c.IngestMicro, c.Origin = 0, tables.Origin{}
		if err := fn(&c); err != nil {
			return err
		}
	}
	return nil
}

// genSources makes a random stream of a few sources: samples every few
// seconds with silences (for no-data and keep_firing_for), CPU and disk
// values that switch between calm and alarming regimes, a mount that stops
// reporting (it goes stale), and memory now and then; with net, a sample
// of a metric no rule reads 1 ms after each. Each source's signals are in
// event-time order, one per event time.
func genSources(rng *rand.Rand, start time.Time, span time.Duration, net bool) history {
	var h history
	for _, src := range [][2]string{{"acme", "a"}, {"acme", "b"}, {"beta", "c"}} {
		t := start.UnixMilli() + rng.Int64N(5000)
		end := start.Add(span).UnixMilli()
		cpuHigh, diskHigh := false, false
		dataStops := t + rng.Int64N(span.Milliseconds())
		for t < end {
			var sm []tables.Sample
			add := func(metric string, v float64, tags map[string]string) {
				sm = append(sm, tables.Sample{Metric: metric, Value: v, TsMicro: t * 1000, Tags: tables.TagsFromMap(tags)})
			}
			if rng.IntN(10) == 0 {
				cpuHigh = !cpuHigh
			}
			if rng.IntN(12) == 0 {
				diskHigh = !diskHigh
			}
			if rng.IntN(5) != 0 {
				v := 20 + rng.Float64()*50
				if cpuHigh {
					v = 75 + rng.Float64()*25
				}
				add("cpu", v, nil)
			}
			if rng.IntN(3) == 0 {
				v := 70 + rng.Float64()*20
				if diskHigh {
					v = 88 + rng.Float64()*12
				}
				add("disk", v, map[string]string{"mount": "/"})
				if t < dataStops {
					add("disk", v-5+rng.Float64()*10, map[string]string{"mount": "/data"})
				}
			}
			if rng.IntN(4) == 0 {
				add("mem", 50+rng.Float64()*40, nil)
			}
			if len(sm) > 0 {
				h = append(h, &tables.Signal{Tenant: src[0], Host: src[1], Samples: sm})
			}
			if net {
				h = append(h, &tables.Signal{Tenant: src[0], Host: src[1], Samples: []tables.Sample{
					{Metric: "net", Value: rng.Float64(), TsMicro: (t + 1) * 1000}}})
			}
			switch rng.IntN(25) {
			case 0:
				t += 50_000 + rng.Int64N(150_000) // silent
			default:
				t += 1000 + rng.Int64N(14_000)
			}
		}
	}
	return h
}

// liveSource is one source as its actor holds it: the engine's step, the
// wall time of the step in progress and the wall time its rule timer is
// armed for.
type liveSource struct {
	eng   *engine.Source
	wall  int64
	timer int64
	armed bool
}

// tick is the rule timer firing at wall time w.
func (l *liveSource) tick(r *engine.Rules, w int64) {
	l.wall = w
	l.eng.CatchUp(r, l.eng.Clock(w))
}

// arrival is a signal arriving at wall time wall.
type arrival struct {
	wall int64
	sig  *tables.Signal
}

// arrive says when the signals of h arrive, in the order they arrive:
// each delay after its event time (a delay of its own per source, so the
// stream as a whole is not in event-time order), the delay of each source
// by source key in delay. With late, samples arrive out of order: those
// of net up to 20 s later still (within their lateness bound, 30 s), and
// now and then a sample of a metric a rule reads is held back and arrives
// right after a later signal of its source, 1 to 50 s of event time
// later: within the bound or beyond it (then refused, live and in a
// backtest). A sample held back always arrives after a newer one of its
// source, so that it never moves its source's clock: one that arrived
// late while its source was silent would meet timers that ran on by wall
// time, which a backtest cannot know (see the package doc).
func arrive(rng *rand.Rand, h history, late bool) (arrivals []arrival, delay map[string]int64) {
	delay = map[string]int64{}
	type heldBack struct {
		by  int64 // how much event time late it arrives
		sig *tables.Signal
	}
	var held []heldBack
	// The indexes in arrivals of each source's signals that arrive in
	// order (a late net may arrive while its source is silent).
	bySource := map[string][]int{}
	for _, s := range h {
		d, ok := delay[s.Key()]
		if !ok {
			d = rng.Int64N(20_000)
			delay[s.Key()] = d
		}
		if s.Samples[0].Metric == "net" {
			if late {
				d += rng.Int64N(20_000)
			}
		} else if late && rng.IntN(6) == 0 {
			// One sample of the signal held back: its event time, and by
			// how much event time it is late.
			c := *s
			c.Samples = slices.Clone(s.Samples)
			i := rng.IntN(len(c.Samples))
			held = append(held, heldBack{1_000 + rng.Int64N(50_000), &tables.Signal{Tenant: s.Tenant, Host: s.Host,
				Samples: []tables.Sample{c.Samples[i]}}})
			c.Samples = slices.Delete(c.Samples, i, i+1)
			if len(c.Samples) == 0 {
				continue
			}
			s = &c
		}
		if s.Samples[0].Metric != "net" {
			bySource[s.Key()] = append(bySource[s.Key()], len(arrivals))
		}
		arrivals = append(arrivals, arrival{s.Samples[0].TsMicro/1000 + d, s})
	}
	for _, hb := range held {
		// Right after the first signal of its source hb.by newer (at its
		// wall time; the sort is stable), or in order if there is none.
		ts := hb.sig.Samples[0].TsMicro / 1000
		a := arrival{ts + delay[hb.sig.Key()], hb.sig}
		for _, i := range bySource[hb.sig.Key()] {
			if arrivals[i].sig.Samples[0].TsMicro/1000 >= ts+hb.by {
				a.wall = arrivals[i].wall
				break
			}
		}
		arrivals = append(arrivals, a)
	}
	slices.SortStableFunc(arrivals, func(a, b arrival) int { return cmp.Compare(a.wall, b.wall) })
	return arrivals, delay
}

// live drives one engine.Source per source as the source actors do: each
// signal arrives at its wall time (see arrive), which is also its receive
// time; a rule timer fires at the wall time of the deadline the last step
// armed, and further timers fire at random wall times in between; at the
// end the sources' clocks run to until (delay is each source's delay). It
// returns the transitions by source and the samples refused by reason.
func live(t *testing.T, rng *rand.Rand, rs *rules.RuleSet, arrivals []arrival, delay map[string]int64, until int64) (map[string][]*rules.Transition, map[string]int64) {
	t.Helper()
	r := engine.NewRules(rs)
	refused := map[string]int64{}
	out := map[string][]*rules.Transition{}
	srcs := map[string]*liveSource{}
	var keys []string
	source := func(sig *tables.Signal) *liveSource {
		key := sig.Key()
		if l := srcs[key]; l != nil {
			return l
		}
		l := &liveSource{}
		l.eng = engine.New(sig.Tenant, sig.Host, &tables.SourceState{Offset: -1}, engine.Options{SeriesStaleAfter: staleAfter,
			Hooks: engine.Hooks{
				Transition: func(tr *rules.Transition) { out[key] = append(out[key], tr) },
				Stepped: func(st engine.Step) {
					// As armRules: no deadline stops the timer, an
					// earlier one re-arms it.
					if !st.Due {
						l.armed = false
						return
					}
					if at := l.wall + max(0, st.Next-st.At); !l.armed || at < l.timer {
						l.timer, l.armed = at, true
					}
				},
				Refused: func(_ *tables.Signal, _ *tables.Sample, reason, _ string) { refused[reason]++ },
			}})
		srcs[key], keys = l, append(keys, key)
		return l
	}
	// fireUntil runs the rule timers due before wall time w, in wall order.
	fireUntil := func(w int64) {
		for {
			var next *liveSource
			for _, k := range keys {
				if l := srcs[k]; l.armed && l.timer < w && (next == nil || l.timer < next.timer) {
					next = l
				}
			}
			if next == nil {
				return
			}
			next.armed = false
			next.tick(r, next.timer)
		}
	}
	prev := int64(0)
	for _, a := range arrivals {
		if prev > 0 && rng.IntN(3) == 0 {
			// Timers at arbitrary wall times (a reload, a wake-up).
			for range 1 + rng.IntN(3) {
				w := prev + rng.Int64N(a.wall-prev+1)
				fireUntil(w)
				srcs[keys[rng.IntN(len(keys))]].tick(r, w)
			}
		}
		fireUntil(a.wall)
		l := source(a.sig)
		sig := *a.sig
		sig.IngestMicro = a.wall * 1000
		l.wall = a.wall
		l.eng.Apply(r, &sig, a.wall, a.wall)
		prev = a.wall
	}
	// The clocks run on to until while every source is silent.
	for _, k := range keys {
		l, end := srcs[k], until+delay[k]
		for l.armed && l.timer < end {
			l.armed = false
			l.tick(r, l.timer)
		}
		l.tick(r, end)
	}
	return out, refused
}

// replay runs the backtest over h and returns its transitions by source.
func replay(t *testing.T, rs *rules.RuleSet, h history, q store.SignalScan) (map[string][]*rules.Transition, backtest.Stats) {
	t.Helper()
	out := map[string][]*rules.Transition{}
	st, err := backtest.Run(context.Background(), h, q, backtest.Options{Rules: rs, SeriesStaleAfter: staleAfter},
		func(tr *rules.Transition) error {
			k := tables.SourceKey(tr.Tenant, tr.Host)
			out[k] = append(out[k], tr)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

// same is what a transition says, all but its explanation (whose samples
// carry their origins live and none in a backtest).
func same(tr *rules.Transition) string {
	c := *tr
	c.Explanation = nil
	b, _ := json.Marshal(c)
	return string(b)
}

func compareTransitions(t *testing.T, want, got map[string][]*rules.Transition) {
	t.Helper()
	for key := range mergeKeys(want, got) {
		w, g := want[key], got[key]
		for i := range max(len(w), len(g)) {
			switch {
			case i >= len(w):
				t.Errorf("%s: the backtest has more transitions than live, from #%d: %s", key, i, same(g[i]))
			case i >= len(g):
				t.Errorf("%s: live has more transitions than the backtest, from #%d: %s", key, i, same(w[i]))
			case same(w[i]) != same(g[i]):
				t.Errorf("%s: transition #%d differs:\n live     %s\n backtest %s", key, i, same(w[i]), same(g[i]))
			default:
				continue
			}
			break
		}
	}
}

func mergeKeys[V any](ms ...map[string]V) map[string]bool {
	keys := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			keys[k] = true
		}
	}
	return keys
}

// TestBacktestIsTheLiveEngine is the identity property: random streams of
// a few sources, each in event-time order but the stream as a whole not
// (every source arrives with a delay of its own), driven through the
// engine as the actors drive it, with timers firing at their deadlines and
// at random wall times, give exactly the transitions (rule, series labels,
// state, episode ID, times, value, features) a backtest of the same
// samples gives.
//
// With late samples, samples arrive out of order (see arrive): those of a
// metric no rule reads up to 20 s late, those of the metrics the rules
// read up to 50 s of event time late, within the lateness bound (30 s) or
// beyond it. The backtest applies each source's samples in the order they
// arrived, as live did: it folds a late sample in at the source's clock
// and refuses those live refused, and the transitions are the same.
// (Applied in event-time order instead, they are not.)
func TestBacktestIsTheLiveEngine(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(map[bool]string{false: "in order", true: "late samples"}[late], func(t *testing.T) { identity(t, late) })
	}
}

func identity(t *testing.T, late bool) {
	rs := identityRuleSet(t)
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	span := 40 * time.Minute
	states := map[string]int{}
	tooLate := int64(0)
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			arrivals, delay := arrive(rng, genSources(rng, start, span, late), late)
			h := make(history, len(arrivals))
			for i, a := range arrivals {
				h[i] = a.sig
			}
			q := store.SignalScan{From: start, To: start.Add(span + 10*time.Minute)}
			want, refused := live(t, rng, rs, arrivals, delay, q.To.UnixMilli())
			got, stats := replay(t, rs, h, q)
			compareTransitions(t, want, got)
			samples := 0
			for _, s := range h {
				samples += len(s.Samples)
			}
			if stats.Sources != 3 || stats.Signals != int64(len(h)) || stats.Samples != int64(samples) {
				t.Errorf("stats %+v, want 3 sources, %d signals, %d samples", stats, len(h), samples)
			}
			if !maps.Equal(stats.Refused, refused) && (len(stats.Refused) > 0 || len(refused) > 0) {
				t.Errorf("the backtest refused %v, live %v", stats.Refused, refused)
			}
			tooLate += refused[features.ReasonTooLate]
			for _, trs := range got {
				if int64(len(trs)) > stats.Transitions {
					t.Errorf("stats count %d transitions, a source alone has %d", stats.Transitions, len(trs))
				}
				for _, tr := range trs {
					states[tr.AlertName+" "+tr.State+" "+tr.Reason]++
				}
			}
		})
	}
	if late != (tooLate > 0) {
		t.Errorf("live refused %d samples as too late", tooLate)
	}
	// The streams reach every rule and every way an alert ends.
	for _, k := range append([]string{"DiskFull resolved series_gone"}, "HighCPU pending ", "HighCPU firing ", "HighCPU resolved ", "HighCPU inactive ",
		"DiskFull firing ", "DiskFull resolved ", "RootDiskFull firing ", "CPUSilent firing ",
		"CPUSilent resolved ", "MemAndCPU firing ") {
		if states[k] == 0 {
			t.Errorf("no transition %q in any stream: %v", k, states)
		}
	}
}
