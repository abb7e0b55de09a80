package engine_test

import (
	"testing"
	"time"

	"github.com/eventops/eventops/engine"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// TestReceiveTimeBoundsTheFuture: a sample ahead of its record's receive
// time by more than the bound is refused as future and moves nothing; one
// whose receive time is unknown (a backtest's) has no such bound, and the
// source's clock follows it.
func TestReceiveTimeBoundsTheFuture(t *testing.T) {
	rs, err := rules.Parse("r.yml", []byte(`
metrics: [{name: cpu, kind: gauge, lateness: 40s}]
groups: [{name: g, rules: [{alert: High, expr: 'last("cpu") > 90'}]}]
`), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := engine.NewRules(rs)
	type refusal struct{ reason, text string }
	var refused []refusal
	var fired []*rules.Transition
	src := engine.New("acme", "a", &tables.SourceState{Offset: -1}, engine.Options{Hooks: engine.Hooks{
		Refused: func(_ *tables.Signal, _ *tables.Sample, reason, text string) {
			refused = append(refused, refusal{reason, text})
		},
		Transition: func(tr *rules.Transition) { fired = append(fired, tr) },
	}})
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixMilli()
	sig := func(ts int64) *tables.Signal {
		return &tables.Signal{Tenant: "acme", Host: "a", Samples: []tables.Sample{{Metric: "cpu", Value: 95, TsMicro: ts * 1000}}}
	}

	// 21 s ahead: beyond half the lateness (20 s), under max_future.
	src.Apply(r, sig(t0+21_000), t0, t0)
	want := refusal{engine.ReasonFuture, "event time is 21s ahead of the record's receive time (at most 20s)"}
	if len(refused) != 1 || refused[0] != want || len(fired) != 0 || src.State.EventMilli != 0 {
		t.Fatalf("refused %v, %d transitions, clock %d: want %v and nothing else", refused, len(fired), src.State.EventMilli, want)
	}
	// 20 s ahead is folded in, and the clock stops at the receive time.
	src.Apply(r, sig(t0+20_000), t0, t0)
	if len(refused) != 1 || len(fired) != 1 || src.State.EventMilli != t0 || int64(fired[0].At) != t0 {
		t.Fatalf("20 s ahead: refused %v, transitions %d, clock %d, want applied and evaluated at the receive time %d",
			refused, len(fired), src.State.EventMilli, t0)
	}
	// Without a receive time an hour ahead is applied, at its own time.
	src.Apply(r, sig(t0+time.Hour.Milliseconds()), 0, t0)
	if len(refused) != 1 || src.State.EventMilli != t0+time.Hour.Milliseconds() {
		t.Fatalf("without a receive time: refused %v, clock %d", refused, src.State.EventMilli)
	}
	if got := src.Clock(t0 + 5000); got != t0+time.Hour.Milliseconds()+5000 {
		t.Errorf("Clock 5 s after the last arrival: %d, want the newest event time and 5 s", got)
	}
}
