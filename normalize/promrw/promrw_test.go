package promrw_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/normalize/promrw"
)

var received = time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)

var ms = received.Add(-time.Second).UnixMilli()

func pairs(kv ...string) []prompb.Label {
	var out []prompb.Label
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func v1Body(t testing.TB) []byte {
	req := &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{
			{Labels: pairs("__name__", "http_requests_total", "instance", "web-1:9100", "job", "web", "code", "200"),
				Samples:   []prompb.Sample{{Value: 10, Timestamp: ms - 1000}, {Value: 12, Timestamp: ms}},
				Exemplars: []prompb.Exemplar{{Value: 1, Timestamp: ms}}},
			{Labels: pairs("__name__", "node_load1", "host", "db-1"),
				Samples: []prompb.Sample{{Value: 0.5, Timestamp: ms}, {Value: math.Float64frombits(value.StaleNaN), Timestamp: ms + 1}}},
			{Labels: pairs("__name__", "job:up:sum", "job", "web"), Samples: []prompb.Sample{{Value: 3, Timestamp: ms}}},
			{Labels: pairs("__name__", "orphan"), Samples: []prompb.Sample{{Value: 1, Timestamp: ms}}},
			{Labels: pairs("__name__", "rpc_seconds", "instance", "web-1:9100"),
				Histograms: []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 7}, Sum: 1.5, Timestamp: ms}}},
		},
		Metadata: []prompb.MetricMetadata{{MetricFamilyName: "http_requests_total", Type: prompb.MetricMetadata_COUNTER}},
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

func events(res normalize.Result) []string {
	var out []string
	for _, e := range res.Events {
		out = append(out, fmt.Sprintf("%s/%s %s %v=%g @%d %s", e.Tenant, e.Host, e.Sample.Metric, e.Sample.Tags.Map(), e.Sample.Value,
			e.Sample.TsMicro/1000-ms, e.Sample.Unit))
	}
	return out
}

func TestDecodeV1(t *testing.T) {
	d, c, err := promrw.Decode(v1Body(t), promrw.V1, promrw.Options{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	res := normalize.Options{}.Judge(d, received)
	want := []string{
		"acme/web-1:9100 http_requests_total map[code:200 job:web]=10 @-1000 ",
		"acme/web-1:9100 http_requests_total map[code:200 job:web]=12 @0 ",
		"acme/db-1 node_load1 map[]=0.5 @0 ",
		"acme/web job:up:sum map[job:web]=3 @0 ",
		"acme/web-1:9100 rpc_seconds_count map[]=7 @0 ",
		"acme/web-1:9100 rpc_seconds_sum map[]=1.5 @0 ",
	}
	if got := events(res); !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Err.Reason != normalize.ReasonMissingField || res.Rejected[0].Err.Index != 5 {
		t.Fatalf("rejected %+v", res.Rejected)
	}
	if c != (promrw.Counts{Samples: 6, Histograms: 1, Exemplars: 1}) {
		t.Fatalf("counts %+v", c)
	}
	if d.Dropped[promrw.DroppedStaleMarkers] != 1 || d.Dropped[promrw.DroppedExemplars] != 1 || d.Dropped[promrw.DroppedMetadata] != 1 {
		t.Fatalf("dropped %v", d.Dropped)
	}
}

func TestDecodeV2(t *testing.T) {
	st := writev2.NewSymbolTable()
	req := &writev2.Request{Timeseries: []writev2.TimeSeries{
		{LabelsRefs: st.SymbolizeLabels(lbls("__name__", "process_cpu_seconds_total", "instance", "app:8080", "job", "app"), nil),
			Samples:  []writev2.Sample{{Value: 4.5, Timestamp: ms}},
			Metadata: writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: st.Symbolize("CPU time"), UnitRef: st.Symbolize("seconds")}},
		{LabelsRefs: st.SymbolizeLabels(lbls("__name__", "latency_seconds", "instance", "app:8080"), nil),
			Histograms: []writev2.Histogram{{Count: &writev2.Histogram_CountFloat{CountFloat: 3}, Sum: 0.3, Timestamp: ms}}},
	}}
	req.Symbols = st.Symbols()
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d, c, perr := promrw.Decode(snappy.Encode(nil, b), promrw.V2, promrw.Options{Tenant: "acme"})
	if perr != nil {
		t.Fatal(perr)
	}
	res := normalize.Options{}.Judge(d, received)
	want := []string{
		"acme/app:8080 process_cpu_seconds_total map[job:app]=4.5 @0 s",
		"acme/app:8080 latency_seconds_count map[]=3 @0 ",
		"acme/app:8080 latency_seconds_sum map[]=0.3 @0 ",
	}
	if got := events(res); !slices.Equal(got, want) || len(res.Rejected) != 0 {
		t.Fatalf("got\n%s\nwant\n%s\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), res.Rejected)
	}
	if c.Samples != 1 || c.Histograms != 1 || d.Dropped[promrw.DroppedMetadata] != 1 {
		t.Fatalf("%+v %v", c, d.Dropped)
	}
	// A reference beyond the symbols refuses the request.
	req.Timeseries[0].LabelsRefs[1] = 99
	b, _ = req.Marshal()
	if _, _, perr := promrw.Decode(snappy.Encode(nil, b), promrw.V2, promrw.Options{Tenant: "acme"}); perr == nil || perr.Reason != normalize.ReasonInvalidProtobuf {
		t.Fatalf("bad reference: %v", perr)
	}
}

func lbls(kv ...string) labels.Labels { return labels.FromStrings(kv...) }

func TestDecodeBadBodies(t *testing.T) {
	f := func(name string, body []byte, opts promrw.Options, want normalize.Reason) {
		t.Helper()
		_, _, err := promrw.Decode(body, promrw.V1, opts)
		if err == nil || err.Reason != want {
			t.Fatalf("%s: %v, want %s", name, err, want)
		}
	}
	f("not snappy", []byte("\xff\xff\xff\xff\xff\xff"), promrw.Options{}, normalize.ReasonInvalidSnappy)
	f("snappy framed, not block", []byte("\xff\x06\x00\x00sNaPpY"), promrw.Options{}, normalize.ReasonInvalidSnappy)
	f("corrupt protobuf", snappy.Encode(nil, []byte{0x0a, 0xff, 0xff}), promrw.Options{}, normalize.ReasonInvalidProtobuf)
	f("too large decompressed", snappy.Encode(nil, make([]byte, 4096)), promrw.Options{MaxDecoded: 1024}, normalize.ReasonTooLarge)
}

func FuzzDecode(f *testing.F) {
	f.Add(v1Body(f), false)
	f.Add(snappy.Encode(nil, []byte{0x2a, 0x02, 0x0a, 0x00}), true)
	f.Fuzz(func(t *testing.T, body []byte, v2 bool) {
		v := promrw.V1
		if v2 {
			v = promrw.V2
		}
		d, c, err := promrw.Decode(body, v, promrw.Options{Tenant: "acme", MaxDecoded: 1 << 20})
		if err != nil {
			return
		}
		res := normalize.Options{}.Judge(d, received)
		if len(res.Events)+len(res.Rejected) != len(d.Points)+len(d.Refused) {
			t.Fatal("points lost")
		}
		for _, r := range res.Rejected {
			if r.Err.Index < 0 || r.Err.Index >= c.Samples+c.Histograms {
				t.Fatalf("index %d of %+v", r.Err.Index, c)
			}
		}
	})
}
