package processors_test

import (
	"math"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// An OTLP record becomes the signals the same samples sent as JSON become;
// its bad points and a record that is not OTLP go to the DLQ.
func TestIngestReadsOTLPRecords(t *testing.T) {
	tt, fp := runIngest(t, at(received), nil)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	rm.Resource().Attributes().PutStr("service.instance.id", "pod-7")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.requests")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i, v := range []float64{10, math.Inf(1), 12} {
		dp := s.DataPoints().AppendEmpty()
		dp.SetDoubleValue(v)
		dp.SetTimestamp(pcommon.NewTimestampFromTime(received.Add(time.Duration(i-10) * time.Second)))
		dp.Attributes().PutStr("http.route", "/cart")
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	tt.Consume(tables.OTLPTopic, "", body, tester.WithTime(received), tester.WithHeaders(goka.Headers{processors.HeaderOrgID: []byte("acme")}))
	tt.Consume(tables.OTLPTopic, "", []byte("\x0a\xff\xff"), tester.WithTime(received))

	sigs := fp.topic(tables.SignalsTopic)
	if len(sigs) != 1 || string(sigs[0].Key) != "acme/pod-7" {
		t.Fatalf("%d signals", len(sigs))
	}
	sig, err := tables.DecodeSignal(sigs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig.Samples) != 2 || sig.Samples[0].Metric != "http_server_requests_total" || sig.Samples[1].Value != 12 ||
		sig.Samples[0].Tags.Map()["http_route"] != "/cart" || sig.Samples[0].Tags.Map()["job"] != "checkout" {
		t.Fatalf("samples %+v", sig.Samples)
	}
	if sig.Origin.Partition != -1 || sig.IngestMicro != received.UnixMicro() {
		t.Fatalf("origin %+v, ingest %d", sig.Origin, sig.IngestMicro)
	}
	var reasons []string
	for _, r := range fp.topic(tables.DLQTopic) {
		reasons = append(reasons, kgotables.Header(r, tables.HeaderReason)+"@"+kgotables.Header(r, tables.HeaderOriginTopic)+"#"+
			kgotables.Header(r, tables.HeaderOriginIndex))
	}
	if len(reasons) != 2 || reasons[0] != "not_finite@ingest.otlp.v1#1" || reasons[1] != "invalid_protobuf@ingest.otlp.v1#" {
		t.Fatalf("DLQ %q", reasons)
	}
}
