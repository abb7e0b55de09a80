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

// A soak's samples fall into the quarter of the run they were taken in;
// one taken as the run ends belongs to the last.
func TestSoakQuarters(t *testing.T) {
	mib := int64(1 << 20)
	var samples []MemorySample
	for i := range 9 {
		samples = append(samples, MemorySample{At: time.Duration(i) * 10 * time.Second, RSS: int64(100+i) * mib, HeapLive: int64(i) * mib, Actors: int64(i)})
	}
	qs := quarters(samples, 80*time.Second)
	want := [4][2]int64{{101, 101}, {103, 103}, {105, 105}, {108, 107}} // max and median RSS
	for i, q := range qs {
		if q.MaxRSS != want[i][0]*mib || q.MedianRSS != want[i][1]*mib {
			t.Errorf("quarter %d: RSS max %d median %d MiB, want %v", i+1, q.MaxRSS/mib, q.MedianRSS/mib, want[i])
		}
	}
	if qs[0].Samples != 2 || qs[3].Samples != 3 || qs[3].MedianActors != 7 {
		t.Errorf("quarters %+v", qs)
	}
	r := &SoakResult{Quarters: qs, EventsSent: 5, EventsInPostgres: 5, Flat: false}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"5 / 5", "Q4", "108 MiB / 103 MiB: growing"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
