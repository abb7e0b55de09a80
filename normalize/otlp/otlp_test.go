package otlp_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/normalize/otlp"
)

var received = time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)

var at = pcommon.NewTimestampFromTime(received.Add(-time.Second))

// sample builds one request of every kind of metric.
func sample() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "host-a")
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	rm.Resource().Attributes().PutStr("service.namespace", "shop")
	rm.Resource().Attributes().PutStr("telemetry.sdk.language", "go")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()

	g := ms.AppendEmpty()
	g.SetName("system.memory.utilization")
	g.SetUnit("1")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetDoubleValue(0.5)
	dp.SetTimestamp(at)
	dp.Attributes().PutStr("system.memory.state", "used")
	dp.Exemplars().AppendEmpty()

	c := ms.AppendEmpty()
	c.SetName("http.server.requests")
	s := c.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp = s.DataPoints().AppendEmpty()
	dp.SetIntValue(42)
	dp.SetTimestamp(at)
	dp.Attributes().PutInt("http.response.status_code", 200)
	dp = s.DataPoints().AppendEmpty() // no recorded value: left out
	dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))

	u := ms.AppendEmpty()
	u.SetName("queue.depth")
	u.SetUnit("{item}")
	us := u.SetEmptySum()
	us.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp = us.DataPoints().AppendEmpty()
	dp.SetIntValue(-3)
	dp.SetTimestamp(at)

	h := ms.AppendEmpty()
	h.SetName("http.server.request.duration")
	h.SetUnit("s")
	hh := h.SetEmptyHistogram()
	hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hh.DataPoints().AppendEmpty()
	hp.SetCount(10)
	hp.SetSum(2.5)
	hp.SetTimestamp(at)
	hp.BucketCounts().FromRaw([]uint64{1, 2, 7})
	hp.ExplicitBounds().FromRaw([]float64{0.1, 1})

	sm := ms.AppendEmpty()
	sm.SetName("rpc.latency")
	sm.SetUnit("ms")
	sp := sm.SetEmptySummary().DataPoints().AppendEmpty()
	sp.SetCount(4)
	sp.SetSum(100)
	sp.SetTimestamp(at)
	q := sp.QuantileValues().AppendEmpty()
	q.SetQuantile(0.99)
	q.SetValue(40)

	d := ms.AppendEmpty()
	d.SetName("bytes.sent")
	ds := d.SetEmptySum()
	ds.SetIsMonotonic(true)
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	ds.DataPoints().AppendEmpty().SetIntValue(5)
	return md
}

func events(res normalize.Result) []string {
	var out []string
	for _, e := range res.Events {
		s := fmt.Sprintf("%s/%s %s %v=%g %s", e.Tenant, e.Host, e.Sample.Metric, e.Sample.Tags.Map(), e.Sample.Value, e.Sample.Unit)
		if e.Sample.TsMicro != at.AsTime().UnixMicro() {
			s += " at " + time.UnixMicro(e.Sample.TsMicro).UTC().String()
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

func TestDecodeMapping(t *testing.T) {
	for _, f := range []otlp.Format{otlp.Protobuf, otlp.JSON} {
		var body []byte
		var err error
		if f == otlp.JSON {
			body, err = (&pmetric.JSONMarshaler{}).MarshalMetrics(sample())
		} else {
			body, err = (&pmetric.ProtoMarshaler{}).MarshalMetrics(sample())
		}
		if err != nil {
			t.Fatal(err)
		}
		md, perr := otlp.Unmarshal(body, f)
		if perr != nil {
			t.Fatal(perr)
		}
		d := otlp.Decode(md, otlp.Options{Tenant: "acme"})
		res := normalize.Options{}.Judge(d, received)
		want := []string{
			`acme/host-a system_memory_utilization_ratio map[job:shop/checkout system_memory_state:used]=0.5`,
			`acme/host-a http_server_requests_total map[http_response_status_code:200 job:shop/checkout]=42`,
			`acme/host-a queue_depth map[job:shop/checkout]=-3`,
			`acme/host-a http_server_request_duration_seconds_count map[job:shop/checkout]=10`,
			`acme/host-a http_server_request_duration_seconds_sum map[job:shop/checkout]=2.5 s`,
			`acme/host-a rpc_latency_milliseconds_count map[job:shop/checkout]=4`,
			`acme/host-a rpc_latency_milliseconds_sum map[job:shop/checkout]=100 ms`,
			`acme/host-a rpc_latency_milliseconds map[job:shop/checkout quantile:0.99]=40 ms`,
		}
		if got := events(res); !slices.Equal(got, want) {
			t.Fatalf("%v:\n%s\nwant\n%s", f, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(res.Rejected) != 1 || res.Rejected[0].Err.Reason != normalize.ReasonUnsupportedType || res.Rejected[0].Err.Index != 6 ||
			!strings.Contains(res.Rejected[0].Err.Msg, "Delta temporality") {
			t.Fatalf("rejected: %+v", res.Rejected)
		}
		if !strings.Contains(string(res.Rejected[0].Raw), `"metric":"bytes_sent_total"`) {
			t.Fatalf("DLQ value %s", res.Rejected[0].Raw)
		}
		if d.Dropped[otlp.DroppedExemplars] != 1 || d.Dropped[otlp.DroppedNoValue] != 1 || d.Dropped[otlp.DroppedHistogramBucket] != 3 {
			t.Fatalf("dropped %v", d.Dropped)
		}
	}
}

func TestDecodeTenantAndHost(t *testing.T) {
	f := func(name string, attrs map[string]string, tenant, want string) {
		t.Helper()
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		for k, v := range attrs {
			rm.Resource().Attributes().PutStr(k, v)
		}
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("up")
		m.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(1)
		res := normalize.Options{}.Judge(otlp.Decode(md, otlp.Options{Tenant: tenant}), received)
		got := ""
		if len(res.Events) == 1 {
			got = res.Events[0].Tenant + "/" + res.Events[0].Host
		} else {
			got = string(res.Rejected[0].Err.Reason) + ": " + res.Rejected[0].Err.Msg
		}
		if !strings.HasPrefix(got, want) {
			t.Fatalf("%s: %s, want %s", name, got, want)
		}
	}
	f("host.name first", map[string]string{"host.name": "h1", "service.instance.id": "i1", "service.name": "s"}, "acme", "acme/h1")
	f("then service.instance.id", map[string]string{"service.instance.id": "i1", "service.name": "s"}, "acme", "acme/i1")
	f("then service.name", map[string]string{"service.name": "unknown_service:app"}, "acme", "acme/unknown_service:app")
	f("no host", map[string]string{"telemetry.sdk.name": "opentelemetry"}, "acme", "missing_field: the resource has none of host.name")
	f("tenant attribute", map[string]string{"tenant_id": "beta", "host.name": "h"}, "acme", "beta/h")
	f("no tenant", map[string]string{"host.name": "h"}, "", "missing_field: no tenant")
}

func TestUnmarshalCorrupt(t *testing.T) {
	if _, err := otlp.Unmarshal([]byte{0x0a, 0xff, 0xff, 0xff}, otlp.Protobuf); err == nil || err.Reason != normalize.ReasonInvalidProtobuf {
		t.Fatalf("corrupt protobuf: %v", err)
	}
	if _, err := otlp.Unmarshal([]byte(`{"resourceMetrics":[`), otlp.JSON); err == nil || err.Reason != normalize.ReasonInvalidJSON {
		t.Fatalf("corrupt JSON: %v", err)
	}
}

// Any body either fails to unmarshal or decodes into points that each get
// a verdict: nothing panics, every data point is an event, a refusal or a
// counted drop.
func FuzzDecode(f *testing.F) {
	b, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(sample())
	f.Add(b, false)
	j, _ := (&pmetric.JSONMarshaler{}).MarshalMetrics(sample())
	f.Add(j, true)
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"a.b","gauge":{"dataPoints":[{"asDouble":"NaN"}]}}]}]}]}`), true)
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		format := otlp.Protobuf
		if isJSON {
			format = otlp.JSON
		}
		md, err := otlp.Unmarshal(body, format)
		if err != nil {
			return
		}
		d := otlp.Decode(md, otlp.Options{Tenant: "acme"})
		res := normalize.Options{}.Judge(d, received)
		if len(res.Events)+len(res.Rejected) != len(d.Points)+len(d.Refused) {
			t.Fatalf("%d points and %d refusals became %d events and %d rejections", len(d.Points), len(d.Refused), len(res.Events), len(res.Rejected))
		}
		for _, r := range res.Rejected {
			if r.Err.Index < 0 || len(r.Raw) == 0 {
				t.Fatalf("rejection without its point: %+v", r)
			}
		}
	})
}
