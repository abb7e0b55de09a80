package api

import (
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/normalize/influx"
	"github.com/eventops/eventops/normalize/otlp"
	"github.com/eventops/eventops/normalize/promrw"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// The routes of the protocols agents already speak, besides POST /ingest.
const (
	pathOTLP        = "/v1/metrics"   // OTLP/HTTP metrics, protobuf or JSON
	pathRemoteWrite = "/api/v1/write" // Prometheus remote-write 1.0 and 2.0
	pathInfluxV2    = "/api/v2/write" // InfluxDB 2 line protocol
	pathInfluxV1    = "/write"        // InfluxDB 1 line protocol
)

// Protocols, as the metrics label them.
const (
	protoOTLP        = "otlp"
	protoRemoteWrite = "remote_write"
	protoInflux      = "influx"
)

const (
	mimeProtobuf = "application/x-protobuf"
	// headerOrgID names the tenant of a request made with an admin key or
	// without keys, as Mimir and Loki read it.
	headerOrgID = "X-Scope-OrgID"
	// maxMessageErrors bounds the errors quoted in a protocol's answer.
	maxMessageErrors = 10
	// maxRequestPoints bounds the points (kept or refused) of one request
	// of a protocol, far above what senders batch (remote-write 2,000,
	// the Collector 8,192, Telegraf 1,000): a body of tiny data points
	// would otherwise become hundreds of thousands of events or DLQ
	// records.
	maxRequestPoints = 100_000
)

// ingested is what one request of a protocol came to: the events accepted
// and published, and every rejection (each also on the DLQ).
type ingested struct {
	accepted int
	rejected []normalize.Rejected
}

// refusedIndexes is how many distinct points (by Index) were refused: the
// data points, samples or lines a protocol counts.
func (r ingested) refusedIndexes() int {
	seen := map[int]bool{}
	for _, rej := range r.rejected {
		seen[rej.Err.Index] = true
	}
	return len(seen)
}

// summary quotes the first rejections for an answer.
func (r ingested) summary(what string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s refused (the accepted ones are stored; the refused ones are on %s)", r.refusedIndexes(), what, tables.DLQTopic)
	for i, rej := range r.rejected {
		if i == maxMessageErrors {
			fmt.Fprintf(&b, "; and %d more", len(r.rejected)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", rej.Err.Reason, rej.Err.Msg)
	}
	return b.String()
}

// protocolTenant is the tenant a request of a protocol writes: a tenant
// key's own (X-Scope-OrgID, when sent, must name it: 403 otherwise), else,
// with an admin key or without keys, X-Scope-OrgID, else named (the org or
// db parameter of Influx); "" when none says.
func (s *Server) protocolTenant(c *fiber.Ctx, a access, named string) (string, error) {
	org := strings.Clone(strings.TrimSpace(c.Get(headerOrgID)))
	if only, ok := a.only(); ok {
		if org != "" && org != only {
			return "", fmt.Errorf("%w: %s names tenant %q, which this key may not write", ErrForbidden, headerOrgID, org)
		}
		return only, nil
	}
	if org == "" {
		org = strings.Clone(named)
	}
	return org, nil
}

// noTenant is the 400 of a request that names no tenant.
func noTenant(param string) error {
	how := "send " + headerOrgID
	if param != "" {
		how += " or the " + param + " parameter"
	}
	return badRequest("this request names no tenant: use a tenant's API key, or %s with an admin key or without keys", how)
}

// ingestPoints judges what a decoder made of a request, as POST /ingest
// judges events, against the receive time, and publishes the accepted
// events to ingest.raw.agent (as the JSON events they are) and the rejected
// ones to the DLQ, under the same tenant checks, rate limits and counting.
// Nothing is published when the request holds more than maxRequestPoints
// points (413), an event names a tenant the request may not write (403)
// or a tenant is over its rate (429).
func (s *Server) ingestPoints(c *fiber.Ctx, a access, protocol, tenant string, d normalize.Decoded, received time.Time) (ingested, error) {
	if n := len(d.Points) + len(d.Refused); n > maxRequestPoints {
		return ingested{}, &Problem{Type: "about:blank", Title: "Request Entity Too Large", Status: fiber.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the request holds %d points, more than the limit of %d: send them in smaller requests; nothing was published", n, maxRequestPoints)}
	}
	res := s.opts.Normalize.Judge(d, received)
	for what, n := range d.Dropped {
		s.ingestMetrics.dropped.WithLabelValues(protocol, what).Add(float64(n))
	}
	// One buffer holds every event's JSON.
	var buf []byte
	ends := make([]int, len(res.Events))
	counts := map[string]int{}
	for i := range res.Events {
		ev := &res.Events[i]
		if !a.sees(ev.Tenant) {
			s.ingestMetrics.events.WithLabelValues("forbidden", ReasonForbiddenTenant).Add(float64(len(res.Events) + len(res.Rejected)))
			return ingested{}, fmt.Errorf("%w: the request names tenant %q, which this key may not write; nothing was published", ErrForbidden, ev.Tenant)
		}
		buf = ev.AppendJSON(buf)
		ends[i] = len(buf)
		counts[ev.Tenant]++
	}
	ok := make([]accepted, len(res.Events))
	start := 0
	for i := range res.Events {
		ev := &res.Events[i]
		ok[i] = accepted{raw: buf[start:ends[i]:ends[i]], key: tables.SourceKey(ev.Tenant, ev.Host)}
		start = ends[i]
	}
	dlq := make([]*kgo.Record, 0, len(res.Rejected))
	for _, rej := range res.Rejected {
		s.ingestMetrics.events.WithLabelValues("rejected", string(rej.Err.Reason)).Inc()
		dlq = append(dlq, s.dlqRecord(c, rej))
	}
	if tenant != "" && len(dlq) > 0 {
		// What goes to the DLQ costs the tenant as much as what is kept.
		counts[tenant] += len(dlq)
	}
	if err := s.publish(c, ok, dlq, counts, received); err != nil {
		return ingested{}, err
	}
	return ingested{accepted: len(ok), rejected: res.Rejected}, nil
}

// dlqRecord is the DLQ record of a rejection of the request: its origin is
// the route, its value the rejected point as a JSON event (or the body).
func (s *Server) dlqRecord(c *fiber.Ctx, rej normalize.Rejected) *kgo.Record {
	in := tables.Input{Topic: "POST " + c.Path(), Partition: -1, Offset: -1}
	return kgotables.DLQRecord(tables.Reject(tables.StageAPI, string(rej.Err.Reason), rej.Err.Error(), in, rej.Raw).Event(rej.Err.Index))
}

// refuseBody answers a body its protocol cannot decode: 413 for one too
// large once decompressed, else 400, with the body on the DLQ.
func (s *Server) refuseBody(c *fiber.Ctx, tenant string, body []byte, e *normalize.Error) error {
	if e.Reason == normalize.ReasonTooLarge {
		c.Context().SetConnectionClose()
		return &Problem{Type: "about:blank", Title: "Request Entity Too Large", Status: fiber.StatusRequestEntityTooLarge, Detail: e.Msg}
	}
	s.ingestMetrics.events.WithLabelValues("rejected", string(e.Reason)).Inc()
	counts := map[string]int{}
	if tenant != "" {
		counts[tenant] = 1
	}
	if err := s.publish(c, nil, []*kgo.Record{s.dlqRecord(c, normalize.Rejected{Err: e, Raw: body})}, counts, time.Now()); err != nil {
		return err
	}
	return badRequest("%s: %s (the body is on %s)", e.Reason, e.Msg, tables.DLQTopic)
}

// otlpMetrics serves POST /v1/metrics: an OTLP ExportMetricsServiceRequest
// as protobuf (application/x-protobuf) or JSON (application/json), gzip
// allowed. The answer is an ExportMetricsServiceResponse in the request's
// encoding, with partial_success counting the refused data points; errors
// are google.rpc.Status messages (otlpError).
func (s *Server) otlpMetrics(c *fiber.Ctx) error {
	if err := checkParams(c, nil); err != nil {
		return err
	}
	a, err := s.admitIngest(c, mimeProtobuf, fiber.MIMEApplicationJSON)
	if err != nil {
		return err
	}
	format := otlp.Protobuf
	if otlpIsJSON(c) {
		format = otlp.JSON
	}
	tenant, err := s.protocolTenant(c, a, "")
	if err != nil {
		return err
	}
	body, err := readBody(c, s.opts.IngestMaxBody, true)
	if err != nil {
		return err
	}
	received := time.Now().Truncate(time.Microsecond)
	md, perr := otlp.Unmarshal(body, format)
	if perr != nil {
		return s.refuseBody(c, tenant, body, perr)
	}
	got, err := s.ingestPoints(c, a, protoOTLP, tenant, otlp.Decode(md, otlp.Options{Tenant: tenant}), received)
	if err != nil {
		return err
	}
	resp := pmetricotlp.NewExportResponse()
	if len(got.rejected) > 0 {
		ps := resp.PartialSuccess()
		ps.SetRejectedDataPoints(int64(got.refusedIndexes()))
		ps.SetErrorMessage(got.summary("data points"))
	}
	var b []byte
	if format == otlp.JSON {
		b, err = resp.MarshalJSON()
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	} else {
		b, err = resp.MarshalProto()
		c.Set(fiber.HeaderContentType, mimeProtobuf)
	}
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusOK).Send(b)
}

func otlpIsJSON(c *fiber.Ctx) bool {
	mt, _, _ := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	return strings.EqualFold(mt, fiber.MIMEApplicationJSON)
}

// remoteWrite serves POST /api/v1/write: Prometheus remote-write 1.0
// (Content-Type application/x-protobuf, or with
// proto=prometheus.WriteRequest) and 2.0 (proto=io.prometheus.write.v2.Request),
// snappy-compressed. 204 when every sample is kept; 400 (which senders do
// not retry) naming the refused samples, the others being stored; 2.0
// answers say how many samples and histograms were written.
func (s *Server) remoteWrite(c *fiber.Ctx) error {
	if err := checkParams(c, nil); err != nil {
		return err
	}
	a, err := s.admitIngest(c, mimeProtobuf)
	if err != nil {
		return err
	}
	_, params, _ := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	v := promrw.V1
	switch params["proto"] {
	case "", "prometheus.WriteRequest":
	case "io.prometheus.write.v2.Request":
		v = promrw.V2
	default:
		return &Problem{Type: "about:blank", Title: "Unsupported Media Type", Status: fiber.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("proto=%q is not a remote-write message this server takes (prometheus.WriteRequest, io.prometheus.write.v2.Request)", params["proto"])}
	}
	tenant, err := s.protocolTenant(c, a, "")
	if err != nil {
		return err
	}
	if tenant == "" {
		return noTenant("")
	}
	body, err := readBody(c, s.opts.IngestMaxBody, false, "snappy")
	if err != nil {
		return err
	}
	received := time.Now().Truncate(time.Microsecond)
	d, counts, perr := promrw.Decode(body, v, promrw.Options{Tenant: tenant, MaxDecoded: s.opts.IngestMaxBody})
	if perr != nil {
		return s.refuseBody(c, tenant, body, perr)
	}
	got, err := s.ingestPoints(c, a, protoRemoteWrite, tenant, d, received)
	if err != nil {
		return err
	}
	if v == promrw.V2 {
		samples, histograms := counts.Samples, counts.Histograms
		seen := map[int]bool{}
		for _, rej := range got.rejected {
			switch i := rej.Err.Index; {
			case seen[i]:
			case i < counts.Samples:
				samples--
			default:
				histograms--
			}
			seen[rej.Err.Index] = true
		}
		c.Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(samples))
		c.Set("X-Prometheus-Remote-Write-Histograms-Written", strconv.Itoa(histograms))
		c.Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
	}
	if len(got.rejected) > 0 {
		return badRequest("%s", got.summary("samples"))
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// influxWrite serves POST /api/v2/write and POST /write: InfluxDB line
// protocol, gzip allowed, any Content-Type (Influx clients send text/plain,
// curl a form type; browsers are kept out by the Origin checks), the
// timestamps in the precision parameter's unit. 204 when every line is
// kept; 400 with InfluxDB's error body (partial write) naming the refused
// lines, the others being stored.
func (s *Server) influxWrite(c *fiber.Ctx) error {
	v1 := c.Path() == pathInfluxV1
	tenantParam, known := "org", []string{"org", "orgID", "bucket", "precision"}
	if v1 {
		tenantParam, known = "db", []string{"db", "rp", "precision", "consistency"}
	}
	if err := checkParams(c, known); err != nil {
		return err
	}
	a, err := s.admitIngest(c)
	if err != nil {
		return err
	}
	prec, err := influx.ParsePrecision(c.Query("precision"))
	if err != nil {
		return badRequest("%v", err)
	}
	tenant, err := s.protocolTenant(c, a, c.Query(tenantParam))
	if err != nil {
		return err
	}
	if tenant == "" {
		return noTenant(tenantParam)
	}
	body, err := readBody(c, s.opts.IngestMaxBody, true)
	if err != nil {
		return err
	}
	received := time.Now().Truncate(time.Microsecond)
	got, err := s.ingestPoints(c, a, protoInflux, tenant, influx.Decode(body, influx.Options{Tenant: tenant, Precision: prec}), received)
	if err != nil {
		return err
	}
	if len(got.rejected) > 0 {
		return badRequest("partial write: %s", got.summary("lines"))
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// protocolError writes err in the form the route's senders read, and
// reports whether the route has one: OTLP a google.rpc.Status (protobuf or
// JSON, as the request was), Influx its {"code","message"} body.
// Remote-write senders log the body as text: they get the problem.
func protocolError(c *fiber.Ctx, p *Problem) (bool, error) {
	switch c.Path() {
	case pathOTLP:
		st := &spb.Status{Code: grpcCode(p.Status), Message: p.Detail}
		var b []byte
		var err error
		if otlpIsJSON(c) {
			b, err = protojson.Marshal(st)
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		} else {
			b, err = proto.Marshal(st)
			c.Set(fiber.HeaderContentType, mimeProtobuf)
		}
		if err != nil {
			return true, err
		}
		return true, c.Status(p.Status).Send(b)
	case pathInfluxV2, pathInfluxV1:
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		b, _ := jsonMarshal(map[string]string{"code": influxCode(p.Status), "message": p.Detail})
		return true, c.Status(p.Status).Send(b)
	}
	return false, nil
}

// grpcCode is the google.rpc.Code of an HTTP status, as the OTLP/HTTP
// specification pairs them.
func grpcCode(status int) int32 {
	switch status {
	case fiber.StatusBadRequest, fiber.StatusRequestEntityTooLarge, fiber.StatusUnsupportedMediaType:
		return 3 // INVALID_ARGUMENT
	case fiber.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case fiber.StatusForbidden:
		return 7 // PERMISSION_DENIED
	case fiber.StatusNotFound:
		return 5 // NOT_FOUND
	case fiber.StatusTooManyRequests:
		return 8 // RESOURCE_EXHAUSTED
	case fiber.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	}
	return 13 // INTERNAL
}

// influxCode is InfluxDB's error code of an HTTP status.
func influxCode(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "invalid"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusNotFound:
		return "not found"
	case fiber.StatusRequestEntityTooLarge:
		return "request too large"
	case fiber.StatusUnsupportedMediaType:
		return "unsupported media type"
	case fiber.StatusTooManyRequests:
		return "too many requests"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	}
	return "internal error"
}
