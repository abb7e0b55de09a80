package normalize

// The reference: encoding/json, as Parse was written before its own decoder.
// Only the order in which refTags judges several bad tags changed (see there),
// and it learnt the reasons added since (split_record, future,
// no_record_time).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventops/eventops/tables"
)

// refParse is Options.Parse as it was before the hand-written decoder: the
// reference that FuzzParseMatchesReference holds the decoder to.
func refParse(o Options, record []byte, recordTime time.Time) Result {
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
	items, err := refSplit(trimmed)
	if err != nil {
		if msg := refSplitRecord(trimmed); msg != "" {
			return whole(ReasonSplitRecord, "%s", msg)
		}
		return whole(ReasonInvalidJSON, "%v", err)
	}
	if len(items) > o.MaxEvents {
		return whole(ReasonTooLarge, "record holds %d events, more than the limit of %d", len(items), o.MaxEvents)
	}
	var res Result
	res.Events = make([]Event, 0, len(items))
	for i, item := range items {
		ev, err := refEvent(o, item, recordTime)
		if err != nil {
			err.Index = i
			if len(items) == 1 {
				err.Index = -1
			}
			res.Rejected = append(res.Rejected, Rejected{Err: err, Raw: item})
			continue
		}
		res.Events = append(res.Events, ev)
	}
	return res
}

// split cuts a record into its JSON values: an array's elements, or the
// objects of NDJSON (a single object is NDJSON of one line).
func refSplit(rec []byte) ([]json.RawMessage, error) {
	if rec[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(rec, &items); err != nil {
			return nil, fmt.Errorf("not a JSON array of events: %s", refJSONErr(err))
		}
		return items, nil
	}
	if json.Valid(rec) {
		return []json.RawMessage{rec}, nil
	}
	// NDJSON: every non-empty line must be a JSON value of its own.
	lines := bytes.Split(rec, []byte{'\n'})
	if len(lines) == 1 {
		var v json.RawMessage
		return nil, fmt.Errorf("not JSON: %s", refJSONErr(json.Unmarshal(rec, &v)))
	}
	items := make([]json.RawMessage, 0, len(lines))
	for i, line := range lines {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			var v json.RawMessage
			return nil, fmt.Errorf("line %d is not JSON: %s", i+1, refJSONErr(json.Unmarshal(line, &v)))
		}
		items = append(items, line)
	}
	return items, nil
}

// refSplitRecord is splitRecord in terms of encoding/json.
func refSplitRecord(rec []byte) string {
	switch rec[0] {
	case '{', '[':
		// encoding/json feeds a space after the input, so running out of
		// bytes inside a string or literal is "invalid character ' '" (rec
		// is trimmed: its own bytes end with no space).
		var v json.RawMessage
		var se *json.SyntaxError
		if errors.As(json.Unmarshal(rec, &v), &se) && se.Offset >= int64(len(rec)) &&
			(se.Error() == "unexpected end of JSON input" || strings.HasPrefix(se.Error(), "invalid character ' '")) {
			return "the record opens a JSON value and ends before closing it; " + SplitFix
		}
	case '}', ']':
		return "the record closes a JSON value that it does not open; " + SplitFix
	case '"':
		dec := json.NewDecoder(bytes.NewReader(rec))
		var key string
		if dec.Decode(&key) == nil {
			if rest := bytes.TrimLeft(rec[dec.InputOffset():], " \t\r\n"); len(rest) > 0 && rest[0] == ':' {
				return "the record starts with an object member, the rest of a JSON object opened elsewhere; " + SplitFix
			}
		}
	}
	return ""
}

func refJSONErr(err error) string {
	if err == nil {
		return "invalid"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	return err.Error()
}

// refWire is an event as agents send it; aliases are resolved in event().
type refWire struct {
	TenantID  *string `json:"tenant_id"`
	Tenant    *string `json:"tenant"`
	Host      *string `json:"host"`
	Hostname  *string `json:"hostname"`
	Source    *string `json:"source"`
	SourceID  *string `json:"source_id"`
	Metric    *string `json:"metric"`
	Name      *string `json:"name"`
	Value     json.RawMessage
	TsEvent   json.RawMessage `json:"ts_event"`
	Ts        json.RawMessage `json:"ts"`
	Timestamp json.RawMessage `json:"timestamp"`
	Time      json.RawMessage `json:"time"`
	Unit      *string         `json:"unit"`
	Tags      json.RawMessage `json:"tags"`
}

func refBad(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Index: -1, Msg: fmt.Sprintf(format, args...)}
}

func refEvent(o Options, item json.RawMessage, recordTime time.Time) (Event, *Error) {
	if len(item) == 0 || item[0] != '{' {
		return Event{}, refBad(ReasonWrongType, "an event must be a JSON object")
	}
	var w refWire
	if err := json.Unmarshal(item, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Event{}, refBad(ReasonWrongType, "field %q must not be a JSON %s", te.Field, te.Value)
		}
		return Event{}, refBad(ReasonInvalidJSON, "%s", refJSONErr(err))
	}
	tenant, err := refName(o, "tenant_id", refFirst(w.TenantID, w.Tenant), false)
	if err != nil {
		return Event{}, err
	}
	host, err := refName(o, "host", refFirst(w.Host, w.Hostname, w.Source, w.SourceID), false)
	if err != nil {
		return Event{}, err
	}
	metric, err := refName(o, "metric", refFirst(w.Metric, w.Name), true)
	if err != nil {
		return Event{}, err
	}
	value, err := refParseValue(w.Value)
	if err != nil {
		return Event{}, err
	}
	ts, err := refTimestamp(o, refFirstRaw(w.TsEvent, w.Ts, w.Timestamp, w.Time), recordTime)
	if err != nil {
		return Event{}, err
	}
	tags, err := refTags(o, w.Tags)
	if err != nil {
		return Event{}, err
	}
	unit := ""
	if w.Unit != nil {
		unit = refUnit(*w.Unit)
		if len(unit) > o.MaxTagLen {
			return Event{}, refBad(ReasonTooLarge, "unit is %d bytes, more than %d", len(unit), o.MaxTagLen)
		}
	}
	return Event{Tenant: tenant, Host: host, Sample: tables.Sample{
		Metric: metric, Unit: unit, Value: value, TsMicro: ts.UnixMilli() * 1000, Tags: tags,
	}}, nil
}

func refFirst(ps ...*string) *string {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func refFirstRaw(rs ...json.RawMessage) json.RawMessage {
	for _, r := range rs {
		if len(r) > 0 && string(r) != "null" {
			return r
		}
	}
	return nil
}

// name checks tenant, host and (normalized) metric names.
func refName(o Options, field string, p *string, metric bool) (string, *Error) {
	if p == nil || *p == "" {
		return "", refBad(ReasonMissingField, "%s is required", field)
	}
	s := strings.TrimSpace(*p)
	if metric {
		s = refMetricName(s)
	}
	if len(s) > o.MaxNameLen {
		return "", refBad(ReasonTooLarge, "%s is %d bytes, more than %d", field, len(s), o.MaxNameLen)
	}
	if s == "" {
		return "", refBad(ReasonMissingField, "%s is required", field)
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' || r == ':'
		if !metric {
			ok = ok || r >= 'A' && r <= 'Z'
		} else {
			ok = ok && r != '.' && r != '-' && (i > 0 || r < '0' || r > '9')
		}
		if !ok {
			return "", refBad(ReasonBadName, "%s %q has character %q at %d (allowed: letters, digits, '_', '.', '-', ':'%s)",
				field, s, r, i, map[bool]string{true: "; metrics start with a letter", false: ""}[metric])
		}
	}
	return s, nil
}

// MetricName standardizes a metric name: lower case, with '.', '-', '/' and
// spaces turned into '_'.
func refMetricName(s string) string {
	b := []byte(strings.ToLower(strings.TrimSpace(s)))
	for i, c := range b {
		switch c {
		case '.', '-', '/', ' ':
			b[i] = '_'
		}
	}
	return string(b)
}

func refParseValue(raw json.RawMessage) (float64, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, refBad(ReasonMissingField, "value is required")
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return 0, refBad(ReasonNotFinite, "value %q is not a finite number", s)
		}
		return 0, refBad(ReasonWrongType, "value must be a JSON number, not a string")
	case 't', 'f', '{', '[':
		return 0, refBad(ReasonWrongType, "value must be a JSON number")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		if math.IsInf(f, 0) {
			return 0, refBad(ReasonNotFinite, "value %s overflows a 64-bit float", raw)
		}
		return 0, refBad(ReasonWrongType, "value %s is not a number", raw)
	}
	return f, nil
}

func refTimestamp(o Options, raw json.RawMessage, recordTime time.Time) (time.Time, *Error) {
	var ts time.Time
	switch {
	case len(raw) == 0:
		ts = recordTime
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, refBad(ReasonWrongType, "ts_event is not a string")
		}
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
		if err != nil {
			return time.Time{}, refBad(ReasonBadTimestamp, "ts_event %q is not RFC 3339 (e.g. 2025-10-21T10:00:00Z)", s)
		}
		ts = t
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) || f < 0 {
			return time.Time{}, refBad(ReasonBadTimestamp, "ts_event %s is not a Unix time", raw)
		}
		ts = refUnixByMagnitude(f)
	default:
		return time.Time{}, refBad(ReasonWrongType, "ts_event must be an RFC 3339 string or a Unix number")
	}
	if ts.Before(o.MinTime) {
		return time.Time{}, refBad(ReasonBadTimestamp, "ts_event %s is before %s", ts.UTC().Format(time.RFC3339), o.MinTime.UTC().Format(time.RFC3339))
	}
	if ahead := ts.Sub(recordTime); ahead > o.MaxFuture {
		return time.Time{}, refBad(ReasonFuture, "ts_event %s is %s ahead of its record's time %s, more than max_future (%s)",
			ts.UTC().Format(time.RFC3339Nano), ahead, recordTime.UTC().Format(time.RFC3339Nano), o.MaxFuture)
	}
	return ts.UTC(), nil
}

// unixByMagnitude reads a Unix time in seconds, milliseconds, microseconds or
// nanoseconds, telling them apart by size (seconds stay below 1e11 until the
// year 5138).
func refUnixByMagnitude(f float64) time.Time {
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

func refTags(o Options, raw json.RawMessage) (tables.Tags, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, refBad(ReasonWrongType, "tags must be a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, refBad(ReasonWrongType, "tags: %s", refJSONErr(err))
	}
	if len(m) > o.MaxTags {
		return nil, refBad(ReasonTooManyTags, "%d tags, more than the limit of %d", len(m), o.MaxTags)
	}
	out := make(map[string]string, len(m))
	// Keys in order, not map order: with several bad tags the reason was
	// random before; it is now that of the first bad key, as in Parse.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if k == "" || len(k) > o.MaxTagLen {
			return nil, refBad(ReasonBadName, "tag key %q must be 1 to %d bytes", refTruncate(k, 32), o.MaxTagLen)
		}
		var s string
		switch {
		case len(v) > 0 && v[0] == '"':
			_ = json.Unmarshal(v, &s)
		case len(v) > 0 && (v[0] == '{' || v[0] == '['):
			return nil, refBad(ReasonWrongType, "tag %q must be a string, number or boolean", k)
		case string(v) == "null":
			continue
		case v[0] == '-' || v[0] >= '0' && v[0] <= '9':
			s = refCanonicalNumber(string(v))
			if len(s) > o.MaxTagLen {
				return nil, refBad(ReasonTooLarge, "tag %q value %s is more than %d bytes in decimal", k, refTruncate(string(v), 32), o.MaxTagLen)
			}
		default:
			s = string(v)
		}
		if len(s) > o.MaxTagLen {
			return nil, refBad(ReasonTooLarge, "tag %q value is %d bytes, more than %d", k, len(s), o.MaxTagLen)
		}
		out[k] = s
	}
	return tables.TagsFromMap(out), nil
}

func refTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func refUnit(u string) string {
	l := strings.ToLower(strings.TrimSpace(u))
	if c, ok := units[l]; ok {
		return c
	}
	return l
}

// refCanonicalNumber writes a JSON number out in full, digits padded with
// zeros around the point, then trims the zeros that say nothing. A nonzero
// number whose exponent is too large to write out gives a text longer than
// any tag (only its length is judged).
func refCanonicalNumber(num string) string {
	neg := strings.HasPrefix(num, "-")
	num = strings.TrimPrefix(num, "-")
	mant, expText, _ := strings.Cut(strings.ToLower(num), "e")
	exp, err := strconv.Atoi(expText)
	if expText == "" {
		exp, err = 0, nil
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if err != nil || exp > 1<<20 || exp < -(1<<20) {
		if strings.Trim(intPart+frac, "0") == "" {
			return "0"
		}
		return strings.Repeat("9", 1<<21)
	}
	digits := intPart + frac
	point := len(intPart) + exp
	if point < 0 {
		digits = strings.Repeat("0", -point) + digits
		point = 0
	}
	if point > len(digits) {
		digits += strings.Repeat("0", point-len(digits))
	}
	whole := strings.TrimLeft(digits[:point], "0")
	if whole == "" {
		whole = "0"
	}
	out := whole
	if f := strings.TrimRight(digits[point:], "0"); f != "" {
		out += "." + f
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}
