package processors_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// target records what the sink hands over and acknowledges it at once.
type target struct {
	mu      sync.Mutex
	signals []*tables.Signal
	alerts  []*rules.Transition
}

func (tg *target) Signal(_ context.Context, sig *tables.Signal, done func()) error {
	tg.mu.Lock()
	tg.signals = append(tg.signals, sig)
	tg.mu.Unlock()
	go done()
	return nil
}

func (tg *target) Alert(_ context.Context, tr *rules.Transition, _ []byte, done func()) error {
	tg.mu.Lock()
	tg.alerts = append(tg.alerts, tr)
	tg.mu.Unlock()
	go done()
	return nil
}

func TestSinkHandsOverSignalsAndAlerts(t *testing.T) {
	tg, fp := &target{}, &fakeProducer{}
	s, err := processors.NewSink(processors.SinkOptions{Target: tg, Producer: fp})
	if err != nil {
		t.Fatal(err)
	}
	tt := tester.New(t)
	proc, err := s.NewProcessor(goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = proc.Run(ctx) }()

	sig := &tables.Signal{Tenant: "acme", Host: "h", Samples: []tables.Sample{{Metric: "m", Value: 1}}}
	tt.Consume(tables.SignalsTopic, "acme/h", sig.AppendBinary(nil))
	tr, _ := json.Marshal(rules.Transition{AlertName: "A", Tenant: "acme", Host: "h", State: "firing", EpisodeID: "e1"})
	tt.Consume(tables.AlertsTopic, "acme/h", tr)
	tt.Consume(tables.AlertsTopic, "acme/h", []byte(`{"state":"firing"}`)) // no episode: not an alert
	tt.Consume(tables.SignalsTopic, "acme/h", []byte("junk"))

	if len(tg.signals) != 1 || len(tg.alerts) != 1 || tg.alerts[0].EpisodeID != "e1" {
		t.Fatalf("signals %d alerts %+v", len(tg.signals), tg.alerts)
	}
	dlq := fp.topic(tables.DLQTopic)
	if len(dlq) != 2 || kgotables.Header(dlq[0], tables.HeaderReason) != "undecodable_alert" ||
		kgotables.Header(dlq[1], tables.HeaderReason) != "undecodable_signal" {
		t.Fatalf("DLQ %+v", dlq)
	}
}
