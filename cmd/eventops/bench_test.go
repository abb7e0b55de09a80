package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"testing"

	"github.com/eventops/eventops/bench"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/store/storetest"
)

// The benchmark's smoke run: every figure is measured, so `eventops bench`
// does not rot between the runs that fill BENCHMARKS.md.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	brokertest.NeedsBroker(t)
	cmd := exec.Command(eventopsBinary(t), "bench", "--quick", "--json", "--data-dir", t.TempDir())
	cmd.Env = append(cmd.Environ(), "DATABASE_URL="+storetest.Server(t))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("eventops bench --quick: %v\n%s", err, stderr)
	}
	var res bench.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for name, c := range res.Ceilings {
		if c.PerSec <= 0 {
			t.Errorf("ceiling %s: %+v", name, c)
		}
	}
	if len(res.Ceilings) != 3 {
		t.Errorf("ceilings %v", res.Ceilings)
	}
	p := res.Pipeline
	if p.Events < 20_000 || p.EventsPerSec <= 0 || p.CPUPer1000 <= 0 || p.PeakRSS <= 0 {
		t.Errorf("pipeline %+v", p)
	}
	// Every source of the scenario has its state in the features table
	// (once the pipeline stopped), the probes' sources left out.
	if p.TableKeys != 200 || p.StateBytesPerSeries <= 0 || math.Abs(p.StateBytesPerSource-p.StateBytesPerSeries*10) > 1e-6*p.StateBytesPerSource {
		t.Errorf("features table: %d sources, %.0f bytes per source, %.0f per series", p.TableKeys, p.StateBytesPerSource, p.StateBytesPerSeries)
	}
	// CPU per event by stage, from the run's profile: each stage that
	// handles every event has its share, and the profile is the process's.
	var profiled float64
	for stage, us := range p.StageCPU {
		profiled += us
		if us < 0 {
			t.Errorf("stage %s: %.2f µs per event", stage, us)
		}
	}
	for _, stage := range []string{"ingest", "features", "sink"} {
		if p.StageCPU[stage] <= 0 {
			t.Errorf("no CPU per event for stage %s: %v", stage, p.StageCPU)
		}
	}
	if process := p.CPUPer1000 * 1000; profiled < process/3 || profiled > process*1.5 {
		t.Errorf("the stages' CPU (%.1f µs per event) is not the process's (%.1f µs)", profiled, process)
	}
	if l := res.Latency; l.Alerts == 0 || l.AlertP50 <= 0 || l.RowP50 <= 0 {
		t.Errorf("latency %+v", l)
	}
	// Every probe sent over the latency run is timed, to its alert and to
	// its row, however long the one before it took.
	if l := res.Latency; l.Probes != 30 || l.Alerts != l.Probes || l.Rows != l.Probes {
		t.Errorf("%d probes sent, %d alerts and %d rows timed: want 30 of each", l.Probes, l.Alerts, l.Rows)
	}
}
