package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"testing"
	"time"

	"github.com/eventops/eventops/bench"
	"github.com/eventops/eventops/broker/brokertest"
	"github.com/eventops/eventops/store/storetest"
)

// runBench runs eventops bench with args on PostgreSQL and returns its
// JSON report.
func runBench(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(eventopsBinary(t), append(append([]string{"bench"}, args...), "--json", "--data-dir", t.TempDir())...)
	cmd.Env = append(cmd.Environ(), "DATABASE_URL="+storetest.Server(t))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("eventops bench %v: %v\n%s", args, err, stderr)
	}
	return out
}

// The benchmark's smoke run: every figure is measured, so `eventops bench`
// does not rot between the runs that fill BENCHMARKS.md.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	brokertest.NeedsBroker(t)
	out := runBench(t, "--quick")
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

// A short soak with hosts coming and going: everything sent reaches
// PostgreSQL, hosts that stop leave memory, and the memory of each quarter
// is reported. Its figures (and so its verdict) are the machine's; what is
// checked here is what the load decides.
func TestBenchSoak(t *testing.T) {
	t.Parallel()
	brokertest.NeedsBroker(t)
	out := runBench(t, "--soak", "15s", "--series", "20000", "--churn", "4", "--rate", "3000", "--idle-timeout", "2s")
	var res bench.SoakResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.EventsSent == 0 || res.EventsInPostgres != res.EventsSent || res.Undelivered != 0 {
		t.Errorf("%d events sent (%d records undelivered), %d in PostgreSQL", res.EventsSent, res.Undelivered, res.EventsInPostgres)
	}
	if res.Capacity != nil || res.Rate != 3000 {
		t.Errorf("rate %v (capacity %+v), want the 3000 given", res.Rate, res.Capacity)
	}
	// 20,000 series over a quarter of a minute at 400% a minute: 1,000
	// hosts at a time, and new ones in every round after the first.
	if res.ActiveHosts != 1000 || res.Hosts <= res.ActiveHosts || res.Series != int64(res.Hosts)*10 {
		t.Errorf("%d hosts at a time, %d over the run, %d series", res.ActiveHosts, res.Hosts, res.Series)
	}
	if res.Evictions == 0 {
		t.Error("no source actor left memory")
	}
	for i, q := range res.Quarters {
		if q.Samples == 0 || q.MaxRSS <= 0 || q.MedianRSS > q.MaxRSS || q.MaxHeapLive <= 0 || q.MedianActors <= 0 {
			t.Errorf("quarter %d: %+v", i+1, q)
		}
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(out, &shape); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"events_sent", "events_in_postgres", "source_actors_evicted", "source_actors_at_end", "quarters", "flat", "samples", "churn_per_minute", "idle_timeout_ns"} {
		if _, ok := shape[key]; !ok {
			t.Errorf("no %q in the JSON report: %s", key, out)
		}
	}
}

// The backtest benchmark's smoke run: the history is written, replayed
// once from PostgreSQL, every sample read and every figure measured.
func TestBenchBacktest(t *testing.T) {
	t.Parallel()
	out := runBench(t, "--backtest", "1000000", "--quick", "--backtest-sources", "10", "--backtest-series", "4")
	var res bench.BacktestResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// --quick: 20,000 samples, one run.
	if res.Samples != 20_000 || len(res.Runs) != 1 || res.Span != 500*10*time.Second || res.WriteRowsPerSec <= 0 {
		t.Fatalf("%d samples over %s, %d runs, written at %.0f rows/s", res.Samples, res.Span, len(res.Runs), res.WriteRowsPerSec)
	}
	m := res.Median
	if m.Samples != 20_000 || m.Signals != 5000 || m.Sources != 10 || m.Transitions == 0 || m.Wall <= 0 || m.CPU <= 0 || m.Engine <= 0 || m.Engine >= m.Wall ||
		m.SamplesPerSec <= 0 || math.Abs(m.RealTime-float64(res.Span)/float64(m.Wall)) > 1e-6*m.RealTime ||
		m.PeakHeapInUse <= 0 || m.PeakHeapLive <= 0 || m.HeapBefore <= 0 {
		t.Errorf("median run %+v", m)
	}
}
