package bench

import (
	"strings"
	"testing"
	"time"
)

// The text report shows the ceilings and the ratios in the order the
// ceilings are measured, and leaves out the ceilings a run skipped.
func TestResultWriteText(t *testing.T) {
	r := &Result{Machine: "m", Scenario: "s",
		Ceilings: map[string]Throughput{
			CeilingPostgres: {Count: 3, PerSec: 100, CPUPerItem: time.Microsecond},
			CeilingBroker:   {Count: 1, PerSec: 300, CPUPerItem: time.Microsecond},
		},
		Pipeline: PipelineResult{Events: 10, EventsPerSec: 50, PeakRSS: 64 << 20, TableKeys: 4, StateBytesPerSource: 1000, StateBytesPerSeries: 100,
			StageCPU: map[string]float64{"sink": 3.25, "ingest": 5, Unlabelled: 2, "features": 7.04}},
		Latency: LatencyResult{Rate: 25, Probes: 3, Alerts: 2, AlertP50: 1234567 * time.Nanosecond},
		Ratios:  map[string]float64{"pipeline_over_" + CeilingPostgres: 0.5, "pipeline_over_" + CeilingBroker: 1.0 / 6},
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"broker_roundtrip_records  1", "peak RSS", "64 MiB", "per source / per series (4 sources in the table)", "1000 / 100 bytes", "p50/p95/p99 of 2 alerts, 3 probes sent", "1.2ms", "pipeline / postgres_copy_rows        0.50",
		"CPU µs per event by stage: ingest / features / sink / notify / api / unlabelled", "5.0 / 7.0 / 3.2 / 0.0 / 0.0 / 2.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, CeilingGoka) {
		t.Errorf("a skipped ceiling is shown:\n%s", out)
	}
	if strings.Index(out, CeilingBroker) > strings.Index(out, CeilingPostgres) ||
		strings.LastIndex(out, CeilingBroker) > strings.LastIndex(out, CeilingPostgres) {
		t.Errorf("ceilings out of order:\n%s", out)
	}
}
