package actors_test

import (
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// A sample the source refuses goes to the DLQ naming the raw record it came
// in (the signal's origin): its topic, partition and offset, and the source.
func TestARefusedSampleNamesItsRawRecord(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{}, false)
	now := h.clock.Now()
	sig := &tables.Signal{Tenant: "acme", Host: "host-a", Origin: tables.Origin{Partition: 7, Offset: 321}, IngestMicro: now.UnixMicro(),
		Samples: []tables.Sample{{Metric: "cpu_load", Value: 99, TsMicro: now.Add(50 * time.Minute).UnixMicro()}}}
	h.part.Deliver(sig.Key(), 0, now.UnixMilli(), sig, h.stored(sig.Key()))
	h.waitDurable(sig.Key(), 0)
	dlq := h.broker.topic(tables.DLQTopic)
	if len(dlq) != 1 {
		t.Fatalf("%d DLQ records", len(dlq))
	}
	r := dlq[0]
	for k, want := range map[string]string{
		tables.HeaderReason: "future", tables.HeaderStage: "features", tables.HeaderOriginTopic: "ingest.raw.agent",
		tables.HeaderOriginPartition: "7", tables.HeaderOriginOffset: "321", tables.HeaderOriginIndex: "",
	} {
		if got := kgotables.Header(r, k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if string(r.Key) != "acme/host-a" || r.Topic != tables.DLQTopic {
		t.Errorf("record %s key %q", r.Topic, r.Key)
	}
}
