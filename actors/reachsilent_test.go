package actors_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

const cpuOnlyRules = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
  - {name: mem_used_pct, kind: gauge, unit: percent}
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        labels: {severity: critical}
`

// A no-data rule added by a reload reaches every source, also one that
// went silent and left memory before the reload (a host that died is what
// such a rule is for): the reload wakes the stored sources, as the features
// stage does, and the silent source's alert fires without new data.
func TestANoDataRuleAddedByAReloadReachesSourcesOutOfMemory(t *testing.T) {
	rs, err := rules.Parse("test.yml", []byte(cpuOnlyRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	holder := actors.NewRuleHolder(rs)
	h := openPartition(t, actors.SourcesOptions{Rules: holder, IdleTimeout: 20 * time.Millisecond}, true)
	h.deliver("host-a", 0, "mem_used_pct", sampleAt{h.clock.Now(), 40})
	h.waitDurable("acme/host-a", 0)
	// The host dies; its actor leaves memory.
	h.clock.Add(11 * time.Minute)
	until(t, "the silent source to leave memory", func() bool { return len(h.part.Keys()) == 0 })

	load := func() (*rules.RuleSet, error) { return rules.Parse("test.yml", []byte(sourceRules), rules.Options{}) }
	r := actors.NewReloader(holder, h.sources, load, nil, quiet)
	// What the features stage's WakeStored does: every stored source of the
	// partition is offered to the partition.
	r.AfterReload(func() {
		h.mu.Lock()
		stored := map[string][]byte{}
		for k, v := range h.table {
			stored[k] = v
		}
		h.mu.Unlock()
		for k, v := range stored {
			h.part.Wake(k, v)
		}
	})
	if _, err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "MemNoData to fire for the silent host", func() error {
		for _, rec := range h.broker.topic(tables.AlertsTopic) {
			var tr rules.Transition
			if json.Unmarshal(rec.Value, &tr) == nil && tr.AlertName == "MemNoData" && tr.State == "firing" {
				return nil
			}
		}
		return fmt.Errorf("no MemNoData firing; sources in memory: %v", h.part.Keys())
	})
}

const memOnlyRules = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
  - {name: mem_used_pct, kind: gauge, unit: percent}
groups:
  - name: host
    rules:
      - alert: MemNoData
        expr: seconds_since_last("mem_used_pct") > 120
        labels: {severity: warning}
`

// A replica started with a rule file that no longer has a rule ends that
// rule's alerts, also of a source that is silent: after the rebalance the
// features stage offers every stored source to its partition (Wake), and
// the firing HighCPU of a host that died with a hot CPU must resolve with
// reason rule_removed instead of staying firing for ever.
func TestARestartWithoutARuleEndsItsAlertsOfSilentSources(t *testing.T) {
	before := openPartition(t, actors.SourcesOptions{}, true)
	now := before.clock.Now()
	before.deliver("host-a", 0, "cpu_load", sampleAt{now, 95}, sampleAt{now.Add(time.Second), 97})
	before.waitDurable("acme/host-a", 0)
	var stored []byte
	until(t, "a firing state in the table", func() bool {
		st := before.broker.lastState(t, "acme/host-a")
		if st == nil || len(st.Alerts) != 1 {
			return false
		}
		before.mu.Lock()
		stored = before.table["acme/host-a"]
		before.mu.Unlock()
		return stored != nil
	})

	rs, err := rules.Parse("test.yml", []byte(memOnlyRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := openPartition(t, actors.SourcesOptions{Rules: actors.NewRuleHolder(rs)}, true)
	after.clock.Add(time.Hour)
	after.part.Wake("acme/host-a", stored)
	waitFor(t, 20*time.Second, "HighCPU to resolve with reason rule_removed", func() error {
		for _, rec := range after.broker.topic(tables.AlertsTopic) {
			var tr rules.Transition
			if json.Unmarshal(rec.Value, &tr) == nil && tr.AlertName == "HighCPU" && tr.State == "resolved" {
				if tr.Reason != rules.ReasonRuleRemoved {
					return fmt.Errorf("resolved with reason %q", tr.Reason)
				}
				return nil
			}
		}
		return fmt.Errorf("no transition; sources in memory: %v", after.part.Keys())
	})
}
