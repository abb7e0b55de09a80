package rules

import (
	"sync"
	"testing"
	"time"

	"github.com/eventops/eventops/features"
)

const reloadBase = `
metrics: [{name: cpu_load}, {name: mem}]
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        for: 5m
      - alert: HighMem
        expr: last("mem") > 90
        for: 5m
`

// TestAdvanceHotReload: a reload keeps the state of unchanged rules (a pending
// alert keeps its pending-since) and ends the alerts of changed ones.
func TestAdvanceHotReload(t *testing.T) {
	rs1, err := Parse("r.yml", []byte(reloadBase), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cpuSeries := features.NewSeries(features.DefaultConfig())
	memSeries := features.NewSeries(features.DefaultConfig())
	f := SeriesFeatures{"cpu_load": cpuSeries, "mem": memSeries}
	var states States
	var got []string
	emit := func(tr *Transition) { got = append(got, tr.AlertName+":"+tr.State) }
	cpuSeries.Add(0, 95)
	memSeries.Add(0, 95)
	next, ok := rs1.Advance(&states, src, f, 0, "", emit)
	if len(states) != 2 || !ok || next != 5*minute {
		t.Fatalf("states %+v next %d %v", states, next, ok)
	}

	changed := []byte(reloadBase[:len(reloadBase)-len("for: 5m\n")] + "for: 10m\n")
	rs2, err := Parse("r.yml", changed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cpuSeries.Add(minute, 95)
	rs2.Advance(&states, src, f, minute, "cpu_load", emit)
	if len(states) != 1 {
		t.Fatalf("after reload: %+v", states)
	}
	cpu := collect(rs2.Rules())[0]
	if st := states.Get(cpu.ID()); st.Phase != Pending || st.ActiveSince != 0 {
		t.Fatalf("HighCPU state after reload: %+v", st)
	}
	// The timer: HighCPU fires at 5m; the changed HighMem restarts pending
	// at its next evaluation, a timer run.
	next, ok = rs2.Advance(&states, src, f, 5*minute, "", emit)
	if !ok || next != 15*minute {
		t.Errorf("next = %d %v", next, ok)
	}
	want := "HighCPU:pending HighMem:pending HighMem:inactive HighCPU:firing HighMem:pending"
	if s := joinStrings(got); s != want {
		t.Errorf("transitions %s, want %s", s, want)
	}
}

func joinStrings(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// TestAdvanceTenantScope: rules of a scoped group neither evaluate for other
// tenants nor keep state for them.
func TestAdvanceTenantScope(t *testing.T) {
	rs, err := Parse("s.yml", []byte(`
metrics: [{name: cpu_load}]
groups:
  - name: acme-only
    tenants: [acme]
    rules: [{alert: A, expr: 'last("cpu_load") > 1'}]
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := features.NewSeries(features.DefaultConfig())
	s.Add(0, 5)
	f := SeriesFeatures{"cpu_load": s}
	var states States
	n := 0
	rs.Advance(&states, Source{Tenant: "other", Host: "h"}, f, 0, "", func(*Transition) { n++ })
	if n != 0 || len(states) != 0 {
		t.Fatalf("other tenant: %d transitions, states %+v", n, states)
	}
	rs.Advance(&states, Source{Tenant: "acme", Host: "h"}, f, 0, "", func(*Transition) { n++ })
	if n != 1 || len(states) != 1 {
		t.Fatalf("acme: %d transitions, states %+v", n, states)
	}
}

// TestSeriesFeatures reads the real feature engine through the adapter.
func TestSeriesFeatures(t *testing.T) {
	cfg := features.DefaultConfig()
	a, b := features.NewSeries(cfg), features.NewSeries(cfg)
	for i := int64(0); i < 10; i++ {
		a.Add(i*1000, float64(i))
	}
	b.Add(4000, 1)
	f := SeriesFeatures{"a": a, "b": b, "empty": features.NewSeries(cfg)}
	if v, ok := f.Stat("a", nil, "last", 0, 9000); !ok || v != 9 {
		t.Errorf("last(a) = %v %v", v, ok)
	}
	if v, ok := f.Stat("a", nil, "avg", time.Minute, 9000); !ok || v != 4.5 {
		t.Errorf("avg(a,1m) = %v %v", v, ok)
	}
	if _, ok := f.Stat("nope", nil, "avg", time.Minute, 9000); ok {
		t.Error("unknown metric has data")
	}
	if _, ok := f.Stat("empty", nil, "last", 0, 9000); ok {
		t.Error("empty series has data")
	}
	if v, ok := f.SecondsSinceLast("b", nil, 10_000); !ok || v != 6 {
		t.Errorf("seconds_since_last(b) = %v %v", v, ok)
	}
	if v, ok := f.SecondsSinceLast("", nil, 10_000); !ok || v != 1 {
		t.Errorf("seconds_since_last() = %v %v", v, ok)
	}
	if _, ok := f.SecondsSinceLast("empty", nil, 10_000); ok {
		t.Error("empty series has an age")
	}
	if _, ok := (SeriesFeatures{}).SecondsSinceLast("", nil, 0); ok {
		t.Error("no series has an age")
	}
}

// TestRuleSetConcurrent: one rule set serves many sources concurrently (run
// with -race).
func TestRuleSetConcurrent(t *testing.T) {
	rs, err := LoadFiles(Options{}, "testdata/good/host.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := SeriesFeatures{}
			for _, m := range rs.Metrics() {
				c, _ := rs.FeatureConfig(m.Name)
				f[m.Name] = features.NewSeries(c)
			}
			var states States
			for i := int64(0); i < 200; i++ {
				f["cpu_load"].Add(i*1000, float64(80+i%20))
				f["latency_ms"].Add(i*1000, float64(100+i%300))
				rs.Advance(&states, Source{Tenant: "acme", Host: "h"}, f, i*1000, "", func(*Transition) {})
			}
		}()
	}
	wg.Wait()
}

// TestSourcePathDoesNotAllocate: a sample's Add and Advance allocate nothing
// in steady state (BenchmarkSourcePath's scenario).
func TestSourcePathDoesNotAllocate(t *testing.T) {
	step := sourcePath(t)
	if n := testing.AllocsPerRun(5000, step); n != 0 {
		t.Fatalf("%v allocations per sample", n)
	}
}
