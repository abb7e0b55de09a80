package api_test

import (
	"bytes"
	"compress/gzip"
	"runtime"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
)

// A gzip body is bounded by the body limit as it is inflated, not after:
// 128 KiB on the wire that inflate to 128 MiB are refused (413) without
// the replica holding 128 MiB, so that a few such requests cannot take
// the memory of a replica that serves every tenant.
func TestIngestBoundsAGzipBodyBeforeInflatingIt(t *testing.T) {
	const inflated = 128 << 20
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range inflated / len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	srv := ingestServer(&fakeProducer{}, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := do(t, srv, "POST", "/ingest", zipped.String(), "Content-Type", "application/json", "Content-Encoding", "gzip")
	runtime.ReadMemStats(&after)
	if r.status != 413 {
		t.Fatalf("%d %s, want 413", r.status, r.body)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4*api.DefaultIngestMaxBody {
		t.Fatalf("a %d-byte gzip body made the server allocate %d MiB before refusing it (limit %d MiB)",
			zipped.Len(), grew>>20, api.DefaultIngestMaxBody>>20)
	}
}

// Sending a request again is safe, the API says, and the README's first
// example sends an event without a time, which takes the time the request
// arrived. A client that sends that request again (after a timeout, a 503
// or a reconnect) must not make a second event of it: the ingest stage
// must find the same event (source, metric, event time) in both.
func TestIngestAnEventWithoutATimeSentAgainIsTheSameEvent(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, nil)
	body := `{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":93,"unit":"percent"}`
	for range 2 {
		if r := do(t, srv, "POST", "/ingest", body, "Content-Type", "application/json"); r.status != 202 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	recs := p.records()
	if len(recs) != 2 {
		t.Fatalf("%d records published", len(recs))
	}
	var times []int64
	for _, rec := range recs {
		// As the ingest stage reads it, whatever millisecond the broker
		// stamps it with.
		at := tables.RawRecordTime(rec.Timestamp.Add(time.Second), []byte(tables.Header(rec, tables.HeaderReceived)))
		res := normalize.Options{}.Parse(rec.Value, at)
		if len(res.Events) != 1 {
			t.Fatalf("record %q: %+v", rec.Value, res)
		}
		times = append(times, res.Events[0].Sample.TsMicro)
	}
	if times[0] != times[1] {
		t.Fatalf("the request sent twice made two events, at %v and %v: PostgreSQL keeps two rows and the features count it twice",
			time.UnixMicro(times[0]).UTC(), time.UnixMicro(times[1]).UTC())
	}
}
