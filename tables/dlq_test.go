package tables

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDLQRecord(t *testing.T) {
	f := func(r Rejection, key, value string, headers ...string) {
		t.Helper()
		rec := DLQRecord(r)
		var got []string
		for _, h := range rec.Headers {
			got = append(got, h.Key+"="+string(h.Value))
		}
		if rec.Topic != DLQTopic || string(rec.Key) != key || string(rec.Value) != value || !reflect.DeepEqual(got, headers) {
			t.Errorf("record %s key %q value %q headers\n%q\nwant\n%q", rec.Topic, rec.Key, rec.Value, got, headers)
		}
	}
	raw := Input{Topic: RawTopic, Partition: 3, Offset: 42, Key: []byte("k")}
	// A whole record.
	f(Reject(StageIngest, "invalid_json", "not json", raw, []byte("junk")), "k", "junk",
		"eventops-reason=invalid_json", "eventops-error=not json", "eventops-stage=ingest",
		"eventops-origin-topic=ingest.raw.agent", "eventops-origin-partition=3", "eventops-origin-offset=42")
	// One event of a record of many.
	f(Reject(StageIngest, "not_finite", "value is NaN", raw, []byte(`{"value":"NaN"}`)).Event(2), "k", `{"value":"NaN"}`,
		"eventops-reason=not_finite", "eventops-error=value is NaN", "eventops-stage=ingest",
		"eventops-origin-topic=ingest.raw.agent", "eventops-origin-partition=3", "eventops-origin-offset=42",
		"eventops-origin-index=2")
	// A row the store refused: known by its topic and source alone.
	f(Reject(StageSink, "refused_by_database", "bad row", SourceInput(AlertsTopic, "acme", "host-a"), []byte("{}")), "acme/host-a", "{}",
		"eventops-reason=refused_by_database", "eventops-error=bad row", "eventops-stage=sink",
		"eventops-origin-topic=ops.alert.v1", "eventops-origin-partition=-1", "eventops-origin-offset=-1")
	// A sample of a signal names the raw record the signal came from.
	sig := &Signal{Tenant: "acme", Host: "host-a", Origin: Origin{Partition: 5, Offset: 9}}
	f(Reject(StageFeatures, "too_late", "late", sig.RawInput(), []byte("{}")), "acme/host-a", "{}",
		"eventops-reason=too_late", "eventops-error=late", "eventops-stage=features",
		"eventops-origin-topic=ingest.raw.agent", "eventops-origin-partition=5", "eventops-origin-offset=9")
}

// The DLQ keeps at most MaxDLQValue bytes of an input, and says so.
func TestRejectCutsLongValues(t *testing.T) {
	long := []byte(strings.Repeat("x", MaxDLQValue+10))
	r := Reject(StageIngest, "too_large", "too large", Input{Topic: RawTopic}, long)
	if len(r.Value) != MaxDLQValue || r.Error != "too large (the value is cut to its first 262144 of 262154 bytes)" || r.Index != -1 {
		t.Fatalf("%d bytes, %q, index %d", len(r.Value), r.Error, r.Index)
	}
	exact := long[:MaxDLQValue]
	if r := Reject(StageIngest, "too_large", "too large", Input{}, exact); len(r.Value) != MaxDLQValue || r.Error != "too large" {
		t.Fatalf("%d bytes, %q", len(r.Value), r.Error)
	}
}

func TestHeader(t *testing.T) {
	r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: HeaderReason, Value: []byte("a")}, {Key: HeaderReason, Value: []byte("b")}}}
	if Header(r, HeaderReason) != "a" || Header(r, HeaderStage) != "" {
		t.Fatal(Header(r, HeaderReason))
	}
}
