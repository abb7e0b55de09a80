package engine_test

import (
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/engine"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// Warmed history fills the windows and nothing else: no rule evaluates, no
// transition, no refusal, the clock does not move; once the clock starts
// at the first live signal's, that signal evaluates the rules once, on the
// full windows. Reconfigure then resets only the series whose layout a
// reload changed, and keeps the others.
func TestWarmFillsWindowsOnly(t *testing.T) {
	parse := func(kind string) *engine.Rules {
		rs, err := rules.Parse("r.yml", []byte(`
metrics: [{name: cpu, kind: `+kind+`}, {name: mem, kind: gauge}]
groups: [{name: g, rules: [{alert: HotHour, expr: 'avg("cpu", "1h") > 50'}]}]
`), rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return engine.NewRules(rs)
	}
	r := parse("gauge")
	var fired []*rules.Transition
	refused := 0
	src := engine.New("acme", "a", &tables.SourceState{Offset: -1}, engine.Options{Hooks: engine.Hooks{
		Transition: func(tr *rules.Transition) { fired = append(fired, tr) },
		Refused:    func(*tables.Signal, *tables.Sample, string, string) { refused++ },
	}})
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixMilli()
	sample := func(metric string, ts int64, v float64) *tables.Signal {
		return &tables.Signal{Tenant: "acme", Host: "a", Samples: []tables.Sample{{Metric: metric, Value: v, TsMicro: ts * 1000}}}
	}
	if span := r.WarmSpan("cpu"); span != time.Hour {
		t.Fatalf("WarmSpan %s, want the longest window", span)
	}
	n := 0
	for m := int64(59); m >= 1; m-- {
		n += src.Warm(r, sample("cpu", t0-m*60_000, 100), true, nil)
		n += src.Warm(r, sample("mem", t0-m*60_000, 1), true, nil)
	}
	// A resent time and a sample too late for its window are left out.
	n += src.Warm(r, sample("cpu", t0-60_000, 100), true, nil)
	n += src.Warm(r, sample("cpu", t0-3*3_600_000, 100), true, nil)
	if n != 118 || len(fired) != 0 || refused != 0 || src.State.EventMilli != 0 || src.State.ArrivalMilli != 0 {
		t.Fatalf("warm: %d folded in, %d transitions, %d refused, clock %d", n, len(fired), refused, src.State.EventMilli)
	}
	live := sample("cpu", t0, 100)
	src.StartClock(src.SignalClock(r, live, t0), t0)
	src.Apply(r, live, t0, t0)
	if len(fired) != 1 || fired[0].State != "firing" || int64(fired[0].At) != t0 {
		t.Fatalf("transitions %v, want one firing at the live signal's time", fired)
	}
	if w, _ := src.State.Metric("cpu").Series.Window(time.Hour); w.Count != 60 {
		t.Fatalf("cpu's 1h window %+v", w)
	}

	counter := parse("counter")
	if reset := src.Reconfigure(counter); !slices.Equal(reset, []string{"cpu"}) {
		t.Fatalf("reset %v, want cpu", reset)
	}
	cpu, mem := src.State.Metric("cpu").Series, src.State.Metric("mem").Series
	if w, _ := cpu.Window(time.Hour); !cpu.Config().Counter || w.Count != 0 {
		t.Fatalf("cpu after the reload: counter %v, %+v", cpu.Config().Counter, w)
	}
	if w, _ := mem.Window(time.Hour); w.Count != 59 {
		t.Fatalf("mem after the reload %+v", w)
	}
	if src.Feats.Get("cpu", nil) != cpu {
		t.Fatal("the rules read the series that was replaced")
	}
	if reset := src.Reconfigure(counter); len(reset) != 0 {
		t.Fatalf("a second Reconfigure reset %v", reset)
	}
}
