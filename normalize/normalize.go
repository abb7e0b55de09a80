package normalize

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventops/eventops/tables"
)

// Reason is why an event or a record was rejected. Reasons are stable: they
// label counters and the DLQ's reason header.
type Reason string

// Rejection reasons.
const (
	ReasonInvalidJSON  Reason = "invalid_json"
	ReasonSplitRecord  Reason = "split_record"
	ReasonInvalidUTF8  Reason = "invalid_utf8"
	ReasonMissingField Reason = "missing_field"
	ReasonWrongType    Reason = "wrong_type"
	ReasonNotFinite    Reason = "not_finite"
	ReasonBadTimestamp Reason = "bad_timestamp"
	ReasonFuture       Reason = "future"
	ReasonNoRecordTime Reason = "no_record_time"
	ReasonTooLarge     Reason = "too_large"
	ReasonBadName      Reason = "bad_name"
	ReasonTooManyTags  Reason = "too_many_tags"
	ReasonEmpty        Reason = "empty"

	// Reasons of the protocols other than JSON (OTLP, Prometheus
	// remote-write, Influx line protocol): a body or record that is not
	// what its protocol says, and a point of a kind EventOps does not keep.
	ReasonInvalidProtobuf Reason = "invalid_protobuf"
	ReasonInvalidSnappy   Reason = "invalid_snappy"
	ReasonInvalidLine     Reason = "invalid_line"
	ReasonUnsupportedType Reason = "unsupported_type"
)

// Reasons lists every reason, for pre-registering counters.
func Reasons() []Reason {
	return []Reason{ReasonInvalidJSON, ReasonSplitRecord, ReasonInvalidUTF8, ReasonMissingField, ReasonWrongType,
		ReasonNotFinite, ReasonBadTimestamp, ReasonFuture, ReasonNoRecordTime, ReasonTooLarge, ReasonBadName,
		ReasonTooManyTags, ReasonEmpty, ReasonInvalidProtobuf, ReasonInvalidSnappy, ReasonInvalidLine, ReasonUnsupportedType}
}

// Error is a rejection: the reason, a message for people, and the event's
// position in its record (-1 for the whole record).
type Error struct {
	Reason Reason
	Index  int
	Msg    string
}

func (e *Error) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("%s: %s", e.Reason, e.Msg)
	}
	return fmt.Sprintf("event %d: %s: %s", e.Index, e.Reason, e.Msg)
}

// DefaultMaxFuture is the default of Options.MaxFuture. A sample accepted
// ahead of its time moves its metric's newest event time, and the features
// stage refuses samples more than its lateness (1m by default) behind that:
// half the default lateness leaves on-time samples 30 s for delivery delays
// and clock skew. (Mimir's creation grace period, 10m by default, bounds the
// same thing for a store that takes samples out of order.)
const DefaultMaxFuture = 30 * time.Second

// Options bound what is accepted. The zero value takes the defaults.
type Options struct {
	// MaxRecordBytes bounds a whole record (default 1 MiB).
	MaxRecordBytes int
	// MaxEvents bounds the events of one record (default 10,000).
	MaxEvents int
	// MaxFuture is how far an event time may be ahead of its record's time
	// (default DefaultMaxFuture).
	MaxFuture time.Duration
	// MinTime is the earliest event time accepted (default 2000-01-01).
	MinTime time.Time
	// MaxTags bounds the tags of an event (default 64).
	MaxTags int
	// MaxNameLen bounds tenant, host and metric names (default 128).
	MaxNameLen int
	// MaxTagLen bounds a tag key or value (default 256).
	MaxTagLen int
}

// Defaults fills zero fields with the defaults.
func (o Options) Defaults() Options {
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = 1 << 20
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 10_000
	}
	if o.MaxFuture <= 0 {
		o.MaxFuture = DefaultMaxFuture
	}
	if o.MinTime.IsZero() {
		o.MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.MaxTags <= 0 {
		o.MaxTags = 64
	}
	if o.MaxNameLen <= 0 {
		o.MaxNameLen = 128
	}
	if o.MaxTagLen <= 0 {
		o.MaxTagLen = 256
	}
	return o
}

// Event is one accepted, normalized event.
type Event struct {
	Tenant string
	Host   string
	Sample tables.Sample
}

// Rejected is one refused event (or the whole record, Index -1) with the
// bytes it was given.
type Rejected struct {
	Err *Error
	Raw []byte
}

// Result of parsing one record.
type Result struct {
	Events   []Event
	Rejected []Rejected
}

// Parse normalizes one record. recordTime is when the record was received
// (the broker's timestamp of a raw record, the receive time of HTTP ingest):
// it stands in for a missing event time and bounds event times from above,
// so that the verdict depends on the record alone and a replay judges it
// again the same way. A record without one is refused.
func (o Options) Parse(record []byte, recordTime time.Time) Result {
	o = o.Defaults()
	whole := func(reason Reason, format string, args ...any) Result {
		return Result{Rejected: []Rejected{{Err: &Error{Reason: reason, Index: -1, Msg: fmt.Sprintf(format, args...)}, Raw: record}}}
	}
	if len(record) > o.MaxRecordBytes {
		return whole(ReasonTooLarge, "record is %d bytes, more than the limit of %d", len(record), o.MaxRecordBytes)
	}
	if !utf8.Valid(record) {
		return whole(ReasonInvalidUTF8, "record is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(record)
	if len(trimmed) == 0 {
		return whole(ReasonEmpty, "record is empty")
	}
	if recordTime.UnixMicro() <= 0 {
		return whole(ReasonNoRecordTime, "the record has no timestamp to judge its event times against "+
			"(%s must have message.timestamp.type=LogAppendTime, as `eventops topics` creates it)", tables.RawTopic)
	}
	var p parser
	p.opts, p.recordTime = o, recordTime
	if err := p.record(trimmed); err != "" {
		if msg := splitRecord(trimmed); msg != "" {
			return whole(ReasonSplitRecord, "%s", msg)
		}
		return whole(ReasonInvalidJSON, "%s", err)
	}
	if p.items > o.MaxEvents {
		return whole(ReasonTooLarge, "record holds %d events, more than the limit of %d", p.items, o.MaxEvents)
	}
	if p.items == 1 && len(p.rejected) == 1 {
		p.rejected[0].Err.Index = -1
	}
	// Copies, so that the buffers of p can stay on the stack.
	events := p.events.all()
	res := Result{Events: make([]Event, len(events))}
	copy(res.Events, events)
	if len(p.rejected) > 0 {
		res.Rejected = append([]Rejected(nil), p.rejected...)
	}
	return res
}

// parser judges the events of one record as it reads them. The record must
// be valid JSON as a whole (an array), as one value, or line by line
// (NDJSON); until the end is reached, a syntax error can still refuse it
// all, and what was judged is dropped.
type parser struct {
	opts       Options
	recordTime time.Time
	d          decoder
	items      int // values read: events and values that are not objects
	events     list[Event]
	rejected   []Rejected
}

// record reads a trimmed record, or says why it is not JSON.
func (p *parser) record(rec []byte) string {
	s := &p.d.s
	s.data, s.pos = rec, 0
	if rec[0] == '[' {
		if !p.array(rec) {
			return "not a JSON array of events: " + s.errString()
		}
		return ""
	}
	// One value; else NDJSON. When the first line is a whole event, what
	// was read of it stands for that line.
	isObject := rec[0] == '{'
	var ok bool
	if isObject {
		ok = p.d.event(0)
	} else {
		ok = s.value(0)
	}
	end := s.pos
	if ok && s.end() {
		p.item(rec, isObject, false)
		return ""
	}
	if bytes.IndexByte(rec, '\n') < 0 {
		return "not JSON: " + s.errString()
	}
	if !ok || !isObject {
		end = -1
	}
	for line, rest := 1, rec; rest != nil; line++ {
		cur := rest
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			cur, rest = rest[:nl], rest[nl+1:]
		} else {
			rest = nil
		}
		cur = bytes.TrimSpace(cur)
		if len(cur) == 0 {
			continue
		}
		if line == 1 && len(cur) == end {
			p.item(cur, true, false)
			continue
		}
		if !p.value(cur) {
			return fmt.Sprintf("line %d is not JSON: %s", line, s.errString())
		}
	}
	return ""
}

// value reads one NDJSON line.
func (p *parser) value(line []byte) bool {
	s := &p.d.s
	s.data, s.pos = line, 0
	isObject := line[0] == '{' && p.items < p.opts.MaxEvents
	var ok bool
	if isObject {
		ok = p.d.event(0)
	} else {
		ok = s.value(0)
	}
	if !ok || !s.end() {
		return false
	}
	p.item(line, isObject, false)
	return true
}

// array reads a record that is an array. (What is judged is cut from rec,
// not from the scanner, so that no buffer of p escapes.)
func (p *parser) array(rec []byte) bool {
	s := &p.d.s
	s.pos++
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return s.end()
	}
	for {
		start := s.pos
		isObject := start < len(s.data) && s.data[start] == '{' && p.items < p.opts.MaxEvents
		var ok bool
		if isObject {
			ok = p.d.event(1)
		} else {
			ok = s.value(1)
		}
		if !ok {
			return false
		}
		// encoding/json copied each element; so does this, for the
		// rejected ones.
		p.item(rec[start:s.pos], isObject, true)
		more, ok := s.next(']', ctxArrNext)
		if !more {
			return ok && s.end()
		}
	}
}

// item judges the value just read: the event in p.d if isObject, else one
// that is not an object. Past MaxEvents values are only counted.
func (p *parser) item(raw []byte, isObject, copyRaw bool) {
	i := p.items
	p.items++
	if i >= p.opts.MaxEvents {
		return
	}
	var err *Error
	if isObject {
		var ev Event
		if ev, err = p.opts.event(&p.d, p.recordTime); err == nil {
			p.events.add(ev)
			return
		}
	} else {
		err = bad(ReasonWrongType, "an event must be a JSON object")
	}
	if copyRaw {
		raw = bytes.Clone(raw)
	}
	err.Index = i
	p.rejected = append(p.rejected, Rejected{Err: err, Raw: raw})
}

func bad(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Index: -1, Msg: fmt.Sprintf(format, args...)}
}

// event judges the event the decoder holds, in the order of the checks of
// the encoding/json version: type errors, tenant, host, metric, value, time,
// tags, unit. Its strings share one allocation.
func (o *Options) event(d *decoder, recordTime time.Time) (Event, *Error) {
	if d.typeErr != fUnknown {
		return Event{}, bad(ReasonWrongType, "field %q must not be a JSON %s", d.typeErr.String(), d.typeKind)
	}
	tenantF := d.first(fTenantID, fTenant)
	hostF := d.first(fHost, fHostname, fSource, fSourceID)
	metricF := d.first(fMetric, fName)
	// Standardize ASCII metric names and units in place, so that they need
	// no string of their own.
	if metricF != fUnknown {
		d.str[metricF] = metricInPlace(d.buf.bytes(span{0, d.buf.len()}), d.str[metricF])
	}
	if d.set(fUnit) {
		lowerInPlace(d.buf.bytes(d.str[fUnit]))
	}
	all := string(d.buf.bytes(span{0, d.buf.len()}))
	get := func(f field) string {
		if f == fUnknown {
			return ""
		}
		return all[d.str[f].off:d.str[f].end]
	}

	tenant, err := o.name("tenant_id", get(tenantF), tenantF != fUnknown, false)
	if err != nil {
		return Event{}, err
	}
	host, err := o.name("host", get(hostF), hostF != fUnknown, false)
	if err != nil {
		return Event{}, err
	}
	metric, err := o.name("metric", get(metricF), metricF != fUnknown, true)
	if err != nil {
		return Event{}, err
	}
	value, err := parseValue(d, d.rawOf(fValue))
	if err != nil {
		return Event{}, err
	}
	var tsRaw []byte
	for _, f := range [...]field{fTsEvent, fTs, fTimestamp, fTime} {
		if r := d.rawOf(f); r != nil && r[0] != 'n' {
			tsRaw = r
			break
		}
	}
	ts, err := o.timestamp(d, tsRaw, recordTime)
	if err != nil {
		return Event{}, err
	}
	tags, err := o.tags(d, all)
	if err != nil {
		return Event{}, err
	}
	unit := ""
	if d.set(fUnit) {
		unit = Unit(get(fUnit))
		if len(unit) > o.MaxTagLen {
			return Event{}, bad(ReasonTooLarge, "unit is %d bytes, more than %d", len(unit), o.MaxTagLen)
		}
	}
	// Event times have millisecond precision, as Prometheus' do: the
	// features and rules work in milliseconds, and an event's identity
	// (its row in PostgreSQL, its sample in its series) must be the same
	// everywhere.
	return Event{Tenant: tenant, Host: host, Sample: tables.Sample{
		Metric: metric, Unit: unit, Value: value, TsMicro: ts.UnixMilli() * 1000, Tags: tags,
	}}, nil
}

// first returns the first of fs that was given a string, or fUnknown.
func (d *decoder) first(fs ...field) field {
	for _, f := range fs {
		if d.set(f) {
			return f
		}
	}
	return fUnknown
}

// rawOf returns the value of field f as written, or nil.
func (d *decoder) rawOf(f field) []byte {
	if !d.set(f) {
		return nil
	}
	return d.s.data[d.raw[f].off:d.raw[f].end]
}

// metricInPlace does MetricName's work on an ASCII name in buf and returns
// where the result lies; other names are left to MetricName.
func metricInPlace(buf []byte, sp span) span {
	b := buf[sp.off:sp.end]
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return sp
		}
	}
	for sp.off < sp.end && isASCIISpace(buf[sp.off]) {
		sp.off++
	}
	for sp.end > sp.off && isASCIISpace(buf[sp.end-1]) {
		sp.end--
	}
	b = buf[sp.off:sp.end]
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == '.' || c == '-' || c == '/' || c == ' ':
			b[i] = '_'
		}
	}
	return sp
}

// lowerInPlace lower-cases b if it is ASCII, as strings.ToLower would.
func lowerInPlace(b []byte) {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return
		}
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// isASCIISpace is what strings.TrimSpace trims of ASCII.
func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// name checks tenant, host and (normalized) metric names; set is false for
// a missing or null field.
func (o *Options) name(field, s string, set, metric bool) (string, *Error) {
	if !set || s == "" {
		return "", bad(ReasonMissingField, "%s is required", field)
	}
	s = strings.TrimSpace(s)
	if metric {
		s = MetricName(s)
	}
	if len(s) > o.MaxNameLen {
		return "", bad(ReasonTooLarge, "%s is %d bytes, more than %d", field, len(s), o.MaxNameLen)
	}
	if s == "" {
		return "", bad(ReasonMissingField, "%s is required", field)
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' || r == ':'
		if !metric {
			ok = ok || r >= 'A' && r <= 'Z'
		} else {
			ok = ok && r != '.' && r != '-' && (i > 0 || r < '0' || r > '9')
		}
		if !ok {
			hint := ""
			if metric {
				hint = "; metrics start with a letter"
			}
			return "", bad(ReasonBadName, "%s %q has character %q at %d (allowed: letters, digits, '_', '.', '-', ':'%s)",
				field, s, r, i, hint)
		}
	}
	return s, nil
}

// MetricName standardizes a metric name: lower case, with '.', '-', '/' and
// spaces turned into '_'.
func MetricName(s string) string {
	if isMetricName(s) {
		return s
	}
	b := []byte(strings.ToLower(strings.TrimSpace(s)))
	for i, c := range b {
		switch c {
		case '.', '-', '/', ' ':
			b[i] = '_'
		}
	}
	return string(b)
}

// isMetricName reports whether MetricName would leave s as it is.
func isMetricName(s string) bool {
	if s != "" && (isASCIISpace(s[0]) || isASCIISpace(s[len(s)-1])) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf, 'A' <= c && c <= 'Z', c == '.', c == '-', c == '/', c == ' ':
			return false
		}
	}
	return true
}

func parseValue(d *decoder, raw []byte) (float64, *Error) {
	if raw == nil || raw[0] == 'n' {
		return 0, bad(ReasonMissingField, "value is required")
	}
	switch raw[0] {
	case '"':
		s := string(d.rawString(raw))
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return 0, bad(ReasonNotFinite, "value %q is not a finite number", s)
		}
		return 0, bad(ReasonWrongType, "value must be a JSON number, not a string")
	case 't', 'f', '{', '[':
		return 0, bad(ReasonWrongType, "value must be a JSON number")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		if math.IsInf(f, 0) {
			return 0, bad(ReasonNotFinite, "value %s overflows a 64-bit float", string(raw))
		}
		return 0, bad(ReasonWrongType, "value %s is not a number", string(raw))
	}
	return f, nil
}

func (o *Options) timestamp(d *decoder, raw []byte, recordTime time.Time) (time.Time, *Error) {
	var ts time.Time
	switch {
	case raw == nil:
		ts = recordTime
	case raw[0] == '"':
		s := d.rawString(raw)
		t, ok := parseRFC3339(bytes.TrimSpace(s))
		if !ok {
			var err error
			if t, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(string(s))); err != nil {
				return time.Time{}, bad(ReasonBadTimestamp, "ts_event %q is not RFC 3339 (e.g. 2025-10-21T10:00:00Z)", string(s))
			}
		}
		ts = t
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) || f < 0 {
			return time.Time{}, bad(ReasonBadTimestamp, "ts_event %s is not a Unix time", string(raw))
		}
		ts = unixByMagnitude(f)
	default:
		return time.Time{}, bad(ReasonWrongType, "ts_event must be an RFC 3339 string or a Unix number")
	}
	return o.timeBounds(ts, recordTime)
}

// timeBounds judges an event time against MinTime and its record's time.
func (o *Options) timeBounds(ts, recordTime time.Time) (time.Time, *Error) {
	if ts.Before(o.MinTime) {
		return time.Time{}, bad(ReasonBadTimestamp, "ts_event %s is before %s", ts.UTC().Format(time.RFC3339), o.MinTime.UTC().Format(time.RFC3339))
	}
	if ahead := ts.Sub(recordTime); ahead > o.MaxFuture {
		return time.Time{}, bad(ReasonFuture, "ts_event %s is %s ahead of its record's time %s, more than max_future (%s)",
			ts.UTC().Format(time.RFC3339Nano), ahead, recordTime.UTC().Format(time.RFC3339Nano), o.MaxFuture)
	}
	return ts.UTC(), nil
}

// unixByMagnitude reads a Unix time in seconds, milliseconds, microseconds or
// nanoseconds, telling them apart by size (seconds stay below 1e11 until the
// year 5138).
func unixByMagnitude(f float64) time.Time {
	switch {
	case f < 1e11:
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9))
	case f < 1e14:
		return time.UnixMicro(int64(f * 1e3))
	case f < 1e17:
		return time.UnixMicro(int64(f))
	default:
		if f > math.MaxInt64 {
			return time.Unix(1<<40, 0)
		}
		return time.Unix(0, int64(f))
	}
}

// tags judges the tags the decoder holds; all is its buffer as a string. A
// key given twice keeps its last value, and with several bad tags the first
// bad key in key order decides.
func (o *Options) tags(d *decoder, all string) (tables.Tags, *Error) {
	raw := d.rawOf(fTags)
	if raw == nil || raw[0] == 'n' {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, bad(ReasonWrongType, "tags must be a JSON object")
	}
	str := func(sp span) string { return all[sp.off:sp.end] }
	ts := d.tags.all()
	slices.SortStableFunc(ts, func(a, b tagEntry) int { return strings.Compare(str(a.key), str(b.key)) })
	// Keep the last of each key.
	n, kept := 0, 0
	for i := range ts {
		if i+1 < len(ts) && str(ts[i+1].key) == str(ts[i].key) {
			continue
		}
		ts[n] = ts[i]
		n++
		if ts[i].kind != tagNull {
			kept++
		}
	}
	ts = ts[:n]
	if len(ts) > o.MaxTags {
		return nil, bad(ReasonTooManyTags, "%d tags, more than the limit of %d", len(ts), o.MaxTags)
	}
	var out tables.Tags
	if kept > 0 {
		out = make(tables.Tags, 0, kept)
	}
	for _, t := range ts {
		k, v := str(t.key), str(t.val)
		if k == "" || len(k) > o.MaxTagLen {
			return nil, bad(ReasonBadName, "tag key %q must be 1 to %d bytes", truncate(k, 32), o.MaxTagLen)
		}
		switch t.kind {
		case tagNested:
			return nil, bad(ReasonWrongType, "tag %q must be a string, number or boolean", k)
		case tagNull:
			continue
		case tagNumber:
			var n int
			d.num, n = appendCanonicalNumber(d.num[:0], d.buf.bytes(t.val), o.MaxTagLen)
			if n > o.MaxTagLen {
				return nil, bad(ReasonTooLarge, "tag %q value %s is more than %d bytes in decimal", k, truncate(v, 32), o.MaxTagLen)
			}
			if string(d.num) != v {
				v = string(d.num)
			}
		}
		if len(v) > o.MaxTagLen {
			return nil, bad(ReasonTooLarge, "tag %q value is %d bytes, more than %d", k, len(v), o.MaxTagLen)
		}
		out = append(out, tables.Tag{Key: k, Value: v})
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
