package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// published splits what a request published into the events of the raw
// topic (as the ingest stage reads them) and the DLQ's reasons.
func published(t *testing.T, p *fakeProducer) (events []string, dlq []string) {
	t.Helper()
	for _, r := range p.records() {
		switch r.Topic {
		case tables.RawTopic:
			recv := tables.RawRecordTime(r.Timestamp, []byte(kgotables.Header(r, tables.HeaderReceived)))
			res := normalize.Options{}.Parse(r.Value, recv)
			if len(res.Rejected) > 0 {
				t.Fatalf("the ingest stage would refuse %s: %v", r.Value, res.Rejected[0].Err)
			}
			for _, e := range res.Events {
				if string(r.Key) != e.Tenant+"/"+e.Host {
					t.Fatalf("record keyed %q holds %s/%s", r.Key, e.Tenant, e.Host)
				}
				events = append(events, fmt.Sprintf("%s/%s %s %v=%g", e.Tenant, e.Host, e.Sample.Metric, e.Sample.Tags.Map(), e.Sample.Value))
			}
		case tables.DLQTopic:
			dlq = append(dlq, kgotables.Header(r, tables.HeaderStage)+" "+kgotables.Header(r, tables.HeaderOriginTopic)+" "+
				kgotables.Header(r, tables.HeaderReason))
		default:
			t.Fatalf("record on %s", r.Topic)
		}
	}
	return events, dlq
}

func otlpBody(t *testing.T, tenantAttr string, values ...float64) pmetric.Metrics {
	t.Helper()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "host-a")
	if tenantAttr != "" {
		rm.Resource().Attributes().PutStr("tenant_id", tenantAttr)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("process.cpu.utilization")
	m.SetUnit("1")
	dps := m.SetEmptyGauge().DataPoints()
	for _, v := range values {
		dp := dps.AppendEmpty()
		dp.SetDoubleValue(v)
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Second)))
	}
	return md
}

func TestOTLPProtobufPartialSuccess(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.Keys = keysFor(t, "acme") })
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "host-a")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("process.cpu.utilization")
	m.SetUnit("1")
	dps := m.SetEmptyGauge().DataPoints()
	for _, v := range []float64{0.5, math.NaN(), 0.7} {
		pt := dps.AppendEmpty()
		pt.SetDoubleValue(v)
		pt.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Duration(v*10) * time.Second)))
		pt.Attributes().PutStr("process.owner", "app")
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(body)
	zw.Close()
	r := do(t, srv, "POST", "/v1/metrics", zipped.String(), append(bearer("key-acme"),
		"Content-Type", "application/x-protobuf", "Content-Encoding", "gzip")...)
	if r.status != 200 || r.ctype != "application/x-protobuf" {
		t.Fatalf("%d %s %q", r.status, r.ctype, r.body)
	}
	resp := pmetricotlp.NewExportResponse()
	if err := resp.UnmarshalProto(r.body); err != nil {
		t.Fatal(err)
	}
	if ps := resp.PartialSuccess(); ps.RejectedDataPoints() != 1 || !strings.Contains(ps.ErrorMessage(), "not_finite") {
		t.Fatalf("partial success %d %q", ps.RejectedDataPoints(), ps.ErrorMessage())
	}
	events, dlq := published(t, p)
	want := []string{"acme/host-a process_cpu_utilization_ratio map[process_owner:app]=0.5", "acme/host-a process_cpu_utilization_ratio map[process_owner:app]=0.7"}
	if !slices.Equal(events, want) || !slices.Equal(dlq, []string{"api POST /v1/metrics not_finite"}) {
		t.Fatalf("events %q dlq %q", events, dlq)
	}
}

func TestOTLPErrorsAreStatuses(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.Keys = keysFor(t, "acme") })
	// Corrupt JSON: 400, a JSON Status, the body on the DLQ.
	r := do(t, srv, "POST", "/v1/metrics", `{"resourceMetrics":[{`, append(bearer("key-acme"), "Content-Type", "application/json")...)
	var st spb.Status
	if r.status != 400 || protojson.Unmarshal(r.body, &st) != nil || st.Code != 3 || !strings.Contains(st.Message, "invalid_json") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Corrupt protobuf: 400, a protobuf Status.
	r = do(t, srv, "POST", "/v1/metrics", "\x0a\xff\xff\xff", append(bearer("key-acme"), "Content-Type", "application/x-protobuf")...)
	if r.status != 400 || proto.Unmarshal(r.body, &st) != nil || !strings.Contains(st.Message, "invalid_protobuf") {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if _, dlq := published(t, p); !slices.Equal(dlq, []string{"api POST /v1/metrics invalid_json", "api POST /v1/metrics invalid_protobuf"}) {
		t.Fatalf("dlq %q", dlq)
	}
	// Another tenant, by header or by resource attribute: 403, nothing published.
	body, _ := pmetricotlp.NewExportRequestFromMetrics(otlpBody(t, "", 1)).MarshalProto()
	r = do(t, srv, "POST", "/v1/metrics", string(body), append(bearer("key-acme"), "Content-Type", "application/x-protobuf", "X-Scope-OrgID", "other")...)
	if r.status != 403 || proto.Unmarshal(r.body, &st) != nil || st.Code != 7 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	body, _ = pmetricotlp.NewExportRequestFromMetrics(otlpBody(t, "other", 1)).MarshalProto()
	r = do(t, srv, "POST", "/v1/metrics", string(body), append(bearer("key-acme"), "Content-Type", "application/x-protobuf")...)
	if r.status != 403 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	// No key: 401 as a Status.
	r = do(t, srv, "POST", "/v1/metrics", string(body), "Content-Type", "application/x-protobuf")
	if r.status != 401 || proto.Unmarshal(r.body, &st) != nil || st.Code != 16 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if n := len(p.records()); n != 2 {
		t.Fatalf("%d records published", n)
	}
	// The admin key names the tenant with X-Scope-OrgID.
	r = do(t, srv, "POST", "/v1/metrics", string(body), append(bearer("key-admin"), "Content-Type", "application/x-protobuf", "X-Scope-OrgID", "beta")...)
	if r.status != 200 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if events, _ := published(t, p); len(events) != 1 || !strings.HasPrefix(events[0], "other/host-a ") {
		t.Fatalf("the resource's tenant_id wins: %q", events)
	}
}

func rwV1(t *testing.T, samples ...prompb.Sample) []byte {
	t.Helper()
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "http_requests_total"}, {Name: "instance", Value: "web-1:9100"}, {Name: "job", Value: "web"}},
		Samples: samples,
	}}}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

func TestRemoteWrite(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.Keys = keysFor(t, "acme") })
	now := time.Now().UnixMilli()
	rw := append(bearer("key-acme"), "Content-Type", "application/x-protobuf", "Content-Encoding", "snappy", "X-Prometheus-Remote-Write-Version", "0.1.0")
	r := do(t, srv, "POST", "/api/v1/write", string(rwV1(t, prompb.Sample{Value: 1, Timestamp: now - 2000}, prompb.Sample{Value: 2, Timestamp: now - 1000})), rw...)
	if r.status != 204 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// A refused sample: 400 (not retried), the good one stored, the bad one on the DLQ.
	r = do(t, srv, "POST", "/api/v1/write", string(rwV1(t, prompb.Sample{Value: 3, Timestamp: now}, prompb.Sample{Value: 4, Timestamp: now + 3_600_000})), rw...)
	if r.status != 400 || !strings.Contains(string(r.body), "future") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Not snappy: 400, the body on the DLQ.
	r = do(t, srv, "POST", "/api/v1/write", "plain text", rw...)
	if r.status != 400 || !strings.Contains(string(r.body), "invalid_snappy") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	events, dlq := published(t, p)
	want := []string{"acme/web-1:9100 http_requests_total map[job:web]=1", "acme/web-1:9100 http_requests_total map[job:web]=2", "acme/web-1:9100 http_requests_total map[job:web]=3"}
	if !slices.Equal(events, want) || !slices.Equal(dlq, []string{"api POST /api/v1/write future", "api POST /api/v1/write invalid_snappy"}) {
		t.Fatalf("events %q dlq %q", events, dlq)
	}
	// Another encoding: 415; an unknown message: 415; no tenant with the admin key: 400.
	if r := do(t, srv, "POST", "/api/v1/write", "x", append(bearer("key-acme"), "Content-Type", "application/x-protobuf", "Content-Encoding", "zstd")...); r.status != 415 {
		t.Fatalf("zstd: %d", r.status)
	}
	if r := do(t, srv, "POST", "/api/v1/write", "x", append(bearer("key-acme"), "Content-Type", "application/x-protobuf;proto=io.prometheus.write.v3.Request")...); r.status != 415 {
		t.Fatalf("v3: %d", r.status)
	}
	if r := do(t, srv, "POST", "/api/v1/write", "x", append(bearer("key-admin"), "Content-Type", "application/x-protobuf")...); r.status != 400 || !strings.Contains(string(r.body), "X-Scope-OrgID") {
		t.Fatalf("no tenant: %d %s", r.status, r.body)
	}
}

func TestRemoteWrite2Headers(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, nil)
	now := time.Now().UnixMilli()
	st := writev2.NewSymbolTable()
	req := &writev2.Request{Timeseries: []writev2.TimeSeries{{
		LabelsRefs: []uint32{st.Symbolize("__name__"), st.Symbolize("up"), st.Symbolize("instance"), st.Symbolize("a:1")},
		Samples:    []writev2.Sample{{Value: 1, Timestamp: now}, {Value: math.Inf(1), Timestamp: now + 1}},
		Histograms: nil,
	}}}
	req.Symbols = st.Symbols()
	b, _ := req.Marshal()
	r := do(t, srv, "POST", "/api/v1/write", string(snappy.Encode(nil, b)), "Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request",
		"Content-Encoding", "snappy", "X-Scope-OrgID", "acme")
	if r.status != 400 || r.header.Get("X-Prometheus-Remote-Write-Samples-Written") != "1" || r.header.Get("X-Prometheus-Remote-Write-Histograms-Written") != "0" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
}

func TestInfluxWrite(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.Keys = keysFor(t, "acme") })
	sec := time.Now().Add(-time.Minute).Unix()
	body := fmt.Sprintf("cpu,host=web-1,cpu=cpu0 usage_idle=92.5,usage_user=3i %d\nnot a line\nmem,host=web-1 used_percent=40 %d\n", sec, sec)
	token := []string{"Authorization", "Token key-acme"}
	// The org names the sender's InfluxDB organization; a tenant key's tenant wins.
	r := do(t, srv, "POST", "/api/v2/write?org=my-org&bucket=telegraf&precision=s", body, append(token, "Content-Type", "text/plain; charset=utf-8")...)
	var ie struct{ Code, Message string }
	if r.status != 400 || json.Unmarshal(r.body, &ie) != nil || ie.Code != "invalid" || !strings.Contains(ie.Message, "partial write") ||
		!strings.Contains(ie.Message, "line 2") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("telegraf:key-acme"))
	r = do(t, srv, "POST", "/write?db=telegraf&precision=s", fmt.Sprintf("disk,host=db-1 free=1u %d", sec), "Authorization", basic,
		"Content-Type", "application/x-www-form-urlencoded")
	if r.status != 204 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	events, dlq := published(t, p)
	want := []string{"acme/web-1 cpu_usage_idle map[cpu:cpu0]=92.5", "acme/web-1 cpu_usage_user map[cpu:cpu0]=3", "acme/web-1 mem_used_percent map[]=40", "acme/db-1 disk_free map[]=1"}
	if !slices.Equal(events, want) || !slices.Equal(dlq, []string{"api POST /api/v2/write invalid_line"}) {
		t.Fatalf("events %q dlq %q", events, dlq)
	}
	// Errors are InfluxDB's error bodies.
	r = do(t, srv, "POST", "/api/v2/write?org=acme&precision=d", "m,host=h v=1", append(token, "Content-Type", "text/plain")...)
	if r.status != 400 || json.Unmarshal(r.body, &ie) != nil || ie.Code != "invalid" || !strings.Contains(ie.Message, "precision") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = do(t, srv, "POST", "/api/v2/write?org=acme", "m,host=h v=1", "Authorization", "Token wrong")
	if r.status != 401 || json.Unmarshal(r.body, &ie) != nil || ie.Code != "unauthorized" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Open access: the org is the tenant.
	open := &fakeProducer{}
	if r := do(t, ingestServer(open, nil), "POST", "/api/v2/write?org=beta", "m,host=h v=1", "Content-Type", "text/plain"); r.status != 204 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if events, _ := published(t, open); !slices.Equal(events, []string{"beta/h m_v map[]=1"}) {
		t.Fatalf("%q", events)
	}
}

// A tenant over its rate gets 429 and Retry-After on every protocol, and
// nothing is published.
func TestProtocolsRateLimited(t *testing.T) {
	p := &fakeProducer{}
	srv := ingestServer(p, func(o *api.Options) { o.Keys, o.IngestRate, o.IngestBurst = keysFor(t, "acme"), 1, 1 })
	line := []string{"Authorization", "Token key-acme", "Content-Type", "text/plain"}
	if r := do(t, srv, "POST", "/api/v2/write?org=x", "m,host=h a=1,b=2,c=3", line...); r.status != 204 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	n := len(p.records())
	body, _ := pmetricotlp.NewExportRequestFromMetrics(otlpBody(t, "", 1)).MarshalProto()
	for _, c := range []struct {
		path, body string
		headers    []string
	}{
		{"/api/v2/write?org=x", "m,host=h a=1", line},
		{"/v1/metrics", string(body), append(bearer("key-acme"), "Content-Type", "application/x-protobuf")},
		{"/api/v1/write", string(rwV1(t, prompb.Sample{Value: 1, Timestamp: time.Now().UnixMilli()})), append(bearer("key-acme"), "Content-Type", "application/x-protobuf")},
	} {
		r := do(t, srv, "POST", c.path, c.body, c.headers...)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Fatalf("%s: %d %v", c.path, r.status, r.header)
		}
	}
	if len(p.records()) != n {
		t.Fatal("published while limited")
	}
}
