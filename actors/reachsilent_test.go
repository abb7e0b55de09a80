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
	// What the features stage's WakeAlerts does: every stored source of the
	// partition is offered to the partition.
	r.AfterReload(func() {
		h.mu.Lock()
		stored := map[string][]byte{}
		for k, v := range h.table {
			stored[k] = v
		}
		h.mu.Unlock()
		for k, v := range stored {
			h.part.WakeAlerts(k, v)
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
