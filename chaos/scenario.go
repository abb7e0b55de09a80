package chaos

import (
	"fmt"
	"time"

	"github.com/eventops/eventops/loadgen"
)

// The scenario every run plays, whatever its fault: the rules in force
// before and after the reload in the middle of the stream, the anomalies
// that make them fire, the silenced host, and the sources the harness
// drives itself.

const rulesHead = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
  - {name: mem_used_pct, kind: gauge, unit: percent}
groups:
`

// noDataGroup holds the no-data rule of the source with a skewed clock. It
// fires when mem_used_pct goes silent while cpu_load still reports, so a
// source clock pushed ahead by an accepted future cpu_load sample fires it,
// and a source that stops altogether never does.
const noDataGroup = `  - name: skew
    tenants: [` + skewTenant + `]
    rules:
      - alert: MemoryNoData
        expr: seconds_since_last("mem_used_pct") > 120 && seconds_since_last("cpu_load") < 60
        labels: {severity: warning}
`

// memoryFull is the rule the reload leaves alone; its notifications may
// be held long in their group (Options.Hold).
const memoryFull = `      - alert: MemoryFull
        expr: last("mem_used_pct") > 98
        labels: {severity: critical}
`

// RulesBefore is the rule file a run starts with: event-driven rules, so
// that the reference's transitions do not depend on the wall clock.
const RulesBefore = rulesHead + `  - name: chaos
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        clear: avg("cpu_load", "1m") < 85
        labels: {severity: critical}
      - alert: MemoryHigh
        expr: last("mem_used_pct") > 95
        labels: {severity: warning}
` + memoryFull + noDataGroup

// RulesAfter is the rule file the reload puts in force: HighCPU's
// threshold edited (above the 99 of the anomalies firing at the reload, so
// that the edited rule starts inactive everywhere), MemoryHigh removed,
// MemoryFull unchanged.
const RulesAfter = rulesHead + `  - name: chaos
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 99.5
        clear: avg("cpu_load", "1m") < 85
        labels: {severity: critical}
` + memoryFull + noDataGroup

// Sizes the scenario needs: the anomalies are placed in fractions of the
// rounds, and the records sent again are taken from sources up to 16.
const (
	MinRounds  = 40
	MinSources = 20
)

// Sources the harness treats apart. The stream's are loadgen's.
const (
	streamTenant = "tenant-00"
	// silencedHost's alerts are muted by the silence each run creates.
	silencedHost = "host-00004"
	// skewTenant/skewHost reports with a clock partly ahead of the broker's.
	skewTenant = "skew"
	skewHost   = "skewed-clock"
	// httpTenant/httpHost reports over POST /ingest, some events twice.
	httpTenant = "http"
	httpHost   = "http-agent"
	// junkTenant names the events whose pieces are sent as records.
	junkTenant = "junk"
)

// ReloadRound is the round before whose first record the rules are
// reloaded.
func ReloadRound(rounds int64) int64 { return rounds / 2 }

// Anomalies are the stream's scripted anomalies for a run of rounds:
//   - host 2: HighCPU fires and resolves before the reload;
//   - host 4 (silenced): the same, never notified;
//   - host 1: HighCPU fires and is still firing at the reload, which edits
//     the rule: its episode is resolved, and the edited rule stays inactive
//     (99 is below its threshold);
//   - host 3: MemoryHigh fires and is firing at the reload, which removes
//     the rule;
//   - host 5: after the reload, the edited HighCPU fires and resolves;
//   - host 6: MemoryFull fires early and is still firing when the stream
//     ends (so its notification may be held long without holding the
//     stream up); MemoryHigh fires with it and the reload resolves it.
func Anomalies(rounds int64) []loadgen.Anomaly {
	r, at := rounds, ReloadRound(rounds)
	return []loadgen.Anomaly{
		{Source: 6, Metric: 1, From: 1, To: r, Value: 99},
		{Source: 2, Metric: 0, From: r / 20, To: r * 3 / 10, Value: 99},
		{Source: 4, Metric: 0, From: r / 10, To: r * 7 / 20, Value: 99},
		{Source: 1, Metric: 0, From: at - r/4, To: at + r*3/20, Value: 99},
		{Source: 3, Metric: 1, From: at - r/10, To: at + r*3/20, Value: 97},
		{Source: 5, Metric: 0, From: at + r/10, To: at + r*2/5, Value: 100},
	}
}

// CheckSize says whether a stream of that size can play the scenario.
func CheckSize(sources int, rounds int64) error {
	if sources < MinSources || rounds < MinRounds {
		return fmt.Errorf("the scenario needs at least %d sources and %d rounds (have %d and %d)", MinSources, MinRounds, sources, rounds)
	}
	return nil
}

// alertingFile is the receivers file of every replica: one webhook, the
// harness's, told of firing and resolved alerts, no reminders. Every alert
// is a group of its own (group_by: ['...']): a group's notification lists
// all its firing alerts again, which the check could not tell from a copy,
// so each notification carries only news. Its first notification waits
// group_wait (3 s), so faults find firings held in groups. With hold,
// MemoryFull's firing waits that long: longer than the rebalance timeout
// (30 s), a rebalance finds it held for longer than it may take.
func alertingFile(url string, hold time.Duration) string {
	routes := ""
	if hold > 0 {
		routes = fmt.Sprintf(`  routes:
    - matchers: ['alertname="MemoryFull"']
      group_wait: %ds
`, int(hold.Seconds()))
	}
	return `route:
  receiver: harness
  group_by: ['...']
  group_wait: 3s
  group_interval: 5s
  repeat_interval: 1d
` + routes + `receivers:
  - name: harness
    webhook_configs:
      - url: ` + url + `
        send_resolved: true
`
}
