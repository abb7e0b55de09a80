package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/replica"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// StageResult is the features stage measured alone.
type StageResult struct {
	Throughput
	// ChangelogBytesPerEvent is what the stage wrote to its table per
	// input event (keys and values, before compression).
	ChangelogBytesPerEvent float64 `json:"changelog_bytes_per_event"`
	// StateBytesPerSource is the mean encoded state of a source.
	StateBytesPerSource float64 `json:"state_bytes_per_source"`
}

// Signals produces the scenario's signals straight to signals.metric.v1:
// sources × metrics series, one sample every interval of event time, for
// rounds rounds, perSignal samples of a source per signal.
func Signals(ctx context.Context, brokers []string, sources, metrics, perSignal int, rounds int64, interval time.Duration) (events, records int64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgotables.Partitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	start := time.Now().Add(-time.Duration(rounds) * interval).Truncate(interval)
	var failed atomic.Int64
	for r := int64(0); r < rounds; r++ {
		ts := start.Add(time.Duration(r) * interval).UnixMicro()
		for s := 0; s < sources; s++ {
			host := "host-" + strconv.Itoa(s)
			for m := 0; m < metrics; m += perSignal {
				sig := &tables.Signal{Tenant: "bench", Host: host, Origin: tables.Origin{Partition: -1}, IngestMicro: ts}
				for k := m; k < min(metrics, m+perSignal); k++ {
					sig.Samples = append(sig.Samples, tables.Sample{Metric: metricName(k), Value: float64((s*31 + k*7 + int(r)) % 100), TsMicro: ts})
				}
				events += int64(len(sig.Samples))
				records++
				cl.Produce(ctx, &kgo.Record{Topic: tables.SignalsTopic, Key: []byte(sig.Key()), Value: sig.AppendBinary(nil)},
					func(_ *kgo.Record, err error) {
						if err != nil {
							failed.Add(1)
						}
					})
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, err
	}
	if f := failed.Load(); f > 0 {
		return 0, 0, fmt.Errorf("%d signals failed", f)
	}
	return events, records, nil
}

func metricName(k int) string {
	names := []string{"cpu_load", "mem_used_pct", "disk_used_pct", "latency_ms", "http_requests_total"}
	if k < len(names) {
		return names[k]
	}
	return "synthetic_" + strconv.Itoa(k)
}

// FeaturesStage runs a replica of the features stage alone (goka
// processor, per-source actors, rules) over the signals already on
// signals.metric.v1 until it has folded events samples in, and reports its
// rate and what it wrote. opts are the replica's settings; its stages and
// registry are set here.
func FeaturesStage(ctx context.Context, opts replica.Options, events int64) (StageResult, error) {
	reg := prometheus.NewRegistry()
	opts.Stages, opts.Registry = []string{replica.StageFeatures}, reg
	r, err := replica.New(opts)
	if err != nil {
		return StageResult{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	start, cpu0 := time.Now(), CPU()
	go func() { errc <- r.Run(sctx) }()
	for Sum(reg, "eventops_feature_samples_total", nil) < float64(events) {
		select {
		case err := <-errc:
			return StageResult{}, fmt.Errorf("features stage stopped: %v", err)
		case <-ctx.Done():
			<-errc
			return StageResult{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	res := StageResult{Throughput: rate(events, time.Since(start), CPU()-cpu0)}
	res.ChangelogBytesPerEvent = Sum(reg, "eventops_state_flush_bytes_total", nil) / float64(events)
	if n := Sum(reg, "eventops_state_flushes_total", nil); n > 0 {
		res.StateBytesPerSource = histogramMean(reg, "eventops_state_bytes")
	}
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return res, err
	}
	return res, nil
}

// StageReport is what `eventops bench --stage features --json` prints:
// the features stage beside a bare goka processor over the same records.
type StageReport struct {
	Machine  string      `json:"machine"`
	Scenario string      `json:"scenario"`
	Bare     Throughput  `json:"bare_goka"`
	Features StageResult `json:"features"`
	Ratio    float64     `json:"features_over_bare"`
}

// RunStage measures the features stage alone over signals produced
// beforehand, beside a bare goka processor that only counts per key over
// the same records, in the same run.
func RunStage(ctx context.Context, o Options) (StageReport, error) {
	rounds := o.rounds()
	res := StageReport{Machine: Machine()}
	e, err := setup(ctx, &o, false)
	if err != nil {
		return res, err
	}
	defer e.close()
	events, records, err := Signals(ctx, e.brokers, o.Sources, o.Metrics, o.PerRecord, rounds, 10*time.Second)
	if err != nil {
		return res, err
	}
	res.Scenario = fmt.Sprintf("%d sources × %d metrics, a sample per metric every 10 s of event time, %d sample(s) per signal; %d events in %d signals",
		o.Sources, o.Metrics, o.PerRecord, events, records)
	k := processors.Kafka{Brokers: e.brokers, ClientID: "bench-stage", Logger: o.Logger, DataDir: filepath.Join(e.dir, "stage")}
	o.say("bare goka processor over %d signals…", records)
	if res.Bare, err = BareGokaOn(ctx, k, tables.SignalsTopic, records); err != nil {
		return res, err
	}
	// The bare processor counted records; in events, each carried PerRecord.
	res.Bare = Throughput{Count: events, Elapsed: res.Bare.Elapsed, PerSec: float64(events) / res.Bare.Elapsed.Seconds(),
		CPUPerItem: res.Bare.CPUPerItem / time.Duration(o.PerRecord)}
	o.say("features stage over the same signals…")
	stopProfile, err := cpuProfile(o.CPUProfile)
	if err != nil {
		return res, err
	}
	defer stopProfile()
	ro := o.Replica
	ro.Kafka.Brokers, ro.Kafka.ClientID, ro.Kafka.DataDir, ro.Kafka.Replication = k.Brokers, k.ClientID, k.DataDir, 1
	ro.Kafka.Logger, ro.Logger = o.Logger, o.Logger
	if res.Features, err = FeaturesStage(ctx, ro, events); err != nil {
		return res, err
	}
	if _, err := stopProfile(); err != nil {
		return res, err
	}
	res.Ratio = res.Features.PerSec / res.Bare.PerSec
	return res, nil
}

// Sum adds up the values of a counter's or gauge's series whose labels
// include labels (nil: all of them).
func Sum(reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if hasLabels(m, labels) {
				sum += value(m)
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, lp := range m.Label {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func histogramMean(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 && mf.Metric[0].Histogram != nil {
			h := mf.Metric[0].Histogram
			if h.GetSampleCount() > 0 {
				return h.GetSampleSum() / float64(h.GetSampleCount())
			}
		}
	}
	return 0
}
