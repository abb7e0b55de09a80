package processors_test

import (
	"context"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables"
)

func runIngest(t *testing.T) (*tester.Tester, *fakeProducer) {
	t.Helper()
	tt := tester.New(t)
	fp := &fakeProducer{}
	in, err := processors.NewIngest(processors.IngestOptions{
		Producer: fp, FragmentTimeout: 50 * time.Millisecond,
		Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	proc, err := in.NewProcessor(goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingest stopped with %v", err)
		}
	})
	return tt, fp
}

func TestIngestNormalizesAndEnriches(t *testing.T) {
	tt, fp := runIngest(t)
	tt.SetTableValue(tables.MetaTable, "acme/host-a", []byte(`{"owner":"team-a","region":"eu","tags":{"tier":"1"}}`))
	// Consume returns once the record's commit is released, i.e. once its
	// signal is acknowledged.
	tt.Consume(tables.RawTopic, "", []byte(`[{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,"ts_event":"2025-10-21T10:00:00Z","unit":"%"},
		{"tenant_id":"acme","host":"host-b","metric":"mem","value":1,"ts_event":"2025-10-21T10:00:01Z"},
		{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":93,"ts_event":"2025-10-21T10:00:10Z"}]`))
	sigs := fp.topic(tables.SignalsTopic)
	if len(sigs) != 2 {
		t.Fatalf("%d signals, want one per source", len(sigs))
	}
	if string(sigs[0].Key) != "acme/host-a" || string(sigs[1].Key) != "acme/host-b" {
		t.Fatalf("keys %s %s", sigs[0].Key, sigs[1].Key)
	}
	sig, err := tables.DecodeSignal(sigs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig.Samples) != 2 || sig.Samples[0].Value != 92 || sig.Samples[1].Value != 93 || sig.Samples[0].Unit != "percent" {
		t.Fatalf("samples %+v", sig.Samples)
	}
	if sig.Meta == nil || sig.Meta.Owner != "team-a" || sig.Meta.Tags["tier"] != "1" {
		t.Fatalf("meta %+v", sig.Meta)
	}
	if other, _ := tables.DecodeSignal(sigs[1].Value); other.Meta != nil {
		t.Fatalf("host-b has no metadata, got %+v", other.Meta)
	}
	if len(fp.topic(tables.DLQTopic)) != 0 {
		t.Fatal("nothing should be rejected")
	}
}

func TestIngestRejectsToTheDLQAndGoesOn(t *testing.T) {
	tt, fp := runIngest(t)
	tt.Consume(tables.RawTopic, "agent-7", []byte(`{"tenant_id":"acme","host":"h","metric":"m","value":"NaN"}`))
	// Not JSON on its own: it waits for records that might complete it,
	// then goes to the DLQ; Consume returns once that is durable.
	tt.Consume(tables.RawTopic, "", []byte(`garbage`))
	tt.Consume(tables.RawTopic, "", []byte(`{"tenant_id":"acme","host":"h","metric":"m","value":1,"ts_event":"2025-10-21T10:00:00Z"}`))
	dlq := fp.topic(tables.DLQTopic)
	if len(dlq) != 2 {
		t.Fatalf("%d DLQ records", len(dlq))
	}
	want := []struct{ reason, key, offset string }{{"not_finite", "agent-7", "0"}, {"invalid_json", "", "1"}}
	for i, w := range want {
		r := dlq[i]
		if tables.Header(r, tables.HeaderReason) != w.reason || string(r.Key) != w.key ||
			tables.Header(r, tables.HeaderOriginOffset) != w.offset || tables.Header(r, tables.HeaderOriginTopic) != tables.RawTopic ||
			tables.Header(r, tables.HeaderStage) != "ingest" {
			t.Errorf("DLQ record %d: key %q headers %+v", i, r.Key, r.Headers)
		}
	}
	if len(fp.topic(tables.SignalsTopic)) != 1 {
		t.Fatal("the good record after the bad ones must pass")
	}
}
