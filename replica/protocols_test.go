package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/exp/api/remote"
	writev2 "github.com/prometheus/client_golang/exp/api/remote/genproto/v2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// The metric names rules read are the Prometheus names of what each
// protocol sends; counters are counters by their names.
const protocolRules = `
metrics:
  - name: room_temperature_celsius
  - name: rw_requests_total
groups:
  - name: protocols
    rules:
      - alert: HotRoom
        expr: last("room_temperature_celsius") > 90
        labels: {severity: critical}
      - alert: RequestBurst
        expr: increase("rw_requests_total", "1m") > 5
`

// Unmodified senders of every protocol, pointed at a replica by URL alone,
// get their metrics into rows, features and alerts; the bad input of each
// gets the answer its sender expects and lands on the DLQ with its reason,
// and nothing else of its request is lost.
func TestSendersOfEveryProtocol(t *testing.T) {
	bed := newTestBed(t)
	opts := bed.options()
	opts.LoadRules = func() (*rules.RuleSet, error) {
		return rules.Parse("protocols.yml", []byte(protocolRules), rules.Options{})
	}
	ready := make(chan struct{})
	opts.OnReady = func() { close(ready) }
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitReady(t, ready, ran)
	base := "http://" + bed.ln.Addr().String()
	db, err := pgx.Connect(ctx, bed.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	rows := func(tenant, host string) (map[string][]float64, error) {
		rs, err := db.Query(ctx, `SELECT metric, tags, value FROM metrics WHERE tenant = $1 AND source_id = $2 ORDER BY ts`, tenant, host)
		if err != nil {
			return nil, err
		}
		out := map[string][]float64{}
		for rs.Next() {
			var m string
			var tags map[string]string
			var v float64
			if err := rs.Scan(&m, &tags, &v); err != nil {
				return nil, err
			}
			if len(tags) > 0 {
				m += " " + fmt.Sprint(tags)
			}
			out[m] = append(out[m], v)
		}
		return out, rs.Err()
	}
	waitRows := func(t *testing.T, what, tenant, host string, want map[string][]float64) {
		t.Helper()
		eventually(t, time.Minute, what, func() error {
			got, err := rows(tenant, host)
			if err != nil {
				return err
			}
			for k, v := range want {
				if !slices.Equal(got[k], v) {
					return fmt.Errorf("%s: %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
			return nil
		})
	}
	waitAlert := func(t *testing.T, tenant, host, alert string) {
		t.Helper()
		eventually(t, time.Minute, alert+" fires", func() error {
			var n int
			err := db.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE tenant = $1 AND source_id = $2 AND alertname = $3 AND state = 'firing'`,
				tenant, host, alert).Scan(&n)
			if err == nil && n == 0 {
				err = fmt.Errorf("not firing")
			}
			return err
		})
	}

	t.Run("OpenTelemetry SDK", func(t *testing.T) {
		exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"),
			otlpmetrichttp.WithHeaders(map[string]string{"X-Scope-OrgID": "acme"}), otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		if err != nil {
			t.Fatal(err)
		}
		res := resource.NewSchemaless(attribute.String("host.name", "otel-host"), attribute.String("service.name", "thermostat"))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
		defer mp.Shutdown(context.Background())
		m := mp.Meter("eventops.test")
		counter, _ := m.Int64Counter("door.openings")
		gauge, _ := m.Float64Gauge("room.temperature", metric.WithUnit("Cel"))
		hist, _ := m.Float64Histogram("door.duration", metric.WithUnit("s"))
		counter.Add(ctx, 3, metric.WithAttributes(attribute.String("door", "front")))
		gauge.Record(ctx, 95.5)
		hist.Record(ctx, 0.5)
		hist.Record(ctx, 1.5)
		if err := mp.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		waitRows(t, "the SDK's metrics are rows", "acme", "otel-host", map[string][]float64{
			`door_openings_total map[door:front job:thermostat]`: {3},
			`room_temperature_celsius map[job:thermostat]`:       {95.5},
			`door_duration_seconds_count map[job:thermostat]`:    {2},
			`door_duration_seconds_sum map[job:thermostat]`:      {2},
		})
		waitAlert(t, "acme", "otel-host", "HotRoom")
		// A second export: the cumulative counter grows, and its features
		// count the increase.
		counter.Add(ctx, 2, metric.WithAttributes(attribute.String("door", "front")))
		if err := mp.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		waitRows(t, "the counter's second export is a row", "acme", "otel-host", map[string][]float64{
			`door_openings_total map[door:front job:thermostat]`: {3, 5}})
		eventually(t, time.Minute, "the counter's features are a counter's", func() error {
			feats, err := features(base, "acme", "otel-host")
			if err != nil {
				return err
			}
			if c := feats[`door_openings_total{door="front",job="thermostat"}`]; !strings.Contains(c, `"increase":`) {
				return fmt.Errorf("counter features %s", c)
			}
			if g := feats[`room_temperature_celsius{job="thermostat"}`]; g == "" || strings.Contains(g, `"increase"`) {
				return fmt.Errorf("gauge features %s", g)
			}
			return nil
		})
	})

	t.Run("remote-write", func(t *testing.T) {
		hc := &http.Client{Transport: orgID{"acme"}}
		api, err := remote.NewAPI(base, remote.WithAPIPath("/api/v1/write"), remote.WithAPIHTTPClient(hc),
			remote.WithAPIBackoff(remote.BackoffConfig{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond, MaxRetries: 1}))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UnixMilli()
		lbl := []prompb.Label{{Name: "__name__", Value: "rw_requests_total"}, {Name: "instance", Value: "rw-host:9100"}, {Name: "job", Value: "api"}}
		// A counter that resets: increase counts 10 → 12, then 4 after the reset.
		if _, err := api.Write(ctx, remote.WriteV1MessageType, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: lbl,
			Samples: []prompb.Sample{{Value: 10, Timestamp: now - 3000}, {Value: 12, Timestamp: now - 2000}, {Value: 4, Timestamp: now - 1000}}}}}); err != nil {
			t.Fatal(err)
		}
		// 2.0, with its own types.
		st := writev2.NewSymbolTable()
		req := &writev2.Request{Timeseries: []*writev2.TimeSeries{{
			LabelsRefs: []uint32{st.Symbolize("__name__"), st.Symbolize("node_load1"), st.Symbolize("instance"), st.Symbolize("rw-host:9100")},
			Samples:    []*writev2.Sample{{Value: 0.75, Timestamp: now}},
			Metadata:   &writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE},
		}}}
		req.Symbols = st.Symbols()
		stats, err := api.Write(ctx, remote.WriteV2MessageType, req)
		if err != nil || stats.Samples != 1 {
			t.Fatalf("2.0: %+v %v", stats, err)
		}
		waitRows(t, "remote-write's samples are rows", "acme", "rw-host:9100", map[string][]float64{
			`rw_requests_total map[job:api]`: {10, 12, 4},
			`node_load1`:                     {0.75},
		})
		waitAlert(t, "acme", "rw-host:9100", "RequestBurst")
	})

	t.Run("Influx client", func(t *testing.T) {
		at := time.Now().Add(-2 * time.Second)
		for i, prec := range []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond, time.Second} {
			c := influxdb2.NewClientWithOptions(base, "", influxdb2.DefaultOptions().SetPrecision(prec).SetUseGZip(i%2 == 0))
			w := c.WriteAPIBlocking("acme", "telegraf")
			p := influxdb2.NewPoint("disk io,x", map[string]string{"host": "influx-host", "path": "/var/lib data,x=1", "prec": prec.String()},
				map[string]any{"reads": int64(7), "busy": 0.25, "ok": true, "model": "ssd"}, at)
			if err := w.WritePoint(ctx, p); err != nil {
				t.Fatalf("precision %s: %v", prec, err)
			}
			c.Close()
		}
		got := map[string][]float64{}
		eventually(t, time.Minute, "every precision's lines are rows", func() error {
			rs, err := db.Query(ctx, `SELECT metric, tags->>'prec', ts, value FROM metrics WHERE tenant = 'acme' AND source_id = 'influx-host'
				AND tags->>'path' = '/var/lib data,x=1'`)
			if err != nil {
				return err
			}
			got = map[string][]float64{}
			for rs.Next() {
				var m, prec string
				var ts time.Time
				var v float64
				if err := rs.Scan(&m, &prec, &ts, &v); err != nil {
					return err
				}
				d, _ := time.ParseDuration(prec)
				if want := at.Truncate(max(d, time.Millisecond)); !ts.Equal(want) {
					return fmt.Errorf("%s at precision %s: %s, want %s", m, prec, ts, want)
				}
				got[m] = append(got[m], v)
			}
			if err := rs.Err(); err != nil {
				return err
			}
			want := map[string][]float64{"disk_io_x_reads": {7, 7, 7, 7}, "disk_io_x_busy": {0.25, 0.25, 0.25, 0.25}, "disk_io_x_ok": {1, 1, 1, 1}}
			for k, v := range want {
				if !slices.Equal(got[k], v) {
					return fmt.Errorf("%v", got)
				}
			}
			return nil
		})
	})

	t.Run("OTLP on Kafka", func(t *testing.T) {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", "kafka-host")
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("room.temperature")
		g.SetUnit("Cel")
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetDoubleValue(99)
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Second)))
		body, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			t.Fatal(err)
		}
		produce(t, bed.brokers, &kgo.Record{Topic: tables.OTLPTopic, Value: body, Headers: []kgo.RecordHeader{{Key: processors.HeaderOrgID, Value: []byte("acme")}}})
		waitRows(t, "the OTLP record's point is a row", "acme", "kafka-host", map[string][]float64{`room_temperature_celsius`: {99}})
		waitAlert(t, "acme", "kafka-host", "HotRoom")
	})

	t.Run("bad input", func(t *testing.T) {
		now := time.Now()
		// OTLP: a corrupt body is 400 with a Status; a good request with one
		// bad point is 200 with partial success, its good point stored.
		if code, body := post(t, base+"/v1/metrics", "application/x-protobuf", "", []byte("\x0a\xff\xff\xff")); code != 400 || !bytes.Contains(body, []byte("invalid_protobuf")) {
			t.Fatalf("corrupt OTLP: %d %q", code, body)
		}
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", "bad-otlp")
		gs := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		gs.SetName("mixed")
		dps := gs.SetEmptyGauge().DataPoints()
		for i, ts := range []time.Time{now.Add(-time.Second), now.Add(time.Hour)} {
			dp := dps.AppendEmpty()
			dp.SetDoubleValue(float64(i + 1))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		}
		b, _ := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		code, body := post(t, base+"/v1/metrics", "application/x-protobuf", "", b)
		resp := pmetricotlp.NewExportResponse()
		if code != 200 || resp.UnmarshalProto(body) != nil || resp.PartialSuccess().RejectedDataPoints() != 1 {
			t.Fatalf("partial OTLP: %d %q", code, body)
		}
		// Remote-write: wrong snappy is 400, which the sender does not retry.
		hc := &http.Client{Transport: orgID{"acme"}}
		rw, _ := remote.NewAPI(base, remote.WithAPIPath("/api/v1/write"), remote.WithAPIHTTPClient(hc))
		if code, body := post(t, base+"/api/v1/write", "application/x-protobuf", "snappy", []byte("not snappy at all")); code != 400 || !bytes.Contains(body, []byte("invalid_snappy")) {
			t.Fatalf("wrong snappy: %d %q", code, body)
		}
		_, err := rw.Write(ctx, remote.WriteV1MessageType, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
			Labels:  []prompb.Label{{Name: "__name__", Value: "mixed"}, {Name: "instance", Value: "bad-rw"}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: now.UnixMilli() - 1000}, {Value: 2, Timestamp: now.Add(time.Hour).UnixMilli()}}}}})
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("remote-write with a bad sample: %v", err)
		}
		// Influx: bad lines are a partial write; the good line is stored.
		ic := influxdb2.NewClient(base, "")
		err = ic.WriteAPIBlocking("acme", "b").WriteRecord(ctx, "mixed,host=bad-influx v=1", "mixed,host=bad-influx v=", "mixed v=3")
		ic.Close()
		if err == nil || !strings.Contains(err.Error(), "partial write") {
			t.Fatalf("bad lines: %v", err)
		}
		for _, host := range []string{"bad-otlp", "bad-rw", "bad-influx"} {
			want := map[string][]float64{"mixed": {1}}
			if host == "bad-influx" {
				want = map[string][]float64{"mixed_v": {1}}
			}
			waitRows(t, "the good part of a bad request is stored", "acme", host, want)
		}
		eventually(t, time.Minute, "the bad input is on the DLQ with its reasons", func() error {
			got := dlqReasons(t, bed.brokers)
			for _, want := range []string{"POST /v1/metrics invalid_protobuf", "POST /v1/metrics future", "POST /api/v1/write invalid_snappy",
				"POST /api/v1/write future", "POST /api/v2/write invalid_line", "POST /api/v2/write missing_field"} {
				if !slices.Contains(got, want) {
					return fmt.Errorf("no %q in %q", want, got)
				}
			}
			return nil
		})
	})
}

// orgID adds X-Scope-OrgID to every request, as a sender's headers setting does.
type orgID struct{ tenant string }

func (o orgID) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Scope-OrgID", o.tenant)
	return http.DefaultTransport.RoundTrip(r)
}

func post(t *testing.T, url, ctype, encoding string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-Scope-OrgID", "acme")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// features returns a source's live features, each series' JSON by its name.
func features(base, tenant, host string) (map[string]string, error) {
	resp, err := http.Get(base + "/features/" + tenant + "/" + host)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v struct {
		Metrics map[string]json.RawMessage `json:"metrics"`
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /features: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, raw := range v.Metrics {
		out[k] = string(raw)
	}
	return out, nil
}

func produce(t *testing.T, brokers []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// dlqReasons reads the whole DLQ: each record's origin and reason.
func dlqReasons(t *testing.T, brokers []string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(tables.DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var origin, reason string
			for _, h := range r.Headers {
				switch h.Key {
				case tables.HeaderOriginTopic:
					origin = string(h.Value)
				case tables.HeaderReason:
					reason = string(h.Value)
				}
			}
			out = append(out, origin+" "+reason)
		})
		if n == 0 {
			return out
		}
	}
}
