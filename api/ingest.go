package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// Producer publishes records and waits for the broker's acknowledgement;
// *kgo.Client is one (with kgotables.Partitioner, so that keyed records land
// where the pipeline reads them).
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Ingest limits.
const (
	// DefaultIngestMaxBody bounds a POST /ingest body.
	DefaultIngestMaxBody = 8 << 20
	// maxItemErrors bounds the per-event errors of an answer.
	maxItemErrors = 100
	// maxRecordBytes and maxRecordEvents bound one published record, well
	// inside what the ingest stage accepts.
	maxRecordBytes  = 256 << 10
	maxRecordEvents = 1000
)

// mimeNDJSON is the media type of newline-delimited JSON.
const mimeNDJSON = "application/x-ndjson"

// ReasonForbiddenTenant is the reason of an event whose tenant the request
// may not write.
const ReasonForbiddenTenant = "forbidden_tenant"

type ingestResponse struct {
	Accepted        int         `json:"accepted"`
	Rejected        int         `json:"rejected"`
	Errors          []ItemError `json:"errors"`
	ErrorsTruncated int         `json:"errors_truncated,omitempty"`
}

// ingestMetrics count what HTTP ingest did with events.
type ingestMetrics struct {
	events  *prometheus.CounterVec // outcome, reason
	dropped *prometheus.CounterVec // protocol, what
}

func newIngestMetrics(reg prometheus.Registerer) *ingestMetrics {
	m := &ingestMetrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventops_http_ingest_events_total",
		Help: "Events HTTP ingest (POST /ingest, /v1/metrics, /api/v1/write, /api/v2/write, /write) received, by outcome (accepted, rejected, rate_limited, forbidden, unpublished) and rejection reason.",
	}, []string{"outcome", "reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventops_http_ingest_dropped_total",
			Help: "What the protocols' HTTP routes left out by design, by protocol (otlp, remote_write, influx) and what (exemplars, metadata, stale_markers, no_recorded_value, histogram_buckets, string_fields).",
		}, []string{"protocol", "what"})}
	if reg != nil {
		reg.MustRegister(m.events, m.dropped)
	}
	return m
}

// item is one event of a body: its bytes, its position and its line.
type item struct {
	raw   []byte
	index int
	line  int // 1-based line of NDJSON; 0 in an array
}

// ingest serves POST /ingest: one JSON event, a JSON array of events, or
// NDJSON. Each event is checked by normalize exactly as the ingest stage
// checks it, against the time the request was received; the accepted ones
// are published to ingest.raw.agent keyed by tenant/host (one source's events
// keep their order) with that time in a header, so that the ingest stage
// judges them against it again, and the answer is 202 with the counts and an
// error for each rejected event. Nothing is published when the request is
// refused as a whole (400, 401, 403, 413, 429).
func (s *Server) ingest(c *fiber.Ctx) error {
	if err := checkParams(c, nil); err != nil {
		return err
	}
	a, err := s.admitIngest(c, fiber.MIMEApplicationJSON, mimeNDJSON)
	if err != nil {
		return err
	}
	body, err := readBody(c, s.opts.IngestMaxBody, true)
	if err != nil {
		return err
	}
	items, err := s.splitBody(body)
	if err != nil {
		return err
	}
	// The receive time plays the part of a raw record's broker timestamp:
	// events are judged against it here, and the ingest stage judges them
	// against it again (it travels in a header of the raw records).
	received := time.Now().Truncate(time.Microsecond)
	var resp ingestResponse
	resp.Errors = []ItemError{}
	reject := func(it item, reason, detail string) {
		resp.Rejected++
		s.ingestMetrics.events.WithLabelValues("rejected", reason).Inc()
		if len(resp.Errors) == maxItemErrors {
			resp.ErrorsTruncated++
			return
		}
		resp.Errors = append(resp.Errors, ItemError{Index: it.index, Line: it.line, Reason: reason, Detail: detail})
	}
	var ok []accepted
	counts := map[string]int{}
	for _, it := range items {
		if it.raw[0] == '[' {
			// An array inside the body's array or line: the ingest stage
			// refuses it as it refuses any event that is not an object.
			reject(it, string(normalize.ReasonWrongType), "an event must be a JSON object")
			continue
		}
		res := s.opts.Normalize.Parse(it.raw, received)
		if len(res.Rejected) > 0 || len(res.Events) != 1 {
			for _, r := range res.Rejected {
				reject(it, string(r.Err.Reason), r.Err.Msg)
			}
			continue
		}
		ev := res.Events[0]
		if !a.sees(ev.Tenant) {
			s.ingestMetrics.events.WithLabelValues("forbidden", ReasonForbiddenTenant).Add(float64(len(items)))
			where := fmt.Sprintf("event %d", it.index)
			if it.line > 0 {
				where = fmt.Sprintf("line %d", it.line)
			}
			return fmt.Errorf("%w: %s names tenant %q, which this key may not write; nothing was published", ErrForbidden, where, ev.Tenant)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, it.raw); err != nil {
			reject(it, string(normalize.ReasonInvalidJSON), err.Error())
			continue
		}
		ok = append(ok, accepted{raw: compact.Bytes(), key: tables.SourceKey(ev.Tenant, ev.Host)})
		counts[ev.Tenant]++
	}
	if len(ok) == 0 {
		p := &Problem{Type: "about:blank", Title: "Bad Request", Status: fiber.StatusBadRequest,
			Detail: fmt.Sprintf("no event was accepted: %d rejected", resp.Rejected), Errors: resp.Errors}
		return p
	}
	if err := s.publish(c, ok, nil, counts, received); err != nil {
		return err
	}
	resp.Accepted = len(ok)
	return c.Status(fiber.StatusAccepted).JSON(resp)
}

// admitIngest is the start every ingest route shares: the replica takes
// HTTP ingest, the request's access, its Content-Type (one of types; none:
// any), and a tenant key's tenant not in debt, which is refused before its
// body is read and parsed: being limited costs it (and the server) nothing
// more.
func (s *Server) admitIngest(c *fiber.Ctx, types ...string) (access, error) {
	if s.opts.Producer == nil {
		return access{}, fmt.Errorf("%w: this replica does not take HTTP ingest", ErrUnavailable)
	}
	a, err := s.requestAccess(c)
	if err != nil {
		return access{}, err
	}
	if len(types) > 0 {
		if err := requireContentType(c, types...); err != nil {
			return access{}, err
		}
	}
	if tenant, ok := a.only(); ok {
		if _, wait := s.limiter.admit(map[string]int{tenant: 0}, time.Now()); wait > 0 {
			return access{}, s.rateLimited(c, tenant, wait)
		}
	}
	return a, nil
}

// accepted is one accepted event as it is published: its JSON and its
// source's key.
type accepted struct {
	raw []byte
	key string
}

// publish is the end every ingest route shares: counts (events per tenant,
// rejected ones included when they go to the DLQ) are admitted by the
// tenants' rates (429 otherwise, nothing published), then the accepted
// events are published to ingest.raw.agent with the receive time, one
// record per source and run of events in the order given (the broker keeps
// a source's events in order), together with dlq, and the answer waits for
// the broker (503 when it did not take them all).
func (s *Server) publish(c *fiber.Ctx, ok []accepted, dlq []*kgo.Record, counts map[string]int, received time.Time) error {
	if tenant, wait := s.limiter.admit(counts, received); wait > 0 {
		s.ingestMetrics.events.WithLabelValues("rate_limited", "").Add(float64(len(ok)))
		return s.rateLimited(c, tenant, wait)
	}
	var recs []*kgo.Record
	open := map[string]*kgo.Record{}
	n := map[*kgo.Record]int{}
	for _, e := range ok {
		r := open[e.key]
		if r == nil || len(r.Value)+1+len(e.raw) > maxRecordBytes || n[r] == maxRecordEvents {
			r = &kgo.Record{Topic: tables.RawTopic, Key: []byte(e.key), Timestamp: received,
				Headers: []kgo.RecordHeader{kgotables.ReceivedHeader(received)}}
			open[e.key] = r
			recs = append(recs, r)
		} else {
			r.Value = append(r.Value, '\n')
		}
		r.Value = append(r.Value, e.raw...)
		n[r]++
	}
	if len(recs)+len(dlq) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.opts.IngestTimeout)
	defer cancel()
	var failed, failedEvents int
	var firstErr error
	for _, res := range s.opts.Producer.ProduceSync(ctx, append(recs, dlq...)...) {
		if res.Err != nil {
			failed++
			failedEvents += n[res.Record]
			if firstErr == nil {
				firstErr = res.Err
			}
		}
	}
	if failed > 0 {
		s.ingestMetrics.events.WithLabelValues("unpublished", "").Add(float64(failedEvents))
		s.ingestMetrics.events.WithLabelValues("accepted", "").Add(float64(len(ok) - failedEvents))
		s.log.Error("ingest: publishing failed", "records", failed, "of", len(recs)+len(dlq), "err", firstErr)
		return fmt.Errorf("%w: %d of %d events could not be published to %s (%v); sending them again is safe for events that carry their time: a sample is stored once",
			ErrUnavailable, failedEvents, len(ok), tables.RawTopic, firstErr)
	}
	s.ingestMetrics.events.WithLabelValues("accepted", "").Add(float64(len(ok)))
	return nil
}

// rateLimited is the 429 of a tenant over its ingest rate.
func (s *Server) rateLimited(c *fiber.Ctx, tenant string, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return &Problem{Type: "about:blank", Title: "Too Many Requests", Status: fiber.StatusTooManyRequests,
		Detail: fmt.Sprintf("tenant %q is over its ingest rate of %g events/s: retry in %ds; nothing was published", tenant, s.opts.IngestRate, secs)}
}

// splitBody cuts a body into its events: the elements of a JSON array, a
// single JSON value, or the non-empty lines of NDJSON. A line longer than
// the normalizer's record limit is 413; a body that is none of the three
// (a broken array, nothing at all) is 400.
func (s *Server) splitBody(body []byte) ([]item, error) {
	maxLine := s.opts.Normalize.Defaults().MaxRecordBytes
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, badRequest("the body is empty: send a JSON event, a JSON array of events or NDJSON")
	}
	tooLarge := func(where string, n int) error {
		return &Problem{Type: "about:blank", Title: "Request Entity Too Large", Status: fiber.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("%s is %d bytes, more than the limit of %d for one event", where, n, maxLine)}
	}
	if trimmed[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, badRequest("the body is not a JSON array of events: %v at byte %d", se, se.Offset)
			}
			return nil, badRequest("the body is not a JSON array of events: %v", err)
		}
		items := make([]item, len(raws))
		for i, r := range raws {
			if len(r) > maxLine {
				return nil, tooLarge(fmt.Sprintf("event %d", i), len(r))
			}
			items[i] = item{raw: r, index: i}
		}
		return items, nil
	}
	if json.Valid(trimmed) {
		// One event, possibly pretty-printed over several lines.
		if len(trimmed) > maxLine {
			return nil, tooLarge("the event", len(trimmed))
		}
		return []item{{raw: trimmed, index: 0}}, nil
	}
	var items []item
	line := 0
	for rest := body; len(rest) > 0; {
		var l []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			l, rest = rest, nil
		}
		line++
		if len(l) > maxLine {
			return nil, tooLarge(fmt.Sprintf("line %d", line), len(l))
		}
		if l = bytes.TrimSpace(l); len(l) > 0 {
			items = append(items, item{raw: l, index: len(items), line: line})
		}
	}
	return items, nil
}
