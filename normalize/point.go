package normalize

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventops/eventops/tables"
)

// Point is one sample as a protocol decoder reads it (OTLP, Prometheus
// remote-write, Influx line protocol), before it is judged: the fields of a
// JSON event, typed. Check judges it exactly as Parse judges that event.
type Point struct {
	Tenant, Host, Metric, Unit string
	Value                      float64
	// TimeNano is the event time in Unix nanoseconds; 0: the record's time.
	TimeNano int64
	// Tags in any order; a key given twice keeps its last value.
	Tags tables.Tags
	// Index is the point's position in its request or record, as its
	// protocol counts (see each decoder); it names the point in errors and
	// in the DLQ.
	Index int
}

// Decoded is what a protocol decoder makes of one request or record: the
// points to judge, what it refused itself (each with its reason, Index its
// position, Raw the point as a JSON event), and what it left out by design
// (exemplars, metadata, staleness markers, ...), counted by what it is.
type Decoded struct {
	Points  []Point
	Refused []Rejected
	Dropped map[string]int
}

// Drop counts n things of kind what left out by design.
func (d *Decoded) Drop(what string, n int) {
	if n <= 0 {
		return
	}
	if d.Dropped == nil {
		d.Dropped = map[string]int{}
	}
	d.Dropped[what] += n
}

// Refuse records that the decoder refused point p for reason.
func (d *Decoded) Refuse(p Point, reason Reason, format string, args ...any) {
	err := bad(reason, format, args...)
	err.Index = p.Index
	d.Refused = append(d.Refused, Rejected{Err: err, Raw: p.AppendJSON(nil)})
}

// Judge checks every point of d against recordTime (see Check). Events keep
// the order of the points; Rejected holds what the decoder refused, then
// the points Check refused, each with the point as a JSON event.
func (o Options) Judge(d Decoded, recordTime time.Time) Result {
	o = o.Defaults()
	res := Result{Events: make([]Event, 0, len(d.Points)), Rejected: d.Refused}
	for i := range d.Points {
		p := &d.Points[i]
		ev, err := o.check(p, recordTime)
		if err != nil {
			err.Index = p.Index
			res.Rejected = append(res.Rejected, Rejected{Err: err, Raw: p.AppendJSON(nil)})
			continue
		}
		res.Events = append(res.Events, ev)
	}
	return res
}

// Check judges one point as Parse judges the same event written as JSON
// (AppendJSON), with the same reasons in the same order: tenant, host,
// metric, value, time, tags, unit. recordTime stands in for a missing time
// and bounds event times from above.
func (o Options) Check(p Point, recordTime time.Time) (Event, *Error) {
	o = o.Defaults()
	return o.check(&p, recordTime)
}

func (o *Options) check(p *Point, recordTime time.Time) (Event, *Error) {
	if !p.validUTF8() {
		return Event{}, bad(ReasonInvalidUTF8, "the event is not valid UTF-8")
	}
	if recordTime.UnixMicro() <= 0 {
		return Event{}, bad(ReasonNoRecordTime, "the event has no receive time to judge its time against")
	}
	tenant, err := o.name("tenant_id", p.Tenant, true, false)
	if err != nil {
		return Event{}, err
	}
	host, err := o.name("host", p.Host, true, false)
	if err != nil {
		return Event{}, err
	}
	metric, err := o.name("metric", p.Metric, true, true)
	if err != nil {
		return Event{}, err
	}
	if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
		return Event{}, bad(ReasonNotFinite, "value %v is not a finite number", p.Value)
	}
	ts := recordTime
	if p.TimeNano != 0 {
		ts = time.Unix(0, p.TimeNano)
	}
	if ts, err = o.timeBounds(ts, recordTime); err != nil {
		return Event{}, err
	}
	tags, err := o.pointTags(p.Tags)
	if err != nil {
		return Event{}, err
	}
	unit := Unit(p.Unit)
	if len(unit) > o.MaxTagLen {
		return Event{}, bad(ReasonTooLarge, "unit is %d bytes, more than %d", len(unit), o.MaxTagLen)
	}
	return Event{Tenant: tenant, Host: host, Sample: tables.Sample{
		Metric: metric, Unit: unit, Value: p.Value, TsMicro: ts.UnixMilli() * 1000, Tags: tags,
	}}, nil
}

func (p *Point) validUTF8() bool {
	if !utf8.ValidString(p.Tenant) || !utf8.ValidString(p.Host) || !utf8.ValidString(p.Metric) || !utf8.ValidString(p.Unit) {
		return false
	}
	for _, t := range p.Tags {
		if !utf8.ValidString(t.Key) || !utf8.ValidString(t.Value) {
			return false
		}
	}
	return true
}

// pointTags judges tags as tags judges those of a JSON event: sorted by
// key, the last of a repeated key kept, then counted, then each checked in
// key order.
func (o *Options) pointTags(in tables.Tags) (tables.Tags, *Error) {
	if len(in) == 0 {
		return nil, nil
	}
	// Decoders mostly give tags sorted and unique (remote-write labels
	// always): those are taken as they are, the others copied and sorted.
	ts := in
	if !sortedUnique(in) {
		ts = slices.Clone(in)
		slices.SortStableFunc(ts, func(a, b tables.Tag) int { return strings.Compare(a.Key, b.Key) })
	}
	n := 0
	for i := range ts {
		if i+1 < len(ts) && ts[i+1].Key == ts[i].Key {
			continue
		}
		ts[n] = ts[i]
		n++
	}
	ts = ts[:n]
	if len(ts) > o.MaxTags {
		return nil, bad(ReasonTooManyTags, "%d tags, more than the limit of %d", len(ts), o.MaxTags)
	}
	for _, t := range ts {
		if t.Key == "" || len(t.Key) > o.MaxTagLen {
			return nil, bad(ReasonBadName, "tag key %q must be 1 to %d bytes", truncate(t.Key, 32), o.MaxTagLen)
		}
		if len(t.Value) > o.MaxTagLen {
			return nil, bad(ReasonTooLarge, "tag %q value is %d bytes, more than %d", t.Key, len(t.Value), o.MaxTagLen)
		}
	}
	return ts, nil
}

func sortedUnique(ts tables.Tags) bool {
	for i := 1; i < len(ts); i++ {
		if ts[i-1].Key >= ts[i].Key {
			return false
		}
	}
	return true
}

// AppendJSON appends the event as one JSON object that Parse reads back
// into the same event: the form in which events of every protocol travel
// on ingest.raw.agent.
func (e *Event) AppendJSON(dst []byte) []byte {
	return appendEventJSON(dst, e.Tenant, e.Host, e.Sample.Metric, e.Sample.Unit, e.Sample.Value,
		time.UnixMicro(e.Sample.TsMicro), true, e.Sample.Tags)
}

// AppendJSON appends the point as a JSON event, as it was given (a value
// that JSON cannot hold, NaN or infinite, is written as a string): what the
// DLQ keeps of a refused point.
func (p *Point) AppendJSON(dst []byte) []byte {
	return appendEventJSON(dst, p.Tenant, p.Host, p.Metric, p.Unit, p.Value, time.Unix(0, p.TimeNano), p.TimeNano != 0, p.Tags)
}

func appendEventJSON(b []byte, tenant, host, metric, unit string, v float64, ts time.Time, hasTime bool, tags tables.Tags) []byte {
	b = append(b, `{"tenant_id":`...)
	b = tables.AppendJSONString(b, tenant)
	b = append(b, `,"host":`...)
	b = tables.AppendJSONString(b, host)
	b = append(b, `,"metric":`...)
	b = tables.AppendJSONString(b, metric)
	b = append(b, `,"value":`...)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		b = tables.AppendJSONString(b, strconv.FormatFloat(v, 'g', -1, 64))
	} else {
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	if hasTime {
		b = append(b, `,"ts_event":`...)
		// Whole milliseconds are read back as milliseconds by their
		// magnitude (unixByMagnitude) from 1973 on; other times are
		// written in full.
		if ms := ts.UnixMilli(); ms >= 1e11 && ms < 1e14 && ts.Nanosecond()%int(time.Millisecond) == 0 {
			b = strconv.AppendInt(b, ms, 10)
		} else {
			b = append(b, '"')
			b = ts.UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
	}
	if unit != "" {
		b = append(b, `,"unit":`...)
		b = tables.AppendJSONString(b, unit)
	}
	if len(tags) > 0 {
		b = append(b, `,"tags":`...)
		b = tags.AppendJSON(b)
	}
	return append(b, '}')
}
