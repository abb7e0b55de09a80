package kgotables_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

func TestDLQRecord(t *testing.T) {
	f := func(r tables.Rejection, key, value string, headers ...string) {
		t.Helper()
		rec := kgotables.DLQRecord(r)
		var got []string
		for _, h := range rec.Headers {
			got = append(got, h.Key+"="+string(h.Value))
		}
		if rec.Topic != tables.DLQTopic || string(rec.Key) != key || string(rec.Value) != value || !reflect.DeepEqual(got, headers) {
			t.Errorf("record %s key %q value %q headers\n%q\nwant\n%q", rec.Topic, rec.Key, rec.Value, got, headers)
		}
	}
	raw := tables.Input{Topic: tables.RawTopic, Partition: 3, Offset: 42, Key: []byte("k")}
	// A whole record.
	f(tables.Reject(tables.StageIngest, "invalid_json", "not json", raw, []byte("junk")), "k", "junk",
		"eventops-reason=invalid_json", "eventops-error=not json", "eventops-stage=ingest",
		"eventops-origin-topic=ingest.raw.agent", "eventops-origin-partition=3", "eventops-origin-offset=42")
	// One event of a record of many.
	f(tables.Reject(tables.StageIngest, "not_finite", "value is NaN", raw, []byte(`{"value":"NaN"}`)).Event(2), "k", `{"value":"NaN"}`,
		"eventops-reason=not_finite", "eventops-error=value is NaN", "eventops-stage=ingest",
		"eventops-origin-topic=ingest.raw.agent", "eventops-origin-partition=3", "eventops-origin-offset=42",
		"eventops-origin-index=2")
	// A row the store refused: known by its topic and source alone.
	f(tables.Reject(tables.StageSink, "refused_by_database", "bad row", tables.SourceInput(tables.AlertsTopic, "acme", "host-a"), []byte("{}")), "acme/host-a", "{}",
		"eventops-reason=refused_by_database", "eventops-error=bad row", "eventops-stage=sink",
		"eventops-origin-topic=ops.alert.v1", "eventops-origin-partition=-1", "eventops-origin-offset=-1")
	// A sample of a signal names the raw record the signal came from.
	sig := &tables.Signal{Tenant: "acme", Host: "host-a", Origin: tables.Origin{Partition: 5, Offset: 9}}
	f(tables.Reject(tables.StageFeatures, "too_late", "late", sig.RawInput(), []byte("{}")), "acme/host-a", "{}",
		"eventops-reason=too_late", "eventops-error=late", "eventops-stage=features",
		"eventops-origin-topic=ingest.raw.agent", "eventops-origin-partition=5", "eventops-origin-offset=9")
}

func TestFranzPartitionerMatchesPartition(t *testing.T) {
	p := kgotables.Partitioner().ForTopic(tables.SignalsTopic)
	for i := 0; i < 1000; i++ {
		key := tables.SourceKey("tenant", string(rune('a'+i%26))+"-host-"+string(rune('0'+i%10))+string(rune(i)))
		got := p.Partition(&kgo.Record{Key: []byte(key)}, 12)
		if int32(got) != tables.Partition(key, 12) {
			t.Fatalf("key %q: franz-go %d, goka %d", key, got, tables.Partition(key, 12))
		}
	}
}

func TestHeader(t *testing.T) {
	r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: tables.HeaderReason, Value: []byte("a")}, {Key: tables.HeaderReason, Value: []byte("b")}}}
	if kgotables.Header(r, tables.HeaderReason) != "a" || kgotables.Header(r, tables.HeaderStage) != "" {
		t.Fatal(kgotables.Header(r, tables.HeaderReason))
	}
}

// HTTP ingest's header carries the receive time the ingest stage reads back.
func TestReceivedHeader(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
	h := kgotables.ReceivedHeader(at)
	if h.Key != tables.HeaderReceived || string(h.Value) != "1767323045678901" {
		t.Fatalf("%s=%s", h.Key, h.Value)
	}
	if got := tables.RawRecordTime(at.Add(time.Second), h.Value); !got.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("read back %s", got)
	}
}
