package api_test

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/eventops/eventops/api"
)

// A small body of very many tiny data points (two bytes each) is refused
// whole, before it becomes as many events or DLQ records.
func TestOTLPTooManyPointsRefusedWhole(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.Keys = keysFor(t, "acme") })
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "host-a")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("g")
	dps := m.SetEmptyGauge().DataPoints()
	for range 300_000 {
		dps.AppendEmpty()
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, srv, "POST", "/v1/metrics", string(body), append(bearer("key-acme"), "Content-Type", "application/x-protobuf")...)
	if r.status != 413 {
		t.Fatalf("%d (%d bytes of body)", r.status, len(body))
	}
	if events, dlq := published(t, p); len(events)+len(dlq) != 0 {
		t.Fatalf("%d events and %d DLQ records published", len(events), len(dlq))
	}
}
