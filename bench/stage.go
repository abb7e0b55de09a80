package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
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

// FeaturesStage runs the features stage alone (goka processor, per-source
// actors, rules) over the signals already on signals.metric.v1 until it has
// folded events samples in, and reports its rate and what it wrote.
func FeaturesStage(ctx context.Context, k processors.Kafka, rs *rules.RuleSet, events int64, flush time.Duration) (StageResult, error) {
	reg := prometheus.NewRegistry()
	system := actors.NewSystem(k.Logger)
	defer system.Shutdown()
	producer, err := k.NewProducer("features")
	if err != nil {
		return StageResult{}, err
	}
	defer producer.Close()
	sources := actors.NewSources(system, actors.SourcesOptions{
		Rules: actors.NewRuleHolder(rs), Producer: producer, FlushInterval: flush, Registerer: reg, Logger: k.Logger,
	})
	stage, err := processors.NewFeatures(processors.FeaturesOptions{
		Kafka: k, Host: host{sources}, Producer: producer, Metrics: processors.NewMetrics(reg), Logger: k.Logger,
	})
	if err != nil {
		return StageResult{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	start, cpu0 := time.Now(), CPU()
	go func() { errc <- stage.Run(sctx) }()
	for Sum(reg, "eventops_feature_samples_total", nil) < float64(events) {
		select {
		case err := <-errc:
			return StageResult{}, fmt.Errorf("features stage stopped: %v", err)
		case <-ctx.Done():
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
	<-errc
	return res, nil
}

type host struct{ s *actors.Sources }

func (h host) Open(p int32, hooks processors.PartitionHooks) processors.SourcePartition {
	return h.s.Open(p, actors.PartitionHooks(hooks))
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
