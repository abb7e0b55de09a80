package processors_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// badAlerts reads the values tables.DecodeAlert refuses, with its error.
func badAlerts(t *testing.T) (values [][]byte, errs []string) {
	t.Helper()
	files, err := filepath.Glob("../tables/testdata/alert-bad/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad alerts: %v", err)
	}
	for _, f := range files {
		v, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, derr := tables.DecodeAlert(v)
		if derr == nil {
			t.Fatalf("%s decodes", f)
		}
		values, errs = append(values, v), append(errs, derr.Error())
	}
	return values, errs
}

// The sink and the notify stage refuse the same alert records, each to the
// DLQ with reason undecodable_alert and the codec's error, and hand over
// none of them.
func TestSinkAndNotifyRefuseTheSameAlerts(t *testing.T) {
	values, errs := badAlerts(t)
	run := func(t *testing.T, stage string, proc func(*tester.Tester) (*goka.Processor, error), handed func() int, fp *fakeProducer) {
		tt := tester.New(t)
		p, err := proc(tt)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- p.Run(ctx) }()
		for _, v := range values {
			tt.Consume(tables.AlertsTopic, "acme/h", v)
		}
		var dlq []*kgo.Record
		for deadline := time.Now().Add(10 * time.Second); ; {
			if dlq = fp.topic(tables.DLQTopic); len(dlq) >= len(values) || time.Now().After(deadline) {
				break
			}
			<-time.After(10 * time.Millisecond)
		}
		if len(dlq) != len(values) || handed() != 0 {
			t.Fatalf("%d DLQ records of %d, %d handed over", len(dlq), len(values), handed())
		}
		for i, r := range dlq {
			if kgotables.Header(r, tables.HeaderReason) != "undecodable_alert" || kgotables.Header(r, tables.HeaderStage) != stage ||
				kgotables.Header(r, tables.HeaderError) != errs[i] || string(r.Value) != string(values[i]) {
				t.Errorf("%s: DLQ record %q headers %+v", values[i], r.Value, r.Headers)
			}
		}
		cancel()
		if err := <-ran; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	t.Run("sink", func(t *testing.T) {
		tg, fp := &target{}, &fakeProducer{}
		s, err := processors.NewSink(processors.SinkOptions{Target: tg, Producer: fp})
		if err != nil {
			t.Fatal(err)
		}
		run(t, "sink", func(tt *tester.Tester) (*goka.Processor, error) { return s.NewProcessor(goka.WithTester(tt)) },
			func() int { tg.mu.Lock(); defer tg.mu.Unlock(); return len(tg.alerts) }, fp)
	})
	t.Run("notify", func(t *testing.T) {
		tg, fp := &notifyTarget{}, &fakeProducer{}
		n, err := processors.NewNotify(processors.NotifyOptions{Target: tg, Producer: fp})
		if err != nil {
			t.Fatal(err)
		}
		run(t, "notify", func(tt *tester.Tester) (*goka.Processor, error) { return n.NewProcessor(goka.WithTester(tt)) },
			func() int { tg.mu.Lock(); defer tg.mu.Unlock(); return len(tg.got) }, fp)
	})
}
