package normalize_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/normalize/influx"
	"github.com/eventops/eventops/normalize/otlp"
	"github.com/eventops/eventops/normalize/promrw"
)

// The same 100 samples (10 sources × 10 metrics, two tags each) in every
// protocol, decoded and judged into events: the work HTTP ingest and the
// ingest stage do per sample before publishing.
const benchSources, benchMetrics = 10, 10

var benchReceived = time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)

func benchSample(i, j int) (host, metric string, v float64, ts time.Time) {
	return fmt.Sprintf("host-%d", i), fmt.Sprintf("cpu_load_%d", j), float64(90+j) + 0.5, benchReceived.Add(-time.Duration(i) * time.Second)
}

func benchJSON() []byte {
	var b bytes.Buffer
	for i := range benchSources {
		for j := range benchMetrics {
			host, m, v, ts := benchSample(i, j)
			fmt.Fprintf(&b, `{"tenant_id":"acme","host":%q,"metric":%q,"value":%g,"ts_event":%d,"unit":"percent","tags":{"env":"prod","core":"%d"}}`+"\n",
				host, m, v, ts.UnixMilli(), j)
		}
	}
	return b.Bytes()
}

func benchOTLP() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i := range benchSources {
		rm := md.ResourceMetrics().AppendEmpty()
		host, _, _, _ := benchSample(i, 0)
		rm.Resource().Attributes().PutStr("host.name", host)
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		for j := range benchMetrics {
			_, m, v, ts := benchSample(i, j)
			g := ms.AppendEmpty()
			g.SetName(m)
			g.SetUnit("%")
			dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetDoubleValue(v)
			dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			dp.Attributes().PutStr("env", "prod")
			dp.Attributes().PutStr("core", fmt.Sprint(j))
		}
	}
	return md
}

func benchRWv1() []byte {
	var req prompb.WriteRequest
	for i := range benchSources {
		for j := range benchMetrics {
			host, m, v, ts := benchSample(i, j)
			req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
				Labels:  []prompb.Label{{Name: "__name__", Value: m}, {Name: "core", Value: fmt.Sprint(j)}, {Name: "env", Value: "prod"}, {Name: "instance", Value: host}},
				Samples: []prompb.Sample{{Value: v, Timestamp: ts.UnixMilli()}}})
		}
	}
	b, _ := req.Marshal()
	return snappy.Encode(nil, b)
}

func benchRWv2() []byte {
	st := writev2.NewSymbolTable()
	var req writev2.Request
	for i := range benchSources {
		for j := range benchMetrics {
			host, m, v, ts := benchSample(i, j)
			req.Timeseries = append(req.Timeseries, writev2.TimeSeries{
				LabelsRefs: []uint32{st.Symbolize("__name__"), st.Symbolize(m), st.Symbolize("core"), st.Symbolize(fmt.Sprint(j)),
					st.Symbolize("env"), st.Symbolize("prod"), st.Symbolize("instance"), st.Symbolize(host)},
				Samples: []writev2.Sample{{Value: v, Timestamp: ts.UnixMilli()}}})
		}
	}
	req.Symbols = st.Symbols()
	b, _ := req.Marshal()
	return snappy.Encode(nil, b)
}

func benchInflux() []byte {
	var b bytes.Buffer
	for i := range benchSources {
		for j := range benchMetrics {
			host, _, v, ts := benchSample(i, j)
			fmt.Fprintf(&b, "cpu,host=%s,env=prod,core=%d load_%d=%g %d\n", host, j, j, v, ts.UnixNano())
		}
	}
	return b.Bytes()
}

// BenchmarkDecodePath measures bytes to judged events per protocol; the
// samples/s and ns/sample metrics are per sample (one goroutine, so
// ns/sample is CPU per sample).
func BenchmarkDecodePath(b *testing.B) {
	const samples = benchSources * benchMetrics
	o := normalize.Options{}
	otlpProto, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(benchOTLP())
	otlpJSON, _ := (&pmetric.JSONMarshaler{}).MarshalMetrics(benchOTLP())
	js, rw1, rw2, lines := benchJSON(), benchRWv1(), benchRWv2(), benchInflux()
	cases := []struct {
		name string
		body []byte
		run  func([]byte) normalize.Result
	}{
		{"json", js, func(body []byte) normalize.Result {
			return o.Parse(body, benchReceived)
		}},
		{"otlp_proto", otlpProto, func(body []byte) normalize.Result {
			md, _ := otlp.Unmarshal(body, otlp.Protobuf)
			return o.Judge(otlp.Decode(md, otlp.Options{Tenant: "acme"}), benchReceived)
		}},
		{"otlp_json", otlpJSON, func(body []byte) normalize.Result {
			md, _ := otlp.Unmarshal(body, otlp.JSON)
			return o.Judge(otlp.Decode(md, otlp.Options{Tenant: "acme"}), benchReceived)
		}},
		{"remote_write_v1", rw1, func(body []byte) normalize.Result {
			d, _, _ := promrw.Decode(body, promrw.V1, promrw.Options{Tenant: "acme"})
			return o.Judge(d, benchReceived)
		}},
		{"remote_write_v2", rw2, func(body []byte) normalize.Result {
			d, _, _ := promrw.Decode(body, promrw.V2, promrw.Options{Tenant: "acme"})
			return o.Judge(d, benchReceived)
		}},
		{"influx", lines, func(body []byte) normalize.Result {
			return o.Judge(influx.Decode(body, influx.Options{Tenant: "acme"}), benchReceived)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if res := c.run(c.body); len(res.Events) != samples || len(res.Rejected) != 0 {
				b.Fatalf("%d events, %d rejected: %v", len(res.Events), len(res.Rejected), res.Rejected)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				c.run(c.body)
			}
			perSample := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / samples
			b.ReportMetric(perSample, "ns/sample")
			b.ReportMetric(1e9/perSample, "samples/s")
		})
	}
}
