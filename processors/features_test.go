package processors_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/gokatables"
	"github.com/eventops/eventops/tables/kgotables"
)

const testRules = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        labels: {severity: critical}
`

type host struct{ s *actors.Sources }

func (h host) Open(p int32, hooks processors.PartitionHooks) processors.SourcePartition {
	return h.s.Open(p, actors.PartitionHooks(hooks))
}

func runFeatures(t *testing.T, stored map[string][]byte) (*tester.Tester, *fakeProducer, *actors.RuleHolder) {
	t.Helper()
	rs, err := rules.Parse("test.yml", []byte(testRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	holder := actors.NewRuleHolder(rs)
	fp := &fakeProducer{}
	system := actors.NewSystem(nil)
	sources := actors.NewSources(system, actors.SourcesOptions{Rules: holder, Producer: fp, FlushInterval: 10 * time.Millisecond})
	f, err := processors.NewFeatures(processors.FeaturesOptions{Host: host{sources}, Producer: fp})
	if err != nil {
		t.Fatal(err)
	}
	tt := tester.New(t)
	proc, err := f.NewProcessor(context.Background(), goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	for k, v := range stored {
		tt.SetTableValue(gokatables.FeaturesTable, k, v)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("features stopped with %v", err)
		}
		system.Shutdown()
	})
	return tt, fp, holder
}

func signal(host string, ts time.Time, values ...float64) []byte {
	sig := &tables.Signal{Tenant: "acme", Host: host}
	for i, v := range values {
		sig.Samples = append(sig.Samples, tables.Sample{Metric: "cpu_load", Unit: "percent", Value: v,
			TsMicro: ts.Add(time.Duration(i) * time.Second).UnixMicro()})
	}
	return sig.AppendBinary(nil)
}

func lastState(t *testing.T, fp *fakeProducer, holder *actors.RuleHolder, key string) *tables.SourceState {
	t.Helper()
	var last []byte
	for _, r := range fp.topic(tables.FeaturesTable) {
		if string(r.Key) == key {
			last = r.Value
		}
	}
	if last == nil {
		t.Fatalf("no state of %s was written to the table", key)
	}
	st, reset, err := tables.DecodeSourceState(last, holder.FeatureConfig)
	if err != nil || len(reset) != 0 {
		t.Fatalf("decode state: %v %v", err, reset)
	}
	return st
}

// A signal is committed only once the state that includes it is in the
// table (Consume returns when goka commits), and a threshold crossing emits
// an alert.
func TestFeaturesFoldsSignalsAndAlerts(t *testing.T) {
	tt, fp, holder := runFeatures(t, nil)
	ts := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	tt.Consume(tables.SignalsTopic, "acme/host-a", signal("host-a", ts, 95, 97))
	st := lastState(t, fp, holder, "acme/host-a")
	m := st.Metric("cpu_load")
	if m == nil {
		t.Fatal("no cpu_load state")
	}
	w, ok := m.Series.Window(time.Minute)
	if !ok || w.Count != 2 || w.Avg != 96 || st.Offset != 0 || m.Unit != "percent" {
		t.Fatalf("state offset %d, window %+v", st.Offset, w)
	}
	alerts := fp.topic(tables.AlertsTopic)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts", len(alerts))
	}
	var tr rules.Transition
	if err := json.Unmarshal(alerts[0].Value, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.AlertName != "HighCPU" || tr.State != "firing" || float64(tr.Value) != 96 || string(alerts[0].Key) != "acme/host-a" {
		t.Fatalf("transition %+v", tr)
	}
	if len(st.Alerts) != 1 || st.Alerts[0].Phase != rules.Firing {
		t.Fatalf("alert state %+v", st.Alerts)
	}
}

// A signal at or below the offset of the stored state is a redelivery
// after a crash: it is not applied again.
func TestFeaturesSkipsRedeliveries(t *testing.T) {
	stored := &tables.SourceState{Partition: 0, Offset: 0, EventMilli: 1, ArrivalMilli: 1}
	ser := features.NewSeries(features.DefaultConfig())
	if _, err := ser.Add(time.Date(2025, 10, 21, 9, 59, 0, 0, time.UTC).UnixMilli(), 10); err != nil {
		t.Fatal(err)
	}
	stored.AddMetric(tables.MetricState{Name: "cpu_load", Unit: "percent", Series: ser})
	b, err := stored.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	tt, fp, _ := runFeatures(t, map[string][]byte{"acme/host-a": b})
	// Offset 0 again: committed at once, nothing applied, nothing emitted.
	tt.Consume(tables.SignalsTopic, "acme/host-a", signal("host-a", time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC), 99))
	if n := len(fp.topic(tables.AlertsTopic)); n != 0 {
		t.Fatalf("a redelivered signal raised %d alerts", n)
	}
	if n := len(fp.topic(tables.FeaturesTable)); n != 0 {
		t.Fatalf("a redelivered signal rewrote the state %d times", n)
	}
}

// A signal that does not decode goes to the DLQ and is committed.
func TestFeaturesRejectsUndecodableSignals(t *testing.T) {
	tt, fp, _ := runFeatures(t, nil)
	tt.Consume(tables.SignalsTopic, "acme/host-a", []byte("junk"))
	dlq := fp.topic(tables.DLQTopic)
	if len(dlq) != 1 || kgotables.Header(dlq[0], tables.HeaderReason) != "undecodable_signal" {
		t.Fatalf("DLQ %+v", dlq)
	}
}

// blockingHost takes every signal, makes it durable at once, and closes a
// partition only when its context ends: a final flush that never becomes
// durable in time.
type blockingHost struct {
	mu             sync.Mutex
	opened, closed int
}

func (h *blockingHost) Open(_ int32, hooks processors.PartitionHooks) processors.SourcePartition {
	h.mu.Lock()
	h.opened++
	h.mu.Unlock()
	return &blockingPartition{h: h, durable: hooks.Durable}
}

type blockingPartition struct {
	h       *blockingHost
	durable func(string, int64)
}

func (p *blockingPartition) Deliver(key string, offset, _ int64, _ *tables.Signal, _ func() []byte) bool {
	p.durable(key, offset)
	return true
}

func (p *blockingPartition) Wake(string, []byte)       {}
func (p *blockingPartition) WakeAlerts(string, []byte) {}

func (p *blockingPartition) Close(ctx context.Context) {
	<-ctx.Done()
	p.h.mu.Lock()
	p.h.closed++
	p.h.mu.Unlock()
}

// Run returns only once the final flushes of its partitions are over (here
// when the grace has passed), so that the actors they use outlive them.
func TestFeaturesRunWaitsForItsPartitionsToClose(t *testing.T) {
	h := &blockingHost{}
	f, err := processors.NewFeatures(processors.FeaturesOptions{Kafka: processors.Kafka{HandBackGrace: time.Second}, Host: h, Producer: &fakeProducer{}})
	if err != nil {
		t.Fatal(err)
	}
	tt := tester.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- f.Run(ctx, goka.WithTester(tt)) }()
	deadline := time.Now().Add(20 * time.Second)
	for !f.Recovered() {
		if time.Now().After(deadline) {
			t.Fatal("the stage did not start within 20s")
		}
		<-time.After(5 * time.Millisecond)
	}
	tt.Consume(tables.SignalsTopic, "acme/host-a", signal("host-a", time.Now(), 1))
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opened != 1 || h.closed != 1 {
		t.Fatalf("Run returned with %d of %d partitions closed", h.closed, h.opened)
	}
}
