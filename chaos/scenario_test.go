package chaos

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/eventops/eventops/loadgen"
	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/rules"
)

// Every record the harness injects as junk is refused by normalize with
// the reason the harness expects in the DLQ, and the skewed source's
// samples are refused or accepted as the scenario says.
func TestInjectedInputsReasons(t *testing.T) {
	now := time.Now()
	var all []junkRecord
	all = append(all, splitEvent(1, now)...)
	all = append(all, junkBurst(4)...)
	all = append(all, strays()...)
	for _, j := range all {
		res := normalize.Options{}.Parse(j.value, now)
		if len(res.Events) != 0 || len(res.Rejected) != 1 || string(res.Rejected[0].Err.Reason) != j.reason {
			t.Errorf("%s %q: %d events, rejected %+v; want %s", j.what, j.value, len(res.Events), res.Rejected, j.reason)
		}
	}
	skew := &liveSource{tenant: skewTenant, host: skewHost, start: now, every: 250 * time.Millisecond}
	var refused, accepted int
	for i := 0; i < 48; i++ {
		ahead, ok := skewedSample(i)
		if !ok {
			continue
		}
		res := normalize.Options{}.Parse(skew.event("cpu_load", 1, skew.at(i).Add(ahead)), skew.at(i))
		switch {
		case ahead > time.Hour/2 && len(res.Rejected) == 1 && res.Rejected[0].Err.Reason == normalize.ReasonFuture:
			refused++
		case ahead < time.Hour/2 && len(res.Events) == 1:
			accepted++
		default:
			t.Errorf("sample %d, %s ahead: %+v", i, ahead, res)
		}
	}
	if refused == 0 || accepted == 0 {
		t.Errorf("%d skewed samples refused, %d accepted", refused, accepted)
	}
}

// The scenario does what it is for on the quick run's stream (the smallest
// it allows) and on the full run's: the reload resolves a firing HighCPU
// episode (rule_changed) and two firing MemoryHigh ones (rule_removed), the
// edited HighCPU then fires and resolves, the silenced host fires and
// resolves, MemoryFull fires and is still firing at the end, and the
// no-data rule never fires.
func TestScenario(t *testing.T) {
	for _, size := range []struct {
		sources int
		rounds  int64
	}{{MinSources, MinRounds}, {100, 60}} {
		t.Run(fmt.Sprintf("%d sources, %d rounds", size.sources, size.rounds), func(t *testing.T) {
			checkScenario(t, size.sources, size.rounds)
		})
	}
}

func checkScenario(t *testing.T, sources int, rounds int64) {
	before, err := rules.Parse("rules.yml", []byte(RulesBefore), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := rules.Parse("rules.yml", []byte(RulesAfter), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := loadgen.Options{Sources: sources, Metrics: 2, Rounds: rounds, Keyed: true, Seed: 11, Anomalies: Anomalies(rounds)}
	g := loadgen.NewGenerator(o, time.Now())
	ref := newReference(before)
	reloaded := false
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		ev := rec.Events[0]
		if ev.Round == ReloadRound(rounds) && !reloaded {
			ref.reload(after)
			reloaded = true
		}
		s := sample{metric: loadgen.MetricName(ev.Metric), tsMicro: ev.Ts.UnixMicro(), value: ev.Value}
		if _, err := ref.add(loadgen.TenantName(ev.Tenant), loadgen.SourceName(ev.Source), []sample{s}); err != nil {
			t.Fatal(err)
		}
	}
	reasons := map[string]int{}
	for ep, reason := range ref.reloaded {
		reasons[ref.episodes[ep].AlertName+" "+reason]++
	}
	if reasons["HighCPU "+reasonRuleChanged] != 1 || reasons["MemoryHigh "+reasonRuleRemoved] != 2 || len(reasons) != 2 {
		t.Errorf("the reload resolves %v", reasons)
	}
	lifecycles := map[string]int{}
	for ep, states := range ref.transitions {
		tr := ref.episodes[ep]
		if _, byReload := ref.reloaded[ep]; byReload {
			continue
		}
		name := tr.Host + " " + tr.AlertName + " " + tr.RuleID.String()
		if states[rules.StateResolved] {
			name += " resolved"
		}
		if !states[rules.StateFiring] {
			t.Errorf("%s: states %v", name, states)
		}
		lifecycles[name]++
	}
	cpu, edited := ruleID(before, "HighCPU").String(), ruleID(after, "HighCPU").String()
	want := map[string]int{
		"host-00002 HighCPU " + cpu + " resolved":                       1,
		silencedHost + " HighCPU " + cpu + " resolved":                  1,
		"host-00005 HighCPU " + edited + " resolved":                    1,
		"host-00006 MemoryFull " + ruleID(after, "MemoryFull").String(): 1,
	}
	if !maps.Equal(lifecycles, want) {
		t.Errorf("episodes not resolved by the reload: %v, want %v", lifecycles, want)
	}
}

func ruleID(rs *rules.RuleSet, name string) rules.RuleID {
	for r := range rs.Rules() {
		if r.Name() == name {
			return r.ID()
		}
	}
	return 0
}
